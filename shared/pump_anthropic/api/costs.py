"""Routes of the read API: GET /costs (the Pump frontend's cost report) and GET /costs/export (FOCUS CSV)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from pump_anthropic.api.request import tenant_id
from pump_anthropic.api.responses import json_text_response
from pump_anthropic.api.schemas import CostReport, errors, ok
from pump_anthropic.clock import utc_now
from pump_anthropic.domain import export, report, report_pages
from pump_anthropic.exceptions import STORAGE_ERRORS, ExportTooLargeError, InvalidQueryError, TenantRateLimitedError
from pump_anthropic.logic import read
from pump_anthropic.settings import settings

router = APIGatewayHttpRouter()

EXPORT_FORMATS = ("focus",)
# A Lambda's synchronous response may not exceed 6 MB, and API Gateway buffers it whole. The limit counts the JSON
# envelope around the body, where each quote of the CSV (JSON cells such as Tags) grows to \", so the CSV itself is
# capped at 5 MB and a larger export answers 400 export_too_large, pointing to POST /costs/exports (any size).
MAX_EXPORT_BYTES = 5 * 1024 * 1024


@router.get(
    "/costs",
    summary="Anthropic spend for a date range, grouped by the requested dimensions",
    responses={
        **ok(200, CostReport, "The cost report"),
        **errors(InvalidQueryError, TenantRateLimitedError, *STORAGE_ERRORS),
    },
)
def get_costs(
    from_: Annotated[str | None, Query(alias="from", description="First UTC day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="Last UTC day (inclusive), YYYY-MM-DD")] = None,
    group_by: Annotated[str | None, Query(description="Comma list of " + ", ".join(report.GROUP_BY_DIMENSIONS))] = None,
    limit: Annotated[
        str | None,
        Query(
            description=f"Rows per page, 1 to {report_pages.MAX_PAGE_ROWS} (default "
            f"{report_pages.DEFAULT_PAGE_ROWS}); a page may hold fewer to keep the response within the Lambda size "
            "limit"
        ),
    ] = None,
    page: Annotated[
        str | None,
        Query(
            description="Opaque cursor: the next_page of the previous answer to the same from, to and group_by; "
            "leave it out for the first page"
        ),
    ] = None,
) -> Response[str]:
    tenant = tenant_id(router)
    today = utc_now().date()
    query = report.parse_cost_query(from_, to, group_by, today=today)
    page_query = report_pages.parse_page_query(limit, page, query, tenant=tenant)
    windows = {"legacy": settings().sync_lookback_days, "analytics": settings().analytics_reread_days}
    body = read.cost_report_page(tenant, query, page_query, today=today, restatement_days=windows)
    return json_text_response(200, body)


@router.get(
    "/costs/export",
    summary="Every cost item of a date range as a FinOps FOCUS 1.2 CSV",
    responses={
        200: {
            "description": "FOCUS 1.2 CSV",
            "headers": {
                "Content-Disposition": {
                    "description": 'attachment; filename="anthropic-focus-{from}-{to}.csv"',
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **errors(InvalidQueryError, ExportTooLargeError, TenantRateLimitedError, *STORAGE_ERRORS),
    },
)
def get_costs_export(
    from_: Annotated[str | None, Query(alias="from", description="First UTC day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="Last UTC day (inclusive), YYYY-MM-DD")] = None,
    format_: Annotated[str | None, Query(alias="format", description="Only 'focus' (the default)")] = None,
    allocation: Annotated[
        str | None, Query(description="'api_key': one row per API key's allocated share (x_ApiKeyId)")
    ] = None,
) -> Response[str]:
    tenant = tenant_id(router)
    query = report.parse_cost_query(from_, to, None, today=utc_now().date())
    if format_ is not None and format_ not in EXPORT_FORMATS:
        raise InvalidQueryError("'format' must be one of: " + ", ".join(EXPORT_FORMATS) + ".")
    if allocation is not None and allocation != "api_key":
        raise InvalidQueryError("'allocation' may only be 'api_key'.")
    lines = read.export_lines(tenant, query, by_api_key=allocation is not None)
    try:
        body = export.join_within(lines, MAX_EXPORT_BYTES)
    except ExportTooLargeError:
        raise ExportTooLargeError(
            "The export of this date range is larger than one API response can carry (5 MB); use POST "
            "/costs/exports, which exports any range up to 400 days as a file to download, or export a shorter "
            "range."
        ) from None
    filename = f"anthropic-focus-{query.first_day.isoformat()}-{query.last_day.isoformat()}.csv"
    return Response(
        status_code=200,
        content_type=export.CONTENT_TYPE,
        body=body,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
