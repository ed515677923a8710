"""The rate card derived from the bill (the GET /costs/rates body): what each unit actually cost. Pure.

For every stored day, each price line (model, cost type, token type, service tier, context window, inference geo,
speed; plus the requested grouping) is summed over the day's workspaces, per connection, and its effective rate is
the day's billed cost divided by its units. Exactness rule:

- A day's rate is *exact* when cost / units is a finite decimal of at most `RATE_DIGITS` significant digits. Days
  whose exact rates are equal fold into one row, so `net_usd_per_unit` × units (÷ 1,000,000 for tokens) equals the
  row's `cost_usd` exactly, whatever the number of days.
- A day whose quotient does not terminate there (Anthropic rounded the amount, or the line blends two prices, as the
  analytics API's lines do across inference geos) is never folded into an exact row: such days fold into a row of
  their own with `net_usd_per_unit: null`, `rate_exact: false`, `rate_status: "inexact"`; their cost and units are
  still exact, and `net_usd_per_unit_rounded` gives the row's cost / units rounded to 6 decimal places.
- Cost without units (code execution) is `rate_status: "no_usage"`; usage without a cost (priority tier on legacy
  days) is `"cost_unknown"`; both have no rate.

A rate changes when a day's rate differs from the previous day's of the same line by more than Anthropic's rounding
of the two amounts can explain (half a unit of each amount's last digit, spread over its units): every row of a
line whose rate changed in the range says `rate_changed: true`, and each rate shows as its own row with its first
and last day. A line's inexact days fold into one row, whose first and last day may span its exact rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, Inexact, localcontext
from fractions import Fraction

from pump_anthropic.domain.normalize import UNIT_REQUESTS, UNIT_TOKENS, CostItem
from pump_anthropic.domain.report import (
    DEFAULT_WORKSPACE_NAME,
    CostQuery,
    canonical_model,
    format_usd,
    order_key,
)
from pump_anthropic.exceptions import InvalidQueryError

# The line a rate belongs to, in row order. `inference_geo` is a price dimension of the legacy reports (US-only
# inference costs 1.1×); the analytics API reports none, so it is null on analytics days.
RATE_DIMENSIONS = ("model", "cost_type", "token_type", "service_tier", "context_window", "inference_geo", "speed")
# What group_by may add to the rate dimensions (which are always there; naming one of them changes nothing).
RATE_GROUP_BY = ("workspace_id", "month", "date")
RATE_GROUP_BY_ACCEPTED = frozenset(RATE_GROUP_BY) | {"model", "cost_type", "token_type", "service_tier",
                                                      "context_window", "speed"}  # fmt: skip
# Significant digits within which a quotient must terminate to count as an exact rate.
RATE_DIGITS = 28
# Working precision of sums and products: far more than any amount needs, and Inexact is trapped, so a result is
# exact or an error, never silently rounded.
_WORKING_DIGITS = 100
TOKENS_PER_PRICE_UNIT = 1_000_000
PER = {UNIT_TOKENS: "1M tokens", UNIT_REQUESTS: "request"}
ROUNDED_PLACES = Decimal("0.000001")
DISCOUNT_PLACES = Decimal("0.0001")

EXACT = "exact"
INEXACT = "inexact"
NO_USAGE = "no_usage"
COST_UNKNOWN = "cost_unknown"


@contextmanager
def exact_arithmetic() -> Iterator[None]:
    """Decimal sums and products that are exact or raise, never rounded."""
    with localcontext() as ctx:
        ctx.prec = _WORKING_DIGITS
        ctx.traps[Inexact] = True
        yield


def plus(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    """a + b exactly; None (unknown) when either is."""
    if a is None or b is None:
        return None
    with exact_arithmetic():
        return a + b


def exact_quotient(numerator: Decimal, denominator: Decimal | int) -> Decimal | None:
    """numerator / denominator when it is a finite decimal of at most RATE_DIGITS significant digits, else None."""
    if not denominator:
        return None
    with localcontext() as ctx:
        ctx.prec = RATE_DIGITS
        ctx.traps[Inexact] = True
        try:
            return numerator / Decimal(denominator)
        except Inexact:
            return None


def rounded_quotient(numerator: Decimal, denominator: Decimal | int, places: Decimal) -> Decimal:
    """numerator / denominator rounded half-even to `places` (a power of ten), with no intermediate rounding."""
    scale = -places.as_tuple().exponent
    return Decimal(round(Fraction(numerator) / Fraction(denominator) * 10**scale)).scaleb(-scale)


def check_rate_group_by(query: CostQuery) -> tuple[str, ...]:
    """The dimensions the rate card adds to the rate dimensions (400 for any other)."""
    refused = [d for d in query.group_by if d not in RATE_GROUP_BY_ACCEPTED]
    if refused:
        raise InvalidQueryError(
            f"The rate card can't be grouped by '{refused[0]}'; group_by may add "
            f"{', '.join(RATE_GROUP_BY)} to the rate dimensions ({', '.join(RATE_DIMENSIONS)})."
        )
    return tuple(d for d in RATE_GROUP_BY if d in query.group_by)


def unit_of(item: CostItem) -> str | None:
    if item.unit:
        return item.unit
    if item.cost_type == "web_search":
        return UNIT_REQUESTS
    return UNIT_TOKENS if item.token_type else None


def group_values(item: CostItem, dims: Iterable[str]) -> tuple[str | None, ...]:
    values = {
        "workspace_id": item.workspace_id,
        "month": item.date.strftime("%Y-%m"),
        "date": item.date.isoformat(),
        "model": canonical_model(item.model),
        "model_id": item.model,
        "cost_type": item.cost_type,
        "token_type": item.token_type,
        "service_tier": item.service_tier,
        "context_window": item.context_window,
        "inference_geo": item.inference_geo,
        "speed": item.speed,
    }
    return tuple(values[d] for d in dims)


@dataclass
class _Day:
    """One line of one connection on one day, summed over its workspaces."""

    day: date
    unit: str | None
    cost_usd: Decimal = Decimal(0)
    cost_known: bool = True
    units: int = 0
    units_complete: bool = True
    list_cost_usd: Decimal | None = Decimal(0)
    model_ids: set[str] = field(default_factory=set)

    def add(self, item: CostItem) -> None:
        if item.cost_usd is None:
            self.cost_known = False
        else:
            self.cost_usd = plus(self.cost_usd, item.cost_usd)
        if item.quantity is None:
            self.units_complete = False
        else:
            self.units += item.quantity
        self.list_cost_usd = plus(self.list_cost_usd, item.list_cost_usd)
        if item.model is not None:
            self.model_ids.add(item.model)

    @property
    def status(self) -> str:
        if not self.cost_known:
            return COST_UNKNOWN
        if not self.units_complete or not self.units:
            return NO_USAGE
        return EXACT if self.rate is not None else INEXACT

    @property
    def rate(self) -> Decimal | None:
        """The exact cost per unit (per million for tokens), or None."""
        if not self.cost_known or not self.units_complete or not self.units:
            return None
        return exact_quotient(_per_price_unit(self.cost_usd, self.unit), self.units)

    @property
    def rounding(self) -> Decimal:
        """Half a unit of the last digit of the day's amount: how far Anthropic's rounding may have moved it."""
        exponent = self.cost_usd.as_tuple().exponent
        return Decimal(5).scaleb(exponent - 1) if isinstance(exponent, int) else Decimal(0)


def _per_price_unit(amount: Decimal, unit: str | None) -> Decimal:
    return amount.scaleb(6) if unit == UNIT_TOKENS else amount


def _differs_beyond_rounding(a: _Day, b: _Day) -> bool:
    """Whether two days' rates of one line differ by more than their amounts' rounding explains.

    |ca/na − cb/nb| > ea/na + eb/nb, with both sides multiplied by na·nb so everything stays exact."""
    with exact_arithmetic():
        gap = abs(a.cost_usd * b.units - b.cost_usd * a.units)
        return gap > a.rounding * b.units + b.rounding * a.units


@dataclass
class _Row:
    unit: str | None
    status: str
    rate: Decimal | None
    first_seen: date
    last_seen: date
    days: set[date] = field(default_factory=set)
    cost_usd: Decimal = Decimal(0)
    units: int = 0
    list_cost_usd: Decimal | None = Decimal(0)
    model_ids: set[str] = field(default_factory=set)

    def add(self, day: _Day) -> None:
        self.first_seen, self.last_seen = min(self.first_seen, day.day), max(self.last_seen, day.day)
        self.days.add(day.day)
        self.cost_usd = plus(self.cost_usd, day.cost_usd)
        self.list_cost_usd = plus(self.list_cost_usd, day.list_cost_usd)
        self.units += day.units
        self.model_ids |= day.model_ids


def rate_card(
    query: CostQuery,
    items: Iterable[tuple[str, CostItem]],
    workspace_names: Mapping[str, str] | None = None,
) -> dict:
    """The GET /costs/rates body from (connection id, cost item) pairs of the query's range."""
    extra = check_rate_group_by(query)
    days: dict[tuple, dict[date, _Day]] = defaultdict(dict)
    for connection_id, item in items:
        if not query.first_day <= item.date <= query.last_day:
            continue
        key = (*group_values(item, extra), *group_values(item, RATE_DIMENSIONS))
        per_day = days[(connection_id, key)]
        line = per_day.get(item.date)
        if line is None:
            line = per_day[item.date] = _Day(item.date, unit_of(item))
        line.add(item)

    rows: dict[tuple, _Row] = {}
    changed: set[tuple] = set()
    for (_connection_id, key), per_day in days.items():
        previous: _Day | None = None
        for day in sorted(per_day):
            line = per_day[day]
            status = line.status
            if status in (EXACT, INEXACT):
                if previous is not None and key not in changed and _differs_beyond_rounding(previous, line):
                    changed.add(key)
                previous = line
            rate = line.rate
            # Exact days fold by their rate; the others by their status.
            row_key = (key, status, rate)
            row = rows.get(row_key)
            if row is None:
                row = rows[row_key] = _Row(line.unit, status, rate, day, day)
            row.add(line)

    names = workspace_names or {}
    body_rows = [
        _row_body(extra, key, row, key in changed, names)
        for (key, _status, _), row in sorted(
            rows.items(), key=lambda kv: (order_key(kv[0][0]), kv[1].first_seen, kv[1].status, kv[1].rate or 0)
        )
    ]
    return {
        "currency": "USD",
        "from": query.first_day.isoformat(),
        "to": query.last_day.isoformat(),
        "group_by": list(extra),
        "rows": body_rows,
    }


