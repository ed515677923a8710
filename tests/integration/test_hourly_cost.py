"""Hourly cost on the embedded stack: the sync reads yesterday and today hour by hour, GET /costs?group_by=hour answers
them and they add up to the days exactly; other days get a clear 400; a restated day loses its hours."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from anthropic_simulator.analytics_settings import AnalyticsSettings
from pump_anthropic.dal import table
from pump_anthropic.logic import hourly
from pump_anthropic.logic.storage import dynamodb_storage
from pump_local.http_api import DEFAULT_TENANT
from tests.support.guard_stack import EXACT, build_stack, connected, hourly_sync
from tests.support.stack import FIXED_NOW, Stack, costs

pytestmark = pytest.mark.network


@pytest.fixture
def stack() -> Iterator[Stack]:
    with ExitStack() as resources:
        yield build_stack(resources)


def _hour_items() -> list[dict]:
    return sorted(
        (i for i in table.raw_items() if i["item_type"]["S"] == "day_hours"), key=lambda i: (i["pk"]["S"], i["sk"]["S"])
    )


@pytest.mark.parametrize("analytics", [EXACT, AnalyticsSettings()], ids=["exact", "rounded-rows"])
def test_hours_of_yesterday_and_today_add_up_to_each_day_exactly_by_workspace_and_key(analytics):
    with ExitStack() as resources:
        stack = build_stack(resources, analytics=analytics)
        _hours_add_up(stack)


def _hours_add_up(stack: Stack) -> None:
    connected(stack)
    hourly_sync(stack)
    _assert_hours_add_up(stack)


def _assert_hours_add_up(stack: Stack) -> None:
    today = date.today()
    yesterday = today - timedelta(days=1)
    for group in ("workspace_id", "api_key_id"):
        hours = costs(stack, yesterday.isoformat(), today.isoformat(), f"hour,{group}")
        days = costs(stack, yesterday.isoformat(), today.isoformat(), f"date,{group}")
        summed: dict[tuple, Decimal] = defaultdict(Decimal)
        for row in hours["rows"]:
            assert row["hour"].endswith(":00:00Z") and row["hour"][:10] in {yesterday.isoformat(), today.isoformat()}
            summed[(row["hour"][:10], row[group])] += Decimal(row["cost_usd"])
        expected = {(row["date"], row[group]): Decimal(row["cost_usd"]) for row in days["rows"]}
        assert summed == {k: v for k, v in expected.items() if v}
        assert Decimal(hours["total"]["cost_usd"]) == Decimal(days["total"]["cost_usd"])
        assert len({row["hour"] for row in hours["rows"]}) > 24  # yesterday's 24 hours and some of today's
    # Rows carry the same keys as every other grouping: names beside the ids, and tokens unknown (null).
    row = costs(stack, today.isoformat(), today.isoformat(), "hour,api_key_id")["rows"][0]
    assert {"api_key_name", "api_key_hint", "cost_usd", "list_cost_usd", "tokens"} <= set(row)
    assert row["tokens"] is None


def test_a_later_sync_reads_on_from_where_anthropic_had_loaded_and_the_hours_still_add_up(stack):
    connection_id = connected(stack)
    hourly_sync(stack)
    lag = stack.simulator.analytics.refresh_lag
    today, yesterday = date.today(), date.today() - timedelta(days=1)
    stored = dynamodb_storage().hours.read_hours(DEFAULT_TENANT, connection_id, [yesterday, today])
    assert stored[today].read_through == FIXED_NOW - lag
    assert stored[yesterday].read_through == FIXED_NOW.replace(hour=0)  # loaded through its end
    kept = [line.to_json() for line in stored[today].lines if line.dims[0] < (FIXED_NOW - lag).isoformat()]
    later = FIXED_NOW + timedelta(hours=3)
    stack.simulator.org.now = lambda: later
    hourly_sync(stack)
    stored = dynamodb_storage().hours.read_hours(DEFAULT_TENANT, connection_id, [yesterday, today])
    assert stored[today].read_through == later - lag
    assert [line.to_json() for line in stored[today].lines][: len(kept)] == kept
    _assert_hours_add_up(stack)


def test_a_second_sync_of_unchanged_hours_writes_nothing(stack):
    connected(stack)
    hourly_sync(stack)
    first = _hour_items()
    assert len(first) == 2
    hourly_sync(stack)
    assert _hour_items() == first


def test_hourly_queries_outside_the_hours_read_or_with_other_dimensions_are_clear_400s(stack):
    connected(stack)
    hourly_sync(stack)
    long_ago = (date.today() - timedelta(days=10)).isoformat()
    for query, code in (
        ({"from": long_ago, "to": long_ago, "group_by": "hour"}, "no_hourly_data"),
        ({"group_by": "hour,model"}, "invalid_query"),
        ({"group_by": "hour,actor"}, "invalid_query"),
    ):
        response = stack.call("GET", "/costs?" + urlencode(query))
        assert response.status == 400, response.body
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"].endswith(".")
    export = stack.call("POST", "/costs/exports", {"format": "csv", "group_by": "hour"})
    assert export.status == 400 and "by day" in export.json()["error"]["message"]


def test_a_day_restated_after_it_left_the_hourly_window_loses_its_hours(stack):
    connection_id = connected(stack)
    hourly_sync(stack)
    yesterday = date.today() - timedelta(days=1)
    storage = dynamodb_storage()
    assert list(storage.hours.iter_hour_rollups(DEFAULT_TENANT, [connection_id], yesterday, yesterday))
    # As the sync does once yesterday has left the hourly window and a re-read rewrote it.
    hourly.drop_restated_hours(storage, DEFAULT_TENANT, connection_id, [yesterday], read_now=[date.today()])
    query = {"from": yesterday.isoformat(), "to": yesterday.isoformat(), "group_by": "hour"}
    response = stack.call("GET", "/costs?" + urlencode(query))
    assert response.status == 400 and response.json()["error"]["code"] == "no_hourly_data"
