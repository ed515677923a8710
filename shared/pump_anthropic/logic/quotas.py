"""Per-tenant quotas on the requests that cost us (and Anthropic) the most, so one tenant cannot starve the others:
connecting (Anthropic calls, a secret, a backfill), syncing now, and exporting (a full read of a range)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pump_anthropic.clock import utc_now
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
# GET /costs, weighted by the work a request asks for (read_weight): a 30-day chart costs 2, a 365-day one 13, a
# page of a large report by date 2 to 11; 600 a minute serves a dashboard and a paging script with room to spare,
# and caps one tenant's flood at a few seconds of the read function's reserved concurrency a minute.
READ = Quota("read", 600, timedelta(minutes=1), "units of report reading")
# PUT and DELETE /budgets/{id}: a person editing budgets, or a script setting a few hundred, never needs more.
BUDGET_CHANGE = Quota("budget_change", 120, timedelta(minutes=1), "budget changes")


def take(storage: Storage, tenant_id: str, quota: Quota, *, weight: int = 1) -> None:
    """Count a request (of `weight` units) against the tenant's quota, or raise 429 saying when to come back."""
    if not storage.quotas.take_quota(tenant_id, quota.action, limit=quota.limit, window=quota.window, weight=weight):
        seconds = int(quota.window.total_seconds())
        retry_after = seconds - int(utc_now().timestamp()) % seconds
        raise TenantRateLimitedError(
            f"Your organization made more than {quota.limit} {quota.what} in {seconds} seconds; "
            f"please try again in {retry_after} seconds.",
            retry_after=retry_after,
        )
