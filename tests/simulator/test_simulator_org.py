"""The synthetic org and the report semantics, without sockets."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, OrgSpec, SimulatedOrg, prices, reports
from anthropic_simulator.org import MINUTES_PER_DAY, UsageRow

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
TODAY = NOW.date()


def _org(spec: OrgSpec | None = None, now: datetime = NOW) -> SimulatedOrg:
    return SimulatedOrg(spec or OrgSpec(), now=lambda: now)


def _days(count: int, end: date = TODAY) -> list[date]:
    return [end - timedelta(days=i) for i in range(count)]


def _priced(usage: list[UsageRow], code_seconds: dict[str | None, int]) -> dict[tuple, Decimal]:
    # An independent re-computation of a day's cost from its usage through the public price table.
    expected: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in usage:
        if row.service_tier == "priority":
            continue
        for token_type, tokens in row.tokens_by_type():
            if tokens:
                dims = (row.model, token_type, row.service_tier, row.context_window, row.inference_geo)
                description = prices.token_description(*dims)
                expected[(row.workspace_id, description)] += tokens * prices.token_unit_price_cents(*dims)
        if row.web_search_requests:
            description = prices.web_search_description(row.model)
            expected[(row.workspace_id, description)] += row.web_search_requests * prices.WEB_SEARCH_CENTS_PER_REQUEST
    for workspace_id, seconds in code_seconds.items():
        key = (workspace_id, prices.CODE_EXECUTION_DESCRIPTION)
        expected[key] += seconds * prices.CODE_EXECUTION_CENTS_PER_SECOND
    return {key: amount for key, amount in expected.items() if amount}


def test_org_same_seed_same_history() -> None:
    first, second = _org(OrgSpec(seed=11)), _org(OrgSpec(seed=11))

    assert (first.id, first.workspaces, first.api_keys, first.users) == (
        second.id,
        second.workspaces,
        second.api_keys,
        second.users,
    )
    for day in _days(30):
        assert first.usage_rows(day) == second.usage_rows(day)
        assert first.cost_rows(day) == second.cost_rows(day)


def test_org_different_seed_different_history() -> None:
    first, second = _org(OrgSpec(seed=1)), _org(OrgSpec(seed=2))

    assert first.id != second.id
    assert [first.usage_rows(d) for d in _days(5)] != [second.usage_rows(d) for d in _days(5)]


def test_org_default_year_generates_fast() -> None:
    org = _org()
    started = time.perf_counter()

    for day in _days(366):
        org.cost_rows(day)

    assert time.perf_counter() - started < 3


def test_org_large_spec_generates_sparse_rows() -> None:
    org = _org(OrgSpec(workspaces=25, api_keys=200, models=12))
    started = time.perf_counter()

    rows = [row for day in _days(30) for row in org.usage_rows(day)]

    assert time.perf_counter() - started < 3
    assert len({r.model for r in rows}) > 6
    assert len(rows) < 30 * 200 * 12


def test_org_cost_rows_equal_usage_priced_through_price_table() -> None:
    org = _org()

    for day in _days(120):
        actual = {(r.workspace_id, r.description): r.amount for r in org.cost_rows(day)}
        assert actual == _priced(org.usage_rows(day), org.code_execution_seconds(day)), day


def test_org_priority_usage_has_no_cost_rows() -> None:
    org = _org()
    days = _days(60)

    priority = [r for d in days for r in org.usage_rows(d) if r.service_tier == "priority"]
    cost_tiers = {r.service_tier for d in days for r in org.cost_rows(d)}

    assert priority
    assert cost_tiers <= {"standard", "batch", None}


def test_org_descriptions_identify_one_price() -> None:
    org = _org(OrgSpec(models=12))
    seen: dict[str, tuple] = {}

    for day in _days(90):
        for row in org.cost_rows(day):
            parsed = (
                row.cost_type,
                row.model,
                row.token_type,
                row.service_tier,
                row.context_window,
                row.inference_geo,
            )
            assert seen.setdefault(row.description, parsed) == parsed

    assert len(set(seen.values())) == len(seen)


def test_prices_unit_price_applies_every_multiplier() -> None:
    price = prices.token_unit_price_cents("claude-opus-4-6", "uncached_input_tokens", "batch", "200k-1M", "us")
    output = prices.token_unit_price_cents("claude-opus-4-6", "output_tokens", "standard", "200k-1M", "global")
    cache_write = prices.token_unit_price_cents(
        "claude-haiku-4-5-20251001",
        "cache_creation.ephemeral_1h_input_tokens",
        "standard",
        "0-200k",
        "not_available",
    )

    assert price == Decimal("5") * Decimal("0.5") * 2 * Decimal("1.1") / 10_000
    assert output == Decimal("25") * Decimal("1.5") / 10_000
    assert cache_write == Decimal("2") / 10_000
    with pytest.raises(ValueError):
        prices.token_unit_price_cents("claude-opus-4-6", "output_tokens", "priority", "0-200k", "global")


def test_cost_report_amounts_are_exact_cent_strings() -> None:
    org = _org()
    query = {"starting_at": ["2026-02-01T00:00:00Z"], "ending_at": ["2026-03-01T00:00:00Z"], "limit": ["31"]}

    grouped = reports.cost_report(org, {**query, "group_by[]": ["workspace_id", "description"]})
    total = reports.cost_report(org, query)

    for grouped_bucket, total_bucket in zip(grouped["data"], total["data"], strict=True):
        amounts = [r["amount"] for r in grouped_bucket["results"]]
        assert all(re.fullmatch(r"\d+(\.\d+)?", a) for a in amounts)
        assert str(sum(Decimal(a) for a in amounts).normalize()) == total_bucket["results"][0]["amount"]
        assert total_bucket["results"][0]["description"] is None


def test_format_amount_never_uses_an_exponent() -> None:
    assert reports.format_amount(Decimal("100.000")) == "100"
    assert reports.format_amount(Decimal("0.000000125")) == "0.000000125"
    assert reports.format_amount(Decimal("123.78912")) == "123.78912"


def test_org_restate_changes_only_the_last_days() -> None:
    org = _org()
    days = _days(10)
    before = {d: (org.usage_rows(d), org.cost_rows(d)) for d in days}

    changed = org.restate(3)

    assert changed == days[:3]
    for day in days:
        after = (org.usage_rows(day), org.cost_rows(day))
        assert (after == before[day]) is (day not in changed), day
        assert {(r.workspace_id, r.description): r.amount for r in after[1]} == _priced(
            after[0], org.code_execution_seconds(day)
        )


def test_org_hourly_slices_sum_to_the_day() -> None:
    org = _org()
    day = TODAY - timedelta(days=3)
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0] * 6)

    for hour in range(24):
        for row in org.usage_rows(day, hour * 60, hour * 60 + 60):
            totals[row.dims()] = [a + b for a, b in zip(totals[row.dims()], row.metrics(), strict=True)]

    assert totals == {row.dims(): list(row.metrics()) for row in org.usage_rows(day)}


def test_org_today_holds_the_usage_so_far() -> None:
    at_noon = _org()
    at_midnight = _org(now=datetime.combine(TODAY, datetime.min.time(), UTC))
    next_day = _org(now=NOW + timedelta(days=1))

    so_far = sum(r.uncached_input_tokens for r in at_noon.usage_rows(TODAY))
    whole = sum(r.uncached_input_tokens for r in next_day.usage_rows(TODAY))

    assert 0 < so_far < whole
    assert at_midnight.usage_rows(TODAY) == []
    assert at_noon.usage_rows(TODAY + timedelta(days=1)) == []
    assert at_noon.usage_rows(TODAY) == at_noon.usage_rows(TODAY, 0, 12 * 60 + 30)


def test_org_archived_workspace_has_history_until_archival() -> None:
    org = _org()
    archived = [ws for ws in org.workspaces if ws.archived_at is not None]
    assert archived
    workspace = archived[0]
    archived_on = workspace.archived_at.date()

    before = [r for d in _days(60, archived_on - timedelta(days=1)) for r in org.usage_rows(d)]
    after = [r for d in _days(60, TODAY) for r in org.usage_rows(d) if d >= archived_on]

    assert any(r.workspace_id == workspace.id for r in before)
    assert not any(r.workspace_id == workspace.id for r in after)
    assert {k.status for k in org.api_keys if k.workspace_id == workspace.id} == {"archived"}


def test_org_some_keys_have_usage_for_part_of_the_history() -> None:
    org = _org()
    used_on: dict[str | None, set[date]] = defaultdict(set)
    for day in _days(org.spec.days + 1):
        for row in org.usage_rows(day):
            used_on[row.api_key_id].add(day)

    late = [k for k in org.api_keys if k.created_at.date() > org.first_day]
    stopped = [k for k in org.api_keys if k.status in ("inactive", "archived")]

    assert late and stopped
    for key in late:
        assert min(used_on[key.id]) >= key.created_at.date()
    for key in stopped:
        assert max(used_on[key.id]) < TODAY - timedelta(days=30)
    assert used_on[None]


def test_org_minute_slices_never_exceed_now() -> None:
    org = _org()

    assert org.usage_rows(TODAY, 12 * 60 + 30, MINUTES_PER_DAY) == []


def test_org_spec_rejects_unknown_models_and_tiers() -> None:
    with pytest.raises(ValueError):
        OrgSpec(models=("gpt-4",))
    with pytest.raises(ValueError):
        OrgSpec(tiers=("flex",))
    assert OrgSpec(models=3).model_ids() == tuple(prices.MODEL_PRICES)[:3]


def test_demo_admin_key_is_well_formed() -> None:
    assert re.fullmatch(r"sk-ant-admin01-[A-Za-z0-9_\-]{93}AA", DEMO_ADMIN_KEY)


@pytest.mark.parametrize("days", [1, 2, 5])
def test_org_tiny_spec_still_generates(days: int) -> None:
    org = _org(OrgSpec(days=days, workspaces=1, api_keys=1, users=1, models=1))

    rows = [row for day in _days(days + 1) for row in org.cost_rows(day)]

    assert org.workspaces and org.api_keys
    assert all(row.amount > 0 for row in rows)
