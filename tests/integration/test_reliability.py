"""Nothing is lost and nothing leaks: faults upstream, a chunk killed half-way, and the key across a whole life."""

from __future__ import annotations

import base64
import json
import logging
import time
from urllib.parse import quote

import boto3
import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_anthropic.dal import cost_days, table
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from tests.support.stack import FIXED_NOW, SMALL_ORG, Stack, stored_data

pytestmark = pytest.mark.network

FAULT_KINDS = ("429", "500", "529", "truncated", "drop", "slow")
NEW_KEY = "sk-ant-admin01-" + "R" * 93 + "AA"


def sync_until_done(stack: Stack, connection_id: str, timeout: float = 120.0) -> dict:
    """POST sync, then feed the queue until the sync has run (a failed sync message comes back later)."""
    before = stack.call("GET", f"/integrations/anthropic/{connection_id}").json()["last_sync_at"]
    assert stack.call("POST", f"/integrations/anthropic/{connection_id}/sync").status == 202
    deadline = time.monotonic() + timeout
    while True:
        stack.aws.drain_sync_queue()
        connection = stack.call("GET", f"/integrations/anthropic/{connection_id}").json()
        if connection["last_sync_at"] != before:
            return connection
        assert time.monotonic() < deadline, "the sync never completed"
        time.sleep(0.5)


def backfill_restate_sync(fault_rate: float, monkeypatch) -> tuple[list[dict], int]:
    """The same scenario on a fresh stack: backfill, Anthropic restates two days, sync. Returns the table."""
    monkeypatch.setenv("ANTHROPIC_READ_TIMEOUT", "0.5")
    with (
        Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, slow_seconds=1.0, fault_seed=3, now=lambda: FIXED_NOW) as sim,
        LocalAws(sim.url, max_concurrency=4, retry_interval_seconds=1, retry_max_attempts=4) as aws,
    ):
        stack = Stack(aws, LocalApi(), sim, [])
        sim.fault_kinds = FAULT_KINDS
        sim.fault_rate = fault_rate
        response = stack.connect()
        while response.status == 502:  # connect is interactive: the user would press Connect again
            response = stack.connect()
        connection = stack.wait_settled(response.json()["id"], timeout=600)
        assert connection["status"] == "active", connection["last_error"]
        sim.restate(days=2)
        assert sync_until_done(stack, connection["id"])["last_sync"]["status"] == "synced"
        sim.fault_rate = 0.0
        return stored_data(), sum(sim.request_counts.values())


def test_twenty_percent_faults_leave_the_table_identical_to_a_fault_free_run(monkeypatch):
    clean, clean_requests = backfill_restate_sync(0.0, monkeypatch)
    faulty, faulty_requests = backfill_restate_sync(0.2, monkeypatch)
    assert len(clean) >= 365  # a year of stored days (one document per day since the day-document layout)
    assert faulty == clean
    # The faults really happened: the faulty run needed more requests for the same data.
    assert faulty_requests > clean_requests
    print(f"items compared: {len(clean)}; requests fault-free {clean_requests}, with 20% faults {faulty_requests}")


def test_a_chunk_killed_half_way_is_retried_and_leaves_the_table_identical(make_stack, monkeypatch):
    reference = make_stack()
    connection_id = reference.connect().json()["id"]
    reference.wait_settled(connection_id)
    expected = stored_data()
    reference.aws.stop()

    # Given the first chunk's Lambda dies (timeout) after writing part of its items
    stack = make_stack(max_concurrency=1)
    timed_out = type("Sandbox.Timedout", (Exception,), {})
    original = table.batch_write
    killed = []

    def dies_half_way(*, puts=None, deletes=None, **kwargs):
        if len(puts or ()) > 20 and not killed:  # a month of days
            killed.append(len(puts))
            original(puts=puts[: len(puts) // 2], deletes=[], **kwargs)
            raise timed_out("Task timed out after 300.00 seconds")
        return original(puts=puts, deletes=deletes, **kwargs)

    monkeypatch.setattr(cost_days, "batch_write", dies_half_way)
    connection = stack.wait_settled(stack.connect().json()["id"])

    # Then the state machine retried it and the table equals the uninterrupted run's
    assert killed and connection["status"] == "active"
    outcomes = [o for name, _, o in stack.aws.invocations.calls if name == "BackfillChunkFunction"]
    assert outcomes.count("Sandbox.Timedout") == 1
    assert stored_data() == expected


def test_the_key_appears_nowhere_in_a_whole_connection_life(make_stack, capfd, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    stack = make_stack()
    sim = stack.simulator

    # connect, backfill with faults, sync, revocation, reconnect with a new key, disconnect
    sim.inject("500", times=2, path="/v1/organizations/cost_report")
    sim.inject("truncated", times=2, path="/v1/organizations/usage_report")
    connection_id = stack.connect().json()["id"]
    stack.wait_settled(connection_id)
    sync_until_done(stack, connection_id)
    sim.replace_admin_key(NEW_KEY)
    stack.call("POST", "/integrations/anthropic/" + connection_id + "/sync")  # rate-limited: fine either way
    stack.aws.fire_sync_schedule()
    stack.aws.drain_sync_queue()
    assert stack.call("GET", f"/integrations/anthropic/{connection_id}").json()["status"] == "revoked"
    stack.connect(NEW_KEY)
    stack.wait_settled(connection_id)
    stack.call("GET", "/costs?group_by=model")
    stack.call("GET", "/costs/export?from=2026-11-01&to=2026-11-25")
    stack.call("DELETE", f"/integrations/anthropic/{connection_id}")

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    executions = sfn.list_executions(stateMachineArn=stack.aws.state_machine_arn)["executions"]
    assert len(executions) == 2
    history = [
        [
            sfn.describe_execution(executionArn=e["executionArn"]),
            sfn.get_execution_history(executionArn=e["executionArn"]),
        ]
        for e in executions
    ]
    out, err = capfd.readouterr()
    places = {
        "logs": out + err + caplog.text,
        "step functions": json.dumps(history, default=str),
        "dynamodb": json.dumps(table.raw_items()),
        "responses": "".join(r.body + json.dumps(r.headers) for r in stack.responses),
        "lambda payloads": json.dumps(stack.aws.invocations.calls, default=str),
    }
    for key in (DEMO_ADMIN_KEY, NEW_KEY):
        for form in (key, base64.b64encode(key.encode()).decode(), quote(key, safe="")):
            for place, text in places.items():
                assert form not in text, f"a form of the key leaked into {place}"
