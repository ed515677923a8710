"""The backfill launcher: one execution name per claimed run; "already exists" is success only for that run."""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from pump_anthropic.adapters.backfill_launcher import BackfillLauncher, execution_name
from pump_anthropic.exceptions import BackfillStartError

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pump-backfill"
CONNECTION = "conn_0123456789abcdef0123"


class StepFunctions:
    """start_execution as Step Functions answers it: a name is taken once, for good."""

    def __init__(self) -> None:
        self.executions: dict[str, dict] = {}

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict:  # noqa: A002, N803
        if name in self.executions:
            error = {"Error": {"Code": "ExecutionAlreadyExists", "Message": f"Execution Already Exists: '{name}'"}}
            raise ClientError(error, "StartExecution")
        self.executions[name] = json.loads(input)
        return {"executionArn": f"{stateMachineArn.replace(':stateMachine:', ':execution:')}:{name}"}


def start(launcher: BackfillLauncher, run: int, run_id: str | None) -> str:
    return launcher.start(tenant_id="t1", connection_id=CONNECTION, run=run, run_id=run_id, mode="full")


def test_a_retried_start_of_the_same_claim_is_the_same_execution():
    sfn = StepFunctions()
    launcher = BackfillLauncher(sfn, MACHINE)
    first = start(launcher, 1, "a1b2c3d4e5f6")
    again = start(launcher, 1, "a1b2c3d4e5f6")
    assert first == again and len(sfn.executions) == 1
    assert sfn.executions[execution_name(CONNECTION, 1, "a1b2c3d4e5f6")]["run_id"] == "a1b2c3d4e5f6"


def test_a_new_claim_with_the_same_run_number_starts_a_new_execution():
    # Purge deletes the connection item, so the reconnected connection's run number can repeat; its run id does not
    sfn = StepFunctions()
    launcher = BackfillLauncher(sfn, MACHINE)
    start(launcher, 1, "a1b2c3d4e5f6")
    start(launcher, 1, "0f0f0f0f0f0f")
    assert len(sfn.executions) == 2


def test_without_a_run_id_an_existing_execution_is_a_failure_to_start():
    sfn = StepFunctions()
    launcher = BackfillLauncher(sfn, MACHINE)
    start(launcher, 1, None)
    with pytest.raises(BackfillStartError) as failed:
        start(launcher, 1, None)
    assert failed.value.code == "backfill_not_started" and "arn:" not in failed.value.message


@pytest.mark.parametrize("connection_id", [CONNECTION, "conn_" + "x" * 120, "conn with spaces/and:colons"])
def test_execution_names_fit_step_functions_rules_and_keep_the_run_id(connection_id):
    name = execution_name(connection_id, 1_767_225_600_123, "a1b2c3d4e5f6")
    assert len(name) <= 80 and re.fullmatch(r"[A-Za-z0-9_-]+", name) and name.endswith("-a1b2c3d4e5f6")
