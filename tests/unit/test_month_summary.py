"""Month summaries and their grains: a report read from the grains, from the summary folded onto the read's
dimensions, or from days folded straight from their stored rows equals, to the last decimal and key by key, the
report read from every day's full lines."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from pump_anthropic.domain import analytics_days, day_docs, month_summary, report
from pump_anthropic.domain.day_docs import ANALYTICS, KEYS, LEGACY, LINES, SOURCE
from pump_anthropic.domain.month_summary import GRAIN_DAY_TOTALS, GRAIN_MONTH, SummaryDay

MONTH = date(2026, 3, 1)
DAYS = [MONTH + timedelta(days=n) for n in range(31)]
TODAY = date(2026, 4, 2)
WORKSPACES = (None, "wrkspc_a", "wrkspc_b")
MODELS = ("claude-sonnet-4-20250514", "claude-sonnet-4", "claude-haiku-3-5")
KEYS_ = ("apikey_1", "apikey_2", "console", "unattributed")
ACTORS = (None, "user:ann", "api:apikey_1")
SINGLE = ("", *(d for d in report.GROUP_BY_DIMENSIONS if d not in {"date", "hour"}))
WIDE = ("date", "date,model", "month,api_key_id", "workspace_id,model", "date,workspace_id,model,token_type",
        "date,actor", "month,product", "model_id,token_type")  # fmt: skip


def _amount(rng: random.Random) -> str:
    return str(Decimal(rng.randrange(1, 10**9)) / 10 ** rng.randrange(2, 12))


def _cost(rng: random.Random, tier: str, mixed: bool) -> str | None:
    """Unpriced (None) at random when `mixed`; else, as Anthropic reports it, only on the priority tier."""
    return None if (rng.random() < 0.1 if mixed else tier == "priority") else _amount(rng)


def _legacy_day(rng: random.Random, mixed: bool) -> dict:
    lines, keys = [], []
    for _ in range(rng.randrange(20, 40)):
        unit, tier = rng.choice(("tokens", "tokens", "requests")), rng.choice(("standard", "batch", "priority"))
        cost = _cost(rng, tier, mixed)
        lines.append([rng.choice(WORKSPACES), rng.choice(MODELS), rng.choice(("tokens", "web_search")),
                      rng.choice(("input", "output", None)), tier, "0-200k", "global",
                      cost, None, rng.randrange(0, 10**6), unit, "text", "USD"])  # fmt: skip
        keys.append([rng.choice(KEYS_), rng.choice(WORKSPACES), rng.choice(MODELS), "tokens", "input", "standard",
                     "0-200k", cost, rng.randrange(10**5), 0, 0 if cost else 7, 0])  # fmt: skip
    return {LINES: lines, KEYS: json.dumps(keys), SOURCE: [[LEGACY, None]]}


def _analytics_day(rng: random.Random, mixed: bool) -> dict:
    lines, who = [], []
    for _ in range(rng.randrange(20, 40)):
        tier = rng.choice(("standard", "priority"))
        cost = _cost(rng, tier, mixed)
        listed = None if rng.random() < 0.2 else _amount(rng)
        lines.append([rng.choice(WORKSPACES), rng.choice(MODELS), "tokens", rng.choice(("input", "output")),
                      tier, rng.choice(("0-200k", "200k-1M")), "us", cost, None, rng.randrange(0, 10**6),
                      "tokens", "text", "USD", listed, rng.choice((None, "fast"))])  # fmt: skip
        who.append([rng.choice(KEYS_), rng.choice(ACTORS), rng.choice(("api", "claude_code", None)),
                    rng.choice(WORKSPACES), rng.choice(MODELS), "tokens", "input",
                    cost if mixed else _amount(rng), 0, 0, 0, 0,
                    *([] if listed is None else [listed])])  # fmt: skip
    actors = [["user:ann", "user_actor", "user_1", "Ann", "ann@example.com", None],
              ["api:apikey_1", "api_actor", "apikey_1", None, None, None]]  # fmt: skip
    return {LINES: lines, analytics_days.WHO_LINES: json.dumps(who), analytics_days.ACTORS: json.dumps(actors),
            SOURCE: [[ANALYTICS, None]]}  # fmt: skip


def _days(*, mixed: bool = True) -> dict[date, dict]:
    """A month stitched: legacy days first, then analytics days (a connection that gained the analytics API). With
    `mixed`, lines of the same dimensions mix priced and unpriced rows (which no source sends, but a day's fold must
    still treat as its full lines do)."""
    rng = random.Random(21)
    return {day: _legacy_day(rng, mixed) if day.day <= 12 else _analytics_day(rng, mixed) for day in DAYS}


def _body(group_by: str, rollups: list) -> dict:
    query = report.parse_cost_query(DAYS[0].isoformat(), DAYS[-1].isoformat(), group_by, today=TODAY)
    return report.build_cost_report(query, rollups, {"wrkspc_a": "A"}, {"apikey_1": {"name": "one", "hint": "x"}},
                                    today=TODAY)  # fmt: skip


def _who(group_by: str) -> bool:
    return bool(report.WHO_DIMENSIONS & set(group_by.split(",")))


def _wanted(group_by: str) -> tuple[str, ...]:
    return month_summary.read_dimensions(group_by.split(",") if group_by else ())


@pytest.mark.parametrize("group_by", SINGLE + WIDE)
def test_days_folded_from_their_rows_onto_the_read_dimensions_report_exactly_as_their_full_lines(group_by):
    days, who = _days(), _who(group_by)
    full = [day_docs.rollup_of(day, "c", doc, who=who) for day, doc in days.items()]
    folded = [month_summary.day_rollup(day, "c", doc, who=who, wanted=_wanted(group_by)) for day, doc in days.items()]
    assert sum(len(r.lines) for r in folded) <= sum(len(r.lines) for r in full)
    assert _body(group_by, folded) == _body(group_by, full)


def _summary(*, mixed: bool = True) -> dict:
    days = []
    for day, doc in _days(mixed=mixed).items():
        source, _ = day_docs.source_of(doc)
        cost = day_docs.rollup_of(day, "c", doc, who=False)
        days.append(SummaryDay(day, f"digest-{day}", source, cost, day_docs.rollup_of(day, "c", doc, who=True)))
    return month_summary.summarize(days)


@pytest.mark.parametrize("group_by", [g for g in SINGLE + WIDE if "date" not in g])
@pytest.mark.parametrize("mixed", [True, False])
def test_a_month_read_from_its_grains_or_its_folded_summary_equals_the_month_read_from_its_summary(group_by, mixed):
    """Exact against the summary's own lines always; against the days themselves whenever lines of one dimension
    set are all priced or all unpriced (as every source reports them)."""
    who, wanted, summary = _who(group_by), _wanted(group_by), _summary(mixed=mixed)
    whole = _body(group_by, month_summary.rollups(summary, MONTH, "c", grain=GRAIN_MONTH, who=who))
    if not mixed:
        days = _days(mixed=False)
        assert whole == _body(group_by, [day_docs.rollup_of(d, "c", doc, who=who) for d, doc in days.items()])
    folded = month_summary.rollups(summary, MONTH, "c", grain=GRAIN_MONTH, who=who, wanted=wanted)
    assert _body(group_by, folded) == whole
    grains = month_summary.decode(month_summary.encode(month_summary.grains_of(summary)))
    from_grains = month_summary.grain_rollups(grains, MONTH, "c", who=who, wanted=wanted)
    if len(wanted) <= 1:  # every single dimension (and none) has its grain
        assert from_grains is not None
        assert _body(group_by, from_grains) == whole
        unfolded = month_summary.rollups(summary, MONTH, "c", grain=GRAIN_MONTH, who=who)
        assert sum(len(r.lines) for r in from_grains) < sum(len(r.lines) for r in unfolded)
    else:
        assert from_grains is None


@pytest.mark.parametrize("mixed", [True, False])
def test_the_days_totals_read_from_the_grains_equal_those_read_from_the_summary(mixed):
    summary = _summary(mixed=mixed)
    grains = month_summary.decode(month_summary.encode(month_summary.grains_of(summary)))
    for group_by in ("date", "month", ""):
        from_summary = month_summary.rollups(summary, MONTH, "c", grain=GRAIN_DAY_TOTALS, who=False)
        from_grains = month_summary.rollups(grains, MONTH, "c", grain=GRAIN_DAY_TOTALS, who=False)
        assert len(from_grains) == len(DAYS)
        assert _body(group_by, from_grains) == _body(group_by, from_summary)


def test_grains_are_current_only_for_the_days_they_were_built_from():
    summary = _summary()
    grains = month_summary.grains_of(summary)
    stamps = {date.fromisoformat(d): digest for d, digest, _ in summary["days"]}
    assert month_summary.is_current(grains, stamps, format_=month_summary.GRAINS_FORMAT)
    assert not month_summary.is_current(grains, {**stamps, DAYS[3]: "other"}, format_=month_summary.GRAINS_FORMAT)
    assert not month_summary.is_current(None, stamps, format_=month_summary.GRAINS_FORMAT)


def test_a_grain_names_the_dimensions_its_lines_keep():
    grain = month_summary.with_dimensions(GRAIN_MONTH, month_summary.read_dimensions(("month", "model_id")))
    assert month_summary.split_grain(grain) == (GRAIN_MONTH, ("model",))
    assert month_summary.split_grain(month_summary.with_dimensions(GRAIN_MONTH, ())) == (GRAIN_MONTH, ())
    assert month_summary.split_grain(GRAIN_MONTH) == (GRAIN_MONTH, None)
