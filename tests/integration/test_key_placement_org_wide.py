"""An organization-scoped key can't be placed from the key list: the placement report is pulled for it, and
what it used in several workspaces the same day is unattributed, never spread silently."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_anthropic.domain.allocation import CONSOLE, UNATTRIBUTED
from tests.support.oracles import PLACEMENT_REPORT, THREE_REPORTS, true_cost_per_key
from tests.support.stack import FIXED_NOW, SMALL_ORG, by_key_costs, costs, sync_now

pytestmark = pytest.mark.network

ORG_WIDE = replace(SMALL_ORG, org_keys=1)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    # Overrides conftest's: an org with one organization-scoped key used in two workspaces.
    with Simulator(ORG_WIDE, admin_key=DEMO_ADMIN_KEY, slow_seconds=1.0, now=lambda: FIXED_NOW) as sim:
        yield sim


def test_an_organization_scoped_key_is_placed_by_the_report_and_never_spread_silently(stack):
    org = stack.simulator.org
    org_key = next(k.id for k in org.api_keys if k.scope_type == "organization")
    connection = stack.wait_settled(stack.connect().json()["id"])
    assert connection["status"] == "active"

    # The key list can't place the org-wide key, so its months pulled the placement report
    assert stack.simulator.grouped_request_counts.get(PLACEMENT_REPORT, 0) > 0

    first, last = (date.fromisoformat(connection["backfill"][k]) for k in ("from", "to"))
    expected, _ = true_cost_per_key(org, first, last)
    allocated = by_key_costs(stack, connection)
    # Workspace-scoped keys still carry exactly their true spend
    for key in (k.id for k in org.api_keys if k.id != org_key):
        assert allocated.get(key, Decimal(0)) == expected.get(key, Decimal(0)), key
    # What the org-wide key spent in two workspaces the same day is unattributed, not guessed: the org-wide key,
    # Console and unattributed together hold exactly their true spend plus code execution
    by_cost_type = {r["cost_type"]: r for r in costs(stack, str(first), str(last), "cost_type")["rows"]}
    code_execution = Decimal(by_cost_type["code_execution"]["cost_usd"])
    assert allocated.get(org_key, Decimal(0)) < expected[org_key]
    assert allocated[UNATTRIBUTED] > code_execution
    held = allocated.get(org_key, Decimal(0)) + allocated.get(CONSOLE, Decimal(0)) + allocated[UNATTRIBUTED]
    assert held == expected[org_key] + expected.get(CONSOLE, Decimal(0)) + code_execution

    # A quiet hourly sync asks for the placement report too: four requests
    sync_now(stack, connection["id"])
    stack.simulator.reset_counts()
    stack.aws.fire_sync_schedule()
    stack.aws.drain_sync_queue()
    assert stack.simulator.grouped_request_counts == {**dict.fromkeys(THREE_REPORTS, 1), PLACEMENT_REPORT: 1}
