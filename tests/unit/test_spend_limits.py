"""Spend-limit headroom: limits read as Anthropic lists them (cents, currency, the Default workspace's tagged id),
each period's spend and the day the cap is projected to be reached, the alert at 80% and on a projection before
the period ends, enforced budgets standing in, and the read's refusals kept apart from its failures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from pump_anthropic.admin_api.spend_limits import SpendLimit
from pump_anthropic.domain import alerts, budgets, spend_limits
from pump_anthropic.domain.spend_limits import Limit
from pump_anthropic.exceptions import AdminApiPermissionError, AdminApiUnavailableError
from pump_anthropic.logic import guard
from tests.support.fake_storage import fake_storage

TODAY = date(2026, 3, 10)
READ = {
    "status": "ok",
    "limits": [
        {"id": "spl_org", "amount": "50000", "currency": "USD", "is_enabled": True, "period": "monthly",
         "scope": {"type": "organization"}},
        {"id": "spl_tier", "amount": "500000", "currency": "USD", "is_enabled": True, "period": "monthly",
         "scope": {"type": "usage_tier"}},
        {"id": "spl_def", "amount": "1000", "currency": "USD", "is_enabled": True, "period": "daily",
         "scope": {"type": "workspace", "workspace_id": "wrkspc_default_tagged"}},
        {"id": "spl_eur", "amount": "1000", "currency": "EUR", "is_enabled": True, "period": "monthly",
         "scope": {"type": "workspace", "workspace_id": "wrkspc_b"}},
        {"id": "spl_user", "amount": "1000", "currency": "USD", "is_enabled": True, "period": "monthly",
         "scope": {"type": "user", "user_id": "user_1"}},
    ],
}  # fmt: skip


def limit(amount: str, period: str = "monthly", **changes) -> Limit:
    fields = {"limit_id": "spl_1", "scope_type": "organization", "workspace_id": None, "period": period,
              "amount_usd": Decimal(amount), "currency": "USD", "is_enabled": True, "source": "anthropic"}  # fmt: skip
    return Limit(**{**fields, **changes})


def test_limits_are_read_in_dollars_from_cents_with_the_default_workspace_as_ours():
    found = {x.limit_id: x for x in spend_limits.limits_of(READ, "wrkspc_default_tagged")}
    assert set(found) == {"spl_org", "spl_tier", "spl_def", "spl_eur"}  # a user limit is no Console limit
    assert found["spl_org"].amount_usd == Decimal("500")
    assert found["spl_def"].workspace_id is None and found["spl_def"].period == "daily"
    assert found["spl_eur"].amount_usd is None  # not in USD: no headroom in dollars


@pytest.mark.parametrize(
    ("period", "first", "last"),
    [("monthly", date(2026, 3, 1), date(2026, 3, 31)), ("weekly", date(2026, 3, 9), date(2026, 3, 15)),
     ("daily", TODAY, TODAY)],
)  # fmt: skip
def test_the_period_of_a_limit(period, first, last):
    assert spend_limits.period_bounds(period, TODAY) == (first, last)


def test_headroom_counts_the_period_and_projects_the_day_the_cap_is_reached():
    daily = {TODAY - timedelta(days=n): Decimal("20") for n in range(1, 15)} | {TODAY: Decimal("5")}
    room = spend_limits.headroom(limit("500"), daily, TODAY)
    assert room.spent_usd == Decimal("185")  # Mar 1..9 at $20, today $5
    assert room.used_pct == Decimal("37.00")
    # 180 complete + 20 a day from today on reaches 500 after 16 days: today + 15 = Mar 25, before Mar 31.
    assert room.projected_reached_on == date(2026, 3, 25)
    assert room.alerting == (100,)
    assert spend_limits.headroom(limit("1000"), daily, TODAY).alerting == ()  # 180 + 22 × 20 = 620
    assert spend_limits.headroom(limit("230"), daily, TODAY).alerting == (80, 100)


def test_a_reached_or_suspended_limit():
    daily = {TODAY: Decimal("600")}
    assert spend_limits.headroom(limit("500"), daily, TODAY).projected_reached_on == TODAY
    assert spend_limits.headroom(limit("500", is_enabled=False), daily, TODAY).alerting == ()
    assert spend_limits.headroom(limit("500", amount_usd=None), daily, TODAY).used_pct is None


def test_headroom_alerts_once_per_limit_period_and_reason():
    room = spend_limits.headroom(limit("230"), {TODAY - timedelta(days=n): Decimal("20") for n in range(0, 10)}, TODAY)
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    raised = alerts.raise_alerts(alerts.SpendPicture("conn-1", now, [], headrooms=[room]))
    assert sorted((a.kind, a.threshold) for a in raised) == [
        ("spend_limit_headroom", 80),
        ("spend_limit_headroom", 100),
    ]
    later = alerts.raise_alerts(alerts.SpendPicture("conn-1", now + timedelta(hours=5), [], headrooms=[room]))
    assert {a.id for a in later} == {a.id for a in raised}


def test_enforced_budgets_stand_in_for_unreadable_limits():
    body = {"name": "Cap", "connection_id": "c", "scope": {"type": "organization", "id": None},
            "monthly_usd": "100", "enforced": True}  # fmt: skip
    enforced = budgets.parse_budget("cap", body, ["c"])
    plain = budgets.parse_budget("plain", {**body, "enforced": False}, ["c"])
    (standing,) = spend_limits.standing_in([enforced, plain])
    assert (standing.limit_id, standing.source, standing.amount_usd) == ("budget:cap", "budget", Decimal("100"))


class Client:
    def __init__(self, answer) -> None:
        self.answer = answer

    def list_spend_limits(self):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_a_refused_read_is_kept_as_refused_and_a_failed_one_keeps_the_limits_before():
    storage = fake_storage()
    limits = [SpendLimit(id="spl_1", amount="100", period="monthly", scope={"type": "organization"})]
    guard.refresh_spend_limits(storage, "t", "c", Client(limits))
    assert storage.guard.get_spend_limits("t", "c")["limits"][0]["id"] == "spl_1"
    guard.refresh_spend_limits(storage, "t", "c", Client(AdminApiUnavailableError("down", status=503)))
    failed = storage.guard.get_spend_limits("t", "c")
    assert failed["status"] == "unavailable" and failed["limits"][0]["id"] == "spl_1"
    guard.refresh_spend_limits(storage, "t", "c", Client(AdminApiPermissionError("no", status=403)))
    refused = storage.guard.get_spend_limits("t", "c")
    assert refused["status"] == "refused" and refused["limits"] == []
    assert refused["error_code"] == "key_lacks_permission"
