"""Spend alerts: what the hourly sync raises from the spend it just stored, each once.

Pure: given a connection's daily spend per scope (API key, workspace, person), its budgets and its keys, which
alerts hold as of now. Every alert has an id derived from what it is about (kind, connection, scope, period and
threshold), so raising it again on a later sync, a restatement or a retry names the same alert and stores nothing.

The anomaly rule (`anomalous`): a day's spend of a scope is far above its own baseline when all of these hold:
  - it exceeds the baseline's median by at least `min_excess_usd` (default $50: noise in dollars is not news),
  - it is at least `min_ratio` times the median (default 3×),
  - it is at least `min_z` robust standard deviations above the median (default 6; σ ≈ 1.4826 × the median absolute
    deviation), so a scope whose spend swings widely day to day needs a proportionally larger jump,
  - it is at least `min_peak_ratio` times the baseline's busiest day (default 5×): real traffic is heavy-tailed (a
    day on a larger model, a batch job, a key used once a fortnight), and a scope that has had a day like it within
    four weeks is not news.
Over the last 90 days of the simulator's normal traffic, the highest ratio of a day to its baseline's busiest day was
2.4× for the demo org (21 scopes) and 4.1× for the large org (411 scopes: 200 keys, 25 workspaces, their people),
where a 3× rule would have raised 6 false alerts; at 5× both raise none (bench/RESULTS.md, spend guard).
The baseline is the scope's spend on each of the `baseline_days` (28) complete UTC days before the day judged,
a day without spend counting as $0. Today is judged on its spend so far against whole days, so a burst is caught
as soon as its first reported hours pass the rule. A key created in the last `new_key_days` is left to the
`new_key_spend` rule instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pump_anthropic.domain import report
from pump_anthropic.domain.budgets import Budget, BudgetMonth
from pump_anthropic.domain.spend_limits import Headroom

KINDS = (
    "budget_threshold",
    "budget_forecast",
    "spend_anomaly",
    "new_key_spend",
    "inactive_key_spend",
    "spend_limit_headroom",
    "price_change",  # domain/price_alerts.py
)
INACTIVE_KEY_STATUSES = frozenset({"archived", "inactive", "expired"})
SCOPE_TYPES = ("organization", "workspace", "api_key", "actor", "product", "model")
ROBUST_SIGMA_PER_MAD = Decimal("1.4826")


@dataclass(frozen=True)
class AlertRules:
    baseline_days: int = 28
    min_excess_usd: Decimal = Decimal("50")
    min_ratio: Decimal = Decimal("3")
    min_z: Decimal = Decimal("6")
    min_peak_ratio: Decimal = Decimal("5")
    new_key_days: int = 7
    new_key_floor_usd: Decimal = Decimal("20")
    inactive_key_floor_usd: Decimal = Decimal("0.01")


@dataclass(frozen=True)
class Scope:
    type: str
    id: str | None
    name: str | None = None

    def as_dict(self) -> dict:
        return {"type": self.type, "id": self.id, "name": self.name}


@dataclass(frozen=True)
class Alert:
    id: str
    kind: str
    connection_id: str
    scope: Scope
    detected_at: str  # ISO 8601 UTC, when the sync first saw it
    window_from: str
    window_to: str
    amount_usd: Decimal
    baseline_usd: Decimal | None
    threshold: int | None
    message: str
    budget_id: str | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "connection_id": self.connection_id,
            "budget_id": self.budget_id,
            "scope": self.scope.as_dict(),
            "detected_at": self.detected_at,
            "window": {"from": self.window_from, "to": self.window_to},
            "amount_usd": report.format_usd(self.amount_usd),
            "baseline_usd": report.format_usd(self.baseline_usd),
            "threshold": self.threshold,
            "message": self.message,
        }


@dataclass(frozen=True)
class ScopeSpend:
    """One scope's spend per UTC day (a missing day spent nothing)."""

    scope: Scope
    daily: Mapping[date, Decimal]


@dataclass(frozen=True)
class KeyFacts:
    """What the key list says of a key: its status and when it was created (None: unknown)."""

    status: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class SpendPicture:
    """Everything the rules judge, for one connection as of `now`."""

    connection_id: str
    now: datetime
    spend: Sequence[ScopeSpend]  # API keys, workspaces and people
    keys: Mapping[str, KeyFacts] = field(default_factory=dict)
    budgets: Sequence[tuple[Budget, BudgetMonth, str | None]] = ()  # each with its month and its scope's name
    headrooms: Sequence[Headroom] = ()  # the spend limits' current periods


