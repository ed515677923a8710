"""Issue 26 item 1: the sync raises a `price_change` alert when a line's effective rate on a day differs from the
previous days' beyond rounding. Anthropic raises a model's prices by 25% two days ago (simulator knob; past the
US-only premium of 10%, which a line without its geo may move by as the geo mix changes): each of the
model's lines busy enough to have a rate alerts once, on that day, with both rates; nothing else does, and later
syncs raise nothing new. (The 90 days of the demo org's normal traffic raise none: test_spend_alerts.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from decimal import Decimal

import pytest

from anthropic_simulator import SpendScenario
from anthropic_simulator.scenarios import parse_price_change
from pump_anthropic.domain.report import canonical_model
from tests.support.guard_stack import build_stack, connected, synced_alerts
from tests.support.stack import Stack

MODEL = "claude-haiku-4-5-20251001"  # SMALL_ORG's busiest model on the days before the change
CHANGE_DAYS_AGO = 2
PREVIOUS_DAY = re.compile(r"against \$([0-9.]+) per MTok on ([0-9]{4}-[0-9]{2}-[0-9]{2})\.$")


@pytest.fixture
def stack() -> Iterator[Stack]:
    scenario = SpendScenario(price_change=parse_price_change(f"{MODEL}:25:{CHANGE_DAYS_AGO}"))
    with ExitStack() as resources:
        yield build_stack(resources, scenario)


def test_a_price_change_alerts_once_per_line_on_its_day_with_both_rates(stack):
    connected(stack)
    raised = synced_alerts(stack)
    changes = [a for a in raised if a["kind"] == "price_change"]
    change_day = (stack.simulator.org.today() - timedelta(days=CHANGE_DAYS_AGO)).isoformat()
    assert changes, "the price change was not alerted"
    for alert in changes:
        assert alert["scope"]["type"] == "model" and alert["scope"]["id"] == canonical_model(MODEL)
        assert Decimal(alert["amount_usd"]) == Decimal(alert["baseline_usd"]) * Decimal("1.25")
        # On the line's first day with a rate from the change on (a day with too few tokens has none), against
        # its last day before the change.
        (day,) = {alert["window"]["from"], alert["window"]["to"]}
        assert change_day <= day <= stack.simulator.org.today().isoformat()
        previous = PREVIOUS_DAY.search(alert["message"])
        assert previous is not None and previous.group(2) < change_day, alert["message"]
        assert previous.group(1) == alert["baseline_usd"]
        assert f"${alert['amount_usd']} per MTok" in alert["message"]
    lines = [a["scope"]["name"] for a in changes]
    assert len(lines) == len(set(lines))  # once per line
    # Later syncs: nothing new, and each alert went out as one event.
    assert sorted(a["id"] for a in synced_alerts(stack)) == sorted(a["id"] for a in raised)
    events = stack.aws.alert_events()
    assert sorted(e["detail"]["id"] for e in events) == sorted(a["id"] for a in raised)
