"""The Admin API clients call their request gate before every request they send, retries included, and let what it
raises through untouched; `iter_workspaces(include_default=True)` asks for the Default workspace."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from pump_anthropic.admin_api import AdminApiClient
from pump_anthropic.admin_api.analytics import AnalyticsClient
from pump_anthropic.domain.analytics_plan import AnalyticsQuery
from pump_anthropic.exceptions import AdminApiRateLimitedError, AdminApiUnavailableError, StorageError
from tests.support.scripted_http import ADMIN_KEY, FakeClock, Reply, ScriptedAdapter, error_reply

pytestmark = pytest.mark.disable_socket

ORG = Reply(body={"id": "org-uuid", "name": "Acme", "type": "organization"})


class RecordingGate:
    """Records, at each call, how many requests had been sent; raises `errors` in turn (None: let it pass)."""

    def __init__(self, adapter: ScriptedAdapter, errors: list[Exception | None] | None = None) -> None:
        self.adapter = adapter
        self.errors = list(errors or [])
        self.sent_before: list[int] = []

    def __call__(self) -> None:
        self.sent_before.append(len(self.adapter.requests))
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error


def build(cls: type[AdminApiClient], script: list[Reply], errors: list[Exception | None] | None = None, **kwargs: Any):
    clock = FakeClock()
    adapter = ScriptedAdapter(script)
    session = requests.Session()
    session.mount("https://", adapter)
    gate = RecordingGate(adapter, errors)
    client = cls(
        SecretStr(ADMIN_KEY),
        "https://admin.test",
        session=session,
        sleep=clock.sleep,
        clock=clock,
        request_gate=gate,
        **kwargs,
    )
    return client, adapter, gate, clock


def test_the_gate_is_passed_before_every_attempt_retries_included():
    client, adapter, gate, _ = build(AdminApiClient, [error_reply(503, "api_error"), error_reply(529, "x"), ORG])
    assert client.get_organization().name == "Acme"
    # One call before each of the three requests, each before its request went out.
    assert gate.sent_before == [0, 1, 2]
    assert client.request_count == len(adapter.requests) == 3


def test_what_the_gate_raises_reaches_the_caller_unchanged_and_is_not_retried():
    # Retriable, no retry-after wait: the client's own loop would retry it at once if it saw it.
    refusal = AdminApiRateLimitedError("the minute's requests are used up", retry_after=0.0)
    client, adapter, gate, clock = build(AdminApiClient, [ORG], [refusal])
    with pytest.raises(AdminApiRateLimitedError) as raised:
        client.get_organization()
    assert raised.value is refusal
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    assert (gate.sent_before, adapter.requests, clock.sleeps) == ([0], [], [])
    assert (client.request_count, client.retry_count) == (0, 0)


def test_a_refusal_before_a_retry_ends_the_call_with_the_gates_error():
    refusal = StorageError("the counter could not be written")
    client, adapter, gate, _ = build(AdminApiClient, [error_reply(503, "api_error"), ORG], [None, refusal])
    with pytest.raises(StorageError) as raised:
        client.get_organization()
    assert raised.value is refusal
    assert gate.sent_before == [0, 1]
    assert client.request_count == len(adapter.requests) == 1


def test_without_a_gate_the_client_sends_as_before():
    adapter = ScriptedAdapter([ORG])
    session = requests.Session()
    session.mount("https://", adapter)
    client = AdminApiClient(SecretStr(ADMIN_KEY), "https://admin.test", session=session)
    assert client.get_organization().id == "org-uuid"


def test_a_gate_that_slept_leaves_the_request_only_the_time_still_left():
    client, adapter, _, clock = build(AdminApiClient, [ORG], deadline=FakeClock().now + 10.0, read_timeout=30.0)

    def slow_gate() -> None:
        clock.sleep(7.0)

    client._request_gate = slow_gate
    client.get_organization()
    connect_timeout, read_timeout = adapter.send_kwargs[0]["timeout"]
    assert read_timeout == pytest.approx(3.0)


def test_the_analytics_client_passes_the_gate_on_analytics_and_legacy_calls():
    day = {"starting_at": "2026-10-01T00:00:00Z", "ending_at": "2026-10-02T00:00:00Z"}
    first = Reply(body={"data": [], "has_more": True, "next_page": "c1", **day})
    last = Reply(body={"data": [], "has_more": False, "next_page": None, **day})
    client, adapter, gate, _ = build(AnalyticsClient, [first, error_reply(503, "api_error"), last, ORG])
    query = AnalyticsQuery(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 3, tzinfo=UTC), "1d", ("model",))
    assert list(client.iter_cost(query)) == []
    client.get_organization()
    assert gate.sent_before == [0, 1, 2, 3]


def test_the_analytics_client_lets_a_refusal_through_unchanged():
    refusal = AdminApiRateLimitedError("used up", retry_after=0.0)
    client, adapter, _, _ = build(AnalyticsClient, [ORG], [refusal])
    with pytest.raises(AdminApiRateLimitedError) as raised:
        client.get_organization()
    assert raised.value is refusal and adapter.requests == []


def test_the_deadline_is_still_checked_before_the_gate():
    client, adapter, gate, _ = build(AdminApiClient, [ORG], deadline=FakeClock().now - 1.0)
    with pytest.raises(AdminApiUnavailableError):
        client.get_organization()
    assert (gate.sent_before, adapter.requests) == ([], [])


# --- include_default ------------------------------------------------------------------------------------------


def workspaces_page(ids: list[str]) -> Reply:
    rows = [{"id": i, "name": f"name-{i}", "type": "workspace", "created_at": "2024-05-01T00:00:00Z"} for i in ids]
    return Reply(body={"data": rows, "has_more": False, "first_id": ids[0], "last_id": ids[-1]})


def test_include_default_asks_for_the_default_workspace():
    client, adapter, _, _ = build(AdminApiClient, [workspaces_page(["wrkspc_default", "wrkspc_a"])])
    listed = [w.id for w in client.iter_workspaces(include_default=True)]
    assert listed == ["wrkspc_default", "wrkspc_a"]
    assert ("include_default", "true") in adapter.queries()[0]


def test_workspaces_are_listed_without_the_default_unless_asked():
    client, adapter, _, _ = build(AdminApiClient, [workspaces_page(["wrkspc_a"])])
    list(client.iter_workspaces())
    assert [name for name, _ in adapter.queries()[0]] == ["limit", "include_archived"]
