"""The request gate: fixed one-minute windows per connection and per stack, slept out or refused at the deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pump_anthropic.exceptions import AdminApiRateLimitedError
from pump_anthropic.logic.request_gate import (
    STACK_COUNTER,
    RequestGate,
    connection_counter,
    shard_limit,
    stack_counter,
    stack_shard,
    stack_shards,
)
from tests.support.scripted_http import FakeClock

pytestmark = pytest.mark.disable_socket

# 10 s into a minute: a full window is waited out with a sleep of 50 s (and a little).
MINUTE_START = 1_800_000_000.0 // 60 * 60
TEN_SECONDS_IN = MINUTE_START + 10.0


class WindowedQuotas:
    """The quota table's contract: one counter per (owner, action, window), taken only below its limit.

    It reads the same fake clock as the gate, so a sleep to the next window really starts a new count."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.counts: dict[tuple[str, str, int], int] = {}
        self.takes: list[str] = []

    def take_quota(self, tenant_id: str, action: str, *, limit: int, window: timedelta) -> bool:
        self.takes.append(tenant_id)
        seconds = int(window.total_seconds())
        key = (tenant_id, action, int(self.clock()) // seconds * seconds)
        if self.counts.get(key, 0) >= limit:
            return False
        self.counts[key] = self.counts.get(key, 0) + 1
        return True

    def used(self, owner: str) -> dict[int, int]:
        """Counts of one owner by window start."""
        return {start: n for (who, _, start), n in self.counts.items() if who == owner}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=TEN_SECONDS_IN)


@pytest.fixture
def quotas(clock: FakeClock) -> WindowedQuotas:
    return WindowedQuotas(clock)


def gate(quotas: WindowedQuotas, clock: FakeClock, connection_id: str | None = "conn_a", **kwargs) -> RequestGate:
    """A gate on the fake quota table; one stack counter unless the test asks for shards."""
    kwargs = {"per_connection": 120, "per_stack": 1000, "stack_shards_wanted": 1, **kwargs}
    return RequestGate(quotas, connection_id=connection_id, sleep=clock.sleep, clock=clock, wall_clock=clock, **kwargs)


def test_requests_within_the_limit_pass_at_once_and_are_counted_per_connection_and_stack(quotas, clock):
    limited = gate(quotas, clock, per_connection=3, per_stack=10)
    for _ in range(3):
        limited()
    assert clock.sleeps == []
    assert quotas.used(connection_counter("conn_a")) == {MINUTE_START: 3}
    assert quotas.used(STACK_COUNTER) == {MINUTE_START: 3}


def test_a_full_window_is_slept_out_to_the_next_minute(quotas, clock):
    limited = gate(quotas, clock, per_connection=2)
    limited()
    limited()
    limited()  # the third of the minute waits for the next one
    assert clock.sleeps == [pytest.approx(50.05)]
    assert quotas.used(connection_counter("conn_a")) == {MINUTE_START: 2, MINUTE_START + 60: 1}
    assert limited.waits == 1


def test_the_sleep_never_passes_the_deadline_the_retriable_error_says_why(quotas, clock):
    limited = gate(quotas, clock, per_connection=1, deadline=clock() + 30.0)
    limited()
    with pytest.raises(AdminApiRateLimitedError) as refused:
        limited()
    error = refused.value
    assert clock.sleeps == []
    assert (error.code, error.retriable) == ("anthropic_rate_limited", True)
    assert error.retry_after == pytest.approx(50.05)
    assert "limited to 1 a minute" in error.message and "this connection" in error.message


def test_the_deadline_keeps_room_for_the_request_after_the_wait(quotas, clock):
    # 50.05 s of waiting fits in the 51 s left, but not with 2 s kept for the request itself.
    tight = gate(
        quotas, clock, connection_id="conn_tight", per_connection=1, deadline=clock() + 51.0, min_attempt_seconds=2
    )
    tight()
    with pytest.raises(AdminApiRateLimitedError):
        tight()
    roomy = gate(quotas, clock, connection_id="conn_roomy", per_connection=1, deadline=clock() + 51.0)
    roomy()
    roomy()
    assert clock.sleeps == [pytest.approx(50.05)]


