"""Per-tenant request quotas: a counter per (tenant, action, time window), taken with one conditional write, so
concurrent requests can never exceed the limit and no tenant can flood Anthropic or storage through us."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import UpdateError

from pump_anthropic.dal.models import QuotaModel
from pump_anthropic.dal.table import condition_failed, current_time, storage_error


def take_quota(tenant_id: str, action: str, *, limit: int, window: timedelta) -> bool:
    """Count one `action` of the tenant; False (nothing counted) once `limit` are counted in the current window."""
    seconds = int(window.total_seconds())
    window_start = int(current_time().timestamp()) // seconds * seconds
    counter = QuotaModel(f"{tenant_id}#{action}#{window_start}")
    try:
        counter.update(
            actions=[
                QuotaModel.uses.add(1),
                QuotaModel.expires.set(datetime.fromtimestamp(window_start + 2 * seconds, tz=UTC)),
            ],
            condition=QuotaModel.uses.does_not_exist() | (QuotaModel.uses < limit),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise storage_error(exc) from exc
    return True
