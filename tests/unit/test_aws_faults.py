"""Faults in AWS: unprocessed batch items and throttling lose nothing; Secrets Manager trouble is a clear, retriable
error. Fakes stand in for DynamoDB and Secrets Manager (no sockets in unit tests)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr
from pynamodb.exceptions import PutError

from pump_anthropic.adapters.secret_store import SecretStore
from pump_anthropic.dal import table as dal_table
from pump_anthropic.exceptions import SecretNotFoundError, SecretStoreUnavailableError, StorageThrottledError

KEY = "sk-ant-admin01-" + "k" * 93 + "AA"


class FlakyTable:
    """BatchWriteItem that leaves some items unprocessed, or throttles, for the first `bad_rounds` calls."""

    table_name = "t"

    def __init__(self, bad_rounds: int, mode: str = "unprocessed") -> None:
        self.bad_rounds = bad_rounds
        self.mode = mode
        self.calls = 0
        self.written: list[str] = []

    def batch_write_item(self, put_items=None, delete_items=None):
        self.calls += 1
        puts = list(put_items or [])
        if self.calls <= self.bad_rounds:
            if self.mode == "throttle":
                cause = ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                    "BatchWriteItem",
                )
                raise PutError("throttled", cause=cause)
            keep, leave = puts[: len(puts) // 2], puts[len(puts) // 2 :]
            self.written += [p["sk"]["S"] for p in keep]
            return {"UnprocessedItems": {"t": [{"PutRequest": {"Item": p}} for p in leave]}}
        self.written += [p["sk"]["S"] for p in puts]
        return {}


def items(n: int) -> list[dict]:
    return [{"pk": {"S": "p"}, "sk": {"S": f"s{i:03d}"}} for i in range(n)]


@pytest.mark.parametrize("mode", ["unprocessed", "throttle"])
def test_batch_write_resends_with_backoff_until_every_item_is_written(monkeypatch, mode):
    flaky = FlakyTable(bad_rounds=4, mode=mode)
    sleeps: list[float] = []
    monkeypatch.setattr(dal_table, "table_connection", lambda: flaky)

    dal_table.batch_write(puts=items(60), sleep=sleeps.append)

    assert sorted(flaky.written) == [f"s{i:03d}" for i in range(60)]
    assert len(sleeps) == 4 and all(s >= 0 for s in sleeps)


def test_batch_write_fails_loudly_and_retriably_when_dynamodb_never_catches_up(monkeypatch):
    flaky = FlakyTable(bad_rounds=10_000)
    monkeypatch.setattr(dal_table, "table_connection", lambda: flaky)

    with pytest.raises(StorageThrottledError) as error:
        dal_table.batch_write(puts=items(25), max_rounds=5, sleep=lambda s: None)

    assert error.value.retriable and flaky.calls == 5
    assert "unprocessed" in error.value.message


class FakeSecretsClient:
    def __init__(self, error_code: str | None) -> None:
        self.error_code = error_code
        self.reads = 0

    def get_secret_value(self, SecretId):  # noqa: N803 (boto3's parameter name)
        self.reads += 1
        if self.error_code:
            raise ClientError({"Error": {"Code": self.error_code, "Message": "nope"}}, "GetSecretValue")
        return {"SecretString": KEY}


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServiceError"])
def test_secrets_manager_trouble_is_a_clear_retriable_error(code):
    store = SecretStore(FakeSecretsClient(code), prefix="p/")
    with pytest.raises(SecretStoreUnavailableError) as error:
        store.get("p/conn_1")
    assert error.value.retriable and code in error.value.message
    assert error.value.__cause__ is None and KEY not in str(error.value)


def test_a_deleted_secret_is_not_retried():
    store = SecretStore(FakeSecretsClient("ResourceNotFoundException"), prefix="p/")
    with pytest.raises(SecretNotFoundError) as error:
        store.get("p/conn_1")
    assert not error.value.retriable


def test_secret_reads_are_cached_per_container():
    client = FakeSecretsClient(None)
    store = SecretStore(client, prefix="p/")
    assert store.get("p/c").get_secret_value() == store.get("p/c").get_secret_value() == KEY
    assert client.reads == 1
    assert KEY not in repr(store.get("p/c"))


def test_a_stored_key_is_a_secret_str_and_never_printed():
    assert KEY not in repr(SecretStr(KEY)) and KEY not in str(SecretStr(KEY))
