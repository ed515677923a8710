"""Connecting an Anthropic organization: prove the key, keep it encrypted, start the backfill."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from pydantic import SecretStr

from pump_anthropic.adapters.backfill_launcher import BackfillLauncher
from pump_anthropic.adapters.secret_store import SecretStore
from pump_anthropic.adapters.sync_queue import SyncQueue
from pump_anthropic.domain.admin_key import check_admin_key_shape, key_hint
from pump_anthropic.domain.records import ConnectionRecord
from pump_anthropic.exceptions import BackfillStartError, ConflictError, NotFoundError, SyncRateLimitedError
from pump_anthropic.logic import quotas
from pump_anthropic.logic.pull import ClientFactory, fetch_names
from pump_anthropic.logic.storage import Storage, dynamodb_storage

logger = logging.getLogger(__name__)

IN_FLIGHT_MINUTES = int(ConnectionRecord.IN_FLIGHT_BACKFILL.total_seconds() // 60)


def way_out(record: ConnectionRecord) -> str:
    """What a connection that is not active needs before it syncs again: one sentence for a 409."""
    route = f"/integrations/anthropic/{record.connection_id}"
    if record.status == "backfilling":
        return (
            f"It syncs once its backfill finishes (GET {route} shows the progress). A backfill still running "
            f"{IN_FLIGHT_MINUTES} minutes after it started can be started anew with POST {route}/backfill."
        )
    if record.status == "error":
        return f"Retry its backfill with POST {route}/backfill."
    if record.status == "revoked":
        return "Create a new Admin key and connect it (POST /integrations/anthropic)."
    return "Connect it again with a valid Admin key (POST /integrations/anthropic)."


# Connecting is interactive: Anthropic gets at most this long before the request answers 502.
CONNECT_DEADLINE_S = 20.0
MANUAL_SYNC_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class ConnectServices:
    """What connecting needs from the outside world; handlers build it, tests pass fakes."""

    client_factory: ClientFactory
    secrets: SecretStore
    launcher: BackfillLauncher


def connection_id_for(tenant_id: str, organization_id: str) -> str:
    """One connection per (tenant, Anthropic organization): connecting the same org again updates it."""
    digest = hashlib.sha256(f"{tenant_id}\x1f{organization_id}".encode()).hexdigest()
    return f"conn_{digest[:20]}"


def connect(
    tenant_id: str, admin_key: SecretStr, services: ConnectServices, *, storage: Storage | None = None
) -> ConnectionRecord:
    """Validate the key against Anthropic, store it, record the connection and start the backfill."""
    storage = storage or dynamodb_storage()
    admin_key = check_admin_key_shape(admin_key)
    quotas.take(storage, tenant_id, quotas.CONNECT)
    with services.client_factory(admin_key, time.monotonic() + CONNECT_DEADLINE_S) as client:
        organization = client.get_organization()
        workspaces, api_keys = fetch_names(client)

    connection_id = connection_id_for(tenant_id, organization.id)
    secret_id = services.secrets.put(
        connection_id, admin_key, tags={"pump:tenant": tenant_id[:256], "pump:connection": connection_id}
    )
    record, claimed = storage.connections.register_connection(
        tenant_id=tenant_id,
        connection_id=connection_id,
        organization_id=organization.id,
        organization_name=organization.name,
        key_hint=key_hint(admin_key),
        secret_id=secret_id,
    )
    storage.directory.put_workspaces(tenant_id, connection_id, workspaces)
    storage.directory.put_api_keys(tenant_id, connection_id, api_keys)
    if claimed:
        _launch(services.launcher, record, mode="full", storage=storage)
    else:
        logger.info("backfill already in flight", extra={"connection_id": connection_id})
    return storage.connections.get_connection(tenant_id, connection_id) or record


def retry_backfill(
    tenant_id: str, connection_id: str, launcher: BackfillLauncher, *, storage: Storage | None = None
) -> ConnectionRecord:
    """Run the backfill again: the months not yet fetched, or the whole year when no month was ever planned.

    Refused (409) only when there is nothing to do or no way to do it: the connection is active and every month of
    its backfill is fetched (`nothing_to_retry`), a run is in flight (`backfill_in_progress`; one still running
    IN_FLIGHT_BACKFILL after it started is taken as lost and started anew), or the key is gone (disconnected,
    revoked).
    """
    storage = storage or dynamodb_storage()
    current = storage.connections.get_connection(tenant_id, connection_id)
    if current is None:
        raise NotFoundError("No Anthropic connection with this id.")
    if current.status in ("disconnected", "revoked"):
        raise ConflictError(
            f"This connection is {current.status}, so its Admin key is no longer usable; connect again with a valid "
            "Admin key (POST /integrations/anthropic), which starts a new backfill.",
            code=f"connection_{current.status}",
        )
    if current.status == "active" and current.chunks and all(c.status == "done" for c in current.chunks):
        raise ConflictError(
            "Every month of the backfill has already been fetched, and the hourly sync keeps it current. To fetch "
            "the whole year again, connect the same Admin key again.",
            code="nothing_to_retry",
        )
    record = storage.connections.claim_backfill_retry(tenant_id, connection_id)
    if record is None:
        started = current.backfill_started_at.isoformat() if current.backfill_started_at else "recently"
        raise ConflictError(
            f"A backfill of this connection is running (started {started}); wait for it to finish. If it is still "
            f"running {IN_FLIGHT_MINUTES} minutes after it started, ask again: it is then started anew, keeping "
            "the months already fetched.",
            code="backfill_in_progress",
        )
    # With no month planned (the run was lost before planning), "the failed months" is the whole year.
    mode = "failed_only" if current.chunks else "full"
    _launch(launcher, record, mode=mode, storage=storage)
    return storage.connections.get_connection(tenant_id, connection_id) or record


def _launch(launcher: BackfillLauncher, record: ConnectionRecord, *, mode: str, storage: Storage) -> None:
    try:
        launcher.start(
            tenant_id=record.tenant_id,
            connection_id=record.connection_id,
            run=record.backfill_run,
            run_id=record.backfill_run_id,
            mode=mode,
        )
    except BackfillStartError as exc:
        storage.connections.finish_backfill(
            record.tenant_id,
            record.connection_id,
            run=record.backfill_run,
            status="error",
            error_code=exc.code,
            error_message=exc.message,
        )
        raise


def disconnect(
    tenant_id: str,
    connection_id: str,
    *,
    purge: bool,
    secrets: SecretStore,
    storage: Storage | None = None,
) -> tuple[ConnectionRecord, int | None]:
    """Stop syncing and delete the stored key at once (the customer asked; nothing should linger). With `purge`,
    also delete everything the connection owns. Returns the connection as it now stands (status `purged` when
    nothing of it is left) and, when purged, how many stored items were deleted."""
    storage = storage or dynamodb_storage()
    current = get_connection(tenant_id, connection_id, storage=storage)
    storage.connections.disconnect(tenant_id, connection_id, purging=purge)
    secrets.delete(secrets.secret_name(connection_id), recovery_days=None)
    if not purge:
        return get_connection(tenant_id, connection_id, storage=storage), None
    deleted = storage.connections.purge_connection(tenant_id, connection_id)
    return replace(current, status="purged", chunks=()), deleted


def request_sync(
    tenant_id: str, connection_id: str, queue: SyncQueue, *, storage: Storage | None = None
) -> ConnectionRecord:
    """Queue a sync now; at most one request per connection per minute."""
    storage = storage or dynamodb_storage()
    current = get_connection(tenant_id, connection_id, storage=storage)
    if current.status != "active":
        raise ConflictError(
            f"This connection is {current.status}; only an active connection can sync. {way_out(current)}",
            code="connection_not_active",
        )
    quotas.take(storage, tenant_id, quotas.SYNC_NOW)
    if not storage.connections.claim_manual_sync(tenant_id, connection_id, MANUAL_SYNC_INTERVAL):
        raise SyncRateLimitedError(
            f"A sync was requested less than {int(MANUAL_SYNC_INTERVAL.total_seconds())} seconds ago; "
            "please wait a moment before asking again."
        )
    queue.send([{"tenant_id": tenant_id, "connection_id": connection_id, "reason": "manual"}])
    return current


def get_connection(tenant_id: str, connection_id: str, *, storage: Storage | None = None) -> ConnectionRecord:
    storage = storage or dynamodb_storage()
    record = storage.connections.get_connection(tenant_id, connection_id)
    if record is None:
        raise NotFoundError("No Anthropic connection with this id.")
    return record


def list_connections(tenant_id: str, *, storage: Storage | None = None) -> list[ConnectionRecord]:
    storage = storage or dynamodb_storage()
    return storage.connections.list_connections(tenant_id)
