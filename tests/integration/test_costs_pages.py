"""GET /costs in pages through the local stack: small pages concatenated are exactly one large page."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_anthropic.dal import cost_days, table
from pump_anthropic.domain import month_summary
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import DEFAULT_TENANT as TENANT
from pump_local.http_api import LocalApi
from tests.support.stack import FIXED_NOW, SMALL_ORG, Stack

pytestmark = pytest.mark.network


def get(stack, **params) -> dict:
    response = stack.call("GET", "/costs?" + urlencode(params))
    assert response.status == 200, response.body
    return response.json()


def every_page(stack, **params) -> list[dict]:
    pages = [get(stack, **params)]
    while pages[-1]["has_more"]:
        pages.append(get(stack, **params, page=pages[-1]["next_page"]))
    return pages


def without_page(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in {"rows", "has_more", "next_page"}}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """One backfilled year for the whole module: these tests only read it."""
    with (
        Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, now=lambda: FIXED_NOW) as simulator,
        LocalAws(simulator.url) as aws,
    ):
        stack = Stack(aws, LocalApi(), simulator, [])
        connection = stack.wait_settled(stack.connect().json()["id"])
        assert connection["status"] == "active"
        yield stack


@pytest.fixture(scope="module")
def backfilled(stack) -> dict:
    return stack.call("GET", "/integrations/anthropic").json()["connections"][0]["backfill"]


def test_small_pages_concatenated_equal_one_large_page_with_the_same_total_on_each(stack, backfilled):
    year = {"from": backfilled["from"], "to": backfilled["to"]}
    month = {"from": backfilled["from"], "to": backfilled["from"][:8] + "28"}
    for query, limits in (
        ({**year, "group_by": "date,workspace_id,model"}, (997,)),
        ({**year, "group_by": "api_key_id,month"}, (9,)),
        ({**month, "group_by": "date,model,cost_type,token_type"}, (7, 100)),
    ):
        whole = get(stack, **query, limit=10_000)
        assert whole["has_more"] is False and whole["next_page"] is None
        for limit in limits:
            assert len(whole["rows"]) > limit
            pages = every_page(stack, **query, limit=limit)
            assert [row for page in pages for row in page["rows"]] == whole["rows"]
            assert [len(page["rows"]) for page in pages[:-1]] == [limit] * (len(pages) - 1)
            assert all(without_page(page) == without_page(whole) for page in pages)
            assert [page["has_more"] for page in pages] == [True] * (len(pages) - 1) + [False]


def test_the_default_page_is_a_thousand_rows_and_the_rest_follows(stack, backfilled):
    query = {"from": backfilled["from"], "to": backfilled["to"], "group_by": "date,workspace_id,model"}
    whole = get(stack, **query, limit=10_000)
    assert len(whole["rows"]) > 1000

    pages = every_page(stack, **query)

    assert len(pages[0]["rows"]) == 1000 and pages[0]["has_more"] is True
    assert [row for page in pages for row in page["rows"]] == whole["rows"]


def test_a_cursor_from_another_query_or_a_made_up_one_is_refused_without_echo(stack, backfilled):
    query = {"from": backfilled["from"], "to": backfilled["to"], "group_by": "date,model"}
    cursor = get(stack, **query, limit=5)["next_page"]
    for other in ({**query, "group_by": "model,date"}, {**query, "to": backfilled["from"]}):
        response = stack.call("GET", "/costs?" + urlencode({**other, "page": cursor}))
        assert (response.status, response.json()["error"]["code"]) == (400, "invalid_query")
        assert response.json()["error"]["message"].startswith("The page cursor is not one this query returned")
        assert cursor not in response.body

    made_up = "eyJxIjoiMDAwMDAwMDAwMDAwMDAwMCIsImFmdGVyIjpbXX0"
    response = stack.call("GET", "/costs?" + urlencode({**query, "page": made_up}))
    assert (response.status, response.json()["error"]["code"]) == (400, "invalid_query")
    assert made_up not in response.body


@pytest.mark.parametrize("limit", ["0", "10001", "many", "2.5"])
def test_a_limit_outside_one_to_ten_thousand_is_400_with_a_sentence(stack, limit):
    response = stack.call("GET", "/costs?" + urlencode({"limit": limit}))
    assert (response.status, response.json()["error"]["code"]) == (400, "invalid_query")
    assert response.json()["error"]["message"] == "'limit' must be a whole number from 1 to 10000."


SUMMARY_GROUPINGS = (
    "", "model", "workspace_id", "date", "month", "api_key_id", "actor", "product", "cost_type", "token_type",
    "service_tier", "context_window", "speed", "month,api_key_id", "date,month", "workspace_id,model,token_type",
)  # fmt: skip


def _month_summaries() -> list[dict]:
    return [item for item in table.raw_items() if item["sk"]["S"] == cost_days.SUMMARY_SK]


def test_reads_from_month_summaries_equal_reads_from_the_days_exactly(stack, backfilled):
    """Every grouping over the year and over a range cut mid-month: the answer built from the month summaries is
    the answer built from the day documents alone, to the last decimal, net and list, on every grouping."""
    summaries = _month_summaries()
    assert len(summaries) >= 11  # every month that has ended since the backfill's first day
    year = {"from": backfilled["from"], "to": backfilled["to"]}
    cut = {"from": backfilled["from"][:8] + "15", "to": backfilled["to"][:8] + "10"}
    ranges = (year, cut)
    with_summaries = {
        (r["from"], g): get(stack, **r, group_by=g, limit=10_000) for r in ranges for g in SUMMARY_GROUPINGS
    }

    table.batch_write(deletes=[table.item_key(s["pk"]["S"], s["sk"]["S"]) for s in summaries])
    try:
        for r in ranges:
            for grouping in SUMMARY_GROUPINGS:
                from_days = get(stack, **r, group_by=grouping, limit=10_000)
                assert with_summaries[(r["from"], grouping)] == from_days, grouping
                total = from_days["total"]["cost_usd"]
                assert sum(Decimal(row["cost_usd"]) for row in from_days["rows"]) == Decimal(total), grouping
    finally:
        months = [s["pk"]["S"].rsplit("#", 1)[1] for s in summaries]
        assert cost_days.refresh_summaries(TENANT, _connection_id(stack), months) == len(summaries)
    assert len(_month_summaries()) == len(summaries)


def test_a_summary_whose_days_changed_is_never_read(stack, backfilled):
    """A summary is read only while its day digests equal the stored heads': one built from other days (as a writer
    that stopped between the days and the summary would leave it) is passed over for the days themselves."""
    query = {"from": backfilled["from"], "to": backfilled["to"], "group_by": "model", "limit": 10_000}
    before = get(stack, **query)
    summary = _month_summaries()[1]
    month = summary["pk"]["S"].rsplit("#", 1)[1]
    stamps, found = cost_days._month_stamps(TENANT, _connection_id(stack), month, "summary", cost_days.GRAINS)
    stored, grains = found["summary"], found[cost_days.GRAINS]
    assert month_summary.is_current(stored, stamps)
    assert month_summary.is_current(grains, stamps, format_=month_summary.GRAINS_FORMAT)
    # Every cost line's amount made absurd (a line is [source, 7 dimensions, cost, ...]; a grain's line by model is
    # [source, model, cost, ...]).
    tampered = {**stored, "cost": [[*row[:8], "1000000", *row[9:]] for row in stored["cost"]]}
    tampered["days"] = [[d, "0" * 32, s] for d, _digest, s in stored["days"]]  # digests of days no longer stored
    lines = {
        **grains["lines"],
        "cost|model": [[*row[:2], "1000000", *row[3:]] for row in grains["lines"]["cost|model"]],
    }
    tampered_grains = {**grains, "days": tampered["days"], "lines": lines}
    table.batch_write(
        puts=[
            {
                **_raw_summary(summary),
                "summary": {"B": month_summary.encode(tampered)},
                cost_days.GRAINS: {"B": month_summary.encode(tampered_grains)},
            }
        ]
    )
    try:
        assert get(stack, **query) == before
    finally:
        cost_days.refresh_summaries(TENANT, _connection_id(stack), [month])
    assert get(stack, **query) == before


def _raw_summary(item: dict) -> dict:
    return {k: v for k, v in item.items() if k not in {"summary", cost_days.GRAINS}}


def _connection_id(stack) -> str:
    return stack.call("GET", "/integrations/anthropic").json()["connections"][0]["id"]


def test_a_report_led_by_date_carries_the_total_of_the_same_lines_as_its_rows(stack, backfilled):
    """Pages of a date-led report read only their days; their total comes from the month summaries, summed from
    the same lines as the rows (per-key lines when the rows are by key), so it is the total of the whole report."""
    year = {"from": backfilled["from"], "to": backfilled["to"]}
    for led, whole in (("date,api_key_id", "api_key_id"), ("date,model,token_type", "model")):
        pages = every_page(stack, **year, group_by=led, limit=500)
        assert len(pages) > 1
        expected = get(stack, **year, group_by=whole, limit=10_000)["total"]
        assert all(page["total"] == expected for page in pages)
        rows = [row for page in pages for row in page["rows"]]
        assert sum(Decimal(r["cost_usd"] or 0) for r in rows) == Decimal(expected["cost_usd"])
