"""Budgets: a monthly amount in USD for one scope of one connection's spend, with graduated thresholds.

Pure: the request body validated into a `Budget`, and a budget's month figured from daily spend (month-to-date, the
forecast at month end, the status and the thresholds crossed). Every problem with a body is a 400 with a sentence
naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from pump_anthropic.domain import report
from pump_anthropic.domain.calendar import month_bounds
from pump_anthropic.exceptions import InvalidInputError

# scope type → (the cost report's group_by dimension, the row field holding the scope's id, the row field holding
# its name); the organization is the connection's total.
SCOPE_DIMENSIONS = {
    "organization": (None, None, None),
    "workspace": ("workspace_id", "workspace_id", "workspace_name"),
    "api_key": ("api_key_id", "api_key_id", "api_key_name"),
    "actor": ("actor", "actor_id", "actor_name"),
    "product": ("product", "product", None),
}
# What a scope's id looks like, by type (the OpenAPI document states the same patterns).
SCOPE_ID_PATTERNS = {
    "workspace": r"^wrkspc_[A-Za-z0-9]{1,64}$",
    "api_key": r"^apikey_[A-Za-z0-9]{1,64}$",
    "actor": r"^([a-z]{1,20}_[A-Za-z0-9]{1,64}|[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190})$",
    "product": r"^[a-z][a-z0-9_]{0,63}$",
}
# Dollars above 0 with at most two decimals, below a billion.
MONTHLY_USD_PATTERN = r"^([1-9][0-9]{0,8}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$"
BUDGET_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_NAME_LENGTH = 200
MAX_THRESHOLDS = 10
DEFAULT_THRESHOLDS = (50, 80, 100)
# The forecast's run-rate: the mean daily spend of this many complete UTC days before today.
RUN_RATE_DAYS = 7
STATUSES = ("ok", "forecast_over", "warning", "exceeded")
BODY_FIELDS = frozenset({"name", "connection_id", "scope", "monthly_usd", "thresholds", "enforced"})


@dataclass(frozen=True)
class BudgetScope:
    type: str
    id: str | None  # None: the organization, or the Default workspace with type workspace

    def as_dict(self) -> dict:
        return {"type": self.type, "id": self.id}


@dataclass(frozen=True)
class Budget:
    budget_id: str
    name: str
    connection_id: str
    scope: BudgetScope
    monthly_usd: Decimal
    thresholds: tuple[int, ...]
    # Stands in for an Anthropic spend limit the key can't read: the headroom alert watches it as one.
    enforced: bool = False

    def as_dict(self) -> dict:
        return {
            "id": self.budget_id,
            "name": self.name,
            "connection_id": self.connection_id,
            "scope": self.scope.as_dict(),
            "monthly_usd": format_usd(self.monthly_usd),
            "thresholds": list(self.thresholds),
            "enforced": self.enforced,
        }


@dataclass(frozen=True)
class BudgetMonth:
    """A budget's figures for one UTC month, as of `today`."""

    month: str  # YYYY-MM
    month_to_date: Decimal
    forecast_month_end: Decimal
    status: str
    crossed: tuple[int, ...]  # the thresholds the month-to-date spend has reached, ascending


def check_budget_id(budget_id: str) -> str:
    if not BUDGET_ID_PATTERN.fullmatch(budget_id or ""):
        raise InvalidInputError("The budget id must be 1–64 letters, digits, '-' or '_'.")
    return budget_id


def parse_budget(budget_id: str, body: object, connection_ids: Sequence[str]) -> Budget:
    """The PUT /budgets/{id} body as a Budget; `connection_ids` are the tenant's connections."""
    check_budget_id(budget_id)
    if not isinstance(body, Mapping):
        raise InvalidInputError("The body must be a JSON object with name, connection_id, scope and monthly_usd.")
    unknown = sorted(str(k) for k in body if k not in BODY_FIELDS)
    if unknown:
        raise InvalidInputError(f"Unknown field '{unknown[0][:40]}'; a budget takes {', '.join(sorted(BODY_FIELDS))}.")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError(f"'name' must be a non-empty string of at most {MAX_NAME_LENGTH} characters.")
    connection_id = body.get("connection_id")
    if not isinstance(connection_id, str) or connection_id not in connection_ids:
        raise InvalidInputError("'connection_id' must name one of your Anthropic connections.")
    enforced = body.get("enforced", False)
    if not isinstance(enforced, bool):
        raise InvalidInputError("'enforced' must be true or false.")
    return Budget(
        budget_id=budget_id,
        name=name.strip(),
        connection_id=connection_id,
        scope=_parse_scope(body.get("scope")),
        monthly_usd=_parse_amount(body.get("monthly_usd")),
        thresholds=_parse_thresholds(body.get("thresholds", list(DEFAULT_THRESHOLDS))),
        enforced=enforced,
    )


