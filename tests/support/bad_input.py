"""What the bad-input property tests share: the response invariants, an AWS call recorder, the stored state, and
the per-endpoint case counter (reported in the terminal summary and in test-artifacts/bad-input-cases.json)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import boto3
import botocore.client
import pytest

from pump_anthropic.dal import table
from pump_local.embedded_aws import REGION, LocalAws
from pump_local.http_api import LocalResponse

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "test-artifacts" / "bad-input-cases.json"

ROUTES = (
    ("POST", re.compile(r"/integrations/anthropic"), "POST /integrations/anthropic"),
    ("GET", re.compile(r"/integrations/anthropic"), "GET /integrations/anthropic"),
    ("GET", re.compile(r"/integrations/anthropic/[^/]+"), "GET /integrations/anthropic/{id}"),
    ("DELETE", re.compile(r"/integrations/anthropic/[^/]+"), "DELETE /integrations/anthropic/{id}"),
    ("POST", re.compile(r"/integrations/anthropic/[^/]+/sync"), "POST /integrations/anthropic/{id}/sync"),
    ("POST", re.compile(r"/integrations/anthropic/[^/]+/backfill"), "POST /integrations/anthropic/{id}/backfill"),
    ("GET", re.compile(r"/costs"), "GET /costs"),
    ("GET", re.compile(r"/costs/export"), "GET /costs/export"),
    ("GET", re.compile(r"/costs/rates"), "GET /costs/rates"),
    ("GET", re.compile(r"/costs/savings"), "GET /costs/savings"),
    ("GET", re.compile(r"/costs/reconciliation"), "GET /costs/reconciliation"),
    ("GET", re.compile(r"/openapi\.json"), "GET /openapi.json"),
)
ODD_METHODS = "other methods on the routes above"
UNKNOWN_ROUTES = "unknown routes"

# A stack trace, or a Python exception's qualified class name, in a response body.
STACK_TRACE = re.compile(
    r"Traceback|File \"|\bline \d+, in\b|<class '|"
    r"\b[a-z_][a-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+\.[A-Z][A-Za-z0-9]*(?:Error|Exception|Warning)\b|"
    r"\b(?:pydantic_core|aws_lambda_powertools|botocore|pynamodb)\b"
)
# Anything that looks like an Anthropic key (the hint `sk-ant-admin01-…abcd` does not: it holds an ellipsis).
KEY_SHAPED = re.compile(r"sk-ant-[A-Za-z]+[0-9]*-[A-Za-z0-9_-]{12,}")
ERROR_CODE = re.compile(r"[a-z][a-z0-9_]*")
# AWS operations that only read; anything else during a generated request counts as storing something.
READ_ONLY = ("Get", "List", "Describe", "Query", "Scan", "BatchGet")


def endpoint_of(method: str, path: str) -> str:
    """The endpoint a request was aimed at, for the per-endpoint case counts."""
    templates = [(m, label) for m, pattern, label in ROUTES if pattern.fullmatch(path)]
    for route_method, label in templates:
        if method.upper() == route_method:
            return label
    return ODD_METHODS if templates else UNKNOWN_ROUTES


def check_response(response: LocalResponse, secrets: Iterable[str] = ()) -> None:
    """The invariants every response keeps, whatever was sent."""
    body = response.body
    assert response.status < 500, f"{response.status}: {body[:300]}"
    assert not STACK_TRACE.search(body), f"stack trace or exception path in a body: {body[:300]}"
    assert not KEY_SHAPED.search(body), f"a key-shaped string in a body: {body[:300]}"
    for secret in secrets:
        value = secret.strip()
        if len(value) < 12:
            continue
        windows = {value[:24], value[-24:]}
        if len(value) <= len(body):  # (a longer value cannot be in the body; quoting a 1 MB key takes a while)
            windows |= {value, quote(value, safe="")}
        assert not any(w in body for w in windows if len(w) >= 12), f"submitted key echoed: {body[:300]}"
    if response.status >= 400:
        check_error(response)


def check_error(response: LocalResponse) -> dict:
    """Every error body is exactly {"error": {"code": str, "message": str}}, served as JSON."""
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", "")
    assert content_type.startswith("application/json"), content_type
    document = json.loads(response.body)
    assert isinstance(document, dict) and set(document) == {"error"}, response.body[:300]
    error = document["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, response.body[:300]
    assert isinstance(error["code"], str) and ERROR_CODE.fullmatch(error["code"]), error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    return error


def error_code(response: LocalResponse) -> str | None:
    return json.loads(response.body)["error"]["code"] if response.status >= 400 else None


# The request-quota table is named after the main table with this suffix (see dal.table.bind).
QUOTA_TABLE_SUFFIX = "-quotas"


class AwsCallRecorder:
    """Records the AWS operations (boto3 and PynamoDB both go through botocore) made on this thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = botocore.client.BaseClient._make_api_call
        local = self._local

        def recording(client, operation_name, api_params):
            calls = getattr(local, "calls", None)
            if calls is not None:
                counter = str(api_params.get("TableName", "")).endswith(QUOTA_TABLE_SUFFIX)
                calls.append(f"{operation_name}{QUOTA_TABLE_SUFFIX}" if counter else operation_name)
            return original(client, operation_name, api_params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)

    @contextmanager
    def recording(self) -> Iterator[list[str]]:
        self._local.calls = calls = []
        try:
            yield calls
        finally:
            self._local.calls = None


