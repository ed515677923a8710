"""Step Functions: starts the backfill state machine with ids only (never the key)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pump_anthropic.adapters.aws_errors import aws_code
from pump_anthropic.exceptions import BackfillStartError


@dataclass(frozen=True)
class BackfillLauncher:
    """Starts the backfill state machine with ids only (never the key)."""

    client: Any
    state_machine_arn: str

    def start(self, *, tenant_id: str, connection_id: str, run: int, mode: str) -> str:
        payload = {"tenant_id": tenant_id, "connection_id": connection_id, "run": run, "mode": mode}
        # One execution name per run makes a retried start idempotent.
        name = f"{connection_id}-run-{run}"
        try:
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except ClientError as exc:
            if aws_code(exc) == "ExecutionAlreadyExists":
                return name
            raise BackfillStartError(f"Could not start the backfill ({aws_code(exc)}); please try again.") from None
        except BotoCoreError as exc:
            raise BackfillStartError(f"Could not start the backfill ({aws_code(exc)}); please try again.") from None
        return response["executionArn"]
