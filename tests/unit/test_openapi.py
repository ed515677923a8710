import json
from pathlib import Path

from pump_anthropic.api.openapi import openapi_document

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
CONTRACT_ROUTES = {
    ("/integrations/anthropic", "post"),
    ("/integrations/anthropic", "get"),
    ("/integrations/anthropic/{connection_id}", "get"),
    ("/integrations/anthropic/{connection_id}", "delete"),
    ("/integrations/anthropic/{connection_id}/sync", "post"),
    ("/integrations/anthropic/{connection_id}/backfill", "post"),
    ("/costs", "get"),
    ("/costs/export", "get"),
    ("/costs/rates", "get"),
    ("/costs/savings", "get"),
    ("/costs/exports", "post"),
    ("/costs/exports/{export_id}", "get"),
}


def test_committed_openapi_document_is_current():
    # Regenerate with `make openapi` when the API changes.
    assert json.loads(COMMITTED.read_text()) == openapi_document()


def test_openapi_document_covers_every_contract_route():
    paths = openapi_document()["paths"]
    assert {(path, method) for path, methods in paths.items() for method in methods} >= CONTRACT_ROUTES


def test_building_the_document_leaves_every_router_with_the_function_that_serves_it():
    """A route reads its request through its router; the combined resolver must not keep the routers (a reconcile
    request after GET /openapi.json read another event and answered 400 'month is required')."""
    import functions.connect.app as connect_app
    import functions.costs.app as costs_app
    import functions.guard.app as guard_app
    import functions.reconcile.app as reconcile_app
    from pump_anthropic.api import costs, exports, guard, integrations, openapi, pricing, reconciliation

    serving = {
        integrations.router: connect_app.app, exports.create_router: connect_app.app, costs.router: costs_app.app,
        pricing.router: costs_app.app, exports.router: costs_app.app, guard.router: guard_app.app,
        reconciliation.router: reconcile_app.app,
    }  # fmt: skip
    openapi._document_text.cache_clear()
    openapi.openapi_document()
    assert {router: router.api_resolver for router in serving} == serving
