"""The OpenAPI document of the whole HTTP API, generated from the same routers the functions serve."""

from __future__ import annotations

import json
from functools import lru_cache

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from pump_anthropic.api import cost_routes, integrations


@lru_cache(maxsize=1)
def _document_text() -> str:
    combined = APIGatewayHttpResolver(enable_validation=True)
    combined.include_router(integrations.router)
    combined.include_router(cost_routes.router)
    return combined.get_openapi_json_schema(title="Pump Anthropic integration API", version="1.0.0")


def openapi_document() -> dict:
    return json.loads(_document_text())
