"""Disconnect deletes the key at once and reconnecting works; purge leaves nothing of the connection, however old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from pump_anthropic.dal import cost_days, table
from pump_anthropic.dal.models import ConnectionModel
from tests.support.builders import cost_item

pytestmark = pytest.mark.network


def settled(stack) -> dict:
    connection = stack.wait_settled(stack.connect().json()["id"])
    assert connection["status"] == "active"
    return connection


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
    assert stack.wait_settled(connection["id"])["status"] == "active"
    assert secrets.describe_secret(SecretId=secret_id)["Name"] == secret_id
