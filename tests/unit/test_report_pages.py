"""Pages of the cost report: a keyed cursor over the sorted rows, refused when it belongs to another query."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pump_anthropic.domain import report, report_pages
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.report import build_cost_report, parse_cost_query
from pump_anthropic.domain.report_pages import (
    DEFAULT_PAGE_ROWS,
    MAX_PAGE_ROWS,
    PageQuery,
    decode_cursor,
    encode_cursor,
    page_of_report,
    parse_page_query,
)
from pump_anthropic.domain.rollups import LINE_DIMENSIONS, build_rollups, parse_lines
from pump_anthropic.exceptions import InvalidQueryError
from tests.support.builders import cost_item

TODAY = date(2026, 11, 25)
FIRST_DAY = date(2026, 3, 1)
QUERY = parse_cost_query("2026-03-01", "2026-03-10", "date,workspace_id,model", today=TODAY)
WORKSPACES = (None, "wrkspc_a", "wrkspc_b")
MODELS = ("claude-haiku-4-5", "claude-opus-4-6")


def whole_report(items, query=QUERY) -> dict:
    rollups = [
        StoredRollup(r.date, "conn_1", LINE_DIMENSIONS, parse_lines(r.lines_json())) for r in build_rollups(items)
    ]
    return build_cost_report(query, rollups, {"wrkspc_a": "Production"})


def spread(days: int = 10, cost: str = "0.000123") -> list:
    return [
        cost_item(date=FIRST_DAY + timedelta(days=d), workspace_id=ws, model=model, cost_usd=Decimal(cost))
        for d in range(days)
        for ws in WORKSPACES
        for model in MODELS
    ]


def all_pages(whole: dict, limit: int, query=QUERY) -> list[dict]:
    pages = [page_of_report(whole, query, PageQuery(limit, None))]
    while pages[-1]["has_more"]:
        pages.append(page_of_report(whole, query, parse_page_query(str(limit), pages[-1]["next_page"], query)))
    return pages


def refused(cursor: str, query=QUERY) -> InvalidQueryError:
    with pytest.raises(InvalidQueryError) as raised:
        decode_cursor(cursor, query)
    assert raised.value.code == "invalid_query"
    assert raised.value.message.startswith("The page cursor is not one this query returned")
    assert cursor not in raised.value.message or not cursor
    return raised.value


def raw_cursor(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_cursor_round_trips_its_key_and_is_url_safe_base64_of_json():
    key = ("2026-03-01", None, "claude-opus-4-6")
    cursor = encode_cursor(QUERY, key)
    assert decode_cursor(cursor, QUERY) == key
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert data["after"] == ["2026-03-01", None, "claude-opus-4-6"]


@pytest.mark.parametrize("limit", [1, 2, 5, 7, 59, 60, 61, DEFAULT_PAGE_ROWS])
def test_pages_concatenate_to_the_whole_report_and_each_carries_the_whole_total(limit):
    whole = whole_report(spread())
    assert len(whole["rows"]) == 60

    pages = all_pages(whole, limit)

    assert [row for page in pages for row in page["rows"]] == whole["rows"]
    assert len(pages) == -(-60 // limit)
    assert all(len(page["rows"]) == limit for page in pages[:-1])
    for page in pages:
        assert {k: v for k, v in page.items() if k not in {"rows", "has_more", "next_page"}} == {
            k: v for k, v in whole.items() if k != "rows"
        }
        assert page["total"]["cost_usd"] == "0.00738"
    assert [p["has_more"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert pages[-1]["next_page"] is None and all(p["next_page"] for p in pages[:-1])


def test_an_empty_report_is_one_last_page():
    page = page_of_report(whole_report([]), QUERY, PageQuery(DEFAULT_PAGE_ROWS, None))
    assert (page["rows"], page["has_more"], page["next_page"]) == ([], False, None)
    assert page["total"] == {
        "cost_usd": "0",
        "list_cost_usd": "0",
        "list_priced": {"days": 0, "of_days": 0, "list_cost_usd": "0", "cost_usd": "0", "discount_usd": "0"},
        "tokens": 0,
        "cost_unknown": {"tokens": 0, "web_search_requests": 0},
    }


def test_a_page_boundary_holds_when_rows_appear_or_vanish_between_pages():
    first = page_of_report(whole_report(spread()), QUERY, PageQuery(10, None))
    boundary = ("2026-03-02", "wrkspc_a", MODELS[1])
    assert tuple(first["rows"][-1][d] for d in QUERY.group_by) == boundary

    # Between two requests a row appears before the boundary, one after it, and the row right after it vanishes
    vanished = (FIRST_DAY + timedelta(days=1), "wrkspc_b", MODELS[0])
    changed = [i for i in spread() if (i.date, i.workspace_id, i.model) != vanished]
    changed += [cost_item(date=FIRST_DAY, workspace_id="wrkspc_0"), cost_item(date=date(2026, 3, 9))]
    rest = page_of_report(whole_report(changed), QUERY, parse_page_query(str(MAX_PAGE_ROWS), first["next_page"], QUERY))

    keys = [tuple(r[d] for d in QUERY.group_by) for r in rest["rows"]]
    assert keys[0] == ("2026-03-02", "wrkspc_b", MODELS[1])
    assert ("2026-03-09", "wrkspc_r", "claude-opus-4-6") in keys
    assert len(keys) == 60 - 10 - 1 + 1
    assert all(report.order_key(k) > report.order_key(boundary) for k in keys)


@given(
    keys=st.sets(
        st.tuples(st.sampled_from(["2026-03-01", "2026-03-02"]), st.sampled_from(WORKSPACES), st.sampled_from(MODELS))
    ),
    limit=st.integers(1, 13),
)
@settings(max_examples=60, deadline=None)
def test_any_rows_over_any_limit_come_back_once_each_in_order(keys, limit):
    whole = whole_report([cost_item(date=date.fromisoformat(d), workspace_id=w, model=m) for d, w, m in keys])
    pages = all_pages(whole, limit)
    assert [row for page in pages for row in page["rows"]] == whole["rows"]


def test_a_page_stays_within_the_byte_budget_but_always_moves_on(monkeypatch):
    whole = whole_report(spread())
    one_row = len(json.dumps(json.dumps(whole["rows"][0])))
    monkeypatch.setattr(report_pages, "MAX_PAGE_BYTES", one_row * 3 + 1)
    pages = all_pages(whole, MAX_PAGE_ROWS)
    assert [len(p["rows"]) for p in pages] == [3] * 20
    assert [row for page in pages for row in page["rows"]] == whole["rows"]

    monkeypatch.setattr(report_pages, "MAX_PAGE_BYTES", 1)
    assert len(page_of_report(whole, QUERY, PageQuery(MAX_PAGE_ROWS, None))["rows"]) == 1


@settings(max_examples=60, deadline=None)
@given(
    budget_rows=st.floats(min_value=0.5, max_value=70),
    limit=st.integers(min_value=1, max_value=80),
    together=st.integers(min_value=1, max_value=100),
)
def test_every_page_holds_as_many_rows_as_fit_its_byte_budget_counted_row_by_row(budget_rows, limit, together):
    """Whatever the budget and the limit, a page is the longest run of rows after the cursor whose sizes (each as
    the response envelope holds it) add up to the budget, and at least one row."""
    whole = whole_report(spread())
    sizes = [len(json.dumps(json.dumps(row))) for row in whole["rows"]]
    budget = int(budget_rows * sizes[0])
    with (
        mock.patch.object(report_pages, "MAX_PAGE_BYTES", budget),
        mock.patch.object(report_pages, "SIZED_TOGETHER", together),
    ):
        pages = all_pages(whole, limit)
    start = 0
    for page in pages:
        expected, total = 0, 0
        while start + expected < len(sizes) and expected < limit:
            total += sizes[start + expected]
            if total > budget and expected:
                break
            expected += 1
        assert len(page["rows"]) == expected
        start += expected
    assert start == len(whole["rows"])


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.text(max_size=30)), max_size=6))
def test_a_rows_size_in_the_response_envelope_is_counted_exactly(row):
    """The page budget counts each row as the Lambda runtime's envelope holds it: the body is one JSON string."""
    text = json.dumps(row)
    assert report_pages._enveloped_size(text) == len(json.dumps(text))


