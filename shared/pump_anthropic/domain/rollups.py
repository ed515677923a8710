"""Per-day rollups: a day's cost items of one connection folded into a few lines for fast reads.

Two kinds, each normally one stored item per day per connection (a 365-day read is ~365 items whatever the
grouping; a day too large for one DynamoDB item is split into parts):
- the cost rollup: one line per (workspace, model, cost_type, token_type, service_tier, context_window, speed);
- the API-key rollup of legacy days: the same without speed, with the API key in front, from the per-key allocation
  (allocation.py). (Analytics days' per-key lines come billed from Anthropic: analytics_days.py.)
Inference geo and description are folded in. A line carries its list cost when the source reports one. Pure.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from pump_anthropic.domain.normalize import UNIT_REQUESTS, UNIT_TOKENS, CostItem

LINE_DIMENSIONS = ("workspace_id", "model", "cost_type", "token_type", "service_tier", "context_window", "speed")
KEY_LINE_DIMENSIONS = (
    "api_key_id", "workspace_id", "model", "cost_type", "token_type", "service_tier", "context_window",
)  # fmt: skip
# Well under DynamoDB's 400 KB item limit, leaving room for keys and attribute names.
MAX_PART_BYTES = 300_000


@dataclass
class RollupLine:
    dims: tuple[str | None, ...]
    cost_usd: Decimal | None = None
    tokens: int = 0
    requests: int = 0
    unpriced_tokens: int = 0
    unpriced_requests: int = 0
    # The list price (analytics days); None when the source reports none (the legacy reports).
    list_cost_usd: Decimal | None = None

    def add(
        self, cost_usd: Decimal | None, quantity: int | None, unit: str | None, list_cost_usd: Decimal | None = None
    ) -> None:
        quantity = quantity or 0
        if cost_usd is not None:
            self.cost_usd = (self.cost_usd or Decimal(0)) + cost_usd
        if list_cost_usd is not None:
            self.list_cost_usd = (self.list_cost_usd or Decimal(0)) + list_cost_usd
        if unit == UNIT_TOKENS:
            self.tokens += quantity
            if cost_usd is None:
                self.unpriced_tokens += quantity
        elif unit == UNIT_REQUESTS:
            self.requests += quantity
            if cost_usd is None:
                self.unpriced_requests += quantity

    def absorb(self, other: RollupLine) -> None:
        """Add another line's figures to this one's (the dimensions are the caller's to match)."""
        if other.cost_usd is not None:
            self.cost_usd = (self.cost_usd or Decimal(0)) + other.cost_usd
        if other.list_cost_usd is not None:
            self.list_cost_usd = (self.list_cost_usd or Decimal(0)) + other.list_cost_usd
        self.tokens += other.tokens
        self.requests += other.requests
        self.unpriced_tokens += other.unpriced_tokens
        self.unpriced_requests += other.unpriced_requests

    def to_json(self) -> list:
        cost = None if self.cost_usd is None else format(self.cost_usd, "f")
        figures = [cost, self.tokens, self.requests, self.unpriced_tokens, self.unpriced_requests]
        if self.list_cost_usd is not None:
            figures.append(format(self.list_cost_usd, "f"))
        return [*self.dims, *figures]

    @classmethod
    def from_json(cls, raw: list, dimensions: int | None = None) -> RollupLine:
        """A stored line; `dimensions` (how many leading values are dimensions) is needed only for a line that may
        carry a list price."""
        cut = len(raw) - 5 if dimensions is None else dimensions
        dims, (cost, tokens, requests, unpriced_tokens, unpriced_requests, *listed) = raw[:cut], raw[cut:]
        cost_usd = None if cost is None else Decimal(cost)
        list_cost = Decimal(listed[0]) if listed and listed[0] is not None else None
        return cls(tuple(dims), cost_usd, tokens, requests, unpriced_tokens, unpriced_requests, list_cost)


@dataclass
class Rollup:
    """One stored part of a day's rollup (`part` 0 unless the day needed splitting)."""

    date: date
    part: int
    lines: list[RollupLine] = field(default_factory=list)

    def lines_json(self) -> str:
        return json.dumps([line.to_json() for line in self.lines], separators=(",", ":"))


def build_rollups(items: Iterable[CostItem], max_part_bytes: int = MAX_PART_BYTES) -> list[Rollup]:
    """Fold cost items into per-day rollups."""
    return _fold(
        (
            (i.date, tuple(getattr(i, d) for d in LINE_DIMENSIONS), i.cost_usd, i.quantity, i.unit, i.list_cost_usd)
            for i in items
        ),
        max_part_bytes,
    )


def build_key_rollups(shares: Iterable, max_part_bytes: int = MAX_PART_BYTES) -> list[Rollup]:
    """Fold per-key shares (allocation.KeyShare) into per-day API-key rollups."""
    return _fold(
        (
            (
                s.item.date,
                (s.api_key, *(getattr(s.item, d) for d in KEY_LINE_DIMENSIONS[1:])),
                s.cost_usd,
                s.quantity,
                s.item.unit,
                None,
            )
            for s in shares
        ),
        max_part_bytes,
    )


def _fold(entries: Iterable[tuple], max_part_bytes: int) -> list[Rollup]:
    by_day: dict[date, dict[tuple, RollupLine]] = defaultdict(dict)
    for day, dims, cost_usd, quantity, unit, list_cost_usd in entries:
        lines = by_day[day]
        line = lines.get(dims)
        if line is None:
            line = lines[dims] = RollupLine(dims)
        line.add(cost_usd, quantity, unit, list_cost_usd)
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
