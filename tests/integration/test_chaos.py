"""A stateful chaos test (issue 23, item 7): Hypothesis drives one tenant's connection through connect, disconnect,
purge, reconnect, sync now, the hourly sync, backfill retry, a key revocation and upstream faults on the embedded
stack, without waiting between steps, so backfill chunks and syncs run under the steps that follow. After each
quiescence (nothing running, the sync queue drained):

- a purged connection owns no item in the table, and GET answers 404;
- an active connection whose every month is fetched reports exactly the simulator's cost report;
- no connection is stuck: it is never still backfilling once nothing runs, and at the end of every run the
  documented way out of whatever state it is in (connect again, retry the backfill) brings it to active, exactly;
- no Admin key ever used appears in any captured log line, in the table or in any answer.

CI runs a derandomized, small budget (`PUMP_CHAOS_EXAMPLES`, `PUMP_CHAOS_STEPS`); `make chaos` a longer random run
(`PUMP_CHAOS=long`); `PUMP_CHAOS_VERBOSE=1` prints the steps.
A small organization (a few weeks of spend, two keys) keeps each backfill to seconds.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

import boto3
import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

from anthropic_simulator import DEMO_ADMIN_KEY, OrgSpec, Simulator
from pump_anthropic.dal import table
from pump_anthropic.logic import quotas
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from tests.support.oracles import independent_cost_totals
from tests.support.stack import FIXED_NOW, Stack, report_totals

pytestmark = pytest.mark.network
CHAOS_ORG = OrgSpec(seed=23, days=21, workspaces=1, api_keys=2, models=1)
LONG = os.environ.get("PUMP_CHAOS") == "long"
EXAMPLES = int(os.environ.get("PUMP_CHAOS_EXAMPLES", 30 if LONG else 4))
STEPS = int(os.environ.get("PUMP_CHAOS_STEPS", 15 if LONG else 8))
QUIET_TIMEOUT = 120.0
FAULTS = ("429", "500", "503", "529", "truncated", "invalid_json", "drop")
TENANTS = itertools.count(1)


class LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__!r}")


class ConnectionChaos(RuleBasedStateMachine):
    stack: Stack
    logs: LogLines
    oracle: dict[tuple[str, str], dict] = {}

    def __init__(self) -> None:
        super().__init__()
        self.tenant = f"chaos-{next(TENANTS)}"
        self.sim.clear_faults()
        self.key = DEMO_ADMIN_KEY
        self.sim.replace_admin_key(self.key)
        self.keys_used = {DEMO_ADMIN_KEY}
        self.connection_id: str | None = None
        self.purged = False

    @property
    def sim(self) -> Simulator:
        return self.stack.simulator

    def call(self, method: str, path: str, body: object | None = None):
        return self.stack.call(method, path, body, tenant=self.tenant)

    def connection(self) -> dict | None:
        response = self.call("GET", f"/integrations/anthropic/{self.connection_id}")
        assert response.status in (200, 404), response.body
        return response.json() if response.status == 200 else None

    # ---------------------------------------------------------------- steps (none waits for the workers)

    @initialize()
    def first_connect(self) -> None:
        self.connect()

    @rule()
    def connect(self) -> None:
        response = self.call("POST", "/integrations/anthropic", {"admin_key": self.key})
        assert response.status == 202, response.body
        self.connection_id, self.purged = response.json()["id"], False

    @precondition(lambda self: self.connection_id is not None)
    @rule()
    def disconnect(self) -> None:
        response = self.call("DELETE", f"/integrations/anthropic/{self.connection_id}")
        assert response.status == 200 or (response.status == 404 and self.purged), response.body

    @precondition(lambda self: self.connection_id is not None)
    @rule()
    def purge(self) -> None:
        response = self.call("DELETE", f"/integrations/anthropic/{self.connection_id}?purge=true")
        assert response.status == 200 or (response.status == 404 and self.purged), response.body
        self.purged = True

    @precondition(lambda self: self.connection_id is not None)
    @rule()
    def sync_now(self) -> None:
        response = self.call("POST", f"/integrations/anthropic/{self.connection_id}/sync")
        assert response.status in (202, 404, 409, 429), response.body
        self.stack.aws.drain_sync_queue()

    @rule()
    def hourly_sync(self) -> None:
        self.stack.aws.fire_sync_schedule()
        self.stack.aws.drain_sync_queue()

    @precondition(lambda self: self.connection_id is not None)
    @rule()
    def retry_backfill(self) -> None:
        response = self.call("POST", f"/integrations/anthropic/{self.connection_id}/backfill")
        assert response.status in (202, 404, 409), response.body
        if response.status == 409:  # each refusal says why and what to do
            assert response.json()["error"]["code"] in {
                "nothing_to_retry",
                "backfill_in_progress",
                "connection_revoked",
                "connection_disconnected",
            }, response.body

    @rule()
    def revoke_the_key(self) -> None:
        """The organization deletes the Admin key and makes another; the next connect uses the new one."""
        self.key = f"sk-ant-admin01-chaos{len(self.keys_used):03d}" + "K" * 80 + "AA"
        self.keys_used.add(self.key)
        self.sim.replace_admin_key(self.key)

    @rule(kind=st.sampled_from(FAULTS), times=st.integers(1, 3))
    def upstream_fault(self, kind: str, times: int) -> None:
        self.sim.inject(kind, times=times, retry_after=0)

    @rule()
    def quiesce(self) -> None:
        self.wait_quiet()
        self.check_quiet_state()

    # ---------------------------------------------------------------- quiescence and its invariants

    def wait_quiet(self) -> None:
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        deadline = time.monotonic() + QUIET_TIMEOUT
        arn = self.stack.aws.state_machine_arn
        while sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            assert time.monotonic() < deadline, "a backfill never finished"
            time.sleep(0.2)
        self.stack.aws.drain_sync_queue()

    def check_quiet_state(self) -> None:
        self.check_no_key_anywhere()
        if self.connection_id is None:
            return
        connection = self.connection()
        if self.purged:
            leftovers = [i for i in table.raw_items() if self.connection_id in i["pk"]["S"] + i["sk"]["S"]]
            assert (connection, leftovers) == (None, []), "a purged connection still owns items"
            return
        assert connection is not None
        assert connection["status"] != "backfilling", f"stuck backfilling with nothing running: {connection}"
        backfill = connection["backfill"]
        complete = backfill["chunks_total"] > 0 and backfill["chunks_done"] == backfill["chunks_total"]
        if connection["status"] == "active" and complete:
            assert self.reported(backfill["from"], backfill["to"]) == self.expected(backfill["from"], backfill["to"])

    def reported(self, first: str, last: str) -> dict[tuple, Decimal]:
        query = {"from": first, "to": last, "group_by": "date,workspace_id,model"}
        body = page = self.call("GET", "/costs?" + urlencode(query)).json()
        while page.get("has_more"):
            page = self.call("GET", "/costs?" + urlencode({**query, "page": page["next_page"]})).json()
            body["rows"] += page["rows"]
        return report_totals(body)

    def expected(self, first: str, last: str) -> dict[tuple, Decimal]:
        """The simulator's own cost report (nothing runs now, so its key can be swapped for the reading)."""
        if (first, last) not in self.oracle:
            self.sim.replace_admin_key(DEMO_ADMIN_KEY)
            try:
                totals = independent_cost_totals(self.sim.url, first, last)
            finally:
                self.sim.replace_admin_key(self.key)
            self.oracle[(first, last)] = {k: v for k, v in totals.items() if v}
        return self.oracle[(first, last)]

    def check_no_key_anywhere(self) -> None:
        places = {
            "logs": "\n".join(self.logs.lines),
            "table": json.dumps(table.raw_items()),
            "answers": "".join(r.body + json.dumps(r.headers) for r in self.stack.responses),
        }
        for key in self.keys_used:
            for place, text in places.items():
                assert key not in text, f"an Admin key appeared in {place}"

    # ---------------------------------------------------------------- the way out, from wherever it ended

    def teardown(self) -> None:
        self.sim.clear_faults()
        self.wait_quiet()
        self.check_quiet_state()
        if self.connection_id is None:
            return
        for _ in range(3):
            connection = self.connection()
            status = connection["status"] if connection else "purged"
            backfill = connection["backfill"] if connection else {}
            if status == "active" and backfill["chunks_done"] == backfill["chunks_total"] > 0:
                break
            if status in ("purged", "disconnected", "revoked"):
                assert self.call("POST", "/integrations/anthropic", {"admin_key": self.key}).status == 202
                self.purged = False
            else:  # error, or active with months not fetched
                response = self.call("POST", f"/integrations/anthropic/{self.connection_id}/backfill")
                assert response.status == 202, response.body
            self.wait_quiet()
            self.check_quiet_state()
        connection = self.connection()
        assert connection is not None and connection["status"] == "active", f"no way out: {connection}"
        backfill = connection["backfill"]
        assert backfill["chunks_done"] == backfill["chunks_total"] > 0, backfill
        assert self.reported(backfill["from"], backfill["to"]) == self.expected(backfill["from"], backfill["to"])


