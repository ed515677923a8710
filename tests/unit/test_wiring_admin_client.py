"""wiring.admin_client: the analytics-capable client, held to the request rates of settings for its connection."""

from __future__ import annotations

import functools
import time

import pytest
from pydantic import SecretStr

from pump_anthropic import settings, wiring
from pump_anthropic.admin_api.analytics import AnalyticsClient
from pump_anthropic.logic.request_gate import STACK_COUNTER, RateLimit, RequestGate, connection_counter
from tests.support.scripted_http import ADMIN_KEY

KEY = SecretStr(ADMIN_KEY)


@pytest.fixture
def rates(monkeypatch):
    def set_rates(per_connection: str, per_stack: str) -> None:
        monkeypatch.setenv("ANTHROPIC_RPM_PER_CONNECTION", per_connection)
        monkeypatch.setenv("ANTHROPIC_RPM_PER_STACK", per_stack)
        settings.settings.cache_clear()

    yield set_rates
    settings.settings.cache_clear()


def test_a_connections_client_reads_analytics_and_is_held_to_both_rates(rates):
    rates("7", "70")
    deadline = time.monotonic() + 60.0
    client = wiring.admin_client(KEY, deadline, connection_id="conn_abc")
    assert isinstance(client, AnalyticsClient) and client.deadline == deadline
    gate = client._request_gate
    assert isinstance(gate, RequestGate) and gate.deadline == deadline
    assert gate.limits == (
        RateLimit(connection_counter("conn_abc"), 7, "this connection"),
        RateLimit(STACK_COUNTER, 70, "this service"),
    )
    assert gate.min_attempt_seconds == client.min_attempt_seconds


def test_the_handlers_factory_shape_binds_the_connection(rates):
    rates("5", "0")
    factory = functools.partial(wiring.admin_client, connection_id="conn_xyz")
    client = factory(KEY, None)
    assert [limit.counter for limit in client._request_gate.limits] == [connection_counter("conn_xyz")]


def test_without_a_connection_only_the_stack_rate_holds(rates):
    rates("5", "9")
    client = wiring.admin_client(KEY)
    assert [limit.counter for limit in client._request_gate.limits] == [STACK_COUNTER]


def test_no_rates_no_gate(rates):
    rates("0", "0")
    assert wiring.admin_client(KEY, None, connection_id="conn_abc")._request_gate is None
