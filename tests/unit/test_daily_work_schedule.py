"""The daily work of the sync (the analytics restatement window re-read and the audit) at each connection's own
hour, run through `sync_connection` on in-memory storage and a fake Anthropic: once a UTC day, made up after a
failed sync, and recorded so the next sync knows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from pump_anthropic.domain.calendar import hour_of_day
from pump_anthropic.exceptions import AdminApiUnavailableError
from pump_anthropic.logic import sync
from tests.support.fake_anthropic import FakeAdminApi, FakeSecrets
from tests.support.fake_storage import fake_storage

pytestmark = pytest.mark.disable_socket

TENANT = "tenant-1"
KEY = "sk-ant-admin01-" + "u" * 93 + "AA"
DAY = datetime(2026, 3, 10, tzinfo=UTC)  # analytics days: the source `auto` reads them from the analytics API


def connection_at(hour: int) -> str:
    """A connection id whose daily hour is `hour`."""
    return next(f"conn_{n:04d}" for n in range(10_000) if hour_of_day(f"conn_{n:04d}") == hour)


class Fleet:
    """One active connection, a settable clock for the sync and the storage, and the record of each hourly sync."""

    def __init__(self, monkeypatch, connection_id: str) -> None:
        self.storage = fake_storage()
        self.api = FakeAdminApi()
        self.secrets = FakeSecrets()
        self.connection_id = connection_id
        self.now = DAY
        monkeypatch.setattr(sync, "utc_now", lambda: self.now)
        monkeypatch.setattr(sync.sources, "utc_now", lambda: self.now)
        secret_id = self.secrets.put(connection_id, SecretStr(KEY), tags={})
        record, _ = self.storage.connections.register_connection(
            tenant_id=TENANT, connection_id=connection_id, organization_id="org_1", organization_name="Acme",
            key_hint="…uuAA", secret_id=secret_id,
        )  # fmt: skip
        self.storage.connections.finish_backfill(
            TENANT, connection_id, run=record.backfill_run, status="active", error_code=None, error_message=None
        )
        self.storage.costs.advance_sync_cursor(TENANT, connection_id, DAY.date())

    def sync_at(self, at: datetime, *, fails: bool = False) -> bool | None:
        """One sync at `at`: whether it did the daily work (a 30-day window), or None if Anthropic failed it."""
        self.now = self.storage.connections.now = at
        self.api.failure = AdminApiUnavailableError("overloaded", status=529) if fails else None
        try:
            outcome = sync.sync_connection(
                TENANT, self.connection_id, secrets=self.secrets, client_factory=lambda k, d: self.api, deadline=None,
                source="auto", storage=self.storage,
            )  # fmt: skip
        except AdminApiUnavailableError:
            return None
        assert outcome.status == "synced"
        return outcome.window_start == at.date() - timedelta(days=sync.DEFAULT_REREAD_DAYS)

    def hourly(self, day: datetime, failing_hours: tuple[int, ...] = ()) -> list[int]:
        """A UTC day of hourly syncs (five past): the hours whose sync did the daily work."""
        did = []
        for hour in range(24):
            if self.sync_at(day + timedelta(hours=hour, minutes=5), fails=hour in failing_hours):
                did.append(hour)
        return did


@pytest.mark.parametrize("hour", [0, 9, 23])
def test_a_connection_does_its_daily_work_once_a_day_at_its_own_hour(monkeypatch, hour):
    fleet = Fleet(monkeypatch, connection_at(hour))
    # The first sync after the backfill does it (the backfill's day), then not again that day.
    assert fleet.hourly(DAY) == [0]
    assert fleet.hourly(DAY + timedelta(days=1)) == [hour]
    assert fleet.hourly(DAY + timedelta(days=2)) == [hour]
    last_sync = fleet.storage.connections.get_connection(TENANT, fleet.connection_id).last_sync
    assert last_sync[sync.DAILY_WORK_ON] == (DAY + timedelta(days=2)).date().isoformat()


def test_a_failed_sync_at_the_hour_is_made_up_by_the_next_one_that_day_once(monkeypatch):
    fleet = Fleet(monkeypatch, connection_at(9))
    fleet.hourly(DAY)
    assert fleet.hourly(DAY + timedelta(days=1), failing_hours=(9, 10)) == [11]


def test_a_day_missed_from_its_hour_to_midnight_is_made_up_by_the_next_days_first_sync(monkeypatch):
    fleet = Fleet(monkeypatch, connection_at(22))
    fleet.hourly(DAY)
    assert fleet.hourly(DAY + timedelta(days=1), failing_hours=(22, 23)) == []
    assert fleet.hourly(DAY + timedelta(days=2)) == [0]  # made up at once, and counted as the day's
    assert fleet.hourly(DAY + timedelta(days=3)) == [22]


def test_a_record_from_before_the_hours_counts_as_the_days_first_sync_having_done_it(monkeypatch):
    fleet = Fleet(monkeypatch, connection_at(9))
    fleet.sync_at(DAY + timedelta(hours=0, minutes=5))
    record = fleet.storage.connections.get_connection(TENANT, fleet.connection_id)
    legacy_record = {k: v for k, v in record.last_sync.items() if k != sync.DAILY_WORK_ON}
    fleet.storage.connections.record_sync(TENANT, fleet.connection_id, legacy_record)
    # Deployed mid-day: no second re-read that day; the next day at the connection's hour.
    assert [fleet.sync_at(DAY + timedelta(hours=h, minutes=5)) for h in (9, 10)] == [False, False]
    assert fleet.hourly(DAY + timedelta(days=1)) == [9]


def test_the_legacy_source_never_does_the_daily_work(monkeypatch):
    fleet = Fleet(monkeypatch, connection_at(0))
    fleet.now = fleet.storage.connections.now = DAY + timedelta(minutes=5)
    outcome = sync.sync_connection(
        TENANT, fleet.connection_id, secrets=fleet.secrets, client_factory=lambda k, d: fleet.api, deadline=None,
        source="legacy", storage=fleet.storage,
    )  # fmt: skip
    assert outcome.window_start == DAY.date() - timedelta(days=sync.DEFAULT_LOOKBACK_DAYS)
    assert outcome.cross_check is None
