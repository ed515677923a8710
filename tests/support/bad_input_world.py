"""The world the bad-input property tests run against: one local stack where tenant A has connected a tiny
simulated org and backfilled it, the generated-request driver that checks every response against the invariants of
`tests.support.bad_input`, and the Hypothesis settings every property uses."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, settings

from anthropic_simulator import DEMO_ADMIN_KEY, OrgSpec
from pump_local.embedded_aws import FakeLambdaContext, LocalAws
from pump_local.http_api import LocalApi, LocalResponse
from tests.support.bad_input import AwsCallRecorder, CaseReport, check_response, error_code, writes

BAD_INPUT_MARKS = [
    pytest.mark.network,
    # Powertools warns about multipart bodies that are not base64-encoded; LocalApi never encodes bodies.
    pytest.mark.filterwarnings("ignore:Received multipart/form-data without base64 encoding:UserWarning"),
]

TENANT_A = "tenant-a"
TINY_ORG = OrgSpec(seed=29, days=2, workspaces=1, api_keys=1, models=1, users=1)
FIXED_NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
SCALE = float(os.environ.get("PUMP_BAD_INPUT_SCALE", "1"))


def examples(n: int) -> settings:
    # Derandomized by default so CI is repeatable (same cases every run); PUMP_BAD_INPUT_RANDOM=1 explores anew.
    return settings(
        max_examples=max(1, round(n * SCALE)),
        derandomize=os.environ.get("PUMP_BAD_INPUT_RANDOM") != "1",
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@dataclass(repr=False)
class World:
    api: LocalApi
    aws: LocalAws
    connection_id: str
    today: date
    recorder: AwsCallRecorder
    report: CaseReport
    baseline: tuple
    openapi: str
    handlers: dict[str, Callable]
    last_calls: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"World(tenant A's connection {self.connection_id})"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # keeps Hypothesis' falsifying examples readable
        printer.text(repr(self))

    def send(
        self,
        method: str,
        path: str,
        *,
        query: str | None = None,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        tenant: str = "tenant-b",
        anonymous: bool = False,
        secrets: tuple[str, ...] = (),
    ) -> LocalResponse:
        """One generated request through LocalApi, checked against the invariants."""
        assert anonymous or tenant != TENANT_A, "generated requests never act as tenant A"
        target = path if query is None else f"{path}?{query}"
        with self.recorder.recording() as calls:
            response = self.api.request(method, target, body=body, headers=headers, tenant=tenant, anonymous=anonymous)
        self.last_calls = calls
        self.report.add(method, path)
        if currently_in_test_context():  # outcome mix, shown by --hypothesis-show-statistics
            event(f"{response.status} {error_code(response) or ''}".strip())
        check_response(response, secrets)
        assert not writes(calls), f"{method} {path} made AWS write calls: {writes(calls)}"
        if anonymous or not valid_tenant(tenant):
            assert not calls, f"{method} {path} without valid claims reached AWS: {calls}"
        return response

    def send_event(self, event: dict) -> tuple[LocalResponse, list[str]]:
        """One raw API Gateway v2 event straight to the function the template routes it to."""
        path = event["rawPath"]
        handler = self.handlers["connect" if path.startswith("/integrations/") else "costs"]
        with self.recorder.recording() as calls:
            result = handler(event, FakeLambdaContext("bad-input"))
        self.report.counts["raw events (claims, base64)"] += 1
        response = LocalResponse(int(result["statusCode"]), dict(result.get("headers") or {}), result.get("body") or "")
        check_response(response)
        assert not writes(calls), f"{path} made AWS write calls: {writes(calls)}"
        return response, calls


def valid_tenant(tenant: str) -> bool:
    # LocalApi sends the default tenant for an empty one; the handlers refuse blank and oversized claims, and claims
    # holding `#`, the separator of the table's keys.
    return tenant == "" or (bool(tenant.strip()) and len(tenant) <= 256 and "#" not in tenant)


def connect_tenant_a(api: LocalApi, timeout: float = 120.0) -> str:
    response = api.request(
        "POST", "/integrations/anthropic", body=json.dumps({"admin_key": DEMO_ADMIN_KEY}), tenant=TENANT_A
    )
    assert response.status == 202, response.body
    connection_id = response.json()["id"]
    deadline = time.monotonic() + timeout
    while (
        status := api.request("GET", f"/integrations/anthropic/{connection_id}", tenant=TENANT_A).json()["status"]
    ) == ("backfilling"):
        assert time.monotonic() < deadline, "tenant A's backfill did not settle"
        time.sleep(0.2)
    assert status == "active"
    return connection_id
