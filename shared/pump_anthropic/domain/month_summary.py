"""A month of one connection folded into one summary, so a read of a long range costs a few months, not every day.

The summary holds, for the days it was built from (each named with its stored digest and source):
- `cost`: the days' cost lines (`rollups.LINE_DIMENSIONS`) folded across the month, per source;
- `who`: the days' per-key lines (legacy: `KEY_LINE_DIMENSIONS`; analytics: the billed `WHO_LINE_DIMENSIONS`) folded
  the same way, and the actors they name;
- `daily`: each day's cost total, for reports grouped by date (and month) only.

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

from pump_anthropic.domain import analytics_days
from pump_anthropic.domain.day_docs import ANALYTICS, decode_day
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.rollups import KEY_LINE_DIMENSIONS, LINE_DIMENSIONS, RollupLine

FORMAT = 1
COMPRESSION_LEVEL = 6

# What a read needs of each stored day, finest first.
GRAIN_LINES = "lines"  # every day's lines (reports grouped by date and another dimension)
GRAIN_DAY_TOTALS = "day_totals"  # each day's total (reports grouped by date or month only)
GRAIN_MONTH = "month"  # lines folded over whole months (reports not grouped by date)


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


def is_current(summary: dict | None, stored_digests: Mapping[date, str]) -> bool:
    """Whether the summary was built from exactly the days stored now (same days, same digests)."""
    if summary is None or summary.get("format") != FORMAT:
        return False
    return {date.fromisoformat(d): digest for d, digest, _ in summary["days"]} == dict(stored_digests)


def rollups(summary: dict, month_first_day: date, connection_id: str, *, grain: str, who: bool) -> list[StoredRollup]:
    """The summary as the report's rollups: per source, one rollup dated the month's first day covering the source's
    days (GRAIN_MONTH), or one rollup per day holding its total (GRAIN_DAY_TOTALS)."""
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
        lines = [
            RollupLine.from_json(raw, len(dimensions))
            for line_source, *raw in summary["who" if who else "cost"]
            if line_source == source
        ]
        out.append(
            StoredRollup(
                month_first_day,
                connection_id,
                dimensions,
                lines,
                source=source,
                actors=actors if who and source == ANALYTICS else {},
                tokens_known=not (who and source == ANALYTICS),
                days=tuple(days),
            )
        )
    return out
