"""The analytics query model and the plan the connector sends: pure functions, no I/O."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pump_anthropic.domain import analytics_days, analytics_plan
from pump_anthropic.domain.analytics_plan import (
    AnalyticsQuery,
    Endpoint,
    Projection,
    counted_dimensions,
    plan,
    query_set,
    window_ranges,
)
from tests.support.analytics_plans import assert_well_formed

START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = START + timedelta(days=365)


# --- AnalyticsQuery ------------------------------------------------------------------------------------------


def test_query_stores_sequences_as_tuples():
    query = AnalyticsQuery(START, group_by=["model"], api_key_ids=["apikey_1", ""])
    assert query.group_by == ("model",)
    assert query.filters() == {"api_key_ids": ("apikey_1", "")}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"starting_at": datetime(2026, 3, 1)}, "timezone-aware"),
        ({"ending_at": datetime(2026, 3, 2)}, "timezone-aware"),
        ({"starting_at": datetime(2025, 12, 31, 23, tzinfo=UTC)}, "history floor"),
        ({"ending_at": datetime(2026, 3, 1, tzinfo=UTC)}, "after starting_at"),
        ({"ending_at": datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC)}, "at most 31 days"),
        ({"time_bucket_width": "1d", "ending_at": None}, "ending_at is required"),
        ({"time_bucket_width": "1m", "ending_at": datetime(2026, 3, 2, 0, 1, tzinfo=UTC)}, "at most 1 day"),
        ({"time_bucket_width": "1w"}, "time_bucket_width"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": True}, "limit"),
        ({"order": "up"}, "order"),
        ({"group_by": ("model", "model")}, "repeats"),
        ({"exclude_deleted_users": True, "group_by": ("model",)}, "requires group_by actor"),
        ({"group_by": ("claude_tag_user_id", "rbac_group_id")}, "cannot be combined"),
        ({"group_by": ("claude_tag_user_id",), "rbac_group_ids": ["rbac_group_1"]}, "cannot be combined"),
        ({"claude_tag_user_ids": ["U1"], "group_by": ("rbac_group_id",)}, "cannot be combined"),
    ],
)
def test_query_rejects_what_the_api_would(kwargs, message):
    base = {"starting_at": datetime(2026, 3, 1, tzinfo=UTC), "ending_at": datetime(2026, 3, 2, tzinfo=UTC)}
    with pytest.raises(ValueError, match=message):
        AnalyticsQuery(**{**base, **kwargs})


def test_query_accepts_the_limits_themselves():
    march = datetime(2026, 3, 1, tzinfo=UTC)
    AnalyticsQuery(march, march + timedelta(days=31), "1d", limit=1000)
    AnalyticsQuery(march, march + timedelta(hours=24), "1m", limit=1)
    AnalyticsQuery(march.astimezone(timezone(timedelta(hours=-5))))


@pytest.mark.parametrize("field", ["models", "group_by"])
def test_query_refuses_a_bare_string_for_a_list(field):
    with pytest.raises(TypeError, match=field):
        AnalyticsQuery(START, **{field: "claude-x"})


def test_fan_out_dimensions_are_free_only_on_cost():
    group_by = ("model", "cost_type", "token_type")
    assert counted_dimensions(Endpoint.COST, group_by) == ("model",)
    assert counted_dimensions(Endpoint.USAGE, group_by) == group_by


# --- Projection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"endpoint": Endpoint.USAGE, "dimensions": {"model"}, "fan_out": True},
        {"endpoint": Endpoint.COST, "dimensions": {"model"}, "fan_out": True, "needs_requests": True},
        {"endpoint": Endpoint.COST, "dimensions": {"cost_type"}},
        {"endpoint": Endpoint.COST, "dimensions": {"a", "b", "c", "d", "e", "f"}},
        {"endpoint": Endpoint.USAGE, "dimensions": {"claude_tag_user_id", "rbac_group_id"}},
    ],
    ids=["fan-out-on-usage", "fan-out-needs-requests", "fan-out-as-dimension", "six", "tag-user-with-rbac"],
)
def test_projection_rejects_impossible_breakdowns(kwargs):
    with pytest.raises(ValueError):
        Projection("bad", **kwargs)


# --- the plan --------------------------------------------------------------------------------------------------


def test_the_connectors_query_sets_over_365_days_are_one_query_set_each_over_12_ranges():
    # When
    result = plan(START, YEAR_END, analytics_days.QUERY_SETS, now=YEAR_END)

    # Then: 11 ranges of 31 days and one of 24, oldest bucket first, each query serving one projection
    assert_well_formed(result, START, YEAR_END, "1d")
    assert {(p.endpoint, p.serves) for p in result.queries} == {
        (Endpoint.COST, ("price",)),
        (Endpoint.USAGE, ("price_usage",)),
        (Endpoint.COST, ("who",)),
    }
    assert len(result.queries) == 3 * 12
    first = result.queries[0].query
    assert (first.order_by, first.order) == ("time", "asc")
    assert first.ending_at - first.starting_at == timedelta(days=31)
    assert first.group_by == ("context_window", "model", "service_tier", "speed", "workspace_id", "cost_type",
                              "token_type")  # fmt: skip


@pytest.mark.parametrize(
    ("width", "span", "ranges", "longest"),
    [("1h", timedelta(days=40), 2, timedelta(days=31)), ("1m", timedelta(hours=30), 2, timedelta(hours=24))],
)
def test_ranges_respect_the_span_limit_of_the_width(width, span, ranges, longest):
    product = Projection("product", Endpoint.COST, frozenset({"product"}), fan_out=True)
    result = plan(START, START + span, [product], time_bucket_width=width)
    assert_well_formed(result, START, START + span, width)
    assert len(result.queries) == ranges
    assert max(q.query.ending_at - q.query.starting_at for q in result.queries) == longest


def test_an_unbucketed_plan_asks_in_no_time_order():
    result = plan(START, YEAR_END, analytics_days.QUERY_SETS[:1], time_bucket_width=None)
    assert len(result.queries) == 12
    assert result.queries[0].query.order_by is None


@pytest.mark.parametrize(
    ("start", "end", "kwargs", "message"),
    [
        (START + timedelta(hours=1), YEAR_END, {}, "1d boundaries"),
        (START, START + timedelta(minutes=30), {"time_bucket_width": None}, "1h boundaries"),
        (START, START, {}, "end after"),
        (START - timedelta(days=1), START, {}, "keeps"),
        (START, YEAR_END, {"now": YEAR_END + timedelta(days=1)}, "keeps"),
        (datetime(2026, 2, 1), datetime(2026, 3, 1), {}, "timezone-aware"),
        (START, YEAR_END, {"time_bucket_width": "1w"}, "time_bucket_width"),
    ],
    ids=["unaligned-day", "unaligned-hour", "empty", "before-floor", "out-of-retention", "naive", "bad-width"],
)
def test_plan_rejects_windows_the_api_cannot_serve(start, end, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan(start, end, analytics_days.QUERY_SETS, **kwargs)


def test_plan_rejects_duplicate_names():
    with pytest.raises(ValueError, match="unique"):
        plan(START, YEAR_END, [analytics_days.PRICE, analytics_days.PRICE])


def test_projections_no_single_query_serves_are_refused_together():
    key_requests = Projection("key_requests", Endpoint.COST, frozenset({"api_key_id"}), needs_requests=True)
    key_cost = Projection("key_cost", Endpoint.COST, frozenset({"api_key_id"}), fan_out=True)
    ranges = window_ranges(START, START + timedelta(days=1), "1d", None)
    with pytest.raises(ValueError, match="no single query serves key_requests, key_cost"):
        list(query_set(Endpoint.COST, [key_requests, key_cost], ranges, "1d", 1000))


def test_planner_module_imports_only_the_standard_library():
    tree = ast.parse(Path(analytics_plan.__file__).read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "math", "collections", "dataclasses", "datetime", "enum"}
