"""Read models: what the storage layer hands back, as plain frozen values the domain and the API can use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class ChunkProgress:
    start: str
    end: str
    status: str
    error_code: str | None = None
    error_message: str | None = None
    source: dict | None = None  # {"sources": [...], "data_refreshed_at": ...} once the chunk is done


@dataclass(frozen=True)
class ConnectionRecord:
    # A run claimed less than this long ago and still `backfilling` is in flight: it is not claimed again. Past it,
    # the run is taken as lost (its execution never started, or died without settling) and may be started anew.
    IN_FLIGHT_BACKFILL = timedelta(minutes=15)

    tenant_id: str
    connection_id: str
    status: str
    organization_id: str
    organization_name: str
    key_hint: str
    secret_id: str
    created_at: datetime
    updated_at: datetime
    backfill_run: int
    backfill_started_at: datetime | None
    backfill_finished_at: datetime | None
    last_sync_at: datetime | None
    last_error_code: str | None
    last_error_message: str | None
    last_sync: dict | None = None
    chunks: tuple[ChunkProgress, ...] = field(default=())
    backfill_run_id: str | None = None  # the claimed run's nonce (its execution name); None before any claim


@dataclass(frozen=True)
class StoredRollup:
    date: date
    connection_id: str
    dimensions: tuple[str, ...]
    lines: list
    source: str = "legacy"  # where the day came from: "legacy" or "analytics"
    actors: Mapping[str, list] = field(default_factory=dict)  # actor key -> [key, type, id, name, email, note]
    tokens_known: bool = True  # False: the lines carry cost only (per-key lines of analytics days)
    # The days the lines cover when they fold more than one (a month summary); empty: just `date`.
    days: tuple[date, ...] = ()

    @property
    def covered_days(self) -> tuple[date, ...]:
        return self.days or (self.date,)


@dataclass
class DayWriteFigures:
    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    changed_days: list[date] = field(default_factory=list)  # the days written or deleted

    def as_dict(self) -> dict[str, int]:
        return {"items_written": self.written, "items_unchanged": self.unchanged, "items_deleted": self.deleted}
