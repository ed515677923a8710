"""The whole flow: connect → Step Functions (the real ASL on moto) → backfill chunks → DynamoDB → GET /costs."""

from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal
from urllib.parse import quote

import boto3
import pytest

from anthropic_simulator import DEMO_ADMIN_KEY
from pump_anthropic.dal import table
from tests.support.oracles import COST_REPORT, independent_cost_totals, independent_token_totals
from tests.support.stack import backfill_months, costs, report_totals, stored_data

pytestmark = pytest.mark.network


def test_backfill_covers_365_days_and_reproduces_the_cost_report_exactly(stack):
    # Given a connected organization
    response = stack.connect()
    assert response.status == 202, response.body
    connection_id = response.json()["id"]

    # When the backfill settles
    connection = stack.wait_settled(connection_id)

    # Then every monthly chunk is done and the range covers 365 days through today
    backfill = connection["backfill"]
    assert connection["status"] == "active"
    assert backfill["chunks_done"] == backfill["chunks_total"] == backfill_months()
    first, last = date.fromisoformat(backfill["from"]), date.fromisoformat(backfill["to"])
    assert (last - first).days + 1 == 365
    # And GET /costs equals the Admin API's own cost report per day, workspace and model, to the last decimal
    report = costs(stack, backfill["from"], backfill["to"])
    expected = independent_cost_totals(stack.simulator.url, backfill["from"], backfill["to"])
    assert report_totals(report) == {k: v for k, v in expected.items() if v}
    assert Decimal(report["total"]["cost_usd"]) == sum(expected.values())
    # And the tokens equal the usage report's, per day, workspace and model (priced or not)
    tokens = {(r["date"], r["workspace_id"], r["model"]): r["tokens"] for r in report["rows"] if r["tokens"]}
    assert tokens == independent_token_totals(stack.simulator.url, backfill["from"], backfill["to"])
    # And today's partial day is there ("within a few minutes")
    assert any(row["date"] == backfill["to"] for row in report["rows"])
    # And priority-tier usage is shown as cost unknown, never as $0
    assert report["total"]["cost_unknown"]["tokens"] > 0


def test_rerunning_the_backfill_leaves_the_table_identical(stack):
    connection_id = stack.connect().json()["id"]
    stack.wait_settled(connection_id)
    first = stored_data()

    # When the same organization is connected again (a full second backfill run)
    again = stack.connect()
    assert again.status == 202 and again.json()["id"] == connection_id
    connection = stack.wait_settled(connection_id)

    # Then nothing changed, and the second run wrote no cost item
    assert connection["status"] == "active"
    assert stored_data() == first
    chunk_items = [i for i in table.raw_items() if i["item_type"]["S"] == "chunk"]
    assert {i["items_written"]["N"] for i in chunk_items} == {"0"}


def test_a_chunk_failing_once_is_retried_by_the_state_machine(make_stack):
    stack = make_stack(max_concurrency=1)
    # Given Anthropic rate-limits the first chunk's requests beyond the client's own five attempts
    stack.simulator.inject("429", times=5, retry_after=0, path=COST_REPORT)

    connection = stack.wait_settled(stack.connect().json()["id"])

    # Then the state machine's Retry ran the chunk again and the backfill completed
    assert connection["status"] == "active"
    outcomes = [outcome for name, _, outcome in stack.aws.invocations.calls if name == "BackfillChunkFunction"]
    assert outcomes.count("AdminApiRateLimitedError") == 1
    assert outcomes.count("ok") == backfill_months()


def test_a_chunk_that_keeps_failing_is_listed_and_can_be_retried_alone(make_stack):
    stack = make_stack(max_concurrency=1)
    # Given the first chunk to run (the newest month) fails on every attempt: 3 invocations (1 + 2 state machine
    # retries) x 5 requests
    stack.simulator.inject("529", times=15, path=COST_REPORT)
    connection_id = stack.connect().json()["id"]

    connection = stack.wait_settled(connection_id)

    # Then the connection is in error with that month listed, and nothing else failed
    assert connection["status"] == "error"
    assert connection["last_error"]["code"] == "backfill_incomplete"
    failed = connection["backfill"]["failed_chunks"]
    assert [c["start"] for c in failed] == [connection["backfill"]["to"][:8] + "01"]
    assert failed[0]["error"]["code"] == "anthropic_unavailable"
    assert connection["backfill"]["chunks_done"] == backfill_months() - 1

    # When only the failed chunks are retried
    stack.aws.invocations.calls.clear()
    retried = stack.call("POST", f"/integrations/anthropic/{connection_id}/backfill")
    assert retried.status == 202, retried.body
    connection = stack.wait_settled(connection_id)

    # Then just that chunk ran, and the connection is active with exact totals
    chunk_calls = [p for name, p, _ in stack.aws.invocations.calls if name == "BackfillChunkFunction"]
    assert [p["start"] for p in chunk_calls] == [failed[0]["start"]]
    assert connection["status"] == "active" and connection["last_error"] is None
    backfill = connection["backfill"]
    expected = independent_cost_totals(stack.simulator.url, backfill["from"], backfill["to"])
    assert report_totals(costs(stack, backfill["from"], backfill["to"])) == {k: v for k, v in expected.items() if v}


def test_retrying_a_complete_backfill_is_refused(stack):
    connection_id = stack.connect().json()["id"]
    stack.wait_settled(connection_id)
    response = stack.call("POST", f"/integrations/anthropic/{connection_id}/backfill")
    assert response.status == 409 and response.json()["error"]["code"] == "nothing_to_retry"


def test_the_key_appears_nowhere(make_stack, capfd, caplog, monkeypatch):
    import logging

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    stack = make_stack()
    stack.simulator.inject("500", times=3, path=COST_REPORT)
    connection_id = stack.connect().json()["id"]
    stack.wait_settled(connection_id)
    costs(stack, "2026-01-01", "2026-01-31")
    stack.call("GET", "/integrations/anthropic")

    forms = {DEMO_ADMIN_KEY, base64.b64encode(DEMO_ADMIN_KEY.encode()).decode(), quote(DEMO_ADMIN_KEY, safe="")}
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    executions = sfn.list_executions(stateMachineArn=stack.aws.state_machine_arn)["executions"]
    assert executions
    sfn_text = json.dumps(
        [
            [
                sfn.describe_execution(executionArn=e["executionArn"]),
                sfn.get_execution_history(executionArn=e["executionArn"])["events"],
            ]
            for e in executions
        ],
        default=str,
    )
    out, err = capfd.readouterr()
    places = {
        "logs": out + err + caplog.text,
        "step functions": sfn_text,
        "dynamodb": json.dumps(table.raw_items()),
        "responses": "".join(r.body + json.dumps(r.headers) for r in stack.responses),
        "invocations": json.dumps(stack.aws.invocations.calls, default=str),
    }
    for place, text in places.items():
        for form in forms:
            assert form not in text, f"the key leaked into {place}"
    # And the key is stored where it belongs: Secrets Manager, encrypted with the stack's KMS key
    secret = boto3.client("secretsmanager", region_name="us-east-1").describe_secret(
        SecretId=f"pump-anthropic/{connection_id}"
    )
    assert secret["KmsKeyId"]
