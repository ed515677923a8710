"""The sync's hourly step on the fake storage: each read starts a margin before the hour the last one was loaded
through, keeps the earlier hours, and reads a day whole again when data landed in a kept hour."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from pump_anthropic.domain import analytics_days
from pump_anthropic.domain.rollups import RollupLine
from pump_anthropic.logic import hourly
from tests.support.fake_storage import fake_storage

YESTERDAY, TODAY = date(2026, 12, 6), date(2026, 12, 7)
DAYS = [YESTERDAY, TODAY]


class _Org:
    """A one-key org's cents per hour (what the analytics API's hourly rows say), read through a watermark."""

    def __init__(self) -> None:
        self.cents: dict[datetime, Decimal] = {}
        self.watermark = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
        self.starts: list[datetime] = []

    def iter_cost_pages(self, query):
        self.starts.append(query.starting_at)
        rows = [
            SimpleNamespace(starting_at=hour, group=SimpleNamespace(workspace_id="wrkspc_a", api_key_id="apikey_1"),
                            cost=SimpleNamespace(amount=cents, list_amount=cents))  # fmt: skip
            for hour, cents in sorted(self.cents.items())
            if query.starting_at <= hour < query.ending_at and hour < self.watermark
        ]
        yield SimpleNamespace(data=rows, data_refreshed_at=self.watermark)

    def billed(self) -> dict[date, dict]:
        """Each day's billed WHO lines as the day query would have pulled them (everything before the watermark)."""
        days: dict[date, dict] = {}
        for day in DAYS:
            usd = sum((c for h, c in self.cents.items() if h.date() == day and h < self.watermark), Decimal(0)) / 100
            line = RollupLine(("apikey_1", None, "api", "wrkspc_a", "m", "tokens", "output"), usd, 0, 0, 0, 0, usd)
            days[day] = {analytics_days.WHO_LINES: [line.to_json()]}
        return days


def _hours(storage, day: date) -> dict[str, Decimal]:
    held = storage.hours.read_hours("t", "c", [day])[day]
    return {line.dims[0][11:13]: line.cost_usd for line in held.lines}


def _refresh(storage, org: _Org) -> None:
    assert hourly.refresh_hours(storage, "t", "c", org, DAYS, org.billed(), None, reread_hours=2)


def test_each_read_starts_two_hours_before_the_last_watermark_and_the_hours_add_up_to_the_days():
    storage, org = fake_storage(), _Org()
    for hour in range(34):  # yesterday 00:00 through today 09:00
        org.cents[datetime(2026, 12, 6, tzinfo=UTC) + timedelta(hours=hour)] = Decimal(10 + hour)
    _refresh(storage, org)
    assert org.starts == [datetime(2026, 12, 6, tzinfo=UTC)]  # nothing stored yet: both days
    assert storage.hours.read_hours("t", "c", [TODAY])[TODAY].read_through == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert storage.hours.read_hours("t", "c", [YESTERDAY])[YESTERDAY].read_through == datetime(2026, 12, 7, tzinfo=UTC)

    org.watermark = datetime(2026, 12, 7, 12, 10, tzinfo=UTC)
    for hour in range(9, 12):
        org.cents[datetime(2026, 12, 7, hour, tzinfo=UTC)] = Decimal(100 + hour)
    _refresh(storage, org)
    assert org.starts[1] == datetime(2026, 12, 7, 7, tzinfo=UTC)  # 09:00 less the two-hour margin
    today = _hours(storage, TODAY)
    assert sorted(today) == [f"{h:02d}" for h in range(12)]
    assert today["11"] == Decimal("1.11") and today["02"] == Decimal("0.36")
    assert sum(today.values(), Decimal(0)) == Decimal(org.billed()[TODAY][analytics_days.WHO_LINES][0][7])
    assert len(_hours(storage, YESTERDAY)) == 24


def test_data_landing_in_an_hour_not_read_again_makes_the_sync_read_the_day_whole():
    storage, org = fake_storage(), _Org()
    for hour in range(34):
        org.cents[datetime(2026, 12, 6, tzinfo=UTC) + timedelta(hours=hour)] = Decimal(10)
    _refresh(storage, org)
    org.cents[datetime(2026, 12, 7, 1, tzinfo=UTC)] += Decimal(500)  # late usage in a kept hour (01:00)
    _refresh(storage, org)
    assert org.starts[1:] == [datetime(2026, 12, 7, 7, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)]
    assert _hours(storage, TODAY)["01"] == Decimal("5.1")
    # Ten hours of $0.10, and the $5 that came late.
    assert sum(_hours(storage, TODAY).values(), Decimal(0)) == Decimal("6.0")
    assert len(org.starts) == 3  # and only then: yesterday was not read again


def test_a_refused_hourly_query_leaves_the_stored_hours_as_they_were():
    from pump_anthropic.exceptions import AdminApiError

    class _Refusing(_Org):
        def iter_cost_pages(self, query):
            raise AdminApiError("refused", status=403, error_type="permission_error")

    storage = fake_storage()
    assert hourly.refresh_hours(storage, "t", "c", _Refusing(), DAYS, {}, None) is False
    assert storage.hours.read_hours("t", "c", DAYS) == {}
