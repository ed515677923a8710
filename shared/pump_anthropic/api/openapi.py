"""The OpenAPI document of the whole HTTP API, generated from the same routers the functions serve."""

from __future__ import annotations

import json
from functools import lru_cache

from pump_anthropic.api import costs, exports, guard, integrations, pricing, reconciliation
from pump_anthropic.api.contract import apply as apply_contract
from pump_anthropic.api.powertools import new_resolver

# Powertools documents a 422 with its own validation body on every route; our error handlers answer a failed
# validation with 400 and {"error": {...}}, which each route documents instead.
_PHANTOM_STATUS = "422"
_PHANTOM_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


@lru_cache(maxsize=1)
def _document_text() -> str:
    combined = new_resolver()
    routers = (integrations.router, costs.router, pricing.router, exports.create_router, exports.router,
               guard.router, reconciliation.router)  # fmt: skip
    # Powertools' include_router points each router at the resolver including it, and a route reads its request
    # through its router: give every router back to the function that serves it, or its next request reads here.
    serving = [router.api_resolver for router in routers]
    try:
        for router in routers:
            combined.include_router(router)
        text = combined.get_openapi_json_schema(title="Pump Anthropic integration API", version="1.0.0")
    finally:
        for router, resolver in zip(routers, serving, strict=True):
            router.api_resolver = resolver
    document = json.loads(text)
    for methods in document.get("paths", {}).values():
        for operation in methods.values():
            operation.get("responses", {}).pop(_PHANTOM_STATUS, None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in _PHANTOM_SCHEMAS:
        schemas.pop(name, None)
    apply_contract(document)
    return json.dumps(document)


def openapi_document() -> dict:
    return json.loads(_document_text())
