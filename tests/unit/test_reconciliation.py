"""The month's reconciliation, pure: the lines, sums and status from each side's figures, exact to the digit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from pump_anthropic.domain import reconciliation as recon
from pump_anthropic.exceptions import InvalidQueryError

OCT = [date(2026, 10, 1) + timedelta(days=n) for n in range(31)]
READ_AT = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)


def figures(per_day: dict[date, str], code: dict[date, str] | None = None) -> recon.Figures:
    out = recon.Figures()
    for day, amount in per_day.items():
        out.add(day, Decimal(amount))
    for day, amount in (code or {}).items():
        out.add(day, Decimal(amount), code_execution=True)
    return out


def connection(
    stored: recon.Figures,
    anthropic: recon.Figures,
    *,
    source: str = recon.ANALYTICS,
    priority: dict[date, int] | None = None,
    provisional: frozenset[date] = frozenset(),
    cid: str = "conn_a",
) -> recon.ConnectionFigures:
    runs = recon.source_runs(dict.fromkeys(OCT, source))
    return recon.ConnectionFigures(cid, "Org <b>", "active", tuple(runs), stored.total(), stored, anthropic,
                                   priority or {}, provisional)  # fmt: skip


def body(*connections: recon.ConnectionFigures) -> dict:
    return recon.reconciliation_body("2026-10", None, list(connections), READ_AT)


def test_a_settled_analytics_month_that_agrees_is_matched_with_no_line():
    same = {OCT[0]: "10.123456", OCT[30]: "0.00000001"}
    result = body(connection(figures(same), figures(same)))
    assert result["status"] == "matched"
    assert (result["stored_usd"], result["anthropic_usd"], result["difference_usd"]) == (
        "10.12345601",
        "10.12345601",
        "0.00",
    )
    assert result["lines"] == [] and result["explained_usd"] == "0.00" and result["unexplained_usd"] == "0.00"
    (part,) = result["connections"]
    assert part["status"] == "matched"
    assert part["sources"] == [{"source": "analytics", "from": "2026-10-01", "to": "2026-10-31"}]
    assert result["read_at"] == "2026-12-07T21:00:00Z"


def test_a_legacy_month_with_priority_tier_usage_is_explained_by_a_token_line_without_an_amount():
    same = {OCT[3]: "5.5"}
    priority = {OCT[3]: 1200, OCT[4]: 34}
    result = body(connection(figures(same), figures(same), source=recon.LEGACY, priority=priority))
    assert result["status"] == "explained"
    assert result["difference_usd"] == "0.00" and result["unexplained_usd"] == "0.00"
    (line,) = result["lines"]
    assert line["kind"] == "priority_tier_unpriced"
    assert (line["tokens"], line["amount_usd"], line["from"], line["to"]) == (1234, None, "2026-10-01", "2026-10-31")
    assert line["connection_id"] == "conn_a"


def test_priority_tier_usage_on_analytics_days_is_priced_so_it_is_no_line():
    same = {OCT[3]: "5.5"}
    result = body(connection(figures(same), figures(same), priority={OCT[3]: 99}))
    assert result["status"] == "matched" and result["lines"] == []


def test_a_difference_no_line_covers_is_unexplained_with_the_exact_remainder():
    result = body(connection(figures({OCT[1]: "3.00"}), figures({OCT[1]: "3.000001"})))
    assert result["status"] == "unexplained"
    assert result["difference_usd"] == "0.000001" and result["unexplained_usd"] == "0.000001"
    assert result["connections"][0]["unexplained_usd"] == "0.000001"


def test_provisional_days_carry_their_own_difference_so_the_month_is_explained():
    provisional = frozenset(OCT[-3:])
    stored = figures({OCT[0]: "1.00", OCT[-1]: "2.00"})
    anthropic = figures({OCT[0]: "1.00", OCT[-1]: "2.37", OCT[-2]: "0.05"})
    result = body(connection(stored, anthropic, provisional=provisional))
    assert result["status"] == "explained"
    (line,) = result["lines"]
    assert (line["kind"], line["amount_usd"], line["tokens"]) == ("provisional_days", "0.42", None)
    assert (line["from"], line["to"]) == ("2026-10-29", "2026-10-31")
    assert (result["difference_usd"], result["explained_usd"], result["unexplained_usd"]) == ("0.42", "0.42", "0.00")


def test_a_difference_on_settled_days_beside_provisional_ones_stays_unexplained():
    stored = figures({OCT[0]: "1.00", OCT[-1]: "2.00"})
    anthropic = figures({OCT[0]: "1.10", OCT[-1]: "2.50"})
    result = body(connection(stored, anthropic, provisional=frozenset(OCT[-1:])))
    assert result["status"] == "unexplained"
    assert (result["explained_usd"], result["unexplained_usd"]) == ("0.50", "0.10")


def test_provisional_days_without_difference_are_still_listed_so_the_month_is_not_matched():
    same = {OCT[-1]: "1.00"}
    result = body(connection(figures(same), figures(same), provisional=frozenset(OCT[-2:])))
    assert result["status"] == "explained"
    assert [(line["kind"], line["amount_usd"]) for line in result["lines"]] == [("provisional_days", "0.00")]


def test_code_execution_the_stored_days_lack_is_a_line_with_anthropics_amount():
    stored = figures({OCT[2]: "4.00"})
    anthropic = figures({OCT[2]: "4.00"}, code={OCT[2]: "0.75"})
    result = body(connection(stored, anthropic))
    assert result["status"] == "explained"
    (line,) = result["lines"]
    assert (line["kind"], line["amount_usd"]) == ("code_execution_missing", "0.75")
    # Stored code execution present (even if different): the difference is not blamed on a missing component.
    both = body(connection(figures({OCT[2]: "4.00"}, code={OCT[2]: "0.70"}), anthropic))
    assert both["status"] == "unexplained" and both["unexplained_usd"] == "0.05"


def test_the_body_sums_its_connections_and_is_unexplained_when_any_connection_is():
    a = connection(figures({OCT[0]: "1.00"}), figures({OCT[0]: "1.25"}), cid="conn_a")
    b = connection(figures({OCT[0]: "2.00"}), figures({OCT[0]: "1.75"}), cid="conn_b")
    result = body(a, b)
    assert (result["stored_usd"], result["anthropic_usd"], result["difference_usd"]) == ("3.00", "3.00", "0.00")
    assert result["status"] == "unexplained"  # +0.25 and -0.25 cancel in the sum, not in either connection
    assert [c["status"] for c in result["connections"]] == ["unexplained", "unexplained"]
    assert [c["difference_usd"] for c in result["connections"]] == ["0.25", "-0.25"]


def test_no_connection_is_a_matched_zero():
    result = body()
    assert (result["status"], result["stored_usd"], result["lines"], result["connections"]) == (
        "matched", "0.00", [], []
    )  # fmt: skip
    json.dumps(result)  # only JSON types


def test_provisional_days_follow_each_days_source_window():
    today = date(2026, 10, 31)
    sources = {**dict.fromkeys(OCT[:20], recon.LEGACY), **dict.fromkeys(OCT[20:], recon.ANALYTICS)}
    assert recon.provisional_days(sources, today, {"legacy": 3, "analytics": 5}) == frozenset(OCT[25:])
    legacy = dict.fromkeys(OCT, recon.LEGACY)
    assert recon.provisional_days(legacy, today, {"legacy": 3, "analytics": 30}) == frozenset(OCT[27:])


def test_day_sources_prefer_what_is_stored_then_what_was_recorded_then_the_default():
    days = OCT[:4]
    chosen = recon.day_sources_of(
        days, {OCT[0]: "analytics"}, {OCT[0]: "legacy", OCT[1]: "legacy"}, default=lambda d: "analytics"
    )
    assert chosen == {OCT[0]: "analytics", OCT[1]: "legacy", OCT[2]: "analytics", OCT[3]: "analytics"}
    assert [r.as_dict() for r in recon.source_runs(chosen)] == [
        {"source": "analytics", "from": "2026-10-01", "to": "2026-10-01"},
        {"source": "legacy", "from": "2026-10-02", "to": "2026-10-02"},
        {"source": "analytics", "from": "2026-10-03", "to": "2026-10-04"},
    ]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "required"),
        ("", "required"),
        ("2026-13", "YYYY-MM"),
        ("2026-1", "YYYY-MM"),
        ("0000-01", "YYYY-MM"),
        ("2026-10-01", "YYYY-MM"),
        (" 2026-10", "YYYY-MM"),
        ("2027-01", "future"),
        ("2025-12", "365 days"),
    ],
)
def test_a_bad_month_is_a_400_with_a_sentence(value, fragment):
    with pytest.raises(InvalidQueryError) as raised:
        recon.parse_month(value, today=date(2026, 12, 7))
    assert fragment in raised.value.message and raised.value.code == "invalid_query"


def test_months_within_reach_are_their_first_and_last_day():
    today = date(2026, 12, 7)
    assert recon.parse_month("2026-12", today=today) == (date(2026, 12, 1), date(2026, 12, 31))
    assert recon.parse_month("2026-02", today=today) == (date(2026, 2, 1), date(2026, 2, 28))
    assert recon.parse_month("2026-01", today=today) == (date(2026, 1, 1), date(2026, 1, 31))
    # On the 1st, the month 12 months back starts exactly 364 days before: within reach.
    assert recon.parse_month("2025-12", today=date(2026, 11, 30))[0] == date(2025, 12, 1)


@pytest.mark.parametrize(
    ("value", "text"),
    [("0", "0.00"), ("-0", "0.00"), ("12.3", "12.30"), ("0.000125", "0.000125"), ("1E+2", "100.00"), ("-1.5", "-1.50")],
)
def test_amounts_are_exact_strings_with_at_least_two_decimals(value, text):
    assert recon.usd(Decimal(value)) == text
