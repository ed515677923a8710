"""GET /costs and GET /costs/export with any dates, group_by values, formats and query-string junk: a report (empty
for tenant B) or a 400, and tenant A's own reads never fail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from pump_anthropic.domain import report
from tests.support.bad_input import check_response, error_code, writes
from tests.support.bad_input_strategies import (
    DIMENSIONS,
    EMPTY_TOTAL,
    MAX_RANGE_DAYS,
    RANGE_DAYS,
    combinable,
    control_text,
    join_query,
    junk_queries,
    text,
)
from tests.support.bad_input_world import BAD_INPUT_MARKS, TENANT_A, examples

pytestmark = BAD_INPUT_MARKS


EARLIEST_DATE, LATEST_DATE = report.EARLIEST_DATE, report.LATEST_DATE


# Dates: valid ones (near today, pairs, anywhere) and strings the API must refuse.
def is_strict_date(value: str) -> bool:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _mutate_date(day: date, how: str, char: str, position: int) -> str:
    text_ = day.isoformat()
    position %= len(text_) + 1
    mutations = {
        "insert": text_[:position] + char + text_[position:],
        "drop": text_[:position] + text_[position + 1 :],
        "replace": text_[:position] + char + text_[position + 1 :],
        "slashes": text_.replace("-", "/"),
        "dots": text_.replace("-", "."),
        "pad": f" {text_} ",
        "time": text_ + "T00:00:00Z",
        "compact": text_.replace("-", ""),
        "us": day.strftime("%m/%d/%Y"),
        "eu": day.strftime("%d-%m-%Y"),
    }
    return mutations[how]


bad_dates = st.one_of(
    st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99)),
    st.builds(
        _mutate_date,
        st.dates(),
        st.sampled_from(["insert", "drop", "replace", "slashes", "dots", "pad", "time", "compact", "us", "eu"]),
        st.sampled_from(list("0123456789-/ .T\x00éa٠１") + [""]),
        st.integers(0, 12),
    ),
    st.sampled_from(
        [
            "0000-01-01",
            "10000-01-01",
            "2026-1-1",
            "today",
            "yesterday",
            "now",
            "null",
            "NaN",
            "1e3",
            "-2026-01-01",
            "+2026-01-01",
            "２０２６-01-01",
            "2026-01-0١",
            "2026-02-29",
            "2025-02-29",
            "2026-04-31",
            "9999-99-99",
            "2026-01-01,2026-01-02",
            "2026-W01-1",
            "2026-W53-7",
            "2026-001",
        ]
    ),
    st.text(min_size=1, max_size=14),
).filter(lambda s: not is_strict_date(s))

# Any calendar day: those outside EARLIEST_DATE..LATEST_DATE are refused (they once overflowed date arithmetic).
any_day = st.dates()
# Days whose window of MAX_RANGE_DAYS either way stays inside the calendar (so the test's own arithmetic works).
roomy_day = st.dates(min_value=date(2, 1, 1), max_value=date(9998, 1, 1))


@dataclass(frozen=True)
class DateParam:
    kind: str  # absent | empty | valid | invalid
    value: str = ""

    def render(self, name: str) -> list[str]:
        if self.kind == "absent":
            return []
        return [f"{name}={quote(self.value, safe='')}"]


def date_params(today: date) -> st.SearchStrategy:
    near = st.integers(-(MAX_RANGE_DAYS + 40), 40).map(lambda d: today + timedelta(days=d))
    valid = st.one_of(near, any_day).map(lambda d: DateParam("valid", d.isoformat()))
    return st.one_of(
        st.just(DateParam("absent")),
        st.just(DateParam("empty")),
        valid,
        valid,
        bad_dates.map(lambda s: DateParam("invalid", s)),
    )


@st.composite
def date_windows(draw, today: date) -> tuple[DateParam, DateParam]:
    """A from/to pair: often a sensible window, sometimes independent (reversed, too long, invalid)."""
    params = date_params(today)
    if draw(st.booleans()):
        first = draw(
            st.one_of(
                st.integers(-(MAX_RANGE_DAYS + 40), 40).map(lambda d: today + timedelta(days=d)),
                st.dates(min_value=EARLIEST_DATE - timedelta(days=3), max_value=LATEST_DATE + timedelta(days=3)),
                roomy_day,
            )
        )
        span = draw(st.one_of(st.integers(0, MAX_RANGE_DAYS - 1), st.integers(-3, MAX_RANGE_DAYS + 3)))
        return DateParam("valid", first.isoformat()), DateParam("valid", (first + timedelta(days=span)).isoformat())
    return draw(params), draw(params)


def expected_range(first: DateParam, last: DateParam, today: date) -> tuple[date, date] | None:
    """The report's range, or None when the API must refuse the dates (400 invalid_query)."""
    if "invalid" in (first.kind, last.kind):
        return None
    given = [date.fromisoformat(p.value) for p in (first, last) if p.kind == "valid"]
    if not all(EARLIEST_DATE <= day <= LATEST_DATE for day in given):
        return None
    last_day = date.fromisoformat(last.value) if last.kind == "valid" else today
    first_day = (
        date.fromisoformat(first.value)
        if first.kind == "valid"
        else max(last_day - timedelta(days=RANGE_DAYS - 1), EARLIEST_DATE)
    )
    if first_day > last_day or (last_day - first_day).days + 1 > MAX_RANGE_DAYS:
        return None
    return first_day, last_day


