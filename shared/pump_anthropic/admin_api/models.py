"""Pydantic models for Admin API responses: strict about the envelope, permissive about row contents."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict


class _Envelope(BaseModel):
    # New top-level fields must not break us; missing or mistyped required ones must.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Resource(BaseModel):
    # Unknown fields and enum values on resources pass through (readable via `model_extra`).
    model_config = ConfigDict(extra="allow", frozen=True)


class Organization(_Resource):
    """The organisation an Admin key belongs to (`GET /v1/organizations/me`)."""

    id: str
    name: str


class Workspace(_Resource):
    """One workspace; the Default workspace is never listed (reports show it as `workspace_id: null`)."""

    id: str
    name: str
    created_at: AwareDatetime | None = None
    archived_at: AwareDatetime | None = None


class ApiKey(_Resource):
    """One API key's metadata (never the key itself, only `partial_key_hint`)."""

    id: str
    name: str
    status: str | None = None
    workspace_id: str | None = None
    created_at: AwareDatetime | None = None
    partial_key_hint: str | None = None


class _ReportBucket(_Envelope):
    starting_at: AwareDatetime
    ending_at: AwareDatetime
    # Rows stay verbatim dicts: normalisation owns their meaning, so new fields or enum values never fail here.
    results: list[dict[str, Any]]


class CostBucket(_ReportBucket):
    """One UTC day of the cost report; `results` rows are kept as returned."""


class UsageBucket(_ReportBucket):
    """One time bucket of the messages usage report; `results` rows are kept as returned."""


class _ReportPage(_Envelope):
    has_more: bool
    next_page: str | None = None


class CostReportPage(_ReportPage):
    """One page of `GET /v1/organizations/cost_report`."""

    data: list[CostBucket]


class UsageReportPage(_ReportPage):
    """One page of `GET /v1/organizations/usage_report/messages`."""

    data: list[UsageBucket]


class _ListPage(_Envelope):
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class WorkspacePage(_ListPage):
    """One page of `GET /v1/organizations/workspaces`."""

    data: list[Workspace]


class ApiKeyPage(_ListPage):
    """One page of `GET /v1/organizations/api_keys`."""

    data: list[ApiKey]