def writes(calls: Iterable[str]) -> list[str]:
    """Write calls that could store something. A per-tenant quota counter is not stored data (it counts a request
    before Anthropic is asked, and expires within minutes), so its writes don't count."""
    return [c for c in calls if not c.startswith(READ_ONLY) and not c.endswith(QUOTA_TABLE_SUFFIX)]


def wait_for_executions(aws: LocalAws, timeout: float = 60.0) -> None:
    """Until no backfill execution is running."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    deadline = time.monotonic() + timeout
    while any(
        e["status"] == "RUNNING" for e in sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    ):
        assert time.monotonic() < deadline, "the backfill execution did not end"
        time.sleep(0.1)


def stored_state(aws: LocalAws) -> tuple:
    """Everything a request could have stored: table items, secrets, backfill executions, queued syncs."""
    items = sorted(json.dumps(item, sort_keys=True, default=str) for item in table.raw_items())
    secrets = sorted(
        json.dumps(s, sort_keys=True, default=str)
        for s in boto3.client("secretsmanager", region_name=REGION).list_secrets(IncludePlannedDeletion=True)[
            "SecretList"
        ]
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    executions = sorted(
        (e["name"], e["status"]) for e in sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    )
    queued = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=aws.sync_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return items, secrets, executions, sorted(queued.items())


class CaseReport:
    """Counts generated requests per endpoint; a pytest plugin that prints them in the terminal summary."""

    name = "pump-bad-input-cases"

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self.seconds = 0.0

    def add(self, method: str, path: str) -> None:
        self.counts[endpoint_of(method, path)] += 1

    def finish(self) -> dict:
        self.seconds = time.monotonic() - self.started
        labels = [label for _, _, label in ROUTES] + [
            ODD_METHODS,
            UNKNOWN_ROUTES,
            "raw events (claims, base64)",
            "local HTTP server (raw requests)",
        ]
        report = {
            "cases_per_endpoint": {label: self.counts.get(label, 0) for label in labels},
            "total_cases": sum(self.counts.values()),
            "seconds": round(self.seconds, 1),
        }
        ARTIFACT.parent.mkdir(exist_ok=True)
        ARTIFACT.write_text(json.dumps(report, indent=2) + "\n")
        return report

    def lines(self) -> list[str]:
        width = max(len(label) for label in self.counts) if self.counts else 10
        rows = [f"{label:<{width}}  {n:>6}" for label, n in sorted(self.counts.items())]
        total = sum(self.counts.values())
        return [*rows, f"{'total':<{width}}  {total:>6}  ({self.seconds:.1f} s; {ARTIFACT.relative_to(ROOT)})"]

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.counts:
            terminalreporter.write_sep("-", "bad-input property cases per endpoint")
            for line in self.lines():
                terminalreporter.write_line(line)
