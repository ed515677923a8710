"""Per-tenant request quotas: a counter per (tenant, action, time window), taken with one conditional write, so
concurrent requests can never exceed the limit and no tenant can flood Anthropic or storage through us."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import UpdateError

from pump_anthropic.dal.models import QuotaModel
from pump_anthropic.dal.table import condition_failed, current_time, storage_error


def take_quota(tenant_id: str, action: str, *, limit: int, window: timedelta, weight: int = 1) -> bool:
    """Count `weight` units of the tenant's `action`; False (nothing counted) when they would pass `limit` in the
    current window (a request heavier than the whole limit passes only in an empty window)."""
    weight = max(1, min(weight, limit))
    seconds = int(window.total_seconds())
    window_start = int(current_time().timestamp()) // seconds * seconds
    counter = QuotaModel(f"{tenant_id}#{action}#{window_start}")
    try:
        counter.update(
            actions=[
                QuotaModel.uses.add(weight),
                QuotaModel.expires.set(datetime.fromtimestamp(window_start + 2 * seconds, tz=UTC)),
            ],
            condition=QuotaModel.uses.does_not_exist() | (QuotaModel.uses <= limit - weight),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise storage_error(exc) from exc
    return True
