"""Usage and cost analytics queries, and the planner that picks the fewest of them for a set of projections.

Pure: no I/O and no clock. `AnalyticsQuery` is one query's parameters (the client encodes and sends it);
`plan()` turns a window and the projections wanted into the queries to send, one per query set and range.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Endpoint(StrEnum):
    USAGE = "usage"
    COST = "cost"


HISTORY_FLOOR = datetime(2026, 1, 1, tzinfo=UTC)
RETENTION = timedelta(days=365)
MAX_RANGE = timedelta(days=31)
MAX_MINUTE_RANGE = timedelta(hours=24)
MAX_GROUP_BY = 5
MAX_PAGE_ROWS = 1000
BUCKET_WIDTHS = {"1d": timedelta(days=1), "1h": timedelta(hours=1), "1m": timedelta(minutes=1)}
ORDERS = ("asc", "desc")
# On /cost these fan each row out per cost component and token type; they neither count toward the
# 5-dimension cap nor toward `limit`.
FAN_OUT_DIMENSIONS = ("cost_type", "token_type")
USAGE_DIMENSIONS = (
    "actor", "actor_type", "agent_id", "api_key_id", "claude_tag_category", "claude_tag_user_id", "context_window",
    "deployment_id", "environment_id", "inference_geo", "model", "organization_id", "product", "rbac_group_id",
    "service_tier", "session_id", "slack_channel_id", "speed", "user_profile_id", "workspace_id",
)  # fmt: skip
DIMENSIONS = {Endpoint.USAGE: USAGE_DIMENSIONS, Endpoint.COST: USAGE_DIMENSIONS + FAN_OUT_DIMENSIONS}
ORDER_BY = {
    Endpoint.USAGE: ("output_tokens", "requests", "time", "total_tokens", "uncached_input_tokens"),
    Endpoint.COST: ("amount", "list_amount", "time"),
}
ARRAY_FILTERS = (
    "actor_ids", "actor_types", "agent_ids", "api_key_ids", "claude_tag_categories", "claude_tag_user_ids",
    "context_windows", "deployment_ids", "environment_ids", "inference_geos", "models", "organization_ids",
    "products", "rbac_group_ids", "service_tiers", "session_ids", "slack_channel_ids", "speeds", "user_profile_ids",
    "workspace_ids",
)  # fmt: skip
# A user counts in full toward every RBAC group they belong to, so summing over this dimension double-counts:
# a query grouped by it can serve no projection that lacks it.
NON_ADDITIVE_DIMENSIONS = frozenset({"rbac_group_id"})


@dataclass(frozen=True)
class AnalyticsQuery:
    """The parameters of one `/analytics/usage` or `/analytics/cost` query (the cursor is the client's business).

    Array filters take any sequence of strings and are stored as tuples; an empty string in `api_key_ids` also
    matches usage no API key authenticated. Values of enum filters are not checked here: the API may add some.
    """

    starting_at: datetime
    ending_at: datetime | None = None
    time_bucket_width: str | None = None
    group_by: tuple[str, ...] = ()
    limit: int = MAX_PAGE_ROWS
    order: str | None = None
    order_by: str | None = None
    exclude_deleted_users: bool | None = None
    actor_ids: tuple[str, ...] = ()
    actor_types: tuple[str, ...] = ()
    agent_ids: tuple[str, ...] = ()
    api_key_ids: tuple[str, ...] = ()
    claude_tag_categories: tuple[str, ...] = ()
    claude_tag_user_ids: tuple[str, ...] = ()
    context_windows: tuple[str, ...] = ()
    deployment_ids: tuple[str, ...] = ()
    environment_ids: tuple[str, ...] = ()
    inference_geos: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    organization_ids: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    rbac_group_ids: tuple[str, ...] = ()
    service_tiers: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()
    slack_channel_ids: tuple[str, ...] = ()
    speeds: tuple[str, ...] = ()
    user_profile_ids: tuple[str, ...] = ()
    workspace_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("group_by", *ARRAY_FILTERS):
            values = getattr(self, name)
            if isinstance(values, str) or not all(isinstance(value, str) for value in values):
                raise TypeError(f"{name} must be a sequence of strings")
            object.__setattr__(self, name, tuple(values))
        self._check_range()
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_PAGE_ROWS:
            raise ValueError(f"limit must be an int in 1..{MAX_PAGE_ROWS}")
        if self.order is not None and self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}")
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError("group_by repeats a dimension")
        if self.exclude_deleted_users and "actor" not in self.group_by:
            raise ValueError("exclude_deleted_users requires group_by actor")
        tag_user = "claude_tag_user_id" in self.group_by or self.claude_tag_user_ids
        if tag_user and ("rbac_group_id" in self.group_by or self.rbac_group_ids):
            raise ValueError("claude_tag_user_id cannot be combined with rbac_group_id (group or filter)")

    def _check_range(self) -> None:
        start, end, width = self.starting_at, self.ending_at, self.time_bucket_width
        if any(moment is not None and moment.utcoffset() is None for moment in (start, end)):
            raise ValueError("starting_at and ending_at must be timezone-aware")
        if start < HISTORY_FLOOR:
            raise ValueError(f"starting_at is before the analytics history floor {HISTORY_FLOOR.isoformat()}")
        if width is not None and width not in BUCKET_WIDTHS:
            raise ValueError(f"time_bucket_width must be one of {list(BUCKET_WIDTHS)}")
        if end is None:
            if width is not None:
                raise ValueError("ending_at is required with a time_bucket_width")
            return
        if end <= start:
            raise ValueError("ending_at must be after starting_at")
        longest = MAX_MINUTE_RANGE if width == "1m" else MAX_RANGE
        if end - start > longest:
            raise ValueError(f"the range may span at most {longest} with time_bucket_width={width}")

    def check_for(self, endpoint: Endpoint) -> None:
        """Raise ValueError if the endpoint would refuse this query's dimensions or order."""
        unknown = [dimension for dimension in self.group_by if dimension not in DIMENSIONS[endpoint]]
        if unknown:
            raise ValueError(f"/analytics/{endpoint} cannot group by {unknown}")
        if len(counted_dimensions(endpoint, self.group_by)) > MAX_GROUP_BY:
            raise ValueError(f"/analytics/{endpoint} accepts at most {MAX_GROUP_BY} group_by dimensions")
        if self.order_by is not None and self.order_by not in ORDER_BY[endpoint]:
            raise ValueError(f"/analytics/{endpoint} cannot order by {self.order_by!r}")

    def filters(self) -> dict[str, tuple[str, ...]]:
        """The array filters that are set, by parameter name (without the `[]`)."""
        return {name: getattr(self, name) for name in ARRAY_FILTERS if getattr(self, name)}


def counted_dimensions(endpoint: Endpoint, group_by: Sequence[str]) -> tuple[str, ...]:
    """The dimensions that count toward the 5-dimension cap (and the page `limit`)."""
    free = FAN_OUT_DIMENSIONS if endpoint is Endpoint.COST else ()
    return tuple(dimension for dimension in group_by if dimension not in free)


# --- planning -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """A breakdown someone wants; any query grouped by a superset of `dimensions` serves it by summing."""

    name: str
    endpoint: Endpoint
    dimensions: frozenset[str]
    fan_out: bool = False  # per cost component and token type (cost only; free in rows and in the cap)
    needs_requests: bool = False  # request counts are null on fanned-out cost rows

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", frozenset(self.dimensions))
        if not self.dimensions <= set(USAGE_DIMENSIONS) or len(self.dimensions) > MAX_GROUP_BY:
            raise ValueError(f"projection {self.name!r}: at most {MAX_GROUP_BY} of {USAGE_DIMENSIONS}")
        if self.fan_out and (self.endpoint is not Endpoint.COST or self.needs_requests):
            raise ValueError(f"projection {self.name!r}: fan_out needs the cost endpoint and no request counts")
        if {"claude_tag_user_id", "rbac_group_id"} <= self.dimensions:
            raise ValueError(f"projection {self.name!r}: claude_tag_user_id cannot be combined with rbac_group_id")


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
# For estimating only: the left value is (almost) a function of the right one, so it adds no rows.
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
class PlannedQuery:
    endpoint: Endpoint
    query: AnalyticsQuery
    serves: tuple[str, ...]  # names of the projections this query's rows are summed into
    estimated_rows: int  # base rows; fan-out rows come on top and do not count toward limit

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.estimated_rows / self.query.limit))


