"""Connections and their backfill chunks: lifecycle transitions as conditional writes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition

from pump_anthropic.dal.models import ChunkModel, ConnectionModel
from pump_anthropic.dal.purge import purge_connection, purge_window
from pump_anthropic.dal.table import (
    SYNC_SHARDS,
    batch_write,
    condition_failed,
    connection_pk,
    current_time,
    item_key,
    storage_error,
    sync_shard,
    tenant_pk,
)
from pump_anthropic.domain.records import ChunkProgress, ConnectionRecord

PURGING = "purging"
__all__ = ["SYNC_SHARDS", "purge_connection", "purge_window"]

IN_FLIGHT_BACKFILL = ConnectionRecord.IN_FLIGHT_BACKFILL


def new_run_id() -> str:
    """A run's nonce: 12 hex characters, safe in a Step Functions execution name."""
    return secrets.token_hex(6)


def first_run(now: datetime) -> int:
    """The run number of a connection item's first run: the claim's time in milliseconds, not 1.

    Purge deletes the item, so a reconnected connection starts counting again; the state machine carries only the
    run number, so an execution of the purged connection that is still running must not hold the number of the new
    connection's run (it would settle it, or re-plan its chunks). Later runs count up from here.
    """
    return int(now.timestamp() * 1000)


def _record(model: ConnectionModel, chunks: Iterable[ChunkProgress] = ()) -> ConnectionRecord:
    return ConnectionRecord(
        tenant_id=model.tenant_id,
        connection_id=model.connection_id,
        status=model.status,
        organization_id=model.organization_id,
        organization_name=model.organization_name,
        key_hint=model.key_hint,
        secret_id=model.secret_id,
        created_at=model.created_at,
        updated_at=model.updated_at,
        backfill_run=int(model.backfill_run or 0),
        backfill_run_id=model.backfill_run_id,
        backfill_started_at=model.backfill_started_at,
        backfill_finished_at=model.backfill_finished_at,
        last_sync_at=model.last_sync_at,
        last_error_code=model.last_error_code,
        last_error_message=model.last_error_message,
        last_sync=json.loads(model.last_sync_json) if model.last_sync_json else None,
        chunks=tuple(chunks),
    )


def _get_connection_model(tenant_id: str, connection_id: str) -> ConnectionModel | None:
    try:
        return ConnectionModel.get(tenant_pk(tenant_id), f"CONN#{connection_id}", consistent_read=True)
    except ConnectionModel.DoesNotExist:
        return None


def get_connection(tenant_id: str, connection_id: str, *, with_chunks: bool = True) -> ConnectionRecord | None:
    model = _get_connection_model(tenant_id, connection_id)
    if model is None:
        return None
    return _record(model, list_chunks(tenant_id, connection_id) if with_chunks else ())


def connection_ids(tenant_id: str) -> list[str]:
    """The tenant's connection ids only (no backfill progress): what the read API needs."""
    query = ConnectionModel.query(
        tenant_pk(tenant_id), ConnectionModel.sk.startswith("CONN#"), attributes_to_get=["connection_id"]
    )
    return [m.connection_id for m in query]


def list_connections(tenant_id: str) -> list[ConnectionRecord]:
    models = ConnectionModel.query(tenant_pk(tenant_id), ConnectionModel.sk.startswith("CONN#"))
    return [_record(m, list_chunks(m.tenant_id, m.connection_id)) for m in models]


def register_connection(
    *,
    tenant_id: str,
    connection_id: str,
    organization_id: str,
    organization_name: str,
    key_hint: str,
    secret_id: str,
) -> tuple[ConnectionRecord, bool]:
    """Create or refresh a connection and claim a new backfill run.

    Returns (connection, claimed). `claimed` is False when a backfill is already in flight (a double submit):
    the conditional write lets exactly one concurrent caller start the state machine.
    """
    now = current_time()
    existing = _get_connection_model(tenant_id, connection_id)
    model = existing or ConnectionModel(
        tenant_pk(tenant_id),
        f"CONN#{connection_id}",
        item_type="connection",
        tenant_id=tenant_id,
        connection_id=connection_id,
        created_at=now,
        backfill_run=0,
    )
    previous_run = int(model.backfill_run or 0)
    model.organization_id = organization_id
    model.organization_name = organization_name
    model.key_hint = key_hint
    model.secret_id = secret_id
    model.updated_at = now
    model.status = "backfilling"
    model.backfill_run = previous_run + 1 if existing is not None else first_run(now)
    model.backfill_run_id = new_run_id()
    model.backfill_started_at = now
    model.backfill_finished_at = None
    model.last_error_code = None
    model.last_error_message = None
    model.gsi1pk = None
    model.gsi1sk = None
    try:
        model.save(condition=_may_start_backfill(existing, previous_run, now))
    except PutError as exc:
        if condition_failed(exc):
            current = _get_connection_model(tenant_id, connection_id)
            if current is not None:
                _refresh_key_fields(current, key_hint=key_hint, secret_id=secret_id)
                return _record(current, list_chunks(tenant_id, connection_id)), False
        raise storage_error(exc) from exc
    return _record(model), True


