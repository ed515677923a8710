"""The embedded stack as the spend guard's integration tests drive it: a simulator (with spend scenario knobs) behind
the local AWS, a connection backfilled, the hourly sync run, and the alerts read back."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date

from anthropic_simulator import DEMO_ADMIN_KEY, OrgSpec, Simulator, SpendScenario
from anthropic_simulator.analytics_settings import AnalyticsSettings
from anthropic_simulator.spend_limits import SpendLimitSettings
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from tests.support.stack import FIXED_NOW, SMALL_ORG, Stack, costs

EXACT = AnalyticsSettings(amount_decimals=None)


def build_stack(
    resources: ExitStack,
    scenario: SpendScenario | None = None,
    analytics: AnalyticsSettings = EXACT,
    spec: OrgSpec = SMALL_ORG,
    spend_limits: SpendLimitSettings | None = None,
) -> Stack:
    """A simulator on the fixed clock and the embedded AWS in front of it, both closed with `resources`."""
    simulator = resources.enter_context(
        Simulator(
            spec,
            admin_key=DEMO_ADMIN_KEY,
            now=lambda: FIXED_NOW,
            analytics=analytics,
            scenario=scenario,
            spend_limits=spend_limits,
        )
    )
    aws = resources.enter_context(LocalAws(simulator.url, retry_interval_seconds=1, retry_max_attempts=2))
    return Stack(aws, LocalApi(), simulator, [])


def connected(stack: Stack) -> str:
    """Connect the simulator's org and wait for its backfill: the connection's id."""
    response = stack.connect()
    assert response.status == 202, response.body
    connection = stack.wait_settled(response.json()["id"], timeout=300)
    assert connection["status"] == "active", connection
    return connection["id"]


def hourly_sync(stack: Stack) -> None:
    """One run of the hourly schedule, its sync queue drained (each connection synced, its alerts checked)."""
    stack.aws.fire_sync_schedule()
    stack.aws.drain_sync_queue()


def synced_alerts(stack: Stack) -> list[dict]:
    """The hourly sync, then every alert GET /alerts shows (all its pages)."""
    hourly_sync(stack)
    return all_alerts(stack)


def all_alerts(stack: Stack, query: str = "") -> list[dict]:
    """Every alert of GET /alerts?{query}, page after page."""
    separator = "&" if query else ""
    response = stack.call("GET", f"/alerts?{query}")
    assert response.status == 200, response.body
    body = response.json()
    found = list(body["alerts"])
    while body.get("has_more"):
        response = stack.call("GET", f"/alerts?{query}{separator}page={body['next_page']}")
        assert response.status == 200, response.body
        body = response.json()
        found += body["alerts"]
    return found


def month_rows(stack: Stack, group_by: str) -> list[dict]:
    today = date.today()
    return costs(stack, today.replace(day=1).isoformat(), today.isoformat(), group_by)["rows"]
