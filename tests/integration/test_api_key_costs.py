"""Cost per API key over a 365-day backfill equals each key's true spend in the simulator, to the last decimal."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pump_anthropic.domain.allocation import CONSOLE, UNATTRIBUTED
from tests.support.oracles import true_cost_per_key
from tests.support.stack import costs

pytestmark = pytest.mark.network


def test_cost_per_api_key_matches_each_keys_true_spend_exactly(stack):
    connection = stack.wait_settled(stack.connect().json()["id"])
    first, last = connection["backfill"]["from"], connection["backfill"]["to"]

    report = costs(stack, first, last, "api_key_id")
    by_key = {row["api_key_id"]: row for row in report["rows"]}
    expected, days_used = true_cost_per_key(stack.simulator.org, date.fromisoformat(first), date.fromisoformat(last))

    # Every key (and Console) carries exactly its true spend
    for key, true_cost in expected.items():
        if true_cost:
            assert Decimal(by_key[key]["cost_usd"]) == true_cost, key
    # Code execution has no per-key usage: it is its own, explicit bucket, equal to its cost
    by_cost_type = {r["cost_type"]: r for r in costs(stack, first, last, "cost_type")["rows"]}
    assert Decimal(by_key[UNATTRIBUTED]["cost_usd"]) == Decimal(by_cost_type["code_execution"]["cost_usd"])
    # Totals by key equal totals without it, to the last decimal
    assert report["total"] == costs(stack, first, last, "model")["total"]
    # Rows say the figure is allocated and carry the key's name and hint
    named = [r for r in report["rows"] if r["api_key_id"] not in (CONSOLE, UNATTRIBUTED)]
    assert named and all(r["allocation"] == "proportional_usage" and r["api_key_hint"] for r in named)
    keys = {k.id: k for k in stack.simulator.org.api_keys}
    assert {r["api_key_name"] for r in named} <= {k.name for k in keys.values()}
    assert by_key[CONSOLE]["api_key_name"].startswith("Console")
    # Keys appear and disappear over time: some key was used on only part of the year
    assert any(len(d) < 365 for k, d in days_used.items() if k != CONSOLE)


def test_cost_per_api_key_combines_with_date_month_model_and_workspace(stack):
    connection = stack.wait_settled(stack.connect().json()["id"])
    first, last = connection["backfill"]["from"], connection["backfill"]["to"]
    total = costs(stack, first, last, "model")["total"]
    for group_by in ("date,api_key_id", "month,api_key_id,model", "api_key_id,workspace_id"):
        report = costs(stack, first, last, group_by)
        assert report["total"] == total, group_by
        assert sum(Decimal(r["cost_usd"]) for r in report["rows"] if r["cost_usd"]) == Decimal(total["cost_usd"])
