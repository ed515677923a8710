"""The tenant comes only from the verified claims, and only in a form our keys can't confuse."""

from __future__ import annotations

import json

import pytest

from functions.costs import app as costs_app
from pump_anthropic import wiring
from tests.support.api_events import http_event


@pytest.mark.parametrize("tenant", ["a#b", "#", "TENANT#other", " ", "x" * 257])
def test_a_tenant_claim_our_keys_could_confuse_is_refused(tenant, monkeypatch):
    monkeypatch.setattr(wiring, "bind_storage", lambda: None)
    response = costs_app.app.resolve(http_event("GET", "/costs", tenant=tenant), None)
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "unauthorized"
