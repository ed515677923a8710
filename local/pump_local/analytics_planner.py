"""An estimating planner for the analytics API, a tool that never ships: for an org's shape, which projections could
share one query and how many requests and rows each way costs.

The connector asks one query set per projection (`pump_anthropic.domain.analytics_plan.plan`); this tool tries
every way of sharing queries among the projections wanted and keeps the cheapest by estimated requests, then rows,
then query sets. Its row estimates come from an `OrgProfile` (or rows observed in an earlier pull).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pump_anthropic.domain.analytics_plan import (
    BUCKET_WIDTHS,
    FAN_OUT_DIMENSIONS,
    MAX_PAGE_ROWS,
    AnalyticsQuery,
    Endpoint,
    Projection,
    Ranges,
    query_set,
    query_shape,
    window_ranges,
)

PRICE_GRAIN = Projection(
    "price_grain",
    Endpoint.COST,
    frozenset({"workspace_id", "model", "service_tier", "context_window", "inference_geo"}),
    fan_out=True,
)
# The workspace rides along: a key's traffic is almost always in one workspace, and it places org-wide keys.
PER_API_KEY = Projection("api_key", Endpoint.COST, frozenset({"api_key_id", "workspace_id"}), fan_out=True)
PER_ACTOR = Projection("actor", Endpoint.COST, frozenset({"actor", "actor_type"}), fan_out=True)
PER_PRODUCT = Projection("product", Endpoint.COST, frozenset({"product"}), fan_out=True)
DEFAULT_PROJECTIONS = (PRICE_GRAIN, PER_API_KEY, PER_ACTOR, PER_PRODUCT)
MAX_PROJECTIONS = 8

_PRICE_DIMENSIONS = frozenset({"model", "service_tier", "context_window", "inference_geo", "speed"})
_STREAM_DIMENSIONS = frozenset({"workspace_id", "api_key_id", "actor", "actor_type", "product"})
# The left value is (almost) a function of the right one, so it adds no rows.
_DETERMINED_BY = {"actor_type": "actor", "workspace_id": "api_key_id"}


@dataclass(frozen=True)
class OrgProfile:
    """What the planner estimates row counts from. Counts exclude null, which the estimate adds where it occurs.

    A stream is one API key's or one actor's traffic; by default every stream is assumed active in every
    bucket and to use `price_points_per_stream` (model, tier, context window, geo) combinations there.
    `observed_rows` (rows per bucket by counted-dimension set, e.g. from the previous pull) overrides the estimate.
    """

    workspaces: int
    api_keys: int
    models: int
    actors: int
    products: int = 3
    service_tiers: int = 3
    context_windows: int = 2
    inference_geos: int = 2
    price_points_per_stream: int = 2
    cardinalities: Mapping[str, int] = field(default_factory=dict)
    observed_rows: Mapping[frozenset[str], int] = field(default_factory=dict)

    def cardinality(self, dimension: str) -> int:
        known = {
            "workspace_id": self.workspaces,
            "api_key_id": self.api_keys + 1,
            "actor": self.actors + 1,
            "actor_type": 5,
            "model": self.models + 1,
            "service_tier": self.service_tiers + 1,
            "context_window": self.context_windows + 1,
            "inference_geo": self.inference_geos + 1,
            "speed": 2,
            "product": self.products + 1,
            **self.cardinalities,
        }
        if dimension not in known:
            raise ValueError(f"no cardinality for {dimension!r}: pass it in OrgProfile.cardinalities")
        return known[dimension]

    def rows_per_bucket(self, dimensions: frozenset[str]) -> int:
        """Estimated base rows (fan-out rows excluded) one bucket yields when grouped by `dimensions`."""
        counted = frozenset(dimensions) - set(FAN_OUT_DIMENSIONS)
        if counted in self.observed_rows:
            return max(1, self.observed_rows[counted])
        independent = {d for d in counted if _DETERMINED_BY.get(d) not in counted}
        rows = math.prod(self.cardinality(d) for d in independent)
        if independent <= _PRICE_DIMENSIONS | _STREAM_DIMENSIONS:
            streams = self.api_keys + self.actors + 1
            rows = min(rows, streams * self.price_points_per_stream)
        return max(1, rows)


@dataclass(frozen=True)
class EstimatedQuery:
    endpoint: Endpoint
    query: AnalyticsQuery
    serves: tuple[str, ...]  # names of the projections this query's rows are summed into
    estimated_rows: int  # base rows; fan-out rows come on top and do not count toward limit

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.estimated_rows / self.query.limit))


@dataclass(frozen=True)
class EstimatedPlan:
    queries: tuple[EstimatedQuery, ...]

    @property
    def request_count(self) -> int:
        return sum(planned.pages for planned in self.queries)

    def describe(self) -> str:
        """One line per query set (the same query over successive ranges), then the total."""
        sets: dict[tuple, list[EstimatedQuery]] = {}
        for planned in self.queries:
            sets.setdefault((planned.endpoint, planned.query.group_by, planned.serves), []).append(planned)
        lines = []
        for (endpoint, group_by, serves), planned in sets.items():
            rows = sum(p.estimated_rows for p in planned)
            pages = sum(p.pages for p in planned)
            lines.append(
                f"/analytics/{endpoint} group_by={','.join(group_by) or '-'} serves={','.join(serves)}: "
                f"{len(planned)} ranges, ~{rows:,} rows, {pages} requests"
            )
        lines.append(f"total: {len(sets)} query sets, {len(self.queries)} queries, {self.request_count} requests")
        return "\n".join(lines)


def plan(
    starting_at: datetime,
    ending_at: datetime,
    profile: OrgProfile,
    projections: Sequence[Projection] = DEFAULT_PROJECTIONS,
    *,
    time_bucket_width: str | None = "1d",
    limit: int = MAX_PAGE_ROWS,
    now: datetime | None = None,
) -> EstimatedPlan:
    """The queries serving every projection over [starting_at, ending_at) in the fewest estimated requests.

    Projections on one endpoint share a query when that costs fewer requests (then fewer rows); each query set
    runs over successive ranges of at most 31 days (24 h for `1m`). With `now`, the window must lie in retention.
    """
    if len({p.name for p in projections}) != len(projections):
        raise ValueError("projection names must be unique")
    if len(projections) > MAX_PROJECTIONS:
        raise ValueError(f"at most {MAX_PROJECTIONS} projections per plan (every way of sharing queries is tried)")
    ranges = window_ranges(starting_at, ending_at, time_bucket_width, now)
    queries: list[EstimatedQuery] = []
    for endpoint in Endpoint:
        wanted = [p for p in projections if p.endpoint is endpoint]
        best = min(
            (_cost(groups, ranges, time_bucket_width, profile, limit) for groups in _valid_partitions(wanted)),
            default=None,
            key=lambda costed: costed[0],
        )
        for group in best[1] if best else ():
            serves = tuple(p.name for p in group)
            queries += [
                EstimatedQuery(endpoint, query, serves, _estimated_rows(group, query, profile))
                for query in query_set(endpoint, group, ranges, time_bucket_width, limit)
            ]
    return EstimatedPlan(tuple(queries))


def _valid_partitions(projections: list[Projection]) -> Iterator[list[list[Projection]]]:
    for partition in _partitions(projections):
        if all(query_shape(group) is not None for group in partition):
            yield partition


def _partitions(items: list[Projection]) -> Iterator[list[list[Projection]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _partitions(rest):
        yield [[first], *partition]
        for i, group in enumerate(partition):
            yield [*partition[:i], [first, *group], *partition[i + 1 :]]


def _cost(
    groups: list[list[Projection]], ranges: Ranges, width: str | None, profile: OrgProfile, limit: int
) -> tuple[tuple[int, int, int], list[list[Projection]]]:
    requests = rows = 0
    for group in groups:
        dimensions, _ = query_shape(group)
        for at, until in ranges:
            buckets = 1 if width is None else math.ceil((until - at) / BUCKET_WIDTHS[width])
            estimated = buckets * profile.rows_per_bucket(dimensions)
            requests += max(1, math.ceil(estimated / limit))
            rows += estimated
    # Fewest requests; then fewest rows to move; then fewest query sets.
    return (requests, rows, len(groups)), groups


def _estimated_rows(group: list[Projection], query: AnalyticsQuery, profile: OrgProfile) -> int:
    dimensions, _ = query_shape(group)
    width = query.time_bucket_width
    buckets = 1 if width is None else math.ceil((query.ending_at - query.starting_at) / BUCKET_WIDTHS[width])
    return buckets * profile.rows_per_bucket(dimensions)