def _parse_scope(scope: object) -> BudgetScope:
    types = ", ".join(SCOPE_DIMENSIONS)
    if not isinstance(scope, Mapping) or set(scope) - {"type", "id"}:
        raise InvalidInputError(f'\'scope\' must be an object {{"type", "id"}} with type one of {types}.')
    scope_type, scope_id = scope.get("type"), scope.get("id")
    if scope_type not in SCOPE_DIMENSIONS:
        raise InvalidInputError(f"'scope.type' must be one of {types}.")
    if scope_type == "organization":
        if scope_id is not None:
            raise InvalidInputError("An organization budget takes no 'scope.id' (give null).")
        return BudgetScope(scope_type, None)
    if scope_id is None and scope_type == "workspace":
        return BudgetScope(scope_type, None)  # the Default workspace
    if not isinstance(scope_id, str) or not re.fullmatch(SCOPE_ID_PATTERNS[scope_type], scope_id):
        example = {"workspace": "wrkspc_… (or null: the Default workspace)", "api_key": "apikey_…",
                   "actor": "user_… (an actor id)", "product": "claude_code"}[scope_type]  # fmt: skip
        raise InvalidInputError(f"'scope.id' of a {scope_type} budget must look like {example}.")
    return BudgetScope(scope_type, scope_id)


def _parse_amount(value: object) -> Decimal:
    message = (
        "'monthly_usd' must be a decimal string of dollars, e.g. \"1000.00\": above 0, below a billion, with at "
        "most 2 decimals."
    )
    if not isinstance(value, str) or not re.fullmatch(MONTHLY_USD_PATTERN, value):
        raise InvalidInputError(message)
    return Decimal(value)


def _parse_thresholds(value: object) -> tuple[int, ...]:
    message = (
        f"'thresholds' must be a list of 1–{MAX_THRESHOLDS} whole percentages between 1 and 1000, e.g. [50, 80, 100]."
    )
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_THRESHOLDS:
        raise InvalidInputError(message)
    if any(isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= 1000 for t in value):
        raise InvalidInputError(message)
    return tuple(sorted(set(value)))


def format_usd(value: Decimal) -> str:
    """A budget amount (at most two decimals, by validation) as a string with exactly two."""
    return format(value.quantize(Decimal("0.01")), "f")


def month_of(day: date) -> str:
    return day.strftime("%Y-%m")


def spend_window(today: date) -> tuple[date, date]:
    """The days a budget's month needs: the month so far and the run-rate's complete days before today."""
    first, _ = month_bounds(today)
    return min(first, today - timedelta(days=RUN_RATE_DAYS)), today


def budget_month(budget: Budget, daily: Mapping[date, Decimal], today: date) -> BudgetMonth:
    """The budget's month as of `today` from the scope's daily spend (`daily`, covering `spend_window(today)`;
    a missing day spent nothing).

    The forecast is the spend of the month's complete days, then today at the run-rate (the mean of the last
    RUN_RATE_DAYS complete UTC days, before today) or at what it has spent so far if that is more, then the run-rate
    for each day after today; so it is never below the month-to-date, and a runaway day counts in full."""
    first, last = month_bounds(today)
    month_to_date = sum((v for d, v in daily.items() if first <= d <= today), Decimal(0))
    complete = sum((v for d, v in daily.items() if first <= d < today), Decimal(0))
    recent = [daily.get(today - timedelta(days=n), Decimal(0)) for n in range(1, RUN_RATE_DAYS + 1)]
    run_rate = sum(recent, Decimal(0)) / RUN_RATE_DAYS
    today_so_far = month_to_date - complete
    projected = complete + max(today_so_far, run_rate) + run_rate * (last - today).days
    forecast = max(month_to_date, projected.quantize(Decimal("0.01")))
    crossed = tuple(t for t in budget.thresholds if month_to_date * 100 >= budget.monthly_usd * t)
    return BudgetMonth(month_of(today), month_to_date, forecast, _status(budget, month_to_date, forecast, crossed),
                       crossed)  # fmt: skip


def _status(budget: Budget, month_to_date: Decimal, forecast: Decimal, crossed: tuple[int, ...]) -> str:
    """exceeded: the month-to-date reached the budget; warning: it reached a threshold below 100%; forecast_over:
    the forecast passes the budget; ok: none of these (checked in that order)."""
    if month_to_date >= budget.monthly_usd:
        return "exceeded"
    if crossed:
        return "warning"
    if forecast > budget.monthly_usd:
        return "forecast_over"
    return "ok"


def budget_body(budget: Budget, month: BudgetMonth, crossed_at: Mapping[int, str]) -> dict:
    """A budget as the API answers it; `crossed_at` maps each alerted threshold to when it was raised (a threshold
    reached since the last sync has `at` null until the sync raises its alert)."""
    return {
        **budget.as_dict(),
        "month": month.month,
        "month_to_date_usd": report.format_usd(month.month_to_date),
        "forecast_month_end_usd": report.format_usd(month.forecast_month_end),
        "status": month.status,
        "crossed": [{"threshold": t, "at": crossed_at.get(t)} for t in month.crossed],
    }
