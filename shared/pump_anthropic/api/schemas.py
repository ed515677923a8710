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
    tokens: int
    web_search_requests: int


class CostFigures(BaseModel):
    cost_usd: str | None = Field(
        description="Net cost (post-discount, pre-credit): exact decimal string in USD; null when only unpriced "
        "usage exists"
    )
    list_cost_usd: str | None = Field(
        description="List price in USD; null when any contributing day lacks it (days from the legacy reports)"
    )
    tokens: int | None = Field(description="Tokens; null for per-key, per-actor or per-product rows of analytics days")
    cost_unknown: CostUnknown | None = Field(
        default=None, description="Usage Anthropic reports without a cost (priority tier): never counted as $0"
    )


class CostRow(CostFigures):
    """One group: the requested group_by dimensions (date, month, workspace_id, model, …), their display names
    (workspace_name; api_key_name, api_key_hint and allocation — billed, proportional, unattributed or mixed — when
    grouped by api_key_id; actor_type, actor_id, actor_name, actor_email and actor_note when grouped by actor),
    `provisional` when grouped by date, then the figures. Days from the legacy reports have actor, product and
    speed "unknown"."""

    model_config = ConfigDict(extra="allow")


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
            "content": {"application/json": {"model": ErrorBody}},
        }
        for status in sorted(statuses)
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
