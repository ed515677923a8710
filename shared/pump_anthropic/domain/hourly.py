"""Hourly cost: a day's billed cost per UTC hour, workspace and API key, from the analytics API's 1-hour buckets. Pure.

The sync reads yesterday's and today's hours (one `/cost` query, `time_bucket_width=1h`, grouped by workspace and API
key, not fanned out by cost type: a row is the hour's whole cost of that key). The hours of a day are stored as one
small document beside the day's own (`encode`/`decode`), with the hour up to which Anthropic had loaded the data when
they were read (`read_through`, from the page's `data_refreshed_at`). The next sync reads again only from that hour
less a margin (`reread_from`), keeps the earlier hours and merges the new ones in (`merge`): one page of rows for a
large organization instead of two days of them.

Anthropic rounds each row, so the hours of a (workspace, key) can sum a few millionths of a dollar away from the day's
billed lines of it: that rounding residue is put on the key's largest hour (`reconcile`), so the hours of a complete
day add up to its total to the last decimal. A larger gap is not rounding: either the two reads saw different data, as
today's may while Anthropic loads it (left; the next sync reads both again), or data arrived in an hour that was kept
(the caller then reads the whole day again). Whether `data_refreshed_at` means "nothing before it changes" no source
confirms; this check is what makes the stored hours right either way.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pump_anthropic.domain.analytics_days import NO_API_KEY, WHO_LINE_DIMENSIONS, who_lines
from pump_anthropic.domain.analytics_plan import AnalyticsQuery
from pump_anthropic.domain.calendar import day_start
from pump_anthropic.domain.normalize import CENTS_PER_DOLLAR
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.rollups import RollupLine

HOUR_DIMENSIONS = ("hour", "workspace_id", "api_key_id")
# The days read hour by hour on each sync: today and yesterday.
HOURLY_DAYS = 2
# Hours read again before the last read's watermark, for data that lands just behind it (setting HOURLY_REREAD_HOURS).
DEFAULT_REREAD_HOURS = 2
# Anthropic rounds each row's amount; a (workspace, key)'s hours may sum at most this much per hour away from its
# billed lines of the day and still be rounding.
ROUNDING_PER_ROW = Decimal("0.01") / CENTS_PER_DOLLAR
_WHO_KEY_AT = WHO_LINE_DIMENSIONS.index("api_key_id")
_WHO_WORKSPACE_AT = WHO_LINE_DIMENSIONS.index("workspace_id")


def hourly_query(start: datetime, last_day: date) -> AnalyticsQuery:
    """The one query of the hours from `start` through the end of `last_day`. It ends where the day query ends, not
    at our clock's hour: hours the API does not have yet come back empty, and a clock behind Anthropic's cannot leave
    out hours that the day's total already holds."""
    return AnalyticsQuery(
        starting_at=start,
        ending_at=day_start(last_day + timedelta(days=1)),
        time_bucket_width="1h",
        group_by=("workspace_id", "api_key_id"),
    )


def hour_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00:00Z")


def reread_from(days: list[date], stored: Mapping[date, DayHours], margin: timedelta) -> datetime:
    """The first hour the sync reads: from the first of `days` whose stored hours were read before its end was
    loaded, `margin` before the hour they were read through (not before that day's start); a day never read, or read
    without a watermark, from its start."""
    for day in days:
        held = stored.get(day)
        if held is None or held.read_through is None:
            return day_start(day)
        if held.read_through < day_start(day + timedelta(days=1)):
            return max(day_start(day), held.read_through - margin)
    return day_start(days[-1])


def read_through(refreshed: datetime | None, day: date) -> datetime | None:
    """The hour of `day` up to which its hours are loaded, from a read's `data_refreshed_at` (None: unknown)."""
    if refreshed is None:
        return None
    hour = refreshed.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return min(max(hour, day_start(day)), day_start(day + timedelta(days=1)))


def merge(kept: DayHours | None, read: list[RollupLine], start: datetime) -> list[RollupLine]:
    """A day's hours: those stored before `start` (not read again), then the ones just read from `start` on."""
    cut = hour_text(start)
    earlier = [line for line in kept.lines if line.dims[0] < cut] if kept is not None else []
    return sorted(earlier + read, key=lambda line: _order(line.dims))


