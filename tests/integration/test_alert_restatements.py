"""Issue 25: each alert is raised once, idempotent across syncs and restatements. A runaway key is alerted; then
Anthropic restates the burst's day without the burst, and later with a bigger one: the next syncs pick each
restatement up (GET /costs shows it), and the one alert stays as it was, saying what it saw, with no new event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from anthropic_simulator import SpendScenario
from pump_anthropic.domain import alerts
from pump_anthropic.logic import guard
from tests.support.guard_stack import build_stack, connected, synced_alerts
from tests.support.stack import Stack, costs

BURST_USD_PER_HOUR = Decimal("250")
BURST_HOURS = 3


@pytest.fixture
def stack() -> Iterator[Stack]:
    with ExitStack() as resources:
        yield build_stack(resources, SpendScenario(runaway_usd_per_hour=BURST_USD_PER_HOUR, runaway_hours=BURST_HOURS))


def key_cost(stack: Stack, key_id: str, day: str) -> Decimal:
    rows = costs(stack, day, day, "api_key_id")["rows"]
    return sum((Decimal(r["cost_usd"]) for r in rows if r["api_key_id"] == key_id), Decimal(0))


def test_a_restatement_that_removes_or_raises_the_burst_keeps_its_one_alert_as_it_was(stack):
    traffic = stack.simulator.org.scenario
    key_id = traffic.runaway_key_id
    connection_id = connected(stack)
    raised = synced_alerts(stack)
    (alert,) = [a for a in raised if a["kind"] == "spend_anomaly" and a["scope"]["type"] == "api_key"]
    assert alert["scope"]["id"] == key_id
    burst_day = traffic.burst_start.date()
    day = burst_day.isoformat()
    seen = key_cost(stack, key_id, day)
    burst = BURST_USD_PER_HOUR * BURST_HOURS
    assert Decimal(alert["amount_usd"]) == seen >= burst  # the alert says what the sync saw
    assert sorted(e["detail"]["id"] for e in stack.aws.alert_events()) == sorted(a["id"] for a in raised)

    # Anthropic restates the day without the burst.
    assert stack.simulator.restate_runaway(None) == [burst_day]
    after = synced_alerts(stack)
    assert key_cost(stack, key_id, day) == seen - burst  # the sync picked the restatement up, to the cent
    # The rule would not raise it on today's data, yet the alert stays, unchanged: same amount, same detection.
    end_of_day = datetime.combine(burst_day, datetime.max.time(), tzinfo=UTC)
    history = guard.spend_history("local", connection_id, burst_day - timedelta(days=30), burst_day)
    picture = alerts.SpendPicture(connection_id, end_of_day, history)
    assert not [a for a in alerts.raise_alerts(picture) if a.scope.id == key_id]
    assert after == raised
    assert stack.aws.alert_events() == []  # no new event for the subscriber

    # Anthropic restates it again, now above what was first seen: still the one alert, as first raised.
    assert stack.simulator.restate_runaway("400") == [burst_day]
    again = synced_alerts(stack)
    assert key_cost(stack, key_id, day) == seen - burst + Decimal("400") * BURST_HOURS
    assert [a for a in again if a["id"] == alert["id"]] == [alert]
    assert [a for a in again if a["kind"] == "spend_anomaly" and a["scope"] == alert["scope"]] == [alert]
    assert len({a["id"] for a in again}) == len(again)
    new = [a for a in again if a not in raised]
    assert stack.aws.alert_events() == [] if not new else sorted(a["id"] for a in new)
