"""A month of one connection folded into one summary, so a read of a long range costs a few months, not every day.

The summary holds, for the days it was built from (each named with its stored digest and source):
- `cost`: the days' cost lines (`rollups.LINE_DIMENSIONS`) folded across the month, per source;
- `who`: the days' per-key lines (legacy: `KEY_LINE_DIMENSIONS`; analytics: the billed `WHO_LINE_DIMENSIONS`) folded
  the same way, and the actors they name;
- `daily`: each day's cost total, for reports grouped by date (and month) only.

Beside it, the month's `grains` (stored apart, so a read decodes only them): the same lines folded again by each
single dimension a report groups by (`COST_GRAINS`, `WHO_GRAINS`) and by none, so a one-dimension read of a year
folds a few hundred lines a month instead of every summary line. A read asks for the dimensions it keeps
(`with_dimensions`); the days it reads one by one (a range's partial months, reports by date) are folded straight
from their stored rows onto those dimensions too (`day_rollup`), without building a line per stored row.

Lines fold only with lines of the same source, dimensions and list-price presence, so a report summed from the
summary equals, to the last decimal, the report summed from the days (sums of exact decimals are associative, and a
line without a list price still says so). A summary is used only when its day digests equal the stored days' digests:
whatever order writes land in, a stale summary is never read. Pure: values in, values out.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import itemgetter

from pump_anthropic.domain import analytics_days, day_docs
from pump_anthropic.domain.day_docs import ANALYTICS, decode_day
from pump_anthropic.domain.normalize import UNIT_REQUESTS, UNIT_TOKENS
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.rollups import KEY_LINE_DIMENSIONS, LINE_DIMENSIONS, RollupLine

FORMAT = 1
GRAINS_FORMAT = 1
COST_GRAINS = ((), *((d,) for d in LINE_DIMENSIONS))
WHO_GRAINS = (("api_key_id",), ("actor",), ("product",))
COMPRESSION_LEVEL = 6

# What a read needs of each stored day, finest first.
GRAIN_LINES = "lines"  # every day's lines (reports grouped by date and another dimension)
GRAIN_DAY_TOTALS = "day_totals"  # each day's total (reports grouped by date or month only)
GRAIN_MONTH = "month"  # lines folded over whole months (reports not grouped by date)
# What the report keeps of a line, after a grain: `month|model` (whole months by model), `lines|workspace_id,model`.
KEEP = "|"


def who_dimensions(source: str) -> tuple[str, ...]:
    return analytics_days.WHO_LINE_DIMENSIONS if source == ANALYTICS else KEY_LINE_DIMENSIONS


@dataclass
class _Fold:
    """Lines folded by (source, dimensions, whether the line has a list price)."""

    lines: dict[tuple, RollupLine] = field(default_factory=dict)

    def add(self, source: str, line: RollupLine) -> None:
        key = (source, line.dims, line.list_cost_usd is None)
        folded = self.lines.get(key)
        if folded is None:
            folded = self.lines[key] = RollupLine(line.dims)
        folded.absorb(line)

    def rows(self) -> list[list]:
        return [[source, *line.to_json()] for (source, _, _), line in sorted(self.lines.items(), key=_order)]


def _order(entry: tuple) -> tuple:
    (source, dims, no_list), _ = entry
    return (source, tuple((v is not None, v or "") for v in dims), no_list)


@dataclass(frozen=True)
class SummaryDay:
    """One stored day as the summary needs it: its digest, and its rollups both ways (as the report reads them)."""

    day: date
    digest: str
    source: str
    cost: StoredRollup
    who: StoredRollup


def summarize(days: Iterable[SummaryDay]) -> dict:
    """The summary of the given days (one month of one connection)."""
    cost, who, daily = _Fold(), _Fold(), []
    actors: dict[str, list] = {}
    stamps = []
    for day in sorted(days, key=lambda d: d.day):
        stamps.append([day.day.isoformat(), day.digest, day.source])
        total = _Fold()
        for line in day.cost.lines:
            cost.add(day.source, line)
            total.add(day.source, RollupLine((), line.cost_usd, line.tokens, line.requests, line.unpriced_tokens,
                                             line.unpriced_requests, line.list_cost_usd))  # fmt: skip
        daily += [[day.day.isoformat(), *row] for row in total.rows()]
        for line in day.who.lines:
            who.add(day.source, line)
        actors.update(day.who.actors)
    return {
        "format": FORMAT,
        "days": stamps,
        "cost": cost.rows(),
        "who": who.rows(),
        "actors": [actors[k] for k in sorted(actors)],
        "daily": daily,
    }


def encode(summary: dict) -> bytes:
    return zlib.compress(json.dumps(summary, separators=(",", ":")).encode(), COMPRESSION_LEVEL)


def decode(body: bytes) -> dict:
    return decode_day([body])  # the same bounded inflate as a day's document


def is_current(summary: dict | None, stored_digests: Mapping[date, str], *, format_: int = FORMAT) -> bool:
    """Whether the summary (or its grains, `format_=GRAINS_FORMAT`) was built from exactly the days stored now (same
    days, same digests)."""
    if summary is None or summary.get("format") != format_:
        return False
    return {date.fromisoformat(d): digest for d, digest, _ in summary["days"]} == dict(stored_digests)


def rollups(
    summary: dict,
    month_first_day: date,
    connection_id: str,
    *,
    grain: str,
    who: bool,
    wanted: tuple[str, ...] | None = None,
) -> list[StoredRollup]:
    """The summary as the report's rollups: per source, one rollup dated the month's first day covering the source's
    days (GRAIN_MONTH; its lines folded onto the `wanted` dimensions when given), or one rollup per day holding its
    total (GRAIN_DAY_TOTALS)."""
    days_by_source: dict[str, list[date]] = {}
    for day, _digest, source in summary["days"]:
        days_by_source.setdefault(source, []).append(date.fromisoformat(day))
    if grain == GRAIN_DAY_TOTALS:
        source_of = {date.fromisoformat(d): s for d, _, s in summary["days"]}
        by_day: dict[date, list[RollupLine]] = {}
        for day, _source, *raw in summary["daily"]:
            by_day.setdefault(date.fromisoformat(day), []).append(RollupLine.from_json(raw, 0))
        return [
            StoredRollup(day, connection_id, (), by_day.get(day, []), source=source)
            for day, source in sorted(source_of.items())
        ]
    actors = {row[0]: row for row in summary["actors"]} if who else {}
    out = []
    for source, days in sorted(days_by_source.items()):
        dimensions = who_dimensions(source) if who else LINE_DIMENSIONS
        rows = [raw for line_source, *raw in summary["who" if who else "cost"] if line_source == source]
        kept = kept_dimensions(wanted, dimensions, source)
        if kept is None:
            lines = [RollupLine.from_json(raw, len(dimensions)) for raw in rows]
        else:
            lines = fold_rows(rows, len(dimensions), _positions(kept, dimensions))
        out.append(
            StoredRollup(
                month_first_day,
                connection_id,
                dimensions if kept is None else kept,
                lines,
                source=source,
                actors=actors if who and source == ANALYTICS else {},
                tokens_known=not (who and source == ANALYTICS),
                days=tuple(days),
            )
        )
    return out


# ---------------------------------------------------------------- grains: lines folded onto the dimensions a read keeps


def read_dimensions(group_by: Iterable[str]) -> tuple[str, ...]:
    """The line dimensions a report grouped by `group_by` keeps (date and month come from the rollup's day; a model
    id is the model dimension)."""
    return tuple(sorted({"model" if d == "model_id" else d for d in group_by} - {"date", "month"}))


def with_dimensions(grain: str, dimensions: Iterable[str]) -> str:
    """`grain`, with lines that need keep only `dimensions` (read_dimensions of the report's group_by)."""
    return f"{grain}{KEEP}{','.join(dimensions)}"


def split_grain(grain: str) -> tuple[str, tuple[str, ...] | None]:
    """(base grain, the dimensions its lines keep, or None: every dimension)."""
    base, keep, kept = grain.partition(KEEP)
    return base, (tuple(kept.split(",")) if kept else ()) if keep else None


def kept_dimensions(wanted: Iterable[str] | None, dimensions: tuple[str, ...], source: str) -> tuple[str, ...] | None:
    """The dimensions a source's lines keep for a read wanting `wanted`, in the lines' order; None: all of them (no
    `wanted`, or an analytics line lacking one of them, which the report then refuses as it always has)."""
    if wanted is None:
        return None
    wanted = set(wanted)
    if source == ANALYTICS and not wanted <= set(dimensions):
        return None
    return tuple(d for d in dimensions if d in wanted)


def _positions(kept: tuple[str, ...], dimensions: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(dimensions.index(d) for d in kept)


def _picker(positions: tuple[int, ...]):
    if not positions:
        return lambda _row: ()
    if len(positions) == 1:
        at = positions[0]
        return lambda row: (row[at],)
    return itemgetter(*positions)


def _lines(folded: dict[tuple, list]) -> list[RollupLine]:
    """Accumulated figures as lines: amounts summed exactly once per line, from their stored text."""
    return [
        RollupLine(dims, None if no_cost else _sum(costs), *counts, None if no_list else _sum(listed))
        for (dims, no_cost, no_list), (costs, listed, *counts) in folded.items()
    ]


def _sum(amounts: list) -> Decimal:
    return sum(map(Decimal, amounts), Decimal(0))


def fold_rows(rows: Iterable[list], width: int, positions: tuple[int, ...]) -> list[RollupLine]:
    """Lines in their stored form (`width` dimensions, then cost, tokens, requests, unpriced tokens and requests, and
    the list cost when there is one) folded onto the dimensions at `positions`. Lines fold only with lines of the same
    presence of cost and of list cost, so every figure the report sums (and whether it is known) stays exact."""
    pick, folded = _picker(positions), {}
    for row in rows:
        cost, listed = row[width], row[width + 5] if len(row) > width + 5 else None
        key = (pick(row), cost is None, listed is None)
        entry = folded.get(key)
        if entry is None:
            entry = folded[key] = [[], [], 0, 0, 0, 0]
        if cost is not None:
            entry[0].append(cost)
        if listed is not None:
            entry[1].append(listed)
        entry[2] += row[width + 1]
        entry[3] += row[width + 2]
        entry[4] += row[width + 3]
        entry[5] += row[width + 4]
    return _lines(folded)


_ITEM_DIMS = itemgetter(0, 1, 2, 3, 4, 5)  # a stored LINES row's dimensions before speed (day_docs.item_row)


def fold_item_rows(rows: Iterable[list], kept: tuple[str, ...]) -> list[RollupLine]:
    """A day's stored LINES rows (day_docs.item_row) as day_docs.cost_lines folds them (by every LINE_DIMENSIONS),
    then folded onto the dimensions `kept`, without a line object per row."""
    lines: dict[tuple, list] = {}
    for row in rows:
        extended = len(row) > 13
        key = (_ITEM_DIMS(row), row[14] if extended else None)
        entry = lines.get(key)
        if entry is None:
            entry = lines[key] = [[], [], 0, 0, 0, 0]
        cost, unit, quantity = row[7], row[10], row[9] or 0
        if cost is not None:
            entry[0].append(cost)
        if extended and row[13] is not None:
            entry[1].append(row[13])
        if unit == UNIT_TOKENS:
            entry[2] += quantity
            if cost is None:
                entry[4] += quantity
        elif unit == UNIT_REQUESTS:
            entry[3] += quantity
            if cost is None:
                entry[5] += quantity
    pick, folded = _picker(_positions(kept, LINE_DIMENSIONS)), {}
    for (dims, speed), (costs, listed, *counts) in lines.items():
        key = (pick((*dims, speed)), not costs, not listed)
        entry = folded.get(key)
        if entry is None:
            folded[key] = [costs, listed, *counts]
            continue
        entry[0] += costs
        entry[1] += listed
        for n, count in enumerate(counts, 2):
            entry[n] += count
    return _lines(folded)


def day_rollup(
    day: date, connection_id: str, projections: dict, *, who: bool, wanted: tuple[str, ...] | None
) -> StoredRollup:
    """A stored day as the report's rollup (day_docs.rollup_of), its lines folded onto the `wanted` dimensions."""
    source, _ = day_docs.source_of(projections)
    dimensions = who_dimensions(source) if who else LINE_DIMENSIONS
    kept = kept_dimensions(wanted, dimensions, source)
    if kept is None:
        return day_docs.rollup_of(day, connection_id, projections, who=who)
    if not who:
        lines = fold_item_rows(projections.get(day_docs.LINES, []), kept)
        return StoredRollup(day, connection_id, kept, lines, source=source)
    positions = _positions(kept, dimensions)
    if source != ANALYTICS:
        lines = fold_rows(day_docs.projection(projections, day_docs.KEYS), len(dimensions), positions)
        return StoredRollup(day, connection_id, kept, lines, source=source)
    lines = fold_rows(day_docs.projection(projections, analytics_days.WHO_LINES), len(dimensions), positions)
    # The actors describe actor rows only: parsed when the read keeps them.
    actors = {}
    if "actor" in kept:
        actors = analytics_days.actors_by_key(day_docs.projection(projections, analytics_days.ACTORS))
    return StoredRollup(day, connection_id, kept, lines, source=source, actors=actors, tokens_known=False)


def _grain_key(who: bool, wanted: Iterable[str]) -> str:
    return f"{'who' if who else 'cost'}{KEEP}{','.join(sorted(wanted))}"


def grains_of(summary: dict) -> dict:
    """The month's grains: its summary's lines folded again by each of COST_GRAINS and WHO_GRAINS, per source, and its
    days' totals (so a read by date decodes these, not the whole summary)."""
    lines: dict[str, list] = {}
    for who, grains in ((False, COST_GRAINS), (True, WHO_GRAINS)):
        by_source: dict[str, list] = {}
        for source, *raw in summary["who" if who else "cost"]:
            by_source.setdefault(source, []).append(raw)
        for grain in grains:
            rows = []
            for source, raw in sorted(by_source.items()):
                dimensions = who_dimensions(source) if who else LINE_DIMENSIONS
                kept = kept_dimensions(grain, dimensions, source)
                folded = fold_rows(raw, len(dimensions), _positions(kept, dimensions))
                rows += [[source, *line.to_json()] for line in sorted(folded, key=_line_order)]
            lines[_grain_key(who, grain)] = rows
    return {
        "format": GRAINS_FORMAT,
        "days": summary["days"],
        "actors": summary["actors"],
        "lines": lines,
        "daily": summary["daily"],
    }


def _line_order(line: RollupLine) -> tuple:
    return (tuple((v is not None, v or "") for v in line.dims), line.cost_usd is None, line.list_cost_usd is None)


def grain_rollups(
    grains: dict, month_first_day: date, connection_id: str, *, who: bool, wanted: tuple[str, ...]
) -> list[StoredRollup] | None:
    """The month's rollups from its grains, for a read keeping `wanted` (GRAIN_MONTH); None when no grain holds
    them (the read folds the summary instead)."""
    rows = grains["lines"].get(_grain_key(who, wanted))
    if rows is None:
        return None
    days_by_source: dict[str, list[date]] = {}
    for day, _digest, source in grains["days"]:
        days_by_source.setdefault(source, []).append(date.fromisoformat(day))
    actors = {row[0]: row for row in grains["actors"]} if who else {}
    out = []
    for source, days in sorted(days_by_source.items()):
        kept = kept_dimensions(wanted, who_dimensions(source) if who else LINE_DIMENSIONS, source)
        if kept is None:
            return None
        analytics_who = who and source == ANALYTICS
        lines = [RollupLine.from_json(raw, len(kept)) for line_source, *raw in rows if line_source == source]
        out.append(
            StoredRollup(month_first_day, connection_id, kept, lines, source=source,
                         actors=actors if analytics_who else {}, tokens_known=not analytics_who, days=tuple(days))
        )  # fmt: skip
    return out