@dataclass(frozen=True)
class AnalyticsPlan:
    queries: tuple[PlannedQuery, ...]

    @property
    def request_count(self) -> int:
        return sum(planned.pages for planned in self.queries)

    def describe(self) -> str:
        """One line per query set (the same query over successive ranges), then the total."""
        sets: dict[tuple, list[PlannedQuery]] = {}
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


_Ranges = list[tuple[datetime, datetime]]


def plan(
    starting_at: datetime,
    ending_at: datetime,
    profile: OrgProfile,
    projections: Sequence[Projection] = DEFAULT_PROJECTIONS,
    *,
    time_bucket_width: str | None = "1d",
    limit: int = MAX_PAGE_ROWS,
    now: datetime | None = None,
) -> AnalyticsPlan:
    """The queries serving every projection over [starting_at, ending_at) in the fewest requests.

    Projections on one endpoint share a query when that costs fewer requests (then fewer rows); each query set
    runs over successive ranges of at most 31 days (24 h for `1m`). With `now`, the window must lie in retention.
    """
    if len({p.name for p in projections}) != len(projections):
        raise ValueError("projection names must be unique")
    if len(projections) > MAX_PROJECTIONS:
        raise ValueError(f"at most {MAX_PROJECTIONS} projections per plan (every way of sharing queries is tried)")
    ranges = _ranges(starting_at, ending_at, time_bucket_width, now)
    queries: list[PlannedQuery] = []
    for endpoint in Endpoint:
        wanted = [p for p in projections if p.endpoint is endpoint]
        best = min(
            (_cost(groups, ranges, time_bucket_width, profile, limit) for groups in _valid_partitions(wanted)),
            default=None,
            key=lambda costed: costed[0],
        )
        for group in best[1] if best else ():
            queries += _queries(endpoint, group, ranges, time_bucket_width, profile, limit)
    return AnalyticsPlan(tuple(queries))


