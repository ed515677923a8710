"""Map a cost item onto FinOps FOCUS 1.2 columns (plus 1.3's ServiceProviderName/HostProviderName).

The mapping follows ../shared/reference/focus.md section 3b. Pure: the caller supplies names looked up elsewhere.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pump_anthropic.normalize import UNIT_REQUESTS, UNIT_TOKENS, CostItem

ANTHROPIC = "Anthropic"
TOKENS_PER_PRICING_UNIT = Decimal(1_000_000)
REQUESTS_PER_PRICING_UNIT = Decimal(1_000)

SKU_METERS = {
    "uncached_input_tokens": "Input Tokens",
    "output_tokens": "Output Tokens",
    "cache_read_input_tokens": "Cache Read Tokens",
    "cache_creation.ephemeral_5m_input_tokens": "Cache Write 5m Tokens",
    "cache_creation.ephemeral_1h_input_tokens": "Cache Write 1h Tokens",
}
COST_TYPE_METERS = {"web_search": "Web Search Requests", "code_execution": "Code Execution"}


@dataclass(frozen=True, slots=True)
class BillingContext:
    organization_id: str
    organization_name: str
    workspace_name: str | None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _month_bounds(day: date) -> tuple[datetime, datetime]:
    start = day.replace(day=1)
    last = calendar.monthrange(day.year, day.month)[1]
    return _day_start(start), _day_start(start.replace(day=last)) + timedelta(days=1)


def _sku_meter(item: CostItem) -> str | None:
    if item.token_type:
        return SKU_METERS.get(item.token_type, item.token_type)
    return COST_TYPE_METERS.get(item.cost_type or "", item.cost_type)


def _pricing(item: CostItem) -> tuple[Decimal | None, str | None]:
    if item.quantity is None:
        return None, None
    if item.unit == UNIT_TOKENS:
        return Decimal(item.quantity) / TOKENS_PER_PRICING_UNIT, "1000000 Tokens"
    if item.unit == UNIT_REQUESTS:
        return Decimal(item.quantity) / REQUESTS_PER_PRICING_UNIT, "1000 Requests"
    return None, None


def to_focus_row(item: CostItem, context: BillingContext) -> dict[str, Any]:
    """One FOCUS row. Money stays Decimal; unknown cost (priority tier) is null, never 0."""
    charge_start = _day_start(item.date)
    billing_start, billing_end = _month_bounds(item.date)
    pricing_quantity, pricing_unit = _pricing(item)
    list_unit_price = item.cost_usd / pricing_quantity if item.cost_usd is not None and pricing_quantity else None
    sku_id = "/".join(p for p in (item.model, item.token_type or item.cost_type) if p) or None
    price_parts = (
        item.model,
        item.token_type or item.cost_type,
        item.service_tier,
        item.context_window,
        item.inference_geo,
    )
    region = item.inference_geo if item.inference_geo not in (None, "global", "not_available") else None
    workspace_name = context.workspace_name or ("Default workspace" if item.workspace_id is None else None)
    return {
        "BilledCost": item.cost_usd,
        "EffectiveCost": item.cost_usd,
        "ListCost": item.cost_usd,
        "ContractedCost": item.cost_usd,
        "BillingAccountId": context.organization_id,
        "BillingAccountName": context.organization_name,
        "BillingAccountType": "Anthropic Organization",
        "BillingCurrency": item.currency,
        "BillingPeriodStart": _iso(billing_start),
        "BillingPeriodEnd": _iso(billing_end),
        "ChargePeriodStart": _iso(charge_start),
        "ChargePeriodEnd": _iso(charge_start + timedelta(days=1)),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": item.description or _sku_meter(item),
        "ChargeFrequency": "Usage-Based",
        "ServiceName": "Claude API",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceSubcategory": "Generative AI",
        "ProviderName": ANTHROPIC,
        "PublisherName": ANTHROPIC,
        "InvoiceIssuerName": ANTHROPIC,
        "ServiceProviderName": ANTHROPIC,
        "HostProviderName": ANTHROPIC,
        "SkuId": sku_id,
        "SkuPriceId": "/".join(p or "-" for p in price_parts),
        "SkuMeter": _sku_meter(item),
        "SkuPriceDetails": json.dumps(
            {
                "model": item.model,
                "token_type": item.token_type,
                "service_tier": item.service_tier,
                "context_window": item.context_window,
                "inference_geo": item.inference_geo,
            },
            sort_keys=True,
        ),
        "ListUnitPrice": list_unit_price,
        "ContractedUnitPrice": list_unit_price,
        "PricingQuantity": pricing_quantity,
        "PricingUnit": pricing_unit,
        "PricingCategory": "Standard",
        "ConsumedQuantity": Decimal(item.quantity) if item.quantity is not None else None,
        "ConsumedUnit": {"tokens": "Tokens", "requests": "Requests"}.get(item.unit or ""),
        "SubAccountId": item.workspace_id or "default",
        "SubAccountName": workspace_name,
        "SubAccountType": "Workspace",
        "RegionId": region,
        "RegionName": region,
        "ResourceId": None,
        "ResourceName": None,
        "ResourceType": None,
        "Tags": json.dumps({"anthropic/workspace": workspace_name} if workspace_name else {}),
        "InvoiceId": None,
        "x_Model": item.model,
        "x_TokenType": item.token_type,
        "x_CostType": item.cost_type,
        "x_ServiceTier": item.service_tier,
        "x_ContextWindow": item.context_window,
        "x_InferenceGeo": item.inference_geo,
        "x_AmountCentsRaw": item.amount_cents,
        "x_CostKnown": item.cost_known,
        "x_SourceEndpoint": "/v1/organizations/cost_report"
        if item.cost_known
        else "/v1/organizations/usage_report/messages",
    }
