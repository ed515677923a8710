"""The spend guard's daily spend per scope, from a connection's stored days in one pass over each. Pure.

Each stored day document is folded once into a `SpendDay`: every scope's spend that day as the cost report sums it
(API key, person and product from the per-key lines, `WHO` on days from the analytics API and `KEYS` on legacy
days; workspace from the cost lines, `LINES`), the actors the day names, and the price-change rule's lines of the
day (domain/price_alerts.py). A spend day names the digest of the day document it was folded from, so a stored one
is used only while the day it came from is unchanged (dal/guard.py keeps them in the connection's partition).

`SpendSeries` puts the days of a range together as the rules read them: each scope's spend per UTC day. Its
figures are the cost report's own for the same scope, days and connection (`GET /costs` grouped by date and the
scope's dimension), to the last decimal: each (scope, day) is the exact sum of the same lines, written as the
report writes it. Amounts are kept as decimal strings, never floats.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pump_anthropic.domain import day_docs, price_alerts, report
from pump_anthropic.domain.alerts import Scope, ScopeSpend
from pump_anthropic.domain.analytics_days import ACTORS, WHO_LINES
from pump_anthropic.domain.budgets import BudgetScope

# What a spend day keeps per scope type (the organization is the sum of the workspaces).
SCOPE_TYPES = ("api_key", "workspace", "actor", "product")
# Bumped whenever what a spend day holds changes: a stored day of another format is folded again.
FORMAT = 1
ZERO = Decimal(0)
_ORGANIZATION = Scope("organization", None, None)


@dataclass(frozen=True)
class SpendDay:
    """One stored day of one connection, folded for the guard."""

    day: date
    digest: str  # the digest of the day document it was folded from
    spend: Mapping[str, Mapping[str | None, str]]  # scope type → the report's group value → its cost, as the report
    actors: Mapping[str, list]  # the day's ACTORS entries, by actor key
    rates: Mapping[tuple, price_alerts.DayLine]  # the price rule's lines of the day


def fold_day(day: date, digest: str, projections: dict) -> SpendDay:
    """One pass over a stored day's lines for every scope type and the price rule."""
    sums: dict[str, dict[str | None, Decimal]] = {t: {} for t in SCOPE_TYPES}
    keys, actors, products, workspaces = sums["api_key"], sums["actor"], sums["product"], sums["workspace"]
    source, _ = day_docs.source_of(projections)
    if source == day_docs.ANALYTICS:
        for row in day_docs.projection(projections, WHO_LINES):
            cost = row[7]  # after the 7 WHO dimensions (analytics_days.WHO_LINE_DIMENSIONS)
            amount = ZERO if cost is None else Decimal(cost)
            _add(keys, row[0], amount)
            _add(actors, row[1], amount)
            _add(products, row[2], amount)
        found_actors = {row[0]: row for row in day_docs.projection(projections, ACTORS)}
    else:
        for row in day_docs.projection(projections, day_docs.KEYS):
            cost = row[len(row) - 5]  # a stored rollup line: its dimensions, then 5 figures (RollupLine.from_json)
            amount = ZERO if cost is None else Decimal(cost)
            _add(keys, row[0], amount)
            _add(products, report.UNKNOWN, amount)  # the legacy reports don't say (report.ANALYTICS_ONLY_DIMENSIONS)
        found_actors = {}
    rows = projections.get(day_docs.LINES) or []
    for row in rows:
        _add(workspaces, row[0], ZERO if row[7] is None else Decimal(row[7]))
    rates = price_alerts.daily_lines(day_docs.item_of(day, row) for row in rows)
    return SpendDay(
        day=day,
        digest=digest,
        spend={t: {k: report.format_usd(v) for k, v in found.items()} for t, found in sums.items()},
        actors=found_actors,
        rates={key: by_day[day] for key, by_day in rates.items()},
    )


def _add(sums: dict[str | None, Decimal], key: str | None, amount: Decimal) -> None:
    sums[key] = sums.get(key, ZERO) + amount


def encode(spend_day: SpendDay) -> bytes:
    document = {
        "format": FORMAT,
        "day": spend_day.day.isoformat(),
        "digest": spend_day.digest,
        "spend": {t: [[k, v] for k, v in found.items()] for t, found in spend_day.spend.items()},
        "actors": list(spend_day.actors.values()),
        "rates": [
            [*key, None if line.cost_usd is None else str(line.cost_usd), line.units]
            for key, line in spend_day.rates.items()
        ],
    }
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)


