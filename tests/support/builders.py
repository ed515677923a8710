"""Builders of domain values for tests: one place that knows every field, so a test names only what it is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from pump_anthropic.domain.normalize import CostItem

OUTPUT_TOKENS = CostItem(
    date=date(2026, 3, 1),
    workspace_id="wrkspc_r",
    model="claude-opus-4-6",
    cost_type="tokens",
    token_type="output_tokens",
    service_tier="standard",
    context_window="0-200k",
    inference_geo="global",
    cost_usd=Decimal("0.75"),
    amount_cents=Decimal("75"),
    quantity=30_000,
    unit="tokens",
    description="Claude Opus 4.6 Usage - Output Tokens",
)


def cost_item(**changes) -> CostItem:
    """An output-token cost item of $0.75 in workspace wrkspc_r on 2026-03-01, with `changes` applied."""
    return replace(OUTPUT_TOKENS, **changes)
