"""After the backfill: hourly sync with restatements, revocation and reconnect, disconnect and purge, tenancy."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import boto3
import pytest

from anthropic_simulator import DEMO_ADMIN_KEY
from pump_anthropic.dal import cost_days, table
from pump_anthropic.domain.report import ANALYTICS_ONLY_DIMENSIONS, GROUP_BY_DIMENSIONS
from tests.support.oracles import independent_cost_totals
from tests.support.stack import costs, report_totals, sync_now

pytestmark = pytest.mark.network

NEW_KEY = "sk-ant-admin01-" + "N" * 93 + "AA"


@pytest.fixture
def active(stack):
    connection_id = stack.connect().json()["id"]
    connection = stack.wait_settled(connection_id)
    assert connection["status"] == "active"
    return connection


def test_sync_picks_up_a_two_day_restatement_exactly(stack, active):
    backfill = active["backfill"]
    before = independent_cost_totals(stack.simulator.url, backfill["from"], backfill["to"])

    # Given Anthropic restates the last two days
    changed_days = {d.isoformat() for d in stack.simulator.restate(days=2)}
    after = independent_cost_totals(stack.simulator.url, backfill["from"], backfill["to"])
    assert {key[0] for key, _ in set(before.items()) ^ set(after.items())} <= changed_days

    # When a sync runs
    connection = sync_now(stack, active["id"])

    # Then GET /costs equals the new upstream totals to the last decimal, and the sync says what it did
    assert report_totals(costs(stack, backfill["from"], backfill["to"])) == {k: v for k, v in after.items() if v}
    last_sync = connection["last_sync"]
    assert last_sync["status"] == "synced" and last_sync["items_written"] > 0
    assert last_sync["anthropic_requests"] >= 3
    assert connection["last_sync_at"] is not None


def test_a_quiet_sync_writes_nothing(stack, active):
    sync_now(stack, active["id"])
    batches_before = table.STATS.batch_requests

    # When the schedule fires again with nothing changed upstream
    assert stack.aws.fire_sync_schedule() == {"connections_queued": 1}
    stack.aws.drain_sync_queue()

    # Then no cost item or rollup was written or deleted, and only the three reports were asked for
    connection = stack.call("GET", f"/integrations/anthropic/{active['id']}").json()
    assert table.STATS.batch_requests == batches_before
    assert connection["last_sync"]["anthropic_requests"] == 3
    assert connection["last_sync"]["items_written"] == connection["last_sync"]["items_deleted"] == 0
    assert connection["last_sync"]["items_unchanged"] > 0


def test_sync_now_is_rate_limited_per_connection(stack, active):
    assert stack.call("POST", f"/integrations/anthropic/{active['id']}/sync").status == 202
    response = stack.call("POST", f"/integrations/anthropic/{active['id']}/sync")
    assert response.status == 429
    assert response.json()["error"]["code"] == "sync_rate_limited"


def test_a_revoked_key_stops_the_sync_visibly_and_a_new_key_resumes_it(stack, active):
    # Given the organization deletes the Admin key Pump holds
    stack.simulator.replace_admin_key(NEW_KEY)

    connection = sync_now(stack, active["id"])

    # Then the connection is revoked with a sentence, and the schedule no longer picks it up
    assert connection["status"] == "revoked"
    assert connection["last_error"]["code"] == "key_revoked"
    assert "reconnect" in connection["last_error"]["message"].lower()
    assert stack.aws.fire_sync_schedule() == {"connections_queued": 0}
    conflict = stack.call("POST", f"/integrations/anthropic/{active['id']}/sync")
    assert conflict.status == 409

    # When the user reconnects with the new key
    reconnected = stack.connect(NEW_KEY)
    assert reconnected.status == 202 and reconnected.json()["id"] == active["id"]
    connection = stack.wait_settled(active["id"])

    # Then it is active again, syncing, and the data is complete
    assert connection["status"] == "active" and connection["last_error"] is None
    assert connection["key_hint"].endswith("NNAA")
    assert stack.aws.fire_sync_schedule() == {"connections_queued": 1}
    backfill = connection["backfill"]
    expected = independent_cost_totals_with_key(stack, backfill["from"], backfill["to"])
    assert report_totals(costs(stack, backfill["from"], backfill["to"])) == {k: v for k, v in expected.items() if v}


def independent_cost_totals_with_key(stack, first_day: str, last_day: str) -> dict:
    stack.simulator.replace_admin_key(DEMO_ADMIN_KEY)
    try:
        return independent_cost_totals(stack.simulator.url, first_day, last_day)
    finally:
        stack.simulator.replace_admin_key(NEW_KEY)


def test_disconnect_stops_sync_and_deletes_the_key_and_purge_deletes_the_costs(stack, active):
    backfill = active["backfill"]
    secrets = boto3.client("secretsmanager", region_name="us-east-1")

    # When the connection is disconnected (without purge)
    response = stack.call("DELETE", f"/integrations/anthropic/{active['id']}")

    # Then it stops syncing, the key is deleted at once (no recovery window), and history stays readable
    assert response.status == 200 and response.json()["status"] == "disconnected"
    assert stack.aws.fire_sync_schedule() == {"connections_queued": 0}
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.describe_secret(SecretId=f"pump-anthropic/{active['id']}")
    assert Decimal(costs(stack, backfill["from"], backfill["to"])["total"]["cost_usd"]) > 0

    # When it is purged
    purged = stack.call("DELETE", f"/integrations/anthropic/{active['id']}?purge=true")

    # Then its cost items and rollups are gone
    assert purged.status == 200
    assert costs(stack, backfill["from"], backfill["to"])["rows"] == []
    assert not [i for i in table.raw_items() if i["item_type"]["S"] in {"cost_item", "rollup", "day"}]


def test_tenant_b_gets_404_on_every_route_of_tenant_a(stack, active):
    connection_id = active["id"]
    for method, target in [
        ("GET", f"/integrations/anthropic/{connection_id}"),
        ("DELETE", f"/integrations/anthropic/{connection_id}"),
        ("POST", f"/integrations/anthropic/{connection_id}/sync"),
        ("POST", f"/integrations/anthropic/{connection_id}/backfill"),
    ]:
        response = stack.call(method, target, tenant="tenant-b")
        assert (response.status, response.json()["error"]["code"]) == (404, "not_found"), target
    assert stack.call("GET", f"/integrations/anthropic/{connection_id}").json()["status"] == "active"


# Each dimension alone, then all of them together.
# Every dimension alone, and all together but for the analytics-only ones (actor and product don't combine with the
# price grain; on these legacy days they are "unknown" anyway).
GROUPINGS = [
    *(d for d in GROUP_BY_DIMENSIONS if d != "hour"),  # hours cover two days only: test_hourly_cost.py
    ",".join(d for d in GROUP_BY_DIMENSIONS if d not in ("date", "hour", *ANALYTICS_ONLY_DIMENSIONS)),
    "month,api_key_id,actor,product,workspace_id,model",
]


def test_read_api_sums_equal_the_cost_items_for_every_grouping(stack, active):
    backfill = active["backfill"]
    first, last = date.fromisoformat(backfill["from"]), date.fromisoformat(backfill["to"])
    items = list(cost_days.iter_cost_items("local", active["id"], first, last))
    expected_cost = sum((i.cost_usd for i in items if i.cost_usd is not None), Decimal(0))
    expected_tokens = sum(i.tokens for i in items)
    assert expected_cost > 0 and expected_tokens > 0
    for group_by in GROUPINGS:
        report = costs(stack, backfill["from"], backfill["to"], group_by)
        assert Decimal(report["total"]["cost_usd"]) == expected_cost, group_by
        assert sum(Decimal(r["cost_usd"]) for r in report["rows"] if r["cost_usd"] is not None) == expected_cost
        assert sum(r["tokens"] for r in report["rows"]) == expected_tokens, group_by