def test_zero_disables_a_limit(quotas, clock):
    unlimited = gate(quotas, clock, per_connection=0, per_stack=0)
    assert unlimited.limits == ()
    for _ in range(500):
        unlimited()
    assert (clock.sleeps, quotas.takes) == ([], [])
    stack_only = gate(quotas, clock, per_connection=0, per_stack=2)
    stack_only()
    stack_only()
    assert quotas.takes == [STACK_COUNTER, STACK_COUNTER]


def test_without_a_connection_only_the_stack_limit_applies(quotas, clock):
    connecting = gate(quotas, clock, connection_id=None, per_connection=1, per_stack=5)
    for _ in range(3):
        connecting()
    assert set(quotas.takes) == {STACK_COUNTER}


def test_the_stack_limit_is_shared_by_every_connection(quotas, clock):
    deadline = clock() + 20.0
    first = gate(quotas, clock, connection_id="conn_a", per_connection=100, per_stack=3, deadline=deadline)
    second = gate(quotas, clock, connection_id="conn_b", per_connection=100, per_stack=3, deadline=deadline)
    first()
    first()
    second()
    with pytest.raises(AdminApiRateLimitedError) as refused:
        second()
    assert "this service" in refused.value.message
    with pytest.raises(AdminApiRateLimitedError):
        first()
    assert quotas.used(STACK_COUNTER) == {MINUTE_START: 3}


def test_each_connection_has_its_own_limit(quotas, clock):
    deadline = clock() + 20.0
    first = gate(quotas, clock, connection_id="conn_a", per_connection=2, deadline=deadline)
    second = gate(quotas, clock, connection_id="conn_b", per_connection=2, deadline=deadline)
    first()
    first()
    with pytest.raises(AdminApiRateLimitedError):
        first()
    second()
    second()
    assert quotas.used(connection_counter("conn_b")) == {MINUTE_START: 2}


def test_a_connection_over_its_own_limit_uses_none_of_the_stacks(quotas, clock):
    limited = gate(quotas, clock, per_connection=1, per_stack=10, deadline=clock() + 5.0)
    limited()
    for _ in range(3):
        with pytest.raises(AdminApiRateLimitedError):
            limited()
    assert quotas.used(STACK_COUNTER) == {MINUTE_START: 1}


def test_without_a_deadline_it_gives_up_after_a_few_whole_minute_waits_never_spinning(clock):
    class AlwaysFull:
        takes = 0

        def take_quota(self, tenant_id: str, action: str, *, limit: int, window: timedelta) -> bool:
            self.takes += 1
            return False

    full = AlwaysFull()
    limited = RequestGate(
        full,
        connection_id="conn_a",
        per_connection=1,
        per_stack=0,
        max_waits=3,
        sleep=clock.sleep,
        clock=clock,
        wall_clock=clock,
    )
    with pytest.raises(AdminApiRateLimitedError):
        limited()
    # Each wait reaches the next minute: 50 s from 10 s in, then a whole minute.
    assert clock.sleeps == [pytest.approx(50.05), pytest.approx(60.0), pytest.approx(60.0)]
    assert full.takes == 4


def test_negative_limits_are_refused(quotas, clock):
    with pytest.raises(ValueError):
        gate(quotas, clock, per_connection=-1)


# --- the stack's limit over shard counters -----------------------------------------------------------------------


def fleet(quotas: WindowedQuotas, clock: FakeClock, connections: int, attempts: int, **limits) -> dict[str, int]:
    """Every connection tries `attempts` requests in one minute (a full window is refused, never waited out);
    requests let through, by connection."""
    passed: dict[str, int] = {}
    for n in range(connections):
        connection_id = f"conn_{n:04d}"
        limited = gate(quotas, clock, connection_id=connection_id, deadline=clock() + 20.0, **limits)
        passed[connection_id] = 0
        for _ in range(attempts):
            try:
                limited()
            except AdminApiRateLimitedError:
                continue
            passed[connection_id] += 1
    return passed


def stack_counts(quotas: WindowedQuotas) -> dict[str, int]:
    return {who: n for (who, _, _), n in quotas.counts.items() if who.startswith(STACK_COUNTER)}


