"""Step Functions: starts the backfill state machine with ids only (never the key)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pump_anthropic.adapters.aws_errors import aws_code
from pump_anthropic.exceptions import BackfillStartError

# Step Functions allows 80 characters in an execution name; ours keep to letters, digits, '-' and '_'.
MAX_EXECUTION_NAME = 80
_NOT_NAME_CHARACTER = re.compile(r"[^A-Za-z0-9_-]")


def execution_name(connection_id: str, run: int, run_id: str | None) -> str:
    """The one execution name of a claimed run: `{connection_id}-run-{run}-{run_id}`.

    The run id is new for every claim, so two claims never share a name (not even after a purge, when the
    connection's item and its run count are gone), while a retried start of the same claim reuses it.
    """
    suffix = f"-{_NOT_NAME_CHARACTER.sub('-', run_id)}" if run_id else ""
    base = _NOT_NAME_CHARACTER.sub("-", f"{connection_id}-run-{run}")
    return base[: MAX_EXECUTION_NAME - len(suffix)] + suffix


@dataclass(frozen=True)
class BackfillLauncher:
    """Starts the backfill state machine with ids only (never the key)."""

    client: Any
    state_machine_arn: str

    def start(self, *, tenant_id: str, connection_id: str, run: int, mode: str, run_id: str | None = None) -> str:
        payload = {"tenant_id": tenant_id, "connection_id": connection_id, "run": run, "mode": mode}
        if run_id:
            payload["run_id"] = run_id
        name = execution_name(connection_id, run, run_id)
        try:
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except ClientError as exc:
            if aws_code(exc) == "ExecutionAlreadyExists" and run_id:
                # The name holds this claim's run id: the execution that exists is this very run, started by an
                # earlier attempt of this call, never another run's. (Without a run id it could be another run's:
                # that is a failure to start, not a success.)
                return self.execution_arn(name)
            raise BackfillStartError(f"Could not start the backfill ({aws_code(exc)}); please try again.") from None
        except BotoCoreError as exc:
            raise BackfillStartError(f"Could not start the backfill ({aws_code(exc)}); please try again.") from None
        return response["executionArn"]

    def execution_arn(self, name: str) -> str:
        """arn:…:stateMachine:{machine} → arn:…:execution:{machine}:{name}."""
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