def _ranges(start: datetime, end: datetime, width: str | None, now: datetime | None) -> _Ranges:
    if start.utcoffset() is None or end.utcoffset() is None:
        raise ValueError("the window must be timezone-aware")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    step = BUCKET_WIDTHS.get(width or "1h")
    if step is None:
        raise ValueError(f"time_bucket_width must be one of {list(BUCKET_WIDTHS)} or None")
    if end <= start:
        raise ValueError("the window must end after it starts")
    if start < HISTORY_FLOOR or (now is not None and start < now - RETENTION):
        raise ValueError("the window starts before the data the analytics API keeps")
    # Bucket edges are assumed to sit on UTC multiples of the width; unbucketed rows cover whole hours.
    if (start - HISTORY_FLOOR) % step or (end - HISTORY_FLOOR) % step:
        raise ValueError(f"the window must start and end on {width or '1h'} boundaries (UTC)")
    longest = MAX_MINUTE_RANGE if width == "1m" else MAX_RANGE
    return [(at, min(at + longest, end)) for at in _steps(start, end, longest)]


def _steps(start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    while start < end:
        yield start
        start += step


def _valid_partitions(projections: list[Projection]) -> Iterator[list[list[Projection]]]:
    for partition in _partitions(projections):
        if all(_shape(group) is not None for group in partition):
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


def _shape(group: list[Projection]) -> tuple[frozenset[str], bool] | None:
    """The (dimensions, fan_out) of the one query serving `group`, or None when no single query can."""
    dimensions = frozenset().union(*(p.dimensions for p in group))
    fan_out = any(p.fan_out for p in group)
    if len(dimensions) > MAX_GROUP_BY or (fan_out and any(p.needs_requests for p in group)):
        return None
    if {"claude_tag_user_id", "rbac_group_id"} <= dimensions:
        return None
    if any((dimensions - p.dimensions) & NON_ADDITIVE_DIMENSIONS for p in group):
        return None
    return dimensions, fan_out


def _cost(
    groups: list[list[Projection]], ranges: _Ranges, width: str | None, profile: OrgProfile, limit: int
) -> tuple[tuple[int, int, int], list[list[Projection]]]:
    requests = rows = 0
    for group in groups:
        for at, until in ranges:
            estimated = _estimated_rows(group, at, until, width, profile)
            requests += max(1, math.ceil(estimated / limit))
            rows += estimated
    # Fewest requests; then fewest rows to move; then fewest query sets.
    return (requests, rows, len(groups)), groups


def _estimated_rows(
    group: list[Projection], at: datetime, until: datetime, width: str | None, profile: OrgProfile
) -> int:
    dimensions, _ = _shape(group)
    buckets = 1 if width is None else math.ceil((until - at) / BUCKET_WIDTHS[width])
    return buckets * profile.rows_per_bucket(dimensions)


def _queries(
    endpoint: Endpoint, group: list[Projection], ranges: _Ranges, width: str | None, profile: OrgProfile, limit: int
) -> Iterator[PlannedQuery]:
    dimensions, fan_out = _shape(group)
    group_by = tuple(d for d in USAGE_DIMENSIONS if d in dimensions) + (FAN_OUT_DIMENSIONS if fan_out else ())
    # Time order (oldest bucket first) lets a walk interrupted mid-way resume knowing which buckets are done.
    order = {"order_by": "time", "order": "asc"} if width else {}
    for at, until in ranges:
        query = AnalyticsQuery(at, until, width, group_by, limit, **order)
        query.check_for(endpoint)
        serves = tuple(p.name for p in group)
        yield PlannedQuery(endpoint, query, serves, _estimated_rows(group, at, until, width, profile))
