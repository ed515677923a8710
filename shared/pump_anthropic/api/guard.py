"""Routes of the spend guard: /budgets (set, list, show, delete) and GET /alerts."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from pump_anthropic.api.guard_schemas import AlertList, Budget, BudgetIn, BudgetList
from pump_anthropic.api.powertools import json_body_is_not_an_object
from pump_anthropic.api.request import tenant_id
from pump_anthropic.api.responses import json_response
from pump_anthropic.api.schemas import errors, ok, unsupported_media_type
from pump_anthropic.domain import report_pages
from pump_anthropic.exceptions import (
    STORAGE_ERRORS,
    InvalidInputError,
    InvalidQueryError,
    NotFoundError,
    TenantRateLimitedError,
)
from pump_anthropic.logic import guard

router = APIGatewayHttpRouter()
BudgetId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.put(
    "/budgets/<budget_id>",
    summary="Create or replace a monthly budget for one scope of a connection's spend",
    responses={
        **ok(200, Budget, "The budget, with its month's figures"),
        **errors(InvalidInputError, TenantRateLimitedError, *STORAGE_ERRORS),
        **unsupported_media_type(),
    },
)
def put_budget(budget_id: BudgetId, body: BudgetIn) -> Response[dict]:
    if json_body_is_not_an_object(router.current_event):
        raise InvalidInputError("The request is invalid (body: a JSON object is expected).")
    return json_response(200, guard.put_budget(tenant_id(router), budget_id, body.model_dump()))


@router.get(
    "/budgets",
    summary="The tenant's budgets, each with its month-to-date spend, forecast and status",
    responses={**ok(200, BudgetList, "The budgets"), **errors(TenantRateLimitedError, *STORAGE_ERRORS)},
)
def list_budgets() -> Response[dict]:
    return json_response(200, guard.list_budgets(tenant_id(router)))


@router.get(
    "/budgets/<budget_id>",
    summary="One budget with its month-to-date spend, forecast and status",
    responses={
        **ok(200, Budget, "The budget"),
        **errors(InvalidInputError, NotFoundError, TenantRateLimitedError, *STORAGE_ERRORS),
    },
)
def get_budget(budget_id: BudgetId) -> Response[dict]:
    return json_response(200, guard.get_budget(tenant_id(router), budget_id))


@router.delete(
    "/budgets/<budget_id>",
    summary="Delete a budget (its alerts stay: they say what they saw)",
    responses={
        204: {"description": "Deleted"},
        **errors(InvalidInputError, NotFoundError, TenantRateLimitedError, *STORAGE_ERRORS),
    },
)
def delete_budget(budget_id: BudgetId) -> Response[None]:
    guard.delete_budget(tenant_id(router), budget_id)
    return Response(status_code=204, body=None)


@router.get(
    "/alerts",
    summary="Spend alerts detected in a range of UTC days, newest first, a page at a time",
    responses={
        **ok(200, AlertList, "The alerts"),
        **errors(InvalidQueryError, NotFoundError, TenantRateLimitedError, *STORAGE_ERRORS),
    },
)
def list_alerts(
    from_: Annotated[str | None, Query(alias="from", description="First UTC day, YYYY-MM-DD (default: 29 days "
                                       "before `to`)")] = None,
    to: Annotated[str | None, Query(description="Last UTC day (inclusive), YYYY-MM-DD (default: today)")] = None,
    connection_id: Annotated[str | None, Query(description="Only this connection's alerts")] = None,
    limit: Annotated[str | None, Query(description=f"Alerts per page, 1 to {report_pages.MAX_PAGE_ROWS} (default "
                                       f"{report_pages.DEFAULT_PAGE_ROWS})")] = None,
    page: Annotated[str | None, Query(description="Opaque cursor: the next_page of the previous answer to the same "
                                      "from, to and connection_id; leave it out for the first page")] = None,
) -> Response[dict]:  # fmt: skip
    found = guard.list_alerts(tenant_id(router), from_, to, connection_id, limit=limit, page=page)
    return json_response(200, found)
