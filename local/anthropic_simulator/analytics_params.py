"""Query parameters of GET /v1/organizations/analytics/{usage,cost}: parsing, defaults and every 400.

Parameters come in the `urllib.parse.parse_qs(..., keep_blank_values=True)` form, arrays as repeated `name[]`
keys (the SDK's "brackets" format). Failures raise `reports.BadRequest`, which the server answers with 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from anthropic_simulator.analytics_settings import ANALYTICS_BETA, AnalyticsSettings
from anthropic_simulator.reports import BadRequest, Params, _parse_limit, _parse_time, _single

HISTORY_FLOOR = datetime(2026, 1, 1, tzinfo=UTC)
MAX_SPAN = timedelta(days=31)
MAX_MINUTE_SPAN = timedelta(hours=24)
HISTORY_DAYS = timedelta(days=365)
MAX_GROUP_BY = 5
WIDTHS = {"1d": timedelta(days=1), "1h": timedelta(hours=1), "1m": timedelta(minutes=1)}
# Every group key in the order the SDK models list them; the cost endpoint adds the two fan-out dimensions.
USAGE_DIMENSIONS = (
    "actor",
    "actor_type",
    "agent_id",
    "api_key_id",
    "claude_tag_category",
    "claude_tag_user_id",
    "context_window",
    "deployment_id",
    "environment_id",
    "inference_geo",
    "model",
    "organization_id",
    "product",
    "rbac_group_id",
    "service_tier",
    "session_id",
    "slack_channel_id",
    "speed",
    "user_profile_id",
    "workspace_id",
)
FAN_OUT = ("cost_type", "token_type")
COST_DIMENSIONS = tuple(sorted((*USAGE_DIMENSIONS, *FAN_OUT)))
ORDER_BY = {
    "usage": ("total_tokens", "output_tokens", "uncached_input_tokens", "requests", "time"),
    "cost": ("amount", "list_amount", "time"),
}
PRODUCTS = (
    "chat",
    "chat_cowork_unified",
    "claude_code",
    "claude_console",
    "claude_design",
    "claude_in_chrome",
    "claude_tag",
    "cowork",
    "managed_agents_api",
    "message_batches_api",
    "messages_api",
    "office_agent",
)
_ENUMS = {
    "actor_types[]": ("api_actor", "federated_actor", "service_account_actor", "user_actor"),
    "products[]": PRODUCTS,
    "service_tiers[]": ("batch", "flex", "flex_discount", "priority", "priority_on_demand", "standard"),
    "speeds[]": ("fast", "standard"),
    "context_windows[]": ("0-200k", "200k-1M"),
    "inference_geos[]": ("global", "us", "not_available"),
    "claude_tag_categories[]": ("dm", "engaged", "monitoring", "proactive", "scheduled"),
}
# filter parameter -> the group dimension it restricts
FILTERS = {
    "actor_ids[]": "actor",
    "actor_types[]": "actor_type",
    "agent_ids[]": "agent_id",
    "api_key_ids[]": "api_key_id",
    "claude_tag_categories[]": "claude_tag_category",
    "claude_tag_user_ids[]": "claude_tag_user_id",
    "context_windows[]": "context_window",
    "deployment_ids[]": "deployment_id",
    "environment_ids[]": "environment_id",
    "inference_geos[]": "inference_geo",
    "models[]": "model",
    "organization_ids[]": "organization_id",
    "products[]": "product",
    "rbac_group_ids[]": "rbac_group_id",
    "service_tiers[]": "service_tier",
    "session_ids[]": "session_id",
    "slack_channel_ids[]": "slack_channel_id",
    "speeds[]": "speed",
    "user_profile_ids[]": "user_profile_id",
    "workspace_ids[]": "workspace_id",
}
_ACTOR_ID_PREFIXES = ("user_", "svac_", "apikey_")
_CURSOR_PREFIX = "rpt_"
# Not part of what a cursor is bound to: the SDK's remedy for report_page_too_large is a lower `limit` with the
# same cursor (the cursor counts rows, so any limit can go on from it).
_UNBOUND_PARAMS = ("page", "limit")


class ReportError(BadRequest):
    """A 400 that also carries `error.details.error_code` (the official SDK maps each code to its own class)."""

    def __init__(self, message: str, error_code: str) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass(frozen=True)
class AnalyticsQuery:
    """A validated analytics request. `starting_at`/`ending_at` are the effective (rounded) range."""

    kind: str
    starting_at: datetime
    ending_at: datetime
    width: timedelta | None
    group_by: tuple[str, ...]  # base dimensions, in `USAGE_DIMENSIONS` order
    cost_type: bool
    token_type: bool
    filters: tuple[tuple[str, frozenset[str | None]], ...]
    limit: int
    offset: int
    order: str
    order_by: str
    exclude_deleted_users: bool
    fingerprint: str


def parse_query(kind: str, params: Params, now: datetime, settings: AnalyticsSettings) -> AnalyticsQuery:
    """Validate `params` of the `kind` ("usage" or "cost") endpoint at `now`; raises BadRequest."""
    _check_arrays(params, settings)
    starting_at = _parse_time(params, "starting_at", required=True)
    assert starting_at is not None
    if starting_at < HISTORY_FLOOR:
        raise BadRequest("starting_at: must be no earlier than 2026-01-01T00:00:00Z")
    if starting_at < now - HISTORY_DAYS:
        raise BadRequest("starting_at: must be within the last 365 days")
    width_name = _single(params, "time_bucket_width")
    if width_name is not None and width_name not in WIDTHS:
        raise BadRequest("time_bucket_width: Input should be '1d', '1h' or '1m'")
    width = WIDTHS[width_name] if width_name else None
    ending_at = _parse_time(params, "ending_at", required=False)
    if ending_at is None:
        if width is not None:
            raise BadRequest("ending_at: Field required when time_bucket_width is set")
        ending_at = min(now, starting_at + MAX_SPAN)
    if ending_at <= starting_at:
        raise BadRequest("Invalid date range: ending_at must be after starting_at")
    if ending_at - starting_at > MAX_SPAN:
        raise BadRequest("Invalid date range: the range may span at most 31 days")
    if width_name == "1m" and ending_at - starting_at > MAX_MINUTE_SPAN:
        raise BadRequest("Invalid date range: with time_bucket_width=1m the range may span at most 24 hours")
    group_by, cost_type, token_type = _parse_group_by(kind, params, settings)
    filters = _parse_filters(params, settings)
    dimensions = set(group_by) | {dim for dim, _ in filters}
    if "claude_tag_user_id" in dimensions and "rbac_group_id" in dimensions:
        raise BadRequest("claude_tag_user_id cannot be combined with rbac_group_id (as a group_by or a filter)")
    exclude_deleted = _parse_bool(params, "exclude_deleted_users")
    if exclude_deleted and "actor" not in group_by:
        raise BadRequest("exclude_deleted_users: requires group_by[]=actor")
    limit = _parse_limit(params, 20, 1000)
    order = _single(params, "order") or "desc"
    if order not in ("asc", "desc"):
        raise BadRequest("order: Input should be 'asc' or 'desc'")
    order_by = _single(params, "order_by") or ORDER_BY[kind][0]
    if order_by not in ORDER_BY[kind]:
        raise BadRequest(f"order_by: Input should be {_listing(ORDER_BY[kind])}")
    fingerprint = _fingerprint(kind, params)
    offset = _decode_cursor(_single(params, "page"), kind, fingerprint, settings)
    if width is None:
        starting_at, ending_at = _floor(starting_at, timedelta(hours=1)), _floor(ending_at, timedelta(hours=1))
    return AnalyticsQuery(
        kind,
        starting_at,
        ending_at,
        width,
        group_by,
        cost_type,
        token_type,
        filters,
        limit,
        offset,
        order,
        order_by,
        exclude_deleted,
        fingerprint,
    )


def _check_arrays(params: Params, settings: AnalyticsSettings) -> None:
    arrays = {"group_by", *(name[:-2] for name in FILTERS)}
    for key, values in params.items():
        base = key.split("[", 1)[0]
        if base in arrays and key != f"{base}[]":
            raise BadRequest(f"{key}: array parameters must be sent as repeated `{base}[]=value` pairs")
        cap = settings.max_array_items
        if key.endswith("[]") and cap is not None and len(values) > cap:
            raise BadRequest(f"{key}: at most {cap} items are allowed")


def _parse_group_by(kind: str, params: Params, settings: AnalyticsSettings) -> tuple[tuple[str, ...], bool, bool]:
    values = params.get("group_by[]", [])
    allowed = USAGE_DIMENSIONS if kind == "usage" else COST_DIMENSIONS
    for value in values:
        if value not in allowed:
            raise BadRequest(f"group_by[]: Input should be {_listing(allowed)}; got {value!r}")
    if settings.reject_duplicate_group_by and len(set(values)) != len(values):
        raise BadRequest("group_by[]: duplicate values are not allowed")
    base = [v for v in USAGE_DIMENSIONS if v in values]
    if len(base) > MAX_GROUP_BY:
        counted = " (cost_type and token_type do not count)" if kind == "cost" else ""
        raise BadRequest(f"Cannot specify more than {MAX_GROUP_BY} group_by[] dimensions{counted}.")
    return tuple(base), "cost_type" in values, "token_type" in values


def _parse_filters(params: Params, settings: AnalyticsSettings) -> tuple[tuple[str, frozenset[str | None]], ...]:
    filters = []
    for param, dimension in FILTERS.items():
        values = params.get(param)
        if not values:
            continue
        allowed = _ENUMS.get(param)
        for value in values:
            if allowed is not None and value not in allowed:
                raise BadRequest(f"{param}: Input should be {_listing(allowed)}; got {value!r}")
        if param == "products[]" and "chat_cowork_unified" in values and not settings.chat_cowork_unified_available:
            raise BadRequest("products[]: chat_cowork_unified is not available for this organization")
        if param == "actor_ids[]":
            for value in values:
                if not value.startswith(_ACTOR_ID_PREFIXES):
                    raise BadRequest(f"actor_ids[]: expected a tagged user_, svac_ or apikey_ id; got {value!r}")
        if param == "organization_ids[]" and settings.organization_ids == "reject":
            raise BadRequest("organization_ids[]: requires an API key created at a parent organization")
        matched: set[str | None] = set(values)
        if param == "api_key_ids[]" and "" in matched:
            matched = (matched - {""}) | {None}  # an empty entry also matches usage no API key authenticated
        if param == "inference_geos[]" and "not_available" in matched:
            matched = (matched - {"not_available"}) | {None}
        filters.append((dimension, frozenset(matched)))
    return tuple(filters)


def _parse_bool(params: Params, name: str) -> bool:
    raw = _single(params, name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise BadRequest(f"{name}: Input should be a valid boolean")
    return raw == "true"


def _listing(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


def _fingerprint(kind: str, params: Params) -> str:
    pairs = sorted((name, value) for name, values in params.items() if name not in _UNBOUND_PARAMS for value in values)
    return hashlib.sha256(json.dumps([kind, pairs]).encode()).hexdigest()[:16]


def encode_cursor(offset: int, kind: str, fingerprint: str) -> str:
    raw = json.dumps({"e": kind, "o": offset, "q": fingerprint}, separators=(",", ":")).encode()
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(token: str | None, kind: str, fingerprint: str, settings: AnalyticsSettings) -> int:
    if token is None:
        return 0
    try:
        if not token.startswith(_CURSOR_PREFIX):
            raise ValueError("missing prefix")
        body = token[len(_CURSOR_PREFIX) :]
        decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        endpoint, offset, query = decoded["e"], decoded["o"], decoded["q"]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0 or not isinstance(query, str):
            raise ValueError("bad fields")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BadRequest("page: Invalid page cursor") from exc
    if endpoint != kind:
        raise BadRequest("page: The page cursor was issued by another endpoint")
    if settings.cursor_bound_to_query and query != fingerprint:
        raise BadRequest("page: The page cursor was issued for a different query")
    return offset


def _floor(moment: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // width) * width


def buckets(query: AnalyticsQuery, alignment: str) -> list[tuple[datetime, datetime]]:
    """The (start, end) periods of the rows: one per UTC-aligned bucket, or the whole (hour-rounded) range."""
    start, end, width = query.starting_at, query.ending_at, query.width
    if width is None:
        return [(start, end)] if end > start else []
    first, last = _floor(start, width), _floor(end, width)
    if alignment == "overlap" and last < end:
        last += width
    if alignment == "inside" and first < start:
        first += width
    count = max(0, (last - first) // width)
    return [(first + i * width, first + (i + 1) * width) for i in range(count)]


# -- request gate: headers, organization, rate limit -----------------------------------------------


@dataclass(frozen=True)
class Denial:
    """An error answer of the analytics gate, before the parameters are looked at."""

    status: int
    error_type: str
    message: str
    details: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)


def check_headers(settings: AnalyticsSettings, version: str | None, betas: list[str]) -> Denial | None:
    """The version and beta headers (the beta may sit anywhere in a comma-separated list)."""
    if settings.accepted_versions is not None and version not in settings.accepted_versions:
        return Denial(400, "invalid_request_error", f"anthropic-version: {version} is not supported")
    if ANALYTICS_BETA not in betas:
        if settings.missing_beta_status == 404:
            return Denial(404, "not_found_error", "The requested resource could not be found.")
        message = f"anthropic-beta: this endpoint is in beta; send the header value {ANALYTICS_BETA}"
        return Denial(400, "invalid_request_error", message)
    return None


def check_organization(settings: AnalyticsSettings) -> Denial | None:
    if not settings.enrolled_in_beta:
        details = {"error_code": "organization_not_enrolled_in_beta"}
        return Denial(400, "invalid_request_error", "Your organization is not enrolled in this beta.", details)
    if settings.hipaa_readiness:
        message = "The Usage and Cost Analytics API is not available to organizations with HIPAA readiness."
        return Denial(400, "invalid_request_error", message)
    return None


class RateLimiter:
    """A sliding one-minute window per organization over both endpoints, on the wall clock (the simulated clock
    may stand still)."""

    def __init__(self) -> None:
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def check(self, limit: int | None) -> Denial | None:
        """Count a call; a 429 with `retry-after` (seconds until a slot frees up) when the window is full."""
        if limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            while self._calls and now - self._calls[0] >= 60:
                self._calls.popleft()
            if len(self._calls) >= limit:
                wait = max(1, math.ceil(60 - (now - self._calls[0])))
                message = "Number of requests has exceeded your rate limit. Please try again later."
                return Denial(429, "rate_limit_error", message, headers={"retry-after": str(wait)})
            self._calls.append(now)
        return None

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
