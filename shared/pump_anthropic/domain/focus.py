"""Map a cost item onto FinOps FOCUS 1.2 columns (plus 1.3's ServiceProviderName/HostProviderName).

Each FOCUS column is filled from the Anthropic cost item as FOCUS 1.2 defines it; `FOCUS_COLUMNS` then the `x_` columns
are the export's header, in order. Pure: the caller supplies the names looked up elsewhere. Money stays `Decimal`.

Decisions where FOCUS demands a value Anthropic does not report (every one is flagged in an `x_` column, so unknown
is never passed off as known):

* Unknown cost (priority tier: usage without a cost row, `cost_usd is None`). FOCUS 1.2 requires BilledCost,
  EffectiveCost, ListCost and ContractedCost on every row, so the row is kept (the usage is real) with those four at
  `0.0` as placeholders, `x_CostKnown=false`, `0.0` unit prices, and a ChargeDescription that says Anthropic's cost
  report does not price it. Summing BilledCost therefore gives the cost Anthropic reports; a consumer that needs the
  whole spend must treat `x_CostKnown=false` rows as "cost unknown", never as free.
* Unknown quantity (code execution, which the usage report does not measure, or a cost row no usage row matched).
  FOCUS 1.2 requires PricingQuantity on every Usage row, so the row is priced as one unit of its charge period:
  PricingQuantity `1`, PricingUnit `Day`, ListUnitPrice = the day's cost; ConsumedQuantity/ConsumedUnit stay null
  (nothing was measured) and `x_QuantityKnown=false`.
* ListCost: days from the analytics API carry Anthropic's list amount: ListCost is it, and BilledCost,
  EffectiveCost and ContractedCost the net amount (post-discount, pre-credit). The legacy cost report carries no list
  price, so on its days ListCost = BilledCost (`x_ListCostSource` says which).
* Unit prices. ListUnitPrice/ContractedUnitPrice are the rate Anthropic charged: those costs per PricingUnit
  (effective prices, not price-list lookups), so unit price × PricingQuantity = cost as FOCUS requires. The
  quotient is exact when it terminates within 28 significant digits (the rate card's rule, `rates.py`). When
  Anthropic rounded the amount (or a line blends two prices) it does not terminate: the price is then the quotient
  rounded half-even to `UNIT_PRICE_DIGITS` significant digits, so unit price × PricingQuantity is within 5e-12 of
  the cost, relative (focus-validator 2.2.1 accepts 1e-9 × max(|cost|, 1)); `x_UnitPriceExact` says which.
* One form of ChargeDescription for every source (the analytics API has no description; the legacy cost report's
  own wording is not kept): `{model} Usage - {SkuMeter}` plus, in brackets, what changes the price (tier, long
  context, US inference, fast mode). The model is the canonical one (dated ids and aliases name one model), as in
  x_Model, SkuId and SkuPriceId; x_ModelId keeps the id as the source reported it.
* FOCUS 1.5 anticipated (docs/focus.md): x_ModelId/x_ModelDeveloper/x_ModelFamily/x_ModelVersion and
  x_TokenDirection/x_TokenCacheAction carry the draft's SkuPriceDetails properties as columns, and SkuPriceDetails
  carries them too, `x_`-prefixed as FOCUS 1.2 requires of properties it does not define.
* Who and what (analytics days): x_Speed on every row; x_ActorType/x_ActorId/x_ActorName and x_Product on the rows
  of the per-API-key export, whose x_ApiKeyId is then Anthropic's billed key (x_AllocationMethod `billed`).
* InvoiceId is null: the Admin API exposes no invoices. (focus-validator 2.2.1 then reports InvoiceId-C-005-C,
  which fails for null and its twin C-004-C for non-null on any dataset; see tests/integration/test_focus_export.py.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from pump_anthropic.domain.calendar import day_start, next_month
from pump_anthropic.domain.model_identity import model_identity
from pump_anthropic.domain.normalize import UNIT_REQUESTS, UNIT_TOKENS, CostItem
from pump_anthropic.domain.rates import exact_quotient

ANTHROPIC = "Anthropic"
SERVICE_NAME = "Claude API"
DEFAULT_WORKSPACE_NAME = "Default workspace"
DEFAULT_WORKSPACE_ID = "default"
COST_REPORT = "/v1/organizations/cost_report"
USAGE_REPORT = "/v1/organizations/usage_report/messages"
ANALYTICS_COST = "/v1/organizations/analytics/cost"

# Unit (as normalize names it) → (ConsumedUnit, PricingUnit, consumed units per pricing unit).
UNITS = {
    UNIT_TOKENS: ("Tokens", "1000000 Tokens", Decimal(1_000_000)),
    UNIT_REQUESTS: ("Requests", "1000 Requests", Decimal(1_000)),
}
UNMEASURED_PRICING_UNIT = "Day"

SKU_METERS = {
    "uncached_input_tokens": "Input Tokens",
    "output_tokens": "Output Tokens",
    "cache_read_input_tokens": "Cache Read Tokens",
    "cache_creation.ephemeral_5m_input_tokens": "Cache Write 5m Tokens",
    "cache_creation.ephemeral_1h_input_tokens": "Cache Write 1h Tokens",
}
COST_TYPE_METERS = {"web_search": "Web Search Requests", "code_execution": "Code Execution"}
# FOCUS 1.5 draft (FOCUS_Spec pull request #2606): TokenDirection "Input" | "Output"; TokenCacheAction "Uncached" |
# "Read" | "Write" | "Other", for tokens consumed from a request (input), so output tokens have none.
TOKEN_FACETS = {
    "uncached_input_tokens": ("Input", "Uncached"),
    "cache_read_input_tokens": ("Input", "Read"),
    "cache_creation.ephemeral_5m_input_tokens": ("Input", "Write"),
    "cache_creation.ephemeral_1h_input_tokens": ("Input", "Write"),
    "output_tokens": ("Output", None),
}
# What the description adds in brackets; a value not listed (e.g. a new tier) is shown title-cased.
BASE_VALUES = frozenset({"standard", "0-200k", "global", "not_available"})
QUALIFIERS = {"200k-1M": "Long Context", "us": "US", "priority_on_demand": "Priority On-Demand"}
NO_MODEL = "Claude API"
# Significant digits of a unit price whose exact quotient does not terminate (see the module's docstring).
UNIT_PRICE_DIGITS = 12
# Per-request and per-container prices do not depend on the model, so these SKUs are not per model.
MODEL_INDEPENDENT_COST_TYPES = frozenset(COST_TYPE_METERS)

FOCUS_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ServiceName",
    "ServiceCategory",
    "ServiceSubcategory",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "ServiceProviderName",
    "HostProviderName",
    "SkuId",
    "SkuPriceId",
    "SkuMeter",
    "SkuPriceDetails",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "PricingCategory",
    "ConsumedQuantity",
    "ConsumedUnit",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "Tags",
    "InvoiceId",
)
EXTENSION_COLUMNS = (
    "x_CostKnown",
    "x_QuantityKnown",
    "x_ListCostSource",
    "x_Model",
    "x_TokenType",
    "x_CostType",
    "x_ServiceTier",
    "x_ContextWindow",
    "x_InferenceGeo",
    "x_AmountCentsRaw",
    "x_SourceEndpoint",
    "x_ApiKeyId",
    "x_ApiKeyName",
    "x_AllocationMethod",
    "x_Speed",
    "x_ActorType",
    "x_ActorId",
    "x_ActorName",
    "x_Product",
    "x_ModelId",
    "x_ModelDeveloper",
    "x_ModelFamily",
    "x_ModelVersion",
    "x_TokenDirection",
    "x_TokenCacheAction",
    "x_UnitPriceExact",
)
COLUMNS = FOCUS_COLUMNS + EXTENSION_COLUMNS


@dataclass(frozen=True, slots=True)
class BillingContext:
    """What the cost item does not carry: its connection's organization and the workspace's display name."""

    organization_id: str
    organization_name: str
    workspace_name: str | None = None
    # Set on rows of the per-API-key export: the key (or console/unattributed) the row's cost is allocated to.
    api_key_id: str | None = None
    api_key_name: str | None = None
    allocation_method: str | None = None
    # Set on per-key rows of analytics days: who the cost is attributed to, and the product.
    actor_type: str | None = None
    actor_id: str | None = None
    actor_name: str | None = None
    product: str | None = None


@dataclass(frozen=True, slots=True)
class _Pricing:
    pricing_quantity: Decimal
    pricing_unit: str
    consumed_quantity: Decimal | None
    consumed_unit: str | None

    @property
    def measured(self) -> bool:
        return self.consumed_quantity is not None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _billing_period(day: date) -> tuple[datetime, datetime]:
    # Anthropic's invoice cycle is not documented; the UTC calendar month is the assumption (focus.md 3b).
    first = day.replace(day=1)
    return day_start(first), day_start(next_month(first))


def _pricing(item: CostItem) -> _Pricing:
    unit = UNITS.get(item.unit or "")
    # A zero quantity cannot carry a non-zero cost as a unit price, so it counts as not measured.
    measured = unit is not None and item.quantity is not None and (item.quantity > 0 or not item.cost_usd)
    measured = measured and (item.quantity > 0 or not item.list_cost_usd)
    if not measured:
        return _Pricing(Decimal(1), UNMEASURED_PRICING_UNIT, None, None)
    consumed_unit, pricing_unit, per_pricing_unit = unit
    quantity = Decimal(item.quantity)
    return _Pricing(quantity / per_pricing_unit, pricing_unit, quantity, consumed_unit)


def unit_price(cost: Decimal, pricing_quantity: Decimal) -> tuple[Decimal, bool]:
    """(cost ÷ pricing_quantity, exact): exact when it terminates within 28 significant digits, else rounded
    half-even to UNIT_PRICE_DIGITS significant digits (decimal division is correctly rounded: no float, no residue)."""
    if not pricing_quantity:
        return Decimal(0), True  # a measured zero quantity, which then has a zero cost
    exact = exact_quotient(cost, pricing_quantity)
    if exact is not None:
        return exact, True
    with localcontext() as ctx:
        ctx.prec, ctx.rounding = UNIT_PRICE_DIGITS, ROUND_HALF_EVEN
        return cost / pricing_quantity, False


def sku_meter(item: CostItem) -> str | None:
    """What the SKU meters: "Input Tokens", "Web Search Requests", "Code Execution", ..."""
    if item.token_type:
        return SKU_METERS.get(item.token_type, item.token_type)
    return COST_TYPE_METERS.get(item.cost_type or "", item.cost_type)


def sku_id(item: CostItem) -> str:
    """`{canonical model}/{token_type}` for tokens; `web_search` / `code_execution` (one price whatever the model)."""
    if item.cost_type in MODEL_INDEPENDENT_COST_TYPES:
        return item.cost_type
    model = model_identity(item.model)
    return "/".join(p for p in (model and model.canonical_id, item.token_type or item.cost_type) if p) or "unknown"


def sku_price_id(item: CostItem) -> str:
    """The SKU plus everything that changes its price: service tier, context window, inference geo."""
    if item.cost_type in MODEL_INDEPENDENT_COST_TYPES:
        return item.cost_type
    parts = (item.service_tier, item.context_window, item.inference_geo)
    # Fast mode has its own price; the speed is added only when reported, so legacy ids stay as they were.
    speed = () if item.speed is None else (item.speed,)
    return "/".join((sku_id(item), *(p or "-" for p in parts), *speed))


def _price_details(item: CostItem) -> str:
    """What SkuPriceId's parts mean, keyed `x_` + PascalCase (FOCUS 1.2 reserves other keys for its own properties);
    only what is the same on every row of the SkuPriceId, so the canonical model and never the reported id."""
    if item.cost_type in MODEL_INDEPENDENT_COST_TYPES:
        return json.dumps({"x_CostType": item.cost_type})
    model = model_identity(item.model)
    direction, cache_action = TOKEN_FACETS.get(item.token_type or "", (None, None))
    details = {
        "x_Model": model and model.canonical_id,
        "x_ModelDeveloper": model and model.developer,
        "x_ModelFamily": model and model.family,
        "x_ModelVersion": model and model.version,
        "x_CostType": item.cost_type,
        "x_TokenType": item.token_type,
        "x_TokenDirection": direction,
        "x_TokenCacheAction": cache_action,
        "x_ServiceTier": item.service_tier,
        "x_ContextWindow": item.context_window,
        "x_InferenceGeo": item.inference_geo,
        "x_Speed": item.speed,
    }
    return json.dumps({k: v for k, v in details.items() if v is not None}, sort_keys=True)


def _region(item: CostItem) -> str | None:
    return item.inference_geo if item.inference_geo not in (None, "global", "not_available") else None


def _qualifier(value: str) -> str:
    return QUALIFIERS.get(value) or value.replace("_", " ").title()


def charge_description(item: CostItem) -> str:
    """One form for both sources, from the line's fields: "Claude Sonnet 4.6 Usage - Input Tokens (Batch, US)"."""
    model = model_identity(item.model)
    price_parts = (item.service_tier, item.context_window, item.inference_geo, item.speed)
    qualifiers = ", ".join(_qualifier(p) for p in price_parts if p and p not in BASE_VALUES)
    what = f"{model.display_name if model else NO_MODEL} Usage - {sku_meter(item) or 'Other'}"
    what += f" ({qualifiers})" if qualifiers else ""
    if item.cost_known:
        return what
    return f"{what}: usage reported, cost not reported by Anthropic's cost report; the 0.0 costs are placeholders"


