"""Routes of the read API: GET /costs (the Pump frontend's cost report)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from pump_anthropic import costs
from pump_anthropic.api.common import json_response, tenant_id
from pump_anthropic.clock import utc_now
from pump_anthropic.dal import repository as repo

router = APIGatewayHttpRouter()


@router.get("/costs", summary="Anthropic spend for a date range, grouped by the requested dimensions")
def get_costs(
    from_: Annotated[str | None, Query(alias="from", description="First UTC day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="Last UTC day (inclusive), YYYY-MM-DD")] = None,
    group_by: Annotated[str | None, Query(description="Comma list of " + ", ".join(costs.GROUP_BY_DIMENSIONS))] = None,
) -> Response[dict]:
    tenant = tenant_id(router)
    query = costs.parse_cost_query(from_, to, group_by, today=utc_now().date())
    return json_response(200, cost_report(tenant, query))


def cost_report(tenant: str, query: costs.CostQuery) -> dict:
    connection_ids = [c.connection_id for c in repo.list_connections(tenant)]
    rollups = repo.iter_rollups(tenant, query.first_day, query.last_day)
    names = repo.workspace_names(tenant, connection_ids) if "workspace_id" in query.group_by else {}
    return costs.build_cost_report(query, rollups, names)
