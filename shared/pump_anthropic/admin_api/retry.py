"""Tenacity policy for Admin API calls: which failures retry, how long to wait, and when to give up."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import RetryCallState, Retrying, retry_if_exception_type
from tenacity.stop import stop_after_attempt, stop_base
from tenacity.wait import wait_base, wait_random_exponential

from pump_anthropic.exceptions import AdminApiRateLimitedError, AdminApiRetriableError

# A 429 without retry-after is a spend cap: it rarely clears within seconds, so retry it only a little.
SPEND_CAP_MAX_ATTEMPTS = 3


# Tenacity computes the wait before asking the stop strategy, so the stop can refuse a sleep that would
# end at or after the deadline (no time would be left for the attempt it precedes).
class _StopBeforeDeadline(stop_base):
    def __init__(self, deadline: float | None, clock: Callable[[], float], min_attempt_seconds: float = 0.0) -> None:
        self.deadline = deadline
        self.clock = clock
        self.min_attempt_seconds = min_attempt_seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self.deadline is None:
            return False
        return self.clock() + retry_state.upcoming_sleep + self.min_attempt_seconds >= self.deadline


class _StopOnHopeless429(stop_base):
    def __init__(self, max_retry_after: float) -> None:
        self.max_retry_after = max_retry_after

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = _exception(retry_state)
        if not isinstance(exc, AdminApiRateLimitedError):
            return False
        if exc.retry_after is None:
            return retry_state.attempt_number >= SPEND_CAP_MAX_ATTEMPTS
        return exc.retry_after > self.max_retry_after


# Sleep exactly what `retry-after` asks for; otherwise fall back to jittered backoff.
class _WaitRetryAfter(wait_base):
    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = _exception(retry_state)
        if isinstance(exc, AdminApiRateLimitedError) and exc.retry_after is not None:
            return exc.retry_after
        return self.fallback(retry_state)


def _exception(retry_state: RetryCallState) -> BaseException | None:
    outcome = retry_state.outcome
    return outcome.exception() if outcome is not None and outcome.failed else None


def build_retrying(
    *,
    max_attempts: int,
    deadline: float | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    backoff_base: float,
    backoff_max: float,
    max_retry_after: float,
    before_sleep: Callable[[RetryCallState], None],
    min_attempt_seconds: float = 0.0,
) -> Retrying:
    """A `Retrying` that retries `AdminApiRetriableError` and re-raises the last typed error when it stops."""
    return Retrying(
        retry=retry_if_exception_type(AdminApiRetriableError),
        stop=(
            stop_after_attempt(max_attempts)
            | _StopOnHopeless429(max_retry_after)
            | _StopBeforeDeadline(deadline, clock, min_attempt_seconds)
        ),
        # Full jitter: uniform(0, min(backoff_max, backoff_base * 2 ** (attempt - 1))).
        wait=_WaitRetryAfter(wait_random_exponential(multiplier=backoff_base, max=backoff_max)),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds a `retry-after` header asks for (delay-seconds or HTTP-date); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until_http_date(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until_http_date(value: str) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
