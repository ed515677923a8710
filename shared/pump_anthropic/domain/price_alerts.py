"""The `price_change` alert: a line's effective rate on a day differs from its established rate beyond rounding. Pure.

A line is the rate card's (`rates.RATE_DIMENSIONS`: model, cost type, token type, service tier, context window,
inference geo, speed) summed over a connection's workspaces; its rate on a day is the billed cost per unit (per 1M
tokens, per request). The bill's lines may blend prices (the analytics API reports no inference geo, so a line of a
model priced per geo mixes its geos, and its cost per token moves with the mix), so a day is compared only where the
line's rate is a single price:
- exact: cost / units terminates (`rates.exact_quotient`), which a blend of two prices rarely does;
- meaningful: at least `MIN_UNITS` tokens (requests) that day, so a handful of tokens can't make a rate;
- established: the line's two previous meaningful days (within `LOOKBACK_DAYS`) had the very same exact rate, which
  a single price gives and a blend all but never does. On legacy days the geo is part of the line.
- clear of the geo mix: on days without the inference geo (the analytics API's), a token line's rate can swing
  between its global price and the US-only one (1.1×) as the day's traffic moves between geos, whole days at a time,
  so such a line's change counts only past that band (below r0 / 1.1 or above r0 × 1.1).
Beyond rounding: the bill's precision is the cent, so each day's amount may be half a cent from the unrounded one,
and a day's rate r1 = c1/n1 differs from the established r0 = c0/n0 only when |r1 − r0| > ½¢/n1 + ½¢/n0 (compared
exactly, cross-multiplied).
The change alerts on its day only: the day after, the two previous days differ, so nothing is established until the
new rate has held for two days. Each alert's id names (connection, line, day), so it is raised once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from pump_anthropic.domain import report
from pump_anthropic.domain.alerts import Alert, Scope, make_alert
from pump_anthropic.domain.normalize import UNIT_REQUESTS, UNIT_TOKENS, CostItem
from pump_anthropic.domain.rates import (
    RATE_DIMENSIONS,
    TOKENS_PER_PRICE_UNIT,
    exact_arithmetic,
    exact_quotient,
    group_values,
    plus,
    unit_of,
)

KIND = "price_change"
MIN_UNITS = {UNIT_TOKENS: 100_000, UNIT_REQUESTS: 100}
LOOKBACK_DAYS = 7
# Half a cent, in dollars: how far rounding the bill to the cent may move a day's amount.
HALF_CENT_USD = Decimal("0.005")
PER = {UNIT_TOKENS: "per MTok", UNIT_REQUESTS: "per request"}
# The US-only inference premium: what a token line without its geo may move by from one day's geo mix to another's.
GEO_PREMIUM = Decimal("1.1")


@dataclass
class DayLine:
    """One line's cost and units on one day (units None: not all of its items said how many)."""

    unit: str
    cost_usd: Decimal | None = Decimal(0)
    units: int | None = 0

    def add(self, item: CostItem) -> None:
        self.cost_usd = plus(self.cost_usd, item.cost_usd)
        self.units = None if self.units is None or item.quantity is None else self.units + item.quantity

    @property
    def rate(self) -> Decimal | None:
        """The exact rate per price unit (1M tokens, one request) when the day's line is meaningful, else None."""
        if self.cost_usd is None or self.units is None or self.units < MIN_UNITS[self.unit]:
            return None
        scale = TOKENS_PER_PRICE_UNIT if self.unit == UNIT_TOKENS else 1
        with exact_arithmetic():
            per_unit = self.cost_usd * scale
        return exact_quotient(per_unit, self.units)


def daily_lines(items: Iterable[CostItem]) -> dict[tuple, dict[date, DayLine]]:
    """Each line's days, summed over workspaces (lines without a unit, as code execution, are left out)."""
    lines: dict[tuple, dict[date, DayLine]] = defaultdict(dict)
    for item in items:
        unit = unit_of(item)
        if unit not in MIN_UNITS:
            continue
        key = (*group_values(item, RATE_DIMENSIONS), unit)
        day = lines[key].get(item.date)
        if day is None:
            day = lines[key][item.date] = DayLine(unit)
        day.add(item)
    return lines


