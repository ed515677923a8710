"""Hourly cost, pure: rows to lines by day, the rounding residue put on a key's largest hour, a real gap left."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from pump_anthropic.domain import hourly
from pump_anthropic.domain.rollups import RollupLine


def _row(hour: int, workspace: str | None, key: str | None, cents: str, list_cents: str) -> SimpleNamespace:
    start = datetime(2026, 12, 6, hour, tzinfo=UTC)
    return SimpleNamespace(
        starting_at=start,
        group=SimpleNamespace(workspace_id=workspace, api_key_id=key),
        cost=SimpleNamespace(amount=Decimal(cents), list_amount=Decimal(list_cents)),
    )


def _who(key: str, workspace: str | None, usd: str, list_usd: str) -> list:
    # WHO line: api_key_id, actor, product, workspace_id, model, cost_type, token_type, then the figures.
    return RollupLine((key, None, "api", workspace, "m", "tokens", "output"), Decimal(usd), 0, 0, 0, 0,
                      Decimal(list_usd)).to_json()  # fmt: skip


def test_rows_become_lines_per_day_with_the_default_workspace_as_none_and_no_key_as_console():
    rows = [_row(3, "wrkspc_default", None, "150", "200"), _row(3, "wrkspc_a", "apikey_1", "25.5", "30")]
    ((day, lines),) = hourly.hour_lines(rows, "wrkspc_default").items()
    assert day == date(2026, 12, 6)
    assert [(line.dims, line.cost_usd, line.list_cost_usd) for line in lines] == [
        (("2026-12-06T03:00:00Z", None, "console"), Decimal("1.5"), Decimal("2")),
        (("2026-12-06T03:00:00Z", "wrkspc_a", "apikey_1"), Decimal("0.255"), Decimal("0.3")),
    ]


def test_the_rounding_residue_goes_on_the_keys_largest_hour_so_the_hours_add_up_to_the_day():
    rows = [_row(1, "wrkspc_a", "apikey_1", "10.000001", "12"), _row(2, "wrkspc_a", "apikey_1", "30.000001", "36")]
    lines = hourly.hour_lines(rows, None)[date(2026, 12, 6)]
    hourly.reconcile(lines, [_who("apikey_1", "wrkspc_a", "0.4", "0.48")])
    assert sum((line.cost_usd for line in lines), Decimal(0)) == Decimal("0.4")
    assert [line.cost_usd for line in lines] == [Decimal("0.10000001"), Decimal("0.29999999")]


def test_a_gap_larger_than_rounding_is_left_for_the_next_sync():
    lines = hourly.hour_lines([_row(1, "wrkspc_a", "apikey_1", "10", "12")], None)[date(2026, 12, 6)]
    hourly.reconcile(lines, [_who("apikey_1", "wrkspc_a", "5.00", "6.00")])
    assert lines[0].cost_usd == Decimal("0.1")


def test_the_query_reads_through_the_end_of_the_last_day_in_one_hour_buckets_whatever_our_clock_says():
    query = hourly.hourly_query(datetime(2026, 12, 6, 21, tzinfo=UTC), date(2026, 12, 7))
    assert query.starting_at == datetime(2026, 12, 6, 21, tzinfo=UTC)
    assert query.ending_at == datetime(2026, 12, 8, tzinfo=UTC)
    assert (query.time_bucket_width, query.group_by) == ("1h", ("workspace_id", "api_key_id"))


def test_stored_hours_round_trip_and_unchanged_hours_keep_their_digest():
    lines = hourly.hour_lines([_row(5, "wrkspc_a", "apikey_1", "1", "1")], None)[date(2026, 12, 6)]
    stored = hourly.encode(date(2026, 12, 6), lines)
    assert hourly.encode(date(2026, 12, 6), lines).digest == stored.digest
    rollup = hourly.rollup(date(2026, 12, 6), "conn", json.loads(zlib.decompress(stored.body)))
    assert rollup.dimensions == hourly.HOUR_DIMENSIONS and rollup.tokens_known is False
    assert [(line.dims, line.cost_usd) for line in rollup.lines] == [(lines[0].dims, Decimal("0.01"))]


def _held(day: date, through: datetime | None) -> hourly.DayHours:
    return hourly.DayHours(day, [], through, "digest")


def test_the_next_read_starts_a_margin_before_the_first_day_not_loaded_through_its_end():
    yesterday, today = date(2026, 12, 6), date(2026, 12, 7)
    margin = timedelta(hours=2)
    # Nothing stored, or stored without a watermark: from yesterday's start.
    assert hourly.reread_from([yesterday, today], {}, margin) == datetime(2026, 12, 6, tzinfo=UTC)
    assert hourly.reread_from([yesterday, today], {yesterday: _held(yesterday, None)}, margin) == datetime(
        2026, 12, 6, tzinfo=UTC
    )
    # Yesterday loaded through 22:00: two hours before that.
    held = {yesterday: _held(yesterday, datetime(2026, 12, 6, 22, tzinfo=UTC))}
    assert hourly.reread_from([yesterday, today], held, margin) == datetime(2026, 12, 6, 20, tzinfo=UTC)
    # Yesterday complete, today through 01:00: from today's start, never before it.
    held = {yesterday: _held(yesterday, datetime(2026, 12, 7, tzinfo=UTC)),
            today: _held(today, datetime(2026, 12, 7, 1, tzinfo=UTC))}  # fmt: skip
    assert hourly.reread_from([yesterday, today], held, margin) == datetime(2026, 12, 7, tzinfo=UTC)
    # Yesterday complete and today never read.
    assert hourly.reread_from([yesterday, today], {yesterday: held[yesterday]}, margin) == datetime(
        2026, 12, 7, tzinfo=UTC
    )


def test_the_watermark_is_kept_per_day_as_an_hour_within_the_day():
    day = date(2026, 12, 6)
    assert hourly.read_through(datetime(2026, 12, 6, 13, 47, tzinfo=UTC), day) == datetime(2026, 12, 6, 13, tzinfo=UTC)
    assert hourly.read_through(datetime(2026, 12, 7, 3, 5, tzinfo=UTC), day) == datetime(2026, 12, 7, tzinfo=UTC)
    assert hourly.read_through(datetime(2026, 12, 5, 23, tzinfo=UTC), day) == datetime(2026, 12, 6, tzinfo=UTC)
    assert hourly.read_through(None, day) is None


def test_a_merge_keeps_the_stored_hours_before_the_read_and_replaces_the_rest():
    day = date(2026, 12, 6)
    stored = hourly.hour_lines([_row(h, "wrkspc_a", "apikey_1", "10", "12") for h in (1, 2, 3)], None)[day]
    kept = hourly.decode(day, json.loads(json.dumps({"hours": [line.to_json() for line in stored]})), "d")
    read = hourly.hour_lines([_row(h, "wrkspc_a", "apikey_1", "20", "24") for h in (2, 3, 4)], None)[day]
    merged = hourly.merge(kept, read, datetime(2026, 12, 6, 2, tzinfo=UTC))
    assert [(line.dims[0][11:13], line.cost_usd) for line in merged] == [
        ("01", Decimal("0.1")), ("02", Decimal("0.2")), ("03", Decimal("0.2")), ("04", Decimal("0.2")),
    ]  # fmt: skip


def test_reconcile_names_the_cells_off_beyond_rounding_including_a_billed_key_without_hours():
    lines = hourly.hour_lines([_row(1, "wrkspc_a", "apikey_1", "10", "12")], None)[date(2026, 12, 6)]
    off = hourly.reconcile(lines, [_who("apikey_1", "wrkspc_a", "0.1", "0.12"), _who("apikey_2", None, "3", "4")])
    assert off == {(None, "apikey_2")}
    lines = hourly.hour_lines([_row(1, "wrkspc_a", "apikey_1", "10", "12")], None)[date(2026, 12, 6)]
    assert hourly.reconcile(lines, [_who("apikey_1", "wrkspc_a", "0.5", "0.6")]) == {("wrkspc_a", "apikey_1")}


def test_the_watermark_is_part_of_the_stored_document():
    day = date(2026, 12, 6)
    lines = hourly.hour_lines([_row(5, "wrkspc_a", "apikey_1", "1", "1")], None)[day]
    through = datetime(2026, 12, 6, 9, tzinfo=UTC)
    stored = hourly.encode(day, lines, through)
    assert stored.digest != hourly.encode(day, lines).digest
    back = hourly.decode(day, json.loads(zlib.decompress(stored.body)), stored.digest)
    assert back.read_through == through and [line.to_json() for line in back.lines] == [
        line.to_json() for line in lines
    ]
