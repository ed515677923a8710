"""Disconnect → reconnect: the stored key comes back whatever state its predecessor's deletion is in."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from pump_anthropic.adapters.secret_store import SecretStore
from pump_anthropic.exceptions import SecretStoreUnavailableError

KEY = "sk-ant-admin01-" + "r" * 93 + "AA"


def error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "..."}}, "op")


class ScriptedSecrets:
    """Secrets Manager answering create/restore from scripts of error codes (None = success)."""

    def __init__(self, create: list[str | None], restore: list[str | None] = ()) -> None:
        self.create, self.restore = list(create), list(restore)
        self.calls: list[str] = []
        self.value: str | None = None

    def _next(self, script: list[str | None], call: str) -> None:
        self.calls.append(call)
        code = script.pop(0) if script else None
        if code:
            raise error(code)

    def create_secret(self, **kwargs):
        self._next(self.create, "create")
        self.value = kwargs["SecretString"]

    def restore_secret(self, **kwargs):
        self._next(self.restore, "restore")

    def put_secret_value(self, **kwargs):
        self.calls.append("put")
        self.value = kwargs["SecretString"]

    def delete_secret(self, **kwargs):
        self.calls.append(f"delete {sorted(kwargs.items())}")


@pytest.mark.parametrize(
    "create,restore,expected_calls",
    [
        ([None], [], ["create"]),  # first connect
        (["ResourceExistsException"], [], ["create", "put"]),  # reconnect of a live connection
        (["InvalidRequestException"], [None], ["create", "restore", "put"]),  # within its recovery window
        # a deletion without recovery still finishing: the name is taken, then free
        (["InvalidRequestException", None], ["ResourceNotFoundException"], ["create", "restore", "create"]),
        # restore says it is not scheduled for deletion (a race with another reconnect): it exists, update it
        (["InvalidRequestException"], ["InvalidRequestException"], ["create", "restore", "put"]),
    ],
)
def test_reconnect_stores_the_key_whatever_the_previous_deletion_left(create, restore, expected_calls):
    client = ScriptedSecrets(create, restore)
    store = SecretStore(client, prefix="pump/stack/", sleep=lambda s: None)
    assert store.put("conn_1", SecretStr(KEY), tags={}) == "pump/stack/conn_1"
    assert client.calls == expected_calls and client.value == KEY


def test_a_deletion_that_never_finishes_is_a_clear_retryable_error():
    client = ScriptedSecrets(["InvalidRequestException"] * 10, ["ResourceNotFoundException"] * 10)
    store = SecretStore(client, prefix="p/", sleep=lambda s: None)
    with pytest.raises(SecretStoreUnavailableError) as raised:
        store.put("conn_1", SecretStr(KEY), tags={})
    assert raised.value.retriable and KEY not in str(raised.value)


def test_an_explicit_disconnect_deletes_at_once_and_an_automatic_path_may_keep_a_window():
    client = ScriptedSecrets([])
    store = SecretStore(client, prefix="p/")
    store.delete("p/conn_1", recovery_days=None)
    store.delete("p/conn_2")
    assert client.calls == [
        "delete [('ForceDeleteWithoutRecovery', True), ('SecretId', 'p/conn_1')]",
        "delete [('RecoveryWindowInDays', 7), ('SecretId', 'p/conn_2')]",
    ]
