"""Fair exports on the embedded stack (issue 23, item 4): three export workers (the mapping runs up to five), a
tenant with a backlog of long exports, and another tenant's export that still completes while that backlog waits.
Without the per-tenant running cap the third worker takes the backlog's third job and the other tenant waits for the
first tenant's exports to end. Also: every update the export worker sends names only what its IAM policy allows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from botocore.client import BaseClient

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_anthropic import wiring
from pump_anthropic.adapters.export_store import object_key
from pump_anthropic.clock import utc_now
from pump_anthropic.dal import exports as export_jobs
from pump_anthropic.logic import exports
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from tests.support.stack import FIXED_NOW, SMALL_ORG, Stack

pytestmark = pytest.mark.network
BUSY, OTHER = "tenant-with-a-backlog", "tenant-with-one-export"
BACKLOG = 4


class GatedStore:
    """The export store, where the busy tenant's uploads start only once the gate opens: its exports are long."""

    def __init__(self, inner, gate: threading.Event) -> None:
        self._inner, self._gate = inner, gate
        self._busy_prefix = object_key(BUSY, "x", "f").split("/")[1]

    def start_upload(self, key: str, **kwargs):
        if key.split("/")[1] == self._busy_prefix:
            self._gate.wait(timeout=120)
        return self._inner.start_upload(key, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


@pytest.fixture
def stack() -> Iterator[Stack]:
    with (
        Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, now=lambda: FIXED_NOW) as simulator,
        LocalAws(simulator.url, export_workers=3) as aws,
    ):
        yield Stack(aws, LocalApi(), simulator, [])


def create(stack: Stack, tenant: str) -> str:
    last = utc_now().date() - timedelta(days=1)
    body = {"from": (last - timedelta(days=6)).isoformat(), "to": last.isoformat()}
    response = stack.call("POST", "/costs/exports", body, tenant=tenant)
    assert response.status == 202, response.body
    return response.json()["id"]


def statuses(stack: Stack, tenant: str, ids: list[str]) -> list[str]:
    return [stack.call("GET", f"/costs/exports/{i}", tenant=tenant).json()["status"] for i in ids]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def capture_update_names(patch: pytest.MonkeyPatch) -> list[tuple[str, set[str]]]:
    """(partition or counter, attribute names) of every UpdateItem sent from here on."""
    seen: list[tuple[str, set[str]]] = []
    original = BaseClient._make_api_call

    def recording(client, operation_name: str, params: dict):
        if operation_name == "UpdateItem":
            key = params["Key"]
            names = set(key) | set(params.get("ExpressionAttributeNames", {}).values())
            seen.append((key["counter"]["S"] if "counter" in key else key["sk"]["S"], names))
        return original(client, operation_name, params)

    patch.setattr(BaseClient, "_make_api_call", recording)
    return seen


def test_another_tenants_export_completes_while_one_tenant_has_a_backlog(stack):
    gate = threading.Event()
    with pytest.MonkeyPatch.context() as patch:
        gated = GatedStore(wiring.export_store(), gate)
        gated_store = lambda: gated  # noqa: E731
        gated_store.cache_clear = lambda: None  # wiring's adapters are cached functions
        patch.setattr(wiring, "export_store", gated_store)
        patch.setattr(exports, "DEFER_SECONDS", 1)
        updates = capture_update_names(patch)
        try:
            backlog = [create(stack, BUSY) for _ in range(BACKLOG)]
            wait_for(lambda: statuses(stack, BUSY, backlog).count("running") >= 2, "the backlog never started")
            other = create(stack, OTHER)

            wait_for(lambda: statuses(stack, OTHER, [other]) == ["ready"], "the other tenant's export was starved")

            # Meanwhile the busy tenant still runs two (its cap) and the rest of its backlog waits, unexpired.
            assert sorted(statuses(stack, BUSY, backlog)) == ["queued", "queued", "running", "running"]
        finally:
            gate.set()
        wait_for(lambda: statuses(stack, BUSY, backlog) == ["ready"] * BACKLOG, "the backlog did not finish", 120)

    allowed_on_jobs = {"pk", "sk", *export_jobs.WORKER_UPDATES}
    on_jobs = [names for key, names in updates if key.startswith("EXPORT#")]
    on_slots = [names for key, names in updates if "#export_run#" in key]
    assert on_jobs and on_slots
    assert all(names <= allowed_on_jobs for names in on_jobs), [n - allowed_on_jobs for n in on_jobs]
    assert all(names <= {"counter", "holder", "expires"} for names in on_slots)


def test_run_slots_are_held_per_tenant_by_job_until_released_or_their_lease_runs_out(stack):
    now = utc_now()
    take = export_jobs.take_run_slot
    assert take(BUSY, "exp_1", slots=2, lease_until=now + timedelta(minutes=16))
    assert take(BUSY, "exp_2", slots=2, lease_until=now - timedelta(seconds=1))  # a run cut off long ago
    assert take(BUSY, "exp_1", slots=2, lease_until=now + timedelta(minutes=16))  # its message, handed out again
    assert take(OTHER, "exp_9", slots=2, lease_until=now + timedelta(minutes=16))  # slots of its own
    # exp_2's lease ran out: its slot is free for the next job; then both are held.
    assert take(BUSY, "exp_3", slots=2, lease_until=now + timedelta(minutes=16))
    assert not take(BUSY, "exp_4", slots=2, lease_until=now + timedelta(minutes=16))
    export_jobs.release_run_slot(BUSY, "exp_2", slots=2)  # no longer its slot: nothing happens
    assert not take(BUSY, "exp_4", slots=2, lease_until=now + timedelta(minutes=16))
    export_jobs.release_run_slot(BUSY, "exp_1", slots=2)
    assert take(BUSY, "exp_4", slots=2, lease_until=now + timedelta(minutes=16))
