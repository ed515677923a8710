"""Client for the usage and cost analytics endpoints (beta): typed iterators over every page of a query."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import SecretStr

from pump_anthropic.admin_api.analytics_models import CostPage, CostRow, UsagePage, UsageRow
from pump_anthropic.admin_api.client import AdminApiClient, Params, _bool_param, _rfc3339
from pump_anthropic.admin_api.spend_limits import SpendLimit, iter_spend_limit_pages
from pump_anthropic.domain.analytics_plan import BUCKET_WIDTHS, AnalyticsQuery, Endpoint
from pump_anthropic.exceptions import AdminApiReportPageTooLargeError, AdminApiTooManyReportGroupsError

ANALYTICS_BETA = "analytics-usage-cost-2026-08-24"
# The version the official SDK sends. Whether these endpoints also take the legacy client's 2023-06-01 is unknown.
ANALYTICS_API_VERSION = "2026-10-21"
# Undocumented for these endpoints (the legacy Enterprise reports cap each array filter at 100 values):
# checked before sending so a long filter fails with a clear message; None turns the check off.
ASSUMED_MAX_FILTER_VALUES = 100
# A retry's sleep (a 429's retry-after included) must leave this long before the deadline, or the client gives up
# at once and raises the retriable error, retry_after included, for the caller to reschedule.
DEFAULT_MIN_ATTEMPT_SECONDS = 2.0
# Only a guard against a cursor chain that never ends: a 31-day hourly query of a large org can need ~800 pages.
DEFAULT_MAX_PAGES = 5000
# 400 report_page_too_large: the same page is asked again with half the `limit`, down to this floor; the walk then
# goes on with the lowered limit (1000 → 1 takes at most 10 requests).
DEFAULT_MIN_PAGE_LIMIT = 1
# 400 too_many_report_groups: a bucketed query's range is halved on a bucket edge, at most this many times over
# (5: a 31-day daily query down to single days); each half is walked in full, in the query's time order.
DEFAULT_MAX_SPLIT_DEPTH = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AuthScheme = Literal["x-api-key", "bearer"]

PATHS = {Endpoint.USAGE: "/v1/organizations/analytics/usage", Endpoint.COST: "/v1/organizations/analytics/cost"}

PageT = TypeVar("PageT", UsagePage, CostPage)


class AnalyticsClient(AdminApiClient):
    """An `AdminApiClient` that also reads `GET /v1/organizations/analytics/{usage,cost}`.

    Same transport, retries, deadline, typed errors, page guards and key masking as `AdminApiClient`, and the
    same request and retry counters. Analytics calls add the beta header and their own `anthropic-version`.
    `auth_scheme="bearer"` sends the key as `Authorization: Bearer` (as the official SDK does) on every call.
    JSON numbers with a fraction are decoded as `Decimal`, so no amount ever passes through a float.
    """

    def __init__(
        self,
        admin_key: SecretStr,
        base_url: str | None = None,
        *,
        auth_scheme: AuthScheme = "x-api-key",
        api_version: str = ANALYTICS_API_VERSION,
        extra_betas: Sequence[str] = (),
        max_filter_values: int | None = ASSUMED_MAX_FILTER_VALUES,
        min_attempt_seconds: float = DEFAULT_MIN_ATTEMPT_SECONDS,
        max_pages: int = DEFAULT_MAX_PAGES,
        min_page_limit: int = DEFAULT_MIN_PAGE_LIMIT,
        max_split_depth: int = DEFAULT_MAX_SPLIT_DEPTH,
        **kwargs: Any,
    ) -> None:
        super().__init__(admin_key, base_url, max_pages=max_pages, **kwargs)
        if auth_scheme not in ("x-api-key", "bearer"):
            raise ValueError("auth_scheme must be 'x-api-key' or 'bearer'")
        if min_attempt_seconds < 0:
            raise ValueError("min_attempt_seconds must not be negative")
        if min_page_limit < 1 or max_split_depth < 0:
            raise ValueError("min_page_limit must be at least 1 and max_split_depth not negative")
        self.auth_scheme = auth_scheme
        self.max_filter_values = max_filter_values
        self.min_attempt_seconds = min_attempt_seconds
        self.min_page_limit = min_page_limit
        self.max_split_depth = max_split_depth
        betas = dict.fromkeys([*extra_betas, ANALYTICS_BETA])
        self.analytics_headers: Mapping[str, str] = {
            "anthropic-beta": ",".join(betas),
            "anthropic-version": api_version,
        }

    def __repr__(self) -> str:
        return f"AnalyticsClient(base_url={self.base_url!r}, request_count={self.request_count})"

    def __enter__(self) -> AnalyticsClient:
        return self

    # --- public API -------------------------------------------------------------------------------------

    def iter_usage(self, query: AnalyticsQuery, *, page: str | None = None) -> Iterator[UsageRow]:
        """Every usage row of `query`, across all pages. The query is checked now, not at the first `next()`."""
        pages = self.iter_usage_pages(query, page=page)
        return (row for each in pages for row in each.data)

    def iter_cost(self, query: AnalyticsQuery, *, page: str | None = None) -> Iterator[CostRow]:
        """Every cost row of `query` (fan-out rows included), across all pages."""
        pages = self.iter_cost_pages(query, page=page)
        return (row for each in pages for row in each.data)

    def list_spend_limits(self) -> list[SpendLimit]:
        """Every organization, workspace and usage-tier spend limit (the Spend Limits API, beta). A refusal is 400
        organization_type_not_supported, or 403/404 where the early-access gate closes the API to the key."""
        return [limit for page in iter_spend_limit_pages(self) for limit in page.data]

    def iter_usage_pages(self, query: AnalyticsQuery, *, page: str | None = None) -> Iterator[UsagePage]:
        """Each page of `query` with its `next_page` and `data_refreshed_at`; `page` resumes from a cursor."""
        return self._iter_analytics(Endpoint.USAGE, query, UsagePage, page)

    def iter_cost_pages(self, query: AnalyticsQuery, *, page: str | None = None) -> Iterator[CostPage]:
        """Each page of `query` with its `next_page` and `data_refreshed_at`; `page` resumes from a cursor."""
        return self._iter_analytics(Endpoint.COST, query, CostPage, page)

    # --- internals ----------------------------------------------------------------------------------------

    def _iter_analytics(
        self, endpoint: Endpoint, query: AnalyticsQuery, page_model: type[PageT], cursor: str | None
    ) -> Iterator[PageT]:
        if cursor is not None and not cursor:
            raise ValueError("page must be a non-empty cursor or None")
        encode_query(endpoint, query, max_filter_values=self.max_filter_values)  # fail now, not at the first next()
        return self._walk(endpoint, query, page_model, cursor, _Walk(query.limit))

    def _walk(
        self, endpoint: Endpoint, query: AnalyticsQuery, page_model: type[PageT], cursor: str | None, walk: _Walk
    ) -> Iterator[PageT]:
        """The pages of `query` from `cursor` on (the same query re-sent with each cursor, as `_iter_pages` does).

        `report_page_too_large` re-asks the same page with half the limit (`walk.limit`, kept for every later page
        and piece); `too_many_report_groups` on a fresh query's first page walks the two halves of its range instead
        (a page's `next_page` then belongs to its half: only an unsplit walk can be resumed from it).
        """
        path = PATHS[endpoint]
        resumed = cursor is not None
        seen: set[str] = {cursor} if cursor is not None else set()
        pages_read = 0
        while True:
            params = encode_query(endpoint, replace(query, limit=walk.limit), max_filter_values=self.max_filter_values)
            halves = None
            try:
                page = self._get_model(
                    path, [*params, *([("page", cursor)] if cursor else [])], page_model, self.analytics_headers
                )
            except AdminApiReportPageTooLargeError as exc:
                if walk.limit <= self.min_page_limit:
                    raise _page_floor_error(exc, walk.limit) from exc
                walk.limit = max(self.min_page_limit, walk.limit // 2)
                continue
            except AdminApiTooManyReportGroupsError as exc:
                halves = None if pages_read or resumed else _split(query)
                if halves is None or walk.depth >= self.max_split_depth:
                    raise _groups_error(
                        exc, query, _unsplit_reason(query, bool(pages_read) or resumed, walk.depth)
                    ) from exc
            if halves is not None:  # walked outside the `except`, so their errors don't chain onto this one
                yield from self._walk_halves(endpoint, halves, page_model, walk)
                return
            pages_read += 1
            walk.pages += 1
            yield page
            if not page.has_more:
                return
            cursor = page.next_page
            self._check_cursor(path, cursor, seen, walk.pages)  # max_pages counts the pages of every piece
            seen.add(cursor)

    def _walk_halves(
        self, endpoint: Endpoint, halves: tuple[AnalyticsQuery, AnalyticsQuery], page_model: type[PageT], walk: _Walk
    ) -> Iterator[PageT]:
        walk.depth += 1
        try:
            for half in halves:
                yield from self._walk(endpoint, half, page_model, None, walk)
        finally:
            walk.depth -= 1

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = super()._headers(extra)
        if self.auth_scheme == "bearer":
            headers["authorization"] = f"Bearer {headers.pop('x-api-key')}"
        return headers

    def _loads(self, content: bytes) -> Any:
        return json.loads(content, parse_float=Decimal)


def encode_query(
    endpoint: Endpoint, query: AnalyticsQuery, *, max_filter_values: int | None = ASSUMED_MAX_FILTER_VALUES
) -> Params:
    """The query string of `query` on `endpoint`: arrays as repeated `name[]=value`, times in UTC with `Z`."""
    query.check_for(endpoint)
    params: Params = [("starting_at", _rfc3339(query.starting_at))]
    if query.ending_at is not None:
        params.append(("ending_at", _rfc3339(query.ending_at)))
    if query.time_bucket_width is not None:
        params.append(("time_bucket_width", query.time_bucket_width))
    params += [("group_by[]", dimension) for dimension in query.group_by]
    params.append(("limit", str(query.limit)))
    params += [(name, value) for name, value in (("order", query.order), ("order_by", query.order_by)) if value]
    for name, values in query.filters().items():
        if max_filter_values is not None and len(values) > max_filter_values:
            raise ValueError(f"{name} has {len(values)} values; at most {max_filter_values} are assumed accepted")
        params += [(f"{name}[]", value) for value in values]
    if query.exclude_deleted_users is not None:
        params.append(("exclude_deleted_users", _bool_param(query.exclude_deleted_users)))
    return params


@dataclass
class _Walk:
    """What one walk learns as it goes: the page limit the API accepts, how deep in range halvings it is, and the
    pages read so far (all pieces together)."""

    limit: int
    depth: int = 0
    pages: int = 0


def _split(query: AnalyticsQuery) -> tuple[AnalyticsQuery, AnalyticsQuery] | None:
    """The query's range halved on a bucket edge (so every bucket, and so every row, falls in exactly one half);
    None when it cannot be split without changing its rows (no bucket width: a row sums over the whole range) or
    holds a single bucket. With `order_by=time` the halves come in the query's time direction (`order`, newest
    first by default), so the pages come back in the unsplit sequence; a metric-ranked query gets the same rows,
    each half ranked on its own."""
    width = BUCKET_WIDTHS.get(query.time_bucket_width or "")
    if width is None or query.ending_at is None:
        return None
    start, end = query.starting_at.astimezone(UTC), query.ending_at.astimezone(UTC)
    middle = _EPOCH + ((start + (end - start) / 2 - _EPOCH) // width) * width
    if middle <= start:
        middle += width
    if not start < middle < end:
        return None
    earlier, later = replace(query, ending_at=middle), replace(query, starting_at=middle)
    newest_first = query.order_by == "time" and query.order != "asc"
    return (later, earlier) if newest_first else (earlier, later)


def _page_floor_error(exc: AdminApiReportPageTooLargeError, limit: int) -> AdminApiReportPageTooLargeError:
    return AdminApiReportPageTooLargeError(
        f"{exc.message} (still too large at limit={limit}, the smallest this client asks for)",
        status=exc.status,
        error_type=exc.error_type,
        request_id=exc.request_id,
    )


def _unsplit_reason(query: AnalyticsQuery, mid_walk: bool, depth: int) -> str:
    if mid_walk:
        return "after pages were already read, so the query cannot be split without repeating rows"
    if query.time_bucket_width is None:
        return "and an unbucketed query cannot be split without changing its rows"
    if _split(query) is None:
        return f"on a range of a single {query.time_bucket_width} bucket"
    return f"after splitting its range {depth} times (the most this client does)"


def _groups_error(
    exc: AdminApiTooManyReportGroupsError, query: AnalyticsQuery, why: str
) -> AdminApiTooManyReportGroupsError:
    span = f"{_rfc3339(query.starting_at)}..{_rfc3339(query.ending_at) if query.ending_at else 'the default end'}"
    return AdminApiTooManyReportGroupsError(
        f"{exc.message} (for {span}, {why})", status=exc.status, error_type=exc.error_type, request_id=exc.request_id
    )
