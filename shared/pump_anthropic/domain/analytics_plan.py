"""Usage and cost analytics queries, and the plan that asks them for the connector's query sets.

Pure: no I/O and no clock. `AnalyticsQuery` is one query's parameters (the client encodes and sends it);
`plan()` turns a window and the projections wanted into the queries to send, one query set per projection, over
successive ranges. (Whether projections could share a query, and what that would save for an org's shape, is
estimated by a tool that never ships: `local/pump_local/analytics_planner.py`.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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


# --- the plan ---------------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class PlannedQuery:
    endpoint: Endpoint
    query: AnalyticsQuery
    serves: tuple[str, ...]  # names of the projections this query's rows are summed into


@dataclass(frozen=True)
class AnalyticsPlan:
    queries: tuple[PlannedQuery, ...]


Ranges = list[tuple[datetime, datetime]]


def plan(
    starting_at: datetime,
    ending_at: datetime,
    projections: Sequence[Projection],
    *,
    time_bucket_width: str | None = "1d",
    limit: int = MAX_PAGE_ROWS,
    now: datetime | None = None,
) -> AnalyticsPlan:
    """The queries serving each projection over [starting_at, ending_at): one query set per projection, over
    successive ranges of at most 31 days (24 h for `1m`). With `now`, the window must lie in retention."""
    if len({p.name for p in projections}) != len(projections):
        raise ValueError("projection names must be unique")
    ranges = window_ranges(starting_at, ending_at, time_bucket_width, now)
    queries = [
        PlannedQuery(p.endpoint, query, (p.name,))
        for p in projections
        for query in query_set(p.endpoint, [p], ranges, time_bucket_width, limit)
    ]
    return AnalyticsPlan(tuple(queries))


def query_set(
    endpoint: Endpoint, group: Sequence[Projection], ranges: Ranges, width: str | None, limit: int
) -> Iterator[AnalyticsQuery]:
    """The one query serving every projection of `group`, asked over each range."""
    shape = query_shape(group)
    if shape is None:
        raise ValueError(f"no single query serves {', '.join(p.name for p in group)}")
    dimensions, fan_out = shape
    group_by = tuple(d for d in USAGE_DIMENSIONS if d in dimensions) + (FAN_OUT_DIMENSIONS if fan_out else ())
    # Time order (oldest bucket first) lets a walk interrupted mid-way resume knowing which buckets are done.
    order = {"order_by": "time", "order": "asc"} if width else {}
    for at, until in ranges:
        query = AnalyticsQuery(at, until, width, group_by, limit, **order)
        query.check_for(endpoint)
        yield query


def window_ranges(start: datetime, end: datetime, width: str | None, now: datetime | None) -> Ranges:
    """[start, end) cut into the successive ranges one query may span (31 days; 24 h for `1m`), after checking the
    window is one the API serves."""
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


def query_shape(group: list[Projection]) -> tuple[frozenset[str], bool] | None:
    """The (dimensions, fan_out) of the one query serving every projection of `group`, or None when no single query
    can (too many dimensions, request counts beside the fan-out, a non-additive dimension summed away)."""
    dimensions = frozenset().union(*(p.dimensions for p in group))
    fan_out = any(p.fan_out for p in group)
    if len(dimensions) > MAX_GROUP_BY or (fan_out and any(p.needs_requests for p in group)):
        return None
    if {"claude_tag_user_id", "rbac_group_id"} <= dimensions:
        return None
    if any((dimensions - p.dimensions) & NON_ADDITIVE_DIMENSIONS for p in group):
        return None
    return dimensions, fan_out
