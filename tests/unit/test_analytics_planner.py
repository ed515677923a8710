"""The estimating planner (a local tool, never shipped): which projections could share an analytics query, and the
requests and rows each way costs for an org's shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pump_anthropic.domain.analytics_plan import (
    FAN_OUT_DIMENSIONS,
    Endpoint,
    Projection,
)
from pump_local.analytics_planner import DEFAULT_PROJECTIONS, OrgProfile, plan
from tests.support.analytics_plans import assert_well_formed

START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = START + timedelta(days=365)
SMALL_ORG = OrgProfile(workspaces=3, api_keys=6, models=4, actors=3)
LARGE_ORG = OrgProfile(workspaces=25, api_keys=200, models=12, actors=60)


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


def test_unbucketed_plan_asks_one_row_per_combination_per_range():
    result = plan(START, YEAR_END, LARGE_ORG, [DEFAULT_PROJECTIONS[1]], time_bucket_width=None)
    assert {p.estimated_rows for p in result.queries} == {201}
    assert result.request_count == 12
    assert result.queries[0].query.order_by is None


def test_plan_rejects_duplicate_names_and_too_many_projections():
    with pytest.raises(ValueError, match="unique"):
        plan(START, YEAR_END, SMALL_ORG, [DEFAULT_PROJECTIONS[0], DEFAULT_PROJECTIONS[0]])
    many = [Projection(f"p{i}", Endpoint.USAGE, frozenset({"model"})) for i in range(9)]
    with pytest.raises(ValueError, match="at most 8"):
        plan(START, YEAR_END, SMALL_ORG, many)