def workspace_name(item: CostItem, context: BillingContext) -> str:
    """The workspace's display name; a null workspace is the organization's Default workspace."""
    if item.workspace_id is None:
        return DEFAULT_WORKSPACE_NAME
    return context.workspace_name or item.workspace_id


def to_focus_row(item: CostItem, context: BillingContext) -> dict[str, Any]:
    """One FOCUS row keyed by `COLUMNS`: money and quantities as Decimal, flags as bool, absent values as None."""
    charge_start = day_start(item.date)
    billing_start, billing_end = _billing_period(item.date)
    pricing = _pricing(item)
    cost = item.cost_usd if item.cost_known else Decimal(0)
    list_cost = item.list_cost_usd if item.list_cost_usd is not None else cost
    list_unit_price, list_exact = unit_price(list_cost, pricing.pricing_quantity)
    contracted_unit_price, contracted_exact = unit_price(cost, pricing.pricing_quantity)
    model = model_identity(item.model)
    direction, cache_action = TOKEN_FACETS.get(item.token_type or "", (None, None))
    analytics = item.list_cost_usd is not None
    region = _region(item)
    workspace = workspace_name(item, context)
    return {
        "BilledCost": cost,
        "EffectiveCost": cost,
        "ListCost": list_cost,
        "ContractedCost": cost,
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
        "ChargeDescription": charge_description(item),
        "ChargeFrequency": "Usage-Based",
        "ServiceName": SERVICE_NAME,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceSubcategory": "Generative AI",
        "ProviderName": ANTHROPIC,
        "PublisherName": ANTHROPIC,
        "InvoiceIssuerName": ANTHROPIC,
        "ServiceProviderName": ANTHROPIC,
        "HostProviderName": ANTHROPIC,
        "SkuId": sku_id(item),
        "SkuPriceId": sku_price_id(item),
        "SkuMeter": sku_meter(item),
        "SkuPriceDetails": _price_details(item),
        "ListUnitPrice": list_unit_price,
        "ContractedUnitPrice": contracted_unit_price,
        "PricingQuantity": pricing.pricing_quantity,
        "PricingUnit": pricing.pricing_unit,
        "PricingCategory": "Standard",
        "ConsumedQuantity": pricing.consumed_quantity,
        "ConsumedUnit": pricing.consumed_unit,
        "SubAccountId": item.workspace_id or DEFAULT_WORKSPACE_ID,
        "SubAccountName": workspace,
        "SubAccountType": "Workspace",
        "RegionId": region,
        "RegionName": region,
        "ResourceId": None,
        "ResourceName": None,
        "ResourceType": None,
        "Tags": json.dumps({"anthropic/workspace": workspace}),
        "InvoiceId": None,
        "x_CostKnown": item.cost_known,
        "x_QuantityKnown": pricing.measured,
        "x_ListCostSource": "list_amount" if analytics else "BilledCost",
        "x_Model": model and model.canonical_id,
        "x_TokenType": item.token_type,
        "x_CostType": item.cost_type,
        "x_ServiceTier": item.service_tier,
        "x_ContextWindow": item.context_window,
        "x_InferenceGeo": item.inference_geo,
        "x_AmountCentsRaw": item.amount_cents,
        "x_SourceEndpoint": ANALYTICS_COST if analytics else COST_REPORT if item.cost_known else USAGE_REPORT,
        "x_ApiKeyId": context.api_key_id,
        "x_ApiKeyName": context.api_key_name,
        "x_AllocationMethod": context.allocation_method,
        "x_Speed": item.speed,
        "x_ActorType": context.actor_type,
        "x_ActorId": context.actor_id,
        "x_ActorName": context.actor_name,
        "x_Product": context.product,
        "x_ModelId": item.model,
        "x_ModelDeveloper": model and model.developer,
        "x_ModelFamily": model and model.family,
        "x_ModelVersion": model and model.version,
        "x_TokenDirection": direction,
        "x_TokenCacheAction": cache_action,
        "x_UnitPriceExact": list_exact and contracted_exact,
    }
