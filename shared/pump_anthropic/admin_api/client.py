"""HTTP client for the Anthropic Admin API: headers, timeouts, retries, typed errors and pagination."""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from operator import attrgetter
from typing import Any, TypeVar

import requests
from pydantic import BaseModel, SecretStr, ValidationError
from tenacity import RetryCallState

from pump_anthropic.admin_api.models import (
    ApiKey,
    ApiKeyPage,
    CostBucket,
    CostReportPage,
    Organization,
    UsageBucket,
    UsageReportPage,
    Workspace,
    WorkspacePage,
)
from pump_anthropic.admin_api.retry import build_retrying, parse_retry_after
from pump_anthropic.exceptions import (
    AdminApiAuthError,
    AdminApiError,
    AdminApiPaginationError,
    AdminApiPermissionError,
    AdminApiRateLimitedError,
    AdminApiReportPageTooLargeError,
    AdminApiRequestError,
    AdminApiTooManyReportGroupsError,
    AdminApiUnavailableError,
)

logger = logging.getLogger("pump_anthropic.admin_api")

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
MAX_GROUP_BY = 5
LIST_PAGE_LIMIT = 1000
MAX_REPORT_LIMIT = {"1d": 31, "1h": 168, "1m": 1440}
DEFAULT_COST_GROUP_BY = ("workspace_id", "description")
DEFAULT_USAGE_GROUP_BY = ("workspace_id", "model", "service_tier", "context_window", "inference_geo")

_COST_REPORT_PATH = "/v1/organizations/cost_report"
_USAGE_REPORT_PATH = "/v1/organizations/usage_report/messages"
_MAX_ERROR_MESSAGE_CHARS = 300
_TRANSIENT_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

PageT = TypeVar("PageT", bound=BaseModel)
Params = list[tuple[str, str]]
_last_id: Callable[[Any], str | None] = attrgetter("last_id")
_next_page: Callable[[Any], str | None] = attrgetter("next_page")


def _package_version() -> str:
    try:
        return version("pump-anthropic")
    except PackageNotFoundError:  # the Lambda layer ships the source without dist metadata
        return "0.1.0"


DEFAULT_USER_AGENT = f"pump-anthropic/{_package_version()} (+https://pump.co)"


