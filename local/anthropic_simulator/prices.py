"""The simulator's price table: USD list prices per million tokens and the rules deriving every unit price.

Amounts are returned in cents (the cost report's unit) as exact `Decimal`s, so cost == tokens x unit price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

TOKEN_TYPES = (
    "uncached_input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
)
SERVICE_TIERS = ("standard", "batch", "priority")
CONTEXT_WINDOWS = ("0-200k", "200k-1M")
INFERENCE_GEOS = ("global", "us", "not_available")

BATCH_MULTIPLIER = Decimal("0.5")
LONG_CONTEXT_INPUT_MULTIPLIER = Decimal("2")
LONG_CONTEXT_OUTPUT_MULTIPLIER = Decimal("1.5")
US_GEO_MULTIPLIER = Decimal("1.1")
TOKEN_TYPE_INPUT_MULTIPLIER = {
    "uncached_input_tokens": Decimal("1"),
    "cache_read_input_tokens": Decimal("0.1"),
    "cache_creation.ephemeral_5m_input_tokens": Decimal("1.25"),
    "cache_creation.ephemeral_1h_input_tokens": Decimal("2"),
}
WEB_SEARCH_CENTS_PER_REQUEST = Decimal("1")  # $10 per 1,000 searches
CODE_EXECUTION_CENTS_PER_SECOND = Decimal("0.0013889")  # ~$0.05 per container-hour
_CENTS_PER_USD_PER_MTOK = Decimal("100") / Decimal("1000000")


@dataclass(frozen=True)
class ModelPrice:
    model: str
    display_name: str
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    supports_inference_geo: bool
    supports_long_context: bool


def _model(model: str, name: str, inp: str, out: str, geo: bool = False, long: bool = False) -> ModelPrice:
    return ModelPrice(model, name, Decimal(inp), Decimal(out), geo, long)


MODEL_PRICES: dict[str, ModelPrice] = {
    p.model: p
    for p in (
        _model("claude-opus-4-6", "Claude Opus 4.6", "5", "25", geo=True, long=True),
        _model("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "3", "15", long=True),
        _model("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "1", "5"),
        _model("claude-sonnet-4-6", "Claude Sonnet 4.6", "3", "15", geo=True, long=True),
        _model("claude-opus-4-1-20250805", "Claude Opus 4.1", "15", "75"),
        _model("claude-opus-4-5-20251101", "Claude Opus 4.5", "5", "25"),
        _model("claude-sonnet-4-20250514", "Claude Sonnet 4", "3", "15", long=True),
        _model("claude-opus-4-20250514", "Claude Opus 4", "15", "75"),
        _model("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "3", "15"),
        _model("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "0.8", "4"),
        _model("claude-3-5-sonnet-20241022", "Claude Sonnet 3.5", "3", "15"),
        _model("claude-3-haiku-20240307", "Claude Haiku 3", "0.25", "1.25"),
    )
}
DEFAULT_MODELS = tuple(list(MODEL_PRICES)[:5])

_TOKEN_LABELS = {
    "uncached_input_tokens": "Input Tokens",
    "output_tokens": "Output Tokens",
    "cache_read_input_tokens": "Input Tokens, Cache Read",
    "cache_creation.ephemeral_5m_input_tokens": "Input Tokens, Cache Write 5m",
    "cache_creation.ephemeral_1h_input_tokens": "Input Tokens, Cache Write 1h",
}


def token_unit_price_cents(
    model: str, token_type: str, service_tier: str, context_window: str, inference_geo: str
) -> Decimal:
    """Cents per token for (model, token type, tier, context window, geo); priority tier has no price here."""
    if service_tier == "priority":
        raise ValueError("priority tier usage has no cost-report price")
    price = MODEL_PRICES[model]
    long_context = context_window == "200k-1M"
    if token_type == "output_tokens":
        usd = price.output_usd_per_mtok * (LONG_CONTEXT_OUTPUT_MULTIPLIER if long_context else 1)
    else:
        usd = price.input_usd_per_mtok * TOKEN_TYPE_INPUT_MULTIPLIER[token_type]
        usd *= LONG_CONTEXT_INPUT_MULTIPLIER if long_context else 1
    if service_tier == "batch":
        usd *= BATCH_MULTIPLIER
    if inference_geo == "us":
        usd *= US_GEO_MULTIPLIER
    return usd * _CENTS_PER_USD_PER_MTOK


def token_description(model: str, token_type: str, service_tier: str, context_window: str, inference_geo: str) -> str:
    """The cost report's `description`, unique per (model, token type, tier, context window, geo)."""
    qualifiers = [
        label
        for label, present in (
            ("Batch", service_tier == "batch"),
            ("Long Context", context_window == "200k-1M"),
            ("US", inference_geo == "us"),
        )
        if present
    ]
    suffix = f" ({', '.join(qualifiers)})" if qualifiers else ""
    return f"{MODEL_PRICES[model].display_name} Usage - {_TOKEN_LABELS[token_type]}{suffix}"


def web_search_description(model: str) -> str:
    return f"Web Search Usage - {MODEL_PRICES[model].display_name}"


CODE_EXECUTION_DESCRIPTION = "Code Execution Usage"
