"""The spend guard on the embedded stack, against the simulator over HTTP: budgets answer the month-to-date GET
/costs gives for the same scope and month, the hourly sync raises each alert once (repeated syncs raise nothing
new), and each alert goes out once as an EventBridge event a subscriber reads back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal

import pytest

from pump_anthropic.dal import table
from tests.support.guard_stack import build_stack, connected, hourly_sync, month_rows
from tests.support.stack import Stack


@pytest.fixture
def stack() -> Iterator[Stack]:
    with ExitStack() as resources:
        yield build_stack(resources)


def put_budget(stack: Stack, budget_id: str, body: dict) -> dict:
    response = stack.call("PUT", f"/budgets/{budget_id}", body)
    assert response.status == 200, response.body
    return response.json()


def test_budgets_alert_once_per_threshold_and_each_alert_is_one_event(stack):
    connection_id = connected(stack)
    workspace = max(month_rows(stack, "workspace_id"), key=lambda r: Decimal(r["cost_usd"]))
    month_to_date = Decimal(workspace["cost_usd"])
    assert month_to_date > Decimal("0.02")
    below = (month_to_date / 2).quantize(Decimal("0.01"))
    scope = {"type": "workspace", "id": workspace["workspace_id"]}
    body = put_budget(stack, "ws", {"name": "Busiest workspace", "connection_id": connection_id, "scope": scope,
                                    "monthly_usd": format(below, "f"), "thresholds": [50, 80, 100]})  # fmt: skip
    # The month-to-date is GET /costs' figure for the same scope and month, exactly.
    assert Decimal(body["month_to_date_usd"]) == month_to_date
    assert body["status"] == "exceeded"
    assert [c["threshold"] for c in body["crossed"]] == [50, 80, 100]
    assert all(c["at"] is None for c in body["crossed"])  # no sync has raised them yet
    (total,) = month_rows(stack, "")
    organization = put_budget(stack, "org", {"name": "Everything", "connection_id": connection_id,
                                             "scope": {"type": "organization", "id": None},
                                             "monthly_usd": "999999.00"})  # fmt: skip
    assert Decimal(organization["month_to_date_usd"]) == Decimal(total["cost_usd"])
    assert organization["status"] == "ok"

    hourly_sync(stack)
    alerts = stack.call("GET", "/alerts").json()["alerts"]
    budget_alerts = sorted((a["kind"], a["threshold"]) for a in alerts if a["budget_id"] == "ws")
    assert budget_alerts == [("budget_forecast", 100), ("budget_threshold", 50), ("budget_threshold", 80),
                             ("budget_threshold", 100)]  # fmt: skip
    assert not [a for a in alerts if a["budget_id"] == "org"]
    shown = stack.call("GET", "/budgets/ws").json()
    assert all(c["at"] for c in shown["crossed"])

    hourly_sync(stack)
    again = stack.call("GET", "/alerts").json()["alerts"]
    assert sorted(a["id"] for a in again) == sorted(a["id"] for a in alerts)

    events = stack.aws.alert_events()
    assert sorted(e["detail"]["id"] for e in events) == sorted(a["id"] for a in alerts)
    assert {(e["source"], e["detail-type"]) for e in events} == {("pump.anthropic", "Anthropic spend alert")}
    assert {e["detail"]["tenant_id"] for e in events} == {"local"}


def test_a_deleted_budget_is_gone_and_its_alerts_stay(stack):
    connection_id = connected(stack)
    put_budget(stack, "tiny", {"name": "Tiny", "connection_id": connection_id,
                               "scope": {"type": "organization", "id": None}, "monthly_usd": "0.01"})  # fmt: skip
    hourly_sync(stack)
    raised = stack.call("GET", f"/alerts?connection_id={connection_id}").json()["alerts"]
    assert {a["kind"] for a in raised} >= {"budget_threshold"}
    assert stack.call("DELETE", "/budgets/tiny").status == 204
    assert stack.call("GET", "/budgets/tiny").status == 404
    assert stack.call("DELETE", "/budgets/tiny").status == 404
    assert stack.call("GET", "/budgets").json() == {"budgets": []}
    assert stack.call("GET", "/alerts").json()["alerts"] == raised


def test_the_checks_spend_days_are_kept_in_the_connections_partition_and_purged_with_it(stack):
    connection_id = connected(stack)
    hourly_sync(stack)
    kept = [i for i in table.raw_items() if i["item_type"]["S"] == "spend_day"]
    assert len(kept) >= 28  # the window's days: the anomaly rule's baseline and the budgets' month
    assert {i["pk"]["S"] for i in kept} == {f"TENANT#local#CONN#{connection_id}"}
    assert stack.call("DELETE", f"/integrations/anthropic/{connection_id}?purge=true").status == 200
    assert not [i for i in table.raw_items() if i["item_type"]["S"] in {"spend_day", "alert", "day"}]


def test_budgets_and_alerts_belong_to_their_tenant(stack):
    connection_id = connected(stack)
    put_budget(stack, "mine", {"name": "Mine", "connection_id": connection_id,
                               "scope": {"type": "organization", "id": None}, "monthly_usd": "0.01"})  # fmt: skip
    hourly_sync(stack)
    assert stack.call("GET", "/budgets/mine", tenant="someone-else").status == 404
    assert stack.call("GET", "/budgets", tenant="someone-else").json() == {"budgets": []}
    assert stack.call("GET", "/alerts", tenant="someone-else").json()["alerts"] == []
    refused = stack.call("PUT", "/budgets/mine", {"name": "Theirs", "connection_id": connection_id,
                                                  "scope": {"type": "organization", "id": None},
                                                  "monthly_usd": "5.00"}, tenant="someone-else")  # fmt: skip
    assert refused.status == 400 and refused.json()["error"]["code"] == "invalid_request"


def test_serve_hands_each_alert_event_to_its_subscriber_once(stack, capsys):
    from pump_local.cli import _print_alert_event
    from pump_local.embedded_aws import LocalScheduler

    connection_id = connected(stack)
    put_budget(stack, "tiny", {"name": "Tiny <b>", "connection_id": connection_id,
                               "scope": {"type": "organization", "id": None}, "monthly_usd": "0.01"})  # fmt: skip
    received: list[dict] = []

    def subscriber(event: dict) -> None:
        received.append(event)
        _print_alert_event(event)  # what `serve` prints

    scheduler = LocalScheduler(stack.aws, sync_every=0.2, poll_seconds=0.1, on_alert_event=subscriber)
    scheduler.start()
    try:
        deadline = time.monotonic() + 120
        alerts: list[dict] = []
        while not alerts or len(received) < len(alerts):
            assert time.monotonic() < deadline, (alerts, received)
            time.sleep(0.2)  # polling the scheduler's state, not waiting for time to pass
            alerts = stack.call("GET", "/alerts").json()["alerts"]
    finally:
        scheduler.stop()
    assert sorted(e["detail"]["id"] for e in received) == sorted(a["id"] for a in alerts)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("EventBridge event: ")]
    assert len(printed) == len(received)
    assert all(json.loads(line.removeprefix("EventBridge event: "))["source"] == "pump.anthropic" for line in printed)
