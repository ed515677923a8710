"""Secrets Manager: one secret per connection holding its Admin key, encrypted with the stack's KMS key."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from pump_anthropic.adapters.aws_errors import aws_code
from pump_anthropic.exceptions import SecretNotFoundError, SecretStoreUnavailableError

SECRET_CACHE_SECONDS = 60
RECREATE_ATTEMPTS = 4
RECREATE_BACKOFF_SECONDS = 0.5


class SecretStore:
    """One secret per connection, encrypted with the stack's KMS key; reads cached briefly per container."""

    def __init__(
        self, client: Any, *, prefix: str, kms_key_id: str | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._client = client
        self._sleep = sleep
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
                f"Could not store the key securely ({aws_code(exc)}); nothing was saved. Please try again."
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
        for attempt in range(RECREATE_ATTEMPTS):
            try:
                self._client.create_secret(**create_args)
                return
            except ClientError as exc:
                code = aws_code(exc)
                if code == "ResourceExistsException":
                    break
                # A secret of this name is scheduled for deletion (a disconnect with a recovery window) or its
                # deletion is still finishing (a disconnect without one): bring it back, or wait for it to go.
                if code != "InvalidRequestException":
                    raise
                if self._restore(name):
                    break
                self._sleep(RECREATE_BACKOFF_SECONDS * 2**attempt)
        else:
            raise SecretStoreUnavailableError(
                "The previous key of this connection is still being deleted; nothing was saved. Try again in a minute."
            )
        self._client.put_secret_value(SecretId=name, SecretString=key.get_secret_value())

    def _restore(self, name: str) -> bool:
        """True when a secret of this name exists again (restored, or never deleted); False when it is gone."""
        try:
            self._client.restore_secret(SecretId=name)
        except ClientError as exc:
            code = aws_code(exc)
            if code == "ResourceNotFoundException":
                return False
            if code != "InvalidRequestException":  # not scheduled for deletion: it exists as it is
                raise
        return True

    def get(self, name: str) -> SecretStr:
        with self._lock:
            cached = self._cache.get(name)
            if cached and cached[0] > time.monotonic():
                return cached[1]
        try:
            value = SecretStr(self._client.get_secret_value(SecretId=name)["SecretString"])
        except ClientError as exc:
            if aws_code(exc) == "ResourceNotFoundException":
                raise SecretNotFoundError("The connection's key is no longer stored; reconnect it.") from None
            raise SecretStoreUnavailableError(
                f"Could not read the connection's key ({aws_code(exc)}); will retry."
            ) from None
        except BotoCoreError as exc:
            raise SecretStoreUnavailableError(
                f"Could not read the connection's key ({aws_code(exc)}); will retry."
            ) from None
        with self._lock:
            self._cache[name] = (time.monotonic() + SECRET_CACHE_SECONDS, value)
        return value

    def delete(self, name: str, *, recovery_days: int | None = 7) -> None:
        """Delete the secret: after `recovery_days` (7–30), or at once with None (no copy kept to recover)."""
        window = (
            {"ForceDeleteWithoutRecovery": True} if recovery_days is None else {"RecoveryWindowInDays": recovery_days}
        )
        try:
            self._client.delete_secret(SecretId=name, **window)
        except ClientError as exc:
            if aws_code(exc) not in {"ResourceNotFoundException", "InvalidRequestException"}:
                raise SecretStoreUnavailableError(
                    f"Could not delete the stored key ({aws_code(exc)}); please try again."
                ) from None
        with self._lock:
            self._cache.pop(name, None)
