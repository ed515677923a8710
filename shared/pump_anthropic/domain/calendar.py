"""UTC calendar arithmetic. Every date in the connector is a UTC calendar day; nothing here reads the clock."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def instant_text(value: object) -> str | None:
    """A moment as ISO 8601 UTC text (`2026-12-07T10:15:00Z`) from a datetime, or text kept as given; else None."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value if isinstance(value, str) else None


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def month_bounds(day: date) -> tuple[date, date]:
    """The first and last day of `day`'s month."""
    first = day.replace(day=1)
    return first, next_month(first) - timedelta(days=1)


def monthly_chunks(first_day: date, last_day: date) -> list[tuple[date, date]]:
    """[start, end) chunks split on UTC month boundaries covering first_day..last_day inclusive."""
    chunks = []
    start = first_day
    while start <= last_day:
        end = min(next_month(start), last_day + timedelta(days=1))
        chunks.append((start, end))
        start = end
    return chunks


def day_spans(first_day: date, last_day: date, max_days: int) -> list[tuple[date, date]]:
    """[start, end) spans of at most `max_days` covering first_day..last_day inclusive, oldest first, whatever months
    they cross (one span per query range, not one per calendar month)."""
    if max_days < 1:
        raise ValueError("a span holds at least one day")
    spans = []
    start = first_day
    while start <= last_day:
        end = min(start + timedelta(days=max_days), last_day + timedelta(days=1))
        spans.append((start, end))
        start = end
    return spans


def hour_of_day(key: str) -> int:
    """A UTC hour, 0–23, of the key's own: a stable hash (the same in every process and release, unlike `hash()`), so
    keys spread evenly over the day and each keeps its hour."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 24


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """The days as runs of consecutive days: (first, last) pairs, oldest first."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
