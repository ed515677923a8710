"""The sync's hourly step: read yesterday's and today's cost hour by hour and keep it beside the days.

One `/cost` query (a page per 1,000 hour × workspace × key rows) on every sync of a connection whose recent days come
from the analytics API. Hours are what the spend guard and the dashboard's "today" need; the days stay the figures of
record. A day whose billed lines change after it left the hourly window (a restatement the daily re-read found) loses
its hours, so stored hours always add up to their day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from pump_anthropic.domain import analytics_days, day_docs, hourly
from pump_anthropic.exceptions import AdminApiError
from pump_anthropic.logic.sources import refuses_analytics
from pump_anthropic.logic.storage import Storage

logger = logging.getLogger(__name__)


def hourly_days(today: date, analytics_days_from: date) -> list[date]:
    """The days read hour by hour: yesterday and today, those the analytics API serves."""
    return [d for d in (today - timedelta(days=hourly.HOURLY_DAYS - 1 - n) for n in range(hourly.HOURLY_DAYS))
            if d >= analytics_days_from]  # fmt: skip


def refresh_hours(
    storage: Storage,
    tenant_id: str,
    connection_id: str,
    client: object,
    now: datetime,
    days: list[date],
    pulled_days: Mapping[date, Mapping[str, list] | None],
) -> bool:
    """Read `days` hour by hour and store them, reconciled with the days' billed lines just pulled (`pulled_days`;
    None for a day without spend). False when the analytics API refused the hourly query (a 4xx): the hours are
    then left as they were, and the sync goes on."""
    if not days:
        return True
    default_workspace = storage.directory.default_workspace(tenant_id, connection_id)
    try:
        rows = [row for page in client.iter_cost_pages(hourly.hourly_query(days[0], now)) for row in page.data]
    except AdminApiError as exc:
        if not refuses_analytics(exc):
            raise
        logger.warning("hourly cost refused", extra={"connection_id": connection_id, "error_code": exc.code})
        return False
    by_day = hourly.hour_lines(rows, default_workspace)
    stored = {}
    for day in days:
        who = day_docs.projection(pulled_days.get(day) or {}, analytics_days.WHO_LINES)
        stored[day] = hourly.reconcile(by_day.get(day, []), who)
    storage.costs.store_hours(tenant_id, connection_id, stored)
    return True


def drop_restated_hours(
    storage: Storage, tenant_id: str, connection_id: str, changed_days: Iterable[date], read_now: list[date]
) -> None:
    """Forget the hours of days rewritten by this sync that it did not read hour by hour."""
    stale = sorted(set(changed_days) - set(read_now))
    if stale:
        storage.costs.drop_hours(tenant_id, connection_id, stale)