def decode(body: bytes) -> SpendDay | None:
    """A stored spend day; None when it is of another format (it is folded again)."""
    document = json.loads(zlib.decompress(body))
    if document.get("format") != FORMAT:
        return None
    return SpendDay(
        day=date.fromisoformat(document["day"]),
        digest=document["digest"],
        spend={t: dict(pairs) for t, pairs in document["spend"].items()},
        actors={entry[0]: entry for entry in document["actors"]},
        rates={
            tuple(row[:-2]): price_alerts.DayLine(row[-3], None if row[-2] is None else Decimal(row[-2]), row[-1])
            for row in document["rates"]
        },
    )


class SpendSeries:
    """A connection's daily spend per scope over its spend days, named as the cost report names each scope."""

    def __init__(
        self,
        days: Iterable[SpendDay],
        key_names: Mapping[str, Mapping[str, str | None]],
        workspace_names: Mapping[str, str],
    ) -> None:
        self.days = sorted(days, key=lambda d: d.day)
        self._key_names, self._workspace_names = key_names, workspace_names
        self._by_type: dict[str, list[ScopeSpend]] = {}

    def of(self, scope_type: str) -> list[ScopeSpend]:
        """Every scope of the type with spend lines in the range, in the order the report's rows first name them."""
        if scope_type not in self._by_type:
            if scope_type == "organization":
                # The workspaces' rows add up to the total exactly (every row has a workspace, the Default one's null).
                self._by_type[scope_type] = [_total(self.of("workspace"))]
            else:
                self._by_type[scope_type] = self._scopes(scope_type)
        return self._by_type[scope_type]

    def daily(self, scope: BudgetScope) -> Mapping[date, Decimal]:
        found = self._find(scope)
        return found.daily if found else {}

    def name(self, scope: BudgetScope) -> str | None:
        found = self._find(scope)
        return found.scope.name if found else None

    def rate_lines(self, first: date, last: date) -> dict[tuple, dict[date, price_alerts.DayLine]]:
        """The price rule's lines of the days [first, last] (as `price_alerts.daily_lines` gives them)."""
        lines: dict[tuple, dict[date, price_alerts.DayLine]] = {}
        for spend_day in self.days:
            if first <= spend_day.day <= last:
                for key, line in spend_day.rates.items():
                    lines.setdefault(key, {})[spend_day.day] = line
        return lines

    def _find(self, scope: BudgetScope) -> ScopeSpend | None:
        return next((s for s in self.of(scope.type) if s.scope.id == scope.id), None)

    def _scopes(self, scope_type: str) -> list[ScopeSpend]:
        actors: dict[str, list] = {}
        if scope_type == "actor":
            for spend_day in self.days:  # the latest day's description of each actor, as the report's
                actors.update(spend_day.actors)
        by_scope: dict[str | None, dict[date, Decimal]] = {}
        names: dict[str | None, str | None] = {}
        for spend_day in self.days:
            found = spend_day.spend.get(scope_type, {})
            for key in sorted(found, key=lambda k: report.order_key((k,))):
                if scope_type == "actor" and key in (None, report.UNKNOWN):
                    continue  # no person to watch: spend without an actor, or one the analytics API doesn't name
                scope_id, name = self._identity(scope_type, key, actors)
                daily = by_scope.setdefault(scope_id, {})
                daily[spend_day.day] = daily.get(spend_day.day, ZERO) + Decimal(found[key])
                names[scope_id] = name or names.get(scope_id)
        return [ScopeSpend(Scope(scope_type, i, names.get(i)), daily) for i, daily in by_scope.items()]

    def _identity(self, scope_type: str, key: str | None, actors: Mapping[str, list]) -> tuple[str | None, str | None]:
        """(scope id, name) of a report row's group value, as the report's row names them."""
        if scope_type == "api_key":
            return key, report.api_key_label(key or "", self._key_names)[0]
        if scope_type == "workspace":
            return key, report.DEFAULT_WORKSPACE_NAME if key is None else self._workspace_names.get(key, key)
        if scope_type == "actor":
            _, actor_type, actor_id, name, email, _ = actors.get(key or "") or [key, None, key, None, None, None]
            if actor_type == "api_actor" and name is None:
                name = (self._key_names.get(actor_id or "") or {}).get("name")
            return actor_id, name or email
        return key, None


def _total(spend: Sequence[ScopeSpend]) -> ScopeSpend:
    daily: dict[date, Decimal] = {}
    for each in spend:
        for day, amount in each.daily.items():
            daily[day] = daily.get(day, ZERO) + amount
    return ScopeSpend(_ORGANIZATION, daily)
