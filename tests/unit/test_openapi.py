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
