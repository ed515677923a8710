"""The backfill ASL: shape, moto's ASL parser, and one execution with stub handlers (no Docker, no network)."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = ROOT / "infra" / "statemachine" / "backfill.asl.json"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def _retriable_error_names() -> set[str]:
    """Every concrete PumpError marked retriable (bases are never raised): the chunk's Retry names exactly these."""
    from pump_anthropic.exceptions import retriable_error_names

    return set(retriable_error_names())


# A chunk Lambda that hits its own timeout (the deadline should prevent it) is retried too.
CHUNK_RETRIABLE_ERRORS = _retriable_error_names() | LAMBDA_SERVICE_ERRORS | {"Sandbox.Timedout"}
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


def _parameter_defaults() -> dict[str, str]:
    params = yaml_parse((ROOT / "template.yaml").read_text())["Parameters"]
    return {name: str(spec["Default"]) for name, spec in params.items() if "Default" in spec}


def render(**overrides: str) -> str:
    """Do what CloudFormation's DefinitionSubstitutions does: plain text replacement."""
    defaults = _parameter_defaults()
    values = {
        "BackfillPlanFunctionArn": FUNCTION_ARN.format("plan"),
        "BackfillChunkFunctionArn": FUNCTION_ARN.format("chunk"),
        "BackfillFinalizeFunctionArn": FUNCTION_ARN.format("finalize"),
        "BackfillMaxConcurrency": defaults["BackfillMaxConcurrency"],
        "ChunkRetryIntervalSeconds": defaults["ChunkRetryIntervalSeconds"],
        "ChunkRetryMaxAttempts": defaults["ChunkRetryMaxAttempts"],
        **overrides,
    }
    text = PLACEHOLDER.sub(lambda m: values[m.group(1)], ASL_PATH.read_text())
    assert "${" not in text
    return text


@pytest.fixture(scope="module")
def definition() -> dict:
    return json.loads(render())