def _may_start_backfill(existing: ConnectionModel | None, previous_run: int, now: datetime) -> Condition:
    if existing is None:
        return ConnectionModel.pk.does_not_exist()
    same_run = ConnectionModel.backfill_run == previous_run
    not_in_flight = (ConnectionModel.status != "backfilling") | (
        ConnectionModel.backfill_started_at < now - IN_FLIGHT_BACKFILL
    )
    return same_run & not_in_flight


def _refresh_key_fields(model: ConnectionModel, *, key_hint: str, secret_id: str) -> None:
    model.update(
        actions=[
            ConnectionModel.key_hint.set(key_hint),
            ConnectionModel.secret_id.set(secret_id),
            ConnectionModel.updated_at.set(current_time()),
        ]
    )


def claim_backfill_retry(tenant_id: str, connection_id: str) -> ConnectionRecord | None:
    """Claim a new backfill run (a new run number and run id); None if a backfill is in flight.

    A run still `backfilling` past IN_FLIGHT_BACKFILL is taken as lost (its execution failed to start, or died
    without settling the connection) and may be claimed again.
    """
    model = _get_connection_model(tenant_id, connection_id)
    if model is None:
        return None
    now = current_time()
    previous_run = int(model.backfill_run or 0)
    try:
        model.update(
            actions=[
                ConnectionModel.status.set("backfilling"),
                ConnectionModel.backfill_run.set(previous_run + 1),
                ConnectionModel.backfill_run_id.set(new_run_id()),
                ConnectionModel.backfill_started_at.set(now),
                ConnectionModel.backfill_finished_at.remove(),
                ConnectionModel.updated_at.set(now),
            ],
            condition=_may_start_backfill(model, previous_run, now),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return None
        raise storage_error(exc) from exc
    return _record(model)


def finish_backfill(
    tenant_id: str, connection_id: str, *, run: int, status: str, error_code: str | None, error_message: str | None
) -> None:
    """Record the outcome of backfill run `run`; a stale run (superseded by a newer one) changes nothing."""
    model = _get_connection_model(tenant_id, connection_id)
    if model is None or int(model.backfill_run or 0) != run:
        return
    now = current_time()
    actions = [
        ConnectionModel.status.set(status),
        ConnectionModel.backfill_finished_at.set(now),
        ConnectionModel.updated_at.set(now),
    ]
    if error_code:
        actions += [
            ConnectionModel.last_error_code.set(error_code),
            ConnectionModel.last_error_message.set(error_message or ""),
        ]
    else:
        actions += [ConnectionModel.last_error_code.remove(), ConnectionModel.last_error_message.remove()]
    if status == "active":
        actions += [
            ConnectionModel.gsi1pk.set(sync_shard(connection_id)),
            ConnectionModel.gsi1sk.set(f"{tenant_id}#{connection_id}"),
        ]
    else:
        actions += [ConnectionModel.gsi1pk.remove(), ConnectionModel.gsi1sk.remove()]
    try:
        # A connection disconnected (or superseded) while its backfill ran keeps that state.
        model.update(
            actions=actions,
            condition=(ConnectionModel.backfill_run == run) & (ConnectionModel.status == "backfilling"),
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise storage_error(exc) from exc


def mark_revoked(tenant_id: str, connection_id: str, *, code: str, message: str) -> None:
    """The key stopped working: out of the sync index, with a sentence for the UI (no retry storm)."""
    _update_connection(
        tenant_id,
        connection_id,
        [
            ConnectionModel.status.set("revoked"),
            ConnectionModel.last_error_code.set(code),
            ConnectionModel.last_error_message.set(message),
            ConnectionModel.gsi1pk.remove(),
            ConnectionModel.gsi1sk.remove(),
        ],
    )


def record_sync(tenant_id: str, connection_id: str, figures: dict) -> None:
    payload = json.dumps(figures, default=str, sort_keys=True)
    _update_connection(
        tenant_id,
        connection_id,
        [ConnectionModel.last_sync_at.set(current_time()), ConnectionModel.last_sync_json.set(payload)],
    )


def claim_manual_sync(tenant_id: str, connection_id: str, min_interval: timedelta) -> bool:
    """Rate limit for "sync now": True for at most one request per connection per `min_interval`."""
    now = current_time()
    condition = ConnectionModel.sync_requested_at.does_not_exist() | (
        ConnectionModel.sync_requested_at < now - min_interval
    )
    try:
        ConnectionModel(tenant_pk(tenant_id), f"CONN#{connection_id}").update(
            actions=[ConnectionModel.sync_requested_at.set(now)],
            condition=condition & ConnectionModel.pk.exists(),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise storage_error(exc) from exc
    return True


def disconnect(tenant_id: str, connection_id: str, *, purging: bool = False) -> None:
    """Stop syncing; with `purging`, mark the connection as being purged first, so a worker still running fences
    itself out (being_purged) and deletes what it wrote."""
    _update_connection(
        tenant_id,
        connection_id,
        [
            ConnectionModel.status.set(PURGING if purging else "disconnected"),
            ConnectionModel.gsi1pk.remove(),
            ConnectionModel.gsi1sk.remove(),
        ],
    )


def being_purged(tenant_id: str, connection_id: str) -> bool:
    """Whether a purge has taken (or is taking) the connection away: it is gone, or marked purging."""
    model = _get_connection_model(tenant_id, connection_id)
    return model is None or model.status == PURGING


def _update_connection(tenant_id: str, connection_id: str, actions: list) -> None:
    try:
        ConnectionModel(tenant_pk(tenant_id), f"CONN#{connection_id}").update(
            actions=[*actions, ConnectionModel.updated_at.set(current_time())], condition=ConnectionModel.pk.exists()
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise storage_error(exc) from exc


def list_active_connections(shard: int) -> Iterator[tuple[str, str]]:
    """(tenant_id, connection_id) of active connections in one sync shard (sparse index gsi1)."""
    for model in ConnectionModel.sync_index.query(f"SYNC#{shard:02d}"):
        yield model.tenant_id, model.connection_id


def plan_chunks(tenant_id: str, connection_id: str, run: int, chunks: Iterable[tuple[date, date]]) -> None:
    now = current_time()
    puts = [
        ChunkModel(
            connection_pk(tenant_id, connection_id),
            f"CHUNK#{start.isoformat()}",
            item_type="chunk",
            start=start.isoformat(),
            end=end.isoformat(),
            status="pending",
            run=run,
            updated_at=now,
        )
        for start, end in chunks
    ]
    batch_write(puts=[m.serialize() for m in puts])


def list_chunks(tenant_id: str, connection_id: str) -> list[ChunkProgress]:
    return [
        ChunkProgress(
            m.start,
            m.end,
            m.status,
            m.error_code,
            m.error_message,
            json.loads(m.source_json) if m.source_json else None,
        )
        for m in ChunkModel.query(connection_pk(tenant_id, connection_id), ChunkModel.sk.startswith("CHUNK#"))
    ]


def _json_or_none(text: str | None) -> dict | None:
    return json.loads(text) if text else None


def delete_chunks_not_in(tenant_id: str, connection_id: str, keep_starts: set[str]) -> None:
    stale = [
        m
        for m in ChunkModel.query(connection_pk(tenant_id, connection_id), ChunkModel.sk.startswith("CHUNK#"))
        if m.start not in keep_starts
    ]
    batch_write(deletes=[item_key(m.pk, m.sk) for m in stale])


def record_chunk(
    tenant_id: str,
    connection_id: str,
    start: str,
    *,
    status: str,
    end: str | None = None,
    figures: dict[str, int | str] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    actions = [
        ChunkModel.status.set(status),
        ChunkModel.updated_at.set(current_time()),
        ChunkModel.item_type.set("chunk"),
    ]
    if end:
        actions.append(ChunkModel.end.set(end))
    actions.append(ChunkModel.start.set(start))
    for name, value in (figures or {}).items():
        actions.append(getattr(ChunkModel, name).set(value))
    if error_code:
        actions += [ChunkModel.error_code.set(error_code), ChunkModel.error_message.set(error_message or "")]
    else:
        actions += [ChunkModel.error_code.remove(), ChunkModel.error_message.remove()]
    try:
        # Only a planned chunk is updated: a chunk of a run that outlived its connection's purge (or a re-plan) must
        # not leave a half item behind.
        ChunkModel(connection_pk(tenant_id, connection_id), f"CHUNK#{start}").update(
            actions=actions, condition=ChunkModel.sk.exists()
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise storage_error(exc) from exc
