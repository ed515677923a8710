"""Spend-limit headroom: how close an organization (or a workspace) is to the cap at which Anthropic refuses its
requests, from the limits the Spend Limits API lists and the spend we store.

Pure. A limit carries no spend (docs/anthropic-spend-limits-api.md §5), so the spend against it is ours: the cost
report's figure for the limit's scope over its current period. Assumptions no source confirms, each a constant here:
a `monthly` period is the UTC calendar month, `weekly` the ISO week from Monday 00:00 UTC, `daily` the UTC day; the
organization and usage-tier limits count the whole organization's spend, a workspace limit its workspace's.

Where the key can't read the limits (the API is in early access), a budget marked `enforced` stands in for one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from pump_anthropic.domain import report
from pump_anthropic.domain.calendar import month_bounds

# The share of a limit at which the headroom alert fires.
HEADROOM_ALERT_PCT = 80
RUN_RATE_DAYS = 7
# What the stored reading says: the limits were read, the API refused the key (early access, or not a Console org),
# or the last read failed (the limits of the read before are kept).
READ_STATUSES = ("ok", "refused", "unavailable")


@dataclass(frozen=True)
class Limit:
    """A cap on one scope's spend per period, in USD; from Anthropic, or an enforced budget standing in."""

    limit_id: str
    scope_type: str  # organization | usage_tier | workspace
    workspace_id: str | None  # ours: None is the Default workspace (for workspace limits)
    period: str  # daily | weekly | monthly
    amount_usd: Decimal | None  # None: no numeric cap, or a currency other than USD
    currency: str
    is_enabled: bool
    source: str  # anthropic | budget


@dataclass(frozen=True)
class Headroom:
    limit: Limit
    period_from: date
    period_to: date
    spent_usd: Decimal
    used_pct: Decimal | None
    projected_reached_on: date | None  # None: not at the run-rate within the period's reach, or no cap

    @property
    def alerting(self) -> tuple[int, ...]:
        """Why the headroom alert fires: 80 (the share is reached) and/or 100 (the limit is projected to be reached
        before the period ends); empty when it doesn't."""
        if self.limit.amount_usd is None or not self.limit.is_enabled:
            return ()
        reasons = []
        if self.used_pct is not None and self.used_pct >= HEADROOM_ALERT_PCT:
            reasons.append(HEADROOM_ALERT_PCT)
        if self.projected_reached_on is not None and self.projected_reached_on <= self.period_to:
            reasons.append(100)
        return tuple(reasons)

    def as_dict(self) -> dict:
        return {
            "id": self.limit.limit_id,
            "source": self.limit.source,
            "scope": {"type": self.limit.scope_type, "workspace_id": self.limit.workspace_id},
            "period": self.limit.period,
            "period_from": self.period_from.isoformat(),
            "period_to": self.period_to.isoformat(),
            "currency": self.limit.currency,
            "is_enabled": self.limit.is_enabled,
            "amount_usd": report.format_usd(self.limit.amount_usd),
            "spent_usd": report.format_usd(self.spent_usd),
            "used_pct": report.format_usd(self.used_pct),
            "projected_reached_on": self.projected_reached_on.isoformat() if self.projected_reached_on else None,
        }


def limits_of(read: Mapping | None, default_workspace: str | None) -> list[Limit]:
    """The stored reading's limits (`read`: {"status", "limits": [the API's limits]}), the Default workspace's
    tagged id (`default_workspace`) mapped to ours (None)."""
    found = []
    for raw in (read or {}).get("limits", []):
        scope = raw.get("scope") or {}
        scope_type = scope.get("type")
        if scope_type not in ("organization", "usage_tier", "workspace"):
            continue
        workspace_id = scope.get("workspace_id") if scope_type == "workspace" else None
        if workspace_id is not None and workspace_id == default_workspace:
            workspace_id = None
        currency = str(raw.get("currency") or "USD")
        amount = raw.get("amount")
        usd = Decimal(amount) / 100 if amount is not None and currency == "USD" and str(amount).isdigit() else None
        found.append(Limit(str(raw["id"]), scope_type, workspace_id, str(raw.get("period") or "monthly"), usd,
                           currency, bool(raw.get("is_enabled", True)), "anthropic"))  # fmt: skip
    return found


def period_bounds(period: str, today: date) -> tuple[date, date]:
    if period == "daily":
        return today, today
    if period == "weekly":
        monday = today - timedelta(days=today.weekday())
        return monday, monday + timedelta(days=6)
    return month_bounds(today)


def headroom(limit: Limit, daily: Mapping[date, Decimal], today: date) -> Headroom:
    """The limit's current period as of `today`, from its scope's daily spend (`daily`: the period so far and the
    RUN_RATE_DAYS complete days before today; a missing day spent nothing). The projected day is the first day by
    whose end the period's complete days plus the run-rate (the mean of those RUN_RATE_DAYS days) for each day from
    today on reach the cap; today when the spend already has."""
    first, last = period_bounds(limit.period, today)
    spent = sum((v for d, v in daily.items() if first <= d <= today), Decimal(0))
    if limit.amount_usd is None or limit.amount_usd <= 0:
        return Headroom(limit, first, last, spent, None, None)
    used = (spent * 100 / limit.amount_usd).quantize(Decimal("0.01"))
    run_rate = sum((daily.get(today - timedelta(days=n), Decimal(0)) for n in range(1, RUN_RATE_DAYS + 1)),
                   Decimal(0)) / RUN_RATE_DAYS  # fmt: skip
    complete = spent - daily.get(today, Decimal(0))
    if spent >= limit.amount_usd:
        reached: date | None = today
    elif run_rate > 0:
        days = max(1, math.ceil((limit.amount_usd - complete) / run_rate))
        reached = today + timedelta(days=days - 1)
    else:
        reached = None
    return Headroom(limit, first, last, spent, used, reached)


def standing_in(budgets: Sequence) -> list[Limit]:
    """Enforced budgets of organization or workspace scope, as monthly limits (when Anthropic's can't be read)."""
    return [
        Limit(f"budget:{b.budget_id}", b.scope.type, b.scope.id, "monthly", b.monthly_usd, "USD", True, "budget")
        for b in budgets
        if b.enforced and b.scope.type in ("organization", "workspace")
    ]
