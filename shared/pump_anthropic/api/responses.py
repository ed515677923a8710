"""Response bodies: JSON answers, and every failure as {"error": {"code", "message"}} with our code and a sentence,
never a trace."""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from pump_anthropic.api.powertools import raised_reading_body
from pump_anthropic.exceptions import PumpError

logger = logging.getLogger(__name__)


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}|\(unexpected field\)")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": {"code": code, "message": message}}),
        headers=headers,
    )


def json_response(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def json_text_response(status: int, body: dict) -> Response[str]:
    """A JSON answer serialized here, once, as the resolver would (compact): for a route declared `-> Response[str]`,
    whose large body Powertools then neither re-validates nor copies before serializing it (a 10,000-row page of
    GET /costs spent as long in that as in reading its rows)."""
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body, separators=(",", ":"))
    )


def _validation_message(exc: RequestValidationError) -> str:
    # Only our own field names and the kind of problem: never anything submitted. The name of an unexpected field
    # is user input (it can even be the key: {"sk-ant-…": …}, or a form body whose only field is the whole JSON),
    # so it is never echoed; names we declare (admin_key, from, …) are.
    problems = []
    for error in exc.errors()[:3]:
        parts = [p for p in error.get("loc", ()) if p != "body"]
        if error.get("type") == "extra_forbidden":
            parts = ["(unexpected field)"]
        location = ".".join(p if isinstance(p, str) and _FIELD_NAME.fullmatch(p) else "(field)" for p in parts)
        kind = str(error.get("type", "invalid")).replace("_", " ")
        problems.append(f"{location or 'body'}: {kind}")
    return "The request is invalid (" + "; ".join(problems) + "); send a JSON body with Content-Type: application/json."


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(PumpError)
    def _pump_error(exc: PumpError) -> Response:
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
        return error_response(exc.http_status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        return error_response(400, "invalid_request", _validation_message(exc))

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_media_type(_exc: RequestUnsupportedContentType) -> Response:
        return error_response(
            415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json."
        )

    @app.not_found
    def _not_found(_exc: Exception) -> Response:
        return error_response(404, "not_found", "No such route.")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # In the message (not `extra`) so the key redaction on log records applies to the exception text too.
        logger.error("unhandled error %s: %s", type(exc).__name__, exc)
        return error_response(500, "internal_error", "Something went wrong on our side; please try again.")

    @app.exception_handler([ValueError, RecursionError])
    def _unreadable_body(exc: Exception) -> Response:
        if raised_reading_body(exc):
            return error_response(
                400,
                "invalid_request",
                "The request body could not be read; send a JSON body with Content-Type: application/json.",
            )
        return _unexpected(exc)
