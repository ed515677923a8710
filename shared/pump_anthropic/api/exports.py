"""Routes of the asynchronous exports: POST /costs/exports (a job) and GET /costs/exports/{id} (its state and file).

Two routers, because two functions serve them: creating a job writes its record, so the connect function (which
already writes the table) serves it; reading a job and signing its download URL is for the read API, which stays
read-only on the table.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from pump_anthropic import wiring
from pump_anthropic.api.powertools import json_body_is_not_an_object
from pump_anthropic.api.request import tenant_id
from pump_anthropic.api.responses import json_response
from pump_anthropic.api.schemas import LOCATION, ExportJob, errors, ok, unsupported_media_type
from pump_anthropic.clock import utc_now
from pump_anthropic.domain import report
from pump_anthropic.exceptions import (
    STORAGE_ERRORS,
    InvalidInputError,
    InvalidQueryError,
    NotFoundError,
    SyncQueueUnavailableError,
    TenantRateLimitedError,
)
from pump_anthropic.logic import exports

create_router = APIGatewayHttpRouter()
router = APIGatewayHttpRouter()
ExportId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class ExportBody(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    from_: str | None = Field(default=None, alias="from", description="First UTC day, YYYY-MM-DD")
    to: str | None = Field(default=None, description="Last UTC day (inclusive), YYYY-MM-DD")
    format: str | None = Field(default=None, description="'focus' (FOCUS 1.2 CSV, the default) or 'csv'")
    allocation: str | None = Field(default=None, description="FOCUS only: 'api_key' for one row per key's share")
    group_by: str | None = Field(
        default=None, description="csv only: comma list of " + ", ".join(report.GROUP_BY_DIMENSIONS)
    )
    gzip: StrictBool = Field(default=False, description="Compress the file (gzip)")


@create_router.post(
    "/costs/exports",
    summary="Start an export of any date range (up to 400 days) as a file to download when ready",
    responses={
        **ok(202, ExportJob, "The export job, queued; follow it at GET /costs/exports/{export_id}", LOCATION),
        **errors(InvalidQueryError, TenantRateLimitedError, SyncQueueUnavailableError, *STORAGE_ERRORS),
        **unsupported_media_type(),
    },
)
def create_export(body: ExportBody) -> Response[dict]:
    if json_body_is_not_an_object(create_router.current_event):
        raise InvalidInputError(
            "The request is invalid (body: a JSON object is expected); "
            "send a JSON body with Content-Type: application/json."
        )
    tenant = tenant_id(create_router)
    request = parse_export_request(body, today=utc_now().date())
    job = exports.create_export(tenant, request, queue=wiring.export_queue())
    response = json_response(202, job_body(job))
    response.headers["Location"] = f"/costs/exports/{job.export_id}"
    return response


@router.get(
    "/costs/exports/<export_id>",
    summary="An export job: its progress, and once ready a short-lived download URL of its file",
    responses={**ok(200, ExportJob, "The export job"), **errors(NotFoundError, *STORAGE_ERRORS)},
)
def get_export(export_id: ExportId) -> Response[dict]:
    job, download = exports.get_export(tenant_id(router), export_id, store=wiring.export_store())
    return json_response(200, job_body(job, download))


def parse_export_request(body: ExportBody, *, today: date) -> exports.ExportRequest:
    """The rules and error codes of GET /costs for the range and the grouping, then what only an export has."""
    format_ = body.format or "focus"
    query = report.parse_cost_query(body.from_, body.to, body.group_by if format_ == "csv" else None, today=today)
    if format_ not in exports.FORMATS:
        raise InvalidQueryError("'format' must be one of: " + ", ".join(exports.FORMATS) + ".")
    if body.allocation is not None and body.allocation != "api_key":
        raise InvalidQueryError("'allocation' may only be 'api_key'.")
    if format_ == "csv" and body.allocation is not None:
        raise InvalidQueryError("'allocation' applies to the FOCUS format; for csv, group by api_key_id instead.")
    if "hour" in query.group_by:
        raise InvalidQueryError("Exports are by day: group_by=hour is answered by GET /costs for yesterday and today.")
    if format_ == "focus" and body.group_by is not None:
        raise InvalidQueryError("'group_by' applies to the csv format; the FOCUS export has one row per cost item.")
    return exports.ExportRequest(query, format_, body.allocation, body.gzip)


def job_body(job: exports.ExportJob, download: tuple[str, datetime] | None = None) -> dict:
    ready = job.status == "ready"
    return {
        "id": job.export_id,
        "status": job.status,
        "format": job.format,
        "from": job.first_day,
        "to": job.last_day,
        "allocation": job.allocation,
        "group_by": job.group_by.split(",") if job.group_by else None,
        "gzip": job.gzip,
        "filename": job.filename,
        "progress": {
            "rows": job.rows,
            "bytes": job.bytes_written,
            "days_done": job.days_done,
            "days_total": job.days_total,
        },
        "rows": job.rows if ready else None,
        "bytes": job.bytes_written if ready else None,
        "sha256": job.sha256 if ready else None,
        "download_url": download[0] if download else None,
        "download_expires_at": _iso(download[1]) if download else None,
        "expires_at": _iso(job.expires),
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
        "finished_at": _iso(job.finished_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
