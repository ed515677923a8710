"""Who is asking: the tenant, taken only from the authorizer's verified claims."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from pump_anthropic.exceptions import UnauthorizedError
from pump_anthropic.settings import settings


def tenant_id(app: APIGatewayHttpResolver) -> str:
    """The tenant comes only from the authorizer's verified JWT claims, never from the request body."""
    claims = app.current_event.request_context.authorizer.jwt_claim
    value = claims.get(settings().tenant_claim) if isinstance(claims, dict) else None
    # `#` separates the parts of our keys (TENANT#{tenant}#CONN#…): a tenant id holding it could name another's.
    if not isinstance(value, str) or not value.strip() or len(value) > 256 or "#" in value:
        raise UnauthorizedError("This request carries no tenant; sign in again.")
    return value
