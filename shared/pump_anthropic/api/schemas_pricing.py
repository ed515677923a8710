"""The bodies of the pricing reads (GET /costs/rates and GET /costs/savings), as models: what the OpenAPI document
shows. Routes build plain dicts; these models only describe them. Amounts are exact decimal strings in USD."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RateRow(BaseModel):
    """One rate of one line: the days of the range on which the line's billed cost per unit was exactly this rate
    (a row without a rate holds every day of the line with the same rate_status). Rows come sorted by their
    dimensions, then by first_seen; with group_by, its dimensions lead the row."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    workspace_id: str | None = Field(default=None, description="Grouped by workspace_id; null: the Default workspace")
    workspace_name: str | None = Field(default=None, description="With workspace_id: its name (never null)")
    month: str | None = Field(default=None, description="YYYY-MM (grouped by month)")
    date: str | None = Field(default=None, description="YYYY-MM-DD (grouped by date)")
    model: str | None = Field(description="The model (dated ids folded into their alias); null for cost with no model")
    model_ids: list[str] = Field(description="The model ids as Anthropic reported them, sorted")
    cost_type: str | None = Field(description="tokens, web_search, code_execution, …")
    token_type: str | None = Field(description="Null for cost that is not per token")
    service_tier: str | None
    context_window: str | None
    inference_geo: str | None = Field(
        description="A price dimension of the legacy reports (US-only inference); null on analytics days"
    )
    speed: str | None = Field(description="Analytics days only; null on legacy days")
    unit: str | None = Field(description="tokens, requests (web search), or null (no usage reported: code execution)")
    per: str | None = Field(description='What the rates are per: "1M tokens", "request", or null')
    tokens: int | None = Field(description="Tokens of the row's days; null unless unit is tokens")
    requests: int | None = Field(description="Requests of the row's days; null unless unit is requests")
    cost_usd: str | None = Field(description="Net billed cost of the row's days, exact; null when the cost is unknown")
    list_cost_usd: str | None = Field(description="List price of the row's days; null when any day lacks one (legacy)")
    net_usd_per_unit: str | None = Field(
        description="The exact billed rate per `per`: net_usd_per_unit × units (÷ 1,000,000 for tokens) = cost_usd "
        "exactly. Null when the rate is not an exact decimal (see rate_status)"
    )
    list_usd_per_unit: str | None = Field(
        description="list_cost_usd per `per`, when that is an exact decimal; null otherwise or when unknown"
    )
    discount_pct: str | None = Field(
        description="100 × (list − net) / list: exact when it terminates, else rounded to 4 decimal places; null "
        "without a list price"
    )
    rate_exact: bool = Field(description="Whether net_usd_per_unit is given (exact)")
    rate_status: str = Field(
        description="exact; inexact (a day's cost / units is no finite decimal within 28 significant digits: "
        "Anthropic rounded the amount, or the line blends prices); no_usage (cost without units); cost_unknown "
        "(usage without a cost: priority tier on legacy days)"
    )
    net_usd_per_unit_rounded: str | None = Field(
        description="cost_usd / units per `per`, rounded half-even to 6 decimal places (for display); null "
        "without units or cost"
    )
    list_usd_per_unit_rounded: str | None = Field(
        description="list_cost_usd / units per `per`, rounded half-even to 6 decimal places (for display); null "
        "without units or list price"
    )
    first_seen: str = Field(description="First day of the range with this rate")
    last_seen: str = Field(description="Last day of the range with this rate")
    days: int = Field(description="Days of the range with this rate")
    rate_changed: bool = Field(
        description="Whether this line's rate changed in the range by more than Anthropic's rounding explains (each "
        "rate is then its own row)"
    )


class RateCard(BaseModel):
    currency: str
    from_: str = Field(alias="from")
    to: str
    group_by: list[str] = Field(description="The dimensions added to the rate dimensions")
    rows: list[RateRow]


class SavingsFigures(BaseModel):
    """What caching saved, priced at the same day's billed uncached input rate of the same model, tier, context
    window, geo and speed. Exact decimal strings in USD."""

    uncached_input_tokens: int
    uncached_input_cost_usd: str
    cache_read_tokens: int
    cache_read_cost_usd: str = Field(description="Billed cost of every cache read (priced or not)")
    savings_known_tokens: int = Field(description="Cache reads priced against a plain-input rate")
    unpriced_cache_read_tokens: int = Field(
        description="Cache reads on a day with no uncached input of their price class (no rate to price them), or "
        "billed without a cost: counted, not priced"
    )
    cache_read_as_input_usd: str = Field(description="What the savings_known_tokens would have cost as uncached input")
    read_savings_usd: str = Field(description="cache_read_as_input_usd − the billed cost of those reads")
    cache_write_5m_tokens: int
    cache_write_5m_cost_usd: str
    cache_write_5m_premium_usd: str = Field(description="What the priced 5-minute writes cost above plain input")
    unpriced_cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_write_1h_cost_usd: str
    cache_write_1h_premium_usd: str = Field(description="What the priced 1-hour writes cost above plain input")
    unpriced_cache_write_1h_tokens: int
    net_savings_usd: str = Field(description="read_savings_usd − both write premiums")
    cache_loses_money: bool = Field(description="net_savings_usd is negative: the writes cost more than reads saved")
    one_hour_cache_loses_money: bool = Field(
        description="The 1-hour writes' premium alone exceeds what the reads saved"
    )
    savings_exact: bool = Field(
        description="False when a plain-input rate was a repeating decimal: those parts are rounded to 10⁻¹² USD"
    )


class SavingsRow(SavingsFigures):
    """One group: the group_by dimensions (workspace_id followed by workspace_name, model by model_ids), then the
    figures."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    date: str | None = None
    month: str | None = None
    workspace_id: str | None = None
    workspace_name: str | None = None
    model: str | None = None
    model_ids: list[str] | None = None
    model_id: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    speed: str | None = None


class CacheSavings(BaseModel):
    currency: str
    from_: str = Field(alias="from")
    to: str
    group_by: list[str]
    total: SavingsFigures
    rows: list[SavingsRow] = Field(description="Every group with cache or uncached input tokens, sorted")
