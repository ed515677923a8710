"""Every error the connector raises on purpose, in one place.

Each class carries a stable `code`, the HTTP status the API answers with, whether trying again later can succeed
(`retriable`: the backfill state machine's Retry lists exactly these classes) and whether it means the Admin key no
longer works (`revokes_connection`). None ever carries the Admin key. The state machine reports a failed chunk by
its class name only; `error_code_for` turns that name back into the class's code.
"""

from __future__ import annotations


class PumpError(Exception):
    """Base of every error the connector raises on purpose."""

    code = "internal_error"
    http_status = 500
    retriable = False
    revokes_connection = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


# ---------------------------------------------------------------- the caller's request


class InvalidInputError(PumpError):
    code = "invalid_request"
    http_status = 400


class InvalidQueryError(InvalidInputError):
    code = "invalid_query"


class NoHourlyDataError(InvalidQueryError):
    """group_by=hour over days never read hour by hour (only yesterday and today are)."""

    code = "no_hourly_data"


class StandardKeyNotAllowedError(InvalidInputError):
    code = "standard_key_not_allowed"


class InvalidKeyFormatError(InvalidInputError):
    code = "invalid_key_format"


class ExportTooLargeError(InvalidInputError):
    code = "export_too_large"


class UnauthorizedError(PumpError):
    code = "unauthorized"
    http_status = 401


class NotFoundError(PumpError):
    code = "not_found"
    http_status = 404


class ConflictError(PumpError):
    code = "conflict"
    http_status = 409


class ConnectionDisconnectedError(ConflictError):
    code = "connection_disconnected"


class TooManyRequestsError(PumpError):
    code = "too_many_requests"
    http_status = 429


class SyncRateLimitedError(TooManyRequestsError):
    code = "sync_rate_limited"


class TenantRateLimitedError(TooManyRequestsError):
    """The tenant made more requests of one kind in a minute than its quota allows."""

    code = "tenant_rate_limited"

    def __init__(self, message: str, *, retry_after: int | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after  # seconds, sent as the Retry-After header


# ---------------------------------------------------------------- Anthropic


class AdminApiError(PumpError):
    """An answer (or the lack of one) from the Anthropic Admin API."""

    code = "anthropic_error"
    http_status = 502

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.error_type:
            parts.append(f"type={self.error_type}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class AdminApiAuthError(AdminApiError):
    """401: the key is malformed, revoked or expired."""

    code = "key_rejected"
    http_status = 400
    revokes_connection = True


class AdminApiPermissionError(AdminApiError):
    """403: the key is valid but may not read this resource (e.g. not an Admin key)."""

    code = "key_lacks_permission"
    http_status = 400
    revokes_connection = True


class AdminApiRequestError(AdminApiError):
    """400/402/404 and other non-retriable 4xx: our request or the account is at fault."""

    code = "anthropic_request_rejected"
    http_status = 502


class AdminApiReportPageTooLargeError(AdminApiRequestError):
    """400 `report_page_too_large` from the analytics API: a page held more than one page can. The client re-asks
    the same page with a lower `limit` and pages on with it; this escapes only once even its floor is too large."""

    code = "anthropic_report_page_too_large"


class AdminApiTooManyReportGroupsError(AdminApiRequestError):
    """400 `too_many_report_groups` from the analytics API: the query's grouping yields more groups than a report
    returns. The client splits a bucketed query's range; this escapes when the range cannot usefully be split."""

    code = "anthropic_too_many_report_groups"


class AdminApiRetriableError(AdminApiError):
    """A fault worth retrying; raised only after the client's own retries are exhausted."""

    code = "anthropic_unavailable"
    http_status = 502
    retriable = True


class AdminApiRateLimitedError(AdminApiRetriableError):
    """429 after our retries. Its own code, so a failed month or a refused connect says "rate limited" rather than
    "unavailable": the remedy differs (wait, don't investigate an outage)."""

    code = "anthropic_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AdminApiUnavailableError(AdminApiRetriableError):
    """5xx, 529, connection errors, timeouts, truncated or invalid JSON."""


class AdminApiPaginationError(AdminApiError):
    """The API repeated a page token or exceeded the page cap: stop rather than loop forever."""

    code = "anthropic_pagination_error"


# ---------------------------------------------------------------- our own infrastructure


class StorageError(PumpError):
    """DynamoDB refused an operation for a reason other than throttling."""

    code = "storage_error"


class StorageThrottledError(PumpError):
    """DynamoDB kept throttling or leaving items unprocessed: retriable, nothing was silently dropped."""

    code = "storage_throttled"
    http_status = 503
    retriable = True


class SecretStoreUnavailableError(PumpError):
    """Secrets Manager is throttling or unreachable: retry later; nothing was changed half-way."""

    code = "secret_store_unavailable"
    http_status = 503
    retriable = True


class SecretNotFoundError(PumpError):
    """The connection's stored key is gone: like a revoked key, only a reconnect helps."""

    code = "secret_not_found"
    http_status = 409
    revokes_connection = True


class BackfillStartError(PumpError):
    code = "backfill_not_started"
    http_status = 503


class SyncQueueUnavailableError(PumpError):
    code = "sync_queue_unavailable"
    http_status = 503


def _all_subclasses(cls: type[PumpError]) -> list[type[PumpError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _all_subclasses(sub)
    return found


def error_class(name: str) -> type[PumpError] | None:
    """The PumpError subclass of this name (as the state machine's Catch reports it), or None."""
    return next((c for c in _all_subclasses(PumpError) if c.__name__ == name), None)


def retriable_error_names() -> list[str]:
    """Class names the backfill state machine retries (its Retry list must equal this): the concrete retriable
    classes, since a base such as AdminApiRetriableError is never raised itself."""
    return sorted(c.__name__ for c in _all_subclasses(PumpError) if c.retriable and not c.__subclasses__())


# What a route that talks to Anthropic or to storage can raise (the API documents their statuses).
ANTHROPIC_ERRORS: tuple[type[PumpError], ...] = (
    InvalidInputError,
    AdminApiAuthError,
    AdminApiPermissionError,
    AdminApiRequestError,
    AdminApiUnavailableError,
    AdminApiRateLimitedError,
    AdminApiPaginationError,
)
STORAGE_ERRORS: tuple[type[PumpError], ...] = (StorageThrottledError, StorageError)
