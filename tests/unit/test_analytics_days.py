"""Analytics rows into stored days, and the cost report over them: pure functions, exact Decimals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import SecretStr

from pump_anthropic.admin_api.analytics_models import CostRow, UsageRow
from pump_anthropic.domain import analytics_days, day_docs
from pump_anthropic.domain.allocation import KeyHomes
from pump_anthropic.domain.report import build_cost_report, parse_cost_query
from pump_anthropic.exceptions import AdminApiRateLimitedError, AdminApiRequestError, InvalidQueryError
from pump_anthropic.logic import sources
from pump_anthropic.logic.audit import compare_day
from pump_anthropic.logic.sources import analytics_first_day, source_coverage
from tests.support.builders import cost_item
from tests.support.fake_anthropic import FakeAdminApi

DAY = date(2026, 3, 2)
DEFAULT = "wrkspc_default"
USER = {"type": "user_actor", "user_id": "user_1", "email_address": "ada@example.com", "name": "Ada", "deleted": False}
SVAC = {"type": "service_account_actor", "service_account_id": "svac_1"}


def cost_row(amount: str, listed: str, **group) -> CostRow:
    return CostRow.model_validate(
        {
            "starting_at": f"{DAY}T00:00:00Z",
            "ending_at": "2026-03-03T00:00:00Z",
            "group": group,
            "cost": {"amount": amount, "list_amount": listed, "currency": "USD", "requests": None},
        }
    )


def usage_row(**group) -> UsageRow:
    usage = {
        "uncached_input_tokens": 1000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "cache_read_input_tokens": 0,
        "output_tokens": 250,
        "server_tool_use": {"web_search_requests": 3},
        "total_tokens": 1250,
        "requests": 4,
    }
    return UsageRow.model_validate(
        {"starting_at": f"{DAY}T00:00:00Z", "ending_at": "2026-03-03T00:00:00Z", "group": group, "usage": usage}
    )


PRICE_GROUP = {"workspace_id": DEFAULT, "model": "claude-x", "service_tier": "priority", "context_window": "0-200k"}


def test_price_rows_become_items_with_list_cost_and_joined_quantities_and_the_default_workspace_as_none():
    rows = [
        cost_row("120.5", "150.625", **PRICE_GROUP, speed="fast", cost_type="tokens", token_type="output_tokens"),
        cost_row("3", "3", **PRICE_GROUP, speed="fast", cost_type="web_search"),
        cost_row("1.25", "1.25", workspace_id="wrkspc_a", cost_type="code_execution"),
    ]
    items = analytics_days.price_items(rows, [usage_row(**PRICE_GROUP, speed="fast")], DEFAULT)
    output = next(i for i in items if i.token_type == "output_tokens")
    assert (output.workspace_id, output.cost_usd, output.list_cost_usd) == (None, Decimal("1.205"), Decimal("1.50625"))
    assert (output.quantity, output.unit, output.speed, output.service_tier) == (250, "tokens", "fast", "priority")
    search = next(i for i in items if i.cost_type == "web_search")
    assert (search.quantity, search.unit) == (3, "requests")
    code = next(i for i in items if i.cost_type == "code_execution")
    assert (code.workspace_id, code.quantity, code.cost_usd) == ("wrkspc_a", None, Decimal("0.0125"))
    # A stored day reads back the same items, list price and speed included.
    stored = day_docs.analytics_day(items, None)
    again = [day_docs.item_of(DAY, row) for row in stored[day_docs.LINES]]
    assert sorted(again, key=lambda i: i.key) == sorted(items, key=lambda i: i.key)
    assert len({i.item_id for i in items}) == 3


def test_who_rows_sum_null_actor_rows_and_keep_the_actors():
    rows = [
        cost_row("10", "12.5", workspace_id=DEFAULT, api_key_id="apikey_1", actor=USER, product="claude_code"),
        cost_row("1", "1", workspace_id="wrkspc_a", api_key_id="apikey_1", actor=None, product="messages_api"),
        cost_row("2", "2", workspace_id="wrkspc_a", api_key_id="apikey_1", actor=None, product="messages_api"),
        cost_row("4", "4", workspace_id="wrkspc_a", api_key_id=None, actor=SVAC, product=None),
    ]
    days = analytics_days.who_projections(rows, DEFAULT)
    lines = analytics_days.who_lines(days[DAY][analytics_days.WHO_LINES])
    figures = {line.dims[:3]: (line.cost_usd, line.list_cost_usd) for line in lines}
    assert figures == {
        ("apikey_1", "user_1", "claude_code"): (Decimal("0.1"), Decimal("0.125")),
        ("apikey_1", None, "messages_api"): (Decimal("0.03"), Decimal("0.03")),
        ("console", "svac_1", None): (Decimal("0.04"), Decimal("0.04")),
    }
    assert next(line for line in lines if line.dims[1] == "user_1").dims[3] is None  # Default workspace
    actors = analytics_days.actors_by_key(days[DAY][analytics_days.ACTORS])
    assert actors["user_1"][1:5] == ["user_actor", "user_1", "Ada", "ada@example.com"]
    assert "Admin key" in actors["svac_1"][5]


def _report(group_by: str, rollups, today=None):
    query = parse_cost_query("2026-01-01", "2026-03-31", group_by, today=date(2026, 3, 31))
    return build_cost_report(query, rollups, {}, {"apikey_1": {"name": "CI key", "hint": "sk-…abcd"}}, today=today)


def _analytics_rollup():
    rows = [
        cost_row("10", "12.5", workspace_id=DEFAULT, api_key_id="apikey_1", actor=USER, product="claude_code"),
        cost_row("4", "4", workspace_id="wrkspc_a", api_key_id="apikey_1", actor=None, product="messages_api"),
    ]
    projections = day_docs.analytics_day([], analytics_days.who_projections(rows, DEFAULT)[DAY])
    return day_docs.rollup_of(DAY, "conn", projections, who=True)


def test_the_report_by_actor_names_people_and_says_when_no_one_is_attributed():
    body = _report("actor", [_analytics_rollup()])
    ada, nobody = sorted(body["rows"], key=lambda r: r["actor"] or "")[::-1]
    assert (ada["actor_type"], ada["actor_id"], ada["actor_name"], ada["actor_email"]) == (
        "user_actor", "user_1", "Ada", "ada@example.com",
    )  # fmt: skip
    assert (ada["cost_usd"], ada["list_cost_usd"], ada["tokens"]) == ("0.1", "0.125", None)
    assert nobody["actor"] is None and nobody["actor_note"]
    assert body["total"] == {
        "cost_usd": "0.14",
        "list_cost_usd": "0.165",
        "list_priced": {"days": 1, "of_days": 1, "list_cost_usd": "0.165", "cost_usd": "0.14", "discount_usd": "0.025"},
        "tokens": None,  # Anthropic's per-actor lines carry cost only
        "cost_unknown": {"tokens": 0, "web_search_requests": 0},
    }


def test_the_report_by_key_says_billed_and_legacy_days_say_unknown_for_what_they_cannot_know():
    by_key = _report("api_key_id", [_analytics_rollup()])
    assert [(r["api_key_name"], r["allocation"]) for r in by_key["rows"]] == [("CI key", "billed")]
    old_day = date(2026, 1, 5)
    legacy = day_docs.rollup_of(old_day, "conn", day_docs.legacy_day([cost_item(date=old_day)], []), who=False)
    body = _report("date,product", [legacy])
    assert [(r["product"], r["list_cost_usd"]) for r in body["rows"]] == [("unknown", None)]
    assert [r["speed"] for r in _report("speed", [legacy])["rows"]] == ["unknown"]
    mixed = _report("product", [_analytics_rollup(), legacy])
    assert {r["product"] for r in mixed["rows"]} == {"unknown", "claude_code", "messages_api"}
    assert mixed["total"]["list_cost_usd"] is None


def test_who_and_price_dimensions_do_not_combine_on_analytics_days():
    with pytest.raises(InvalidQueryError):
        parse_cost_query("2026-01-01", "2026-01-31", "actor,service_tier", today=date(2026, 3, 31))
    with pytest.raises(InvalidQueryError):
        _report("api_key_id,service_tier", [_analytics_rollup()])


def test_recent_days_are_provisional_by_their_source_window():
    rollup = _analytics_rollup()  # DAY = 2026-03-02, from the analytics API (revised up to 30 days after)
    body = _report("date", [rollup], today=date(2026, 4, 1))
    assert body["rows"][0]["provisional"] is True and body["settled_through"] == "2026-03-01"
    settled = _report("date", [rollup], today=date(2026, 4, 2))
    assert settled["rows"][0]["provisional"] is False and settled["settled_through"] == DAY.isoformat()
    legacy = day_docs.rollup_of(DAY, "conn", day_docs.legacy_day([cost_item(date=DAY)], []), who=False)
    assert _report("date", [legacy], today=date(2026, 3, 5))["rows"][0]["provisional"] is True
    assert _report("date", [legacy], today=date(2026, 3, 6))["rows"][0]["provisional"] is False


def test_source_coverage_merges_runs_and_a_later_record_wins():
    ranges = [
        {"source": "legacy", "from": "2025-12-01", "to": "2025-12-31"},
        {"source": "analytics", "from": "2026-01-01", "to": "2026-01-31"},
        {"source": "legacy", "from": "2026-01-30", "to": "2026-01-31", "reason": "refused"},
    ]
    assert source_coverage(ranges) == [
        {"source": "legacy", "from": "2025-12-01", "to": "2025-12-31"},
        {"source": "analytics", "from": "2026-01-01", "to": "2026-01-29"},
        {"source": "legacy", "from": "2026-01-30", "to": "2026-01-31", "reason": "refused"},
    ]


def test_the_analytics_api_serves_from_its_floor_or_its_365_day_reach():
    assert analytics_first_day(datetime(2026, 11, 30, 12, tzinfo=UTC)) == date(2026, 1, 1)
    assert analytics_first_day(datetime(2027, 3, 1, 12, tzinfo=UTC)) == date(2026, 3, 2)


def test_the_audit_finds_a_mismatch_beyond_a_cent_only():
    ok = compare_day(DAY, Decimal("100.004"), Decimal("10"), Decimal("90"))
    assert ok["mismatch"] is False and ok["difference_usd"] == "0.004"
    off = compare_day(DAY, Decimal("100"), Decimal("0"), Decimal("90"))
    assert off["mismatch"] is True and off["difference_usd"] == "10"


# --- source selection, with a fake Anthropic ---------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _pull(api: FakeAdminApi, source: str, start: date = date(2025, 12, 30), end: date = date(2026, 1, 3)):
    return sources.pull_days(
        SecretStr("sk-ant-admin01-x"), lambda key, deadline: api, None, start, end,
        source=source, now=NOW, key_homes=KeyHomes.from_api_keys([]), known_workspace_ids={"wrkspc_a"},
    )  # fmt: skip


def test_auto_reads_the_analytics_api_from_2026_and_the_legacy_reports_before():
    api = FakeAdminApi(workspaces=[("wrkspc_a", "A")])
    pulled = _pull(api, "auto")
    assert [(r.source, r.first_day, r.last_day) for r in pulled.sources] == [
        ("legacy", date(2025, 12, 30), date(2025, 12, 31)),
        ("analytics", date(2026, 1, 1), date(2026, 1, 2)),
    ]
    assert pulled.default_workspace_id == "wrkspc_default"
    assert api.asked.count("analytics cost") == 2 and api.asked.count("analytics usage") == 1


def test_a_refused_beta_falls_back_to_the_legacy_reports_with_the_reason():
    refused = AdminApiRequestError("GET /v1/organizations/analytics/cost failed", status=400)
    api = FakeAdminApi(workspaces=[("wrkspc_a", "A")], analytics_failure=refused)
    pulled = _pull(api, "auto")
    assert [(r.source, r.first_day, r.last_day) for r in pulled.sources] == [
        ("legacy", date(2025, 12, 30), date(2025, 12, 31)),
        ("legacy", date(2026, 1, 1), date(2026, 1, 2)),
    ]
    assert "HTTP 400" in pulled.sources[1].reason and pulled.sources[0].reason is None
    with pytest.raises(AdminApiRequestError):
        _pull(FakeAdminApi(workspaces=[("wrkspc_a", "A")], analytics_failure=refused), "analytics")


def test_a_rate_limit_is_never_a_reason_to_fall_back():
    limited = AdminApiRateLimitedError("slow down", status=429)
    with pytest.raises(AdminApiRateLimitedError):
        _pull(FakeAdminApi(workspaces=[("wrkspc_a", "A")], analytics_failure=limited), "auto")


def test_the_legacy_source_never_asks_the_analytics_api():
    api = FakeAdminApi(workspaces=[("wrkspc_a", "A")])
    pulled = _pull(api, "legacy")
    assert not [a for a in api.asked if a.startswith("analytics") or "default" in a]
    assert [r.source for r in pulled.sources] == ["legacy"]


def test_rounding_residue_between_breakdowns_goes_to_the_largest_line_so_totals_agree():
    price = analytics_days.price_items(
        [cost_row("10.000001", "12.500001", **PRICE_GROUP, cost_type="tokens", token_type="output_tokens")], [], DEFAULT
    )
    rows = [
        cost_row(
            "6", "7.5", **PRICE_GROUP, api_key_id="apikey_1", actor=USER, cost_type="tokens", token_type="output_tokens"
        ),
        cost_row(
            "4", "5", **PRICE_GROUP, api_key_id="apikey_2", actor=USER, cost_type="tokens", token_type="output_tokens"
        ),
    ]
    lines = analytics_days.who_lines(
        analytics_days.who_projections(rows, DEFAULT, price)[DAY][analytics_days.WHO_LINES]
    )
    by_key = {line.dims[0]: (line.cost_usd, line.list_cost_usd) for line in lines}
    assert by_key == {
        "apikey_1": (Decimal("0.06000001"), Decimal("0.07500001")),  # the largest line takes the residue
        "apikey_2": (Decimal("0.04"), Decimal("0.05")),
    }
    assert sum(c for c, _ in by_key.values()) == price[0].cost_usd
