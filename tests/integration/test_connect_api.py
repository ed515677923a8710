"""POST/GET /integrations/anthropic: every connect error case, double submits, tenants, the read API's 400s, and a way
out of every backfill state (a lost run, a failed one) by retrying or connecting again."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from pydantic import SecretStr

from anthropic_simulator import DEMO_ADMIN_KEY
from pump_anthropic import wiring
from pump_anthropic.admin_api import AdminApiClient
from pump_anthropic.dal import table
from pump_anthropic.dal.models import ConnectionModel
from pump_anthropic.exceptions import AdminApiPermissionError
from tests.support.oracles import COST_REPORT, independent_cost_totals
from tests.support.stack import backfill_months, costs, report_totals

pytestmark = pytest.mark.network

STANDARD_KEY = "sk-ant-api03-" + "a" * 93 + "AA"
UNKNOWN_ADMIN_KEY = "sk-ant-admin01-" + "b" * 93 + "AA"


def nothing_stored() -> bool:
    secrets = boto3.client("secretsmanager", region_name="us-east-1").list_secrets()["SecretList"]
    return not table.raw_items() and not secrets


def error_of(response) -> tuple[int, str]:
    return response.status, response.json()["error"]["code"]


def test_connect_refuses_a_standard_key_with_a_sentence(stack):
    response = stack.connect(STANDARD_KEY)
    assert error_of(response) == (400, "standard_key_not_allowed")
    assert "Admin" in response.json()["error"]["message"]
    assert STANDARD_KEY not in response.body
    assert nothing_stored()


@pytest.mark.parametrize(
    "bad_key",
    [
        "",
        "   ",
        "sk-ant-admin01-short",
        "not a key",
        "sk-ant-admin01-" + "é" * 93 + "AA",
        "sk-ant-admin01-" + "x" * 1_000_000,
    ],
)
def test_connect_refuses_malformed_keys_without_echoing_them(stack, bad_key):
    response = stack.connect(bad_key)
    assert error_of(response) == (400, "invalid_key_format")
    assert bad_key.strip() == "" or bad_key not in response.body
    assert nothing_stored()


def test_connect_reports_a_key_anthropic_rejects(stack):
    response = stack.connect(UNKNOWN_ADMIN_KEY)
    assert error_of(response) == (400, "key_rejected")
    assert UNKNOWN_ADMIN_KEY not in response.body
    assert nothing_stored()


def test_connect_reports_a_key_without_permission(stack, monkeypatch):
    class ForbiddenClient(AdminApiClient):
        def get_organization(self):
            raise AdminApiPermissionError("permission denied", status=403, error_type="permission_error")

    monkeypatch.setattr(wiring, "admin_client", lambda key, deadline=None: ForbiddenClient(key, stack.simulator.url))
    assert error_of(stack.connect()) == (400, "key_lacks_permission")
    assert nothing_stored()


def test_connect_answers_502_when_anthropic_is_unreachable(stack, monkeypatch):
    def unreachable(key: SecretStr, deadline=None) -> AdminApiClient:
        return AdminApiClient(key, "http://127.0.0.1:9", max_attempts=2, backoff_base=0.01, connect_timeout=0.2)

    monkeypatch.setattr(wiring, "admin_client", unreachable)
    response = stack.connect()
    assert error_of(response) == (502, "anthropic_unavailable")
    assert nothing_stored()


def test_connect_answers_502_after_retries_when_anthropic_keeps_failing(stack):
    stack.simulator.inject("529", times=50, path="/v1/organizations/me")
    assert error_of(stack.connect()) == (502, "anthropic_unavailable")
    assert nothing_stored()


@pytest.mark.parametrize(
    "body,expected",
    [
        ("{not json", (400, "invalid_request")),
        ("[]", (400, "invalid_request")),
        ("{}", (400, "invalid_request")),
        ('{"admin_key": 42}', (400, "invalid_request")),
        ('{"admin_key": null}', (400, "invalid_request")),
        ('{"admin_key": "' + DEMO_ADMIN_KEY + '", "tenant_id": "someone-else"}', (400, "invalid_request")),
    ],
)
def test_connect_rejects_bad_bodies_with_400(stack, body, expected):
    response = stack.call("POST", "/integrations/anthropic", body)
    assert error_of(response) == expected
    assert DEMO_ADMIN_KEY not in response.body
    assert "Traceback" not in response.body
    assert nothing_stored()


def test_requests_without_tenant_claims_never_reach_data(stack):
    response = stack.call("POST", "/integrations/anthropic", {"admin_key": DEMO_ADMIN_KEY}, anonymous=True)
    assert error_of(response) == (401, "unauthorized")
    assert nothing_stored()
    assert error_of(stack.call("GET", "/costs", anonymous=True)) == (401, "unauthorized")


def test_double_submit_starts_one_backfill_and_keeps_one_connection(stack):
    first = stack.connect()
    second = stack.connect()
    assert first.status == second.status == 202
    assert first.json()["id"] == second.json()["id"]
    stack.wait_settled(first.json()["id"])
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    assert len(sfn.list_executions(stateMachineArn=stack.aws.state_machine_arn)["executions"]) == 1
    assert len(stack.call("GET", "/integrations/anthropic").json()["connections"]) == 1


def test_connection_shows_status_organization_hint_and_progress(stack):
    body = stack.connect().json()
    assert body["status"] == "backfilling"
    assert body["organization"]["name"] == stack.simulator.org.name
    assert body["key_hint"].startswith("sk-ant-admin01-…") and body["key_hint"].endswith(DEMO_ADMIN_KEY[-4:])
    settled = stack.wait_settled(body["id"])
    assert settled["status"] == "active"
    assert settled["backfill"]["chunks_done"] == settled["backfill"]["chunks_total"] == backfill_months()
    assert settled["backfill"]["finished_at"] is not None


def test_other_tenants_get_404_for_a_connection_and_see_no_costs(stack):
    connection_id = stack.connect(tenant="tenant-a").json()["id"]
    for target in (f"/integrations/anthropic/{connection_id}", f"/integrations/anthropic/{connection_id}/backfill"):
        method = "GET" if target.endswith(connection_id) else "POST"
        assert error_of(stack.call(method, target, tenant="tenant-b")) == (404, "not_found")
    assert stack.call("GET", "/integrations/anthropic", tenant="tenant-b").json() == {"connections": []}
    costs = stack.call("GET", "/costs?from=2026-01-01&to=2026-01-31", tenant="tenant-b").json()
    assert costs["rows"] == [] and costs["total"]["cost_usd"] == "0"


def test_unknown_connection_id_is_404_and_a_malformed_one_400(stack):
    assert error_of(stack.call("GET", "/integrations/anthropic/conn_doesnotexist")) == (404, "not_found")
    assert error_of(stack.call("GET", "/integrations/anthropic/bad%20id%3B")) == (400, "invalid_request")


@pytest.mark.parametrize(
    "query,code",
    [
        ("from=2026-13-01&to=2026-12-31", "invalid_query"),
        ("from=2026-02-01&to=2026-01-01", "invalid_query"),
        ("from=2025-01-01&to=2026-06-01", "invalid_query"),
        ("from=01/02/2026", "invalid_query"),
        ("group_by=date,planet", "invalid_query"),
        ("group_by=date,date", "invalid_query"),
        ("group_by=,", "invalid_query"),
    ],
)
def test_costs_rejects_bad_parameters_with_a_sentence(stack, query, code):
    response = stack.call("GET", f"/costs?{query}")
    assert error_of(response) == (400, code)
    assert response.json()["error"]["message"].endswith(".")


def test_a_form_encoded_body_gets_400_without_echoing_the_key(stack):
    # curl -d sends application/x-www-form-urlencoded: the whole JSON becomes a field *name*
    response = stack.call(
        "POST",
        "/integrations/anthropic",
        '{"admin_key":"' + DEMO_ADMIN_KEY + '"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert error_of(response) == (400, "invalid_request")
    assert DEMO_ADMIN_KEY not in response.body and "sk-ant" not in response.body
    assert nothing_stored()


# ------------------------------------------------------------------ a way out of every backfill state


class LostLauncher:
    """A launcher whose execution never runs (as when Step Functions lost it): the run stays `backfilling`."""

    def start(self, **payload) -> str:
        return "arn:aws:states:us-east-1:123456789012:execution:lost:lost"


def age_backfill(connection_id: str, minutes: int) -> None:
    record = ConnectionModel.get("TENANT#local", f"CONN#{connection_id}")
    started = record.backfill_started_at - timedelta(minutes=minutes)
    record.update(actions=[ConnectionModel.backfill_started_at.set(started)])


def exact_year(stack, connection: dict) -> None:
    backfill = connection["backfill"]
    assert connection["status"] == "active" and connection["last_error"] is None, connection
    assert backfill["chunks_done"] == backfill["chunks_total"] == backfill_months()
    expected = independent_cost_totals(stack.simulator.url, backfill["from"], backfill["to"])
    assert report_totals(costs(stack, backfill["from"], backfill["to"])) == {k: v for k, v in expected.items() if v}


def test_a_lost_backfill_is_in_progress_until_the_window_passes_then_restarts_in_full(stack, monkeypatch):
    # Given a connection whose backfill execution never ran: backfilling, 0 of 0 months
    monkeypatch.setattr(wiring, "backfill_launcher", LostLauncher)
    connection_id = stack.connect().json()["id"]
    monkeypatch.undo()
    body = stack.call("GET", f"/integrations/anthropic/{connection_id}").json()
    assert (body["status"], body["backfill"]["chunks_total"]) == ("backfilling", 0)

    # Then inside the in-flight window a retry is refused as in progress (never as "nothing to retry"), and sync
    # now says what to do
    assert error_of(stack.call("POST", f"/integrations/anthropic/{connection_id}/backfill")) == (
        409,
        "backfill_in_progress",
    )
    refused = stack.call("POST", f"/integrations/anthropic/{connection_id}/sync")
    assert error_of(refused) == (409, "connection_not_active")
    assert f"POST /integrations/anthropic/{connection_id}/backfill" in refused.json()["error"]["message"]

    # When the window has passed, a retry starts the whole backfill anew
    age_backfill(connection_id, 16)
    retried = stack.call("POST", f"/integrations/anthropic/{connection_id}/backfill")
    assert retried.status == 202, retried.body

    # Then it ends active with every month and the cost report's totals exactly
    exact_year(stack, stack.wait_settled(connection_id))


def test_connecting_again_restarts_a_lost_backfill_once_the_window_has_passed(stack, monkeypatch):
    monkeypatch.setattr(wiring, "backfill_launcher", LostLauncher)
    connection_id = stack.connect().json()["id"]
    monkeypatch.undo()
    age_backfill(connection_id, 16)

    again = stack.connect()

    assert again.status == 202 and again.json()["id"] == connection_id
    exact_year(stack, stack.wait_settled(connection_id))


def test_connecting_again_after_a_failed_backfill_fetches_the_year_exactly(make_stack):
    # Given a backfill that ended in error (the newest month failed on every attempt)
    stack = make_stack(max_concurrency=1)
    stack.simulator.inject("529", times=15, path=COST_REPORT)
    connection_id = stack.connect().json()["id"]
    assert stack.wait_settled(connection_id)["status"] == "error"

    # When the same key is connected again (instead of POST …/backfill)
    assert stack.connect().status == 202

    # Then a new run fetches the year and the connection is active, exactly
    exact_year(stack, stack.wait_settled(connection_id))
