"""What prompt caching saved, in billed dollars (the GET /costs/savings body). Pure.

Priced from the bill itself, never a price table. For each connection, day and price class (model id, service tier,
context window, inference geo, speed) the plain-input rate is that day's billed uncached input cost over its
uncached input tokens (all workspaces together). Against it:

- a cache read of R tokens would have cost R × rate as uncached input; `read_savings_usd` is that minus what the
  reads were billed;
- a cache write of W tokens costs its billed amount minus W × rate above plain input: `cache_write_5m_premium_usd`
  and `cache_write_1h_premium_usd`;
- `net_savings_usd` = read savings − both premiums; `cache_loses_money` when it is negative, and
  `one_hour_cache_loses_money` when the 1-hour writes' premium alone exceeds what the reads saved.

A class with no uncached input that day (or whose uncached input has no cost: priority tier on legacy days) has no
rate: its cache reads and writes are counted (`cache_read_tokens`, `cache_read_cost_usd`, …) but not priced, and
are listed as `unpriced_cache_read_tokens` and `unpriced_cache_write_{5m,1h}_tokens`; `savings_known_tokens` are the
cache reads that were priced. Reads or writes billed without a cost are unpriced the same way.

Exactness: each (day, class, row) part R × cost / tokens is exact when it terminates within 28 significant digits;
otherwise (the rate is a repeating fraction) that part is rounded half-even to 12 decimal places (10⁻¹² USD, far
finer than Anthropic's own amounts) and the row says `savings_exact: false`. Every figure is a sum of those parts,
so rows add up to the total exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from pump_anthropic.domain.normalize import CostItem
from pump_anthropic.domain.rates import exact_arithmetic, exact_quotient, group_values, rounded_quotient
from pump_anthropic.domain.report import DEFAULT_WORKSPACE_NAME, CostQuery, format_usd, order_key
from pump_anthropic.exceptions import InvalidQueryError

UNCACHED = "uncached_input_tokens"
CACHE_READ = "cache_read_input_tokens"
CACHE_WRITE_5M = "cache_creation.ephemeral_5m_input_tokens"
CACHE_WRITE_1H = "cache_creation.ephemeral_1h_input_tokens"
_TOKEN_TYPES = frozenset({UNCACHED, CACHE_READ, CACHE_WRITE_5M, CACHE_WRITE_1H})
CLASS_DIMENSIONS = ("model_id", "service_tier", "context_window", "inference_geo", "speed")
SAVINGS_GROUP_BY = ("date", "month", "workspace_id", "model", "model_id", "service_tier", "context_window", "speed")
DEFAULT_SAVINGS_GROUP_BY = "model"
ROUNDED_PLACES = Decimal("0.000000000001")
_NOT_GROUPABLE = {
    "api_key_id": "Anthropic's analytics API bills API keys in dollars without their tokens, so cache savings "
    "can't be split by key",
}


def check_savings_group_by(query: CostQuery) -> tuple[str, ...]:
    for dim in query.group_by:
        if dim not in SAVINGS_GROUP_BY:
            why = _NOT_GROUPABLE.get(dim, "it is not a dimension of the token lines")
            raise InvalidQueryError(
                f"Savings can't be grouped by '{dim}': {why}; group_by may list {', '.join(SAVINGS_GROUP_BY)}."
            )
    return query.group_by


@dataclass
class _Usage:
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    cost_known: bool = True
    tokens_known: bool = True

    @property
    def priceable(self) -> bool:
        return self.cost_known and self.tokens_known

    def add(self, item: CostItem) -> None:
        if item.quantity is None:
            self.tokens_known = False
        self.tokens += item.quantity or 0
        if item.cost_usd is None:
            self.cost_known = False
        else:
            with exact_arithmetic():
                self.cost_usd += item.cost_usd


@dataclass
class _Cell:
    """One row's cache lines of one price class on one day."""

    lines: dict[str, _Usage] = field(default_factory=lambda: defaultdict(_Usage))
    model_ids: set[str] = field(default_factory=set)


