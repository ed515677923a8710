"""Repository functions over the single DynamoDB table. The only module that knows keys and PynamoDB."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.connection import TableConnection
from pynamodb.exceptions import PutError, PynamoDBException, UpdateError
from pynamodb.expressions.condition import Condition

from pump_anthropic.allocation import KeyShare, home_workspace
from pump_anthropic.clock import utc_now
from pump_anthropic.dal.models import (
    ALL_MODELS,
    ApiKeyModel,
    ChunkModel,
    ConnectionModel,
    CostItemModel,
    RollupModel,
    SyncStateModel,
    WorkspaceModel,
)
from pump_anthropic.exceptions import PumpError
from pump_anthropic.normalize import CostItem
from pump_anthropic.rollups import (
    KEY_LINE_DIMENSIONS,
    LINE_DIMENSIONS,
    Rollup,
    build_key_rollups,
    build_rollups,
    parse_lines,
)

SYNC_SHARDS = 16
BATCH_SIZE = 25
IN_FLIGHT_BACKFILL = timedelta(minutes=15)


class StorageThrottledError(PumpError):
    """DynamoDB kept throttling or leaving items unprocessed: retriable, nothing was silently dropped."""

    code = "storage_throttled"
    http_status = 503
    retriable = True


@dataclass
class WriteStats:
    """DynamoDB requests made by this process (for progress figures and benchmarks)."""

    batch_requests: int = 0
    items_put: int = 0
    items_deleted: int = 0


STATS = WriteStats()


# ---------------------------------------------------------------- binding


def bind(table_name: str, *, region: str | None = None, host: str | None = None) -> None:
    """Point every model at a table; call before first use (handlers do it once per cold start)."""
    for model in ALL_MODELS:
        model.Meta.table_name = table_name
        if region:
            model.Meta.region = region
        model.Meta.host = host
        model._connection = None


def create_table() -> None:
    """Create the table with its index (local runtime and tests; in AWS the template owns it)."""
    if not ConnectionModel.exists():
        ConnectionModel.create_table(billing_mode="PAY_PER_REQUEST", wait=True)


def _table() -> TableConnection:
    # The model's cached connection knows the table's key schema, which raw batch writes and queries need.
    return ConnectionModel._get_connection()


# ---------------------------------------------------------------- keys


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def connection_pk(tenant_id: str, connection_id: str) -> str:
    return f"TENANT#{tenant_id}#CONN#{connection_id}"


def items_pk(tenant_id: str, connection_id: str, month: str) -> str:
    return f"{connection_pk(tenant_id, connection_id)}#MONTH#{month}"


def rollups_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#ROLLUP"


def _sync_shard(connection_id: str) -> str:
    return f"SYNC#{int(hashlib.sha256(connection_id.encode()).hexdigest(), 16) % SYNC_SHARDS:02d}"


def _now() -> datetime:
    return utc_now()


# ---------------------------------------------------------------- connections


@dataclass(frozen=True)
class ChunkProgress:
    start: str
    end: str
    status: str
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class ConnectionRecord:
    tenant_id: str
    connection_id: str
    status: str
    organization_id: str
    organization_name: str
    key_hint: str
    secret_id: str
    created_at: datetime
    updated_at: datetime
    backfill_run: int
    backfill_started_at: datetime | None
    backfill_finished_at: datetime | None
    last_sync_at: datetime | None
    last_error_code: str | None
    last_error_message: str | None
    last_sync: dict | None = None
    chunks: tuple[ChunkProgress, ...] = field(default=())


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
    now = _now()
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
    model.backfill_run = previous_run + 1
    model.backfill_started_at = now
    model.backfill_finished_at = None
    model.last_error_code = None
    model.last_error_message = None
    model.gsi1pk = None
    model.gsi1sk = None
    try:
        model.save(condition=_may_start_backfill(existing, previous_run, now))
    except PutError as exc:
        if _condition_failed(exc):
            current = _get_connection_model(tenant_id, connection_id)
            if current is not None:
                _refresh_key_fields(current, key_hint=key_hint, secret_id=secret_id)
                return _record(current, list_chunks(tenant_id, connection_id)), False
        raise _storage_error(exc) from exc
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
            ConnectionModel.updated_at.set(_now()),
        ]
    )


def claim_backfill_retry(tenant_id: str, connection_id: str) -> ConnectionRecord | None:
    """Start a new run that retries only the failed chunks; None if a backfill is in flight."""
    model = _get_connection_model(tenant_id, connection_id)
    if model is None:
        return None
    now = _now()
    previous_run = int(model.backfill_run or 0)
    try:
        model.update(
            actions=[
                ConnectionModel.status.set("backfilling"),
                ConnectionModel.backfill_run.set(previous_run + 1),
                ConnectionModel.backfill_started_at.set(now),
                ConnectionModel.backfill_finished_at.remove(),
                ConnectionModel.updated_at.set(now),
            ],
            condition=_may_start_backfill(model, previous_run, now),
        )
    except UpdateError as exc:
        if _condition_failed(exc):
            return None
        raise _storage_error(exc) from exc
    return _record(model)


def finish_backfill(
    tenant_id: str, connection_id: str, *, run: int, status: str, error_code: str | None, error_message: str | None
) -> None:
    """Record the outcome of backfill run `run`; a stale run (superseded by a newer one) changes nothing."""
    model = _get_connection_model(tenant_id, connection_id)
    if model is None or int(model.backfill_run or 0) != run:
        return
    now = _now()
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
            ConnectionModel.gsi1pk.set(_sync_shard(connection_id)),
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
        if not _condition_failed(exc):
            raise _storage_error(exc) from exc


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
        [ConnectionModel.last_sync_at.set(_now()), ConnectionModel.last_sync_json.set(payload)],
    )


def claim_manual_sync(tenant_id: str, connection_id: str, min_interval: timedelta) -> bool:
    """Rate limit for "sync now": True for at most one request per connection per `min_interval`."""
    now = _now()
    condition = ConnectionModel.sync_requested_at.does_not_exist() | (
        ConnectionModel.sync_requested_at < now - min_interval
    )
    try:
        ConnectionModel(tenant_pk(tenant_id), f"CONN#{connection_id}").update(
            actions=[ConnectionModel.sync_requested_at.set(now)],
            condition=condition & ConnectionModel.pk.exists(),
        )
    except UpdateError as exc:
        if _condition_failed(exc):
            return False
        raise _storage_error(exc) from exc
    return True


def disconnect(tenant_id: str, connection_id: str) -> None:
    _update_connection(
        tenant_id,
        connection_id,
        [
            ConnectionModel.status.set("disconnected"),
            ConnectionModel.gsi1pk.remove(),
            ConnectionModel.gsi1sk.remove(),
        ],
    )


def _update_connection(tenant_id: str, connection_id: str, actions: list) -> None:
    try:
        ConnectionModel(tenant_pk(tenant_id), f"CONN#{connection_id}").update(
            actions=[*actions, ConnectionModel.updated_at.set(_now())], condition=ConnectionModel.pk.exists()
        )
    except UpdateError as exc:
        if not _condition_failed(exc):
            raise _storage_error(exc) from exc


def purge_cost_data(tenant_id: str, connection_id: str, first_day: date, last_day: date) -> int:
    """Delete the connection's cost items and rollups in [first_day, last_day]; returns items deleted."""
    return replace_days(tenant_id, connection_id, first_day, last_day, []).deleted