class AdminApiClient:
    """Reads an organisation's identity, workspaces, API keys and cost/usage reports with an Admin key."""

    def __init__(
        self,
        admin_key: SecretStr,
        base_url: str | None = None,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        max_attempts: int = 5,
        deadline: float | None = None,
        session: requests.Session | None = None,
        user_agent: str | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        max_retry_after: float = 60.0,
        max_pages: int = 500,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        request_gate: Callable[[], None] | None = None,
    ) -> None:
        if not isinstance(admin_key, SecretStr):
            raise TypeError("admin_key must be a pydantic.SecretStr")
        if max_attempts < 1 or max_pages < 1:
            raise ValueError("max_attempts and max_pages must be at least 1")
        self._admin_key = admin_key
        self.base_url = (base_url or os.environ.get("ANTHROPIC_API_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.deadline = deadline
        self.user_agent = user_agent or DEFAULT_USER_AGENT
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.max_pages = max_pages
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._request_gate = request_gate  # before every request sent, retries too; may sleep; never retried
        self.request_count = 0
        self.retry_count = 0
        # A retry's sleep must leave at least this long before the deadline for the attempt it precedes.
        self.min_attempt_seconds = 0.0

    def __repr__(self) -> str:
        return f"AdminApiClient(base_url={self.base_url!r}, request_count={self.request_count})"

    def __enter__(self) -> AdminApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self._session.close()

    # --- public API -------------------------------------------------------------------------------------

    def get_organization(self) -> Organization:
        """The organisation the key belongs to; the cheapest call that proves a key works."""
        return self._get_model("/v1/organizations/me", [], Organization)

    def iter_workspaces(self, include_archived: bool = True, include_default: bool = False) -> Iterator[Workspace]:
        """Every workspace, following `after_id` pages; the Default workspace (first) only with `include_default`."""
        params = [("limit", str(LIST_PAGE_LIMIT)), ("include_archived", _bool_param(include_archived))]
        params += [("include_default", "true")] if include_default else []
        return self._paginate("/v1/organizations/workspaces", params, WorkspacePage, "after_id", _last_id)

    def iter_api_keys(self, status: str | None = None, workspace_id: str | None = None) -> Iterator[ApiKey]:
        """Every API key's metadata, optionally filtered by status or workspace."""
        params = [("limit", str(LIST_PAGE_LIMIT))]
        params += [(name, value) for name, value in (("status", status), ("workspace_id", workspace_id)) if value]
        return self._paginate("/v1/organizations/api_keys", params, ApiKeyPage, "after_id", _last_id)

    def iter_cost_report(
        self,
        starting_at: datetime,
        ending_at: datetime,
        group_by: Sequence[str] = DEFAULT_COST_GROUP_BY,
        limit: int = MAX_REPORT_LIMIT["1d"],
    ) -> Iterator[CostBucket]:
        """Daily cost buckets in [starting_at, ending_at), following `next_page` until `has_more` is false."""
        params = _report_params(starting_at, ending_at, group_by, limit)
        return self._paginate(_COST_REPORT_PATH, params, CostReportPage, "page", _next_page)

    def iter_usage_report(
        self,
        starting_at: datetime,
        ending_at: datetime,
        group_by: Sequence[str] = DEFAULT_USAGE_GROUP_BY,
        bucket_width: str = "1d",
        limit: int | None = None,
    ) -> Iterator[UsageBucket]:
        """Messages-usage buckets of `bucket_width`; `limit=None` asks for the largest page the width allows."""
        if limit is None:
            if bucket_width not in MAX_REPORT_LIMIT:
                raise ValueError(f"unknown bucket_width {bucket_width!r}; expected one of {list(MAX_REPORT_LIMIT)}")
            limit = MAX_REPORT_LIMIT[bucket_width]
        params = [*_report_params(starting_at, ending_at, group_by, limit), ("bucket_width", bucket_width)]
        return self._paginate(_USAGE_REPORT_PATH, params, UsageReportPage, "page", _next_page)

    # --- pagination ---------------------------------------------------------------------------------------

    def _paginate(
        self,
        path: str,
        params: Params,
        page_model: type[PageT],
        cursor_param: str,
        cursor_of: Callable[[Any], str | None],
    ) -> Iterator[Any]:
        for page in self._iter_pages(path, params, page_model, cursor_param, cursor_of):
            yield from page.data

    def _iter_pages(
        self,
        path: str,
        params: Params,
        page_model: type[PageT],
        cursor_param: str,
        cursor_of: Callable[[Any], str | None],
        *,
        headers: Mapping[str, str] | None = None,
        cursor: str | None = None,
    ) -> Iterator[Any]:
        """Each page in turn, re-sending the same query with the cursor; `cursor` resumes a walk."""
        seen: set[str] = set() if cursor is None else {cursor}
        for pages_read in itertools.count(1):
            query = params if cursor is None else [*params, (cursor_param, cursor)]
            page: Any = self._get_model(path, query, page_model, headers)
            yield page
            if not page.has_more:
                return
            cursor = cursor_of(page)
            self._check_cursor(path, cursor, seen, pages_read)
            seen.add(cursor)

    def _check_cursor(self, path: str, cursor: str | None, seen: set[str], pages_read: int) -> None:
        if not cursor:
            raise AdminApiPaginationError(f"GET {path} said has_more but gave no cursor")
        if cursor in seen:
            raise AdminApiPaginationError(f"GET {path} repeated a page cursor after {pages_read} pages")
        if pages_read >= self.max_pages:
            raise AdminApiPaginationError(f"GET {path} still had more after {pages_read} pages (max_pages)")

    # --- one call, with retries -----------------------------------------------------------------------------

    def _get_model(
        self, path: str, params: Params, model: type[PageT], headers: Mapping[str, str] | None = None
    ) -> PageT:
        body, request_id = self._get_json(path, params, headers)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise AdminApiError(
                f"GET {path} returned an unexpected shape: {_summarise(exc)}", status=200, request_id=request_id
            ) from exc

    def _get_json(self, path: str, params: Params, headers: Mapping[str, str] | None = None) -> tuple[Any, str | None]:
        retrying = build_retrying(
            max_attempts=self.max_attempts,
            deadline=self.deadline,
            clock=self._clock,
            sleep=self._sleep,
            backoff_base=self.backoff_base,
            backoff_max=self.backoff_max,
            max_retry_after=self.max_retry_after,
            before_sleep=self._log_retry,
            min_attempt_seconds=self.min_attempt_seconds,
        )
        try:
            return retrying(self._attempt, path, params, headers)
        except _GateRefusal as refusal:
            error = refusal.args[0]
        raise error  # as the gate raised it: outside the `except`, so no __context__ of ours

    def _attempt(self, path: str, params: Params, headers: Mapping[str, str] | None = None) -> tuple[Any, str | None]:
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            raise AdminApiUnavailableError(f"time budget exhausted before GET {path} could be sent")
        if self._request_gate is not None:
            try:
                self._request_gate()
            except Exception as exc:
                raise _GateRefusal(exc) from None
            remaining = self._remaining()  # the gate may have slept (never past the deadline)
        self.request_count += 1
        outcome = self._send(path, params, remaining, headers)
        if isinstance(outcome, AdminApiError):
            # Raised outside the `except`: the requests exception (which holds the prepared request and
            # so its headers) must not ride along as __context__.
            raise outcome
        return self._decode(path, outcome)

    def _send(
        self, path: str, params: Params, remaining: float | None, headers: Mapping[str, str] | None = None
    ) -> requests.Response | AdminApiError:
        try:
            return self._session.get(
                f"{self.base_url}{path}",
                params=params,
                headers=self._headers(headers),
                timeout=self._timeouts(remaining),
                allow_redirects=False,  # requests would forward x-api-key to whatever host a redirect names
            )
        except _TRANSIENT_TRANSPORT_ERRORS as exc:
            return AdminApiUnavailableError(f"GET {path} failed: {type(exc).__name__}")
        except requests.RequestException as exc:
            return AdminApiRequestError(f"GET {path} could not be sent: {type(exc).__name__}")

    def _decode(self, path: str, response: requests.Response) -> tuple[Any, str | None]:
        request_id = response.headers.get("request-id")
        if not 200 <= response.status_code < 300:
            raise self._error_for(path, response)
        try:
            return self._loads(response.content), request_id
        except ValueError:
            pass
        raise AdminApiUnavailableError(
            f"GET {path} returned truncated or invalid JSON", status=response.status_code, request_id=request_id
        )

    def _error_for(self, path: str, response: requests.Response) -> AdminApiError:
        status = response.status_code
        body = _json_or_none(response.content)
        body = body if isinstance(body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        detail = str(error.get("message") or "")[:_MAX_ERROR_MESSAGE_CHARS]
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
        if error_code := _str_or_none(details.get("error_code")):
            detail = f"{detail} (error_code={error_code[:_MAX_ERROR_MESSAGE_CHARS]})"
        message = self._redact(f"GET {path} answered {status}" + (f": {detail}" if detail else ""))
        fields: dict[str, Any] = {
            "status": status,
            "error_type": _str_or_none(error.get("type")),
            "request_id": response.headers.get("request-id") or _str_or_none(body.get("request_id")),
        }
        if status == 429:
            return AdminApiRateLimitedError(
                message, retry_after=parse_retry_after(response.headers.get("retry-after")), **fields
            )
        return _CODED_ERRORS.get((status, error_code), _error_class(status))(message, **fields)

    # --- helpers --------------------------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {
            "x-api-key": self._admin_key.get_secret_value(),
            "anthropic-version": ANTHROPIC_VERSION,
            "user-agent": self.user_agent,
            "accept": "application/json",
        }
        return {**headers, **extra} if extra else headers

    def _loads(self, content: bytes) -> Any:
        return json.loads(content)

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self._clock()

    def _timeouts(self, remaining: float | None) -> tuple[float, float]:
        # A socket wait must not outlive the caller's deadline either.
        if remaining is None:
            return self.connect_timeout, self.read_timeout
        return min(self.connect_timeout, remaining), min(self.read_timeout, remaining)

    def _redact(self, text: str) -> str:
        secret = self._admin_key.get_secret_value()
        return text.replace(secret, "[redacted]") if secret else text

    def _log_retry(self, retry_state: RetryCallState) -> None:
        self.retry_count += 1
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        fields = {
            "path": retry_state.args[0],
            "status": getattr(exc, "status", None),
            "error_type": getattr(exc, "error_type", None),
            "request_id": getattr(exc, "request_id", None),
            "attempt": retry_state.attempt_number,
            "sleep_s": round(retry_state.upcoming_sleep, 3),
        }
        logger.warning(
            "Admin API call failed, retrying: %s",
            " ".join(f"{key}={value}" for key, value in fields.items()),
            extra=fields,
        )


class _GateRefusal(Exception):
    """Carries what the request gate raised (`args[0]`) through the retry loop, which must not retry it."""


# (status, `error.details.error_code`) -> the typed error a caller can act on (the official SDK keys its own error
# classes the same way).
_CODED_ERRORS: dict[tuple[int, str | None], type[AdminApiError]] = {
    (400, "report_page_too_large"): AdminApiReportPageTooLargeError,
    (400, "too_many_report_groups"): AdminApiTooManyReportGroupsError,
}


def _error_class(status: int) -> type[AdminApiError]:
    if status == 401:
        return AdminApiAuthError
    if status == 403:
        return AdminApiPermissionError
    if status >= 500:
        return AdminApiUnavailableError
    return AdminApiRequestError


def _report_params(starting_at: datetime, ending_at: datetime, group_by: Sequence[str], limit: int) -> Params:
    dimensions = (group_by,) if isinstance(group_by, str) else tuple(group_by)
    if len(dimensions) > MAX_GROUP_BY:
        raise ValueError(f"the Admin API accepts at most {MAX_GROUP_BY} group_by values, got {len(dimensions)}")
    if starting_at >= ending_at:
        raise ValueError("starting_at must be before ending_at")
    params = [("starting_at", _rfc3339(starting_at)), ("ending_at", _rfc3339(ending_at)), ("limit", str(limit))]
    return params + [("group_by[]", dimension) for dimension in dimensions]


def _rfc3339(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("report bounds must be timezone-aware datetimes")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bool_param(value: bool) -> str:
    return "true" if value else "false"


def _summarise(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, err['loc'])) or '<root>'}: {err['msg']}" for err in exc.errors()[:3]]
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
