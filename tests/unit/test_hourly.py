"""Hourly cost, pure: rows to lines by day, the rounding residue put on a key's largest hour, a real gap left."""

from __future__ import annotations

from datetime import UTC, date, datetime
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


def test_the_query_reads_from_the_first_day_through_the_current_hour_in_one_hour_buckets():
    query = hourly.hourly_query(date(2026, 12, 6), datetime(2026, 12, 7, 13, 25, tzinfo=UTC))
    assert query.starting_at == datetime(2026, 12, 6, tzinfo=UTC)
    assert query.ending_at == datetime(2026, 12, 7, 14, tzinfo=UTC)
    assert (query.time_bucket_width, query.group_by) == ("1h", ("workspace_id", "api_key_id"))


def test_stored_hours_round_trip_and_unchanged_hours_keep_their_digest():
    lines = hourly.hour_lines([_row(5, "wrkspc_a", "apikey_1", "1", "1")], None)[date(2026, 12, 6)]
    stored = hourly.encode(date(2026, 12, 6), lines)
    assert hourly.encode(date(2026, 12, 6), lines).digest == stored.digest
    import json
    import zlib

    rollup = hourly.rollup(date(2026, 12, 6), "conn", json.loads(zlib.decompress(stored.body)))
    assert rollup.dimensions == hourly.HOUR_DIMENSIONS and rollup.tokens_known is False
    assert [(line.dims, line.cost_usd) for line in rollup.lines] == [(lines[0].dims, Decimal("0.01"))]
