"""Disconnect deletes the key at once and reconnecting works; purge leaves nothing of the connection, however old,
and connecting the same organization again after a purge (even one made mid-backfill) backfills it anew, exactly."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from pump_anthropic.dal import cost_days, table
from pump_anthropic.dal.models import ConnectionModel
from tests.support.builders import cost_item
from tests.support.oracles import independent_cost_totals
from tests.support.stack import backfill_months, costs, report_totals

pytestmark = pytest.mark.network


def settled(stack) -> dict:
    connection = stack.wait_settled(stack.connect().json()["id"])
    assert connection["status"] == "active"
    return connection


def backfilled_year(stack, connection: dict) -> tuple[dict, dict]:
    """The connection's whole backfill as GET /costs reports it: (cost per day, workspace and model; total)."""
    backfill = connection["backfill"]
    assert backfill["chunks_done"] == backfill["chunks_total"] == backfill_months(), backfill
    report = costs(stack, backfill["from"], backfill["to"])
    return report_totals(report), report["total"]


def execution_names(stack) -> list[str]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return [e["name"] for e in sfn.list_executions(stateMachineArn=stack.aws.state_machine_arn)["executions"]]


def test_a_connection_with_data_older_than_400_days_purged_leaves_zero_items_of_any_type(stack):
    connection = settled(stack)
    connection_id = connection["id"]
    # The connection was first made two years ago, so it also holds data from well before the last 400 days
    record = ConnectionModel.get("TENANT#local", f"CONN#{connection_id}")
    record.update(actions=[ConnectionModel.created_at.set(datetime.now(UTC) - timedelta(days=730))])
    old_day = datetime.now(UTC).date() - timedelta(days=900)
    cost_days.replace_days("local", connection_id, old_day, old_day, [cost_item(date=old_day)])
    assert any(i["sk"]["S"] == f"DAY#{old_day}" for i in table.raw_items())

    purged = stack.call("DELETE", f"/integrations/anthropic/{connection_id}?purge=true")

    body = purged.json()
    assert purged.status == 200 and body["status"] == "purged" and body["purge"]["items_deleted"] > 0
    assert "Nothing of this connection is kept" in body["purge"]["kept"]
    assert table.raw_items() == []
    assert stack.call("GET", f"/integrations/anthropic/{connection_id}").status == 404
    assert stack.call("GET", f"/costs?from={old_day}&to={old_day}").json()["rows"] == []


def test_disconnect_deletes_the_key_without_a_recovery_window_and_reconnecting_works(stack):
    connection = settled(stack)
    secret_id = f"pump-anthropic/{connection['id']}"
    secrets = boto3.client("secretsmanager", region_name="us-east-1")

    assert stack.call("DELETE", f"/integrations/anthropic/{connection['id']}").json()["status"] == "disconnected"
    with pytest.raises(ClientError) as gone:
        secrets.describe_secret(SecretId=secret_id)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"

    again = stack.connect()
    assert again.status == 202 and again.json()["id"] == connection["id"]
    reconnected = stack.wait_settled(connection["id"])
    assert reconnected["status"] == "active"
    assert secrets.describe_secret(SecretId=secret_id)["Name"] == secret_id
    assert backfilled_year(stack, reconnected) == backfilled_year(stack, connection)


def test_connecting_again_after_a_purge_backfills_anew_to_the_same_totals(stack):
    # Given an active connection, purged
    first = settled(stack)
    first_year = backfilled_year(stack, first)
    assert stack.call("DELETE", f"/integrations/anthropic/{first['id']}?purge=true").json()["status"] == "purged"

    # When the same key is connected again
    again = stack.connect()
    assert again.status == 202 and again.json()["id"] == first["id"]

    # Then a backfill of its own runs (a second execution, not the first one's name) and ends active, exactly
    reconnected = stack.wait_settled(first["id"])
    assert reconnected["status"] == "active" and reconnected["last_error"] is None
    names = execution_names(stack)
    assert len(names) == len(set(names)) == 2
    assert backfilled_year(stack, reconnected) == first_year
    # And the connection works as any active one: sync now is accepted
    assert stack.call("POST", f"/integrations/anthropic/{first['id']}/sync").status == 202


def test_a_purge_in_the_middle_of_a_backfill_then_a_reconnect_ends_active_and_exact(stack):
    # Given a connection purged while its backfill runs
    connection_id = stack.connect().json()["id"]
    purged = stack.call("DELETE", f"/integrations/anthropic/{connection_id}?purge=true")
    assert purged.status == 200 and purged.json()["status"] == "purged"

    # When it is connected again at once (the purged connection's run may still be going)
    assert stack.connect().status == 202
    connection = stack.wait_settled(connection_id)

    # Then the new run, not the old one, settles it: active, every month fetched, the cost report's totals exactly
    assert connection["status"] == "active", connection
    assert len(set(execution_names(stack))) == 2
    year, _ = backfilled_year(stack, connection)
    backfill = connection["backfill"]
    expected = independent_cost_totals(stack.simulator.url, backfill["from"], backfill["to"])
    assert year == {k: v for k, v in expected.items() if v}


def running_executions(stack) -> list[dict]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return sfn.list_executions(stateMachineArn=stack.aws.state_machine_arn, statusFilter="RUNNING")["executions"]


def test_a_purge_while_the_backfill_writes_leaves_nothing_once_the_workers_stop(stack):
    """The 'wrong org' case: purged seconds after connecting, while chunks are pulling and writing. Whatever the
    workers write after the purge listed its keys is theirs to delete (they check after writing), so once the run
    has stopped the table holds nothing of the connection: no days, summaries, names, chunks or sync state."""
    connection_id = stack.connect().json()["id"]
    deadline = time.monotonic() + 60
    while _chunks_done(stack, connection_id) < 1:  # writing has begun
        assert time.monotonic() < deadline, "no month of the backfill finished"
        time.sleep(0.05)

    purged = stack.call("DELETE", f"/integrations/anthropic/{connection_id}?purge=true")
    assert purged.status == 200 and purged.json()["status"] == "purged"

    deadline = time.monotonic() + 120
    while running_executions(stack):
        assert time.monotonic() < deadline, "the purged connection's backfill never stopped"
        time.sleep(0.1)
    leftovers = [i for i in table.raw_items() if connection_id in i["pk"]["S"] or connection_id in i["sk"]["S"]]
    assert leftovers == []
    assert stack.call("GET", f"/integrations/anthropic/{connection_id}").status == 404
    again = stack.call("DELETE", f"/integrations/anthropic/{connection_id}?purge=true")
    assert again.status == 404  # nothing left to purge, and it says so


def _chunks_done(stack, connection_id: str) -> int:
    response = stack.call("GET", f"/integrations/anthropic/{connection_id}")
    return response.json()["backfill"]["chunks_done"] if response.status == 200 else 0
