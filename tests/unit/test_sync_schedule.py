"""What an hourly sync does besides its window: which name list it refreshes (each once a UTC day, never both in one
hourly sync), and whether it does the connection's daily work (once a UTC day, at the connection's own hour)."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from pump_anthropic.domain.calendar import hour_of_day
from pump_anthropic.logic.sync import daily_work_due, names_due

DAY = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_day_of_hourly_syncs_refreshes_each_list_once_and_never_both_at_once():
    previous = DAY - timedelta(minutes=55)
    due = []
    for hour in range(24):
        now = DAY + timedelta(hours=hour, minutes=5)
        due.append(names_due(previous, now))
        previous = now
    assert [h for h, (workspaces, _) in enumerate(due) if workspaces] == [0]
    assert [h for h, (_, api_keys) in enumerate(due) if api_keys] == [12]


def test_the_first_sync_after_a_backfill_skips_the_key_list_connect_just_read():
    assert names_due(None, DAY + timedelta(hours=15)) == (True, False)


def test_a_sync_after_a_missed_day_refreshes_both():
    assert names_due(DAY - timedelta(days=1, hours=3), DAY + timedelta(hours=13)) == (True, True)


def test_a_second_sync_in_the_same_hour_refreshes_nothing():
    assert names_due(DAY + timedelta(hours=12, minutes=1), DAY + timedelta(hours=12, minutes=30)) == (False, False)


def test_each_connection_has_its_own_hour_stable_across_processes_and_a_fleet_spreads_over_the_day():
    # Pinned, so the hour can't silently become per-process (Python's hash() is salted per process) or move between
    # releases (every connection would do its daily work twice, or skip it, on the day of the change).
    assert [hour_of_day("conn_1ac299da937c3ef9ea67") for _ in range(3)] == [3, 3, 3]
    fleet = Counter(hour_of_day(f"conn_{n:05d}") for n in range(10_000))
    assert set(fleet) == set(range(24))
    # 10,000 connections: ~417 an hour, never a pile-up at one hour (00:00 had all of them before).
    assert max(fleet.values()) < 500 and min(fleet.values()) > 340, fleet


def hourly_day(first_hour: int, done_on: date | None, hour: int, day: datetime = DAY) -> list[int]:
    """A day of hourly syncs from `first_hour` (five past), each recording the daily work it did: the hours it did."""
    did = []
    for h in range(first_hour, 24):
        now = day + timedelta(hours=h, minutes=5)
        if daily_work_due(done_on, now, hour):
            did.append(h)
            done_on = now.date()
    return did


def test_the_daily_work_is_done_once_a_day_at_the_connections_hour():
    yesterday = DAY.date() - timedelta(days=1)
    for hour in (0, 7, 23):
        assert hourly_day(0, yesterday, hour) == [hour]


def test_a_missed_hour_is_made_up_by_the_next_sync_that_day_and_only_once():
    yesterday = DAY.date() - timedelta(days=1)
    # The syncs at 07:05 and 08:05 failed (nothing recorded): 09:05 is the first at or after 07:00 to succeed.
    assert daily_work_due(yesterday, DAY + timedelta(hours=9, minutes=5), 7)
    assert not daily_work_due(DAY.date(), DAY + timedelta(hours=10, minutes=5), 7)
    # Before the hour, nothing yet.
    assert not daily_work_due(yesterday, DAY + timedelta(hours=6, minutes=59), 7)
    assert daily_work_due(yesterday, DAY + timedelta(hours=7), 7)


def test_a_day_missed_entirely_is_made_up_by_the_next_days_first_sync_which_counts_as_that_days():
    two_days_ago = DAY.date() - timedelta(days=2)  # yesterday's 23:05 sync (the hour 23) failed
    assert hourly_day(0, two_days_ago, 23) == [0]


def test_the_first_sync_after_a_backfill_does_the_daily_work_and_not_again_that_day():
    assert hourly_day(15, None, 20) == [15]
