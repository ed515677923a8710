"""Routes of the pricing reads: GET /costs/rates (the rate card derived from the bill) and GET /costs/savings (what
prompt caching saved, in billed dollars)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from pump_anthropic.api.request import tenant_id
from pump_anthropic.api.responses import json_response
from pump_anthropic.api.schemas import errors, ok
from pump_anthropic.api.schemas_pricing import CacheSavings, RateCard
from pump_anthropic.clock import utc_now
from pump_anthropic.domain import rates, report, savings
from pump_anthropic.exceptions import STORAGE_ERRORS, InvalidQueryError, TenantRateLimitedError
from pump_anthropic.logic import pricing

router = APIGatewayHttpRouter()

FROM = Query(alias="from", description="First UTC day, YYYY-MM-DD (default: 29 days before `to`)")
TO = Query(description="Last UTC day (inclusive), YYYY-MM-DD (default: today); ranges up to 400 days")


@router.get(
    "/costs/rates",
    summary="What each token, search or line actually cost: effective rates derived from the bill",
    responses={
        **ok(200, RateCard, "The rate card"),
        **errors(InvalidQueryError, TenantRateLimitedError, *STORAGE_ERRORS),
    },
)
def get_rates(
    from_: Annotated[str | None, FROM] = None,
    to: Annotated[str | None, TO] = None,
    group_by: Annotated[
        str | None,
        Query(
            description="Comma list of what to add to the rate dimensions ("
            + ", ".join(rates.RATE_DIMENSIONS)
            + "), which are always there: "
            + ", ".join(rates.RATE_GROUP_BY)
        ),
    ] = None,
) -> Response[dict]:
    tenant = tenant_id(router)
    query = report.parse_cost_query(from_, to, group_by or "", today=utc_now().date())
    rates.check_rate_group_by(query)
    return json_response(200, pricing.rate_card(tenant, query))


@router.get(
    "/costs/savings",
    summary="What prompt caching saved, net of the cache-write premium, priced at the billed input rate",
    responses={
        **ok(200, CacheSavings, "The cache savings"),
        **errors(InvalidQueryError, TenantRateLimitedError, *STORAGE_ERRORS),
    },
)
def get_savings(
    from_: Annotated[str | None, FROM] = None,
    to: Annotated[str | None, TO] = None,
    group_by: Annotated[
        str | None,
        Query(
            description=f"Comma list of {', '.join(savings.SAVINGS_GROUP_BY)} (default "
            f"{savings.DEFAULT_SAVINGS_GROUP_BY}; given empty: one row, the total)"
        ),
    ] = None,
) -> Response[dict]:
    tenant = tenant_id(router)
    dims = savings.DEFAULT_SAVINGS_GROUP_BY if group_by is None else group_by
    query = report.parse_cost_query(from_, to, dims, today=utc_now().date())
    savings.check_savings_group_by(query)
    return json_response(200, pricing.cache_savings(tenant, query))
