"""Day documents: exact round trips, a digest that only changes with the content, and every stored part under
DynamoDB's 400 KB item limit even on a large organization's busiest day."""

from __future__ import annotations

import itertools
import random
from datetime import date
from decimal import Decimal

import pytest

from pump_anthropic.domain import day_docs
from pump_anthropic.domain.allocation import KeyShare
from pump_anthropic.domain.day_docs import KEYS, LINES
from tests.support.builders import cost_item

DAY = date(2026, 3, 1)
DYNAMODB_ITEM_LIMIT = 400 * 1024
# Keys and the other attributes of a stored part (pk, sk, digest, dates, counts), generously.
ITEM_OVERHEAD_BYTES = 1024


def busiest_large_org_day() -> tuple[list, list]:
    """25 workspaces, 12 models, every token type, two tiers and two context windows, 200 API keys, each key used
    with every model: more lines than the large org's busiest day, with random (incompressible) amounts."""
    rng = random.Random(7)
    items = [
        cost_item(
            date=DAY,
            workspace_id=f"wrkspc_{w:02d}",
            model=f"claude-model-{m:02d}",
            token_type=token_type,
            service_tier=tier,
            context_window=window,
            cost_usd=Decimal(rng.randrange(1, 10**9)) / 10**7,
            amount_cents=None,
            quantity=rng.randrange(1, 10**8),
        )
        for w, m, token_type, tier, window in itertools.product(
            range(25),
            range(12),
            (
                "uncached_input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation.ephemeral_5m_input_tokens",
            ),
            ("standard", "batch"),
            ("0-200k", "200k-1M"),
        )
    ]
    shares = [
        KeyShare(item, f"apikey_{k:03d}", item.cost_usd / 2, 1000, "proportional")
        for item, k in zip(items, itertools.cycle(range(200)), strict=False)
        for _ in range(2)
    ]
    return items, shares


def test_a_day_round_trips_exactly():
    items = [cost_item(cost_usd=Decimal("0.000000123"), description=None), cost_item(model="claude-haiku-4-5")]
    stored = day_docs.encode_day(DAY, {LINES: day_docs.line_rows(items), KEYS: []})
    decoded = day_docs.decode_day(stored.parts)
    assert {day_docs.item_of(DAY, row) for row in decoded[LINES]} == set(items)


def test_the_digest_changes_with_the_content_only():
    items = [cost_item(), cost_item(model="claude-haiku-4-5")]
    first = day_docs.encode_day(DAY, {LINES: day_docs.line_rows(items)})
    reordered = day_docs.encode_day(DAY, {LINES: day_docs.line_rows(reversed(items))})
    changed = day_docs.encode_day(DAY, {LINES: day_docs.line_rows([cost_item(cost_usd=Decimal("0.76"))])})
    assert first.digest == reordered.digest != changed.digest


def test_a_day_without_spend_stores_nothing():
    assert day_docs.encode_day(DAY, {LINES: [], KEYS: []}) is None


def test_every_part_of_the_busiest_day_fits_one_item_and_parts_join_back():
    items, shares = busiest_large_org_day()
    stored = day_docs.encode_day(DAY, {LINES: day_docs.line_rows(items), KEYS: day_docs.key_rows(shares)})
    sizes = [len(part) for part in stored.parts]
    print(f"busiest day: {len(items)} lines, {len(shares)} key shares → parts of {sizes} bytes")
    assert all(size + ITEM_OVERHEAD_BYTES <= DYNAMODB_ITEM_LIMIT for size in sizes)
    decoded = day_docs.decode_day(stored.parts)
    assert len(decoded[LINES]) == len(items)
    assert isinstance(decoded[KEYS], str)  # packed: a cost read skips over it as one string
    assert sum(Decimal(row[-5]) for row in day_docs.projection(decoded, KEYS)) == sum(s.cost_usd for s in shares)


def test_a_small_part_limit_cuts_the_document_and_the_parts_join_back():
    items, _ = busiest_large_org_day()
    stored = day_docs.encode_day(DAY, {LINES: day_docs.line_rows(items)}, max_part_bytes=10_000)
    assert len(stored.parts) > 1 and all(len(p) <= 10_000 for p in stored.parts)
    assert len(day_docs.decode_day(stored.parts)[LINES]) == len(items)


def test_a_document_that_inflates_past_the_cap_is_refused_not_inflated(monkeypatch):
    import zlib

    from pump_anthropic.domain import day_docs as docs

    monkeypatch.setattr(docs, "MAX_DECODED_BYTES", 1024)
    bomb = zlib.compress(b"[" + b" " * 100_000 + b"]")
    with pytest.raises(ValueError, match="decompresses past"):
        docs.decode_day([bomb])
    assert docs.decode_day([zlib.compress(b'{"LINES": []}')]) == {"LINES": []}