def hour_lines(rows: Iterable[Any], default_workspace_id: str | None) -> dict[date, list[RollupLine]]:
    """The rows of an hourly `/cost` query as lines per day (the Default workspace as None, no key as `console`)."""
    lines: dict[date, dict[tuple, RollupLine]] = defaultdict(dict)
    for row in rows:
        workspace = row.group.workspace_id
        dims = (
            hour_text(row.starting_at),
            None if workspace is None or workspace == default_workspace_id else workspace,
            row.group.api_key_id or NO_API_KEY,
        )
        line = lines[row.starting_at.date()].get(dims)
        if line is None:
            line = lines[row.starting_at.date()][dims] = RollupLine(dims)
        line.add(row.cost.amount / CENTS_PER_DOLLAR, None, None, row.cost.list_amount / CENTS_PER_DOLLAR)
    return {day: [by_dims[d] for d in sorted(by_dims, key=_order)] for day, by_dims in lines.items()}


def _order(dims: tuple) -> tuple:
    return tuple((value is not None, value or "") for value in dims)


def reconcile(hours: list[RollupLine], who_rows: list[list]) -> set[tuple]:
    """Put each (workspace, key)'s rounding residue against the day's billed `WHO` lines on its largest hour (in
    place). Returns the (workspace, key) cells still off by more than rounding (see the module's docstring), a billed
    cell without any hour among them."""
    target: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for line in who_lines(who_rows):
        figures = target[(line.dims[_WHO_WORKSPACE_AT], line.dims[_WHO_KEY_AT])]
        figures[0] += line.cost_usd or 0
        figures[1] += line.list_cost_usd or 0
    members: dict[tuple, list[RollupLine]] = defaultdict(list)
    for line in hours:
        members[line.dims[1:]].append(line)
    off: set[tuple] = set()
    for cell, lines in members.items():
        want_cost, want_list = target.get(cell, (Decimal(0), Decimal(0)))
        cost_gap = want_cost - sum((line.cost_usd or 0 for line in lines), Decimal(0))
        list_gap = want_list - sum((line.list_cost_usd or 0 for line in lines), Decimal(0))
        bound = ROUNDING_PER_ROW * len(lines)
        if (cost_gap or list_gap) and abs(cost_gap) <= bound and abs(list_gap) <= bound:
            largest = max(lines, key=lambda line: (abs(line.cost_usd or 0), _order(line.dims)))
            largest.add(cost_gap, None, None, list_gap)
        elif cost_gap or list_gap:
            off.add(cell)
    return off | {cell for cell, (cost, list_cost) in target.items() if (cost or list_cost) and cell not in members}


@dataclass(frozen=True)
class DayHours:
    """A day's stored hours as read back: its lines, the hour Anthropic had loaded them through (None: unknown) and
    the digest they are stored under."""

    day: date
    lines: list[RollupLine]
    read_through: datetime | None
    digest: str


@dataclass(frozen=True)
class StoredHours:
    """A day's hours as stored: one compressed document and the digest of its content (unchanged: not rewritten)."""

    day: date
    digest: str
    body: bytes


def encode(day: date, lines: Iterable[RollupLine], read_through: datetime | None = None) -> StoredHours:
    document: dict[str, Any] = {"hours": [line.to_json() for line in lines]}
    if read_through is not None:
        document["read_through"] = hour_text(read_through)
    canonical = json.dumps(document, separators=(",", ":")).encode()
    return StoredHours(day, hashlib.sha256(canonical).hexdigest()[:32], zlib.compress(canonical, 6))


def decode(day: date, document: Mapping[str, Any], digest: str) -> DayHours:
    lines = [RollupLine.from_json(raw, len(HOUR_DIMENSIONS)) for raw in document.get("hours", [])]
    through = document.get("read_through")
    return DayHours(day, lines, datetime.fromisoformat(through) if through else None, digest)


def rollup(day: date, connection_id: str, document: Mapping[str, list]) -> StoredRollup:
    """A decoded day of hours as the report's rollup lines (cost only: the hourly query reads no token counts)."""
    lines = [RollupLine.from_json(raw, len(HOUR_DIMENSIONS)) for raw in document.get("hours", [])]
    return StoredRollup(day, connection_id, HOUR_DIMENSIONS, lines, source="analytics", tokens_known=False)
