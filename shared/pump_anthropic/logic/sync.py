"""The hourly sync of one connection: re-pull a trailing window, write only what changed, stop on a revoked key.

Anthropic restates recent days as late data settles, so every run re-reads today and the previous N days
(N = SYNC_LOOKBACK_DAYS, default 3), or from the cursor if hours were missed, and diff-writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from pump_anthropic.adapters.secret_store import SecretStore
from pump_anthropic.clock import utc_now
from pump_anthropic.domain.allocation import KeyHomes
from pump_anthropic.domain.calendar import day_start, monthly_chunks
from pump_anthropic.domain.records import DayWriteFigures
from pump_anthropic.exceptions import PumpError
from pump_anthropic.logic.backfill import BACKFILL_DAYS
from pump_anthropic.logic.pull import ClientFactory, PulledData, pull_items
from pump_anthropic.logic.storage import Storage, dynamodb_storage

logger = logging.getLogger(__name__)

DEFAULT_LOOKBACK_DAYS = 3
REVOKED_MESSAGE = (
    "Anthropic no longer accepts this Admin key (it was deleted or lost access), so syncing stopped. "
    "Create a new Admin key and reconnect; the gap will be filled."
)


@dataclass(frozen=True)
class SyncOutcome:
    status: str  # synced | skipped | revoked
    window_start: date | None = None
    window_end: date | None = None
    anthropic_requests: int = 0
    items_written: int = 0
    items_unchanged: int = 0
    items_deleted: int = 0
    anthropic_retries: int = 0
    previous_sync_at: str | None = None  # for the sync-lag metric


def sync_window(cursor: date | None, today: date, lookback_days: int) -> tuple[date, date]:
    """[start, today] inclusive: the earlier of the cursor and today − N, never beyond the backfill's reach."""
    start = today - timedelta(days=lookback_days)
    if cursor is not None:
        start = min(start, cursor)
    return max(start, today - timedelta(days=BACKFILL_DAYS - 1)), today


def names_due(last_sync_at: datetime | None, now: datetime) -> tuple[bool, bool]:
    """(workspaces, API keys): which name list this sync refreshes. Names change rarely, so each list is
    re-read once a UTC day, workspaces on the day's first sync and keys on the first one from noon, which keeps
    every hourly sync at four requests or fewer. A key the stored list doesn't know is fetched when it is used."""
    midnight = day_start(now.date())
    noon = midnight + timedelta(hours=12)
    if last_sync_at is None:  # the first sync after a backfill: connect read both lists minutes ago
        return True, False
    return last_sync_at < midnight, last_sync_at < noon <= now


def sync_connection(
    tenant_id: str,
    connection_id: str,
    *,
    secrets: SecretStore,
    client_factory: ClientFactory,
    deadline: float | None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    storage: Storage | None = None,
) -> SyncOutcome:
    storage = storage or dynamodb_storage()
    connection = storage.connections.get_connection(tenant_id, connection_id, with_chunks=False)
    if connection is None or connection.status != "active":
        # Backfilling, revoked, disconnected or gone: the backfill or a reconnect owns the data now.
        return SyncOutcome("skipped")
    now = utc_now()
    today = now.date()
    cursor = storage.costs.get_sync_cursor(tenant_id, connection_id)
    start, end = sync_window(cursor, today, lookback_days)
    previous = connection.last_sync_at.isoformat() if connection.last_sync_at else None
    totals = SyncOutcome("synced", start, end, previous_sync_at=previous)
    try:
        key = secrets.get(connection.secret_id)
        refresh_workspaces, refresh_api_keys = names_due(connection.last_sync_at, now)
        homes = KeyHomes.from_api_keys(storage.directory.api_keys(tenant_id, connection_id))
        # Month by month, so a long catch-up keeps one month in memory and moves the cursor as it goes.
        for first, stop in monthly_chunks(start, end):
            pulled = pull_items(
                key,
                client_factory,
                deadline,
                first,
                stop,
                key_homes=homes,
                refresh_workspaces=refresh_workspaces and first == start,
                refresh_api_keys=refresh_api_keys and first == start,
                refresh_api_keys_if_unlisted=True,
            )
            homes = pulled.key_homes
            if pulled.workspaces is not None:
                storage.directory.put_workspaces(tenant_id, connection_id, pulled.workspaces)
            if pulled.api_keys is not None:
                storage.directory.put_api_keys(tenant_id, connection_id, pulled.api_keys)
            last = stop - timedelta(days=1)
            figures = storage.costs.replace_days(tenant_id, connection_id, first, last, pulled.items, pulled.key_shares)
            if cursor is None or last > cursor:
                storage.costs.advance_sync_cursor(tenant_id, connection_id, last)
            totals = _add(totals, pulled, figures)
    except PumpError as exc:
        if not exc.revokes_connection:
            raise
        storage.connections.mark_revoked(tenant_id, connection_id, code="key_revoked", message=REVOKED_MESSAGE)
        logger.warning("connection revoked", extra={"connection_id": connection_id, "error_code": exc.code})
        return SyncOutcome("revoked")
    storage.connections.record_sync(tenant_id, connection_id, totals.__dict__)
    return totals


def _add(totals: SyncOutcome, pulled: PulledData, figures: DayWriteFigures) -> SyncOutcome:
    return replace(
        totals,
        anthropic_requests=totals.anthropic_requests + pulled.anthropic_requests,
        anthropic_retries=totals.anthropic_retries + pulled.anthropic_retries,
        items_written=totals.items_written + figures.written,
        items_unchanged=totals.items_unchanged + figures.unchanged,
        items_deleted=totals.items_deleted + figures.deleted,
    )


def dispatch_active_connections(
    send: Callable[[list[dict]], None], batch_size: int = 10, *, storage: Storage | None = None
) -> int:
    """Fan the hourly run out: one message per active connection, sent in batches (SQS takes 10)."""
    storage = storage or dynamodb_storage()
    sent = 0
    batch: list[dict] = []
    for message in _active_connection_messages(storage):
        batch.append(message)
        if len(batch) == batch_size:
            send(batch)
            sent += len(batch)
            batch = []
    if batch:
        send(batch)
        sent += len(batch)
    return sent


def _active_connection_messages(storage: Storage) -> Iterator[dict]:
    for shard in range(storage.connections.SYNC_SHARDS):
        for tenant_id, connection_id in storage.connections.list_active_connections(shard):
            yield {"tenant_id": tenant_id, "connection_id": connection_id}