def alert_id(kind: str, connection_id: str, scope_type: str, scope_id: str | None, period: str, extra: str = "") -> str:
    text = "|".join((kind, connection_id, scope_type, scope_id or "-", period, extra))
    return "alrt_" + hashlib.sha256(text.encode()).hexdigest()[:24]


def make_alert(
    kind: str,
    connection_id: str,
    scope: Scope,
    detected_at: str,
    window: tuple[str, str],
    amount_usd: Decimal,
    baseline_usd: Decimal | None,
    message: str,
    *,
    id_scope: tuple[str, str | None] | None = None,
    period: str | None = None,
    extra: str = "",
    threshold: int | None = None,
    budget_id: str | None = None,
) -> Alert:
    """An alert with its id derived from what it is about: its kind, connection, scope (`id_scope` when the id
    names another, e.g. the budget), period (by default the window's first day) and `extra`."""
    scope_type, scope_id = id_scope or (scope.type, scope.id)
    return Alert(
        id=alert_id(kind, connection_id, scope_type, scope_id, period or window[0], extra),
        kind=kind,
        connection_id=connection_id,
        scope=scope,
        detected_at=detected_at,
        window_from=window[0],
        window_to=window[1],
        amount_usd=amount_usd,
        baseline_usd=baseline_usd,
        threshold=threshold,
        message=message,
        budget_id=budget_id,
    )


def median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return Decimal(0)
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def anomalous(value: Decimal, baseline: Sequence[Decimal], rules: AlertRules) -> bool:
    """The rule of the module docstring."""
    middle = median(baseline)
    spread = median([abs(v - middle) for v in baseline]) * ROBUST_SIGMA_PER_MAD
    excess = value - middle
    return (
        excess >= rules.min_excess_usd
        and value >= middle * rules.min_ratio
        and excess >= spread * rules.min_z
        and value >= max(baseline, default=Decimal(0)) * rules.min_peak_ratio
    )


def raise_alerts(picture: SpendPicture, rules: AlertRules | None = None) -> list[Alert]:
    """Every alert that holds as of `picture.now` (the caller stores each one once, by id)."""
    rules = rules or AlertRules()
    detected = picture.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    alerts = list(_budget_alerts(picture, detected))
    alerts += _anomalies(picture, detected, rules)
    alerts += _key_alerts(picture, detected, rules)
    alerts += _headroom_alerts(picture, detected)
    return alerts


def _headroom_alerts(picture: SpendPicture, detected: str) -> Iterable[Alert]:
    """Once per limit, period and reason: 80% of the limit spent; the limit projected to be reached before the
    period ends."""
    for room in picture.headrooms:
        limit = room.limit
        scope = Scope(limit.scope_type, limit.workspace_id, None)
        workspace = limit.workspace_id or "Default"
        where = f"workspace {workspace}" if limit.scope_type == "workspace" else "the organization"
        for reason in room.alerting:
            if reason == 100:
                message = (f"The {limit.period} spend limit of {where} (${report.format_usd(limit.amount_usd)}) is "
                           f"projected to be reached on {room.projected_reached_on}, before {room.period_to}: "
                           f"${report.format_usd(room.spent_usd)} spent so far.")  # fmt: skip
            else:
                message = (f"{report.format_usd(room.used_pct)}% of the {limit.period} spend limit of {where} is "
                           f"spent: ${report.format_usd(room.spent_usd)} of ${report.format_usd(limit.amount_usd)}; "
                           "Anthropic refuses requests past it.")  # fmt: skip
            yield make_alert(
                "spend_limit_headroom", picture.connection_id, scope, detected,
                (room.period_from.isoformat(), room.period_to.isoformat()), room.spent_usd, limit.amount_usd, message,
                id_scope=("limit", limit.limit_id), extra=str(reason), threshold=reason,
                budget_id=limit.limit_id.removeprefix("budget:") if limit.source == "budget" else None,
            )  # fmt: skip


