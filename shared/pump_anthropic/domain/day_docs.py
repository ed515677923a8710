"""How a day is stored: one document per (connection, day) holding every projection of that day.

A projection is one view of a day's spend that reads need whole: `LINES` (the day's cost items, the price grain),
`KEYS` (legacy days: the per-API-key shares, folded into rollup lines), `WHO` and `ACTORS` (analytics days: the
billed lines per key, actor and product, and the actors), and `SOURCE` (which API the day came from, and why when
it fell back). The day is canonical JSON of its projections, zlib-compressed, cut into parts only when it would not
fit one DynamoDB item, with a digest of the whole so an unchanged day is never rewritten. Since all projections of a
day live in one document, they are always replaced together. Adding a projection is a name and a row builder, and
one more entry in `legacy_day` or `analytics_day`.

Pure: values in, bytes out.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pump_anthropic.domain import analytics_days
from pump_anthropic.domain.allocation import KeyShare
from pump_anthropic.domain.normalize import CostItem
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.rollups import (
    KEY_LINE_DIMENSIONS,
    LINE_DIMENSIONS,
    RollupLine,
    build_key_rollups,
)

LINES = "LINES"
KEYS = "KEYS"
SOURCE = "SOURCE"
LEGACY = "legacy"
ANALYTICS = "analytics"
# Compressed bytes per stored part: under DynamoDB's 400 KB item limit with room for the keys and attributes.
MAX_PART_BYTES = 350_000
COMPRESSION_LEVEL = 6


@dataclass(frozen=True)
class StoredDay:
    """One day as stored: the compressed document cut into `parts` (one for nearly every day)."""

    day: date
    digest: str
    parts: tuple[bytes, ...]

    @property
    def version(self) -> str:
        return self.digest[:12]


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def item_row(item: CostItem) -> list:
    return [
        item.workspace_id,
        item.model,
        item.cost_type,
        item.token_type,
        item.service_tier,
        item.context_window,
        item.inference_geo,
        _decimal(item.cost_usd),
        _decimal(item.amount_cents),
        item.quantity,
        item.unit,
        item.description,
        item.currency,
        *([] if item.list_cost_usd is None and item.speed is None else [_decimal(item.list_cost_usd), item.speed]),
    ]


def item_of(day: date, row: Sequence) -> CostItem:
    workspace, model, cost_type, token_type, tier, window, geo, cost, cents, quantity, unit, text, currency = row[:13]
    list_cost, speed = row[13:] if len(row) > 13 else (None, None)
    return CostItem(
        date=day,
        workspace_id=workspace,
        model=model,
        cost_type=cost_type,
        token_type=token_type,
        service_tier=tier,
        context_window=window,
        inference_geo=geo,
        cost_usd=None if cost is None else Decimal(cost),
        amount_cents=None if cents is None else Decimal(cents),
        quantity=quantity,
        unit=unit,
        description=text,
        currency=currency,
        list_cost_usd=None if list_cost is None else Decimal(list_cost),
        speed=speed,
    )


def line_rows(items: Iterable[CostItem]) -> list[list]:
    """The `LINES` projection of one day: every cost item, in item-id order (the canonical order)."""
    return [item_row(i) for i in sorted(items, key=lambda i: i.item_id)]


def key_rows(shares: Iterable[KeyShare]) -> list[list]:
    """The `KEYS` projection of one day: the per-key shares folded into rollup lines (already in canonical order)."""
    return [line.to_json() for rollup in build_key_rollups(shares, max_part_bytes=10**12) for line in rollup.lines]


def legacy_day(items: Iterable[CostItem], shares: Iterable[KeyShare], reason: str | None = None) -> dict[str, list]:
    """A day read from the legacy reports; `reason` says why when the analytics API should have served it."""
    return {LINES: line_rows(items), KEYS: key_rows(shares), SOURCE: [[LEGACY, reason]]}


def analytics_day(items: Iterable[CostItem], who: dict[str, list[list]] | None) -> dict[str, list]:
    """A day read from the analytics API: its cost items plus the WHO lines and ACTORS."""
    return {LINES: line_rows(items), **(who or {}), SOURCE: [[ANALYTICS, None]]}


# The per-key projections are the bulk of an analytics day (lines by key × actor × product), and a cost read never
# needs them: they are kept as JSON text inside the document, which a parse skips over as one string, and parsed only
# when a reader asks for them (`projection`). Days written before this hold them as lists; both read the same.
PACKED = frozenset({KEYS, analytics_days.WHO_LINES, analytics_days.ACTORS})


def projection(projections: dict, name: str) -> list[list]:
    """One projection of a decoded day (parsed on demand when it is packed)."""
    value = projections.get(name) or []
    return json.loads(value) if isinstance(value, str) else value


def encode_day(day: date, projections: dict[str, list[list]], max_part_bytes: int = MAX_PART_BYTES) -> StoredDay | None:
    """The stored form of one day's projections; None for a day without spend."""
    present = {
        name: json.dumps(rows, separators=(",", ":")) if name in PACKED else rows
        for name, rows in sorted(projections.items())
        if rows
    }
    if not set(present) - {SOURCE}:
        return None
    canonical = json.dumps(present, separators=(",", ":")).encode()
    body = zlib.compress(canonical, COMPRESSION_LEVEL)
    parts = tuple(body[i : i + max_part_bytes] for i in range(0, len(body), max_part_bytes))
    return StoredDay(day, hashlib.sha256(canonical).hexdigest()[:32], parts)


