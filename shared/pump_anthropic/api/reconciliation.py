"""Route of GET /costs/reconciliation: a month's stored total beside Anthropic's own, every known difference named.

Served by its own function (functions/reconcile), the one API function that may read the connections' Admin keys:
reading Anthropic's figure fresh needs the key in the request path. The rules are `domain/reconciliation.py`'s.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, Field

from pump_anthropic import wiring
from pump_anthropic.api.request import tenant_id
from pump_anthropic.api.responses import json_response
from pump_anthropic.api.schemas import errors, ok
from pump_anthropic.exceptions import (
    STORAGE_ERRORS,
    AdminApiRateLimitedError,
    AdminApiRequestError,
    AdminApiUnavailableError,
    ConflictError,
    InvalidQueryError,
    NotFoundError,
    SecretStoreUnavailableError,
    TenantRateLimitedError,
)
from pump_anthropic.logic.reconciliation import reconcile_month
from pump_anthropic.settings import settings

router = APIGatewayHttpRouter()
# API Gateway waits 30 s for an answer: Anthropic gets this long, leaving the rest for storage and the answer.
ANTHROPIC_SECONDS = 22.0
USD = "An exact decimal string in US dollars (at least two decimals, never rounded)"


class ReconciliationLine(BaseModel):
    kind: Literal["priority_tier_unpriced", "provisional_days", "code_execution_missing"] = Field(
        description="The known cause of a difference"
    )
    connection_id: str
    description: str = Field(description="What the line is, in a sentence")
    amount_usd: str | None = Field(description=USD + "; null when only a token count is known")
    tokens: int | None = Field(description="Tokens the line is about (priority-tier usage priced nowhere)")
    from_: str = Field(alias="from", description="First UTC day the line covers")
    to: str = Field(description="Last UTC day the line covers")


class ReconciliationSource(BaseModel):
    source: Literal["legacy", "analytics"]
    from_: str = Field(alias="from")
    to: str


class ReconciliationConnection(BaseModel):
    connection_id: str
    organization_name: str
    status: Literal["matched", "explained", "unexplained"]
    stored_usd: str
    anthropic_usd: str
    difference_usd: str
    unexplained_usd: str
    sources: list[ReconciliationSource] = Field(description="Which API each day of the month was read from")


class Reconciliation(BaseModel):
    month: str
    connection_id: str | None = Field(description="The connection asked for; null: every active connection, summed")
    status: Literal["matched", "explained", "unexplained"] = Field(
        description="matched: no difference and no line; explained: the lines' amounts cover the difference to the "
        "cent; unexplained: otherwise (or any connection's is)"
    )
    stored_usd: str = Field(description="What GET /costs answers for the month (to today), " + USD)
    anthropic_usd: str = Field(description="Anthropic's cost report for the same days, read now")
    difference_usd: str = Field(description="anthropic_usd - stored_usd")
    explained_usd: str = Field(description="The sum of the lines' amounts")
    unexplained_usd: str = Field(description="difference_usd - explained_usd")
    lines: list[ReconciliationLine]
    connections: list[ReconciliationConnection]
    notes: list[str] = Field(description="What neither figure includes (credits, taxes)")
    read_at: str = Field(description="When Anthropic's figures were read, UTC")


@router.get(
    "/costs/reconciliation",
    summary="A month's stored total beside Anthropic's own cost report, with every known difference named",
    responses={
        **ok(200, Reconciliation, "The reconciliation"),
        **errors(
            InvalidQueryError,
            NotFoundError,
            ConflictError,
            TenantRateLimitedError,
            AdminApiRequestError,
            AdminApiUnavailableError,
            AdminApiRateLimitedError,
            SecretStoreUnavailableError,
            *STORAGE_ERRORS,
        ),
    },
)
def get_reconciliation(
    month: Annotated[str | None, Query(description="The month, YYYY-MM")] = None,
    connection_id: Annotated[str | None, Query(description="Only this connection (default: every active one)")] = None,
) -> Response[dict]:
    s = settings()
    body = reconcile_month(
        tenant_id(router),
        month,
        connection_id,
        secrets=wiring.secret_store(),
        client_factory_for=lambda cid: partial(wiring.admin_client, connection_id=cid),
        deadline=time.monotonic() + ANTHROPIC_SECONDS,
        windows={"legacy": s.sync_lookback_days, "analytics": s.analytics_reread_days},
        source_setting=s.cost_source,
    )
    return json_response(200, body)