@pytest.fixture
def chaos_stack(monkeypatch) -> Iterator[Stack]:
    # The connect quota (10 a minute, tested in test_quotas.py) would decide a long run's outcome, not the lifecycle.
    monkeypatch.setattr(quotas, "CONNECT", quotas.Quota("connect", 10**6, quotas.CONNECT.window, "connect requests"))
    with (
        Simulator(CHAOS_ORG, admin_key=DEMO_ADMIN_KEY, slow_seconds=0.5, now=lambda: FIXED_NOW) as simulator,
        LocalAws(
            simulator.url,
            max_concurrency=4,
            retry_interval_seconds=1,
            retry_max_attempts=2,
            cost_source="legacy",
            run_exports=False,
        ) as aws,
    ):
        yield Stack(aws, LocalApi(), simulator, [])


def log_sources() -> list[logging.Logger]:
    """The root logger and every logger that does not pass its records up to it (Powertools' own, ours)."""
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    return [logging.getLogger(), *(lg for lg in loggers if isinstance(lg, logging.Logger) and not lg.propagate)]


@pytest.fixture
def chaos(chaos_stack) -> Iterator[type[ConnectionChaos]]:
    """The machine bound to the stack, with every log record of the run captured."""
    logs = LogLines()
    sources = log_sources()
    for source in sources:
        source.addHandler(logs)
    ConnectionChaos.stack, ConnectionChaos.logs = chaos_stack, logs
    try:
        yield ConnectionChaos
    finally:
        for source in sources:
            source.removeHandler(logs)


def test_a_scripted_tour_takes_every_step_under_running_work(chaos):
    """Every rule at least once, in an order that lands each on running work (Hypothesis' draws may not)."""
    machine = chaos()
    machine.first_connect()
    machine.upstream_fault("500", 2)
    machine.retry_backfill()  # while the first run is in flight
    machine.quiesce()
    machine.sync_now()
    machine.upstream_fault("429", 1)
    machine.hourly_sync()
    machine.revoke_the_key()
    machine.hourly_sync()  # finds the key revoked
    machine.quiesce()
    machine.connect()  # the new key
    machine.disconnect()  # while its backfill runs
    machine.quiesce()
    machine.connect()
    machine.purge()  # while its backfill runs
    machine.quiesce()
    machine.teardown()  # the way out: connect again, to active and exact


def test_connections_survive_any_sequence_of_lifecycle_steps_and_faults(chaos):
    run_state_machine_as_test(
        chaos,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            derandomize=not LONG,
            database=None,
            deadline=None,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),  # no shrinking: each step is seconds
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.debug if os.environ.get("PUMP_CHAOS_VERBOSE") else Verbosity.normal,
        ),
    )