@dataclass
class _Figures:
    uncached_input_tokens: int = 0
    uncached_input_cost_usd: Decimal = Decimal(0)
    cache_read_tokens: int = 0
    cache_read_cost_usd: Decimal = Decimal(0)
    savings_known_tokens: int = 0
    unpriced_cache_read_tokens: int = 0
    cache_read_as_input_usd: Decimal = Decimal(0)
    read_savings_usd: Decimal = Decimal(0)
    cache_write_5m_tokens: int = 0
    cache_write_5m_cost_usd: Decimal = Decimal(0)
    cache_write_5m_premium_usd: Decimal = Decimal(0)
    unpriced_cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_write_1h_cost_usd: Decimal = Decimal(0)
    cache_write_1h_premium_usd: Decimal = Decimal(0)
    unpriced_cache_write_1h_tokens: int = 0
    exact: bool = True
    model_ids: set[str] = field(default_factory=set)

    def add(self, cell: _Cell, rate: tuple[Decimal, int] | None) -> None:
        """Count one cell, priced at `rate` (the class's uncached (cost, tokens) that day; None: no rate)."""
        self.model_ids |= cell.model_ids
        lines = cell.lines
        with exact_arithmetic():
            if UNCACHED in lines:
                self.uncached_input_tokens += lines[UNCACHED].tokens
                self.uncached_input_cost_usd += lines[UNCACHED].cost_usd
            if CACHE_READ in lines:
                read = lines[CACHE_READ]
                self.cache_read_tokens += read.tokens
                self.cache_read_cost_usd += read.cost_usd
                as_input = self._as_input(read, rate)
                if as_input is None:
                    self.unpriced_cache_read_tokens += read.tokens
                else:
                    self.savings_known_tokens += read.tokens
                    self.cache_read_as_input_usd += as_input
                    self.read_savings_usd += as_input - read.cost_usd
            for token_type, window in ((CACHE_WRITE_5M, "5m"), (CACHE_WRITE_1H, "1h")):
                if token_type not in lines:
                    continue
                write = lines[token_type]
                self._bump(f"cache_write_{window}_tokens", write.tokens)
                self._bump(f"cache_write_{window}_cost_usd", write.cost_usd)
                as_input = self._as_input(write, rate)
                if as_input is None:
                    self._bump(f"unpriced_cache_write_{window}_tokens", write.tokens)
                else:
                    self._bump(f"cache_write_{window}_premium_usd", write.cost_usd - as_input)

    def merge(self, other: _Figures) -> None:
        with exact_arithmetic():
            for name in _FIGURE_FIELDS:
                self._bump(name, getattr(other, name))
        self.exact = self.exact and other.exact
        self.model_ids |= other.model_ids

    def _bump(self, name: str, value: int | Decimal) -> None:
        setattr(self, name, getattr(self, name) + value)

    def _as_input(self, usage: _Usage, rate: tuple[Decimal, int] | None) -> Decimal | None:
        """What `usage` would have cost as uncached input at the day's rate; None when it can't be priced."""
        if rate is None or not usage.priceable:
            return None
        input_cost, input_tokens = rate
        with exact_arithmetic():
            numerator = input_cost * usage.tokens
        value = exact_quotient(numerator, input_tokens)
        if value is None:
            self.exact = False
            value = rounded_quotient(numerator, input_tokens, ROUNDED_PLACES)
        return value

    def as_dict(self) -> dict:
        with exact_arithmetic():
            net = self.read_savings_usd - self.cache_write_5m_premium_usd - self.cache_write_1h_premium_usd
        body: dict = {}
        for name in _FIGURE_FIELDS:
            value = getattr(self, name)
            body[name] = format_usd(value) if isinstance(value, Decimal) else value
        body.update(
            {
                "net_savings_usd": format_usd(net),
                "cache_loses_money": net < 0,
                "one_hour_cache_loses_money": self.cache_write_1h_premium_usd > max(self.read_savings_usd, Decimal(0)),
                "savings_exact": self.exact,
            }
        )
        return body


_FIGURE_FIELDS = (
    "uncached_input_tokens",
    "uncached_input_cost_usd",
    "cache_read_tokens",
    "cache_read_cost_usd",
    "savings_known_tokens",
    "unpriced_cache_read_tokens",
    "cache_read_as_input_usd",
    "read_savings_usd",
    "cache_write_5m_tokens",
    "cache_write_5m_cost_usd",
    "cache_write_5m_premium_usd",
    "unpriced_cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_write_1h_cost_usd",
    "cache_write_1h_premium_usd",
    "unpriced_cache_write_1h_tokens",
)


def cache_savings(
    query: CostQuery,
    items: Iterable[tuple[str, CostItem]],
    workspace_names: Mapping[str, str] | None = None,
) -> dict:
    """The GET /costs/savings body from (connection id, cost item) pairs of the query's range."""
    dims = check_savings_group_by(query)
    # (connection, day, class) → the plain-input figures of the whole class; and → row key → the row's cache lines.
    plain: dict[tuple, _Usage] = defaultdict(_Usage)
    cells: dict[tuple, dict[tuple, _Cell]] = defaultdict(lambda: defaultdict(_Cell))
    for connection_id, item in items:
        if item.token_type not in _TOKEN_TYPES or not query.first_day <= item.date <= query.last_day:
            continue
        price_class = (connection_id, item.date, *group_values(item, CLASS_DIMENSIONS))
        if item.token_type == UNCACHED:
            plain[price_class].add(item)
        cell = cells[price_class][group_values(item, dims)]
        cell.lines[item.token_type].add(item)
        if item.model is not None:
            cell.model_ids.add(item.model)

    groups: dict[tuple, _Figures] = defaultdict(_Figures)
    for price_class, row_cells in cells.items():
        uncached = plain.get(price_class)
        rate = (uncached.cost_usd, uncached.tokens) if uncached and uncached.priceable and uncached.tokens else None
        for key, cell in row_cells.items():
            groups[key].add(cell, rate)

    total = _Figures()
    rows = []
    names = workspace_names or {}
    for key in sorted(groups, key=order_key):
        figures = groups[key]
        total.merge(figures)
        row: dict = {}
        for dim, value in zip(dims, key, strict=True):
            row[dim] = value
            if dim == "workspace_id":
                row["workspace_name"] = DEFAULT_WORKSPACE_NAME if value is None else names.get(value, value)
            if dim == "model":
                row["model_ids"] = sorted(figures.model_ids)
        row.update(figures.as_dict())
        rows.append(row)
    return {
        "currency": "USD",
        "from": query.first_day.isoformat(),
        "to": query.last_day.isoformat(),
        "group_by": list(dims),
        "total": total.as_dict(),
        "rows": rows,
    }
