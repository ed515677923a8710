"""One pull per sync window: a sync whose window spans two or three months asks Anthropic as often as the same sync
inside one month, on both sources, and stores the days both APIs report, exactly."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from anthropic_simulator.analytics_settings import AnalyticsSettings
from pump_anthropic import wiring
from pump_anthropic.dal import connections as stored_connections
from pump_anthropic.dal import cost_days
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from tests.support.oracles import COST_REPORT, independent_analytics_totals, independent_cost_totals
from tests.support.stack import SMALL_ORG, Stack, report_totals

pytestmark = pytest.mark.network

# The product's clocks the sync goes by (the request gate's waits keep the real one; nothing waits here).
CLOCK_MODULES = ("pump_anthropic.logic.sync", "pump_anthropic.logic.sources", "pump_anthropic.dal.table")
MID_MONTH = datetime(2026, 11, 15, 10, 5, tzinfo=UTC)
SECOND_OF_MONTH = datetime(2026, 12, 2, 10, 5, tzinfo=UTC)  # its hourly 4-day window: 11-29 → 12-02
ANALYTICS_COST, ANALYTICS_USAGE = "/v1/organizations/analytics/cost", "/v1/organizations/analytics/usage"
# Exact analytics amounts, so the stored days and the reports read independently agree to the last decimal.
EXACT = AnalyticsSettings(amount_decimals=None)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Synced:
    """The simulator and the embedded stack on one settable clock; each connection in a tenant of its own."""

    stack: Stack
    clock: Clock
    source: str

    def connection(self, tenant: str, cursor: date | None = None) -> str:
        """A new active connection of `tenant` (its backfill taken as done), its sync cursor at `cursor` if given."""
        connection_id = f"conn_{tenant}"
        secret_id = wiring.secret_store().put(connection_id, SecretStr(DEMO_ADMIN_KEY), tags={})
        record, _ = stored_connections.register_connection(
            tenant_id=tenant, connection_id=connection_id, organization_id=f"org_{tenant}", organization_name=tenant,
            key_hint="sk-ant-admin01-…", secret_id=secret_id,
        )  # fmt: skip
        stored_connections.finish_backfill(
            tenant, connection_id, run=record.backfill_run, status="active", error_code=None, error_message=None
        )
        if cursor is not None:
            cost_days.advance_sync_cursor(tenant, connection_id, cursor)
        return connection_id

    def sync(self, connection_id: str, at: datetime) -> tuple[Counter, dict]:
        """One sync of the connection at `at`, handed over by the queue: the requests Anthropic saw, and its record."""
        self.clock.now = at
        tenant = connection_id.removeprefix("conn_")
        before = Counter(self.stack.simulator.request_counts)
        wiring.sync_queue().send([{"tenant_id": tenant, "connection_id": connection_id}])
        assert self.stack.aws.drain_sync_queue() == 1
        sent = Counter(self.stack.simulator.request_counts) - before
        last_sync = stored_connections.get_connection(tenant, connection_id, with_chunks=False).last_sync
        assert last_sync["status"] == "synced" and last_sync["anthropic_requests"] == sum(sent.values())
        return sent, last_sync

    def stored(self, connection_id: str, first: date, last: date) -> dict:
        """GET /costs of the connection's tenant per (date, workspace, model), every page."""
        query = {"from": first.isoformat(), "to": last.isoformat(), "group_by": "date,workspace_id,model"}
        tenant, rows, page = connection_id.removeprefix("conn_"), [], None
        while True:
            target = "/costs?" + urlencode(query | ({"page": page} if page else {}))
            response = self.stack.call("GET", target, tenant=tenant)
            assert response.status == 200, response.body
            body = response.json()
            rows += body["rows"]
            if not body.get("has_more"):
                return {key: value for key, value in report_totals({"rows": rows}).items() if value}
            page = body["next_page"]

    def reported(self, first: date, last: date) -> dict:
        """What the source's API reports per (date, workspace, model), read over HTTP without our code."""
        url = self.stack.simulator.url
        if self.source == "legacy":
            totals = independent_cost_totals(url, first.isoformat(), last.isoformat())
        else:
            totals = independent_analytics_totals(url, first, last, ["workspace_id", "model"])
        return {key: value for key, value in totals.items() if value}


@pytest.fixture(params=["legacy", "auto"])
def synced(request, monkeypatch) -> Iterator[Synced]:
    clock = Clock(MID_MONTH)
    for module in CLOCK_MODULES:
        monkeypatch.setattr(f"{module}.utc_now", clock)
    with ExitStack() as resources:
        simulator = resources.enter_context(Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, now=clock, analytics=EXACT))
        aws = resources.enter_context(
            LocalAws(simulator.url, retry_interval_seconds=1, retry_max_attempts=2, cost_source=request.param)
        )
        yield Synced(Stack(aws, LocalApi(), simulator, []), clock, request.param)


def test_an_hourly_sync_on_the_2nd_asks_as_often_as_mid_month_and_stores_the_reports_exactly(synced):
    mid, second = synced.connection("mid"), synced.connection("second")
    # Each connection's first sync (on auto the day's 30-day re-read), then an ordinary hourly one.
    mid_daily, _ = synced.sync(mid, MID_MONTH)
    mid_hourly, mid_record = synced.sync(mid, MID_MONTH + timedelta(hours=1))
    second_daily, _ = synced.sync(second, SECOND_OF_MONTH)
    second_hourly, second_record = synced.sync(second, SECOND_OF_MONTH + timedelta(hours=1))

    window = (date(2026, 11, 29), date(2026, 12, 2))
    assert (second_record["window_start"], second_record["window_end"]) == tuple(d.isoformat() for d in window)
    assert mid_record["window_start"] == "2026-11-12"
    # The same requests, path by path: one query set over the window, whatever months it spans.
    assert second_hourly == mid_hourly
    # auto: price, price_usage, who, and yesterday's and today's hours; legacy: cost, usage, usage by key.
    assert sum(second_hourly.values()) == (4 if synced.source == "auto" else 3)
    assert second_daily == mid_daily
    # The days stored equal what Anthropic reports for them, to the last decimal (on auto the first sync re-read
    # the trailing 30 days, from 11-02).
    first_day = date(2026, 11, 2) if synced.source == "auto" else window[0]
    assert synced.stored(second, first_day, window[1]) == synced.reported(first_day, window[1])
    assert synced.stored(second, *window)  # not vacuous


def test_a_catch_up_across_three_months_takes_as_many_pulls_as_one_across_two(synced):
    # 40 days behind: on 12-02 the window starts 10-24 (three months), on 11-20 it starts 10-12 (two).
    late, earlier = SECOND_OF_MONTH, datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
    three = synced.connection("three", cursor=late.date() - timedelta(days=39))
    two = synced.connection("two", cursor=earlier.date() - timedelta(days=39))
    from_two, two_record = synced.sync(two, earlier)
    from_three, three_record = synced.sync(three, late)

    assert (three_record["window_start"], two_record["window_start"]) == ("2026-10-24", "2026-10-12")
    # Two 31-day spans each (not one pull per calendar month): the same requests, path by path.
    assert from_three == from_two
    if synced.source == "auto":  # each span: /cost twice (price, who), /usage once (price_usage); the hours once
        assert (from_three[ANALYTICS_COST], from_three[ANALYTICS_USAGE]) == (5, 2)
    else:  # each span: the cost report once
        assert from_three[COST_REPORT] == 2
    # ...and the 40 days stored exactly as reported, across both spans and all three months.
    first, last = date(2026, 10, 24), late.date()
    assert synced.stored(three, first, last) == synced.reported(first, last)