group_by_junk = st.one_of(
    st.sampled_from(
        [
            "Date",
            "DATE",
            "dates",
            "workspace",
            "workspace_name",
            "day",
            "*",
            "date;model",
            "",
            " ",
            "cost_usd",
            "tenant_id",
            "sk-ant-admin01-" + "Q" * 93 + "AA",  # a key pasted into the wrong box is not echoed
        ]
    ),
    st.text(max_size=15),
    control_text,
).filter(lambda s: "," not in s and s.strip() not in DIMENSIONS)
group_by_entry = st.one_of(
    st.sampled_from(DIMENSIONS),
    st.sampled_from(DIMENSIONS).map(lambda d: f" {d} "),
    group_by_junk,
)
group_by_lists = st.one_of(
    st.none(),
    st.lists(st.sampled_from(DIMENSIONS), min_size=1, max_size=len(DIMENSIONS), unique=True),
    st.lists(group_by_entry, max_size=10),
    st.builds(
        lambda xs, i, at: xs[:at] + [xs[i % len(xs)]] + xs[at:],
        st.lists(st.sampled_from(DIMENSIONS), min_size=1, max_size=5),
        st.integers(0, 9),
        st.integers(0, 5),
    ),  # a dimension twice
)


def expected_group_by(entries: list[str] | None) -> tuple[str, ...] | None:
    """The report's dimensions, or None when the API must refuse group_by."""
    if entries is None:
        return report.DEFAULT_GROUP_BY
    if entries in ([], [""]):
        return ()  # `group_by=` given empty: no grouping, one row with the total
    dims = tuple(e.strip() for e in (entries or [""]))
    if not all(d in DIMENSIONS for d in dims) or len(set(dims)) != len(dims) or not combinable(dims):
        return None
    if "hour" in dims:
        return None  # this world stores no hours: 400 no_hourly_data (test_hourly_cost.py reads real ones)
    return dims


def render_group_by(entries: list[str], comma: str) -> str:
    return "group_by=" + comma.join(quote(e, safe="") for e in entries)


@examples(1_600)
@given(
    data=st.data(),
    group_by=group_by_lists,
    comma=st.sampled_from([",", "%2C"]),
    junk=st.one_of(st.none(), junk_queries),
)
def test_costs_answers_a_report_or_a_400_for_any_query(world, data, group_by, comma, junk):
    first, last = data.draw(date_windows(world.today), label="from/to")
    query = join_query(
        *first.render("from"),
        *last.render("to"),
        render_group_by(group_by, comma) if group_by is not None else "",
        junk or "",
    )
    response = world.send("GET", "/costs", query=query)
    window, dims = expected_range(first, last, world.today), expected_group_by(group_by)
    if window is None or dims is None:
        codes = ("invalid_query", "invalid_request", "no_hourly_data")
        assert response.status == 400 and error_code(response) in codes, response.body
        return
    assert response.status == 200, response.body[:300]
    report = response.json()
    assert (report["from"], report["to"], tuple(report["group_by"])) == (
        window[0].isoformat(),
        window[1].isoformat(),
        dims,
    )
    assert report["rows"] == [] and report["total"] == EMPTY_TOTAL, "tenant B saw costs"


export_formats = st.one_of(
    st.none(),
    st.just("focus"),
    st.sampled_from(["", "FOCUS", "Focus", "focus ", "csv", "json", "focus,csv", "focus%00", "focus\x00"]),
    text,
)


@examples(900)
@given(data=st.data(), fmt=export_formats, group_by=group_by_lists, junk=st.one_of(st.none(), junk_queries))
def test_export_answers_a_csv_or_a_400_for_any_query(world, data, fmt, group_by, junk):
    first, last = data.draw(date_windows(world.today), label="from/to")
    query = join_query(
        *first.render("from"),
        *last.render("to"),
        "" if fmt is None else f"format={quote(fmt, safe='')}",
        render_group_by(group_by, ",") if group_by is not None else "",  # not a parameter of the export: ignored
        junk or "",
    )
    response = world.send("GET", "/costs/export", query=query)
    if expected_range(first, last, world.today) is None or fmt not in (None, "focus"):
        codes = ("invalid_query", "invalid_request", "no_hourly_data")
        assert response.status == 400 and error_code(response) in codes, response.body
        return
    assert response.status == 200, response.body[:300]
    assert response.headers.get("Content-Type", "").startswith("text/csv")
    assert len(response.body.strip().splitlines()) == 1, "tenant B's export holds rows"


@examples(150)
@given(data=st.data(), group_by=group_by_lists, fmt=st.sampled_from([None, "focus", "csv"]))
def test_tenant_a_own_reads_never_fail_on_odd_queries(world, data, group_by, fmt):
    """The same generated queries for the tenant that has data (read-only, so tenant A may send them)."""
    first, last = data.draw(date_windows(world.today), label="from/to")
    dates = [*first.render("from"), *last.render("to")]
    for path, extra in (
        ("/costs", render_group_by(group_by, ",") if group_by is not None else ""),
        ("/costs/export", "" if fmt is None else f"format={fmt}"),
    ):
        target = f"{path}?{join_query(*dates, extra) or ''}"
        with world.recorder.recording() as calls:
            response = world.api.request("GET", target, tenant=TENANT_A)
        world.report.add("GET", path)
        check_response(response)
        assert not writes(calls)
        assert response.status in (200, 400), response.body[:300]
