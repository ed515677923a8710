"""Per-day rollups: the cost items of one (day, connection, workspace) folded into a few lines for fast reads.

A line is one (model, cost_type, token_type, service_tier, context_window); inference geo and description are
folded in. Pure functions; the repository stores a rollup's lines as JSON.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from pump_anthropic.normalize import UNIT_REQUESTS, UNIT_TOKENS, CostItem

LINE_DIMENSIONS = ("model", "cost_type", "token_type", "service_tier", "context_window")


@dataclass
class RollupLine:
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
        return [
            self.model,
            self.cost_type,
            self.token_type,
            self.service_tier,
            self.context_window,
            cost,
            self.tokens,
            self.requests,
            self.unpriced_tokens,
            self.unpriced_requests,
        ]

    @classmethod
    def from_json(cls, raw: list) -> RollupLine:
        model, cost_type, token_type, tier, window, cost, tokens, requests, unpriced_t, unpriced_r = raw
        return cls(
            model,
            cost_type,
            token_type,
            tier,
            window,
            None if cost is None else Decimal(cost),
            tokens,
            requests,
            unpriced_t,
            unpriced_r,
        )


@dataclass
class Rollup:
    date: date
    workspace_id: str | None
    lines: list[RollupLine] = field(default_factory=list)

    def lines_json(self) -> str:
        return json.dumps([line.to_json() for line in self.lines], separators=(",", ":"))


def build_rollups(items: Iterable[CostItem]) -> list[Rollup]:
    """Fold cost items into one rollup per (day, workspace), lines sorted for a stable serialization."""
    grouped: dict[tuple[date, str | None], dict[tuple, RollupLine]] = defaultdict(dict)
    for item in items:
        dims = tuple(getattr(item, d) for d in LINE_DIMENSIONS)
        lines = grouped[(item.date, item.workspace_id)]
        line = lines.get(dims)
        if line is None:
            line = lines[dims] = RollupLine(*dims)
        line.add(item)
    return [
        Rollup(day, workspace_id, [lines[k] for k in sorted(lines, key=_sort_key)])
        for (day, workspace_id), lines in sorted(grouped.items(), key=lambda kv: (kv[0][0], _sort_key(kv[0][1:])))
    ]


def parse_lines(raw: str) -> list[RollupLine]:
    return [RollupLine.from_json(entry) for entry in json.loads(raw)]


def _sort_key(values: tuple) -> tuple:
    return tuple((v is not None, v or "") for v in values)
