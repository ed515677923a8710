"""The GET /costs query: from, to and group_by validated, every problem a 400 with a sentence naming the parameter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from pump_anthropic.exceptions import InvalidQueryError

GROUP_BY_DIMENSIONS = (
    "date",
    "month",
    "hour",
    "api_key_id",
    "workspace_id",
    "model",
    "model_id",
    "cost_type",
    "token_type",
    "service_tier",
    "context_window",
    "actor",
    "product",
    "speed",
)
# Anthropic's analytics API serves who (API key, actor, product) and the price grain (tier, context window, speed) in
# separate queries (five dimensions per query), so days from it can't break spend down by both at once.
WHO_DIMENSIONS = frozenset({"api_key_id", "actor", "product"})
PRICE_DIMENSIONS = frozenset({"service_tier", "context_window", "speed"})
DEFAULT_GROUP_BY = ("date", "workspace_id", "model")
# Hours are read by workspace and API key (domain/hourly.py), so hourly rows break down by those only.
HOURLY_GROUP_BY = frozenset({"hour", "date", "month", "workspace_id", "api_key_id"})
DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 400


@dataclass(frozen=True)
class CostQuery:
    first_day: date
    last_day: date
    group_by: tuple[str, ...]


DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Far outside any real Anthropic data, and far from date arithmetic's limits (year 1 and 9999).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)
GROUP_BY_NAME = re.compile(r"[a-z_]{1,30}")


def parse_cost_query(from_: str | None, to: str | None, group_by: str | None, *, today: date) -> CostQuery:
    """Validate the query string; every problem is a 400 with a sentence naming the parameter."""
    last_day = _parse_date("to", to) if to else today
    first_day = (
        _parse_date("from", from_) if from_ else max(last_day - timedelta(days=DEFAULT_RANGE_DAYS - 1), EARLIEST_DATE)
    )
    if first_day > last_day:
        raise InvalidQueryError("'from' must be on or before 'to'.")
    if (last_day - first_day).days + 1 > MAX_RANGE_DAYS:
        raise InvalidQueryError(f"The date range may cover at most {MAX_RANGE_DAYS} days.")
    # Left out: the default grouping; given empty: no grouping (one row, the range's total).
    dims = DEFAULT_GROUP_BY if group_by is None else tuple(d.strip() for d in group_by.split(",")) if group_by else ()
    unknown = [d for d in dims if d not in GROUP_BY_DIMENSIONS]
    if unknown or not all(dims):
        raise InvalidQueryError(
            f"Unknown group_by value {_quote(unknown[0] if unknown else '')}; "
            f"allowed: {', '.join(GROUP_BY_DIMENSIONS)}."
        )
    if len(set(dims)) != len(dims):
        raise InvalidQueryError("Each group_by value may appear only once.")
    if set(dims) & {"actor", "product"} and set(dims) & PRICE_DIMENSIONS:
        raise InvalidQueryError(NOT_COMBINABLE)
    if "hour" in dims and not set(dims) <= HOURLY_GROUP_BY:
        raise InvalidQueryError(
            "group_by=hour combines only with date, month, workspace_id and api_key_id: Anthropic's hourly cost is "
            "read by workspace and API key."
        )
    return CostQuery(first_day, last_day, dims)


NOT_COMBINABLE = (
    "group_by can't combine api_key_id, actor or product with service_tier, context_window or speed for days read "
    "from Anthropic's analytics API, which reports them in separate breakdowns; ask for them in two requests."
)


def _quote(value: str) -> str:
    # Echo only what is plainly a dimension name: anything else may be something pasted by mistake (a key).
    return f"'{value}'" if GROUP_BY_NAME.fullmatch(value) else "(not a dimension name)"


def _parse_date(name: str, value: str) -> date:
    try:
        if not DATE_PATTERN.fullmatch(value):
            raise ValueError
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidQueryError(f"'{name}' must be a date written YYYY-MM-DD.") from None
    if not EARLIEST_DATE <= parsed <= LATEST_DATE:
        raise InvalidQueryError(f"'{name}' must be between {EARLIEST_DATE} and {LATEST_DATE}.")
    return parsed
