"""Wiring: builds the real adapters from settings, once per process. Handlers call these; tests pass fakes.

boto3, the Admin API client and the connect flow are imported where they are built, not at import time, so a
handler that needs none of them (the read API, plan, finalize, the dispatcher) doesn't pay for them at cold start.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import TYPE_CHECKING

from pump_anthropic.dal import table
from pump_anthropic.settings import settings

if TYPE_CHECKING:
    from pydantic import SecretStr

    from pump_anthropic.adapters.alert_bus import AlertBus
    from pump_anthropic.adapters.backfill_launcher import BackfillLauncher
    from pump_anthropic.adapters.export_store import ExportQueue, ExportStore
    from pump_anthropic.adapters.secret_store import SecretStore
    from pump_anthropic.adapters.sync_queue import SyncQueue
    from pump_anthropic.admin_api.analytics import AnalyticsClient
    from pump_anthropic.logic.connections import ConnectServices
    from pump_anthropic.logic.request_gate import RequestGate

# Leave this much of a Lambda's time for recording the outcome after the last Anthropic request.
LAMBDA_SAFETY_MARGIN_SECONDS = 20.0


@lru_cache(maxsize=1)
def bind_storage() -> None:
    s = settings()
    table.bind(
        s.table_name,
        quota_table_name=s.quota_table_name,
        region=s.region,
        host=s.dynamodb_host,
        retention_months=s.retention_months,
    )


@lru_cache(maxsize=1)
def secret_store() -> SecretStore:
    import boto3

    from pump_anthropic.adapters.secret_store import SecretStore

    s = settings()
    return SecretStore(
        boto3.client("secretsmanager", region_name=s.region), prefix=s.secret_prefix, kms_key_id=s.kms_key_id
    )


@lru_cache(maxsize=1)
def backfill_launcher() -> BackfillLauncher:
    import boto3

    from pump_anthropic.adapters.backfill_launcher import BackfillLauncher

    s = settings()
    if not s.state_machine_arn:
        raise RuntimeError("STATE_MACHINE_ARN is not configured")
    return BackfillLauncher(boto3.client("stepfunctions", region_name=s.region), s.state_machine_arn)


@lru_cache(maxsize=1)
def sync_queue() -> SyncQueue:
    import boto3

    from pump_anthropic.adapters.sync_queue import SyncQueue

    s = settings()
    if not s.sync_queue_url:
        raise RuntimeError("SYNC_QUEUE_URL is not configured")
    return SyncQueue(boto3.client("sqs", region_name=s.region), s.sync_queue_url)


@lru_cache(maxsize=1)
def alert_bus() -> AlertBus:
    import boto3

    from pump_anthropic.adapters.alert_bus import AlertBus

    s = settings()
    return AlertBus(boto3.client("events", region_name=s.region), s.alert_event_bus)


@lru_cache(maxsize=1)
def export_store() -> ExportStore:
    import boto3
    from botocore.config import Config

    from pump_anthropic.adapters.export_store import ExportStore

    s = settings()
    if not s.export_bucket:
        raise RuntimeError("EXPORT_BUCKET is not configured")
    # SigV4, which presigned GETs of SSE-KMS objects require.
    client = boto3.client("s3", region_name=s.region, config=Config(signature_version="s3v4"))
    return ExportStore(client, s.export_bucket, download_base_url=s.export_download_base_url)


@lru_cache(maxsize=1)
def export_queue() -> ExportQueue:
    import boto3

    from pump_anthropic.adapters.export_store import ExportQueue

    s = settings()
    if not s.export_queue_url:
        raise RuntimeError("EXPORT_QUEUE_URL is not configured")
    return ExportQueue(boto3.client("sqs", region_name=s.region), s.export_queue_url)


def admin_client(key: SecretStr, deadline: float | None = None, *, connection_id: str | None = None) -> AnalyticsClient:
    """The Anthropic client (legacy reports and the analytics API) of one connection, held to the request rates.

    Handlers bind the connection: `functools.partial(admin_client, connection_id=...)` is a `(key, deadline)`
    client factory. Without a connection id (connecting: the id comes from the organization) only the per-stack
    rate applies.
    """
    from pump_anthropic.admin_api.analytics import AnalyticsClient

    s = settings()
    gate = request_gate(connection_id, deadline)
    return AnalyticsClient(
        key,
        s.anthropic_api_url,
        deadline=deadline,
        read_timeout=s.anthropic_read_timeout,
        request_gate=gate if gate.limits else None,  # no limit: not a write per request
    )


def request_gate(connection_id: str | None, deadline: float | None) -> RequestGate:
    """The per-connection and per-stack request rates from settings, counted on the quota table."""
    from pump_anthropic.admin_api.analytics import DEFAULT_MIN_ATTEMPT_SECONDS
    from pump_anthropic.dal import quotas
    from pump_anthropic.logic.request_gate import RequestGate

    s = settings()
    return RequestGate(
        quotas,  # type: ignore[arg-type]  # a module of functions satisfies QuotaStore
        connection_id=connection_id,
        per_connection=s.requests_per_minute_per_connection,
        per_stack=s.requests_per_minute_per_stack,
        stack_shards_wanted=s.requests_per_minute_stack_shards,
        deadline=deadline,
        # The client needs this long left for the request a wait precedes.
        min_attempt_seconds=DEFAULT_MIN_ATTEMPT_SECONDS,
    )


def connect_services() -> ConnectServices:
    from pump_anthropic.logic.connections import ConnectServices

    # The connection id is known only once the organization is read, so connecting is held to the per-stack rate
    # (and the tenant's connect quota); the deadline is the connect use case's.
    return ConnectServices(
        client_factory=admin_client,
        secrets=secret_store(),
        launcher=backfill_launcher(),
    )


def deadline_from(context: object) -> float | None:
    """A monotonic deadline a little before the Lambda's own timeout (None outside Lambda)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + max(1.0, remaining() / 1000.0 - LAMBDA_SAFETY_MARGIN_SECONDS)
