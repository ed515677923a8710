"""The one place that reads the clock, so tests and benchmarks can drive time from here."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
