"""Settings of the Usage and Cost Analytics endpoints, and the analytics price rules built on the legacy table.

Every behaviour no public source pins down is a field of `AnalyticsSettings` rather than a hard rule, so tests
can exercise each alternative. docs/simulator-analytics.md explains each default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal, Inexact, localcontext
from functools import cache

from anthropic_simulator import prices

ANALYTICS_BETA = "analytics-usage-cost-2026-08-24"
TOKEN_TYPES = prices.TOKEN_TYPES
PRIORITY_TIERS = ("priority", "priority_on_demand")
# flex traffic is billed at the batch rate, so the legacy cost report's Batch lines already hold it.
_LEGACY_PRICE_TIER = {"flex": "batch", "flex_discount": "batch", "priority_on_demand": "standard"}
_DATED = re.compile(r"-\d{8}$")


def _decimal_pairs(pairs: object) -> tuple[tuple[str, Decimal], ...]:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return tuple(sorted((str(k), Decimal(str(v))) for k, v in items))


@dataclass(frozen=True)
class AnalyticsSettings:
    """Knobs of GET /v1/organizations/analytics/{usage,cost}; frozen, swap with `dataclasses.replace`.

    Money: `discounts` maps a (legacy, dated) model id to its negotiated discount off list price; the legacy cost
    report's price is the discounted one, so `list_amount = amount / (1 - discount)` (this must be exact).
    """

    refresh_lag: timedelta = timedelta(hours=4)
    amount_decimals: int | None = 6
    discounts: tuple[tuple[str, Decimal], ...] = field(
        default=(("claude-opus-4-6", Decimal("0.2")), ("claude-sonnet-4-6", Decimal("0.2")))
    )
    priority_multiplier: Decimal = Decimal("1")
    priority_on_demand_multiplier: Decimal = Decimal("1.25")
    fast_multiplier: Decimal = Decimal("6")
    priority_billed_in_amount: bool = True
    model_ids: str = "alias"  # "alias" (claude-sonnet-4-5) or "dated" (the legacy reports' claude-sonnet-4-5-20250929)
    token_type_alone: str = "all_components"  # or "tokens_only": token_type without cost_type drops other costs
    bucket_alignment: str = "floor"  # "floor" both ends to the width, "overlap" or "inside" the requested range
    cursor_bound_to_query: bool = True
    next_page_on_last_page: str = "null"  # or "absent"
    include_organization_id: bool = False
    max_array_items: int | None = 100
    reject_duplicate_group_by: bool = True
    organization_ids: str = "reject"  # a non-parent org: "reject" (400) or "match_nothing"
    chat_cowork_unified_available: bool = False
    hipaa_readiness: bool = False
    enrolled_in_beta: bool = True
    missing_beta_status: int = 400  # or 404
    auth_styles: tuple[str, ...] = ("x-api-key", "bearer")
    accepted_versions: tuple[str, ...] | None = None  # None: any YYYY-MM-DD, as on the legacy endpoints
    rate_limit_per_minute: int | None = None  # per organization, both endpoints together
    # 400 report_page_too_large (SDK 2.15+: "more usage than one page can hold; send a lower limit"): a page that
    # would hold more than this many rows, fan-out rows included. None: never.
    max_page_rows: int | None = None
    # 400 too_many_report_groups (SDK 2.15+): more distinct groups (base combinations, fan-out not counted) than
    # this, counted per UTC day of the query ("day", as the SDK words it) or over the whole query ("query").
    max_report_groups: int | None = None
    report_groups_scope: str = "day"

    def __post_init__(self) -> None:
        object.__setattr__(self, "discounts", _decimal_pairs(self.discounts))
        for model, discount in self.discounts:
            if not Decimal(0) <= discount < 1:
                raise ValueError(f"discount for {model} must be in [0, 1)")
            list_multiplier(discount)
        choices = {
            "model_ids": ("alias", "dated"),
            "token_type_alone": ("all_components", "tokens_only"),
            "bucket_alignment": ("floor", "overlap", "inside"),
            "next_page_on_last_page": ("null", "absent"),
            "organization_ids": ("reject", "match_nothing"),
            "report_groups_scope": ("day", "query"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}")
        if self.missing_beta_status not in (400, 404):
            raise ValueError("missing_beta_status must be 400 or 404")
        if not set(self.auth_styles) <= {"x-api-key", "bearer"} or not self.auth_styles:
            raise ValueError("auth_styles must be a non-empty subset of ('x-api-key', 'bearer')")
        for name in ("rate_limit_per_minute", "max_page_rows", "max_report_groups"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (or None)")

    def discount(self, model: str | None) -> Decimal:
        return dict(self.discounts).get(model or "", Decimal(0))

    def format_amount(self, amount: Decimal) -> str:
        """Cents as the wire's decimal string: `amount_decimals` places, or full precision without an exponent."""
        if self.amount_decimals is None:
            text = format(amount.normalize(), "f")
            return "0" if text in ("-0", "") else text
        return format(amount.quantize(Decimal(1).scaleb(-self.amount_decimals), rounding=ROUND_HALF_EVEN), "f")

    def model_name(self, model: str | None) -> str | None:
        """A legacy model id in the analytics API's form."""
        if model is None or self.model_ids == "dated":
            return model
        return _alias(model)