def test_a_fleet_on_sharded_counters_never_passes_the_stacks_limit_and_each_shard_fills_to_its_share(quotas, clock):
    # 400 connections each wanting 5 requests this minute: 2,000 asked for, 1,000 allowed.
    passed = fleet(quotas, clock, 400, 5, per_connection=120, per_stack=1000, stack_shards_wanted=8)
    assert sum(passed.values()) == 1000
    counts = stack_counts(quotas)
    # Eight counters, none of them taking more than its share: no one hot item holds the whole stack's count.
    assert counts == {stack_counter(shard, 8): shard_limit(1000, 8, shard) for shard in range(8)}
    assert max(counts.values()) == 125
    # Each connection's requests counted on its own shard only.
    assert all(quotas.used(connection_counter(c)) == {MINUTE_START: n} for c, n in passed.items() if n)
    assert clock.sleeps == []


def test_with_shards_the_per_connection_limit_stays_exact(quotas, clock):
    passed = fleet(quotas, clock, 40, 5, per_connection=2, per_stack=1000, stack_shards_wanted=8)
    assert set(passed.values()) == {2}
    assert sum(stack_counts(quotas).values()) == 80
    assert len(stack_counts(quotas)) == 8  # 500 shards would be allowed by the limits; 8 were wanted


def test_the_shares_add_up_to_the_stacks_limit_and_none_is_below_a_connections_limit_or_the_least_share():
    assert stack_shards(1000, 120, 8) == 8
    assert stack_shards(1000, 300, 8) == 3  # 8 shares of 125 would refuse a connection within its 300
    assert stack_shards(100, 120, 8) == 1
    assert stack_shards(1000, 0, 8) == 1  # no per-connection limit: one connection may use the whole stack's
    assert stack_shards(1000, 120, 1) == 1
    assert stack_shards(1000, 7, 8) == 8 and stack_shards(70, 7, 8) == 1  # 70 a minute is no hot item
    assert stack_shards(70, 7, 8, min_share=1) == 8
    for per_stack, per_connection in [(1000, 120), (1001, 7), (17, 2), (5, 1), (3, 3)]:
        shards = stack_shards(per_stack, per_connection, 8, min_share=1)
        shares = [shard_limit(per_stack, shards, shard) for shard in range(shards)]
        assert sum(shares) == per_stack and min(shares) >= per_connection, (per_stack, per_connection)
    with pytest.raises(ValueError):
        stack_shards(1000, 120, 0)


def test_a_connection_keeps_its_shard_and_connections_spread_evenly_over_the_shards():
    assert [stack_shard("conn_1ac299da937c3ef9ea67", 8) for _ in range(3)] == [3, 3, 3]  # pinned: never hash()
    spread = [0] * 8
    for n in range(8000):
        spread[stack_shard(f"conn_{n:05d}", 8)] += 1
    assert min(spread) > 850 and max(spread) < 1150, spread
    assert stack_shard("conn_a", 1) == 0 and stack_counter(0, 1) == STACK_COUNTER


def test_a_full_shard_is_refused_in_the_words_of_the_stacks_limit(quotas, clock):
    limits = {"per_connection": 1, "per_stack": 16, "stack_shards_wanted": 8, "deadline": clock() + 20.0}
    limits["min_shard_share"] = 1
    shard = stack_shard("conn_a", 8)
    neighbours = [f"conn_{n}" for n in range(200) if stack_shard(f"conn_{n}", 8) == shard]
    for connection_id in neighbours[:2]:  # the shard's share: 16 / 8
        gate(quotas, clock, connection_id=connection_id, **limits)()
    with pytest.raises(AdminApiRateLimitedError) as refused:
        gate(quotas, clock, connection_id="conn_a", **limits)()
    assert "this service" in refused.value.message and "limited to 16 a minute" in refused.value.message
    # Another shard still has room.
    other = next(f"conn_{n}" for n in range(200) if stack_shard(f"conn_{n}", 8) != shard)
    gate(quotas, clock, connection_id=other, **limits)()


def test_connecting_without_a_connection_counts_on_the_first_shard(quotas, clock):
    connecting = gate(quotas, clock, connection_id=None, per_connection=120, per_stack=1000, stack_shards_wanted=8)
    connecting()
    assert quotas.takes == [stack_counter(0, 8)]
