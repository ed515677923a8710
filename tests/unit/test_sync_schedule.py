"""Which name list an hourly sync refreshes: each once a UTC day, never both in one hourly sync."""

from datetime import UTC, datetime, timedelta

from pump_anthropic.logic.sync import names_due

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
