"""The sync's hourly step: read yesterday's and today's cost hour by hour and keep it beside the days.

One `/cost` query on every sync of a connection whose recent days come from the analytics API, from the hour the
last read was loaded through less a margin (domain/hourly.py, `reread_from`): a page of 1,000 hour × workspace × key
rows holds a few hours of a large organization. Hours are what the spend guard and the dashboard's "today" need; the
days stay the figures of record. A day whose hours no longer add up to its billed lines once merged is read again
whole, in the same sync. A day whose billed lines change after it left the hourly window (a restatement the daily
re-read found) loses its hours, so stored hours always add up to their day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from pump_anthropic.domain import analytics_days, day_docs, hourly
from pump_anthropic.domain.calendar import day_start
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
    days: list[date],
    pulled_days: Mapping[date, Mapping[str, list] | None],
    default_workspace_id: str | None,
    reread_hours: int = hourly.DEFAULT_REREAD_HOURS,
) -> bool:
    """Read `days` hour by hour from where the stored hours leave off and store them, reconciled with the days'
    billed lines just pulled (`pulled_days`; None for a day without spend). False when the analytics API refused the
    hourly query (a 4xx): the hours are then left as they were, and the sync goes on."""
    if not days:
        return True
    stored = storage.hours.read_hours(tenant_id, connection_id, days)
    start = hourly.reread_from(days, stored, timedelta(hours=reread_hours))
    try:
        merged, off, through = _read_and_merge(client, start, days, stored, pulled_days, default_workspace_id)
        # Off beyond rounding on a day with kept hours: data landed in an hour not read again. Read it whole.
        late = [day for day in days if off.get(day) and day_start(day) < start]
        if late:
            logger.info("hours read again whole", extra={"connection_id": connection_id, "days": len(late)})
            start = day_start(late[0])
            merged, off, through = _read_and_merge(client, start, days, stored, pulled_days, default_workspace_id)
    except AdminApiError as exc:
        if not refuses_analytics(exc):
            raise
        logger.warning("hourly cost refused", extra={"connection_id": connection_id, "error_code": exc.code})
        return False
    encoded = {
        # A day still off once read whole keeps no watermark: the next sync reads it from its start again.
        day: hourly.encode(day, lines, None if off.get(day) else hourly.read_through(through, day))
        for day, lines in merged.items()
    }
    storage.hours.store_hours(tenant_id, connection_id, encoded, {day: held.digest for day, held in stored.items()})
    return True


def _read_and_merge(
    client: object,
    start: datetime,
    days: list[date],
    stored: Mapping[date, hourly.DayHours],
    pulled_days: Mapping[date, Mapping[str, list] | None],
    default_workspace_id: str | None,
) -> tuple[dict[date, list], dict[date, set], datetime | None]:
    """Each day's hours (the stored ones before `start` kept, the read merged in) reconciled with its billed lines;
    the cells each leaves off beyond rounding; the read's watermark."""
    rows, through = [], None
    for page in client.iter_cost_pages(hourly.hourly_query(start, days[-1])):
        rows += page.data
        through = page.data_refreshed_at if through is None else min(through, page.data_refreshed_at or through)
    read = hourly.hour_lines(rows, default_workspace_id)
    merged, off = {}, {}
    for day in days:
        who = day_docs.projection(pulled_days.get(day) or {}, analytics_days.WHO_LINES)
        merged[day] = hourly.merge(stored.get(day), read.get(day, []), start)
        off[day] = hourly.reconcile(merged[day], who)
    return merged, off, through


def drop_restated_hours(
    storage: Storage, tenant_id: str, connection_id: str, changed_days: Iterable[date], read_now: list[date]
) -> None:
    """Forget the hours of days rewritten by this sync that it did not read hour by hour."""
    stale = sorted(set(changed_days) - set(read_now))
    if stale:
        storage.hours.drop_hours(tenant_id, connection_id, stale)
