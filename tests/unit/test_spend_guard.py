"""The spend guard: budgets validated and figured (month-to-date, forecast, status, thresholds), the alert rules,
and the use cases over in-memory storage (each alert stored and published once, whatever runs again)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from pump_anthropic.domain import alerts, budgets
from pump_anthropic.domain.alerts import KeyFacts, Scope, ScopeSpend, SpendPicture
from pump_anthropic.domain.budgets import Budget, BudgetScope
from pump_anthropic.exceptions import ConnectionDisconnectedError, InvalidInputError, InvalidQueryError, NotFoundError
from pump_anthropic.logic import guard
from tests.support.builders import cost_item
from tests.support.fake_storage import fake_storage

TODAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
BODY = {
    "name": "Research",
    "connection_id": "conn-1",
    "scope": {"type": "workspace", "id": "wrkspc_r"},
    "monthly_usd": "100.00",
    "thresholds": [80, 50, 100],
}


def budget(**changes) -> Budget:
    return replace(budgets.parse_budget("b-1", BODY, ["conn-1"]), **changes)


# ----------------------------------------------------------------------------------------------- budgets, pure


def test_a_budget_body_is_parsed_with_its_thresholds_sorted_and_its_amount_exact():
    parsed = budgets.parse_budget("b-1", BODY, ["conn-1"])
    assert parsed.thresholds == (50, 80, 100)
    assert parsed.monthly_usd == Decimal("100.00")
    assert parsed.as_dict()["monthly_usd"] == "100.00"
    assert parsed.scope == BudgetScope("workspace", "wrkspc_r")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"monthly_usd": 100}, "monthly_usd"),
        ({"monthly_usd": "1e3"}, "monthly_usd"),
        ({"monthly_usd": "0"}, "monthly_usd"),
        ({"monthly_usd": "10.001"}, "monthly_usd"),
        ({"thresholds": []}, "thresholds"),
        ({"thresholds": [0]}, "thresholds"),
        ({"thresholds": [True]}, "thresholds"),
        ({"thresholds": "80"}, "thresholds"),
        ({"name": " "}, "name"),
        ({"connection_id": "conn-other"}, "connection_id"),
        ({"scope": {"type": "team", "id": None}}, "scope.type"),
        ({"scope": {"type": "api_key", "id": None}}, "scope.id"),
        ({"scope": {"type": "api_key", "id": "wrkspc_x"}}, "scope.id"),
        ({"scope": {"type": "organization", "id": "org"}}, "scope.id"),
        ({"scope": {"type": "workspace", "id": None, "x": 1}}, "scope"),
        ({"colour": "red"}, "Unknown field"),
        ({"enforced": "yes"}, "enforced"),
    ],
)
def test_a_bad_budget_body_is_refused_with_a_sentence_naming_the_field(change, field):
    with pytest.raises(InvalidInputError) as refused:
        budgets.parse_budget("b-1", {**BODY, **change}, ["conn-1"])
    assert field in refused.value.message


def test_the_default_workspace_is_a_workspace_scope_with_a_null_id():
    parsed = budgets.parse_budget("b-1", {**BODY, "scope": {"type": "workspace", "id": None}}, ["conn-1"])
    assert parsed.scope == BudgetScope("workspace", None)


@pytest.mark.parametrize("budget_id", ["", "a/b", "x" * 65, "caf\u00e9"])
def test_a_bad_budget_id_is_refused(budget_id):
    with pytest.raises(InvalidInputError):
        budgets.check_budget_id(budget_id)


def test_month_to_date_sums_the_month_only_and_the_forecast_uses_the_last_seven_complete_days():
    daily = {date(2026, 2, 28): Decimal("7"), date(2026, 3, 1): Decimal("1.10")}
    daily |= {date(2026, 3, d): Decimal("2.00") for d in range(2, 10)}  # 8 complete days in March after the 1st
    daily[TODAY] = Decimal("0.35")  # today so far
    month = budgets.budget_month(budget(), daily, TODAY)
    assert month.month == "2026-03"
    assert month.month_to_date == Decimal("1.10") + 8 * Decimal("2.00") + Decimal("0.35")
    # complete days of March (17.10) + the mean of Mar 3..9 (2.00) × 22 days left (10..31).
    assert month.forecast_month_end == Decimal("17.10") + Decimal("2.00") * 22
    assert month.crossed == ()
    assert month.status == "ok"


def test_the_status_order_is_exceeded_then_warning_then_forecast_over():
    high = {TODAY - timedelta(days=n): Decimal("10") for n in range(1, 8)}
    assert budgets.budget_month(budget(), high, TODAY).status == "warning"  # 70 of 100: 50 crossed
    assert budgets.budget_month(budget(thresholds=(100,)), high, TODAY).status == "forecast_over"
    assert budgets.budget_month(budget(), {**high, TODAY: Decimal("29.99")}, TODAY).status == "warning"
    assert budgets.budget_month(budget(), {**high, TODAY: Decimal("30")}, TODAY).status == "exceeded"
    assert budgets.budget_month(budget(), {}, TODAY).status == "ok"


def test_a_runaway_day_counts_in_full_in_the_forecast():
    daily = {TODAY - timedelta(days=n): Decimal("10") for n in range(1, 8)} | {TODAY: Decimal("500")}
    # Mar 3..9 complete (70), today as spent (500), then $10 a day for Mar 11..31 (21 days).
    assert budgets.budget_month(budget(), daily, TODAY).forecast_month_end == Decimal("70") + 500 + 10 * 21


def test_the_forecast_is_never_below_month_to_date():
    month = budgets.budget_month(budget(), {TODAY: Decimal("500")}, TODAY)
    assert month.forecast_month_end == Decimal("500")


# ----------------------------------------------------------------------------------------------- alert rules


def steady(amount: str, days: int = 40, *, until: date = TODAY) -> dict[date, Decimal]:
    return {until - timedelta(days=n): Decimal(amount) for n in range(1, days + 1)}


def picture(*spend: ScopeSpend, keys=None, budget_months=(), now=NOW) -> SpendPicture:
    return SpendPicture("conn-1", now, list(spend), keys or {}, list(budget_months))


KEY = Scope("api_key", "apikey_01", "backend")


def test_a_burst_today_far_above_the_keys_baseline_is_an_anomaly():
    daily = {**steady("12.00"), TODAY: Decimal("212.00")}
    raised = alerts.raise_alerts(picture(ScopeSpend(KEY, daily)))
    assert [a.kind for a in raised] == ["spend_anomaly"]
    assert raised[0].amount_usd == Decimal("212.00")
    assert raised[0].baseline_usd == Decimal("12.00")
    assert raised[0].window_from == TODAY.isoformat()
    assert "backend" in raised[0].message


@pytest.mark.parametrize(
    "today",
    [
        "61.99",  # above 3× and far above the spread, but less than $50 over the median
        "35.00",  # $23 over: under the dollar floor
    ],
)
def test_spend_under_the_dollar_floor_is_no_anomaly(today):
    daily = {**steady("12.00"), TODAY: Decimal(today)}
    assert alerts.raise_alerts(picture(ScopeSpend(KEY, daily))) == []


def test_a_scope_that_swings_widely_needs_a_proportionally_larger_jump():
    swinging = {TODAY - timedelta(days=n): Decimal(100 if n % 2 else 10) for n in range(1, 41)}
    assert alerts.raise_alerts(picture(ScopeSpend(KEY, {**swinging, TODAY: Decimal("300")}))) == []
    assert alerts.raise_alerts(picture(ScopeSpend(KEY, {**swinging, TODAY: Decimal("520")})))


def test_a_dormant_key_that_suddenly_spends_is_an_anomaly():
    assert [a.kind for a in alerts.raise_alerts(picture(ScopeSpend(KEY, {TODAY: Decimal("51")})))] == ["spend_anomaly"]


def test_an_alert_id_names_what_it_is_about_so_a_later_check_raises_the_same_alert():
    daily = {**steady("12.00"), TODAY: Decimal("212.00")}
    first = alerts.raise_alerts(picture(ScopeSpend(KEY, daily)))
    later = alerts.raise_alerts(
        picture(ScopeSpend(KEY, {**daily, TODAY: Decimal("400")}), now=NOW + timedelta(hours=3))
    )
    assert [a.id for a in first] == [a.id for a in later]


def test_a_new_key_over_the_floor_alerts_as_new_key_spend_not_as_an_anomaly():
    created = NOW - timedelta(hours=2)
    raised = alerts.raise_alerts(
        picture(ScopeSpend(KEY, {TODAY: Decimal("80")}), keys={"apikey_01": KeyFacts("active", created)})
    )
    assert [(a.kind, a.amount_usd) for a in raised] == [("new_key_spend", Decimal("80"))]
    quiet = alerts.raise_alerts(
        picture(ScopeSpend(KEY, {TODAY: Decimal("19.99")}), keys={"apikey_01": KeyFacts("active", created)})
    )
    assert quiet == []


@pytest.mark.parametrize("status", ["archived", "inactive", "expired"])
def test_spend_today_on_an_inactive_key_alerts(status):
    daily = {**steady("1.00"), TODAY: Decimal("0.40")}
    raised = alerts.raise_alerts(picture(ScopeSpend(KEY, daily), keys={"apikey_01": KeyFacts(status)}))
    assert [(a.kind, a.amount_usd) for a in raised] == [("inactive_key_spend", Decimal("0.40"))]
    assert alerts.raise_alerts(picture(ScopeSpend(KEY, daily), keys={"apikey_01": KeyFacts("active")})) == []


def test_budget_alerts_once_per_threshold_and_once_for_the_forecast():
    b = budget()
    month = budgets.budget_month(b, {TODAY - timedelta(days=n): Decimal("10") for n in range(1, 10)}, TODAY)
    raised = alerts.raise_alerts(picture(budget_months=[(b, month, "Research")]))
    assert sorted((a.kind, a.threshold) for a in raised) == [
        ("budget_forecast", 100),
        ("budget_threshold", 50),
        ("budget_threshold", 80),
    ]
    assert all(a.budget_id == "b-1" and a.scope.name == "Research" for a in raised)
    assert len({a.id for a in raised}) == 3


def test_median_of_an_even_count_is_the_mean_of_the_middle_two():
    assert alerts.median([Decimal(1), Decimal(4), Decimal(2), Decimal(10)]) == Decimal(3)
    assert alerts.median([]) == 0


# ----------------------------------------------------------------------------------------------- use cases


TENANT = "tenant-1"


@pytest.fixture
def storage(monkeypatch):
    storage = fake_storage()
    storage.connections.register_connection(tenant_id=TENANT, connection_id="conn-1", organization_id="org",
                                            organization_name="Org", key_hint="…AA", secret_id="s")  # fmt: skip
    monkeypatch.setattr(guard, "utc_now", lambda: NOW)
    # 10 days of $6 in wrkspc_r up to today, $1 in the Default workspace.
    items = [
        cost_item(date=TODAY - timedelta(days=n), cost_usd=Decimal("6.00"), amount_cents=Decimal("600"))
        for n in range(0, 10)
    ] + [cost_item(date=TODAY, workspace_id=None, cost_usd=Decimal("1.00"), amount_cents=Decimal("100"))]
    storage.costs.replace_days(TENANT, "conn-1", TODAY - timedelta(days=40), TODAY, items)
    return storage


class Bus:
    def __init__(self, refuse: bool = False) -> None:
        self.events: list[dict] = []
        self.refuse = refuse

    def publish(self, tenant: str, found) -> list[str]:
        if self.refuse:
            return []
        self.events += [{**a, "tenant_id": tenant} for a in found]
        return [a["id"] for a in found]


def test_a_budget_answers_its_month_to_date_from_the_cost_report(storage):
    body = guard.put_budget(TENANT, "research", BODY, storage=storage)
    assert body["month_to_date_usd"] == "60"  # Mar 1..10 at $6
    assert body["status"] == "warning"
    assert body["crossed"] == [{"threshold": 50, "at": None}]
    default = guard.put_budget(TENANT, "default", {**BODY, "scope": {"type": "workspace", "id": None}},
                               storage=storage)  # fmt: skip
    assert default["month_to_date_usd"] == "1"
    organization = guard.put_budget(TENANT, "org", {**BODY, "scope": {"type": "organization", "id": None}},
                                    storage=storage)  # fmt: skip
    assert organization["month_to_date_usd"] == "61"
    assert [b["id"] for b in guard.list_budgets(TENANT, storage=storage)["budgets"]] == ["default", "org", "research"]


def test_get_and_delete_of_an_unknown_budget_answer_404(storage):
    with pytest.raises(NotFoundError):
        guard.get_budget(TENANT, "nope", storage=storage)
    with pytest.raises(NotFoundError):
        guard.delete_budget(TENANT, "nope", storage=storage)
    guard.put_budget(TENANT, "research", BODY, storage=storage)
    guard.delete_budget(TENANT, "research", storage=storage)
    with pytest.raises(NotFoundError):
        guard.get_budget(TENANT, "research", storage=storage)


def test_another_tenant_cannot_see_or_use_a_budget(storage):
    guard.put_budget(TENANT, "research", BODY, storage=storage)
    with pytest.raises(NotFoundError):
        guard.get_budget("tenant-2", "research", storage=storage)
    with pytest.raises(InvalidInputError):
        guard.put_budget("tenant-2", "research", BODY, storage=storage)  # conn-1 is not tenant-2's
    assert guard.list_budgets("tenant-2", storage=storage) == {"budgets": []}


def test_each_alert_is_stored_and_published_once_across_repeated_checks(storage):
    guard.put_budget(TENANT, "research", BODY, storage=storage)
    bus = Bus()
    first = guard.check_connection(TENANT, "conn-1", bus.publish, now=NOW, storage=storage)
    again = guard.check_connection(TENANT, "conn-1", bus.publish, now=NOW + timedelta(hours=1), storage=storage)
    assert first.raised == 2 and again.raised == 0  # the 50% threshold and the forecast (6 × 31 = 186 > 100)
    assert sorted(e["kind"] for e in bus.events) == ["budget_forecast", "budget_threshold"]
    assert all(e["tenant_id"] == TENANT for e in bus.events)
    crossed = guard.get_budget(TENANT, "research", storage=storage)["crossed"]
    assert crossed == [{"threshold": 50, "at": "2026-03-10T12:00:00Z"}]
    listed = guard.list_alerts(TENANT, None, None, None, storage=storage)
    assert len(listed["alerts"]) == 2 and "published" not in listed["alerts"][0]


def test_an_alert_whose_event_was_refused_is_published_by_the_next_check(storage):
    guard.put_budget(TENANT, "research", BODY, storage=storage)
    refused, bus = Bus(refuse=True), Bus()
    guard.check_connection(TENANT, "conn-1", refused.publish, now=NOW, storage=storage)
    assert refused.events == []
    outcome = guard.check_connection(TENANT, "conn-1", bus.publish, now=NOW + timedelta(hours=1), storage=storage)
    assert outcome.raised == 0 and outcome.published == 2


def test_alerts_are_listed_by_the_day_they_were_detected_and_by_connection(storage):
    guard.put_budget(TENANT, "research", BODY, storage=storage)
    guard.check_connection(TENANT, "conn-1", Bus().publish, now=NOW, storage=storage)
    assert guard.list_alerts(TENANT, "2026-03-11", "2026-03-12", None, storage=storage)["alerts"] == []
    assert len(guard.list_alerts(TENANT, "2026-03-10", "2026-03-10", "conn-1", storage=storage)["alerts"]) == 2
    with pytest.raises(NotFoundError):
        guard.list_alerts(TENANT, None, None, "conn-x", storage=storage)
    with pytest.raises(InvalidQueryError):
        guard.list_alerts(TENANT, "2026-03-12", "2026-03-10", None, storage=storage)


def test_alerts_come_a_page_at_a_time_and_a_foreign_cursor_is_refused(storage):
    for n in range(7):
        storage.guard.add_alert(TENANT, "conn-1", {"id": f"alrt_{n}", "detected_at": f"2026-03-10T0{n % 3}:00:00Z"})
    storage.guard.add_alert(TENANT, "conn-2", {"id": "alrt_x", "detected_at": "2026-03-10T05:00:00Z"})
    whole = guard.list_alerts(TENANT, "2026-03-10", "2026-03-10", "conn-1", storage=storage)
    assert (len(whole["alerts"]), whole["has_more"], whole["next_page"]) == (7, False, None)
    pages, page = [], None
    while True:
        body = guard.list_alerts(TENANT, "2026-03-10", "2026-03-10", "conn-1", limit="3", page=page, storage=storage)
        pages.append([a["id"] for a in body["alerts"]])
        if not body["has_more"]:
            break
        page = body["next_page"]
        # An alert raised between two requests (older or newer) never shifts a page boundary.
        storage.guard.add_alert(
            TENANT, "conn-1", {"id": f"alrt_new{len(pages)}", "detected_at": "2026-03-10T09:00:00Z"}
        )
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == [a["id"] for a in whole["alerts"]]
    first = guard.list_alerts(TENANT, "2026-03-10", "2026-03-10", "conn-1", limit="3", storage=storage)
    cursor = first["next_page"]
    for tenant, from_, connection_id in (("tenant-2", "2026-03-10", None), (TENANT, "2026-03-09", "conn-1"),
                                         (TENANT, "2026-03-10", None), (TENANT, "2026-03-10", "conn-2")):  # fmt: skip
        with pytest.raises(InvalidQueryError):
            guard.list_alerts(tenant, from_, "2026-03-10", connection_id, page=cursor, storage=storage)
    for garbled in ("", "!!", cursor[:-2], cursor + "A", "x" * 20_000, "W1tbW1tbW10pXV1dXQ"):
        with pytest.raises(InvalidQueryError):
            guard.list_alerts(TENANT, "2026-03-10", "2026-03-10", "conn-1", page=garbled, storage=storage)
    for limit in ("0", "10001", "-1", "x", "1.5"):
        with pytest.raises(InvalidQueryError):
            guard.list_alerts(TENANT, "2026-03-10", "2026-03-10", "conn-1", limit=limit, storage=storage)


def test_a_budget_moved_to_another_connection_leaves_the_first(storage):
    storage.connections.register_connection(tenant_id=TENANT, connection_id="conn-2", organization_id="org2",
                                            organization_name="Org 2", key_hint="…BB", secret_id="s2")  # fmt: skip
    guard.put_budget(TENANT, "research", BODY, storage=storage)
    guard.put_budget(TENANT, "research", {**BODY, "connection_id": "conn-2"}, storage=storage)
    listed = guard.list_budgets(TENANT, storage=storage)["budgets"]
    assert [(b["id"], b["connection_id"]) for b in listed] == [("research", "conn-2")]


def test_a_check_that_a_purge_overtook_stops_and_leaves_the_purge_final(storage, monkeypatch):
    guard.put_budget(TENANT, "research", BODY, storage=storage)
    storage.connections.disconnect(TENANT, "conn-1", purging=True)
    fenced: list[tuple] = []
    monkeypatch.setattr(storage.connections, "purge_window", lambda *args: fenced.append(args) or 0)
    with pytest.raises(ConnectionDisconnectedError):
        guard.check_connection(TENANT, "conn-1", Bus().publish, now=NOW, storage=storage)
    assert fenced == [(TENANT, "conn-1", TODAY, TODAY)]  # the connection's own partition: budgets, alerts, limits