# A day's document decompressed: the largest day measured (large org) is ~2 MB of JSON; anything past this cap is
# not one of ours and is refused rather than inflated without bound.
MAX_DECODED_BYTES = 64 * 1024 * 1024


def decode_day(parts: Sequence[bytes]) -> dict[str, list[list]]:
    inflater = zlib.decompressobj()
    text = inflater.decompress(b"".join(parts), MAX_DECODED_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"a stored day decompresses past {MAX_DECODED_BYTES} bytes")
    return json.loads(text)


def source_of(projections: dict[str, list[list]]) -> tuple[str, str | None]:
    """(source, fallback reason) of a stored day; days stored before sources existed came from the legacy API."""
    rows = projections.get(SOURCE) or [[LEGACY, None]]
    return rows[0][0], rows[0][1]


def cost_lines(rows: Iterable[Sequence]) -> list[RollupLine]:
    """A day's `LINES` rows folded by `LINE_DIMENSIONS` (inference geo and description folded in), read straight from
    the stored rows: the read path's hot loop, so no cost item is built."""
    lines: dict[tuple, RollupLine] = {}
    for row in rows:
        extended = len(row) > 13
        dims = (row[0], row[1], row[2], row[3], row[4], row[5], row[14] if extended else None)
        line = lines.get(dims)
        if line is None:
            line = lines[dims] = RollupLine(dims)
        cost, listed = row[7], row[13] if extended else None
        line.add(
            None if cost is None else Decimal(cost), row[9], row[10], None if listed is None else Decimal(listed)
        )
    return list(lines.values())


def rollup_of(day: date, connection_id: str, projections: dict[str, list[list]], *, who: bool) -> StoredRollup:
    """A stored day as the report's rollup lines: its cost lines, or with `who` its per-key (and, on analytics days,
    per-actor and per-product) lines."""
    source, _ = source_of(projections)
    if not who:
        return StoredRollup(day, connection_id, LINE_DIMENSIONS, cost_lines(projections.get(LINES, [])), source=source)
    if source == ANALYTICS:
        lines = analytics_days.who_lines(projection(projections, analytics_days.WHO_LINES))
        actors = analytics_days.actors_by_key(projection(projections, analytics_days.ACTORS))
        return StoredRollup(
            day, connection_id, analytics_days.WHO_LINE_DIMENSIONS, lines, source=source, actors=actors,
            tokens_known=False,
        )  # fmt: skip
    lines = [RollupLine.from_json(r) for r in projection(projections, KEYS)]
    return StoredRollup(day, connection_id, KEY_LINE_DIMENSIONS, lines, source=source)
