"""Per-tenant quotas on the requests that cost us (and Anthropic) the most, so one tenant cannot starve the others:
connecting (Anthropic calls, a secret, a backfill), syncing now, and exporting (a full read of a range)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pump_anthropic.exceptions import TenantRateLimitedError
from pump_anthropic.logic.storage import Storage


@dataclass(frozen=True)
class Quota:
    action: str
    limit: int
    window: timedelta
    what: str  # for the sentence: "connect requests"


CONNECT = Quota("connect", 10, timedelta(minutes=1), "connect requests")
SYNC_NOW = Quota("sync_now", 30, timedelta(minutes=1), "sync requests")
EXPORT = Quota("export", 20, timedelta(minutes=1), "exports")


def take(storage: Storage, tenant_id: str, quota: Quota) -> None:
    """Count one request against the tenant's quota, or raise 429 with a sentence saying when to come back."""
    if not storage.quotas.take_quota(tenant_id, quota.action, limit=quota.limit, window=quota.window):
        seconds = int(quota.window.total_seconds())
        raise TenantRateLimitedError(
            f"Your organization made more than {quota.limit} {quota.what} in {seconds} seconds; "
            "please wait a minute and try again."
        )