def _row_body(extra: tuple[str, ...], key: tuple, row: _Row, changed: bool, names: Mapping[str, str]) -> dict:
    body: dict = {}
    for dim, value in zip(extra, key[: len(extra)], strict=True):
        body[dim] = value
        if dim == "workspace_id":
            body["workspace_name"] = DEFAULT_WORKSPACE_NAME if value is None else names.get(value, value)
    rate_values = dict(zip(RATE_DIMENSIONS, key[len(extra) :], strict=True))
    for dim in RATE_DIMENSIONS:
        body[dim] = rate_values[dim]
        if dim == "model":
            body["model_ids"] = sorted(row.model_ids)
    known = row.status in (EXACT, INEXACT)
    cost = row.cost_usd if row.status != COST_UNKNOWN else None
    list_cost = row.list_cost_usd if cost is not None else None
    list_rate = None
    if known and list_cost is not None:
        list_rate = exact_quotient(_per_price_unit(list_cost, row.unit), row.units)
    body.update(
        {
            "unit": row.unit,
            "per": PER.get(row.unit or ""),
            "tokens": row.units if row.unit == UNIT_TOKENS else None,
            "requests": row.units if row.unit == UNIT_REQUESTS else None,
            "cost_usd": format_usd(cost),
            "list_cost_usd": format_usd(list_cost),
            "net_usd_per_unit": format_usd(row.rate),
            "list_usd_per_unit": format_usd(list_rate),
            "discount_pct": format_usd(_discount_pct(cost, list_cost)),
            "rate_exact": row.rate is not None,
            "rate_status": row.status,
            "net_usd_per_unit_rounded": format_usd(_rounded_rate(row.cost_usd if known else None, row)),
            "list_usd_per_unit_rounded": format_usd(_rounded_rate(list_cost if known else None, row)),
            "first_seen": row.first_seen.isoformat(),
            "last_seen": row.last_seen.isoformat(),
            "days": len(row.days),
            "rate_changed": changed,
        }
    )
    return body


def _rounded_rate(amount: Decimal | None, row: _Row) -> Decimal | None:
    if amount is None or not row.units:
        return None
    return rounded_quotient(_per_price_unit(amount, row.unit), row.units, ROUNDED_PLACES)


def _discount_pct(cost: Decimal | None, list_cost: Decimal | None) -> Decimal | None:
    """100 × (list − net) / list: exact when that terminates, else rounded half-even to 4 decimal places."""
    if cost is None or not list_cost:
        return None
    with exact_arithmetic():
        gap = (list_cost - cost) * 100
    exact = exact_quotient(gap, list_cost)
    return exact if exact is not None else rounded_quotient(gap, list_cost, DISCOUNT_PLACES)
