"""Client for the usage and cost analytics endpoints (beta): typed iterators over every page of a query."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import SecretStr

from pump_anthropic.admin_api.analytics_models import CostPage, CostRow, UsagePage, UsageRow
from pump_anthropic.admin_api.client import AdminApiClient, Params, _bool_param, _next_page, _rfc3339
from pump_anthropic.domain.analytics_plan import AnalyticsQuery, Endpoint

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
        **kwargs: Any,
    ) -> None:
        super().__init__(admin_key, base_url, max_pages=max_pages, **kwargs)
        if auth_scheme not in ("x-api-key", "bearer"):
            raise ValueError("auth_scheme must be 'x-api-key' or 'bearer'")
        if min_attempt_seconds < 0:
            raise ValueError("min_attempt_seconds must not be negative")
        self.auth_scheme = auth_scheme
        self.max_filter_values = max_filter_values
        self.min_attempt_seconds = min_attempt_seconds
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
        params = encode_query(endpoint, query, max_filter_values=self.max_filter_values)
        return self._iter_pages(
            PATHS[endpoint], params, page_model, "page", _next_page, headers=self.analytics_headers, cursor=cursor
        )

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
