"""The knobs the spend guard's tests turn after start-up or at it: the runaway burst restated (removed or changed)
and a model's price change from a day on, each seen the same by the legacy cost report and the analytics API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from anthropic_simulator import OrgSpec, SimulatedOrg, SpendScenario
from anthropic_simulator.analytics_data import AnalyticsData
from anthropic_simulator.analytics_reports import AnalyticsReports
from anthropic_simulator.analytics_settings import AnalyticsSettings
from anthropic_simulator.scenarios import apply_scenario, parse_price_change

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SPEC = OrgSpec(seed=11, days=40, workspaces=2, api_keys=3, models=3)


def legacy_cost(org: SimulatedOrg, day: date, model: str | None = None) -> Decimal:
    """The day's cost in cents (of one model's tokens)."""
    rows = [r for r in org.cost_rows(day) if model is None or (r.model == model and r.cost_type == "tokens")]
    return sum((r.amount for r in rows), Decimal(0))


def test_a_restated_burst_changes_its_days_in_both_apis_and_nothing_else():
    org = SimulatedOrg(SPEC, now=lambda: NOW)
    traffic = apply_scenario(org, SpendScenario(runaway_usd_per_hour=Decimal("100"), runaway_hours=2))
    data = AnalyticsData(org)
    day = traffic.burst_start.date()
    before, other = legacy_cost(org, day), legacy_cost(org, day - timedelta(days=1))
    analytics_before = len(data.rows(day))
    assert traffic.restate_runaway(None) == [day]
    org.scenario_restated([day])
    assert legacy_cost(org, day) == before - 20_000  # cents
    assert legacy_cost(org, day - timedelta(days=1)) == other
    assert traffic.added_usd_by_key.get(traffic.runaway_key_id) is None
    assert len(data.rows(day)) < analytics_before
    traffic.restate_runaway("250")
    org.scenario_restated([day])
    assert legacy_cost(org, day) == before - 20_000 + 50_000
    assert traffic.added_usd_by_key[traffic.runaway_key_id] == {day: Decimal("500.00")}


def test_a_price_change_scales_a_models_token_prices_from_its_day_in_both_apis():
    plain = SimulatedOrg(SPEC, now=lambda: NOW)
    day = NOW.date() - timedelta(days=2)
    model = max(SPEC.model_ids(), key=lambda m: legacy_cost(plain, day, m))
    changed = SimulatedOrg(SPEC, now=lambda: NOW)
    apply_scenario(changed, SpendScenario(price_change=parse_price_change(f"{model}:10:2")))
    assert legacy_cost(plain, day, model) > 0
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        factor = Decimal("1.1") if d >= day else 1
        assert legacy_cost(changed, d, model) == legacy_cost(plain, d, model) * factor
        others = [m for m in SPEC.model_ids() if m != model]
        assert sum(legacy_cost(changed, d, m) for m in others) == sum(legacy_cost(plain, d, m) for m in others)
    settings = AnalyticsSettings(amount_decimals=None, refresh_lag=timedelta(0))
    params = {"starting_at": [f"{day.isoformat()}T00:00:00Z"], "group_by[]": ["model", "cost_type"],
              "ending_at": [f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z"], "bucket_width": ["1d"]}  # fmt: skip
    tokens = []
    for org in (plain, changed):
        body = AnalyticsReports(AnalyticsData(org)).report("cost", params, settings)
        tokens.append(
            {(r["group"]["model"], r["group"]["cost_type"]): Decimal(r["cost"]["amount"]) for r in body["data"]}
        )
    assert tokens[0].keys() == tokens[1].keys()
    for (name, cost_type), amount in tokens[0].items():
        scaled = cost_type == "tokens" and name == settings.model_name(model)
        assert tokens[1][(name, cost_type)] == amount * (Decimal("1.1") if scaled else 1)
    assert any(name == settings.model_name(model) for name, _ in tokens[0])


@pytest.mark.parametrize("text", ["nope:10:1", "claude-haiku-4-5-20251001:0:1", "claude-haiku-4-5-20251001:x:1",
                                  "claude-haiku-4-5-20251001:10", "claude-haiku-4-5-20251001:10:yesterday",
                                  "claude-haiku-4-5-20251001:-100:1"])  # fmt: skip
def test_a_bad_price_change_is_refused(text):
    with pytest.raises(ValueError):
        parse_price_change(text)


def test_a_price_change_reads_a_date_or_days_ago():
    assert parse_price_change("claude-haiku-4-5-20251001:-20:2026-03-01") == (
        "claude-haiku-4-5-20251001", Decimal("-20"), date(2026, 3, 1))  # fmt: skip
    assert parse_price_change("claude-haiku-4-5-20251001:12.5:-3")[1:] == (Decimal("12.5"), 3)
