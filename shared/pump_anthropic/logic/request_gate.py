"""A request rate for the calls to Anthropic: at most N requests a minute per connection and M per stack.

Counted in fixed one-minute windows on the quota table (one conditional write per counter per request), so every
Lambda of the stack shares the same counts. The stack's limit is split over a few shard counters, each counting its
share of the limit, and a connection always takes its requests from the shard its id hashes to: every request of a
fleet no longer lands on one hot item, the shares add up to the stack's limit (so it is still never exceeded), and
the connection's own counter stays exact. A full window is waited out by sleeping to the next one, but never past
the caller's deadline: then the retriable `AdminApiRateLimitedError` hands the work back to the state machine's or
the queue's retries, which come back later.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pump_anthropic.clock import utc_now
from pump_anthropic.exceptions import AdminApiRateLimitedError
from pump_anthropic.logic.storage import QuotaStore

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)
ACTION = "requests"  # the counters' action, next to the tenant quotas' connect, sync_now and export
STACK_COUNTER = "anthropic#stack"
# How many counters the stack's limit is split over (fewer when a share would fall below a connection's limit or
# MIN_SHARD_SHARE).
DEFAULT_STACK_SHARDS = 8
# A shard's share is never below this many requests a minute: a stack limit that low is no hot item (a few writes a
# second), and splitting it finer would only refuse connections while other shards have room.
MIN_SHARD_SHARE = 100
# Wake this long after the next window starts, so the quota table's clock is surely in it too.
WAKE_AFTER_WINDOW_SECONDS = 0.05
# Without a deadline, give up after this many waits (other workers may fill each new window first).
DEFAULT_MAX_WAITS = 5


def connection_counter(connection_id: str) -> str:
    return f"anthropic#{connection_id}"


def stack_shards(
    per_stack: int, per_connection: int, wanted: int = DEFAULT_STACK_SHARDS, min_share: int = MIN_SHARD_SHARE
) -> int:
    """How many shard counters the stack's limit is split over: `wanted`, but never so many that a shard's share is
    below `min_share` or a connection's own limit (a connection alone could then be refused by its shard while within
    its limit and the stack's); one when a connection may use the whole stack's limit (no per-connection limit)."""
    if wanted < 1:
        raise ValueError("the stack's limit is split over at least one counter")
    if per_connection <= 0:
        return 1
    return max(1, min(wanted, per_stack // max(per_connection, min_share)))


def stack_shard(connection_id: str | None, shards: int) -> int:
    """The shard a connection's requests count on: a stable hash of its id (shard 0 without one, when connecting)."""
    if connection_id is None or shards == 1:
        return 0
    return int.from_bytes(hashlib.sha256(connection_id.encode()).digest()[:8], "big") % shards


def stack_counter(shard: int, shards: int) -> str:
    """The shard's counter; with one shard, the stack's single counter."""
    return STACK_COUNTER if shards == 1 else f"{STACK_COUNTER}#{shard}"


def shard_limit(per_stack: int, shards: int, shard: int) -> int:
    """The shard's share of the stack's limit per minute: the shares of all shards add up to `per_stack` exactly."""
    return per_stack // shards + (1 if shard < per_stack % shards else 0)


@dataclass(frozen=True)
class RateLimit:
    counter: str  # the quota counter's owner: `anthropic#<connection_id>`, `anthropic#stack` or one of its shards
    per_minute: int  # what this counter takes per window
    scope: str  # for the sentence: "this connection", "this service"
    stated_per_minute: int | None = None  # for the sentence, when the scope's limit isn't this counter's (a shard)


class RequestGate:
    """Call it before each request to Anthropic: it returns once the request fits the limits, sleeping to the next
    window if the current one is full, or raises `AdminApiRateLimitedError` if that sleep would pass `deadline`.

    A limit of 0 is no limit; with neither, the gate returns at once and writes nothing. The connection's counter is
    taken first, so a connection over its own limit never uses up the stack's. The stack's limit is counted on the
    connection's shard (`stack_shards`: at most `stack_shards_wanted` of them, each a share of at least
    `min_shard_share`). `clock` and `deadline` are monotonic (the Admin API client's), `wall_clock` is Unix time (the
    windows' boundaries), `sleep` waits.
    """

    def __init__(
        self,
        quotas: QuotaStore,
        *,
        connection_id: str | None,
        per_connection: int,
        per_stack: int,
        deadline: float | None = None,
        stack_shards_wanted: int = DEFAULT_STACK_SHARDS,
        min_shard_share: int = MIN_SHARD_SHARE,
        min_attempt_seconds: float = 0.0,
        max_waits: int = DEFAULT_MAX_WAITS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        if per_connection < 0 or per_stack < 0:
            raise ValueError("requests per minute must be 0 (no limit) or more")
        limits = []
        if connection_id is not None and per_connection > 0:
            limits.append(RateLimit(connection_counter(connection_id), per_connection, "this connection"))
        if per_stack > 0:
            shards = stack_shards(per_stack, per_connection, stack_shards_wanted, min_shard_share)
            shard = stack_shard(connection_id, shards)
            share = shard_limit(per_stack, shards, shard)
            stated = per_stack if shards > 1 else None
            limits.append(RateLimit(stack_counter(shard, shards), share, "this service", stated))
        self.limits: tuple[RateLimit, ...] = tuple(limits)
        self.deadline = deadline
        self.min_attempt_seconds = min_attempt_seconds
        self.max_waits = max_waits
        self.waits = 0  # sleeps so far, for tests and logs
        self._quotas = quotas
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock or _unix_time

    def __call__(self) -> None:
        for waited in itertools.count():
            full = self._take()
            if full is None:
                return
            self._wait_for_next_window(full, waited)

    def _take(self) -> RateLimit | None:
        """Count this request against every limit; the first limit whose window is full, or None."""
        for limit in self.limits:
            if not self._quotas.take_quota(limit.counter, ACTION, limit=limit.per_minute, window=WINDOW):
                return limit
        return None

    def _wait_for_next_window(self, full: RateLimit, waited: int) -> None:
        window = WINDOW.total_seconds()
        wait = window - self._wall_clock() % window + WAKE_AFTER_WINDOW_SECONDS
        out_of_time = self.deadline is not None and self._clock() + wait + self.min_attempt_seconds >= self.deadline
        if out_of_time or waited >= self.max_waits:
            stated = full.per_minute if full.stated_per_minute is None else full.stated_per_minute
            raise AdminApiRateLimitedError(
                f"Requests to Anthropic for {full.scope} are limited to {stated} a minute and this minute's are used "
                "up; the work will be retried once the limit allows.",
                retry_after=wait,
            )
        logger.info(
            "Anthropic request rate reached, waiting for the next minute",
            extra={"counter": full.counter, "per_minute": full.per_minute, "sleep_s": round(wait, 3)},
        )
        self.waits += 1
        self._sleep(wait)


def _unix_time() -> float:
    return utc_now().timestamp()
