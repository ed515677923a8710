"""An in-memory stand-in for the dal behind `logic.storage.Storage`: what the use-case unit tests run against.

It keeps the contracts the use cases rely on (a backfill in flight is not claimed twice, a stale run's outcome
changes nothing, the cursor only moves forward, replacing days removes what vanished), not DynamoDB's mechanics.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from pump_anthropic.domain import day_docs, hourly
from pump_anthropic.domain.allocation import KeyShare, home_workspace
from pump_anthropic.domain.calendar import instant_text
from pump_anthropic.domain.normalize import CostItem
from pump_anthropic.domain.records import ChunkProgress, ConnectionRecord, DayWriteFigures, StoredRollup
from pump_anthropic.logic.storage import Storage

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class FakeConnections:
    SYNC_SHARDS = 1

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], ConnectionRecord] = {}
        self.chunks: dict[tuple[str, str], dict[str, ChunkProgress]] = {}
        self.manual_syncs: dict[tuple[str, str], datetime] = {}
        self.now = NOW
        # A new connection item's first run never repeats the number of a purged one's (dal: the claim's time in ms).
        self._first_runs = itertools.count(int(NOW.timestamp() * 1000), 1000)

    def _in_flight(self, record: ConnectionRecord | None) -> bool:
        return (
            record is not None
            and record.status == "backfilling"
            and record.backfill_started_at is not None
            and record.backfill_started_at >= self.now - ConnectionRecord.IN_FLIGHT_BACKFILL
        )

    def get_connection(self, tenant_id: str, connection_id: str, *, with_chunks: bool = True):
        record = self.records.get((tenant_id, connection_id))
        if record is None or not with_chunks:
            return record
        return replace(record, chunks=tuple(self.list_chunks(tenant_id, connection_id)))

    def connection_ids(self, tenant_id: str) -> list[str]:
        return [c for t, c in self.records if t == tenant_id]

    def list_connections(self, tenant_id: str) -> list[ConnectionRecord]:
        return [self.get_connection(tenant_id, c) for c in self.connection_ids(tenant_id)]

    def register_connection(self, *, tenant_id, connection_id, organization_id, organization_name, key_hint, secret_id):
        existing = self.records.get((tenant_id, connection_id))
        if self._in_flight(existing):
            self.records[(tenant_id, connection_id)] = replace(existing, key_hint=key_hint, secret_id=secret_id)
            return self.get_connection(tenant_id, connection_id), False
        record = ConnectionRecord(
            tenant_id=tenant_id,
            connection_id=connection_id,
            status="backfilling",
            organization_id=organization_id,
            organization_name=organization_name,
            key_hint=key_hint,
            secret_id=secret_id,
            created_at=existing.created_at if existing else self.now,
            updated_at=self.now,
            backfill_run=existing.backfill_run + 1 if existing else next(self._first_runs),
            backfill_run_id=secrets.token_hex(6),
            backfill_started_at=self.now,
            backfill_finished_at=None,
            last_sync_at=existing.last_sync_at if existing else None,
            last_error_code=None,
            last_error_message=None,
        )
        self.records[(tenant_id, connection_id)] = record
        return record, True

    def claim_backfill_retry(self, tenant_id: str, connection_id: str) -> ConnectionRecord | None:
        record = self.records.get((tenant_id, connection_id))
        if record is None or self._in_flight(record):
            return None
        record = replace(
            record,
            status="backfilling",
            backfill_run=record.backfill_run + 1,
            backfill_run_id=secrets.token_hex(6),
            backfill_started_at=self.now,
            backfill_finished_at=None,
        )
        self.records[(tenant_id, connection_id)] = record
        return record

    def finish_backfill(self, tenant_id, connection_id, *, run, status, error_code, error_message) -> None:
        record = self.records.get((tenant_id, connection_id))
        if record is None or record.backfill_run != run or record.status != "backfilling":
            return
        self.records[(tenant_id, connection_id)] = replace(
            record,
            status=status,
            backfill_finished_at=self.now,
            last_error_code=error_code,
            last_error_message=error_message if error_code else None,
        )

    def mark_revoked(self, tenant_id: str, connection_id: str, *, code: str, message: str) -> None:
        self._update(tenant_id, connection_id, status="revoked", last_error_code=code, last_error_message=message)

    def record_sync(self, tenant_id: str, connection_id: str, figures: dict) -> None:
        self._update(tenant_id, connection_id, last_sync_at=self.now, last_sync=dict(figures))

    def claim_manual_sync(self, tenant_id: str, connection_id: str, min_interval: timedelta) -> bool:
        last = self.manual_syncs.get((tenant_id, connection_id))
        if (tenant_id, connection_id) not in self.records or (last and last >= self.now - min_interval):
            return False
        self.manual_syncs[(tenant_id, connection_id)] = self.now
        return True

    def disconnect(self, tenant_id: str, connection_id: str, *, purging: bool = False) -> None:
        self._update(tenant_id, connection_id, status="purging" if purging else "disconnected")

    def being_purged(self, tenant_id: str, connection_id: str) -> bool:
        record = self.records.get((tenant_id, connection_id))
        return record is None or record.status == "purging"

    def purge_window(self, tenant_id: str, connection_id: str, first_day, last_day) -> int:
        # The fake keeps days in FakeCosts; the fence's effect on stored days is tested on the real table.
        return len(self.chunks.pop((tenant_id, connection_id), {}))

    def purge_connection(self, tenant_id: str, connection_id: str) -> int:
        deleted = len(self.chunks.pop((tenant_id, connection_id), {}))
        return deleted + (self.records.pop((tenant_id, connection_id), None) is not None)

    def list_active_connections(self, shard: int) -> Iterator[tuple[str, str]]:
        return iter([k for k, r in self.records.items() if r.status == "active"])

    def plan_chunks(self, tenant_id: str, connection_id: str, run: int, chunks: Iterable[tuple[date, date]]) -> None:
        planned = self.chunks.setdefault((tenant_id, connection_id), {})
        for start, end in chunks:
            planned[start.isoformat()] = ChunkProgress(start.isoformat(), end.isoformat(), "pending")

    def list_chunks(self, tenant_id: str, connection_id: str) -> list[ChunkProgress]:
        return [c for _, c in sorted(self.chunks.get((tenant_id, connection_id), {}).items())]

    def delete_chunks_not_in(self, tenant_id: str, connection_id: str, keep_starts: set[str]) -> None:
        planned = self.chunks.get((tenant_id, connection_id), {})
        for start in set(planned) - keep_starts:
            del planned[start]

    def record_chunk(
        self, tenant_id, connection_id, start, *, status, end=None, figures=None, error_code=None, error_message=None
    ) -> None:
        planned = self.chunks.setdefault((tenant_id, connection_id), {})
        current = planned.get(start) or ChunkProgress(start, end or "", status)
        source = json.loads(figures["source_json"]) if figures and "source_json" in figures else current.source
        planned[start] = ChunkProgress(
            start, end or current.end, status, error_code, error_message if error_code else None, source
        )

    def _update(self, tenant_id: str, connection_id: str, **changes) -> None:
        record = self.records.get((tenant_id, connection_id))
        if record is not None:
            self.records[(tenant_id, connection_id)] = replace(record, updated_at=self.now, **changes)


class FakeDirectory:
    def __init__(self) -> None:
        self.workspaces: dict[tuple[str, str], dict[str, tuple[str, bool]]] = {}
        self.keys: dict[tuple[str, str], dict[str, dict]] = {}
        self.defaults: dict[tuple[str, str], str] = {}

    def put_workspaces(self, tenant_id: str, connection_id: str, workspaces) -> None:
        stored = self.workspaces.setdefault((tenant_id, connection_id), {})
        for workspace_id, name, archived in workspaces:
            stored[workspace_id] = (name, archived)

    def put_default_workspace(self, tenant_id: str, connection_id: str, workspace_id: str) -> None:
        self.defaults[(tenant_id, connection_id)] = workspace_id

    def default_workspace(self, tenant_id: str, connection_id: str) -> str | None:
        return self.defaults.get((tenant_id, connection_id))

    def put_api_keys(self, tenant_id: str, connection_id: str, api_keys: Iterable[dict]) -> None:
        stored = self.keys.setdefault((tenant_id, connection_id), {})
        for key in api_keys:
            placed, workspace_id = home_workspace(key)
            scope = {"type": "workspace", "workspace_id": workspace_id} if placed else {"type": "not_placed"}
            stored[key["id"]] = {
                "id": key["id"],
                "name": key.get("name") or key["id"],
                "hint": key.get("partial_key_hint"),
                "status": key.get("status"),
                "created_at": instant_text(key.get("created_at")),
                "workspace_id": workspace_id,
                "scope": scope,
            }

    def api_keys(self, tenant_id: str, connection_id: str) -> list[dict]:
        return [
            {k: v[k] for k in ("id", "name", "workspace_id", "scope")}
            for v in self.keys.get((tenant_id, connection_id), {}).values()
        ]

    def api_key_names(self, tenant_id: str, connection_ids: Iterable[str]) -> dict[str, dict]:
        return {
            key_id: {"name": v["name"], "hint": v["hint"], "status": v["status"], "created_at": v["created_at"]}
            for c in connection_ids
            for key_id, v in self.keys.get((tenant_id, c), {}).items()
        }

    def workspace_names(self, tenant_id: str, connection_ids: Iterable[str]) -> dict[str, str]:
        return {
            ws: name for c in connection_ids for ws, (name, _) in self.workspaces.get((tenant_id, c), {}).items() if ws
        }


class FakeCosts:
    """Days kept as their projections, read back through the same day-document code as the real store."""

    def __init__(self) -> None:
        self.days: dict[tuple[str, str], dict[date, dict[str, list]]] = {}
        self.cursors: dict[tuple[str, str], date] = {}

    def get_sync_cursor(self, tenant_id: str, connection_id: str) -> date | None:
        return self.cursors.get((tenant_id, connection_id))

    def advance_sync_cursor(self, tenant_id: str, connection_id: str, cursor: date) -> None:
        current = self.cursors.get((tenant_id, connection_id))
        if current is None or cursor > current:
            self.cursors[(tenant_id, connection_id)] = cursor

    def replace_days(self, tenant_id, connection_id, first_day, last_day, items, key_shares=()) -> DayWriteFigures:
        lines: dict[date, list[CostItem]] = {}
        shares: dict[date, list[KeyShare]] = {}
        for item in items:
            lines.setdefault(item.date, []).append(item)
        for share in key_shares:
            shares.setdefault(share.item.date, []).append(share)
        days = {d: day_docs.legacy_day(lines.get(d, []), shares.get(d, [])) for d in set(lines) | set(shares)}
        return self.store_days(tenant_id, connection_id, first_day, last_day, days)

    def store_days(self, tenant_id, connection_id, first_day, last_day, days) -> DayWriteFigures:
        stored = self.days.setdefault((tenant_id, connection_id), {})
        figures = DayWriteFigures()
        day = first_day
        while day <= last_day:
            new = days.get(day)
            encoded = None if new is None else day_docs.encode_day(day, new)
            old = stored.pop(day, None)
            if encoded is not None:
                stored[day] = day_docs.decode_day(encoded.parts)
                if old == stored[day]:
                    figures.unchanged += 1
                else:
                    figures.written += 1
                    figures.changed_days.append(day)
            elif old is not None:
                figures.deleted += 1
                figures.changed_days.append(day)
            day += timedelta(days=1)
        return figures

    def iter_cost_items(self, tenant_id, connection_id, first_day, last_day) -> Iterator[CostItem]:
        for day, projections in sorted(self.days.get((tenant_id, connection_id), {}).items()):
            if first_day <= day <= last_day:
                yield from (day_docs.item_of(day, row) for row in projections.get(day_docs.LINES, []))

    def iter_rollups(
        self, tenant_id, connection_ids, first_day, last_day, *, by_api_key=False, grain=None
    ) -> Iterator[StoredRollup]:
        # Every grain is served from the days themselves (the coarse grains are an optimisation of the table).
        for connection_id in connection_ids:
            for day, projections in sorted(self.days.get((tenant_id, connection_id), {}).items()):
                if first_day <= day <= last_day:
                    yield day_docs.rollup_of(day, connection_id, projections, who=by_api_key)


class FakeHours:
    """Each day's hours kept encoded, as the table keeps them."""

    def __init__(self) -> None:
        self.hours: dict[tuple[str, str], dict[date, hourly.StoredHours]] = {}

    def read_hours(self, tenant_id, connection_id, days) -> dict[date, hourly.DayHours]:
        stored = self.hours.get((tenant_id, connection_id), {})
        return {
            day: hourly.decode(day, day_docs.decode_day([stored[day].body]), stored[day].digest)
            for day in days
            if day in stored
        }

    def store_hours(self, tenant_id, connection_id, days, previous) -> int:
        stored = self.hours.setdefault((tenant_id, connection_id), {})
        written = 0
        for day, new in days.items():
            if previous.get(day) != new.digest:
                stored[day], written = new, written + 1
        return written

    def drop_hours(self, tenant_id, connection_id, days) -> None:
        for day in days:
            self.hours.get((tenant_id, connection_id), {}).pop(day, None)

    def iter_hour_rollups(self, tenant_id, connection_ids, first_day, last_day) -> Iterator[StoredRollup]:
        for connection_id in connection_ids:
            for day, stored in sorted(self.hours.get((tenant_id, connection_id), {}).items()):
                if first_day <= day <= last_day:
                    yield hourly.rollup(day, connection_id, day_docs.decode_day([stored.body]))


