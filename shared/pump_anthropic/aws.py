"""Thin adapters over Secrets Manager and Step Functions. The domain sees these, never boto3 directly."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from pump_anthropic.exceptions import PumpError

SECRET_CACHE_SECONDS = 60
THROTTLING_CODES = {
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "InternalServiceError",
    "ServiceUnavailableException",
    "InternalFailure",
}


class SecretStoreUnavailableError(PumpError):
    """Secrets Manager is throttling or unreachable: retry later; nothing was changed half-way."""

    code = "secret_store_unavailable"
    http_status = 503
    retriable = True


class SecretNotFoundError(PumpError):
    code = "secret_not_found"
    http_status = 409


class BackfillStartError(PumpError):
    code = "backfill_not_started"
    http_status = 503


def _aws_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "Unknown")
    return type(exc).__name__


class SecretStore:
    """One secret per connection, encrypted with the stack's KMS key; reads cached briefly per container."""

    def __init__(self, client: Any, *, prefix: str, kms_key_id: str | None = None) -> None:
        self._client = client
        self._prefix = prefix
        self._kms_key_id = kms_key_id
        self._cache: dict[str, tuple[float, SecretStr]] = {}
        self._lock = threading.Lock()

    def secret_name(self, connection_id: str) -> str:
        return f"{self._prefix}{connection_id}"

    def put(self, connection_id: str, key: SecretStr, *, tags: dict[str, str]) -> str:
        """Store (or replace) the connection's key; returns the secret's name."""
        name = self.secret_name(connection_id)
        try:
            self._put(name, key, tags)
        except (ClientError, BotoCoreError) as exc:
            raise SecretStoreUnavailableError(
                f"Could not store the key securely ({_aws_code(exc)}); nothing was saved. Please try again."
            ) from None
        with self._lock:
            self._cache.pop(name, None)
        return name

    def _put(self, name: str, key: SecretStr, tags: dict[str, str]) -> None:
        create_args: dict[str, Any] = {
            "Name": name,
            "SecretString": key.get_secret_value(),
            "Description": "Anthropic Admin API key of one Pump connection (read-only use).",
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
        if self._kms_key_id:
            create_args["KmsKeyId"] = self._kms_key_id
        try:
            self._client.create_secret(**create_args)
            return
        except ClientError as exc:
            code = _aws_code(exc)
            if code == "InvalidRequestException":  # scheduled for deletion after a disconnect: bring it back
                self._client.restore_secret(SecretId=name)
            elif code != "ResourceExistsException":
                raise
        self._client.put_secret_value(SecretId=name, SecretString=key.get_secret_value())

    def get(self, name: str) -> SecretStr:
        with self._lock:
            cached = self._cache.get(name)
            if cached and cached[0] > time.monotonic():
                return cached[1]
        try:
            value = SecretStr(self._client.get_secret_value(SecretId=name)["SecretString"])
        except ClientError as exc:
            if _aws_code(exc) == "ResourceNotFoundException":
                raise SecretNotFoundError("The connection's key is no longer stored; reconnect it.") from None
            raise SecretStoreUnavailableError(
                f"Could not read the connection's key ({_aws_code(exc)}); will retry."
            ) from None
        except BotoCoreError as exc:
            raise SecretStoreUnavailableError(
                f"Could not read the connection's key ({_aws_code(exc)}); will retry."
            ) from None
        with self._lock:
            self._cache[name] = (time.monotonic() + SECRET_CACHE_SECONDS, value)
        return value

    def delete(self, name: str, *, recovery_days: int = 7) -> None:
        try:
            self._client.delete_secret(SecretId=name, RecoveryWindowInDays=recovery_days)
        except ClientError as exc:
            if _aws_code(exc) not in {"ResourceNotFoundException", "InvalidRequestException"}:
                raise SecretStoreUnavailableError(
                    f"Could not delete the stored key ({_aws_code(exc)}); please try again."
                ) from None
        with self._lock:
            self._cache.pop(name, None)


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
            if _aws_code(exc) == "ExecutionAlreadyExists":
                return name
            raise BackfillStartError(f"Could not start the backfill ({_aws_code(exc)}); please try again.") from None
        except BotoCoreError as exc:
            raise BackfillStartError(f"Could not start the backfill ({_aws_code(exc)}); please try again.") from None
        return response["executionArn"]


class SyncQueueUnavailableError(PumpError):
    code = "sync_queue_unavailable"
    http_status = 503


@dataclass(frozen=True)
class SyncQueue:
    """The SQS queue that fans syncs out to the sync function (one message per connection)."""

    client: Any
    queue_url: str

    def send(self, messages: list[dict]) -> None:
        for offset in range(0, len(messages), 10):
            batch = messages[offset : offset + 10]
            entries = [{"Id": str(i), "MessageBody": json.dumps(m)} for i, m in enumerate(batch)]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                raise SyncQueueUnavailableError(f"Could not queue the sync ({_aws_code(exc)}).") from None
            if response.get("Failed"):
                raise SyncQueueUnavailableError(f"{len(response['Failed'])} sync messages were not queued.")