@pytest.mark.parametrize(
    "other",
    [
        ("2026-03-01", "2026-03-11", "date,workspace_id,model"),
        ("2026-02-28", "2026-03-10", "date,workspace_id,model"),
        ("2026-03-01", "2026-03-10", "date,model,workspace_id"),
        ("2026-03-01", "2026-03-10", "month,workspace_id,model"),
    ],
)
def test_a_cursor_from_another_query_is_refused(other):
    cursor = page_of_report(whole_report(spread()), QUERY, PageQuery(5, None))["next_page"]
    refused(cursor, parse_cost_query(*other, today=TODAY))


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!!",
        "not-a-cursor",
        "é" * 8,
        "A" * (report_pages.MAX_CURSOR_CHARS + 4),
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
        raw_cursor([1, 2]),
        raw_cursor("text"),
        raw_cursor(7),
        raw_cursor({"after": ["2026-03-01", None, "m"]}),
        raw_cursor({"q": "0" * 16, "after": ["2026-03-01", None, "m"]}),
    ],
)
def test_a_malformed_cursor_is_refused_without_being_echoed(cursor):
    refused(cursor)


@pytest.mark.parametrize(
    "after",
    [
        ["2026-03-01", None],
        ["2026-03-01", None, "m", "x"],
        ["2026-03-01", None, 5],
        "2026-03-01",
        None,
        [[], None, "m"],
    ],
)
def test_a_cursor_of_this_query_with_a_key_of_the_wrong_shape_is_refused(after):
    genuine = json.loads(base64.urlsafe_b64decode(encode_cursor(QUERY, ("a", "b", "c")) + "=="))
    refused(raw_cursor({"q": genuine["q"], "after": after}))
    refused(raw_cursor({**genuine, "extra": 1}))