@pytest.fixture
def sfn(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws(config=MOTO_CONFIG):
        yield boto3.client("stepfunctions")


@pytest.fixture
def role_arn(sfn) -> str:
    return boto3.client("iam").create_role(RoleName="backfill-sm", AssumeRolePolicyDocument="{}")["Role"]["Arn"]


def _chunk_state(definition: dict) -> dict:
    return definition["States"]["Chunks"]["ItemProcessor"]["States"]["Chunk"]


def _walk_transitions(states: dict, start_at: str):
    yield start_at
    for state in states.values():
        if "Next" in state:
            yield state["Next"]
        yield from (catcher["Next"] for catcher in state.get("Catch", []))


# ---------------------------------------------------------------- raw file


def test_raw_file_is_a_template_that_only_parses_after_substitution():
    # Given the file as committed (unquoted numeric placeholders)
    raw = ASL_PATH.read_text()

    # Then it is not JSON yet, and the rendered text is
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    assert json.loads(render())["StartAt"] == "Plan"


# ---------------------------------------------------------------- shape


def test_definition_runs_plan_then_map_then_finalize(definition):
    # Then
    states = definition["States"]
    assert definition["StartAt"] == "Plan"
    assert states["Plan"]["Next"] == "Chunks"
    assert states["Chunks"]["Next"] == "Finalize"
    assert states["Finalize"]["End"] is True
    for name in ("Plan", "Finalize"):
        assert states[name]["Resource"] == "arn:aws:states:::lambda:invoke"
        assert states[name]["OutputPath"] == "$.Payload"
    assert states["Plan"]["Parameters"] == {"FunctionName": FUNCTION_ARN.format("plan"), "Payload.$": "$"}


def test_every_transition_targets_a_state_in_scope(definition):
    # moto's parser accepts a dangling Next, so check it here.
    inner = definition["States"]["Chunks"]["ItemProcessor"]
    for scope in (definition, inner):
        assert set(_walk_transitions(scope["States"], scope["StartAt"])) <= set(scope["States"])


def test_map_fans_out_over_chunks_with_bounded_concurrency(definition):
    # Then
    chunks = definition["States"]["Chunks"]
    assert chunks["Type"] == "Map"
    assert chunks["ItemsPath"] == "$.chunks"
    assert chunks["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert chunks["MaxConcurrency"] == int(_parameter_defaults()["BackfillMaxConcurrency"])
    assert chunks["ResultPath"] == "$.results"


def test_chunk_retries_retriable_errors_with_jittered_backoff(definition):
    # Then
    chunk = _chunk_state(definition)
    defaults = _parameter_defaults()
    assert chunk["Parameters"] == {"FunctionName": FUNCTION_ARN.format("chunk"), "Payload.$": "$"}
    (retrier,) = chunk["Retry"]
    assert set(retrier["ErrorEquals"]) == CHUNK_RETRIABLE_ERRORS
    assert retrier["IntervalSeconds"] == int(defaults["ChunkRetryIntervalSeconds"])
    assert retrier["MaxAttempts"] == int(defaults["ChunkRetryMaxAttempts"])
    assert retrier["BackoffRate"] == 2
    assert retrier["JitterStrategy"] == "FULL"


def test_chunk_failure_is_caught_and_shaped_as_a_failed_result(definition):
    # Then: the caught error lands beside the item input, so the Pass state still sees start/end
    chunk = _chunk_state(definition)
    assert chunk["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ChunkFailed"}]
    failed = definition["States"]["Chunks"]["ItemProcessor"]["States"]["ChunkFailed"]
    assert failed["Type"] == "Pass"
    assert failed["End"] is True
    assert failed["Parameters"] == {
        "start.$": "$.start",
        "end.$": "$.end",
        "status": "failed",
        "error.$": "$.error.Error",
        "cause.$": "$.error.Cause",
    }


def test_finalize_gets_ids_and_results_and_retries_lambda_errors(definition):
    # Then
    finalize = definition["States"]["Finalize"]
    assert finalize["Parameters"]["FunctionName"] == FUNCTION_ARN.format("finalize")
    assert finalize["Parameters"]["Payload"] == {
        "tenant_id.$": "$.tenant_id",
        "connection_id.$": "$.connection_id",
        "run.$": "$.run",
        "results.$": "$.results",
    }
    for state in (finalize, definition["States"]["Plan"]):
        (retrier,) = state["Retry"]
        assert set(retrier["ErrorEquals"]) == LAMBDA_SERVICE_ERRORS
        assert retrier["BackoffRate"] == 2


# ---------------------------------------------------------------- moto's ASL parser


def test_moto_accepts_the_rendered_definition(sfn, role_arn):
    # When
    created = sfn.create_state_machine(name="backfill", definition=render(), roleArn=role_arn)

    # Then
    assert created["stateMachineArn"].endswith(":backfill")


@pytest.mark.parametrize("placeholder", ["BackfillMaxConcurrency", "ChunkRetryMaxAttempts"])
def test_moto_rejects_a_quoted_numeric_placeholder(sfn, role_arn, placeholder):
    # Given the alternative we rejected: "${X}" in quotes renders a string where ASL wants an integer
    quoted = ASL_PATH.read_text().replace(f"${{{placeholder}}}", f'"${{{placeholder}}}"')
    defaults = _parameter_defaults()
    text = PLACEHOLDER.sub(lambda m: defaults.get(m.group(1), FUNCTION_ARN.format("x")), quoted)

    # When / Then
    with pytest.raises(ClientError, match="ASLParserException"):
        sfn.create_state_machine(name="quoted", definition=text, roleArn=role_arn)


# ---------------------------------------------------------------- one execution


class _ChunkError(Exception):
    """Stands in for the connector's exceptions: the ASL matches on the class name only."""


def _error(name: str) -> type[Exception]:
    return type(name, (_ChunkError,), {})


class _StubHandlers:
    """Plan three windows; window 2 fails for good, window 3 is rate limited once."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.finalize_input: dict | None = None
        self._lock = threading.Lock()

    def plan(self, event: dict) -> dict:
        days = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
        ids = {"tenant_id": event["tenant_id"], "connection_id": event["connection_id"], "run": event["run"]}
        return {**event, "chunks": [{**ids, "start": s, "end": e} for s, e in zip(days, days[1:], strict=False)]}

    def chunk(self, event: dict) -> dict:
        with self._lock:
            self.calls[event["start"]] += 1
            attempt = self.calls[event["start"]]
        if event["start"] == "2025-01-02":
            raise _error("AdminApiAuthError")("key revoked")
        if event["start"] == "2025-01-03" and attempt == 1:
            raise _error("AdminApiRateLimitedError")("429")
        return {"start": event["start"], "end": event["end"], "status": "done", "items_written": 2}

    def finalize(self, event: dict) -> dict:
        self.finalize_input = event
        return {"status": "partial"}

    def invoke(self, _backend, function_name, qualifier, body, headers, response_headers) -> bytes:
        handler = getattr(self, function_name.split(":function:")[-1].split(":")[0])
        try:
            return json.dumps(handler(json.loads(body or "{}"))).encode()
        except _ChunkError as exc:  # Lambda's "Unhandled" contract: errorType becomes the ASL error name
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()


def _create_function(name: str, role_arn: str) -> str:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "")
    return boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]


def test_execution_retries_then_records_failed_chunks_and_finalizes(sfn, role_arn, monkeypatch):
    # Given stub handlers behind moto's Lambda and a 1 s retry interval (IntervalSeconds is a real sleep)
    stubs = _StubHandlers()
    monkeypatch.setattr(LambdaSimpleBackend, "invoke", lambda self, *args: stubs.invoke(self, *args))
    arns = {name: _create_function(name, role_arn) for name in ("plan", "chunk", "finalize")}
    text = render(
        BackfillPlanFunctionArn=arns["plan"],
        BackfillChunkFunctionArn=arns["chunk"],
        BackfillFinalizeFunctionArn=arns["finalize"],
        ChunkRetryIntervalSeconds="1",
    )
    machine = sfn.create_state_machine(name="backfill", definition=text, roleArn=role_arn)["stateMachineArn"]

    # When
    execution = sfn.start_execution(
        stateMachineArn=machine, input=json.dumps({"tenant_id": "t1", "connection_id": "c1", "run": 1, "mode": "full"})
    )["executionArn"]
    deadline = time.monotonic() + 20
    while (status := sfn.describe_execution(executionArn=execution)["status"]) == "RUNNING":
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.05)

    # Then
    assert status == "SUCCEEDED"
    assert stubs.calls == {"2025-01-01": 1, "2025-01-02": 1, "2025-01-03": 2}
    assert stubs.finalize_input is not None
    assert stubs.finalize_input["tenant_id"] == "t1"
    assert stubs.finalize_input["connection_id"] == "c1"
    assert stubs.finalize_input["run"] == 1
    done, failed, retried = stubs.finalize_input["results"]
    assert done == {"start": "2025-01-01", "end": "2025-01-02", "status": "done", "items_written": 2}
    assert retried["status"] == "done"
    assert failed["start"] == "2025-01-02"
    assert failed["end"] == "2025-01-03"
    assert failed["status"] == "failed"
    assert failed["error"] == "AdminApiAuthError"
    assert "key revoked" in failed["cause"]
