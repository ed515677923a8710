"""The request gate: fixed one-minute windows per connection and per stack, slept out or refused at the deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pump_anthropic.exceptions import AdminApiRateLimitedError
from pump_anthropic.logic.request_gate import STACK_COUNTER, RequestGate, connection_counter
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
    kwargs = {"per_connection": 120, "per_stack": 1000, **kwargs}
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
