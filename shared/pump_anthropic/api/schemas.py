"""The bodies the HTTP API answers with, as models: the OpenAPI document's source of truth for responses.

Routes build plain dicts (the shapes below); these models only describe them, so documenting a body never changes
what is sent. Amounts are exact decimal strings in USD.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pump_anthropic.exceptions import PumpError


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable machine-readable code, e.g. key_rejected")
    message: str = Field(description="One sentence for a person: what happened and what to do")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Organization(BaseModel):
    id: str
    name: str


class FailedChunk(BaseModel):
    start: str
    end: str
    error: ErrorDetail


class BackfillProgress(BaseModel):
    chunks_total: int
    chunks_done: int
    chunks_failed: int
    failed_chunks: list[FailedChunk]
    from_: str | None = Field(alias="from")
    to: str | None
    started_at: str | None
    finished_at: str | None


class SourceRange(BaseModel):
    source: str = Field(
        description="legacy (the usage and cost reports) or analytics (the Usage and Cost Analytics API)"
    )
    from_: str = Field(alias="from")
    to: str
    reason: str | None = Field(
        default=None, description="Why days the analytics API should cover came from the legacy reports"
    )


class CostSource(BaseModel):
    setting: str = Field(description="auto, legacy or analytics (ANTHROPIC_COST_SOURCE)")
    coverage: list[SourceRange] = Field(description="Which API the stored days came from, oldest first")
    data_refreshed_at: str | None = Field(
        description="The analytics API's watermark at the last read: data after it is incomplete"
    )


class Connection(BaseModel):
    id: str
    status: str = Field(description="backfilling, active, revoked, error or disconnected")
    organization: Organization
    key_hint: str = Field(description="The key's prefix and its last four characters only, never the key")
    backfill: BackfillProgress
    last_sync_at: str | None
    last_sync: dict[str, Any] | None
    last_error: ErrorDetail | None
    cost_source: CostSource
    created_at: str | None
    updated_at: str | None
    purge: Purge | None = Field(default=None, description="Only in the answer to DELETE …?purge=true")


class Purge(BaseModel):
    items_deleted: int
    kept: str = Field(description="What is kept after a purge, if anything, and why")


class ConnectionList(BaseModel):
    connections: list[Connection]


class CostUnknown(BaseModel):
    tokens: int = Field(description="Tokens Anthropic reports without a cost; 0 when none")
    web_search_requests: int = Field(description="Web searches Anthropic reports without a cost; 0 when none")


class ListPriced(BaseModel):
    """The discount on the spend that has a list price (never null; amounts "0" when none has)."""

    days: int = Field(
        description="Days whose spend all has a list price (read from the analytics API), counted over the row's "
        "date (rows by date), the row's month (rows by month) or the whole range (other rows and the total)"
    )
    of_days: int = Field(description="Days with spend, counted over the same period as `days`")
    list_cost_usd: str = Field(description="List price of the lines that carry one: exact decimal string in USD")
    cost_usd: str = Field(description="Net cost of the same lines")
    discount_usd: str = Field(description="list_cost_usd − cost_usd")


class CostFigures(BaseModel):
    """The figures of a row or the total: the same keys for every grouping."""

    cost_usd: str | None = Field(
        description="Net cost (post-discount, pre-credit): exact decimal string in USD. Null only when the cost is "
        "unknown: every line is usage Anthropic reports without a cost (priority tier on legacy days; see "
        "cost_unknown)"
    )
    list_cost_usd: str | None = Field(
        description="List price in USD; null when any contributing line lacks one (days from the legacy reports): "
        "list_priced then gives the discount over the days that have one"
    )
    list_priced: ListPriced
    tokens: int | None = Field(
        description="Tokens; null when a contributing line has no token count: rows and totals grouped by "
        "api_key_id, actor or product over days from the analytics API (its per-key lines carry cost only)"
    )
    cost_unknown: CostUnknown = Field(
        description="Usage Anthropic reports without a cost (priority tier on legacy days): never counted as $0; "
        "zeros when there is none"
    )


class CostRow(CostFigures):
    """One group: the requested group_by dimensions, each followed by its display names, `provisional` when grouped
    by date, then the figures. Only the grouping's dimensions and their names are present; every row of one answer
    has the same keys."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    date: str | None = Field(default=None, description="YYYY-MM-DD (grouped by date)")
    month: str | None = Field(default=None, description="YYYY-MM (grouped by month)")
    provisional: bool | None = Field(
        default=None, description="Grouped by date: whether Anthropic may still revise the day"
    )
    workspace_id: str | None = Field(default=None, description="Null: the organization's Default workspace")
    workspace_name: str | None = Field(default=None, description="With workspace_id: its name (never null)")
    model: str | None = Field(
        default=None,
        description="The model, dated ids folded into their alias (claude-opus-4-1-20250805 → claude-opus-4-1); "
        "null for cost with no model (code execution)",
    )
    model_ids: list[str] | None = Field(
        default=None, description="With model: the ids as Anthropic reported them, sorted"
    )
    model_id: str | None = Field(default=None, description="The model id as Anthropic reported it")
    api_key_id: str | None = Field(default=None, description="An API key id, `console` (no API key) or `unattributed`")
    api_key_name: str | None = Field(default=None, description="With api_key_id: its name, else its id (never null)")
    api_key_hint: str | None = Field(default=None, description="With api_key_id: its hint; null when unknown")
    allocation: str | None = Field(
        default=None,
        description="With api_key_id: billed (by Anthropic), proportional (allocated by us by usage), "
        "unattributed, or mixed",
    )
    actor: str | None = Field(
        default=None,
        description='Who spent it (analytics days); "unknown" on legacy days; null when Anthropic names no one',
    )
    actor_type: str | None = Field(default=None, description="With actor: user_actor, service_account_actor, …")
    actor_id: str | None = Field(default=None, description="With actor: the identity's id; null when none")
    actor_name: str | None = Field(default=None, description="With actor: the name; null when Anthropic gives none")
    actor_email: str | None = Field(default=None, description="With actor: the email; null when none")
    actor_note: str | None = Field(
        default=None, description="With actor: why the identity can't be named; null when there is nothing to say"
    )
    product: str | None = Field(
        default=None, description='claude_code, messages_api, …; "unknown" on legacy days; null when none'
    )
    speed: str | None = Field(default=None, description='"unknown" on legacy days')
    cost_type: str | None = None
    token_type: str | None = Field(default=None, description="Null for cost that is not per token")
    service_tier: str | None = None
    context_window: str | None = None


