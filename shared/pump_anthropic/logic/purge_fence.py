"""The purge fence: every worker that writes a connection's items (a backfill's plan, chunk and finalize, a sync, the
spend guard's check) calls it after its writes, so a purge is final whichever lands last."""

from __future__ import annotations

from datetime import date

from pump_anthropic.exceptions import ConnectionDisconnectedError
from pump_anthropic.logic.storage import Storage


def fence_out_purge(storage: Storage, tenant_id: str, connection_id: str, first_day: date, last_day: date) -> None:
    """A purge is final: if one took the connection while this worker pulled and wrote, delete what the worker
    wrote (its window's days, and the connection's own partition: names, chunk records, budgets, alerts, spend
    limits) and stop. Checked after the writes, and purge marks the connection before it lists what to delete, so
    whichever lands last, nothing of the worker's outlives the purge."""
    if storage.connections.being_purged(tenant_id, connection_id):
        storage.connections.purge_window(tenant_id, connection_id, first_day, last_day)
        raise ConnectionDisconnectedError("The connection was purged while this ran; what it wrote is deleted.")
