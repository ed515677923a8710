"""Domain errors. Each carries a stable `code` and a user-facing sentence; none ever carries the Admin key."""

from __future__ import annotations


class PumpError(Exception):
    """Base of every error the connector raises on purpose."""

    code = "internal_error"
    http_status = 500
    # True when trying again later can succeed: the backfill state machine's Retry lists exactly these classes.
    retriable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidInputError(PumpError):
    code = "invalid_request"
    http_status = 400


class NotFoundError(PumpError):
    code = "not_found"
    http_status = 404


class ConflictError(PumpError):
    code = "conflict"
    http_status = 409


class TooManyRequestsError(PumpError):
    code = "too_many_requests"
    http_status = 429


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


class AdminApiPermissionError(AdminApiError):
    """403: the key is valid but may not read this resource (e.g. not an Admin key)."""

    code = "key_lacks_permission"
    http_status = 400


class AdminApiRequestError(AdminApiError):
    """400/402/404 and other non-retriable 4xx: our request or the account is at fault."""

    code = "anthropic_request_rejected"
    http_status = 502


class AdminApiRetriableError(AdminApiError):
    """A fault worth retrying; raised only after the client's own retries are exhausted."""

    code = "anthropic_unavailable"
    http_status = 502
    retriable = True


class AdminApiRateLimitedError(AdminApiRetriableError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AdminApiUnavailableError(AdminApiRetriableError):
    """5xx, 529, connection errors, timeouts, truncated or invalid JSON."""


class AdminApiPaginationError(AdminApiError):
    """The API repeated a page token or exceeded the page cap: stop rather than loop forever."""

    code = "anthropic_pagination_error"