class CostReport(BaseModel):
    currency: str
    from_: str = Field(alias="from")
    to: str
    group_by: list[str]
    settled_through: str | None = Field(
        description="Days after this one may still be revised by Anthropic (provisional)"
    )
    sources: list[SourceRange] = Field(description="Which API each day of the range came from")
    total: CostFigures = Field(description="The whole range's total, the same on every page")
    rows: list[CostRow] = Field(description="This page's rows, sorted by their group_by values")
    has_more: bool = Field(description="Whether rows follow this page")
    next_page: str | None = Field(
        description="Opaque cursor: pass it as `page`, with the same from, to and group_by, for the next rows; "
        "null on the last page"
    )


def ok(status: int, model: type[BaseModel], description: str) -> dict[int, dict]:
    return {status: {"description": description, "content": {"application/json": {"model": model}}}}


def errors(*classes: type[PumpError]) -> dict[int, dict]:
    """The error responses of a route: the statuses of the errors it can raise, plus what every route may answer
    (400 an unreadable request, 401 no tenant, 500 our own fault), each with the error body."""
    statuses = {400, 401, 500, *(c.http_status for c in classes)}
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            **({"headers": RETRY_AFTER} if status == 429 else {}),
            "content": {"application/json": {"model": ErrorBody}},
        }
        for status in sorted(statuses)
    }


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before asking again (sent with every 429 of a tenant quota)",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def unsupported_media_type() -> dict[int, dict]:
    return {
        415: {
            "description": "The body is not JSON",
            "content": {"application/json": {"model": ErrorBody}},
        }
    }


class ExportProgress(BaseModel):
    rows: int = Field(description="Rows written so far (the header not counted)")
    bytes: int = Field(description="Bytes of the file written so far (compressed, with gzip)")
    days_done: int
    days_total: int = Field(description="Days of the range, times the connections read (FOCUS format)")


class ExportJob(BaseModel):
    id: str
    status: str = Field(description="queued, running, ready or failed")
    format: str = Field(description="focus (FOCUS 1.2 CSV) or csv (the cost report's rows)")
    from_: str = Field(alias="from")
    to: str
    allocation: str | None
    group_by: list[str] | None = Field(description="The csv format's grouping; null for FOCUS")
    gzip: bool
    filename: str
    progress: ExportProgress
    rows: int | None = Field(description="Rows of the file, once ready")
    bytes: int | None = Field(description="Size of the file in bytes, once ready")
    sha256: str | None = Field(description="SHA-256 of the file's bytes (hex), once ready")
    download_url: str | None = Field(description="Once ready: fetches the file for 15 minutes; ask again for a new one")
    download_expires_at: str | None
    expires_at: str = Field(description="When the job and its file are deleted (7 days after the request)")
    error: ErrorDetail | None
    created_at: str
    updated_at: str | None
    finished_at: str | None


class RateRow(BaseModel):
    """One rate of one line: the days of the range on which the line's billed cost per unit was exactly this rate
    (a row without a rate holds every day of the line with the same rate_status). Rows come sorted by their
    dimensions, then by first_seen; with group_by, its dimensions lead the row."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

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

    model_config = ConfigDict(extra="allow", protected_namespaces=())

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