class FakeQuotas:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def take_quota(self, tenant_id: str, action: str, *, limit: int, window: timedelta, weight: int = 1) -> bool:
        used, weight = self.counts.get((tenant_id, action), 0), max(1, min(weight, limit))
        if used + weight > limit:
            return False
        self.counts[(tenant_id, action)] = used + weight
        return True


class FakeGuard:
    """Budgets, alerts and spend days by (tenant, connection), as the real store keeps them in the connection's
    partition; the stored days' digests and documents from the fake cost store."""

    def __init__(self, costs: FakeCosts | None = None) -> None:
        self.budgets: dict[tuple[str, str], dict[str, dict]] = {}
        self.alerts: dict[tuple[str, str], dict[str, dict]] = {}
        self.spend_limits: dict[tuple[str, str], dict] = {}
        self.kept_days: dict[tuple[str, str], dict[date, bytes]] = {}
        self.costs = costs or FakeCosts()

    def _days(self, tenant_id: str, connection_id: str, first_day: date, last_day: date) -> Iterator[tuple]:
        for day, projections in sorted(self.costs.days.get((tenant_id, connection_id), {}).items()):
            if first_day <= day <= last_day:
                text = json.dumps(projections, sort_keys=True, separators=(",", ":"))
                yield day, hashlib.sha256(text.encode()).hexdigest()[:32], projections

    def day_digests(self, tenant_id: str, connection_id: str, first_day: date, last_day: date) -> dict[date, str]:
        return {day: digest for day, digest, _ in self._days(tenant_id, connection_id, first_day, last_day)}

    def iter_day_documents(self, tenant_id: str, connection_id: str, first_day: date, last_day: date) -> Iterator:
        return self._days(tenant_id, connection_id, first_day, last_day)

    def spend_days(self, tenant_id: str, connection_id: str) -> dict[date, bytes]:
        return dict(self.kept_days.get((tenant_id, connection_id), {}))

    def keep_spend_days(self, tenant_id: str, connection_id: str, put, drop) -> None:
        kept = self.kept_days.setdefault((tenant_id, connection_id), {})
        kept.update(put)
        for day in drop:
            kept.pop(day, None)

    def put_budget(self, tenant_id: str, connection_id: str, budget_id: str, document: dict) -> None:
        self.budgets.setdefault((tenant_id, connection_id), {})[budget_id] = dict(document)

    def get_budget(self, tenant_id: str, connection_ids: Iterable[str], budget_id: str) -> dict | None:
        for c in connection_ids:
            if budget_id in self.budgets.get((tenant_id, c), {}):
                return dict(self.budgets[(tenant_id, c)][budget_id])
        return None

    def list_budgets(self, tenant_id: str, connection_ids: Iterable[str]) -> list[dict]:
        return [dict(b) for c in connection_ids for b in self.budgets.get((tenant_id, c), {}).values()]

    def delete_budget(self, tenant_id: str, connection_id: str, budget_id: str) -> None:
        self.budgets.get((tenant_id, connection_id), {}).pop(budget_id, None)

    def add_alert(self, tenant_id: str, connection_id: str, document: dict) -> bool:
        stored = self.alerts.setdefault((tenant_id, connection_id), {})
        if document["id"] in stored:
            return False
        stored[document["id"]] = {**document, "published": False}
        return True

    def list_alerts(self, tenant_id: str, connection_ids: Iterable[str]) -> list[dict]:
        return [dict(a) for c in connection_ids for a in self.alerts.get((tenant_id, c), {}).values()]

    def mark_published(self, tenant_id: str, connection_id: str, alert_id: str) -> None:
        alert = self.alerts.get((tenant_id, connection_id), {}).get(alert_id)
        if alert is not None:
            alert["published"] = True

    def put_spend_limits(self, tenant_id: str, connection_id: str, document: dict) -> None:
        self.spend_limits[(tenant_id, connection_id)] = dict(document)

    def get_spend_limits(self, tenant_id: str, connection_id: str) -> dict | None:
        found = self.spend_limits.get((tenant_id, connection_id))
        return dict(found) if found is not None else None


def fake_storage() -> Storage:
    costs = FakeCosts()
    return Storage(FakeConnections(), FakeDirectory(), costs, FakeQuotas(), FakeGuard(costs), FakeHours())
