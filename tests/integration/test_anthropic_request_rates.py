"""The request rates on the embedded stack: every request to Anthropic is counted on the quota table, per connection
and per stack, by the handlers that pull; a full minute is refused with the retriable error when it can't be waited."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import boto3
import pytest
from pydantic import SecretStr

from anthropic_simulator import DEMO_ADMIN_KEY
from pump_anthropic import settings, wiring
from pump_anthropic.admin_api.analytics import AnalyticsClient
from pump_anthropic.dal import quotas
from pump_anthropic.exceptions import AdminApiRateLimitedError
from pump_anthropic.logic.request_gate import (
    ACTION,
    STACK_COUNTER,
    RequestGate,
    connection_counter,
    shard_limit,
    stack_counter,
    stack_shard,
    stack_shards,
)
from tests.support.stack import sync_now

pytestmark = pytest.mark.network

NAME_PATHS = ("/v1/organizations/me", "/v1/organizations/workspaces", "/v1/organizations/api_keys")
# Ten seconds into a minute: a full window is 50 s from its end, more than these tests' deadlines leave.
TEN_SECONDS_IN = datetime.fromtimestamp(1_800_000_010, tz=UTC)


def counted() -> Counter[str]:
    """Requests counted on the quota table, by owner (`anthropic#…`), over every window."""
    table = boto3.client("dynamodb").scan(TableName=settings.settings().quota_table_name)
    totals: Counter[str] = Counter()
    for item in table["Items"]:
        owner, action, _window = item["counter"]["S"].rsplit("#", 2)
        if action == ACTION:
            totals[owner] += int(item["uses"]["N"])
    return totals


@pytest.fixture
def rates(stack, monkeypatch):
    """Set the rates after the stack read its settings; the next read sees them."""

    def set_rates(per_connection: int, per_stack: int) -> None:
        monkeypatch.setenv("ANTHROPIC_RPM_PER_CONNECTION", str(per_connection))
        monkeypatch.setenv("ANTHROPIC_RPM_PER_STACK", str(per_stack))
        settings.settings.cache_clear()

    yield set_rates
    settings.settings.cache_clear()


@pytest.fixture
def frozen_minute(monkeypatch):
    """The quota table's clock and the gate's, both ten seconds into the same minute."""
    monkeypatch.setattr("pump_anthropic.dal.table.utc_now", lambda: TEN_SECONDS_IN)
    monkeypatch.setattr("pump_anthropic.logic.request_gate.utc_now", lambda: TEN_SECONDS_IN)


def stack_total(totals: Counter[str]) -> int:
    """The stack's count: the sum of its shard counters."""
    return sum(n for owner, n in totals.items() if owner.startswith(STACK_COUNTER))


def test_backfill_and_sync_count_each_request_for_their_connection_and_the_stack(stack):
    connection_id = stack.connect().json()["id"]
    assert stack.wait_settled(connection_id)["status"] == "active"
    sent = sum(stack.simulator.request_counts.values())
    after_backfill = counted()
    # The default rates (120 a connection, 1,000 the stack) split the stack's count over 8 shards: connecting
    # counts on the first, the connection's requests on the one its id picks.
    shards = stack_shards(per_stack=1000, per_connection=120)
    own_shard = stack_counter(stack_shard(connection_id, shards), shards)
    assert shards == 8
    assert set(after_backfill) <= {stack_counter(0, shards), own_shard, connection_counter(connection_id)}
    assert stack_total(after_backfill) == sent
    # Connecting reads the organization and the names before the connection id exists: those count for the stack
    # only. Everything else (every report request of the backfill) counts for the connection too.
    names = sum(stack.simulator.request_counts.get(path, 0) for path in NAME_PATHS)
    me = stack.simulator.request_counts["/v1/organizations/me"]
    assert sent - names <= after_backfill[connection_counter(connection_id)] <= sent - me

    sync_now(stack, connection_id)
    synced = sum(stack.simulator.request_counts.values()) - sent
    assert synced > 0
    assert counted() - after_backfill == {own_shard: synced, connection_counter(connection_id): synced}


def test_a_full_minute_is_refused_with_the_retriable_error_before_anything_is_sent(stack, rates, frozen_minute):
    rates(per_connection=2, per_stack=0)
    client = wiring.admin_client(SecretStr(DEMO_ADMIN_KEY), time.monotonic() + 20.0, connection_id="conn_busy")
    assert isinstance(client, AnalyticsClient)
    client.get_organization()
    client.get_organization()
    with pytest.raises(AdminApiRateLimitedError) as refused:
        client.get_organization()
    assert refused.value.retriable and refused.value.retry_after == pytest.approx(50.05)
    assert stack.simulator.request_counts["/v1/organizations/me"] == 2
    # Another connection has a minute of its own.
    other = wiring.admin_client(SecretStr(DEMO_ADMIN_KEY), time.monotonic() + 20.0, connection_id="conn_calm")
    other.get_organization()
    assert counted() == {connection_counter("conn_busy"): 2, connection_counter("conn_calm"): 1}


def test_the_stack_rate_is_shared_by_every_connection(stack, rates, frozen_minute):
    rates(per_connection=0, per_stack=3)
    deadline = time.monotonic() + 20.0
    first = wiring.admin_client(SecretStr(DEMO_ADMIN_KEY), deadline, connection_id="conn_a")
    second = wiring.admin_client(SecretStr(DEMO_ADMIN_KEY), deadline, connection_id="conn_b")
    first.get_organization()
    first.get_organization()
    second.get_organization()
    with pytest.raises(AdminApiRateLimitedError):
        second.get_organization()
    assert stack.simulator.request_counts["/v1/organizations/me"] == 3
    assert counted() == {STACK_COUNTER: 3}


def test_a_fleet_on_the_stacks_shard_counters_never_passes_the_stack_rate(stack, frozen_minute):
    # The quota table's real conditional writes: 2 a connection, 8 the stack over four shard counters of 2.
    shards = stack_shards(per_stack=8, per_connection=2, wanted=4, min_share=1)
    assert shards == 4
    deadline = time.monotonic() + 20.0
    let_through = 0
    for n in range(24):  # 72 requests asked for
        gate = RequestGate(
            quotas,  # type: ignore[arg-type]  # a module of functions satisfies QuotaStore, as in wiring
            connection_id=f"conn_{n:02d}",
            per_connection=2,
            per_stack=8,
            deadline=deadline,
            stack_shards_wanted=4,
            min_shard_share=1,
        )
        for _ in range(3):
            try:
                gate()
            except AdminApiRateLimitedError:
                continue
            let_through += 1
    totals = counted()
    assert let_through == stack_total(totals) == 8
    # Every shard filled to its share, none past it: the stack's 8, and no one item took them all.
    assert {owner: n for owner, n in totals.items() if owner.startswith(STACK_COUNTER)} == {
        stack_counter(shard, shards): shard_limit(8, shards, shard) for shard in range(shards)
    }
    # Each connection's own counter stays exact: never past its 2.
    assert max(n for owner, n in totals.items() if not owner.startswith(STACK_COUNTER)) == 2


def test_include_default_lists_the_default_workspace_first(stack):
    client = wiring.admin_client(SecretStr(DEMO_ADMIN_KEY), None, connection_id="conn_names")
    plain = [w.id for w in client.iter_workspaces()]
    with_default = [w.id for w in client.iter_workspaces(include_default=True)]
    assert with_default[1:] == plain
    assert with_default[0].startswith("wrkspc_") and with_default[0] not in plain
    assert with_default[0] == stack.simulator.org.default_workspace.id
