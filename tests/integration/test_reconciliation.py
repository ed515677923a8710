"""GET /costs/reconciliation on the embedded stack, against the simulator over HTTP: a settled month read from the
analytics API is `matched` (Anthropic's figure read fresh equals GET /costs' to the digit), the current month's
unsettled days are their own line, and a revoked key, Anthropic's failures and the tenant's quota answer clear errors
that never carry the key. The legacy month is test_reconciliation_legacy.py's."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_anthropic.domain.reconciliation import month_end
from pump_anthropic.logic import reconciliation
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from tests.support.stack import FIXED_NOW, SMALL_ORG, Stack, costs

pytestmark = pytest.mark.network
ANALYTICS_WINDOW = 30  # ANALYTICS_REREAD_DAYS's default: older analytics days are settled


def settled_month(today: date) -> date:
    """The newest month whose every day is outside the analytics restatement window (and so settled)."""
    first = (today - timedelta(days=ANALYTICS_WINDOW + 1)).replace(day=1)
    while month_end(first) >= today - timedelta(days=ANALYTICS_WINDOW):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def stack_with(source: str | None) -> Iterator[Stack]:
    with ExitStack() as resources:
        simulator = resources.enter_context(Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, now=lambda: FIXED_NOW))
        aws = resources.enter_context(
            LocalAws(simulator.url, retry_interval_seconds=1, retry_max_attempts=2, cost_source=source)
        )
        yield Stack(aws, LocalApi(), simulator, [])


def connected(stack: Stack) -> str:
    response = stack.connect()
    assert response.status == 202, response.body
    connection = stack.wait_settled(response.json()["id"], timeout=300)
    assert connection["status"] == "active", connection
    return connection["id"]


def month_total(stack: Stack, first: date) -> Decimal:
    last = min(month_end(first), date.today())
    return Decimal(costs(stack, first.isoformat(), last.isoformat(), "")["total"]["cost_usd"])


def reconcile(stack: Stack, month: str, **params: str) -> dict:
    query = "&".join([f"month={month}", *(f"{k}={v}" for k, v in params.items())])
    response = stack.call("GET", f"/costs/reconciliation?{query}")
    assert response.status == 200, response.body
    return response.json()


def assert_no_key_anywhere(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    for response in stack.responses:
        assert DEMO_ADMIN_KEY not in response.body and DEMO_ADMIN_KEY not in str(response.headers)
        assert DEMO_ADMIN_KEY[-12:] not in response.body
    assert DEMO_ADMIN_KEY not in caplog.text


@pytest.fixture(scope="module")
def auto_stack() -> Iterator[Stack]:
    yield from stack_with(None)


@pytest.fixture(scope="module")
def auto_connection(auto_stack: Stack) -> str:
    return connected(auto_stack)


def test_a_settled_analytics_month_is_matched_to_the_digit(auto_stack, auto_connection, caplog):
    caplog.set_level(logging.DEBUG)
    first = settled_month(date.today())
    requests_before = dict(auto_stack.simulator.request_counts)

    body = reconcile(auto_stack, f"{first:%Y-%m}")

    assert body["status"] == "matched", body
    assert body["lines"] == []
    assert Decimal(body["stored_usd"]) == month_total(auto_stack, first) > 0  # GET /costs' own figure
    assert body["anthropic_usd"] == body["stored_usd"] and body["difference_usd"] == "0.00"
    assert (body["explained_usd"], body["unexplained_usd"], body["connection_id"]) == ("0.00", "0.00", None)
    (part,) = body["connections"]
    assert part["connection_id"] == auto_connection and part["status"] == "matched"
    assert part["sources"] == [{"source": "analytics", "from": first.isoformat(), "to": month_end(first).isoformat()}]
    # Read fresh: Anthropic's analytics cost report was asked, the legacy reports were not.
    asked = {p: n - requests_before.get(p, 0) for p, n in auto_stack.simulator.request_counts.items()}
    assert asked.get("/v1/organizations/analytics/cost", 0) >= 1
    assert not asked.get("/v1/organizations/cost_report") and not asked.get("/v1/organizations/usage_report/messages")
    # The same answer for the one connection asked by id.
    one = reconcile(auto_stack, f"{first:%Y-%m}", connection_id=auto_connection)
    assert (one["status"], one["stored_usd"], one["connection_id"]) == ("matched", body["stored_usd"], auto_connection)
    assert_no_key_anywhere(auto_stack, caplog)


def test_the_current_month_names_its_unsettled_days(auto_stack, auto_connection):
    today = date.today()
    body = reconcile(auto_stack, f"{today:%Y-%m}")
    assert body["status"] in ("explained", "unexplained")
    (line,) = [line for line in body["lines"] if line["kind"] == "provisional_days"]
    assert line["to"] == today.isoformat() and line["amount_usd"] is not None
    assert Decimal(body["stored_usd"]) == month_total(auto_stack, today.replace(day=1))
    # Every day of this month is within the analytics restatement window, so the whole difference is that line's.
    assert body["status"] == "explained" and body["unexplained_usd"] == "0.00"
    assert Decimal(line["amount_usd"]) == Decimal(body["difference_usd"])


def test_a_tenants_reconciliations_are_limited_with_retry_after(auto_stack, auto_connection, monkeypatch):
    monkeypatch.setattr(reconciliation, "RECONCILE", replace(reconciliation.RECONCILE, limit=1, action="recon-t"))
    month = f"{settled_month(date.today()):%Y-%m}"
    first = auto_stack.call("GET", f"/costs/reconciliation?month={month}")
    second = auto_stack.call("GET", f"/costs/reconciliation?month={month}")
    if first.status == 429:  # the one-minute window turned between the two: the second had a fresh one
        first, second = second, auto_stack.call("GET", f"/costs/reconciliation?month={month}")
    assert first.status == 200, first.body
    assert second.status == 429 and second.json()["error"]["code"] == "tenant_rate_limited"
    assert int(second.headers["Retry-After"]) >= 1


def test_anthropic_failures_are_a_502_with_a_code_never_a_500(auto_stack, auto_connection, caplog):
    month = f"{settled_month(date.today()):%Y-%m}"
    # Every attempt the client makes (5) fails.
    auto_stack.simulator.inject("500", times=5, path="/v1/organizations/analytics/cost")
    try:
        response = auto_stack.call("GET", f"/costs/reconciliation?month={month}")
    finally:
        auto_stack.simulator._faults.clear()  # none left for the next test, however many the client used
    assert response.status == 502, response.body
    assert response.json()["error"]["code"] == "anthropic_unavailable"
    assert_no_key_anywhere(auto_stack, caplog)


def test_a_foreign_or_unknown_connection_is_404_and_bad_months_are_400(auto_stack, auto_connection):
    month = f"{settled_month(date.today()):%Y-%m}"
    other = auto_stack.call("GET", f"/costs/reconciliation?month={month}&connection_id={auto_connection}",
                            tenant="someone-else")  # fmt: skip
    assert other.status == 404 and other.json()["error"]["code"] == "not_found"
    unknown = auto_stack.call("GET", f"/costs/reconciliation?month={month}&connection_id=conn_nope")
    assert unknown.status == 404
    future = (date.today().replace(day=28) + timedelta(days=10)).strftime("%Y-%m")
    for bad in ("", "month=", "month=2026-13", f"month={future}", "month=2024-01", "month=%00"):
        response = auto_stack.call("GET", f"/costs/reconciliation?{bad}")
        assert response.status == 400, (bad, response.body)
        assert response.json()["error"]["code"] == "invalid_query" and response.json()["error"]["message"]


def test_a_revoked_key_is_a_clear_conflict(auto_stack, auto_connection, caplog):
    month = f"{settled_month(date.today()):%Y-%m}"
    auto_stack.simulator.replace_admin_key("sk-ant-admin01-" + "n" * 40)
    try:
        response = auto_stack.call("GET", f"/costs/reconciliation?month={month}")
    finally:
        auto_stack.simulator.replace_admin_key(DEMO_ADMIN_KEY)
    assert response.status == 409, response.body
    error = response.json()["error"]
    assert error["code"] == "key_revoked" and "reconnect" in error["message"]
    assert_no_key_anywhere(auto_stack, caplog)
