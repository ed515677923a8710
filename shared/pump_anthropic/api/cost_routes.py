"""Routes of the read API: GET /costs (the Pump frontend's cost report) and GET /costs/export (FOCUS CSV)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from pump_anthropic import costs, export
from pump_anthropic.api.common import json_response, tenant_id
from pump_anthropic.clock import utc_now
from pump_anthropic.dal import repository as repo

router = APIGatewayHttpRouter()

EXPORT_FORMATS = ("focus",)
# A Lambda's synchronous response may not exceed 6 MB, and API Gateway buffers it whole. The limit counts the JSON
# envelope around the body, where each quote of the CSV (JSON cells such as Tags) grows to \", so the CSV itself is
# capped at 5 MB and a larger export answers 400 export_too_large. Beyond that we would stream
# `export.focus_csv_lines` into an S3 multipart upload and answer with a short-lived presigned GET URL (not built).
MAX_EXPORT_BYTES = 5 * 1024 * 1024
# The same 6 MB limit for the JSON report, with room for the response envelope.
MAX_REPORT_BYTES = 5 * 1024 * 1024


@router.get("/costs", summary="Anthropic spend for a date range, grouped by the requested dimensions")
def get_costs(
    from_: Annotated[str | None, Query(alias="from", description="First UTC day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="Last UTC day (inclusive), YYYY-MM-DD")] = None,
    group_by: Annotated[str | None, Query(description="Comma list of " + ", ".join(costs.GROUP_BY_DIMENSIONS))] = None,
) -> Response[dict]:
    tenant = tenant_id(router)
    query = costs.parse_cost_query(from_, to, group_by, today=utc_now().date())
    report = cost_report(tenant, query)
    if len(json.dumps(report)) > MAX_REPORT_BYTES:
        raise costs.InvalidQueryError(
            "This report has too many rows for one response; ask for a shorter range or fewer group_by dimensions.",
            code="report_too_large",
        )
    return json_response(200, report)


def cost_report(tenant: str, query: costs.CostQuery) -> dict:
    connection_ids = repo.connection_ids(tenant)
    by_api_key = "api_key_id" in query.group_by
    rollups = repo.iter_rollups(tenant, query.first_day, query.last_day, by_api_key=by_api_key)
    names = repo.workspace_names(tenant, connection_ids) if "workspace_id" in query.group_by else {}
    key_names = repo.api_key_names(tenant, connection_ids) if by_api_key else {}
    return costs.build_cost_report(query, rollups, names, key_names)


@router.get(
    "/costs/export",
    summary="Every cost item of a date range as a FinOps FOCUS 1.2 CSV",
    responses={200: {"description": "FOCUS 1.2 CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}},
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
    query = costs.parse_cost_query(from_, to, None, today=utc_now().date())
    if format_ is not None and format_ not in EXPORT_FORMATS:
        raise costs.InvalidQueryError("'format' must be one of: " + ", ".join(EXPORT_FORMATS) + ".")
    if allocation is not None and allocation != "api_key":
        raise costs.InvalidQueryError("'allocation' may only be 'api_key'.")
    lines = allocated_export_lines(tenant, query) if allocation else focus_export_lines(tenant, query)
    body = export.join_within(lines, MAX_EXPORT_BYTES)
    filename = f"anthropic-focus-{query.first_day.isoformat()}-{query.last_day.isoformat()}.csv"
    return Response(
        status_code=200,
        content_type=export.CONTENT_TYPE,
        body=body,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def focus_export_lines(tenant: str, query: costs.CostQuery) -> Iterator[str]:
    """The tenant's FOCUS CSV lines over every connection, read from the table lazily."""
    connections = repo.list_connections(tenant)
    names = repo.workspace_names(tenant, [c.connection_id for c in connections])
    sources = (
        export.ConnectionItems(
            c.organization_id,
            c.organization_name,
            repo.iter_cost_items(tenant, c.connection_id, query.first_day, query.last_day),
        )
        for c in connections
    )
    return export.focus_csv_lines(sources, names)


def allocated_export_lines(tenant: str, query: costs.CostQuery) -> Iterator[str]:
    """The tenant's FOCUS CSV lines with cost allocated to API keys, from the per-key rollups."""
    connections = repo.list_connections(tenant)
    ids = [c.connection_id for c in connections]
    names, key_names = repo.workspace_names(tenant, ids), repo.api_key_names(tenant, ids)
    rollups = list(repo.iter_rollups(tenant, query.first_day, query.last_day, by_api_key=True))
    sources = (
        export.ConnectionKeyLines(
            c.organization_id, c.organization_name, (r for r in rollups if r.connection_id == c.connection_id)
        )
        for c in connections
    )

    def label(key: str) -> tuple[str, str]:
        name, _hint, method = costs.api_key_label(key, key_names)
        return name, method

    return export.allocated_focus_csv_lines(sources, names, label)
