"""The analytics query model and the request planner: pure functions, no I/O."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pump_anthropic.domain import analytics_plan
from pump_anthropic.domain.analytics_plan import (
    DEFAULT_PROJECTIONS,
    FAN_OUT_DIMENSIONS,
    MAX_GROUP_BY,
    AnalyticsPlan,
    AnalyticsQuery,
    Endpoint,
    OrgProfile,
    Projection,
    counted_dimensions,
    plan,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = START + timedelta(days=365)
SMALL_ORG = OrgProfile(workspaces=3, api_keys=6, models=4, actors=3)
LARGE_ORG = OrgProfile(workspaces=25, api_keys=200, models=12, actors=60)


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


# --- Projection and OrgProfile -------------------------------------------------------------------------------


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


def test_row_estimate_is_capped_by_streams_and_overridden_by_observations():
    # Given: 261 streams (200 keys, 60 actors, keyless traffic) x 2 price points = 522 rows at the finest grain
    price_grain = frozenset({"workspace_id", "model", "service_tier", "context_window", "inference_geo"})
    observed = OrgProfile(25, 200, 12, 60, observed_rows={price_grain: 122})

    # Then
    assert LARGE_ORG.rows_per_bucket(frozenset({"api_key_id", "workspace_id"})) == 201  # workspace follows the key
    assert LARGE_ORG.rows_per_bucket(frozenset({"actor", "actor_type", "cost_type"})) == 61
    assert LARGE_ORG.rows_per_bucket(price_grain) == 522
    assert LARGE_ORG.rows_per_bucket(frozenset()) == 1
    assert observed.rows_per_bucket(price_grain | set(FAN_OUT_DIMENSIONS)) == 122
    with pytest.raises(ValueError, match="agent_id"):
        LARGE_ORG.rows_per_bucket(frozenset({"agent_id"}))
    assert OrgProfile(1, 1, 1, 1, cardinalities={"agent_id": 7}).rows_per_bucket(frozenset({"agent_id"})) == 7


# --- the plan --------------------------------------------------------------------------------------------------


def assert_well_formed(result: AnalyticsPlan, start: datetime, end: datetime, width: str | None) -> None:
    """Every query is valid on its endpoint, and each query set covers the window exactly once."""
    sets: dict[tuple, list] = {}
    for planned in result.queries:
        query = planned.query
        query.check_for(planned.endpoint)
        assert query.limit == 1000 and query.time_bucket_width == width
        assert len(counted_dimensions(planned.endpoint, query.group_by)) <= MAX_GROUP_BY
        sets.setdefault((planned.endpoint, query.group_by), []).append(query)
    for queries in sets.values():
        bounds = [(q.starting_at, q.ending_at) for q in queries]
        assert bounds[0][0] == start and bounds[-1][1] == end
        assert all(prev[1] == nxt[0] for prev, nxt in zip(bounds, bounds[1:], strict=False))
    assert len({(p.endpoint, p.query.group_by, p.serves) for p in result.queries}) == len(sets)


def test_plan_for_a_small_org_over_365_days():
    # When
    result = plan(START, YEAR_END, SMALL_ORG, now=YEAR_END)
    print(f"\nsmall org (3 workspaces, 6 keys, 4 models, 3 actors), 365 days, 1d buckets:\n{result.describe()}")

    # Then: 12 ranges (11 x 31 days + 24 days); key, actor and product fit one 5-dimension query
    assert_well_formed(result, START, YEAR_END, "1d")
    group_bys = {p.query.group_by: p.serves for p in result.queries}
    assert group_bys == {
        ("context_window", "inference_geo", "model", "service_tier", "workspace_id", "cost_type", "token_type"): (
            "price_grain",
        ),
        ("actor", "actor_type", "api_key_id", "product", "workspace_id", "cost_type", "token_type"): (
            "api_key",
            "actor",
            "product",
        ),
    }
    assert len(result.queries) == 24
    assert result.request_count == 24


def test_plan_for_a_large_org_over_365_days():
    # When
    result = plan(START, YEAR_END, LARGE_ORG, now=YEAR_END)
    print(f"\nlarge org (25 workspaces, 200 keys, 12 models, 60 actors), 365 days, 1d buckets:\n{result.describe()}")

    # Then: merging would multiply rows, so each projection gets its own query set
    assert_well_formed(result, START, YEAR_END, "1d")
    pages = {}
    for planned in result.queries:
        pages[planned.serves] = pages.get(planned.serves, 0) + planned.pages
    assert pages == {("price_grain",): 200, ("api_key",): 82, ("actor",): 24, ("product",): 12}
    assert result.request_count == 318
    first = result.queries[0].query
    assert (first.order_by, first.order) == ("time", "asc")
    assert first.ending_at - first.starting_at == timedelta(days=31)


def test_observed_rows_feed_the_plan():
    price_grain = frozenset({"workspace_id", "model", "service_tier", "context_window", "inference_geo"})
    observed = OrgProfile(25, 200, 12, 60, observed_rows={price_grain: 122})
    result = plan(START, YEAR_END, observed, [DEFAULT_PROJECTIONS[0]])
    assert result.request_count == 11 * 4 + 3  # ceil(31 x 122 / 1000) per full range, ceil(24 x 122 / 1000)


def test_a_non_additive_projection_gets_its_own_query():
    # Given: per-team cost (RBAC groups overlap) next to small projections that would otherwise merge
    teams = Projection("team", Endpoint.COST, frozenset({"rbac_group_id"}), fan_out=True)
    profile = OrgProfile(3, 6, 4, 3, cardinalities={"rbac_group_id": 4})

    # When
    result = plan(START, START + timedelta(days=31), profile, [teams, *DEFAULT_PROJECTIONS[1:]])

    # Then
    assert {p.serves for p in result.queries} == {("team",), ("api_key", "actor", "product")}


def test_request_counts_and_endpoints_keep_queries_apart():
    # Given: the same dimensions wanted with request counts, and as tokens
    key_requests = Projection("key_requests", Endpoint.COST, frozenset({"api_key_id"}), needs_requests=True)
    key_tokens = Projection("key_tokens", Endpoint.USAGE, frozenset({"api_key_id"}))
    key_cost = Projection("key_cost", Endpoint.COST, frozenset({"api_key_id"}), fan_out=True)

    # When
    result = plan(START, START + timedelta(days=2), SMALL_ORG, [key_requests, key_tokens, key_cost])

    # Then
    shapes = {(p.endpoint, p.query.group_by, p.serves) for p in result.queries}
    assert shapes == {
        (Endpoint.COST, ("api_key_id",), ("key_requests",)),
        (Endpoint.USAGE, ("api_key_id",), ("key_tokens",)),
        (Endpoint.COST, ("api_key_id", "cost_type", "token_type"), ("key_cost",)),
    }


@pytest.mark.parametrize(
    ("width", "span", "ranges", "longest"),
    [("1h", timedelta(days=40), 2, timedelta(days=31)), ("1m", timedelta(hours=30), 2, timedelta(hours=24))],
)
def test_ranges_respect_the_span_limit_of_the_width(width, span, ranges, longest):
    result = plan(START, START + span, SMALL_ORG, [DEFAULT_PROJECTIONS[3]], time_bucket_width=width)
    assert_well_formed(result, START, START + span, width)
    assert len(result.queries) == ranges
    assert max(q.query.ending_at - q.query.starting_at for q in result.queries) == longest


def test_unbucketed_plan_asks_one_row_per_combination_per_range():
    result = plan(START, YEAR_END, LARGE_ORG, [DEFAULT_PROJECTIONS[1]], time_bucket_width=None)
    assert {p.estimated_rows for p in result.queries} == {201}
    assert result.request_count == 12
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
        plan(start, end, SMALL_ORG, **kwargs)


def test_plan_rejects_duplicate_names_and_too_many_projections():
    with pytest.raises(ValueError, match="unique"):
        plan(START, YEAR_END, SMALL_ORG, [DEFAULT_PROJECTIONS[0], DEFAULT_PROJECTIONS[0]])
    many = [Projection(f"p{i}", Endpoint.USAGE, frozenset({"model"})) for i in range(9)]
    with pytest.raises(ValueError, match="at most 8"):
        plan(START, YEAR_END, SMALL_ORG, many)


def test_planner_module_imports_only_the_standard_library():
    tree = ast.parse(Path(analytics_plan.__file__).read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "math", "collections", "dataclasses", "datetime", "enum"}
