"""Spend alerts against the simulator's scenarios, on the embedded stack: a runaway key is alerted by the first sync
after Anthropic reports its burst, a new key that spends at once and spend on an archived key each alert once,
and the anomaly and price change rules stay quiet over 90 days of the demo org's normal traffic (false positives
counted)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from anthropic_simulator import OrgSpec, SpendScenario
from anthropic_simulator.spend_limits import SpendLimitSettings
from pump_anthropic.domain import alerts
from pump_anthropic.logic import guard
from pump_local import cli
from pump_local.http_api import LocalApi, make_http_server
from tests.support.guard_stack import EXACT, build_stack, connected
from tests.support.guard_stack import synced_alerts as hourly_sync
from tests.support.stack import Stack

BACKTEST_DAYS = 90


@pytest.fixture
def make_stack() -> Iterator:
    with ExitStack() as resources:

        def build(
            scenario: SpendScenario | None = None,
            analytics=EXACT,
            spec: OrgSpec | None = None,
            spend_limits: SpendLimitSettings | None = None,
        ) -> Stack:
            extra = {"spec": spec} if spec is not None else {}
            return build_stack(resources, scenario, analytics, spend_limits=spend_limits, **extra)

        yield build


def test_a_runaway_key_is_alerted_once_by_the_first_sync_after_its_burst_is_reported(make_stack, capsys):
    stack = make_stack(SpendScenario(runaway_usd_per_hour=Decimal("250"), runaway_hours=3))
    traffic = stack.simulator.org.scenario
    connected(stack)
    raised = hourly_sync(stack)
    by_key = [a for a in raised if a["kind"] == "spend_anomaly" and a["scope"]["type"] == "api_key"]
    assert [a["scope"]["id"] for a in by_key] == [traffic.runaway_key_id]
    (alert,) = by_key
    burst_day = traffic.burst_start.date().isoformat()
    assert alert["window"] == {"from": burst_day, "to": burst_day}
    assert Decimal(alert["amount_usd"]) >= Decimal("750")  # the burst, plus the key's own spend that day
    workspaces = {
        a["scope"]["id"] for a in raised if a["kind"] == "spend_anomaly" and a["scope"]["type"] == "workspace"
    }
    first_workspace = stack.simulator.org.workspaces[0].id
    assert workspaces <= {first_workspace}
    # Later syncs, the same data: nothing new, and each alert went out as one event.
    assert sorted(a["id"] for a in hourly_sync(stack)) == sorted(a["id"] for a in raised)
    events = stack.aws.alert_events()
    assert sorted(e["detail"]["id"] for e in events) == sorted(a["id"] for a in raised)
    # `pump-anthropic alerts` prints them from the served API.
    server = make_http_server(LocalApi(), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert cli.main(["alerts", "--api-url", url, "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert [a["id"] for a in printed["alerts"]] == [a["id"] for a in raised]
        assert cli.main(["alerts", "--api-url", url]) == 0
        table = capsys.readouterr().out
        assert f"{len(raised)} spend alert" in table and "spend anomaly" in table
        assert alert["message"] in table
    finally:
        server.shutdown()
        server.server_close()


def test_a_new_key_that_spends_at_once_and_spend_on_an_archived_key_alert_once_each(make_stack):
    # No reporting lag, so the analytics API (which attributes spend to keys) shows the last minutes' spend.
    stack = make_stack(
        SpendScenario(new_key_usd=Decimal("40"), archived_key_usd=Decimal("3")),
        analytics=replace(EXACT, refresh_lag=timedelta(0)),
    )
    traffic = stack.simulator.org.scenario
    connected(stack)
    raised = hourly_sync(stack)
    about_keys = sorted((a["kind"], a["scope"]["id"], a["amount_usd"]) for a in raised if a["kind"] != "spend_anomaly")
    assert about_keys == sorted(
        [("new_key_spend", traffic.new_key_id, "40"), ("inactive_key_spend", traffic.archived_key_id, "3")]
    )
    assert not [a for a in raised if a["kind"] == "spend_anomaly" and a["scope"]["id"] == traffic.new_key_id]
    assert sorted(a["id"] for a in hourly_sync(stack)) == sorted(a["id"] for a in raised)


def test_no_anomaly_over_90_days_of_the_demo_orgs_normal_traffic(make_stack):
    stack = make_stack(spec=OrgSpec())
    connection_id = connected(stack)
    today = date.today()
    rules = alerts.AlertRules()
    first = today - timedelta(days=BACKTEST_DAYS + rules.baseline_days + 1)
    history = guard.spend_history("local", connection_id, first, today)
    assert {s.scope.type for s in history} == {"api_key", "workspace", "actor"}
    found = alerts.anomalies_over(
        connection_id, history, today - timedelta(days=BACKTEST_DAYS), today - timedelta(days=1)
    )
    print(f"false spend_anomaly alerts over {BACKTEST_DAYS} days of the demo org: {len(found)} "
          f"({len(history)} scopes watched)")  # fmt: skip
    assert found == []
    # Nor does the price change rule: the simulator's prices don't change, so any price_change would be false.
    changes = guard.price_changes_over("local", connection_id, today - timedelta(days=BACKTEST_DAYS), today)
    print(f"false price_change alerts over {BACKTEST_DAYS} days of the demo org: {len(changes)}")
    assert changes == []
    # The rule is not blind on this data: a day at 3× a key's busiest day is an anomaly.
    busiest = max(history, key=lambda s: sum(s.daily.values()))
    spike = {**busiest.daily, today - timedelta(days=1): max(busiest.daily.values()) * 3 + 50}
    spiked = alerts.anomalies_over(connection_id, [replace(busiest, daily=spike)], today - timedelta(days=1),
                                   today - timedelta(days=1))  # fmt: skip
    assert len(spiked) == 1


def month_total(stack: Stack, group_by: str = "") -> list[dict]:
    today = date.today()
    query = f"/costs?from={today.replace(day=1).isoformat()}&to={today.isoformat()}&group_by={group_by}"
    return stack.call("GET", query).json()["rows"]


def test_the_connection_shows_each_spend_limit_with_the_spend_against_it_and_alerts_at_80_percent(make_stack):
    stack = make_stack(spend_limits=SpendLimitSettings(organization_amount=1, workspace_amounts=((0, 100_000_000),)))
    connection_id = connected(stack)
    raised = hourly_sync(stack)
    shown = stack.call("GET", f"/integrations/anthropic/{connection_id}").json()["spend_limits"]
    assert shown["status"] == "ok"
    by_scope = {(x["scope"]["type"], x["scope"]["workspace_id"]): x for x in shown["limits"]}
    (total,) = month_total(stack)
    organization = by_scope[("organization", None)]
    assert organization["amount_usd"] == "0.01" and organization["period"] == "monthly"
    assert Decimal(organization["spent_usd"]) == Decimal(total["cost_usd"])  # our spend, to the cent
    first_workspace = stack.simulator.org.workspaces[0].id
    workspace = by_scope[("workspace", first_workspace)]
    (row,) = [r for r in month_total(stack, "workspace_id") if r["workspace_id"] == first_workspace]
    assert Decimal(workspace["spent_usd"]) == Decimal(row["cost_usd"])
    headroom = [a for a in raised if a["kind"] == "spend_limit_headroom"]
    assert sorted(a["threshold"] for a in headroom if a["window"]["from"] == organization["period_from"]
                  and "the organization" in a["message"] and a["baseline_usd"] == "0.01") == [80, 100]  # fmt: skip
    assert not [a for a in headroom if a["scope"]["id"] == first_workspace]  # $1M: far from it
    assert sorted(a["id"] for a in hourly_sync(stack)) == sorted(a["id"] for a in raised)


def test_where_the_key_cant_read_spend_limits_an_enforced_budget_stands_in(make_stack):
    stack = make_stack(spend_limits=SpendLimitSettings(api_access=False))
    connection_id = connected(stack)
    budget = {"name": "Hard cap", "connection_id": connection_id, "scope": {"type": "organization", "id": None},
              "monthly_usd": "0.01", "enforced": True}  # fmt: skip
    assert stack.call("PUT", "/budgets/cap", budget).status == 200
    raised = hourly_sync(stack)
    shown = stack.call("GET", f"/integrations/anthropic/{connection_id}").json()["spend_limits"]
    assert shown["status"] == "refused"
    (standing,) = shown["limits"]
    assert (standing["id"], standing["source"], standing["amount_usd"]) == ("budget:cap", "budget", "0.01")
    assert {a["budget_id"] for a in raised if a["kind"] == "spend_limit_headroom"} == {"cap"}
