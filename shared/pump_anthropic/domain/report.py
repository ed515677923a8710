"""The read API's cost report: rollups summed exactly by the requested dimensions (the GET /costs body), and its
pages: a stable cursor over the rows, which are sorted by their group key."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from pump_anthropic.domain.allocation import CONSOLE, METHOD_PROPORTIONAL, UNATTRIBUTED
from pump_anthropic.domain.analytics_days import WHO_LINE_DIMENSIONS
from pump_anthropic.domain.calendar import day_runs
from pump_anthropic.domain.cost_query import (  # noqa: F401 (the report's query, re-exported for its callers)
    DEFAULT_GROUP_BY,
    DEFAULT_RANGE_DAYS,
    EARLIEST_DATE,
    GROUP_BY_DIMENSIONS,
    HOURLY_GROUP_BY,
    LATEST_DATE,
    MAX_RANGE_DAYS,
    NOT_COMBINABLE,
    PRICE_DIMENSIONS,
    WHO_DIMENSIONS,
    CostQuery,
    parse_cost_query,
)
from pump_anthropic.domain.month_summary import GRAIN_DAY_TOTALS, GRAIN_LINES, GRAIN_MONTH
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.rollups import LINE_DIMENSIONS, RollupLine
from pump_anthropic.exceptions import InvalidQueryError

# Reported by the analytics API only: on days from the legacy reports their value is UNKNOWN.
ANALYTICS_ONLY_DIMENSIONS = frozenset({"actor", "product", "speed"})
UNKNOWN = "unknown"
# How many trailing days each source may still revise: the legacy reports settle within the sync's lookback, the
# analytics API restates up to about a month after the fact.
DEFAULT_RESTATEMENT_DAYS = {"legacy": 3, "analytics": 30}
ALLOCATION_BILLED = "billed"
ALLOCATION_MIXED = "mixed"
UNKNOWN_ACTOR_NOTE = "Before the analytics API covered it: Anthropic's legacy reports don't say who spent it."
NO_ACTOR_NOTE = "Anthropic attributes this spend to no identity."
# One model, one row across the stitch: the legacy reports name a model by its dated id (claude-opus-4-1-20250805),
# the analytics API by its alias (claude-opus-4-1). `model` is the id with a trailing -YYYYMMDD removed; `model_id`
# groups by the id as Anthropic reported it, and rows by model list the raw ids they hold (`model_ids`).
MODEL_DATE_SUFFIX = re.compile(r"-[0-9]{8}$")
DEFAULT_WORKSPACE_NAME = "Default workspace"
SPECIAL_KEY_BUCKETS = {
    CONSOLE: "Console / Workbench (no API key)",
    UNATTRIBUTED: "Unattributed (code execution and other cost without per-key usage)",
}


@dataclass
class _Totals:
    cost_usd: Decimal | None = None
    tokens: int = 0
    unpriced_tokens: int = 0
    unpriced_requests: int = 0
    list_cost_usd: Decimal = Decimal(0)
    list_complete: bool = True  # False once any contributing line has no list price
    tokens_complete: bool = True  # False once any contributing line carries no token counts
    allocations: set[str] | None = None
    model_ids: set[str] = field(default_factory=set)
    # For `list_priced`: the list and net of the lines that carry both.
    priced_list_usd: Decimal = Decimal(0)
    priced_cost_usd: Decimal = Decimal(0)

    def add(self, line: RollupLine, *, tokens_known: bool = True, allocation: str | None = None) -> None:
        cost, listed = line.cost_usd, line.list_cost_usd
        if cost is not None:
            self.cost_usd = (self.cost_usd or Decimal(0)) + cost
        if listed is None:
            self.list_complete = False
        else:
            self.list_cost_usd += listed
            if cost is not None:
                self.priced_list_usd += listed
                self.priced_cost_usd += cost
        self.tokens_complete = self.tokens_complete and tokens_known
        self.tokens += line.tokens
        self.unpriced_tokens += line.unpriced_tokens
        self.unpriced_requests += line.unpriced_requests
        if allocation is not None:
            self.allocations = (self.allocations or set()) | {allocation}

    @property
    def allocation(self) -> str | None:
        if not self.allocations:
            return None
        return next(iter(self.allocations)) if len(self.allocations) == 1 else ALLOCATION_MIXED

    def as_dict(self, days: ListPricedDays) -> dict:
        """The figures of a row or the total: the same keys whatever the grouping (FIGURE_KEYS)."""
        return {
            "cost_usd": format_usd(self.cost_usd),
            "list_cost_usd": format_usd(self.list_cost_usd) if self.list_complete else None,
            # List, net and discount of the lines Anthropic gives both for (every line of a day read from the
            # analytics API; none of a legacy day), and the days they cover (`ListPricedDays`).
            "list_priced": {
                "days": days.priced,
                "of_days": days.of,
                "list_cost_usd": format_usd(self.priced_list_usd),
                "cost_usd": format_usd(self.priced_cost_usd),
                "discount_usd": format_usd(self.priced_list_usd - self.priced_cost_usd),
            },
            "tokens": self.tokens if self.tokens_complete else None,
            # Usage Anthropic reports without a cost (priority tier): shown, never counted as $0.
            "cost_unknown": {"tokens": self.unpriced_tokens, "web_search_requests": self.unpriced_requests},
        }


@dataclass(frozen=True)
class DaysByPeriod:
    """ListPricedDays of the whole range, of each date and of each month, counted once per report."""

    whole: ListPricedDays
    dates: Mapping[str, ListPricedDays]
    months: Mapping[str, ListPricedDays]

    @classmethod
    def of_sources(cls, days_by_source: Mapping[str, set[date]]) -> DaysByPeriod:
        every = {d for days in days_by_source.values() for d in days}
        unpriced = {d for source, days in days_by_source.items() if source != "analytics" for d in days}
        dates = {d.isoformat(): ListPricedDays(int(d not in unpriced), 1) for d in every}
        months: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for d in every:
            counts = months[d.strftime("%Y-%m")]
            counts[0] += d not in unpriced
            counts[1] += 1
        whole = ListPricedDays(len(every - unpriced), len(every))
        return cls(whole, dates, {m: ListPricedDays(*counts) for m, counts in months.items()})

    def of_row(self, row: Mapping) -> ListPricedDays:
        if "date" in row:
            return self.dates.get(row["date"], ListPricedDays(0, 0))
        if "month" in row:
            return self.months.get(row["month"], ListPricedDays(0, 0))
        return self.whole


@dataclass(frozen=True)
class ListPricedDays:
    """Days with spend (`of`), and those of them all of whose spend was read with a list price (`priced`: days from
    the analytics API with no legacy spend of another connection). Counted over the row's date, the row's month, or
    else the whole range, from the days each source covers: the same whether the days were read one by one or from
    month summaries."""

    priced: int
    of: int


# The figures every row and the total carry, in this order, whatever the grouping.
FIGURE_KEYS = ("cost_usd", "list_cost_usd", "list_priced", "tokens", "cost_unknown")


def format_usd(value: Decimal | None) -> str | None:
    """Exact decimal string, no exponent, no rounding."""
    if value is None:
        return None
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def build_cost_report(
    query: CostQuery,
    rollups: Iterable[StoredRollup],
    workspace_names: Mapping[str, str],
    api_key_names: Mapping[str, Mapping[str, str | None]] | None = None,
    *,
    today: date | None = None,
    restatement_days: Mapping[str, int] | None = None,
) -> dict:
    """The GET /costs body. Grouped by `api_key_id`, `actor` or `product`, the rollups must be the per-key ones.

    With `today`, a day Anthropic may still revise (within `restatement_days` of today, by the day's source) is
    provisional: `settled_through` is the day before the first such day, and rows by date say which they are.
    """
    groups: dict[tuple, _Totals] = defaultdict(_Totals)
    total = _Totals()
    actors: dict[str, list] = {}
    days_by_source: dict[str, set[date]] = defaultdict(set)
    key_names = api_key_names or {}
    by_key = "api_key_id" in query.group_by
    by_model = "model" in query.group_by
    for rollup in rollups:
        if not query.first_day <= rollup.date <= query.last_day:
            continue
        days_by_source[rollup.source].update(rollup.covered_days)
        actors.update(rollup.actors)
        analytics = rollup.source == "analytics"
        if analytics:
            check_combinable(query, rollup.dimensions)
        fixed = {
            "date": rollup.date.isoformat(),
            "month": rollup.date.strftime("%Y-%m"),
            **({} if analytics else dict.fromkeys(ANALYTICS_ONLY_DIMENSIONS, UNKNOWN)),
        }
        # Where each grouping value comes from: a position in the line's dimensions, else a value fixed for the
        # rollup (its date, or unknown on legacy days); computed once per rollup, not per line.
        positions = {d: i for i, d in enumerate(rollup.dimensions)}
        positions["model_id"] = positions.get("model")
        picks = [
            (None, fixed[d], False) if d in fixed else (positions.get(d), None, d == "model") for d in query.group_by
        ]
        key_at, model_at = positions.get("api_key_id"), positions.get("model")
        tokens_known = rollup.tokens_known
        for line in rollup.lines:
            dims = line.dims
            key = tuple(
                value if i is None else canonical_model(dims[i]) if canonical else dims[i]
                for i, value, canonical in picks
            )
            allocation = None
            if by_key:
                allocation = ALLOCATION_BILLED if analytics else api_key_label(dims[key_at], key_names)[2]
            group = groups[key]
            group.add(line, tokens_known=tokens_known, allocation=allocation)
            if by_model and model_at is not None and dims[model_at] is not None:
                group.model_ids.add(dims[model_at])
            total.add(line, tokens_known=tokens_known)
    if total.cost_usd is None:
        total.cost_usd = Decimal(0) if not total.unpriced_tokens and not total.unpriced_requests else None
    provisional, settled_through = _provisional_days(days_by_source, today, restatement_days)
    list_priced_days = DaysByPeriod.of_sources(days_by_source)
    dated = {d.isoformat() for d in provisional} if today is not None and "date" in query.group_by else None
    names = (workspace_names, key_names, actors)
    rows = [_row(query, key, groups[key], names, dated, list_priced_days) for key in
            sorted(groups, key=order_key)]  # fmt: skip
    return {
        "currency": "USD",
        "from": query.first_day.isoformat(),
        "to": query.last_day.isoformat(),
        "group_by": list(query.group_by),
        "settled_through": settled_through.isoformat() if settled_through else None,
        "sources": _source_ranges(days_by_source),
        "total": total.as_dict(list_priced_days.whole),
        "rows": rows,
    }


def _row(query: CostQuery, key: tuple, group: _Totals, names: tuple, provisional: set[str] | None,
         days: DaysByPeriod) -> dict:  # fmt: skip
    """A row: in group_by order, each dimension followed by what describes it (names, model ids, allocation), then
    whether its date is provisional, then its figures."""
    workspace_names, key_names, actors = names
    row: dict = {}
    for dimension, value in zip(query.group_by, key, strict=True):
        row[dimension] = value
        if dimension == "workspace_id":
            row["workspace_name"] = DEFAULT_WORKSPACE_NAME if value is None else workspace_names.get(value, value)
        elif dimension == "model":
            row["model_ids"] = sorted(group.model_ids)
        elif dimension == "api_key_id":
            row.update(_api_key_fields(value, key_names, group.allocation))
        elif dimension == "actor":
            row.update(_actor_fields(value, actors, key_names))
    if provisional is not None:
        row["provisional"] = row["date"] in provisional
    row.update(group.as_dict(days.of_row(row)))
    return row


@lru_cache(maxsize=4096)
def canonical_model(model_id: str | None) -> str | None:
    """The model a (possibly dated) id names: the id with a trailing -YYYYMMDD removed."""
    return None if model_id is None else MODEL_DATE_SUFFIX.sub("", model_id)


def check_combinable(query: CostQuery, dimensions: Iterable[str]) -> None:
    """Days from the analytics API break spend down by who (key, actor, product) or by price grain, not both."""
    present = {*dimensions, "date", "month", *(("model_id",) if "model" in dimensions else ())}
    if [d for d in query.group_by if d not in present]:
        raise InvalidQueryError(NOT_COMBINABLE)


def _provisional_days(
    days_by_source: Mapping[str, set[date]], today: date | None, restatement_days: Mapping[str, int] | None
) -> tuple[set[date], date | None]:
    """The range's days Anthropic may still revise (those it re-reads: within its window of today, by source), and
    the last settled day: the day before the widest window of the sources in the range."""
    present = [source for source, days in days_by_source.items() if days]
    if today is None or not present:
        return set(), None
    windows = {**DEFAULT_RESTATEMENT_DAYS, **(restatement_days or {})}

    def window(source: str) -> int:
        return windows.get(source, max(windows.values()))

    provisional = {
        day for source in present for day in days_by_source[source] if day >= today - timedelta(days=window(source))
    }
    return provisional, today - timedelta(days=max(window(source) for source in present) + 1)


def _source_ranges(days_by_source: Mapping[str, set[date]]) -> list[dict]:
    """Consecutive days of each source, oldest first: which API the range's figures came from."""
    ranges = [
        {"source": source, "from": first.isoformat(), "to": last.isoformat()}
        for source, days in days_by_source.items()
        for first, last in day_runs(days)
    ]
    return sorted(ranges, key=lambda r: (r["from"], r["source"]))


def _actor_fields(
    key: str | None, actors: Mapping[str, list], key_names: Mapping[str, Mapping[str, str | None]]
) -> dict:
    if key == UNKNOWN:
        described = [key, UNKNOWN, None, None, None, UNKNOWN_ACTOR_NOTE]
    elif key is None:
        described = [None, None, None, None, None, NO_ACTOR_NOTE]
    else:
        described = actors.get(key) or [key, None, key, None, None, None]
    _, actor_type, actor_id, name, email, note = described
    if actor_type == "api_actor" and name is None:
        name = (key_names.get(actor_id or "") or {}).get("name")
    return {
        "actor_type": actor_type,
        "actor_id": actor_id,
        "actor_name": name,
        "actor_email": email,
        "actor_note": note or None,  # on every actor row: null when there is nothing to explain
    }


def order_key(key: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    # None (e.g. the default workspace) sorts first in each position.
    return tuple((v is not None, v or "") for v in key)


def read_grain(query: CostQuery) -> str:
    """What the report needs of each stored day: whole months fold unless rows are by date; by date (and month)
    only, each day's total; by date and anything else, every day's lines."""
    if "date" not in query.group_by:
        return GRAIN_MONTH
    return GRAIN_DAY_TOTALS if set(query.group_by) <= {"date", "month"} else GRAIN_LINES


def check_sources_combinable(query: CostQuery, sources: Iterable[Mapping]) -> None:
    """A range with analytics days can't break spend down by who and by price grain at once (see NOT_COMBINABLE)."""
    if any(s["source"] == "analytics" for s in sources):
        who = bool(WHO_DIMENSIONS & set(query.group_by))
        check_combinable(query, WHO_LINE_DIMENSIONS if who else LINE_DIMENSIONS)


def api_key_label(key: str, names: Mapping[str, Mapping[str, str | None]]) -> tuple[str, str | None, str]:
    """(name, hint, allocation method) of an allocation bucket: a key id, CONSOLE or UNATTRIBUTED."""
    if key in SPECIAL_KEY_BUCKETS:
        return SPECIAL_KEY_BUCKETS[key], None, key if key == UNATTRIBUTED else METHOD_PROPORTIONAL
    known = names.get(key) or {}
    return known.get("name") or key, known.get("hint"), METHOD_PROPORTIONAL


def _api_key_fields(key: str, names: Mapping[str, Mapping[str, str | None]], allocation: str | None = None) -> dict:
    name, hint, method = api_key_label(key, names)
    # How the row's cost was attributed to the key: billed by Anthropic (analytics days) or allocated by us from
    # per-key usage (legacy days); said on every row.
    return {"api_key_name": name, "api_key_hint": hint, "allocation": allocation or method}