def beyond_rounding(new: DayLine, old: DayLine) -> bool:
    """|c1/n1 − c0/n0| > ½¢/n1 + ½¢/n0, multiplied through by n1·n0 so it stays exact."""
    assert new.cost_usd is not None and old.cost_usd is not None and new.units and old.units
    with exact_arithmetic():
        gap = abs(new.cost_usd * old.units - old.cost_usd * new.units)
        return gap > HALF_CENT_USD * (old.units + new.units)


def _above(a: DayLine, b: DayLine) -> bool:
    """a's rate > b's, exactly."""
    assert a.cost_usd is not None and b.cost_usd is not None and a.units and b.units
    with exact_arithmetic():
        return a.cost_usd * b.units > b.cost_usd * a.units


def _times(day: DayLine, factor: Decimal) -> DayLine:
    assert day.cost_usd is not None
    with exact_arithmetic():
        return DayLine(day.unit, day.cost_usd * factor, day.units)


def changed(new: DayLine, old: DayLine, blends_geos: bool) -> bool:
    """Whether `new`'s rate is a price change from `old`'s: beyond rounding, and past the geo band when the line may
    blend geos."""
    if not beyond_rounding(new, old):
        return False
    if not blends_geos:
        return True
    up, down = _times(old, GEO_PREMIUM), _times(new, GEO_PREMIUM)
    return (_above(new, up) and beyond_rounding(new, up)) or (_above(old, down) and beyond_rounding(down, old))


def price_changes(
    connection_id: str, items: Iterable[CostItem], first_day: date, last_day: date, detected_at: str
) -> list[Alert]:
    """The `price_change` alerts of the days [first_day, last_day] (`items` reaching `LOOKBACK_DAYS` further back)."""
    return changes_of(connection_id, daily_lines(items), first_day, last_day, detected_at)


def changes_of(
    connection_id: str, lines: Mapping[tuple, Mapping[date, DayLine]], first_day: date, last_day: date,
    detected_at: str,
) -> list[Alert]:  # fmt: skip
    """`price_changes` of each line's days as `daily_lines` gives them (e.g. kept day by day by the spend guard)."""
    found = []
    for key, days in lines.items():
        meaningful = sorted((d, line) for d, line in days.items() if line.rate is not None)
        for index, (day, line) in enumerate(meaningful):
            if not first_day <= day <= last_day or index < 2:
                continue
            (before, older), (previous, last) = meaningful[index - 2], meaningful[index - 1]
            if before < day - timedelta(days=LOOKBACK_DAYS) or older.rate != last.rate:
                continue
            values = dict(zip(RATE_DIMENSIONS, key, strict=False))
            blends_geos = values["inference_geo"] is None and values["cost_type"] == "tokens"
            if changed(line, last, blends_geos):
                found.append(_alert(connection_id, key, day, line, previous, last, detected_at))
    return found


def _alert(
    connection_id: str, key: tuple, day: date, line: DayLine, previous: date, last: DayLine, detected_at: str
) -> Alert:
    values = dict(zip((*RATE_DIMENSIONS, "unit"), key, strict=True))
    model = values["model"]
    what = ", ".join(str(values[d]) for d in RATE_DIMENSIONS[1:] if values[d] is not None)
    per = PER[line.unit]
    new, old = line.rate, last.rate
    assert new is not None and old is not None
    message = (
        f"The price of {model or 'unknown model'} ({what}) changed on {day.isoformat()}: "
        f"${report.format_usd(new)} {per}, against ${report.format_usd(old)} {per} on {previous.isoformat()}."
    )
    scope = Scope("model", model, what or None)
    window = (day.isoformat(), day.isoformat())
    extra = "|".join(str(v) for v in key)
    return make_alert(KIND, connection_id, scope, detected_at, window, new, old, message, extra=extra)
