"""The bodies the HTTP API answers with, as models: the OpenAPI document's source of truth for responses.

Routes build plain dicts (the shapes below); these models only describe them, so documenting a body never changes
what is sent. Amounts are exact decimal strings in USD.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pump_anthropic.api.schemas_pricing import CacheSavings as CacheSavings
from pump_anthropic.api.schemas_pricing import RateCard as RateCard
from pump_anthropic.exceptions import AdminApiRateLimitedError, PumpError


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
    source: Literal["legacy", "analytics"] = Field(
        description="legacy (the usage and cost reports) or analytics (the Usage and Cost Analytics API)"
    )
    from_: str = Field(alias="from")
    to: str
    reason: str | None = Field(
        default=None, description="Why days the analytics API should cover came from the legacy reports"
    )


class CostSource(BaseModel):
    setting: Literal["auto", "legacy", "analytics"] = Field(description="ANTHROPIC_COST_SOURCE")
    coverage: list[SourceRange] = Field(description="Which API the stored days came from, oldest first")
    data_refreshed_at: str | None = Field(
        description="The analytics API's watermark at the last read: data after it is incomplete"
    )


class SpendLimitScope(BaseModel):
    type: Literal["organization", "usage_tier", "workspace"]
    workspace_id: str | None = Field(description="With type workspace: null is the Default workspace")


class SpendLimitHeadroom(BaseModel):
    id: str = Field(description="Anthropic's spl_… id, or budget:{id} for an enforced budget standing in")
    source: Literal["anthropic", "budget"]
    scope: SpendLimitScope
    period: Literal["daily", "weekly", "monthly"] = Field(
        description="monthly: the UTC calendar month; weekly: from Monday 00:00 UTC; daily: the UTC day (assumed)"
    )
    period_from: str
    period_to: str
    currency: str
    is_enabled: bool = Field(description="false: extra usage is switched off for the organization (amount suspended)")
    amount_usd: str | None = Field(description="The cap; null when there is none or it is not in USD")
    spent_usd: str = Field(description="Our stored spend of the scope in the period so far, exact")
    used_pct: str | None
    projected_reached_on: str | None = Field(
        description="When the cap is reached at the last 7 complete days' run-rate; null when not at that rate"
    )


class SpendLimits(BaseModel):
    status: Literal["ok", "refused", "unavailable", "not_read"] = Field(
        description="ok: read from Anthropic; refused: the key can't read them (enforced budgets stand in); "
        "unavailable: the last read failed (the limits of the read before are shown); not_read: not yet"
    )
    read_at: str | None
    error_code: str | None
    limits: list[SpendLimitHeadroom]


class Connection(BaseModel):
    id: str
    status: Literal["backfilling", "active", "revoked", "error", "disconnected", "purged"] = Field(
        description="purged only in the answer to DELETE …?purge=true (the connection is then gone: 404)"
    )
    organization: Organization
    key_hint: str = Field(description="The key's prefix and its last four characters only, never the key")
    backfill: BackfillProgress
    last_sync_at: str | None
    last_sync: LastSync | None = Field(description="The latest sync's figures; null before the first sync")
    last_error: ErrorDetail | None
    cost_source: CostSource
    created_at: str | None
    updated_at: str | None
    purge: Purge | None = Field(default=None, description="Only in the answer to DELETE …?purge=true")
    spend_limits: SpendLimits | None = Field(
        default=None, description="Only in GET /integrations/anthropic/{id}: the spend limits and the headroom to each"
    )


class CrossCheck(BaseModel):
    """The daily audit of the analytics source: a settled day's analytics cost against the legacy cost report."""

    day: str
    analytics_usd: str
    legacy_usd: str
    priority_usd: str
    difference_usd: str
    mismatch: bool


class LastSync(BaseModel):
    """What the latest sync did (every key may be absent from a record written by an older version)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["synced", "skipped", "revoked"] | None = None
    window_start: str | None = Field(default=None, description="First day re-read, YYYY-MM-DD")
    window_end: str | None = Field(default=None, description="Last day re-read, YYYY-MM-DD")
    anthropic_requests: int | None = None
    items_written: int | None = None
    items_unchanged: int | None = None
    items_deleted: int | None = None
    anthropic_retries: int | None = None
    previous_sync_at: str | None = None
    cross_check: CrossCheck | None = Field(default=None, description="Null when this sync ran no audit")
    sources: list[SourceRange] | None = None
    data_refreshed_at: str | None = None
    daily_work_on: str | None = Field(default=None, description="The day the daily work (names, audit) last ran")


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

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    date: str | None = Field(default=None, description="YYYY-MM-DD (grouped by date)")
    month: str | None = Field(default=None, description="YYYY-MM (grouped by month)")
    hour: str | None = Field(default=None, description="YYYY-MM-DDTHH:00:00Z, the UTC hour (grouped by hour)")
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
    allocation: Literal["billed", "proportional", "unattributed", "mixed"] | None = Field(
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


def ok(status: int, model: type[BaseModel], description: str, headers: dict | None = None) -> dict[int, dict]:
    content = {"content": {"application/json": {"model": model}}}
    return {status: {"description": description, **({"headers": headers} if headers else {}), **content}}


def errors(*classes: type[PumpError]) -> dict[int, dict]:
    """The error responses of a route: the statuses of the errors it can raise, plus what every route may answer
    (400 an unreadable request, 401 no tenant, 500 our own fault), each with the error body."""
    statuses = {400, 401, 500, *(c.http_status for c in classes)}
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            **({"headers": RETRY_AFTER} if status == 429 or _anthropic_rate_limit(status, classes) else {}),
            "content": {"application/json": {"model": ErrorBody}},
        }
        for status in sorted(statuses)
    }


def _anthropic_rate_limit(status: int, classes: tuple[type[PumpError], ...]) -> bool:
    return any(issubclass(c, AdminApiRateLimitedError) and c.http_status == status for c in classes)


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before asking again: sent with every 429 of a tenant quota, and when "
        "Anthropic said how long to wait",
        "schema": {"type": "integer", "minimum": 1},
    }
}
LOCATION = {
    "Location": {
        "description": "The job's path: /costs/exports/{export_id}",
        "required": True,
        "schema": {"type": "string"},
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
    status: Literal["queued", "running", "ready", "failed"]
    format: Literal["focus", "csv"] = Field(description="focus (FOCUS 1.2 CSV) or csv (the cost report's rows)")
    from_: str = Field(alias="from")
    to: str
    allocation: Literal["api_key"] | None
    group_by: list[str] | None = Field(description="The csv format's grouping; null for FOCUS")
    gzip: bool
    filename: str
    progress: ExportProgress
    rows: int | None = Field(description="Rows of the file, once ready")
    bytes: int | None = Field(description="Size of the file in bytes, once ready")
    sha256: str | None = Field(description="SHA-256 of the file's bytes (hex), once ready")
    download_url: str | None = Field(description="Once ready: fetches the file for 15 minutes; ask again for a new one")
    download_expires_at: str | None
    expires_at: str = Field(
        description="When the job and its file are deleted: 7 days after the export finished (or was last queued or "
        "started, while it hasn't)"
    )
    error: ErrorDetail | None
    created_at: str
    updated_at: str | None
    finished_at: str | None
