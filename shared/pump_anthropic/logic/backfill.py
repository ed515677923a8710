"""The backfill: plan monthly chunks over 365 days, pull and store one chunk, and record the outcome."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from pump_anthropic.adapters.secret_store import SecretStore
from pump_anthropic.clock import utc_now
from pump_anthropic.domain.calendar import monthly_chunks
from pump_anthropic.exceptions import (
    ConflictError,
    ConnectionDisconnectedError,
    NotFoundError,
    PumpError,
    error_class,
)
from pump_anthropic.logic import sources
from pump_anthropic.logic.pull import ClientFactory
from pump_anthropic.logic.purge_fence import fence_out_purge
from pump_anthropic.logic.storage import Storage, dynamodb_storage

logger = logging.getLogger(__name__)

BACKFILL_DAYS = 365


@dataclass(frozen=True)
class Chunk:
    tenant_id: str
    connection_id: str
    run: int
    start: date
    end: date  # exclusive

    @classmethod
    def from_event(cls, event: dict) -> Chunk:
        return cls(
            event["tenant_id"],
            event["connection_id"],
            int(event["run"]),
            date.fromisoformat(event["start"]),
            date.fromisoformat(event["end"]),
        )

    def as_event(self) -> dict:
        return {
            "tenant_id": self.tenant_id,
            "connection_id": self.connection_id,
            "run": self.run,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


def plan_backfill(
    tenant_id: str,
    connection_id: str,
    run: int,
    mode: str,
    *,
    today: date | None = None,
    storage: Storage | None = None,
) -> list[Chunk]:
    """Monthly chunks covering the last 365 UTC days through today (today's partial day included).

    mode "failed_only" re-plans just the chunks not yet done (POST .../backfill after an `error`).
    A run that is no longer the connection's current one plans nothing, so it cannot reset the current run's chunks.
    """
    storage = storage or dynamodb_storage()
    connection = storage.connections.get_connection(tenant_id, connection_id, with_chunks=False)
    if connection is None:
        raise NotFoundError("Connection vanished before its backfill started.")
    if connection.backfill_run != run:
        logger.info("superseded backfill run plans nothing", extra={"run": run, "current_run": connection.backfill_run})
        return []
    if mode == "failed_only":
        windows = [
            (date.fromisoformat(c.start), date.fromisoformat(c.end))
            for c in storage.connections.list_chunks(tenant_id, connection_id)
            if c.status != "done"
        ]
    else:
        today = today or utc_now().date()
        windows = monthly_chunks(today - timedelta(days=BACKFILL_DAYS - 1), today)
        storage.connections.delete_chunks_not_in(tenant_id, connection_id, {start.isoformat() for start, _ in windows})
    storage.connections.plan_chunks(tenant_id, connection_id, run, windows)
    if windows:  # a purge that landed since the check above must not find these chunk records left behind
        first, last = min(s for s, _ in windows), max(e for _, e in windows) - timedelta(days=1)
        fence_out_purge(storage, tenant_id, connection_id, first, last)
    # Newest month first: the Map starts chunks in this order, so recent spend shows up first.
    return [Chunk(tenant_id, connection_id, run, start, end) for start, end in sorted(windows, reverse=True)]


@dataclass(frozen=True)
class ChunkResult:
    start: str
    end: str
    status: str
    items_written: int
    items_unchanged: int
    items_deleted: int
    anthropic_requests: int
    anthropic_retries: int = 0

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def run_chunk(
    chunk: Chunk,
    *,
    secrets: SecretStore,
    client_factory: ClientFactory,
    deadline: float | None,
    source: str = sources.AUTO,
    storage: Storage | None = None,
) -> ChunkResult:
    """Pull one chunk's days from the source `source` picks for each, and make the stored days equal to them.

    Retriable failures raise (the state machine retries them); non-retriable ones are recorded on the chunk and
    raise too, so the Map's Catch lists the chunk as failed.
    """
    storage = storage or dynamodb_storage()
    connection = storage.connections.get_connection(chunk.tenant_id, chunk.connection_id, with_chunks=False)
    if connection is None:
        raise NotFoundError("Connection vanished during its backfill.")
    if connection.status == "disconnected":
        raise ConnectionDisconnectedError("The connection was disconnected; its backfill stops here.")
    if connection.backfill_run != chunk.run:
        raise ConflictError("A newer backfill run replaced this one; this run stops here.", code="backfill_superseded")
    start, end = chunk.start.isoformat(), chunk.end.isoformat()
    storage.connections.record_chunk(chunk.tenant_id, chunk.connection_id, start, end=end, status="running")
    try:
        # Named from the chunk's own connection id, never from a field of the table someone could point elsewhere.
        key = secrets.get(secrets.secret_name(chunk.connection_id))
        pulled = sources.pull_connection_days(
            storage, chunk.tenant_id, chunk.connection_id, key, client_factory, deadline, chunk.start, chunk.end,
            source=source,
        )  # fmt: skip
        figures = storage.costs.store_days(
            chunk.tenant_id, chunk.connection_id, chunk.start, chunk.end - timedelta(days=1), pulled.days
        )
        fence_out_purge(storage, chunk.tenant_id, chunk.connection_id, chunk.start, chunk.end - timedelta(days=1))
    except PumpError as exc:
        storage.connections.record_chunk(
            chunk.tenant_id,
            chunk.connection_id,
            start,
            status="running",
            error_code=exc.code,
            error_message=exc.message,
        )
        raise
    requests_made = pulled.anthropic_requests
    result = ChunkResult(
        start, end, "done", figures.written, figures.unchanged, figures.deleted, requests_made, pulled.anthropic_retries
    )
    figures_dict = {**figures.as_dict(), "anthropic_requests": requests_made}
    logger.info(
        "backfill chunk stored",
        extra={"chunk_start": start, **figures_dict, "requests_by_query_set": pulled.requests_by_query_set},
    )
    figures_dict["source_json"] = json.dumps(sources.coverage_of(pulled))
    storage.connections.record_chunk(chunk.tenant_id, chunk.connection_id, start, status="done", figures=figures_dict)
    return result


@dataclass(frozen=True)
class FinalizeOutcome:
    status: str
    chunks_total: int
    chunks_failed: list[str]


def finalize_backfill(
    tenant_id: str,
    connection_id: str,
    run: int,
    results: list[dict],
    run_error: str | None = None,
    *,
    storage: Storage | None = None,
) -> FinalizeOutcome:
    """Record failed chunks and settle the connection: active, error (retryable) or revoked.

    `run_error` is set when planning or the Map itself failed (no per-chunk results). A run that is no longer the
    connection's current one (a newer run was claimed, or the connection was purged) records nothing.
    """
    storage = storage or dynamodb_storage()
    connection = storage.connections.get_connection(tenant_id, connection_id, with_chunks=False)
    if connection is None or connection.backfill_run != run or connection.status == "purging":
        logger.info("superseded backfill run settles nothing", extra={"run": run})
        return FinalizeOutcome("superseded", 0, [])
    failures = [r for r in results if r.get("status") == "failed"]
    for failure in failures:
        code, message = _failure_reason(failure)
        storage.connections.record_chunk(
            tenant_id, connection_id, failure["start"], status="failed", error_code=code, error_message=message
        )
    chunks = storage.connections.list_chunks(tenant_id, connection_id)
    failed = [c for c in chunks if c.status != "done"]
    auth_failures = [f for f in failures if _revokes_connection(f.get("error"))]
    if auth_failures:
        code, message = _failure_reason(auth_failures[0])
        status = "revoked"
        message = (
            "Anthropic no longer accepts this Admin key (it was deleted or lost access), so syncing stopped. "
            "Create a new Admin key and reconnect."
        )
    elif run_error:
        status, code = "error", "backfill_failed"
        message = (
            f"The backfill stopped before finishing ({run_error}). "
            "Retry it with POST /integrations/anthropic/{id}/backfill."
        )
    elif failed:
        status, code = "error", "backfill_incomplete"
        months = ", ".join(c.start[:7] for c in failed)
        message = (
            f"{len(failed)} of {len(chunks)} months could not be fetched from Anthropic ({months}). "
            "Retry them with POST /integrations/anthropic/{id}/backfill."
        )
    else:
        status, code, message = "active", None, None
    storage.connections.finish_backfill(
        tenant_id, connection_id, run=run, status=status, error_code=code, error_message=message
    )
    if status == "active":
        storage.costs.advance_sync_cursor(tenant_id, connection_id, utc_now().date())
    if storage.connections.being_purged(tenant_id, connection_id):  # a purge landed while this settled
        today = utc_now().date()
        storage.connections.purge_window(tenant_id, connection_id, today, today)  # its chunk and sync records
        return FinalizeOutcome("superseded", 0, [])
    return FinalizeOutcome(status, len(chunks), [c.start for c in failed])


def _revokes_connection(error_name: str | None) -> bool:
    cls = error_class(error_name or "")
    return cls is not None and cls.revokes_connection


def _failure_reason(failure: dict) -> tuple[str, str]:
    """A code and a sentence for a failed chunk, from what the Catch gives: Error (the exception's class name) and
    Cause (the Lambda error JSON). Only our own errors' sentences are shown to the tenant; anything else (an AWS SDK
    error, a bug) can carry account ids and ARNs, so it becomes a generic sentence and stays in our logs."""
    name = failure.get("error") or "Unknown"
    cls = error_class(name)
    if cls is None:
        logger.error("backfill chunk failed unexpectedly", extra={"error": name, "chunk_start": failure.get("start")})
        return "chunk_failed", "This month could not be fetched because of an error on our side; retry the backfill."
    message = None
    try:
        message = json.loads(failure.get("cause") or "{}").get("errorMessage")
    except (TypeError, ValueError, AttributeError):
        message = None
    return cls.code, (message or f"This month could not be fetched ({cls.code}).")[:500]
