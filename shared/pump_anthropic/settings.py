"""Configuration from the environment, read once per process (Lambda cold start or local runtime)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_ANTHROPIC_API_URL = "https://api.anthropic.com"
COST_SOURCES = ("auto", "legacy", "analytics")


@dataclass(frozen=True)
class Settings:
    table_name: str
    quota_table_name: str
    secret_prefix: str
    kms_key_id: str | None
    state_machine_arn: str | None
    anthropic_api_url: str
    tenant_claim: str
    region: str
    dynamodb_host: str | None
    sync_queue_url: str | None
    sync_lookback_days: int
    retention_months: int
    anthropic_read_timeout: float
    # Asynchronous exports: the bucket of the files and the queue of the jobs. EXPORT_DOWNLOAD_BASE_URL is set only by
    # the local runtime, whose embedded S3 no browser can reach: download URLs then name a route of that server.
    export_bucket: str | None = None
    export_queue_url: str | None = None
    export_download_base_url: str | None = None
    # Where cost comes from: "auto" reads the days the analytics API covers from it and earlier days from the
    # legacy reports; "legacy" and "analytics" force one.
    cost_source: str = "auto"
    # Anthropic revises analytics data after the fact: the trailing days re-read once a UTC day.
    analytics_reread_days: int = 30
    # Hours re-read on each sync before the hour the last hourly read was loaded through (HOURLY_REREAD_HOURS).
    hourly_reread_hours: int = 2
    # Requests to Anthropic per minute, per connection and per stack (0: unlimited).
    requests_per_minute_per_connection: int = 120
    requests_per_minute_per_stack: int = 1000
    # The stack's limit is counted on this many shard counters (a connection on the one its id hashes to), so no
    # single quota item takes every request of the fleet; fewer when a shard's share would fall below a connection's
    # limit (logic/request_gate.py, stack_shards).
    requests_per_minute_stack_shards: int = 8
    # The EventBridge bus spend alerts are put on ("default": the account's default bus).
    alert_event_bus: str = "default"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            table_name=env.get("TABLE_NAME", "pump-anthropic"),
            quota_table_name=env.get("QUOTA_TABLE_NAME") or f"{env.get('TABLE_NAME', 'pump-anthropic')}-quotas",
            secret_prefix=env.get("SECRET_PREFIX", "pump-anthropic/"),
            kms_key_id=env.get("KMS_KEY_ID") or None,
            state_machine_arn=env.get("STATE_MACHINE_ARN") or None,
            anthropic_api_url=env.get("ANTHROPIC_API_URL") or DEFAULT_ANTHROPIC_API_URL,
            tenant_claim=env.get("TENANT_CLAIM", "tenant_id"),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            dynamodb_host=env.get("DYNAMODB_ENDPOINT_URL") or None,
            sync_queue_url=env.get("SYNC_QUEUE_URL") or None,
            sync_lookback_days=int(env.get("SYNC_LOOKBACK_DAYS") or 3),
            retention_months=int(env.get("RETENTION_MONTHS") or 0),
            anthropic_read_timeout=float(env.get("ANTHROPIC_READ_TIMEOUT") or 30),
            export_bucket=env.get("EXPORT_BUCKET") or None,
            export_queue_url=env.get("EXPORT_QUEUE_URL") or None,
            export_download_base_url=env.get("EXPORT_DOWNLOAD_BASE_URL") or None,
            cost_source=_choice("ANTHROPIC_COST_SOURCE", env.get("ANTHROPIC_COST_SOURCE") or "auto", COST_SOURCES),
            analytics_reread_days=int(env.get("ANALYTICS_REREAD_DAYS") or 30),
            hourly_reread_hours=int(env.get("HOURLY_REREAD_HOURS") or 2),
            requests_per_minute_per_connection=int(env.get("ANTHROPIC_RPM_PER_CONNECTION") or 120),
            requests_per_minute_per_stack=int(env.get("ANTHROPIC_RPM_PER_STACK") or 1000),
            requests_per_minute_stack_shards=int(env.get("ANTHROPIC_RPM_STACK_SHARDS") or 8),
            alert_event_bus=env.get("ALERT_EVENT_BUS") or "default",
        )


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()
