"""What every API route shares: the tenant from the authorizer, and errors as {"error": {"code", "message"}}."""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from pump_anthropic.exceptions import PumpError
from pump_anthropic.settings import settings

logger = logging.getLogger(__name__)


class UnauthorizedError(PumpError):
    code = "unauthorized"
    http_status = 401


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": {"code": code, "message": message}}),
        headers=headers,
    )


def json_response(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def tenant_id(app: APIGatewayHttpResolver) -> str:
    """The tenant comes only from the authorizer's verified JWT claims, never from the request body."""
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    value = claims.get(settings().tenant_claim)
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise UnauthorizedError("This request carries no tenant; sign in again.")
    return value


def _validation_message(exc: RequestValidationError) -> str:
    # Only the location and the kind of problem: never the submitted value (it may be a key).
    problems = []
    for error in exc.errors()[:3]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        kind = str(error.get("type", "invalid")).replace("_", " ")
        problems.append(f"{location}: {kind}")
    return "The request is invalid (" + "; ".join(problems) + ")."


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(PumpError)
    def _pump_error(exc: PumpError) -> Response:
        return error_response(exc.http_status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        return error_response(400, "invalid_request", _validation_message(exc))

    @app.not_found
    def _not_found(_exc: Exception) -> Response:
        return error_response(404, "not_found", "No such route.")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.error("unhandled error", extra={"error_type": type(exc).__name__})
        return error_response(500, "internal_error", "Something went wrong on our side; please try again.")
