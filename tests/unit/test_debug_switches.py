"""No Admin key through Powertools' debug switches: with every debug variable set, a connect request prints nothing
that holds the key, on stdout, stderr or the log."""

from __future__ import annotations

import importlib
import json
import logging
from types import SimpleNamespace

import pytest

from pump_anthropic import wiring
from pump_anthropic.exceptions import NotFoundError
from pump_anthropic.logic import connections
from tests.support.api_events import http_event

KEY = "sk-ant-admin01-" + "d" * 93 + "AA"
DEBUG_SWITCHES = {
    "POWERTOOLS_DEV": "true",
    "POWERTOOLS_EVENT_HANDLER_DEBUG": "true",
    "POWERTOOLS_LOGGER_LOG_EVENT": "true",
    "POWERTOOLS_LOG_LEVEL": "DEBUG",
    "POWERTOOLS_DEBUG": "true",
}
CONTEXT = SimpleNamespace(
    function_name="connect",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:connect",
    aws_request_id="req-1",
    get_remaining_time_in_millis=lambda: 30_000,
)


@pytest.mark.parametrize("outcome", ["connected", "anthropic_failed"])
def test_debug_switches_never_print_the_key(monkeypatch, capfd, caplog, outcome):
    for name, value in DEBUG_SWITCHES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(wiring, "bind_storage", lambda: None)
    monkeypatch.setattr(wiring, "connect_services", lambda: None)

    def connect(tenant_id, admin_key, services, **kwargs):
        if outcome == "anthropic_failed":
            raise RuntimeError(f"boom while using {admin_key}")
        raise NotFoundError("stop here")

    monkeypatch.setattr(connections, "connect", connect)
    caplog.set_level(logging.DEBUG)
    from functions.connect import app as connect_app

    module = importlib.reload(connect_app)  # the resolver is built at import: build it with the switches on
    try:
        event = http_event("POST", "/integrations/anthropic", body=json.dumps({"admin_key": KEY}))
        response = module.lambda_handler(event, CONTEXT)
    finally:
        monkeypatch.undo()
        importlib.reload(connect_app)

    printed = capfd.readouterr()
    assert response["statusCode"] in (404, 500)
    assert KEY not in printed.out and KEY not in printed.err
    assert KEY not in caplog.text and KEY not in json.dumps(response)
