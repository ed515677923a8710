"""The backfill: plan monthly chunks over 365 days, pull and store one chunk, and record the outcome."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import SecretStr

from pump_anthropic.admin_api import AdminApiClient
from pump_anthropic.allocation import (
    KEY_USAGE_GROUP_BY,
    KEY_WORKSPACE_GROUP_BY,
    KeyHomes,
    KeyShare,
    allocate,
    unlisted_key,
    used_keys,
)
from pump_anthropic.aws import SecretStore
from pump_anthropic.clock import day_start, monthly_chunks, utc_now
from pump_anthropic.dal import repository as repo
from pump_anthropic.exceptions import NotFoundError, PumpError
from pump_anthropic.normalize import COST_GROUP_BY, USAGE_GROUP_BY, CostItem, normalize

logger = logging.getLogger(__name__)

BACKFILL_DAYS = 365
AUTH_ERRORS = {"AdminApiAuthError", "AdminApiPermissionError", "SecretNotFoundError"}


class ConnectionDisconnectedError(PumpError):
    code = "connection_disconnected"
    http_status = 409


# Deadline-aware factory: (key, monotonic deadline or None) -> client.
ClientFactory = Callable[[SecretStr, float | None], AdminApiClient]


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


def plan_backfill(tenant_id: str, connection_id: str, run: int, mode: str, *, today: date | None = None) -> list[Chunk]:
    """Monthly chunks covering the last 365 UTC days through today (today's partial day included).

    mode "failed_only" re-plans just the chunks not yet done (POST .../backfill after an `error`).
    """
    if repo.get_connection(tenant_id, connection_id, with_chunks=False) is None:
        raise NotFoundError("Connection vanished before its backfill started.")
    if mode == "failed_only":
        windows = [
            (date.fromisoformat(c.start), date.fromisoformat(c.end))
            for c in repo.list_chunks(tenant_id, connection_id)
            if c.status != "done"
        ]
    else:
        today = today or utc_now().date()
        windows = monthly_chunks(today - timedelta(days=BACKFILL_DAYS - 1), today)
        repo.delete_chunks_not_in(tenant_id, connection_id, {start.isoformat() for start, _ in windows})
    repo.plan_chunks(tenant_id, connection_id, run, windows)
    return [Chunk(tenant_id, connection_id, run, start, end) for start, end in windows]


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
    chunk: Chunk, *, secrets: SecretStore, client_factory: ClientFactory, deadline: float | None
) -> ChunkResult:
    """Pull one chunk's cost and usage reports, normalize, and make the stored days equal to them.

    Retriable failures raise (the state machine retries them); non-retriable ones are recorded on the chunk and
    raise too, so the Map's Catch lists the chunk as failed.
    """
    connection = repo.get_connection(chunk.tenant_id, chunk.connection_id, with_chunks=False)
    if connection is None:
        raise NotFoundError("Connection vanished during its backfill.")
    if connection.status == "disconnected":
        raise ConnectionDisconnectedError("The connection was disconnected; its backfill stops here.")
    start, end = chunk.start.isoformat(), chunk.end.isoformat()
    repo.record_chunk(chunk.tenant_id, chunk.connection_id, start, end=end, status="running")
    try:
        key = secrets.get(connection.secret_id)
        homes = KeyHomes.from_api_keys(repo.api_keys(chunk.tenant_id, chunk.connection_id))
        pulled = pull_items(key, client_factory, deadline, chunk.start, chunk.end, key_homes=homes)
        figures = repo.replace_days(
            chunk.tenant_id,
            chunk.connection_id,
            chunk.start,
            chunk.end - timedelta(days=1),
            pulled.items,
            pulled.key_shares,
        )
    except PumpError as exc:
        repo.record_chunk(
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
    repo.record_chunk(chunk.tenant_id, chunk.connection_id, start, status="done", figures=figures_dict)
    logger.info("backfill chunk stored", extra={"chunk_start": start, **figures_dict})
    return result


@dataclass(frozen=True)
class PulledData:
    items: list[CostItem]
    key_shares: list[KeyShare]
    workspaces: list[tuple[str, str, bool]] | None  # None: not refreshed by this pull
    api_keys: list[dict] | None
    key_homes: KeyHomes  # as refreshed by this pull, for the caller's next one
    anthropic_requests: int
    anthropic_retries: int = 0


def pull_items(
    key: SecretStr,
    client_factory: ClientFactory,
    deadline: float | None,
    start: date,
    end: date,
    *,
    key_homes: KeyHomes,
    refresh_workspaces: bool = False,
    refresh_api_keys: bool = False,
    refresh_api_keys_if_unlisted: bool = False,
) -> PulledData:
    """Cost and usage reports of [start, end) normalized into cost items and split across API keys (end may be
    tomorrow: today's bucket is in progress and only an ending_at after it includes it).

    Three reports always; the key list when asked (or, if allowed, when a used key isn't in `key_homes`); the
    (api_key_id, workspace_id) report only when a used key's workspace can't be read from the key list.
    """
    since, until = day_start(start), day_start(end)
    workspaces = api_keys = None
    with client_factory(key, deadline) as client:
        cost_rows = _rows(client.iter_cost_report(since, until, COST_GROUP_BY))
        usage_rows = _rows(client.iter_usage_report(since, until, USAGE_GROUP_BY))
        key_usage_rows = _rows(client.iter_usage_report(since, until, KEY_USAGE_GROUP_BY))
        used = used_keys(key_usage_rows)
        if refresh_workspaces:
            workspaces = fetch_workspaces(client)
        if refresh_api_keys or (refresh_api_keys_if_unlisted and key_homes.unlisted(used)):
            api_keys = fetch_api_keys(client)
            # A used key the list doesn't show is remembered as such, so it doesn't trigger a read every hour.
            api_keys += [unlisted_key(k) for k in sorted(KeyHomes.from_api_keys(api_keys).unlisted(used))]
            key_homes = KeyHomes.from_api_keys(api_keys)
        if key_homes.places_all(used):
            key_workspace_rows = key_homes.placement_rows(key_usage_rows)
        else:
            key_workspace_rows = _rows(client.iter_usage_report(since, until, KEY_WORKSPACE_GROUP_BY))
        requests_made, retries = client.request_count, client.retry_count
    items = normalize(cost_rows, usage_rows)
    shares = allocate(items, key_usage_rows, key_workspace_rows)
    return PulledData(items, shares, workspaces, api_keys, key_homes, requests_made, retries)


def fetch_names(client: AdminApiClient) -> tuple[list[tuple[str, str, bool]], list[dict]]:
    """Workspaces as (id, name, archived) and API keys as dicts: what the API shows instead of ids."""
    return fetch_workspaces(client), fetch_api_keys(client)


def fetch_workspaces(client: AdminApiClient) -> list[tuple[str, str, bool]]:
    return [(w.id, w.name, w.archived_at is not None) for w in client.iter_workspaces()]


def fetch_api_keys(client: AdminApiClient) -> list[dict]:
    return [k.model_dump() for k in client.iter_api_keys()]


def _rows(buckets: Iterable) -> list[tuple]:
    return [(bucket.starting_at, row) for bucket in buckets for row in bucket.results]


@dataclass(frozen=True)
class FinalizeOutcome:
    status: str
    chunks_total: int
    chunks_failed: list[str]


def finalize_backfill(
    tenant_id: str, connection_id: str, run: int, results: list[dict], run_error: str | None = None
) -> FinalizeOutcome:
    """Record failed chunks and settle the connection: active, error (retryable) or revoked.

    `run_error` is set when planning or the Map itself failed (no per-chunk results).
    """
    failures = [r for r in results if r.get("status") == "failed"]
    for failure in failures:
        code, message = _failure_reason(failure)
        repo.record_chunk(
            tenant_id, connection_id, failure["start"], status="failed", error_code=code, error_message=message
        )
    chunks = repo.list_chunks(tenant_id, connection_id)
    failed = [c for c in chunks if c.status != "done"]
    auth_failures = [f for f in failures if f.get("error") in AUTH_ERRORS]
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
    repo.finish_backfill(tenant_id, connection_id, run=run, status=status, error_code=code, error_message=message)
    if status == "active":
        repo.advance_sync_cursor(tenant_id, connection_id, utc_now().date())
    return FinalizeOutcome(status, len(chunks), [c.start for c in failed])


def _failure_reason(failure: dict) -> tuple[str, str]:
    """The Catch gives Error (our exception class) and Cause (the Lambda error JSON): make a code and a sentence."""
    error = failure.get("error") or "Unknown"
    message = None
    try:
        message = json.loads(failure.get("cause") or "{}").get("errorMessage")
    except (TypeError, ValueError):
        message = None
    code = _ERROR_CODES.get(error, "chunk_failed")
    return code, (message or f"The chunk failed ({error}).")[:500]


_ERROR_CODES = {
    "AdminApiAuthError": "key_rejected",
    "AdminApiPermissionError": "key_lacks_permission",
    "AdminApiUnavailableError": "anthropic_unavailable",
    "AdminApiRateLimitedError": "anthropic_rate_limited",
    "AdminApiRequestError": "anthropic_request_rejected",
    "StorageThrottledError": "storage_throttled",
    "SecretStoreUnavailableError": "secret_store_unavailable",
    "SecretNotFoundError": "secret_not_found",
}
