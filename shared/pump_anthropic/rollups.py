"""Per-day rollups: a day's cost items of one connection folded into a few lines for fast reads.

A line is one (workspace, model, cost_type, token_type, service_tier, context_window); inference geo and
description are folded in. A day is normally one stored item, so a 365-day read is ~365 items whatever the
grouping; a day too large for one DynamoDB item (400 KB) is split into parts. Pure functions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from pump_anthropic.normalize import UNIT_REQUESTS, UNIT_TOKENS, CostItem

LINE_DIMENSIONS = ("workspace_id", "model", "cost_type", "token_type", "service_tier", "context_window")
# Well under DynamoDB's 400 KB item limit, leaving room for keys and attribute names.
MAX_PART_BYTES = 300_000


@dataclass
class RollupLine:
    workspace_id: str | None
    model: str | None
    cost_type: str | None
    token_type: str | None
    service_tier: str | None
    context_window: str | None
    cost_usd: Decimal | None = None
    tokens: int = 0
    requests: int = 0
    unpriced_tokens: int = 0
    unpriced_requests: int = 0

    def add(self, item: CostItem) -> None:
        quantity = item.quantity or 0
        if item.cost_usd is not None:
            self.cost_usd = (self.cost_usd or Decimal(0)) + item.cost_usd
        if item.unit == UNIT_TOKENS:
            self.tokens += quantity
            if item.cost_usd is None:
                self.unpriced_tokens += quantity
        elif item.unit == UNIT_REQUESTS:
            self.requests += quantity
            if item.cost_usd is None:
                self.unpriced_requests += quantity

    def to_json(self) -> list:
        cost = None if self.cost_usd is None else format(self.cost_usd, "f")
        dims = [getattr(self, d) for d in LINE_DIMENSIONS]
        return [*dims, cost, self.tokens, self.requests, self.unpriced_tokens, self.unpriced_requests]

    @classmethod
    def from_json(cls, raw: list) -> RollupLine:
        *dims, cost, tokens, requests, unpriced_tokens, unpriced_requests = raw
        cost_usd = None if cost is None else Decimal(cost)
        return cls(*dims, cost_usd, tokens, requests, unpriced_tokens, unpriced_requests)


@dataclass
class Rollup:
    """One stored part of a day's rollup (`part` 0 unless the day needed splitting)."""

    date: date
    part: int
    lines: list[RollupLine] = field(default_factory=list)

    def lines_json(self) -> str:
        return json.dumps([line.to_json() for line in self.lines], separators=(",", ":"))


def build_rollups(items: Iterable[CostItem], max_part_bytes: int = MAX_PART_BYTES) -> list[Rollup]:
    """Fold cost items into rollups per day, lines sorted so the serialization is stable."""
    by_day: dict[date, dict[tuple, RollupLine]] = defaultdict(dict)
    for item in items:
        dims = tuple(getattr(item, d) for d in LINE_DIMENSIONS)
        lines = by_day[item.date]
        line = lines.get(dims)
        if line is None:
            line = lines[dims] = RollupLine(*dims)
        line.add(item)
    rollups = []
    for day in sorted(by_day):
        lines = by_day[day]
        rollups += _split(day, [lines[k] for k in sorted(lines, key=_sort_key)], max_part_bytes)
    return rollups


def _split(day: date, lines: list[RollupLine], max_part_bytes: int) -> list[Rollup]:
    parts = [Rollup(day, 0)]
    size = 0
    for line in lines:
        line_bytes = len(json.dumps(line.to_json(), separators=(",", ":"))) + 1
        if parts[-1].lines and size + line_bytes > max_part_bytes:
            parts.append(Rollup(day, len(parts)))
            size = 0
        parts[-1].lines.append(line)
        size += line_bytes
    return parts


def parse_lines(raw: str) -> list[RollupLine]:
    return [RollupLine.from_json(entry) for entry in json.loads(raw)]


def _sort_key(values: tuple) -> tuple:
    return tuple((v is not None, v or "") for v in values)
