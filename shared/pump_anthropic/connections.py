"""Connecting an Anthropic organization: prove the key, keep it encrypted, start the backfill."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import SecretStr

from pump_anthropic.admin_api import AdminApiClient
from pump_anthropic.aws import BackfillLauncher, BackfillStartError, SecretStore, SyncQueue
from pump_anthropic.backfill import fetch_names
from pump_anthropic.clock import utc_now
from pump_anthropic.dal import repository as repo
from pump_anthropic.exceptions import ConflictError, NotFoundError, TooManyRequestsError
from pump_anthropic.keys import check_admin_key_shape, key_hint

logger = logging.getLogger(__name__)

ClientFactory = Callable[[SecretStr], AdminApiClient]
MANUAL_SYNC_INTERVAL = timedelta(seconds=60)
# Cost items older than the backfill plus a margin cannot exist; purge looks this far back.
PURGE_HORIZON_DAYS = 400


class SyncRateLimitedError(TooManyRequestsError):
    code = "sync_rate_limited"


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


def connect(tenant_id: str, admin_key: SecretStr, services: ConnectServices) -> repo.ConnectionRecord:
    """Validate the key against Anthropic, store it, record the connection and start the backfill."""
    admin_key = check_admin_key_shape(admin_key)
    with services.client_factory(admin_key) as client:
        organization = client.get_organization()
        workspaces, api_keys = fetch_names(client)

    connection_id = connection_id_for(tenant_id, organization.id)
    secret_id = services.secrets.put(
        connection_id, admin_key, tags={"pump:tenant": tenant_id[:256], "pump:connection": connection_id}
    )
    record, claimed = repo.register_connection(
        tenant_id=tenant_id,
        connection_id=connection_id,
        organization_id=organization.id,
        organization_name=organization.name,
        key_hint=key_hint(admin_key),
        secret_id=secret_id,
    )
    repo.put_workspaces(tenant_id, connection_id, workspaces)
    repo.put_api_keys(tenant_id, connection_id, api_keys)
    if claimed:
        _launch(services.launcher, record, mode="full")
    else:
        logger.info("backfill already in flight", extra={"connection_id": connection_id})
    return repo.get_connection(tenant_id, connection_id) or record


def retry_backfill(tenant_id: str, connection_id: str, launcher: BackfillLauncher) -> repo.ConnectionRecord:
    """Run the backfill again for the chunks that failed (or never finished)."""
    current = repo.get_connection(tenant_id, connection_id)
    if current is None:
        raise NotFoundError("No Anthropic connection with this id.")
    if current.status in ("disconnected", "revoked"):
        raise ConflictError(
            f"This connection is {current.status}; reconnect it with a valid Admin key first.",
            code=f"connection_{current.status}",
        )
    if not any(c.status != "done" for c in current.chunks):
        raise ConflictError("Every month of the backfill has already been fetched.", code="nothing_to_retry")
    record = repo.claim_backfill_retry(tenant_id, connection_id)
    if record is None:
        raise ConflictError("A backfill is already running for this connection.", code="backfill_in_progress")
    _launch(launcher, record, mode="failed_only")
    return repo.get_connection(tenant_id, connection_id) or record


def _launch(launcher: BackfillLauncher, record: repo.ConnectionRecord, *, mode: str) -> None:
    try:
        launcher.start(
            tenant_id=record.tenant_id, connection_id=record.connection_id, run=record.backfill_run, mode=mode
        )
    except BackfillStartError as exc:
        repo.finish_backfill(
            record.tenant_id,
            record.connection_id,
            run=record.backfill_run,
            status="error",
            error_code=exc.code,
            error_message=exc.message,
        )
        raise


def disconnect(
    tenant_id: str, connection_id: str, *, purge: bool, secrets: SecretStore, today: date | None = None
) -> repo.ConnectionRecord:
    """Stop syncing, delete the stored key (7-day recovery window) and, with `purge`, the connection's costs."""
    current = get_connection(tenant_id, connection_id)
    repo.disconnect(tenant_id, connection_id)
    secrets.delete(current.secret_id)
    if purge:
        today = today or utc_now().date()
        repo.purge_cost_data(tenant_id, connection_id, today - timedelta(days=PURGE_HORIZON_DAYS), today)
    return get_connection(tenant_id, connection_id)


def request_sync(tenant_id: str, connection_id: str, queue: SyncQueue) -> repo.ConnectionRecord:
    """Queue a sync now; at most one request per connection per minute."""
    current = get_connection(tenant_id, connection_id)
    if current.status != "active":
        raise ConflictError(
            f"This connection is {current.status}; only an active connection can sync.", code="connection_not_active"
        )
    if not repo.claim_manual_sync(tenant_id, connection_id, MANUAL_SYNC_INTERVAL):
        raise SyncRateLimitedError(
            f"A sync was requested less than {int(MANUAL_SYNC_INTERVAL.total_seconds())} seconds ago; "
            "please wait a moment before asking again."
        )
    queue.send([{"tenant_id": tenant_id, "connection_id": connection_id, "reason": "manual"}])
    return current


def get_connection(tenant_id: str, connection_id: str) -> repo.ConnectionRecord:
    record = repo.get_connection(tenant_id, connection_id)
    if record is None:
        raise NotFoundError("No Anthropic connection with this id.")
    return record


def list_connections(tenant_id: str) -> list[repo.ConnectionRecord]:
    return repo.list_connections(tenant_id)
