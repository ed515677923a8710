"""Routes of /integrations/anthropic: connect, list, show, retry the backfill."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, SecretStr

from pump_anthropic import wiring
from pump_anthropic.api.powertools import json_body_is_not_an_object
from pump_anthropic.api.request import tenant_id
from pump_anthropic.api.responses import json_response
from pump_anthropic.api.schemas import Connection, ConnectionList, errors, ok, unsupported_media_type
from pump_anthropic.domain.records import ConnectionRecord
from pump_anthropic.exceptions import (
    ANTHROPIC_ERRORS,
    STORAGE_ERRORS,
    BackfillStartError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SecretStoreUnavailableError,
    SyncQueueUnavailableError,
    SyncRateLimitedError,
    TenantRateLimitedError,
)
from pump_anthropic.logic import connections, guard
from pump_anthropic.logic.sources import source_coverage
from pump_anthropic.settings import settings

router = APIGatewayHttpRouter()
PURGE_KEEPS = (
    "Nothing of this connection is kept in Pump: its costs, names, key hint, backfill history and record are "
    "deleted, and its Admin key was deleted without a recovery window. Our logs keep its ids and counts (never the "
    "key or cost figures) for their retention period, the table's point-in-time recovery keeps earlier states for "
    "up to 35 days, and export files made before the purge expire 7 days after they were made."
)
ConnectionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class ConnectBody(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    admin_key: SecretStr


def _iso(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _last_day(record: ConnectionRecord) -> str | None:
    """Chunks are [start, end): the last covered day is the day before the latest end."""
    end = max((c.end for c in record.chunks), default=None)
    return (date.fromisoformat(end) - timedelta(days=1)).isoformat() if end else None


def connection_body(record: ConnectionRecord) -> dict:
    done = sum(1 for c in record.chunks if c.status == "done")
    failed = [c for c in record.chunks if c.status == "failed"]
    return {
        "id": record.connection_id,
        "status": record.status,
        "organization": {"id": record.organization_id, "name": record.organization_name},
        "key_hint": record.key_hint,
        "backfill": {
            "chunks_total": len(record.chunks),
            "chunks_done": done,
            "chunks_failed": len(failed),
            "failed_chunks": [
                {"start": c.start, "end": c.end, "error": {"code": c.error_code, "message": c.error_message}}
                for c in failed
            ],
            "from": min((c.start for c in record.chunks), default=None),
            "to": _last_day(record),
            "started_at": _iso(record.backfill_started_at),
            "finished_at": _iso(record.backfill_finished_at),
        },
        "last_sync_at": _iso(record.last_sync_at),
        "last_sync": record.last_sync,
        "last_error": (
            {"code": record.last_error_code, "message": record.last_error_message} if record.last_error_code else None
        ),
        "cost_source": cost_source_body(record),
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
    }


def cost_source_body(record: ConnectionRecord) -> dict:
    """Which API covers which stored days: the backfill's chunks, then what the latest sync re-read."""
    ranges: list[dict] = []
    refreshed: list[str] = []
    for chunk in sorted(record.chunks, key=lambda c: c.start):
        if chunk.source:
            ranges += chunk.source.get("sources") or []
            refreshed += [chunk.source["data_refreshed_at"]] if chunk.source.get("data_refreshed_at") else []
    last_sync = record.last_sync or {}
    ranges += last_sync.get("sources") or []
    if last_sync.get("data_refreshed_at"):
        refreshed.append(last_sync["data_refreshed_at"])
    return {
        "setting": settings().cost_source,
        "coverage": source_coverage(ranges),
        "data_refreshed_at": max(refreshed, default=None),
    }


@router.post(
    "/integrations/anthropic",
    summary="Connect an Anthropic organization with an Admin API key",
    responses={
        **ok(202, Connection, "Connected: the key is stored and the backfill has started"),
        **errors(
            *ANTHROPIC_ERRORS, *STORAGE_ERRORS, SecretStoreUnavailableError, BackfillStartError, TenantRateLimitedError
        ),
        **unsupported_media_type(),
    },
)
def connect(body: ConnectBody) -> Response[dict]:
    if json_body_is_not_an_object(router.current_event):
        raise InvalidInputError(
            "The request is invalid (body: a JSON object is expected); "
            "send a JSON body with Content-Type: application/json."
        )
    record = connections.connect(tenant_id(router), body.admin_key, wiring.connect_services())
    return json_response(202, connection_body(record))


@router.get(
    "/integrations/anthropic",
    summary="List the tenant's Anthropic connections",
    responses={**ok(200, ConnectionList, "The tenant's connections"), **errors(*STORAGE_ERRORS)},
)
def list_connections() -> Response[dict]:
    records = connections.list_connections(tenant_id(router))
    return json_response(200, {"connections": [connection_body(r) for r in records]})


@router.get(
    "/integrations/anthropic/<connection_id>",
    summary="Show one connection with its backfill progress",
    responses={**ok(200, Connection, "The connection"), **errors(NotFoundError, *STORAGE_ERRORS)},
)
def get_connection(connection_id: ConnectionId) -> Response[dict]:
    tenant = tenant_id(router)
    body = connection_body(connections.get_connection(tenant, connection_id))
    return json_response(200, {**body, "spend_limits": guard.connection_spend_limits(tenant, connection_id)})


@router.post(
    "/integrations/anthropic/<connection_id>/backfill",
    summary="Retry the months that failed",
    responses={
        **ok(202, Connection, "The failed months are being fetched again"),
        **errors(NotFoundError, ConflictError, BackfillStartError, *STORAGE_ERRORS),
    },
)
def retry_backfill(connection_id: ConnectionId) -> Response[dict]:
    record = connections.retry_backfill(tenant_id(router), connection_id, wiring.backfill_launcher())
    return json_response(202, connection_body(record))


@router.delete(
    "/integrations/anthropic/<connection_id>",
    summary="Disconnect: stop syncing and delete the stored key",
    responses={
        **ok(200, Connection, "Disconnected"),
        **errors(NotFoundError, SecretStoreUnavailableError, *STORAGE_ERRORS),
    },
)
def disconnect(connection_id: ConnectionId, purge: Annotated[bool, Query()] = False) -> Response[dict]:
    record, items_deleted = connections.disconnect(
        tenant_id(router), connection_id, purge=purge, secrets=wiring.secret_store()
    )
    body = connection_body(record)
    if items_deleted is not None:
        body["purge"] = {"items_deleted": items_deleted, "kept": PURGE_KEEPS}
    return json_response(200, body)


@router.post(
    "/integrations/anthropic/<connection_id>/sync",
    summary="Sync now (at most once a minute)",
    responses={
        **ok(202, Connection, "A sync is queued"),
        **errors(
            NotFoundError,
            ConflictError,
            SyncRateLimitedError,
            TenantRateLimitedError,
            SyncQueueUnavailableError,
            *STORAGE_ERRORS,
        ),
    },
)
def sync_now(connection_id: ConnectionId) -> Response[dict]:
    record = connections.request_sync(tenant_id(router), connection_id, wiring.sync_queue())
    return json_response(202, connection_body(record))
