"""What the use cases need from storage, as five small protocols, and the real (DynamoDB) implementation.

The dal modules satisfy the protocols as they are (a module of functions is a structural implementation); the
use-case unit tests pass an in-memory fake instead, so they run without moto.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from pump_anthropic.domain.allocation import KeyShare
from pump_anthropic.domain.hourly import DayHours, StoredHours
from pump_anthropic.domain.month_summary import GRAIN_LINES
from pump_anthropic.domain.normalize import CostItem
from pump_anthropic.domain.records import ChunkProgress, ConnectionRecord, DayWriteFigures, StoredRollup


class ConnectionStore(Protocol):
    SYNC_SHARDS: int  # the sparse sync index is split in this many shards

    def get_connection(
        self, tenant_id: str, connection_id: str, *, with_chunks: bool = True
    ) -> ConnectionRecord | None: ...
    def connection_ids(self, tenant_id: str) -> list[str]: ...
    def list_connections(self, tenant_id: str) -> list[ConnectionRecord]: ...
    def register_connection(
        self,
        *,
        tenant_id: str,
        connection_id: str,
        organization_id: str,
        organization_name: str,
        key_hint: str,
        secret_id: str,
    ) -> tuple[ConnectionRecord, bool]: ...
    def claim_backfill_retry(self, tenant_id: str, connection_id: str) -> ConnectionRecord | None: ...
    def finish_backfill(
        self,
        tenant_id: str,
        connection_id: str,
        *,
        run: int,
        status: str,
        error_code: str | None,
        error_message: str | None,
    ) -> None: ...
    def mark_revoked(self, tenant_id: str, connection_id: str, *, code: str, message: str) -> None: ...
    def record_sync(self, tenant_id: str, connection_id: str, figures: dict) -> None: ...
    def claim_manual_sync(self, tenant_id: str, connection_id: str, min_interval: timedelta) -> bool: ...
    def disconnect(self, tenant_id: str, connection_id: str, *, purging: bool = False) -> None: ...
    def purge_connection(self, tenant_id: str, connection_id: str) -> int: ...
    def being_purged(self, tenant_id: str, connection_id: str) -> bool: ...
    def purge_window(self, tenant_id: str, connection_id: str, first_day: date, last_day: date) -> int: ...
    def list_active_connections(self, shard: int) -> Iterator[tuple[str, str]]: ...
    def plan_chunks(
        self, tenant_id: str, connection_id: str, run: int, chunks: Iterable[tuple[date, date]]
    ) -> None: ...
    def list_chunks(self, tenant_id: str, connection_id: str) -> list[ChunkProgress]: ...
    def delete_chunks_not_in(self, tenant_id: str, connection_id: str, keep_starts: set[str]) -> None: ...
    def record_chunk(
        self,
        tenant_id: str,
        connection_id: str,
        start: str,
        *,
        status: str,
        end: str | None = None,
        figures: dict[str, int] | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None: ...


class DirectoryStore(Protocol):
    def put_workspaces(
        self, tenant_id: str, connection_id: str, workspaces: Iterable[tuple[str, str, bool]]
    ) -> None: ...
    def put_api_keys(self, tenant_id: str, connection_id: str, api_keys: Iterable[dict]) -> None: ...
    def api_keys(self, tenant_id: str, connection_id: str) -> list[dict]: ...
    def api_key_names(self, tenant_id: str, connection_ids: Iterable[str]) -> dict[str, dict]: ...
    def workspace_names(self, tenant_id: str, connection_ids: Iterable[str]) -> dict[str, str]: ...
    def put_default_workspace(self, tenant_id: str, connection_id: str, workspace_id: str) -> None: ...
    def default_workspace(self, tenant_id: str, connection_id: str) -> str | None: ...


class CostStore(Protocol):
    def get_sync_cursor(self, tenant_id: str, connection_id: str) -> date | None: ...
    def advance_sync_cursor(self, tenant_id: str, connection_id: str, cursor: date) -> None: ...
    def replace_days(
        self,
        tenant_id: str,
        connection_id: str,
        first_day: date,
        last_day: date,
        items: Iterable[CostItem],
        key_shares: Iterable[KeyShare] = (),
    ) -> DayWriteFigures: ...
    def store_days(
        self,
        tenant_id: str,
        connection_id: str,
        first_day: date,
        last_day: date,
        days: Mapping[date, dict[str, list]],
    ) -> DayWriteFigures: ...
    def iter_cost_items(
        self, tenant_id: str, connection_id: str, first_day: date, last_day: date
    ) -> Iterator[CostItem]: ...
    def iter_rollups(
        self,
        tenant_id: str,
        connection_ids: Iterable[str],
        first_day: date,
        last_day: date,
        *,
        by_api_key: bool = False,
        grain: str = GRAIN_LINES,
    ) -> Iterator[StoredRollup]: ...


class HourStore(Protocol):
    """The hourly cost of the days read hour by hour (dal/cost_hours.py)."""

    def read_hours(self, tenant_id: str, connection_id: str, days: Iterable[date]) -> dict[date, DayHours]: ...
    def store_hours(
        self, tenant_id: str, connection_id: str, days: Mapping[date, StoredHours], previous: Mapping[date, str]
    ) -> int: ...
    def drop_hours(self, tenant_id: str, connection_id: str, days: Iterable[date]) -> None: ...
    def iter_hour_rollups(
        self, tenant_id: str, connection_ids: Iterable[str], first_day: date, last_day: date
    ) -> Iterator[StoredRollup]: ...


class QuotaStore(Protocol):
    def take_quota(
        self, tenant_id: str, action: str, *, limit: int, window: timedelta, weight: int = 1
    ) -> bool: ...


class GuardStore(Protocol):
    def put_budget(self, tenant_id: str, connection_id: str, budget_id: str, document: dict) -> None: ...
    def get_budget(self, tenant_id: str, connection_ids: Iterable[str], budget_id: str) -> dict | None: ...
    def list_budgets(self, tenant_id: str, connection_ids: Iterable[str]) -> list[dict]: ...
    def delete_budget(self, tenant_id: str, connection_id: str, budget_id: str) -> None: ...
    def add_alert(self, tenant_id: str, connection_id: str, document: dict) -> bool: ...
    def list_alerts(self, tenant_id: str, connection_ids: Iterable[str]) -> list[dict]: ...
    def mark_published(self, tenant_id: str, connection_id: str, alert_id: str) -> None: ...
    def put_spend_limits(self, tenant_id: str, connection_id: str, document: dict) -> None: ...
    def get_spend_limits(self, tenant_id: str, connection_id: str) -> dict | None: ...
    # The spend guard's spend days (domain/spend_days.py), and the stored days' digests and documents they fold.
    def day_digests(self, tenant_id: str, connection_id: str, first_day: date, last_day: date) -> dict[date, str]: ...
    def iter_day_documents(
        self, tenant_id: str, connection_id: str, first_day: date, last_day: date
    ) -> Iterator[tuple[date, str, dict]]: ...
    def spend_days(self, tenant_id: str, connection_id: str) -> dict[date, bytes]: ...
    def keep_spend_days(
        self, tenant_id: str, connection_id: str, put: Mapping[date, bytes], drop: Iterable[date]
    ) -> None: ...


@dataclass(frozen=True)
class Storage:
    connections: ConnectionStore
    directory: DirectoryStore
    costs: CostStore
    quotas: QuotaStore
    guard: GuardStore
    hours: HourStore


def dynamodb_storage() -> Storage:
    """The real storage: the dal modules over the single DynamoDB table."""
    from pump_anthropic.dal import connections, cost_days, cost_hours, directory, guard, quotas

    return Storage(connections, directory, cost_days, quotas, guard, cost_hours)  # type: ignore[arg-type]
