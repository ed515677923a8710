"""Hourly cost: a day's billed cost per UTC hour, workspace and API key, from the analytics API's 1-hour buckets. Pure.

The sync reads yesterday's and today's hours on every run (one `/cost` query, `time_bucket_width=1h`, grouped by
workspace and API key, not fanned out by cost type: a row is the hour's whole cost of that key). The hours of a day
are stored as one small document beside the day's own (`encode`/`decode`). Anthropic rounds each row, so the hours of
a (workspace, key) can sum a few millionths of a dollar away from the day's billed lines of it: that rounding residue
is put on the key's largest hour (`reconcile`), so the hours of a complete day add up to its total to the last
decimal. A larger gap is not rounding (the two reads saw different data, as today's may while Anthropic loads it):
it is left, and the next sync reads both again.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
# Anthropic rounds each row's amount; a (workspace, key)'s hours may sum at most this much per hour away from its
# billed lines of the day and still be rounding.
ROUNDING_PER_ROW = Decimal("0.01") / CENTS_PER_DOLLAR
_WHO_KEY_AT = WHO_LINE_DIMENSIONS.index("api_key_id")
_WHO_WORKSPACE_AT = WHO_LINE_DIMENSIONS.index("workspace_id")


def hourly_query(first_day: date, now: datetime) -> AnalyticsQuery:
    """The one query of the hours from `first_day` through the hour `now` is in."""
    hour_after = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return AnalyticsQuery(
        starting_at=day_start(first_day),
        ending_at=hour_after,
        time_bucket_width="1h",
        group_by=("workspace_id", "api_key_id"),
    )


def hour_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00:00Z")


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


def reconcile(hours: list[RollupLine], who_rows: list[list]) -> list[RollupLine]:
    """The day's hours with each (workspace, key)'s rounding residue against the day's billed `WHO` lines put on its
    largest hour; a gap larger than rounding is left as it is (see the module's docstring)."""
    target: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for line in who_lines(who_rows):
        figures = target[(line.dims[_WHO_WORKSPACE_AT], line.dims[_WHO_KEY_AT])]
        figures[0] += line.cost_usd or 0
        figures[1] += line.list_cost_usd or 0
    members: dict[tuple, list[RollupLine]] = defaultdict(list)
    for line in hours:
        members[line.dims[1:]].append(line)
    for cell, lines in members.items():
        want_cost, want_list = target.get(cell, (Decimal(0), Decimal(0)))
        cost_gap = want_cost - sum((line.cost_usd or 0 for line in lines), Decimal(0))
        list_gap = want_list - sum((line.list_cost_usd or 0 for line in lines), Decimal(0))
        bound = ROUNDING_PER_ROW * len(lines)
        if (cost_gap or list_gap) and abs(cost_gap) <= bound and abs(list_gap) <= bound:
            largest = max(lines, key=lambda line: (abs(line.cost_usd or 0), _order(line.dims)))
            largest.add(cost_gap, None, None, list_gap)
    return hours


@dataclass(frozen=True)
class StoredHours:
    """A day's hours as stored: one compressed document and the digest of its content (unchanged: not rewritten)."""

    day: date
    digest: str
    body: bytes


def encode(day: date, lines: Iterable[RollupLine]) -> StoredHours:
    canonical = json.dumps({"hours": [line.to_json() for line in lines]}, separators=(",", ":")).encode()
    return StoredHours(day, hashlib.sha256(canonical).hexdigest()[:32], zlib.compress(canonical, 6))


def rollup(day: date, connection_id: str, document: Mapping[str, list]) -> StoredRollup:
    """A decoded day of hours as the report's rollup lines (cost only: the hourly query reads no token counts)."""
    lines = [RollupLine.from_json(raw, len(HOUR_DIMENSIONS)) for raw in document.get("hours", [])]
    return StoredRollup(day, connection_id, HOUR_DIMENSIONS, lines, source="analytics", tokens_known=False)