def list_active_connections(shard: int) -> Iterator[tuple[str, str]]:
    """(tenant_id, connection_id) of active connections in one sync shard (sparse index gsi1)."""
    for model in ConnectionModel.sync_index.query(f"SYNC#{shard:02d}"):
        yield model.tenant_id, model.connection_id


# ---------------------------------------------------------------- backfill chunks


def plan_chunks(tenant_id: str, connection_id: str, run: int, chunks: Iterable[tuple[date, date]]) -> None:
    now = _now()
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
    _batch_write(puts=[m.serialize() for m in puts])


def list_chunks(tenant_id: str, connection_id: str) -> list[ChunkProgress]:
    return [
        ChunkProgress(m.start, m.end, m.status, m.error_code, m.error_message)
        for m in ChunkModel.query(connection_pk(tenant_id, connection_id), ChunkModel.sk.startswith("CHUNK#"))
    ]


def delete_chunks_not_in(tenant_id: str, connection_id: str, keep_starts: set[str]) -> None:
    stale = [
        m
        for m in ChunkModel.query(connection_pk(tenant_id, connection_id), ChunkModel.sk.startswith("CHUNK#"))
        if m.start not in keep_starts
    ]
    _batch_write(deletes=[_key(m.pk, m.sk) for m in stale])


