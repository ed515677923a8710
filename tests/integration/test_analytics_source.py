"""The analytics API as the source (ANTHROPIC_COST_SOURCE=auto): a 365-day backfill stitched from the legacy reports
(before 2026-01-01) and the Usage and Cost Analytics API (from then on), read through the real stack and compared
with both APIs read independently over HTTP."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from anthropic_simulator.analytics_settings import AnalyticsSettings
from pump_anthropic.domain import analytics_days
from pump_local import cli
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from tests.support.oracles import (
    ANALYTICS_FLOOR,
    analytics_rows,
    analytics_rows_per_day,
    default_workspace_id,
    fewest_requests,
    independent_analytics_totals,
    independent_cost_totals,
    stitched_cost_totals,
)
from tests.support.stack import FIXED_NOW, SMALL_ORG, Stack, costs, report_totals, sync_now

# Exact amounts (no rounding to 6 decimals of a cent), so that every query shape sums to the same figures.
EXACT = AnalyticsSettings(amount_decimals=None)


def backfilled(stack: Stack) -> dict:
    response = stack.connect()
    assert response.status == 202, response.body
    connection = stack.wait_settled(response.json()["id"], timeout=300)
    assert connection["status"] == "active", connection
    return connection


@pytest.fixture
def make_analytics_stack() -> Iterator:
    with ExitStack() as resources:

        def build(settings: AnalyticsSettings = EXACT, source: str | None = None) -> Stack:
            simulator = resources.enter_context(
                Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, now=lambda: FIXED_NOW, analytics=settings)
            )
            aws = resources.enter_context(
                LocalAws(simulator.url, retry_interval_seconds=1, retry_max_attempts=2, cost_source=source)
            )
            return Stack(aws, LocalApi(), simulator, [])

        yield build


def _range(connection: dict) -> tuple[date, date]:
    return date.fromisoformat(connection["backfill"]["from"]), date.fromisoformat(connection["backfill"]["to"])


def test_auto_backfill_is_the_legacy_report_before_2026_and_the_analytics_report_after_exactly(make_analytics_stack):
    stack = make_analytics_stack()
    connection = backfilled(stack)
    first, last = _range(connection)
    assert first < ANALYTICS_FLOOR <= last

    report = costs(stack, first.isoformat(), last.isoformat())
    got = {k: v for k, v in report_totals(report).items() if v}
    assert got == stitched_cost_totals(stack.simulator.url, first, last)

    # Priority-tier cost, missing from the legacy cost report, is in the analytics days' figures; the legacy
    # days' "cost unknown" remains only before the stitch.
    unknown_days = {r["date"] for r in report["rows"] if any(r["cost_unknown"].values())}
    assert unknown_days and max(unknown_days) < ANALYTICS_FLOOR.isoformat()
    assert report["sources"] == [
        {"source": "legacy", "from": first.isoformat(), "to": (ANALYTICS_FLOOR - timedelta(days=1)).isoformat()},
        {"source": "analytics", "from": ANALYTICS_FLOOR.isoformat(), "to": last.isoformat()},
    ]
    coverage = stack.call("GET", f"/integrations/anthropic/{connection['id']}").json()["cost_source"]
    assert coverage["setting"] == "auto" and coverage["data_refreshed_at"]
    assert [c["source"] for c in coverage["coverage"]] == ["legacy", "analytics"]


def test_the_default_workspace_is_one_series_across_the_stitch(make_analytics_stack):
    stack = make_analytics_stack()
    connection = backfilled(stack)
    first, last = _range(connection)
    tagged_default = default_workspace_id(stack.simulator.url)
    assert tagged_default is not None  # a Console org: the analytics API names the Default workspace

    rows = costs(stack, first.isoformat(), last.isoformat(), "month,workspace_id")["rows"]
    default_months = {r["month"] for r in rows if r["workspace_id"] is None}
    assert "2025-12" in default_months and "2026-01" in default_months
    assert all(r["workspace_id"] != tagged_default for r in rows)
    assert {r["workspace_name"] for r in rows if r["workspace_id"] is None} == {"Default workspace"}


def _analytics_days(connection: dict) -> tuple[date, date]:
    return max(_range(connection)[0], ANALYTICS_FLOOR), _range(connection)[1]


def _by(rows: list[dict], *fields: str) -> dict[tuple, tuple[Decimal, Decimal]]:
    return {
        tuple(r[f] for f in fields): (Decimal(r["cost_usd"]), Decimal(r["list_cost_usd"]))
        for r in rows
        if Decimal(r["cost_usd"]) or Decimal(r["list_cost_usd"])
    }


def _oracle(url: str, first: date, last: date, dimension: str, key) -> dict[tuple, tuple[Decimal, Decimal]]:
    totals: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in analytics_rows(url, first, last, [dimension]):
        figures = totals[(key(row["group"][dimension]),)]
        figures[0] += Decimal(row["cost"]["amount"]) / 100
        figures[1] += Decimal(row["cost"]["list_amount"]) / 100
    return {k: (a, b) for k, (a, b) in totals.items() if a or b}


def _actor_id(actor: dict | None) -> str | None:
    if actor is None:
        return None
    return actor.get("user_id") or actor.get("service_account_id") or actor.get("api_key_id") or actor.get("subject")


def test_billed_cost_per_key_actor_and_product_equal_anthropics_figures_with_list_prices(make_analytics_stack):
    stack = make_analytics_stack()
    connection = backfilled(stack)
    first, last = _analytics_days(connection)
    url, span = stack.simulator.url, (first.isoformat(), last.isoformat())
    whole = costs(stack, *span, "month")["total"]

    by_key = costs(stack, *span, "api_key_id")
    assert _by(by_key["rows"], "api_key_id") == _oracle(url, first, last, "api_key_id", lambda k: k or "console")
    assert {r["allocation"] for r in by_key["rows"]} == {"billed"}

    by_actor = costs(stack, *span, "actor")
    got = {(_row_actor(r),): figures for (r, figures) in _rows_with(by_actor["rows"])}
    assert got == _oracle(url, first, last, "actor", _actor_id)
    people = [r for r in by_actor["rows"] if r["actor_type"] == "user_actor" and r["actor_email"]]
    assert people and all(r["actor_name"] or r["actor_email"] for r in people)
    accounts = [r for r in by_actor["rows"] if r["actor_type"] == "service_account_actor"]
    assert accounts and all("Admin key" in r["actor_note"] for r in accounts)

    by_product = costs(stack, *span, "product")
    assert _by(by_product["rows"], "product") == _oracle(url, first, last, "product", lambda p: p)
    assert "claude_code" in {r["product"] for r in by_product["rows"]}

    # Every grouping sums to the ungrouped total, net and list, to the last decimal.
    for body in (by_key, by_actor, by_product):
        assert (
            body["total"]["cost_usd"] == whole["cost_usd"] and body["total"]["list_cost_usd"] == whole["list_cost_usd"]
        )
        assert sum(Decimal(r["cost_usd"]) for r in body["rows"]) == Decimal(whole["cost_usd"])
    assert Decimal(whole["list_cost_usd"]) > Decimal(whole["cost_usd"])  # the org has a negotiated discount


def _rows_with(rows: list[dict]) -> Iterator[tuple[dict, tuple[Decimal, Decimal]]]:
    for r in rows:
        figures = (Decimal(r["cost_usd"]), Decimal(r["list_cost_usd"]))
        if any(figures):
            yield r, figures


def _row_actor(row: dict) -> str | None:
    return row["actor_id"] if row["actor_type"] != "federated_actor" else row["actor_name"]


def test_a_range_across_the_stitch_has_no_list_price_and_legacy_days_say_who_is_unknown(make_analytics_stack):
    stack = make_analytics_stack()
    connection = backfilled(stack)
    span = ("2025-12-30", "2026-01-02")
    by_actor = costs(stack, *span, "date,actor")
    legacy = [r for r in by_actor["rows"] if r["date"] < "2026-01-01"]
    assert legacy and {(r["actor"], r["actor_type"]) for r in legacy} == {("unknown", "unknown")}
    assert all(r["list_cost_usd"] is None for r in legacy)
    assert all(r["list_cost_usd"] is not None for r in by_actor["rows"] if r["date"] >= "2026-01-01")
    assert by_actor["total"]["list_cost_usd"] is None  # some days of the range have no list price
    by_key = costs(stack, *span, "api_key_id")
    assert {r["allocation"] for r in by_key["rows"]} <= {"mixed", "billed", "proportional", "unattributed"}
    assert "mixed" in {r["allocation"] for r in by_key["rows"]}
    refused = stack.call("GET", "/costs?from=2026-01-01&to=2026-01-02&group_by=api_key_id,service_tier")
    assert refused.status == 400 and refused.json()["error"]["code"] == "invalid_query"
    assert connection["status"] == "active"


def test_a_refused_beta_falls_back_to_the_legacy_reports_for_every_day_and_says_why(make_analytics_stack):
    stack = make_analytics_stack(replace(EXACT, enrolled_in_beta=False))
    connection = backfilled(stack)
    first, last = _range(connection)
    report = costs(stack, first.isoformat(), last.isoformat())
    legacy = independent_cost_totals(stack.simulator.url, first.isoformat(), last.isoformat())
    assert {k: v for k, v in report_totals(report).items() if v} == {k: v for k, v in legacy.items() if v}
    assert [s["source"] for s in report["sources"]] == ["legacy"]
    coverage = stack.call("GET", f"/integrations/anthropic/{connection['id']}").json()["cost_source"]["coverage"]
    fallback = [c for c in coverage if c.get("reason")]
    assert fallback and fallback[0]["from"] == ANALYTICS_FLOOR.isoformat() and "HTTP 400" in fallback[0]["reason"]


def test_forcing_the_legacy_source_never_asks_the_analytics_api(make_analytics_stack):
    stack = make_analytics_stack(source="legacy")
    connection = backfilled(stack)
    assert not any(path.startswith("/v1/organizations/analytics") for path in stack.simulator.request_counts)
    first, last = _range(connection)
    report = costs(stack, first.isoformat(), last.isoformat())
    assert [s["source"] for s in report["sources"]] == ["legacy"]


def test_a_restatement_inside_30_days_is_picked_up_by_the_daily_reread_and_marked_provisional(make_analytics_stack):
    stack = make_analytics_stack()
    connection = backfilled(stack)
    today = FIXED_NOW.date()
    restated = stack.simulator.org.restate(20)
    assert today - timedelta(days=19) in restated
    after = sync_now(stack, connection["id"])  # the first sync after the backfill: a UTC day's first, so 30 days
    assert after["last_sync"]["window_start"] <= (today - timedelta(days=30)).isoformat()
    first = today - timedelta(days=25)
    want = independent_analytics_totals(stack.simulator.url, first, today, ["workspace_id", "model"])
    report = costs(stack, first.isoformat(), today.isoformat())
    assert {k: v for k, v in report_totals(report).items() if v} == {k: v for k, v in want.items() if v}
    assert report["settled_through"] == (today - timedelta(days=31)).isoformat()
    assert {r["date"] for r in report["rows"] if r["provisional"]} == {r["date"] for r in report["rows"]}
    older = costs(stack, (today - timedelta(days=40)).isoformat(), (today - timedelta(days=35)).isoformat())
    assert not any(r["provisional"] for r in older["rows"])
    # The daily audit of one settled day: legacy cost report + priority cost = analytics total.
    audit = after["last_sync"]["cross_check"]
    assert audit["day"] == (today - timedelta(days=31)).isoformat() and audit["mismatch"] is False


def test_requests_per_query_set_stay_within_1_2x_of_the_fewest_possible(make_analytics_stack):
    stack = make_analytics_stack()
    stack.simulator.reset_counts()
    connection = backfilled(stack)
    first, last = _analytics_days(connection)
    counts = stack.simulator.grouped_request_counts
    for query_set in analytics_days.QUERY_SETS:
        path = f"/v1/organizations/analytics/{query_set.endpoint.value}"
        sent = sum(n for (p, group_by), n in counts.items() if p == path and set(group_by) >= query_set.dimensions)
        rows = analytics_rows_per_day(
            stack.simulator.url, query_set.endpoint.value, sorted(query_set.dimensions), first, last
        )
        fewest = fewest_requests(rows, first, last)
        assert fewest <= sent <= 1.2 * fewest, (query_set.name, sent, fewest)
    analytics_paths = {p for p, _ in counts if p.startswith("/v1/organizations/analytics/")}
    assert analytics_paths == {"/v1/organizations/analytics/cost", "/v1/organizations/analytics/usage"}


def test_with_anthropics_rounded_amounts_every_breakdown_still_adds_up_to_one_total(make_analytics_stack):
    # The simulator's default: each row's amount rounded to 6 decimals of a cent, as the API sends it.
    stack = make_analytics_stack(AnalyticsSettings())
    connection = backfilled(stack)
    first, last = _analytics_days(connection)
    span = (first.isoformat(), last.isoformat())
    totals = {
        group_by: costs(stack, *span, group_by)["total"]
        for group_by in ("month", "api_key_id", "actor", "product", "model,service_tier", "speed")
    }
    assert len({(t["cost_usd"], t["list_cost_usd"]) for t in totals.values()}) == 1, totals
    # Per (date, workspace, model) the figures are Anthropic's rows (of the price breakdown we read) summed exactly,
    # and within its rounding of a query grouped by just the workspace and model.
    price = ["workspace_id", "model", "service_tier", "context_window", "speed", "cost_type", "token_type"]
    finer = defaultdict(Decimal)
    for (day, workspace, model, *_), usd in independent_analytics_totals(
        stack.simulator.url, first, last, price
    ).items():
        finer[(day, workspace, model)] += usd
    got = report_totals(costs(stack, *span))
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in finer.items() if v}
    coarse = independent_analytics_totals(stack.simulator.url, first, last, ["workspace_id", "model"])
    assert all(abs(got.get(k, 0) - v) <= Decimal("0.0000001") for k, v in coarse.items())


def test_run_json_over_365_days_is_the_legacy_report_then_the_analytics_report(capsys):
    with Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, now=lambda: FIXED_NOW, analytics=EXACT) as simulator:
        argv = ["run", "--anthropic-url", simulator.url, "--admin-key", DEMO_ADMIN_KEY, "--json", "--source", "auto"]
        assert cli.main(argv) == 0
        report = json.loads(capsys.readouterr().out)
        first, last = date.fromisoformat(report["from"]), date.fromisoformat(report["to"])
        assert (last - first).days == 364 and first < ANALYTICS_FLOOR
        got = {k: v for k, v in report_totals(report).items() if v}
        assert got == stitched_cost_totals(simulator.url, first, last)
        default_days = {day for day, workspace, _ in got if workspace is None}
        assert min(default_days) < ANALYTICS_FLOOR.isoformat() < max(default_days)  # one Default series