@cache
def _alias(model: str) -> str:
    return _DATED.sub("", model)


@cache
def list_multiplier(discount: Decimal) -> Decimal:
    """1 / (1 - discount), exactly; a discount whose list price is not a finite decimal is rejected."""
    with localcontext() as ctx:
        ctx.prec = 50
        ctx.traps[Inexact] = True
        try:
            return Decimal(1) / (Decimal(1) - discount)
        except Inexact:
            raise ValueError(f"discount {discount} gives a non-terminating list price; use e.g. 0.2 or 0.5") from None


@cache
def token_prices(
    settings: AnalyticsSettings, model: str, tier: str, context_window: str, geo: str | None, speed: str | None
) -> tuple[tuple[Decimal, ...], tuple[Decimal, ...]]:
    """(amount, list) cents per token for each of `TOKEN_TYPES`, for one pricing class of analytics usage.

    Non-priority tiers use exactly the legacy unit price, so their cost equals the legacy cost report's.
    """
    legacy_geo = geo or "not_available"
    price_tier = _LEGACY_PRICE_TIER.get(tier, tier)
    if tier in PRIORITY_TIERS:
        price_tier = "standard"
    multiplier = Decimal(1)
    if tier == "priority":
        multiplier = settings.priority_multiplier
    elif tier == "priority_on_demand":
        multiplier = settings.priority_on_demand_multiplier
    if speed == "fast":
        multiplier *= settings.fast_multiplier
    markup = list_multiplier(settings.discount(model))
    billed = Decimal(0) if tier in PRIORITY_TIERS and not settings.priority_billed_in_amount else Decimal(1)
    units, lists = [], []
    with localcontext() as ctx:
        ctx.prec = 60
        ctx.traps[Inexact] = True
        for token_type in TOKEN_TYPES:
            unit = prices.token_unit_price_cents(model, token_type, price_tier, context_window, legacy_geo) * multiplier
            units.append(unit * billed)
            lists.append(unit * markup)
    return tuple(units), tuple(lists)


def web_search_prices(settings: AnalyticsSettings, tier: str | None) -> tuple[Decimal, Decimal]:
    unit = prices.WEB_SEARCH_CENTS_PER_REQUEST
    billed = tier not in PRIORITY_TIERS or settings.priority_billed_in_amount
    return (unit if billed else Decimal(0)), unit


CODE_EXECUTION_CENTS_PER_SECOND = prices.CODE_EXECUTION_CENTS_PER_SECOND
# Managed Agents session runtime is carved out of the legacy report's code-execution seconds, at the same price.
SESSION_CENTS_PER_SECOND = prices.CODE_EXECUTION_CENTS_PER_SECOND
