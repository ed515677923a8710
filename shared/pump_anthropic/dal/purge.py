"""Deleting everything a connection owns: its record, its own partition (chunks, names, sync state), every month
partition of its cost days, and (from the layout before day documents) its cost items and rollups.

Purge goes by the partitions the connection owns, not by a date window: its cost items can only exist from a year
before it was first connected (the backfill's reach) through today, so those are the month partitions to clear.
"""

from __future__ import annotations

from datetime import date, timedelta

from pump_anthropic.dal.cost_days import days_pk
from pump_anthropic.dal.models import ConnectionModel, RollupModel
from pump_anthropic.dal.table import (
    batch_write,
    connection_pk,
    current_time,
    item_key,
    items_pk,
    months,
    rollups_pk,
    table_connection,
    tenant_pk,
)

# The backfill reaches 365 days back from the day it runs; a day more covers a connect just after midnight UTC.
BACKFILL_REACH = timedelta(days=366)
ROLLUP_PREFIXES = ("DAY#", "KEYDAY#")


def purge_connection(tenant_id: str, connection_id: str) -> int:
    """Delete every item of the connection; returns how many. Idempotent: a second purge deletes nothing."""
    try:
        record = ConnectionModel.get(tenant_pk(tenant_id), f"CONN#{connection_id}", consistent_read=True)
    except ConnectionModel.DoesNotExist:
        return 0
    first_day = record.created_at.date() - BACKFILL_REACH
    doomed = _keys_in(connection_pk(tenant_id, connection_id))
    for month in months(first_day, current_time().date() + timedelta(days=1)):
        doomed += _keys_in(days_pk(tenant_id, connection_id, month))
        doomed += _keys_in(items_pk(tenant_id, connection_id, month))  # the layout before day documents
    doomed += _rollup_keys(tenant_id, connection_id)
    doomed.append(item_key(tenant_pk(tenant_id), f"CONN#{connection_id}"))
    batch_write(deletes=doomed)
    return len(doomed)


def purge_window(tenant_id: str, connection_id: str, first_day: date, last_day: date) -> int:
    """Delete what a worker that ran during a purge may have written after it: the connection's own partition
    (chunks, names, sync state) and the month partitions of the worker's window. The connection item itself is the
    purge's to delete (it resumes from it). Returns how many items were deleted."""
    doomed = _keys_in(connection_pk(tenant_id, connection_id))
    for month in months(first_day, last_day):
        doomed += _keys_in(days_pk(tenant_id, connection_id, month))
    batch_write(deletes=doomed)
    return len(doomed)


def _keys_in(pk: str, sk_prefix: str | None = None) -> list[dict]:
    table = table_connection()
    keys: list[dict] = []
    last_key = None
    condition = RollupModel.sk.startswith(sk_prefix) if sk_prefix else None
    while True:
        page = table.query(
            pk,
            range_key_condition=condition,
            exclusive_start_key=last_key,
            consistent_read=True,
            attributes_to_get=["pk", "sk"],
        )
        keys += [item_key(raw["pk"]["S"], raw["sk"]["S"]) for raw in page.get("Items", [])]
        last_key = page.get("LastEvaluatedKey")
        if not last_key:
            return keys


def _rollup_keys(tenant_id: str, connection_id: str) -> list[dict]:
    marker = f"#CONN#{connection_id}#"
    return [
        key for prefix in ROLLUP_PREFIXES for key in _keys_in(rollups_pk(tenant_id), prefix) if marker in key["sk"]["S"]
    ]
