"""GET /costs/reconciliation of a month read from the legacy reports: `explained`, every line exact. The legacy cost
report prices priority-tier usage nowhere (the simulated org's second key always uses the priority tier), so both
figures leave it out and it is listed by its token count: exactly what GET /costs shows as usage without a cost.

A stack of its own (source `legacy`): days from 2026-01-01 are otherwise read from the analytics API, and today no
whole month before 2026 is within the connector's 365 days."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pump_anthropic.domain.reconciliation import month_end
from tests.integration.test_reconciliation import (
    assert_no_key_anywhere,
    connected,
    month_total,
    reconcile,
    settled_month,
    stack_with,
)
from tests.support.stack import costs

pytestmark = pytest.mark.network


def test_a_legacy_month_with_priority_tier_usage_is_explained_each_line_exact(caplog):
    first = settled_month(date.today())
    for stack in stack_with("legacy"):
        connection_id = connected(stack)
        body = reconcile(stack, f"{first:%Y-%m}")

        assert body["status"] == "explained", body
        assert Decimal(body["stored_usd"]) == month_total(stack, first) > 0
        assert body["anthropic_usd"] == body["stored_usd"]
        assert (body["difference_usd"], body["explained_usd"], body["unexplained_usd"]) == ("0.00", "0.00", "0.00")
        (line,) = body["lines"]
        assert line["kind"] == "priority_tier_unpriced" and line["amount_usd"] is None
        assert line["connection_id"] == connection_id
        assert (line["from"], line["to"]) == (first.isoformat(), month_end(first).isoformat())
        # Exactly the month's priority-tier tokens GET /costs shows as usage without a cost.
        report = costs(stack, first.isoformat(), month_end(first).isoformat(), "")
        assert line["tokens"] == report["total"]["cost_unknown"]["tokens"] > 0
        (part,) = body["connections"]
        assert part["sources"] == [{"source": "legacy", "from": first.isoformat(), "to": month_end(first).isoformat()}]
        assert_no_key_anywhere(stack, caplog)
