"""The spend guard's spend days: every scope's daily spend folded in one pass over each stored day, equal to the cost
report's figure for the same scope and day (legacy and analytics days alike), kept by the check keyed on the day's
digest, so a check folds only the days that changed and never uses a stale one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from pump_anthropic.domain import budgets, day_docs, price_alerts, spend_days
from pump_anthropic.domain.allocation import CONSOLE, METHOD_PROPORTIONAL, KeyShare
from pump_anthropic.domain.report import CostQuery, format_usd
from pump_anthropic.logic import guard, guard_spend, read
from tests.support.builders import cost_item
from tests.support.fake_storage import fake_storage

TENANT, CONNECTION = "tenant-1", "conn-1"
TODAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FIRST = TODAY - timedelta(days=29)
LEGACY_DAYS = [TODAY - timedelta(days=n) for n in range(20, 30)]
ANALYTICS_DAYS = [TODAY - timedelta(days=n) for n in range(0, 20)]
ACTORS = [
    ["user_ann", "user_actor", "user_ann", "Ann", "ann@example.com", None],
    ["user_bob", "user_actor", "user_bob", None, "bob@example.com", None],
    ["apikey_b", "api_actor", "apikey_b", None, None, None],
    ["federated:aws:1:x", "federated_actor", None, "x", None, "Federated identity (aws)"],
]


def legacy_day(day: date, n: int) -> tuple[list, list]:
    items = [
        cost_item(date=day, cost_usd=Decimal("6.25") + n, amount_cents=Decimal("625") + 100 * n, quantity=1_000_000),
        cost_item(date=day, workspace_id=None, cost_usd=Decimal("1.10"), amount_cents=Decimal("110"), quantity=50),
        cost_item(date=day, model="claude-x", cost_usd=None, amount_cents=None, quantity=7),  # unpriced
    ]
    shares = [
        KeyShare(items[0], "apikey_a", Decimal("4.25") + n, 600_000, METHOD_PROPORTIONAL),
        KeyShare(items[0], "apikey_b", Decimal("2.00"), 400_000, METHOD_PROPORTIONAL),
        KeyShare(items[1], CONSOLE, Decimal("1.10"), 50, METHOD_PROPORTIONAL),
        KeyShare(items[2], "apikey_c", None, 7, METHOD_PROPORTIONAL),
    ]
    return items, shares


def analytics_day(day: date, n: int) -> dict:
    items = [
        cost_item(date=day, cost_usd=Decimal("10.0000001") * (n + 1), amount_cents=Decimal(0), quantity=2_000_000,
                  list_cost_usd=Decimal("12") * (n + 1)),
        cost_item(date=day, workspace_id=None, cost_usd=Decimal("0.5"), amount_cents=Decimal(0), quantity=10),
    ]  # fmt: skip
    cost = Decimal("10.0000001") * (n + 1)
    who = [
        ["apikey_a", "user_ann", "api", "wrkspc_r", "claude-sonnet-4", "tokens", "output", str(cost - 3), 0, 0, 0, 0,
         None],
        ["apikey_b", "apikey_b", "api", "wrkspc_r", "claude-sonnet-4", "tokens", "output", "1", 0, 0, 0, 0, None],
        ["apikey_b", "user_bob", "claude_code", "wrkspc_r", "claude-sonnet-4", "tokens", "output", "2", 0, 0, 0, 0,
         None],
        ["console", "federated:aws:1:x", None, None, "claude-sonnet-4", "tokens", "output", "0.50", 0, 0, 0, 0, None],
        ["apikey_c", None, "api", None, "claude-sonnet-4", "tokens", "output", None, 0, 0, 0, 0, None],
    ]  # fmt: skip
    actors = ACTORS if n % 2 else [[*ACTORS[0][:3], "Ann B.", *ACTORS[0][4:]], *ACTORS[1:]]
    return day_docs.analytics_day(items, {"WHO": who, "ACTORS": actors})


@pytest.fixture
def storage():
    storage = fake_storage()
    storage.connections.register_connection(tenant_id=TENANT, connection_id=CONNECTION, organization_id="org",
                                            organization_name="Org", key_hint="…AA", secret_id="s")  # fmt: skip
    storage.directory.put_workspaces(TENANT, CONNECTION, [("wrkspc_r", "Research", False)])
    storage.directory.put_api_keys(TENANT, CONNECTION, [{"id": "apikey_a", "name": "Alpha"}, {"id": "apikey_b"}])
    for n, day in enumerate(LEGACY_DAYS):
        items, shares = legacy_day(day, n)
        storage.costs.replace_days(TENANT, CONNECTION, day, day, items, shares)
    storage.costs.store_days(TENANT, CONNECTION, ANALYTICS_DAYS[-1], TODAY,
                             {day: analytics_day(day, n) for n, day in enumerate(ANALYTICS_DAYS)})  # fmt: skip
    return storage


def report_spend(storage, scope_type: str, first: date, last: date) -> list[tuple]:
    """Each scope's daily spend as the guard read it before spend days: a cost report by date and the scope's
    dimension, its rows folded by scope (the oracle the series must equal, to the representation)."""
    dimension, id_field, name_field = budgets.SCOPE_DIMENSIONS[scope_type]
    body = read.connections_report(TENANT, CostQuery(first, last, ("date", dimension)), [CONNECTION], storage=storage)
    by_scope: dict = {}
    names: dict = {}
    for row in body["rows"]:
        if scope_type == "actor" and row.get("actor") in (None, "unknown"):
            continue
        scope_id = row.get(id_field)
        daily = by_scope.setdefault(scope_id, {})
        day = date.fromisoformat(row["date"])
        daily[day] = daily.get(day, Decimal(0)) + Decimal(row.get("cost_usd") or 0)
        name = row.get(name_field) if name_field else None
        if scope_type == "actor":
            name = name or row.get("actor_email")
        names[scope_id] = name or names.get(scope_id)
    return [(i, names.get(i), sorted((d, str(v)) for d, v in daily.items())) for i, daily in by_scope.items()]


def series_spend(series, scope_type: str) -> list[tuple]:
    return [(s.scope.id, s.scope.name, sorted((d, str(v)) for d, v in s.daily.items())) for s in series.of(scope_type)]


@pytest.mark.parametrize("scope_type", ["api_key", "workspace", "actor", "product"])
def test_every_scopes_daily_spend_is_the_cost_reports_figure_on_legacy_and_analytics_days(storage, scope_type):
    for first, last in ((FIRST, TODAY), (TODAY - timedelta(days=24), TODAY - timedelta(days=15))):
        series = guard_spend.spend_series(TENANT, CONNECTION, first, last, storage)
        assert series_spend(series, scope_type) == report_spend(storage, scope_type, first, last)
    names = {s.scope.id: s.scope.name for s in series.of(scope_type)}
    if scope_type == "actor":  # the latest day's description of a person; a key's actor named by the key list
        assert names["user_ann"] == "Ann" and names["user_bob"] == "bob@example.com" and names["apikey_b"] == "apikey_b"
    if scope_type == "api_key":
        assert names["apikey_a"] == "Alpha" and names[CONSOLE].startswith("Console")


def test_the_organization_is_the_sum_of_the_workspaces_and_a_budget_equals_get_costs(storage):
    series = guard_spend.spend_series(TENANT, CONNECTION, FIRST, TODAY, storage)
    total = read.connections_report(TENANT, CostQuery(FIRST, TODAY, ("date",)), [CONNECTION], storage=storage)
    (organization,) = series.of("organization")
    assert {d.isoformat(): format_usd(v) for d, v in organization.daily.items()} == {
        r["date"]: r["cost_usd"] for r in total["rows"]
    }
    month = read.connections_report(TENANT, CostQuery(date(2026, 3, 1), TODAY, ("workspace_id",)), [CONNECTION],
                                    storage=storage)  # fmt: skip
    for row in month["rows"]:
        scope = budgets.BudgetScope("workspace", row["workspace_id"])
        figures = budgets.budget_month(replace(BUDGET, scope=scope), series.daily(scope), TODAY)
        assert format_usd(figures.month_to_date) == row["cost_usd"]


BUDGET = budgets.Budget("b-1", "B", CONNECTION, budgets.BudgetScope("organization", None), Decimal(100), (50,))


def test_the_price_rules_lines_are_those_of_the_stored_cost_items(storage):
    series = guard_spend.spend_series(TENANT, CONNECTION, FIRST, TODAY, storage)
    expected = price_alerts.daily_lines(storage.costs.iter_cost_items(TENANT, CONNECTION, FIRST, TODAY))

    def flat(lines):
        return {(k, d): (v.unit, v.cost_usd, v.units) for k, days in lines.items() for d, v in days.items()}

    assert flat(series.rate_lines(FIRST, TODAY)) == flat(expected)
    assert list(series.rate_lines(FIRST, TODAY)) == list(expected)


def test_a_spend_day_survives_its_stored_form_exactly(storage, monkeypatch):
    (day, digest, projections), *_ = storage.guard.iter_day_documents(TENANT, CONNECTION, TODAY, TODAY)
    folded = spend_days.fold_day(day, digest, projections)
    again = spend_days.decode(spend_days.encode(folded))
    assert again == folded
    assert {k: str(v.cost_usd) for k, v in again.rates.items()} == {k: str(v.cost_usd) for k, v in folded.rates.items()}
    stored = spend_days.encode(folded)
    monkeypatch.setattr(spend_days, "FORMAT", spend_days.FORMAT + 1)
    assert spend_days.decode(stored) is None  # of another format: folded again


def test_the_check_keeps_its_windows_spend_days_and_folds_again_only_what_changed(storage, monkeypatch):
    monkeypatch.setattr(guard, "utc_now", lambda: NOW)
    folded: list[date] = []
    fold = spend_days.fold_day
    monkeypatch.setattr(spend_days, "fold_day", lambda day, *a: folded.append(day) or fold(day, *a))
    storage.guard.kept_days[(TENANT, CONNECTION)] = {FIRST - timedelta(days=3): b"old"}  # out of the window
    guard.check_connection(TENANT, CONNECTION, lambda t, found: [], now=NOW, storage=storage)
    assert sorted(folded) == sorted(LEGACY_DAYS + ANALYTICS_DAYS)
    assert sorted(storage.guard.kept_days[(TENANT, CONNECTION)]) == sorted(LEGACY_DAYS + ANALYTICS_DAYS)
    folded.clear()
    guard.check_connection(TENANT, CONNECTION, lambda t, found: [], now=NOW, storage=storage)
    assert folded == []
    # Anthropic restates a day: the next check folds that day alone, and the figures follow it at once.
    restated = TODAY - timedelta(days=25)
    items, shares = legacy_day(restated, 40)
    storage.costs.replace_days(TENANT, CONNECTION, restated, restated, items, shares)
    body = guard.put_budget(TENANT, "org", {"name": "Org", "connection_id": CONNECTION, "scope": {
        "type": "organization", "id": None}, "monthly_usd": "100000"}, storage=storage)  # fmt: skip
    guard.check_connection(TENANT, CONNECTION, lambda t, found: [], now=NOW, storage=storage)
    assert folded == [restated, restated]  # the budget's read (which keeps nothing), then the check
    series = guard_spend.spend_series(TENANT, CONNECTION, FIRST, TODAY, storage)
    assert series_spend(series, "api_key") == report_spend(storage, "api_key", FIRST, TODAY)
    month = read.connections_report(TENANT, CostQuery(date(2026, 3, 1), TODAY, ()), [CONNECTION], storage=storage)
    assert body["month_to_date_usd"] == month["total"]["cost_usd"]
