"""The table itself: binding, key layout, batch writes with backoff, diffs and error mapping.

Every other dal module builds on these; nothing outside the dal package imports PynamoDB.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.connection import TableConnection
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.condition import Condition

from pump_anthropic.clock import utc_now
from pump_anthropic.dal.models import ALL_MODELS, ConnectionModel, CostItemModel, QuotaModel
from pump_anthropic.exceptions import PumpError, StorageError, StorageThrottledError

SYNC_SHARDS = 16
BATCH_SIZE = 25


@dataclass
class WriteStats:
    """DynamoDB requests made by this process (for progress figures and benchmarks)."""

    batch_requests: int = 0
    transactions: int = 0
    items_put: int = 0
    items_deleted: int = 0


STATS = WriteStats()
# How long cost days are kept (0: for good); set by `bind` from the RetentionMonths setting.
RETENTION_MONTHS = 0


def bind(
    table_name: str,
    *,
    quota_table_name: str | None = None,
    region: str | None = None,
    host: str | None = None,
    retention_months: int = 0,
) -> None:
    """Point every model at its table. Handlers call it on every request; only the first call of a process (or one
    with other settings) does anything, so the botocore client behind the tables is built once per container, and
    the models of one table share it."""
    global RETENTION_MONTHS, _BOUND
    binding = (table_name, quota_table_name, region, host, retention_months)
    if binding == _BOUND:
        return
    RETENTION_MONTHS = retention_months
    tables = [(model, table_name) for model in ALL_MODELS]
    tables.append((QuotaModel, quota_table_name or f"{table_name}-quotas"))
    shared: dict[str, TableConnection] = {}
    for model, name in tables:
        model.Meta.table_name = name
        if region:
            model.Meta.region = region
        model.Meta.host = host
        model._connection = None
        if name in shared:
            model._connection = shared[name]
        else:
            shared[name] = model._get_connection()  # the botocore client inside is built on first use
    _BOUND = binding


_BOUND: tuple | None = None


def create_table() -> None:
    """Create the tables (local runtime and tests; in AWS the template owns them)."""
    if not ConnectionModel.exists():
        ConnectionModel.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    if not QuotaModel.exists():
        QuotaModel.create_table(billing_mode="PAY_PER_REQUEST", wait=True)


def table_connection() -> TableConnection:
    # The model's cached connection knows the table's key schema, which raw batch writes and queries need.
    return ConnectionModel._get_connection()


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def connection_pk(tenant_id: str, connection_id: str) -> str:
    return f"TENANT#{tenant_id}#CONN#{connection_id}"


def items_pk(tenant_id: str, connection_id: str, month: str) -> str:
    return f"{connection_pk(tenant_id, connection_id)}#MONTH#{month}"


def rollups_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#ROLLUP"


def sync_shard(connection_id: str) -> str:
    return f"SYNC#{int(hashlib.sha256(connection_id.encode()).hexdigest(), 16) % SYNC_SHARDS:02d}"


def current_time() -> datetime:
    return utc_now()


def months(first_day: date, last_day: date) -> list[str]:
    months = []
    day = first_day.replace(day=1)
    while day <= last_day:
        months.append(day.strftime("%Y-%m"))
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def existing_items(pk: str, sk_from: str, sk_to: str) -> dict[str, dict]:
    """Raw stored items (attribute maps) of one partition's key range, keyed by sk."""
    table = table_connection()
    found: dict[str, dict] = {}
    last_key = None
    while True:
        page = table.query(
            pk,
            range_key_condition=between_condition(sk_from, sk_to),
            exclusive_start_key=last_key,
            consistent_read=True,
        )
        for raw in page.get("Items", []):
            found[raw["sk"]["S"]] = raw
        last_key = page.get("LastEvaluatedKey")
        if not last_key:
            return found


def between_condition(sk_from: str, sk_to: str) -> Condition:
    return CostItemModel.sk.between(sk_from, sk_to)


def item_key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def batch_write(
    *,
    puts: list[dict] | None = None,
    deletes: list[dict] | None = None,
    max_rounds: int = 10,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """BatchWriteItem in pages of 25, resending unprocessed items with jittered exponential backoff.

    PynamoDB's own batch_write resends without backoff and then raises; here every item is either written or
    the call raises StorageThrottledError (retriable by the state machine), never dropped.
    """
    requests = [{"PutRequest": {"Item": p}} for p in puts or ()] + [
        {"DeleteRequest": {"Key": d}} for d in deletes or ()
    ]
    table = table_connection()
    for offset in range(0, len(requests), BATCH_SIZE):
        pending = requests[offset : offset + BATCH_SIZE]
        for attempt in range(max_rounds):
            unprocessed = _send_batch(table, pending)
            if not unprocessed:
                break
            pending = unprocessed
            sleep(random.uniform(0, min(5.0, 0.05 * 2**attempt)))
        else:
            raise StorageThrottledError(
                f"DynamoDB left {len(pending)} items unprocessed after {max_rounds} attempts; will retry."
            )


def _send_batch(table: TableConnection, batch: list[dict]) -> list[dict]:
    puts = [r["PutRequest"]["Item"] for r in batch if "PutRequest" in r]
    deletes = [r["DeleteRequest"]["Key"] for r in batch if "DeleteRequest" in r]
    try:
        response = table.batch_write_item(put_items=puts or None, delete_items=deletes or None)
    except PynamoDBException as exc:
        if throttled(exc):
            return batch
        raise storage_error(exc) from exc
    STATS.batch_requests += 1
    unprocessed = (response or {}).get("UnprocessedItems", {}).get(table.table_name, [])
    STATS.items_put += len(puts) - sum(1 for r in unprocessed if "PutRequest" in r)
    STATS.items_deleted += len(deletes) - sum(1 for r in unprocessed if "DeleteRequest" in r)
    return unprocessed


def condition_failed(exc: PynamoDBException) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def throttled(exc: PynamoDBException) -> bool:
    return getattr(exc, "cause_response_code", None) in {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    }


def storage_error(exc: PynamoDBException) -> PumpError:
    if throttled(exc):
        return StorageThrottledError("DynamoDB is throttling writes; the operation will be retried.")
    return StorageError(f"Storage operation failed ({getattr(exc, 'cause_response_code', None) or 'unknown'}).")


def raw_items() -> list[dict[str, Any]]:
    """Every item in the table (tests and the key-leak audit only; a full scan). Binary attributes (compressed day
    documents) are shown as the text they hold, so an audit reads what is stored, not its compressed bytes."""
    table = table_connection()
    items: list[dict[str, Any]] = []
    last_key = None
    while True:
        page = table.scan(exclusive_start_key=last_key)
        items.extend({name: _readable(value) for name, value in item.items()} for item in page.get("Items", []))
        last_key = page.get("LastEvaluatedKey")
        if not last_key:
            return items


def binary_value(value: bytes | str) -> bytes:
    """A raw binary attribute's bytes: botocore gives bytes, a serialized item base64 text."""
    return value if isinstance(value, bytes) else base64.b64decode(value)


def _readable(value: dict[str, Any]) -> dict[str, Any]:
    if "B" not in value:
        return value
    raw = binary_value(value["B"])
    try:
        # The first part of a day holds the start of the compressed stream: decompress what of it can be.
        return {"B": zlib.decompressobj().decompress(raw).decode("utf-8", errors="replace")}
    except zlib.error:  # a continuation part: the middle of the stream
        return {"B": base64.b64encode(raw).decode()}