def _budget_alerts(picture: SpendPicture, detected: str) -> Iterable[Alert]:
    today = picture.now.date()
    for budget, month, scope_name in picture.budgets:
        scope = Scope(budget.scope.type, budget.scope.id, scope_name)
        window = (f"{month.month}-01", today.isoformat())
        common = {"id_scope": ("budget", budget.budget_id), "period": month.month, "budget_id": budget.budget_id}
        for threshold in month.crossed:
            message = (f"Budget '{budget.name}' reached {threshold}% in {month.month}: "
                       f"${report.format_usd(month.month_to_date)} of ${budget.monthly_usd}.")  # fmt: skip
            yield make_alert("budget_threshold", picture.connection_id, scope, detected, window, month.month_to_date,
                             budget.monthly_usd, message, extra=str(threshold), threshold=threshold,
                             **common)  # fmt: skip
        if month.forecast_month_end > budget.monthly_usd:
            message = (f"Budget '{budget.name}' is forecast to end {month.month} at "
                       f"${report.format_usd(month.forecast_month_end)}, over its ${budget.monthly_usd}.")  # fmt: skip
            yield make_alert("budget_forecast", picture.connection_id, scope, detected, window,
                             month.forecast_month_end, budget.monthly_usd, message, threshold=100,
                             **common)  # fmt: skip


def _anomalies(picture: SpendPicture, detected: str, rules: AlertRules) -> Iterable[Alert]:
    today = picture.now.date()
    for spend in picture.spend:
        if spend.scope.type == "api_key" and _is_new(picture.keys.get(spend.scope.id or ""), today, rules):
            continue
        for day in (today - timedelta(days=1), today):
            value = spend.daily.get(day, Decimal(0))
            baseline = [spend.daily.get(day - timedelta(days=n), Decimal(0)) for n in range(1, rules.baseline_days + 1)]
            if not anomalous(value, baseline, rules):
                continue
            usual = median(baseline)
            so_far = " so far" if day == today else ""
            message = (f"{_label(spend.scope)} spent ${report.format_usd(value)} on {day.isoformat()}{so_far}, "
                       f"against a usual ${report.format_usd(usual.quantize(Decimal('0.01')))} a day "
                       f"(median of the {rules.baseline_days} days before).")  # fmt: skip
            yield make_alert("spend_anomaly", picture.connection_id, spend.scope, detected,
                             (day.isoformat(), day.isoformat()), value, usual, message)  # fmt: skip


def anomalies_over(
    connection_id: str, spend: Sequence[ScopeSpend], first_day: date, last_day: date, rules: AlertRules | None = None
) -> list[Alert]:
    """The anomalies the rule would have raised judging each day of [first_day, last_day] once it was complete
    (a backtest of the rule over stored spend; each alert once, as the sync stores them)."""
    found: dict[str, Alert] = {}
    day = first_day
    while day <= last_day:
        end_of_day = datetime.combine(day, datetime.max.time(), tzinfo=UTC)
        picture = SpendPicture(connection_id, end_of_day, spend)
        for alert in _anomalies(picture, end_of_day.strftime("%Y-%m-%dT%H:%M:%SZ"), rules or AlertRules()):
            found.setdefault(alert.id, alert)
        day += timedelta(days=1)
    return list(found.values())


def _key_alerts(picture: SpendPicture, detected: str, rules: AlertRules) -> Iterable[Alert]:
    today = picture.now.date()
    for spend in picture.spend:
        if spend.scope.type != "api_key":
            continue
        facts = picture.keys.get(spend.scope.id or "") or KeyFacts()
        if _is_new(facts, today, rules) and facts.created_at is not None:
            since = facts.created_at.date()
            total = sum((v for d, v in spend.daily.items() if since <= d <= today), Decimal(0))
            if total >= rules.new_key_floor_usd:
                message = (f"{_label(spend.scope)}, created on {since.isoformat()}, has already spent "
                           f"${report.format_usd(total)}.")  # fmt: skip
                yield make_alert("new_key_spend", picture.connection_id, spend.scope, detected,
                                 (since.isoformat(), today.isoformat()), total, rules.new_key_floor_usd,
                                 message)  # fmt: skip
        today_spend = spend.daily.get(today, Decimal(0))
        if facts.status in INACTIVE_KEY_STATUSES and today_spend >= rules.inactive_key_floor_usd:
            message = (f"{_label(spend.scope)} is {facts.status} but spent ${report.format_usd(today_spend)} "
                       f"on {today.isoformat()}.")  # fmt: skip
            yield make_alert("inactive_key_spend", picture.connection_id, spend.scope, detected,
                             (today.isoformat(), today.isoformat()), today_spend, None, message)  # fmt: skip


def _is_new(facts: KeyFacts | None, today: date, rules: AlertRules) -> bool:
    created = facts.created_at if facts else None
    return created is not None and (today - created.date()).days < rules.new_key_days


def _label(scope: Scope) -> str:
    noun = {"api_key": "API key", "workspace": "Workspace", "actor": "", "product": "Product"}.get(scope.type, "")
    name = scope.name or scope.id or "Default workspace"
    return f"{noun} '{name}'".strip() if noun else f"'{name}'"