def record_chunk(
    tenant_id: str,
    connection_id: str,
    start: str,
    *,
    status: str,
    end: str | None = None,
    figures: dict[str, int] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    actions = [ChunkModel.status.set(status), ChunkModel.updated_at.set(_now()), ChunkModel.item_type.set("chunk")]
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
        ChunkModel(connection_pk(tenant_id, connection_id), f"CHUNK#{start}").update(actions=actions)
    except UpdateError as exc:
        raise _storage_error(exc) from exc


# ---------------------------------------------------------------- workspaces


def put_workspaces(tenant_id: str, connection_id: str, workspaces: Iterable[tuple[str, str, bool]]) -> None:
    """Store workspace names, writing only new or renamed ones; a vanished workspace keeps its name for history."""
    pk = connection_pk(tenant_id, connection_id)
    desired = {
        m.sk: m.serialize()
        for m in (
            WorkspaceModel(
                pk, f"WORKSPACE#{ws_id}", item_type="workspace", workspace_id=ws_id, name=name, archived=archived
            )
            for ws_id, name, archived in workspaces
        )
    }
    existing = _existing(pk, "WORKSPACE#", "WORKSPACE#~")
    _batch_write(puts=[attrs for sk, attrs in desired.items() if existing.get(sk) != attrs])


def put_api_keys(tenant_id: str, connection_id: str, api_keys: Iterable[dict]) -> None:
    """Store API key names, hints and home workspaces, writing only what changed; a deleted key keeps its name."""
    pk = connection_pk(tenant_id, connection_id)
    desired = {
        m.sk: m.serialize()
        for m in (
            ApiKeyModel(
                pk,
                f"APIKEY#{key['id']}",
                item_type="api_key",
                api_key_id=key["id"],
                name=key.get("name") or key["id"],
                partial_key_hint=key.get("partial_key_hint"),
                status=key.get("status"),
                **_home_attributes(key),
            )
            for key in api_keys
        )
    }
    existing = _existing(pk, "APIKEY#", "APIKEY#~")
    _batch_write(puts=[attrs for sk, attrs in desired.items() if existing.get(sk) != attrs])


def _home_attributes(key: dict) -> dict:
    """The key's home workspace, kept so a later sync can place keys without reading the key list."""
    placed, workspace_id = home_workspace(key)
    return {"in_workspace": placed, "workspace_id": workspace_id}


def api_keys(tenant_id: str, connection_id: str) -> list[dict]:
    """The stored key list, shaped like the API's where `allocation.home_workspace` reads it."""
    return [
        {"id": m.api_key_id, "name": m.name, "workspace_id": m.workspace_id, "scope": _stored_scope(m)}
        for m in ApiKeyModel.query(connection_pk(tenant_id, connection_id), ApiKeyModel.sk.startswith("APIKEY#"))
    ]


def _stored_scope(m: ApiKeyModel) -> dict | None:
    if m.in_workspace is None:
        return None  # stored before placement was kept: the deprecated workspace_id rule applies
    return {"type": "workspace", "workspace_id": m.workspace_id} if m.in_workspace else {"type": "not_placed"}


def api_key_names(tenant_id: str, connection_ids: Iterable[str]) -> dict[str, dict]:
    """api_key_id → {"name", "hint", "status"} across the tenant's connections."""
    names: dict[str, dict] = {}
    for connection_id in connection_ids:
        for m in ApiKeyModel.query(connection_pk(tenant_id, connection_id), ApiKeyModel.sk.startswith("APIKEY#")):
            names[m.api_key_id] = {"name": m.name, "hint": m.partial_key_hint, "status": m.status}
    return names


def workspace_names(tenant_id: str, connection_ids: Iterable[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for connection_id in connection_ids:
        pk = connection_pk(tenant_id, connection_id)
        for m in WorkspaceModel.query(pk, WorkspaceModel.sk.startswith("WORKSPACE#")):
            if m.workspace_id:
                names[m.workspace_id] = m.name
    return names


# ---------------------------------------------------------------- sync state


def get_sync_cursor(tenant_id: str, connection_id: str) -> date | None:
    try:
        state = SyncStateModel.get(connection_pk(tenant_id, connection_id), "SYNC", consistent_read=True)
    except SyncStateModel.DoesNotExist:
        return None
    return date.fromisoformat(state.cursor) if state.cursor else None


def advance_sync_cursor(tenant_id: str, connection_id: str, cursor: date) -> None:
    """Move the cursor forward only (a slower concurrent writer never moves it back)."""
    state = SyncStateModel(connection_pk(tenant_id, connection_id), "SYNC")
    try:
        state.update(
            actions=[SyncStateModel.cursor.set(cursor.isoformat()), SyncStateModel.item_type.set("sync_state")],
            condition=SyncStateModel.cursor.does_not_exist() | (SyncStateModel.cursor < cursor.isoformat()),
        )
    except UpdateError as exc:
        if not _condition_failed(exc):
            raise _storage_error(exc) from exc


# ---------------------------------------------------------------- cost items and rollups


@dataclass
class DayWriteFigures:
    written: int = 0
    unchanged: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"items_written": self.written, "items_unchanged": self.unchanged, "items_deleted": self.deleted}


def _cost_item_model(tenant_id: str, connection_id: str, item: CostItem) -> CostItemModel:
    return CostItemModel(
        items_pk(tenant_id, connection_id, item.date.strftime("%Y-%m")),
        f"ITEM#{item.date.isoformat()}#{item.item_id}",
        item_type="cost_item",
        date=item.date.isoformat(),
        item_id=item.item_id,
        workspace_id=item.workspace_id,
        model=item.model,
        cost_type=item.cost_type,
        token_type=item.token_type,
        service_tier=item.service_tier,
        context_window=item.context_window,
        inference_geo=item.inference_geo,
        cost_usd=item.cost_usd,
        amount_cents=item.amount_cents,
        quantity=item.quantity,
        unit=item.unit,
        description=item.description,
        currency=item.currency,
    )


ROLLUP_PREFIX = "DAY#"
KEY_ROLLUP_PREFIX = "KEYDAY#"


def _rollup_model(tenant_id: str, connection_id: str, rollup: Rollup, prefix: str = ROLLUP_PREFIX) -> RollupModel:
    return RollupModel(
        rollups_pk(tenant_id),
        f"{prefix}{rollup.date.isoformat()}#CONN#{connection_id}#P{rollup.part:02d}",
        item_type="rollup",
        date=rollup.date.isoformat(),
        connection_id=connection_id,
        lines=rollup.lines_json(),
    )


def replace_days(
    tenant_id: str,
    connection_id: str,
    first_day: date,
    last_day: date,
    items: Iterable[CostItem],
    key_shares: Iterable[KeyShare] = (),
) -> DayWriteFigures:
    """Make the stored items and rollups of [first_day, last_day] equal `items`.

    Writes only what changed and deletes what vanished (Anthropic restates recent days), so re-running a chunk
    leaves the table identical and a quiet re-pull costs reads, not writes. `key_shares` (the per-API-key
    allocation of `items`) become the days' API-key rollups.
    """
    items = [i for i in items if first_day <= i.date <= last_day]
    desired = {m.sk: m.serialize() for m in (_cost_item_model(tenant_id, connection_id, i) for i in items)}
    figures = DayWriteFigures()
    puts: list[dict] = []
    deletes: list[dict] = []
    for month in _months(first_day, last_day):
        pk = items_pk(tenant_id, connection_id, month)
        existing = _existing(pk, f"ITEM#{first_day.isoformat()}", f"ITEM#{last_day.isoformat()}~")
        _diff(pk, {k: v for k, v in desired.items() if k[5:12] == month}, existing, puts, deletes, figures)

    for prefix, rollups in (
        (ROLLUP_PREFIX, build_rollups(items)),
        (KEY_ROLLUP_PREFIX, build_key_rollups(s for s in key_shares if first_day <= s.item.date <= last_day)),
    ):
        desired_rollups = {
            m.sk: m.serialize() for m in (_rollup_model(tenant_id, connection_id, r, prefix) for r in rollups)
        }
        existing_rollups = {
            sk: raw
            for sk, raw in _existing(
                rollups_pk(tenant_id), f"{prefix}{first_day.isoformat()}", f"{prefix}{last_day.isoformat()}~"
            ).items()
            if f"#CONN#{connection_id}#" in sk
        }
        _diff(rollups_pk(tenant_id), desired_rollups, existing_rollups, puts, deletes, DayWriteFigures())
    _batch_write(puts=puts, deletes=deletes)
    return figures


def _months(first_day: date, last_day: date) -> list[str]:
    months = []
    day = first_day.replace(day=1)
    while day <= last_day:
        months.append(day.strftime("%Y-%m"))
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _existing(pk: str, sk_from: str, sk_to: str) -> dict[str, dict]:
    """Raw stored items (attribute maps) of one partition's key range, keyed by sk."""
    table = _table()
    found: dict[str, dict] = {}
    last_key = None
    while True:
        page = table.query(
            pk,
            range_key_condition=_between_condition(sk_from, sk_to),
            exclusive_start_key=last_key,
            consistent_read=True,
        )
        for raw in page.get("Items", []):
            found[raw["sk"]["S"]] = raw
        last_key = page.get("LastEvaluatedKey")
        if not last_key:
            return found


def _between_condition(sk_from: str, sk_to: str) -> Condition:
    return CostItemModel.sk.between(sk_from, sk_to)


def _diff(
    pk: str,
    desired: dict[str, dict],
    existing: dict[str, dict],
    puts: list[dict],
    deletes: list[dict],
    figures: DayWriteFigures,
) -> None:
    for sk, attributes in desired.items():
        if existing.get(sk) == attributes:
            figures.unchanged += 1
        else:
            puts.append(attributes)
            figures.written += 1
    for sk in existing.keys() - desired.keys():
        deletes.append(_key(pk, sk))
        figures.deleted += 1


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def iter_cost_items(tenant_id: str, connection_id: str, first_day: date, last_day: date) -> Iterator[CostItem]:
    for month in _months(first_day, last_day):
        query = CostItemModel.query(
            items_pk(tenant_id, connection_id, month),
            CostItemModel.sk.between(f"ITEM#{first_day.isoformat()}", f"ITEM#{last_day.isoformat()}~"),
        )
        for m in query:
            yield CostItem(
                date=date.fromisoformat(m.date),
                workspace_id=m.workspace_id,
                model=m.model,
                cost_type=m.cost_type,
                token_type=m.token_type,
                service_tier=m.service_tier,
                context_window=m.context_window,
                inference_geo=m.inference_geo,
                cost_usd=m.cost_usd,
                amount_cents=m.amount_cents,
                quantity=int(m.quantity) if m.quantity is not None else None,
                unit=m.unit,
                description=m.description,
                currency=m.currency,
            )


@dataclass(frozen=True)
class StoredRollup:
    date: date
    connection_id: str
    dimensions: tuple[str, ...]
    lines: list


def iter_rollups(
    tenant_id: str, first_day: date, last_day: date, *, by_api_key: bool = False
) -> Iterator[StoredRollup]:
    """The tenant's rollups of [first_day, last_day]: cost lines, or with `by_api_key` the per-key lines."""
    prefix, dimensions = (KEY_ROLLUP_PREFIX, KEY_LINE_DIMENSIONS) if by_api_key else (ROLLUP_PREFIX, LINE_DIMENSIONS)
    query = RollupModel.query(
        rollups_pk(tenant_id),
        RollupModel.sk.between(f"{prefix}{first_day.isoformat()}", f"{prefix}{last_day.isoformat()}~"),
    )
    for m in query:
        yield StoredRollup(date.fromisoformat(m.date), m.connection_id, dimensions, parse_lines(m.lines))


# ---------------------------------------------------------------- batch writes


def _batch_write(
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
    table = _table()
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
        if _throttled(exc):
            return batch
        raise _storage_error(exc) from exc
    STATS.batch_requests += 1
    unprocessed = (response or {}).get("UnprocessedItems", {}).get(table.table_name, [])
    STATS.items_put += len(puts) - sum(1 for r in unprocessed if "PutRequest" in r)
    STATS.items_deleted += len(deletes) - sum(1 for r in unprocessed if "DeleteRequest" in r)
    return unprocessed


def _condition_failed(exc: PynamoDBException) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def _throttled(exc: PynamoDBException) -> bool:
    return getattr(exc, "cause_response_code", None) in {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    }


def _storage_error(exc: PynamoDBException) -> PumpError:
    if _throttled(exc):
        return StorageThrottledError("DynamoDB is throttling writes; the operation will be retried.")
    return PumpError(f"Storage operation failed ({getattr(exc, 'cause_response_code', None) or 'unknown'}).")


def raw_items() -> list[dict[str, Any]]:
    """Every item in the table (tests and the key-leak audit only; a full scan)."""
    table = _table()
    items: list[dict[str, Any]] = []
    last_key = None
    while True:
        page = table.scan(exclusive_start_key=last_key)
        items.extend(page.get("Items", []))
        last_key = page.get("LastEvaluatedKey")
        if not last_key:
            return items
