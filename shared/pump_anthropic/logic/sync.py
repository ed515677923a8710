"""The hourly sync of one connection: re-pull a trailing window, write only what changed, stop on a revoked key.

Anthropic restates recent days as late data settles, so every run re-reads today and the previous N days
(N = SYNC_LOOKBACK_DAYS, default 3), or from the cursor if hours were missed, and diff-writes them. The window is
pulled in one pass whatever months it spans; only a catch-up longer than one analytics query range (31 days) goes in
31-day spans.

Once a UTC day each connection also does its daily work: the analytics API's restatement window re-read (30 days) and
the audit of the newest settled day. It happens at the connection's own hour (a stable hash of its id), so a fleet's
heavy work is spread over the day instead of all landing at 00:00 UTC; see `daily_work_due`.

Every sync also reads yesterday and today hour by hour (`logic/hourly.py`: one more request per 1,000 hour rows),
with the spend-limit read on the same client when that is due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from pump_anthropic.adapters.secret_store import SecretStore
from pump_anthropic.clock import utc_now
from pump_anthropic.domain.calendar import day_spans, day_start, hour_of_day
from pump_anthropic.domain.hourly import DEFAULT_REREAD_HOURS
from pump_anthropic.domain.records import ConnectionRecord, DayWriteFigures
from pump_anthropic.exceptions import ConnectionDisconnectedError, PumpError
from pump_anthropic.logic import hourly, sources
from pump_anthropic.logic.audit import audit_day
from pump_anthropic.logic.backfill import BACKFILL_DAYS
from pump_anthropic.logic.guard import refresh_spend_limits
from pump_anthropic.logic.pull import ClientFactory
from pump_anthropic.logic.purge_fence import fence_out_purge
from pump_anthropic.logic.storage import Storage, dynamodb_storage

logger = logging.getLogger(__name__)

DEFAULT_LOOKBACK_DAYS = 3
DEFAULT_REREAD_DAYS = 30
# A window up to this long is pulled at once (the analytics API takes up to 31 days per query, a legacy report page
# 31 daily buckets); a longer catch-up goes in spans this long, keeping one span in memory.
MAX_ONE_PULL_DAYS = 31
# The sync record's field naming the UTC day the daily work (re-read and audit) was last done.
DAILY_WORK_ON = "daily_work_on"
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
    # The day's audit of the analytics source, when this sync ran it: {"day", "analytics_usd", "legacy_usd",
    # "priority_usd", "difference_usd", "mismatch"} (amounts as decimal strings).
    cross_check: dict | None = None


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


def daily_work_due(done_on: date | None, now: datetime, hour: int) -> bool:
    """Whether a sync at `now` does the daily work (the restatement window re-read and the audit), last done on the
    UTC day `done_on` (None: never, as on the first sync after a backfill, which does it), at the connection's `hour`.

    At most once a UTC day: the first sync at or after the hour on a day that hasn't had it yet, so a sync missed at
    the hour is made up by the next one that day. A day missed entirely (no sync from its hour to midnight) is made
    up by the next day's first sync, which then counts as that day's, so no connection goes two days without it.
    """
    today = now.date()
    if done_on is None:
        return True
    if done_on >= today:
        return False
    return now >= day_start(today) + timedelta(hours=hour) or done_on < today - timedelta(days=1)


def daily_work_done_on(connection: ConnectionRecord) -> date | None:
    """The UTC day the connection's daily work was last done, from its last sync record (None: never synced)."""
    if connection.last_sync_at is None:
        return None
    recorded = (connection.last_sync or {}).get(DAILY_WORK_ON)
    # A record from before the work moved to each connection's hour: then the UTC day's first sync did it.
    return date.fromisoformat(recorded) if recorded else connection.last_sync_at.date()