@pytest.mark.parametrize(
    ("limit", "rows"), [(None, DEFAULT_PAGE_ROWS), ("1", 1), ("250", 250), (str(MAX_PAGE_ROWS), MAX_PAGE_ROWS)]
)
def test_limit_defaults_to_a_thousand_rows_and_takes_one_to_ten_thousand(limit, rows):
    assert parse_page_query(limit, None, QUERY) == PageQuery(rows, None)


@pytest.mark.parametrize("limit", ["0", "10001", "-1", "1.5", "1e3", " 5", "", "ten", "9" * 40])
def test_a_limit_out_of_range_or_not_a_number_is_refused_with_a_sentence(limit):
    with pytest.raises(InvalidQueryError) as raised:
        parse_page_query(limit, None, QUERY)
    assert raised.value.code == "invalid_query"
    assert raised.value.message == "'limit' must be a whole number from 1 to 10000."


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.one_of(
        st.binary(max_size=2048).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
        st.integers(1, 40_000).map(lambda n: base64.urlsafe_b64encode(b"[" * n).decode()),
        st.integers(1, 40_000).map(lambda n: base64.urlsafe_b64encode(b'{"q":' * n).decode()),
        st.just("A" * 65_536),
        st.text(max_size=300),
    )
)
def test_any_cursor_not_ours_is_a_400_never_a_crash(cursor):
    """Random bytes, deep nesting, 64 KB strings, any text: refused as invalid_query (no other exception escapes)."""
    try:
        parse_page_query("10", cursor, QUERY, tenant="tenant-a")
    except InvalidQueryError as exc:
        assert exc.code == "invalid_query"


def test_a_cursor_answers_only_its_tenant_and_its_query():
    cursor = encode_cursor(QUERY, ("2026-03-02", None, "claude-haiku-4-5"), tenant="tenant-a")
    assert parse_page_query("10", cursor, QUERY, tenant="tenant-a").after == ("2026-03-02", None, "claude-haiku-4-5")
    other_query = parse_cost_query("2026-03-01", "2026-03-11", "date,workspace_id,model", today=TODAY)
    for tenant, query in (("tenant-b", QUERY), ("tenant-a", other_query)):
        with pytest.raises(InvalidQueryError):
            parse_page_query("10", cursor, query, tenant=tenant)
