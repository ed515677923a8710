from datetime import date
from decimal import Decimal

import pytest

from pump_anthropic.domain.normalize import CostItem
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.report import build_cost_report, parse_cost_query
from pump_anthropic.domain.rollups import LINE_DIMENSIONS, build_rollups, parse_lines
from pump_anthropic.exceptions import InvalidQueryError

TODAY = date(2026, 11, 25)


def item(
    day=date(2026, 3, 1),
    workspace="wrkspc_a",
    model="claude-opus-4-6",
    token_type="output_tokens",
    tier="standard",
    geo="global",
    cost="0.01",
    quantity=10,
    cost_type="tokens",
):
    return CostItem(
        date=day,
        workspace_id=workspace,
        model=model,
        cost_type=cost_type,
        token_type=token_type,
        service_tier=tier,
        context_window="0-200k",
        inference_geo=geo,
        cost_usd=None if cost is None else Decimal(cost),
        amount_cents=None if cost is None else Decimal(cost) * 100,
        quantity=quantity,
        unit="tokens" if cost_type == "tokens" else "requests",
        description=None,
    )


def stored(items) -> list[StoredRollup]:
    return [StoredRollup(r.date, "conn_1", LINE_DIMENSIONS, parse_lines(r.lines_json())) for r in build_rollups(items)]


def test_rollups_fold_geo_and_keep_exact_sums():
    items = [item(geo="global", cost="0.1"), item(geo="us", cost="0.2", quantity=5)]
    (rollup,) = build_rollups(items)
    (line,) = rollup.lines
    assert (line.cost_usd, line.tokens) == (Decimal("0.3"), 15)


def test_rollups_are_one_part_per_day_unless_too_large():
    items = [item(model=f"model-{n:03d}") for n in range(200)]
    assert len(build_rollups(items)) == 1
    parts = build_rollups(items, max_part_bytes=2_000)
    assert len(parts) > 1 and {p.part for p in parts} == set(range(len(parts)))
    assert sum(len(p.lines) for p in parts) == 200


def test_rollups_serialize_the_same_whatever_the_item_order():
    items = [item(workspace=w, model=m) for w in ("a", "b", None) for m in ("x", "y")]
    assert [r.lines_json() for r in build_rollups(items)] == [r.lines_json() for r in build_rollups(items[::-1])]


def test_unknown_cost_is_kept_apart_from_known_cost():
    items = [item(tier="priority", cost=None, quantity=7), item(cost="1.5", quantity=3)]
    report = build_cost_report(parse_cost_query("2026-03-01", "2026-03-01", "model", today=TODAY), stored(items), {})
    assert report["total"] == {
        "cost_usd": "1.5",
        "list_cost_usd": None,  # the legacy reports give no list price
        "list_priced": {"days": 0, "of_days": 1, "list_cost_usd": "0", "cost_usd": "0", "discount_usd": "0"},
        "tokens": 10,
        "cost_unknown": {"tokens": 7, "web_search_requests": 0},
    }


def test_a_group_with_only_unknown_cost_shows_null_not_zero():
    items = [item(tier="priority", cost=None, quantity=7), item(tier="standard", cost="2")]
    report = build_cost_report(
        parse_cost_query("2026-03-01", "2026-03-01", "service_tier", today=TODAY), stored(items), {}
    )
    by_tier = {row["service_tier"]: row for row in report["rows"]}
    assert by_tier["priority"]["cost_usd"] is None and by_tier["priority"]["cost_unknown"]["tokens"] == 7
    assert by_tier["standard"]["cost_usd"] == "2"


def test_report_rows_are_sorted_and_named_and_sum_exactly():
    items = [
        item(workspace=None, cost="0.000001"),
        item(workspace="wrkspc_b", cost="0.1"),
        item(workspace="wrkspc_a", cost="123.456789"),
        item(day=date(2026, 3, 2), cost="0.3"),
    ]
    query = parse_cost_query("2026-03-01", "2026-03-02", "date,workspace_id", today=TODAY)
    report = build_cost_report(query, stored(items), {"wrkspc_a": "Production"})
    keys = [(r["date"], r["workspace_id"]) for r in report["rows"]]
    assert keys == [
        ("2026-03-01", None),
        ("2026-03-01", "wrkspc_a"),
        ("2026-03-01", "wrkspc_b"),
        ("2026-03-02", "wrkspc_a"),
    ]
    assert [r["workspace_name"] for r in report["rows"]] == [
        "Default workspace",
        "Production",
        "wrkspc_b",
        "Production",
    ]
    assert report["total"]["cost_usd"] == "123.85679"
    assert sum(Decimal(r["cost_usd"]) for r in report["rows"]) == Decimal("123.85679")


def test_amounts_never_use_exponent_notation():
    report = build_cost_report(
        parse_cost_query("2026-03-01", "2026-03-01", "model", today=TODAY), stored([item(cost="0.0000001")]), {}
    )
    assert report["total"]["cost_usd"] == "0.0000001"


@pytest.mark.parametrize(
    "args",
    [
        ("2026-3-01", None, None),
        ("2026-03-01", "2026-02-28", None),
        ("2025-01-01", "2026-03-01", None),
        (None, None, "date,,model"),
        (None, None, "date,date"),
        (None, None, "date,\x00"),
        ("20260301", None, None),
    ],
)
def test_parse_cost_query_rejects_bad_input_with_a_sentence(args):
    with pytest.raises(InvalidQueryError) as error:
        parse_cost_query(*args, today=TODAY)
    assert error.value.message.endswith(".") and "\x00" not in error.value.message


def test_parse_cost_query_defaults_to_the_last_30_days_by_date_workspace_model():
    query = parse_cost_query(None, None, None, today=TODAY)
    assert (query.first_day, query.last_day) == (date(2026, 10, 27), TODAY)
    assert query.group_by == ("date", "workspace_id", "model")


@pytest.mark.parametrize("value", ["2026-W09-1", "０２０２６-03-01", "2026-03-01 ", "9999-12-31", "0001-01-01"])
def test_parse_cost_query_takes_only_plain_dates_in_a_sane_range(value):
    with pytest.raises(InvalidQueryError):
        parse_cost_query(value, None, None, today=TODAY)


def test_parse_cost_query_never_echoes_an_unknown_group_by_that_is_not_a_name():
    key = "sk-ant-admin01-" + "x" * 93 + "AA"
    with pytest.raises(InvalidQueryError) as error:
        parse_cost_query(None, None, f"date,{key}", today=TODAY)
    assert "sk-ant" not in error.value.message