def sync_connection(
    tenant_id: str,
    connection_id: str,
    *,
    secrets: SecretStore,
    client_factory: ClientFactory,
    deadline: float | None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    source: str = sources.AUTO,
    reread_days: int = DEFAULT_REREAD_DAYS,
    hourly_reread_hours: int = DEFAULT_REREAD_HOURS,
    storage: Storage | None = None,
) -> SyncOutcome:
    """Re-read the trailing window (and, once a UTC day at the connection's hour, the analytics API's restatement
    window plus the day's audit of it), diff-write what changed and move the cursor; a refused key marks the
    connection revoked."""
    storage = storage or dynamodb_storage()
    connection = storage.connections.get_connection(tenant_id, connection_id, with_chunks=False)
    if connection is None or connection.status != "active":
        # Backfilling, revoked, disconnected or gone: the backfill or a reconnect owns the data now.
        return SyncOutcome("skipped")
    now = utc_now()
    today = now.date()
    cursor = storage.costs.get_sync_cursor(tenant_id, connection_id)
    done_on = daily_work_done_on(connection)
    daily = source != sources.LEGACY and daily_work_due(done_on, now, hour_of_day(connection_id))
    lookback = max(lookback_days, reread_days) if daily else lookback_days
    start, end = sync_window(cursor, today, lookback)
    previous = connection.last_sync_at.isoformat() if connection.last_sync_at else None
    totals = SyncOutcome("synced", start, end, previous_sync_at=previous)
    coverage: list[dict] = []
    refreshed = None
    hour_days = [] if source == sources.LEGACY else hourly.hourly_days(today, sources.analytics_first_day(now))
    recent: dict = {}  # the days read hour by hour, as just pulled
    default_workspace = None
    changed: list = []
    try:
        # Named from the message's connection id, never from a field of the table someone could point elsewhere.
        key = secrets.get(secrets.secret_name(connection_id))
        refresh_workspaces, refresh_api_keys = names_due(connection.last_sync_at, now)
        # One pull when the window fits one analytics query range, whatever months it spans; a longer catch-up goes
        # in spans of that range, keeping one span in memory and moving the cursor as it goes.
        for first, stop in day_spans(start, end, MAX_ONE_PULL_DAYS):
            pulled = sources.pull_connection_days(
                storage, tenant_id, connection_id, key, client_factory, deadline, first, stop,
                source=source,
                refresh_workspaces=refresh_workspaces and first == start,
                refresh_api_keys=refresh_api_keys and first == start,
                refresh_api_keys_if_unlisted=True,
            )  # fmt: skip
            last = stop - timedelta(days=1)
            figures = storage.costs.store_days(tenant_id, connection_id, first, last, pulled.days)
            recent.update({day: pulled.days.get(day) for day in hour_days if first <= day <= last})
            default_workspace = pulled.default_workspace_id or default_workspace
            changed += figures.changed_days
            if any(r.source == sources.LEGACY and r.last_day >= today for r in pulled.sources):
                hour_days = []  # the analytics API refused these days: no hours either
            if cursor is None or last > cursor:
                storage.costs.advance_sync_cursor(tenant_id, connection_id, last)
            totals = _add(totals, pulled, figures)
            coverage += sources.coverage_of(pulled)["sources"]
            refreshed = pulled.data_refreshed_at or refreshed
        if daily:
            audit = audit_day(storage, tenant_id, connection_id, key, client_factory, deadline, today, reread_days)
            totals = replace(
                totals, cross_check=audit.result, anthropic_requests=totals.anthropic_requests + audit.requests
            )
        # The spend limits change rarely: read with the daily work, or when never read (the first sync).
        limits_due = daily or storage.guard.get_spend_limits(tenant_id, connection_id) is None
        if hour_days or limits_due:
            with client_factory(key, deadline) as client:
                hourly.refresh_hours(
                    storage, tenant_id, connection_id, client, hour_days, recent, default_workspace, hourly_reread_hours
                )
                if limits_due:
                    refresh_spend_limits(storage, tenant_id, connection_id, client)
                totals = replace(totals, anthropic_requests=totals.anthropic_requests + client.request_count)
        hourly.drop_restated_hours(storage, tenant_id, connection_id, changed, hour_days)
        fence_out_purge(storage, tenant_id, connection_id, start, end)
    except ConnectionDisconnectedError:
        return SyncOutcome("skipped")  # purged while it ran: what it wrote is deleted
    except PumpError as exc:
        if not exc.revokes_connection:
            raise
        storage.connections.mark_revoked(tenant_id, connection_id, code="key_revoked", message=REVOKED_MESSAGE)
        logger.warning("connection revoked", extra={"connection_id": connection_id, "error_code": exc.code})
        return SyncOutcome("revoked")
    worked_on = today if daily else done_on
    record = {
        **totals.__dict__,
        "sources": coverage,
        "data_refreshed_at": refreshed.strftime("%Y-%m-%dT%H:%M:%SZ") if refreshed else None,
        DAILY_WORK_ON: worked_on.isoformat() if worked_on else None,
    }
    storage.connections.record_sync(tenant_id, connection_id, record)
    return totals


def _add(totals: SyncOutcome, pulled: sources.PulledDays, figures: DayWriteFigures) -> SyncOutcome:
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
