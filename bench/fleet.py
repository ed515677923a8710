"""Fleet benchmark (issue 22): many connections on one embedded stack, synced hour after hour, and a model of 10,000.

One process, one stack: LocalAws (moto executing the real state machine, Lambda routed to our handlers) and one
bundled Anthropic simulator per organization, all behind one local address that picks the organization by the
request's Admin key (ANTHROPIC_API_URL is one URL for the whole stack, as on AWS). Every connection is its own
tenant and its own organization (a distinct simulator seed and Admin key), so each has its own connection id,
request counters, daily hour and data.

Set-up (not measured): each connection goes through the real connect API and the real backfill state machine, but
with the backfill window cut to SETUP_BACKFILL_DAYS (a benchmark-only patch of `logic.backfill.BACKFILL_DAYS`; the
sync's own reach stays 365 days) and no simulated latency, one connection per simulated minute so the request gate's
minute windows never fill. Then one warm-up hour: every connection's first sync after its backfill does the daily
work (30-day re-read and audit), as on AWS.

Measured, for each simulated hour (the bench Clock, frozen at HH:00 while the hour runs, so the quota table's
minute windows are those of HH:00): the real dispatcher (`functions/sync/app.py dispatch_handler`), then the sync
queue drained through the real sync handler (`LocalAws.drain_sync_queue`, batches of 10, one at a time). Anthropic
requests (the simulators' counters), every quota-table UpdateItem per counter item, DynamoDB WCU per partition key
(item sizes, AwsMeter's rules), each sync Lambda invocation and each connection's sync (wall, CPU, SDK calls,
Anthropic requests). Times "here" are this process's; "modelled on AWS" puts each sync on the timeline AWS would
run it on (see `simulate_hour`): own CPU × 1769/256 (the 256 MB sync function's vCPU share), 200 ms per Anthropic
request, 10 ms per DynamoDB request, the request gate's minute windows, SQS batches of 10 and the event source
mapping's MaximumConcurrency. Queue age is modelled time (dispatch → the sync starting on AWS), the local one is
this process's sequential drain.

The model then builds the same hour for 10,000 connections (5% large) from the measured per-sync profiles and runs
it through the same timeline; docs/operations.md explains the figures and how to size the limits.

    .venv/bin/python bench/fleet.py [--quick] [--json out.json] [--small 40] [--large 2] [--hours 8]
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import math
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402 (the path above)
    LATENCY_S,
    WCU_BYTES,
    AwsMeter,
    Clock,
    HttpMeter,
    Row,
    fmt_s,
    item_size,
    machine,
    org_spec,
    rows_to_dicts,
    write_json,
)

# ---------------------------------------------------------------- the fleet and the run

SMALL, QUICK_SMALL = 40, 12
LARGE, QUICK_LARGE = 2, 1
START = datetime(2026, 11, 30, 20, tzinfo=UTC)  # 8 hours: 20:00 → 03:00, a UTC midnight and a month boundary
QUICK_START = datetime(2026, 11, 30, 22, tzinfo=UTC)  # 4 hours: 22:00 → 01:00
HOURS, QUICK_HOURS = 8, 4
SETUP_BACKFILL_DAYS = 32  # today, the daily re-read's 30 days and the audited day before them
SMALL_SEED, LARGE_SEED = 1000, 7

# ---------------------------------------------------------------- the model (every assumption named)

MODEL_CONNECTIONS = 10_000
MODEL_LARGE_SHARE = 0.05
LAMBDA_FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB, proportionally less below
SYNC_MEMORY_MB = 256  # template.yaml Globals: the sync and dispatch functions
DDB_CALL_S = 0.010  # one DynamoDB request in-region (a quota counter UpdateItem, a Query page, a BatchWriteItem)
SQS_CALL_S = 0.010  # one SendMessageBatch / ReceiveMessage in-region
PARTITION_WCU_PER_S = 1000  # DynamoDB's per-partition write limit
HOT_ITEM_SHARE = 0.10  # target: no item takes more than 10% of its partition's write limit
GSI_PAGE_BYTES = 1 << 20  # a Query page stops at 1 MB
SYNC_TIMEOUT_S = 300  # template.yaml SyncFunction Timeout
DISPATCH_TIMEOUT_S = 120  # template.yaml SyncDispatchFunction Timeout
SYNC_BATCH_SIZE = 10  # SyncQueueMapping BatchSize
SYNC_BATCH_WINDOW_S = 5  # SyncQueueMapping MaximumBatchingWindowInSeconds
SYNC_MAX_CONCURRENCY = 50  # SyncQueueMapping ScalingConfig.MaximumConcurrency
SYNC_VISIBILITY_S = 1800  # SyncQueue VisibilityTimeout: a failed message comes back this long after it was received
HOUR_S = 3600


def cpu_scale(memory_mb: int = SYNC_MEMORY_MB) -> float:
    return LAMBDA_FULL_VCPU_MB / memory_mb


def fmt_t(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else fmt_s(seconds)


# ---------------------------------------------------------------- many organizations behind one URL


def admin_key_for(n: int) -> str:
    """A well-formed, fake Admin key per organization (sk-ant-admin01- + 93 url-safe chars + AA)."""
    body = (f"pumpfleet{n:05d}_" + "abcdefghijklmnopqrstuvwxyz0123456789" * 3)[:93]
    return f"sk-ant-admin01-{body}AA"


@dataclass
class Org:
    n: int
    size: str  # small | large
    tenant: str
    admin_key: str
    simulator: object
    connection_id: str = ""


class FleetAnthropic:
    """One local address answering for many simulated organizations: the request's Admin key picks the org's
    Simulator, which answers exactly as it does alone (its counters, its clock, its latency). A benchmark-only
    front end over the simulator's own request handler (`anthropic_simulator.server`)."""

    def __init__(self, orgs: list[Org]) -> None:
        self.by_key = {org.admin_key: org.simulator for org in orgs}
        self.fallback = orgs[0].simulator  # answers an unknown key with the API's 401
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        import socket
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from anthropic_simulator.server import _BEARER, _Handler

        front = self

        class Handler(_Handler):
            def setup(self) -> None:
                BaseHTTPRequestHandler.setup(self)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def finish(self) -> None:
                with suppress(OSError):
                    BaseHTTPRequestHandler.finish(self)

            def do_GET(self) -> None:
                key = self.headers.get("x-api-key")
                bearer = _BEARER.match(self.headers.get("authorization") or "")
                if not key and bearer:
                    key = bearer.group(1)
                front.by_key.get(key or "", front.fallback)._handle(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def set_latency(self, seconds: float) -> None:
        for sim in self.by_key.values():
            sim.latency_s = seconds

    def requests(self) -> int:
        return sum(sum(sim.request_counts.values()) for sim in self.by_key.values())


# ---------------------------------------------------------------- meters


@dataclass
class FleetMeter(AwsMeter):
    """AwsMeter plus, per thread, the WCU written to each DynamoDB partition key and the quota-table writes per
    counter item (conditional writes refused included: a refused write is a billed write)."""

    quota_table: str = ""
    _sinks: threading.local = field(default_factory=threading.local)

    def sink(self) -> dict:
        sink = getattr(self._sinks, "sink", None)
        if sink is None:
            sink = self._sinks.sink = {
                "pk_wcu": Counter(),
                "item_wcu": Counter(),
                "quota": Counter(),
                "quota_refused": 0,
            }
        return sink

    def reset_sink(self) -> dict:
        sink, self._sinks.sink = self.sink(), None
        return sink

    def _count(self, service: str, operation: str, params: dict, response: dict, seconds: float) -> None:
        if service == "dynamodb" and not self.paused:
            self._partition_writes(operation, params, response)
        super()._count(service, operation, params, response, seconds)

    def _partition_writes(self, operation: str, params: dict, response: dict) -> None:
        sink = self.sink()
        if operation == "BatchWriteItem":
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        wcu = math.ceil(item_size(item) / WCU_BYTES)
                    else:
                        item = request["DeleteRequest"]["Key"]
                        known = self.stored.get(_item_key(item))
                        wcu = math.ceil((known[1] if known else 1) / WCU_BYTES)
                    sink["pk_wcu"][(table, _partition(item))] += wcu
                    sink["item_wcu"][(table, *_item_key(item))] += wcu
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            table = params.get("TableName", "")
            item = params.get("Item") if operation == "PutItem" else params.get("Key", {})
            wcu = math.ceil(item_size(item) / WCU_BYTES) if operation == "PutItem" else 1  # AwsMeter's rule
            sink["pk_wcu"][(table, _partition(item))] += wcu
            sink["item_wcu"][(table, *_item_key(item))] += wcu
            if table == self.quota_table:
                sink["quota"][_partition(item)] += 1
                if "Error" in response:
                    sink["quota_refused"] += 1


def _item_key(item: dict) -> tuple[str, str]:
    return _partition(item), (item.get("sk") or {}).get("S", "")


def _partition(item: dict) -> str:
    for name in ("pk", "counter"):
        if name in item:
            return next(iter(item[name].values()))
    return "?"


class SyncProbe:
    """Wraps the sync function's handler and its per-record handler: per invocation and per connection, the wall
    and CPU time, the SDK calls, the Anthropic requests and the partition writes."""

    def __init__(self, meter: FleetMeter, http: HttpMeter) -> None:
        self.meter = meter
        self.http = http
        self.invocations: list[dict] = []
        self.records: list[dict] = []

    def install(self):
        from functions.sync import app

        original_handler, original_record = app.lambda_handler, app._sync_record
        probe = self

        def lambda_handler(event: dict, context) -> dict:
            with probe.measure() as figures:
                result = original_handler(event, context)
            figures.update(records=len(event["Records"]), failed=len(result.get("batchItemFailures", [])))
            probe.invocations.append(figures)
            return result

        def _sync_record(record, lambda_context=None) -> dict:
            outcome: dict = {}
            with probe.measure() as figures:
                try:
                    outcome = original_record(record, lambda_context)
                finally:
                    message = json.loads(record.body)
                    figures.update(
                        tenant_id=message["tenant_id"], connection_id=message["connection_id"], outcome=outcome
                    )
            probe.records.append(figures)
            return outcome

        app.lambda_handler, app._sync_record = lambda_handler, _sync_record

        def undo() -> None:
            app.lambda_handler, app._sync_record = original_handler, original_record

        return undo

    def measure(self):
        return _Measure(self)

    def take(self) -> tuple[list[dict], list[dict]]:
        invocations, records = self.invocations, self.records
        self.invocations, self.records = [], []
        return invocations, records


class _Measure:
    def __init__(self, probe: SyncProbe) -> None:
        self.probe = probe
        self.figures: dict = {}

    def __enter__(self) -> dict:
        totals = self.probe.meter.thread_totals()
        self.saved_sink = self.probe.meter.reset_sink()
        self.sdk = (totals.wall, totals.cpu, totals.calls, totals.wcu)
        self.http = self.probe.http.thread_figures()
        self.began, self.cpu = time.perf_counter(), time.thread_time()
        return self.figures

    def __exit__(self, *exc_info) -> None:
        totals = self.probe.meter.thread_totals()
        sink = self.probe.meter.reset_sink()
        http = self.probe.http.thread_figures()
        self.figures.update(
            began=self.began,
            wall=time.perf_counter() - self.began,
            cpu=time.thread_time() - self.cpu,
            sdk_wall=totals.wall - self.sdk[0],
            sdk_cpu=totals.cpu - self.sdk[1],
            sdk_calls=totals.calls - self.sdk[2],
            wcu=totals.wcu - self.sdk[3],
            http_requests=http[1] - self.http[1],
            http_wall=http[0] - self.http[0],
            pk_wcu=sink["pk_wcu"],
            item_wcu=sink["item_wcu"],
            quota_writes=sum(sink["quota"].values()),
            quota_items=sink["quota"],
            quota_refused=sink["quota_refused"],
        )
        # What an enclosing measurement (the invocation around a record) sees too.
        outer = self.saved_sink
        outer["pk_wcu"].update(sink["pk_wcu"])
        outer["item_wcu"].update(sink["item_wcu"])
        outer["quota"].update(sink["quota"])
        outer["quota_refused"] += sink["quota_refused"]
        self.probe.meter._sinks.sink = outer


# ---------------------------------------------------------------- set-up


def build_orgs(small: int, large: int, now: Clock) -> list[Org]:
    from anthropic_simulator import OrgSpec, Simulator

    orgs = []
    large_spec = org_spec(quick=False)  # the benches' large org: 25 workspaces, 200 API keys, 12 models
    for n in range(small + large):
        size = "large" if n < large else "small"
        spec = replace(large_spec, seed=LARGE_SEED + n) if size == "large" else OrgSpec(seed=SMALL_SEED + n)
        key = admin_key_for(n)
        orgs.append(Org(n, size, f"fleet-{n:04d}", key, Simulator(spec, admin_key=key, now=now)))
    return orgs


def connect_fleet(api, orgs: list[Org], clock: Clock) -> dict:
    """Each org through POST /integrations/anthropic and its (shortened) backfill, one a simulated minute."""
    from pump_anthropic.logic import backfill as backfill_logic

    saved, backfill_logic.BACKFILL_DAYS = backfill_logic.BACKFILL_DAYS, SETUP_BACKFILL_DAYS
    began = time.perf_counter()
    seconds: dict[str, list[float]] = defaultdict(list)
    try:
        for org in orgs:
            started = time.perf_counter()
            body = json.dumps({"admin_key": org.admin_key})
            response = api.request("POST", "/integrations/anthropic", body=body, tenant=org.tenant)
            if response.status != 202:
                raise SystemExit(f"connect of {org.tenant} failed: {response.status} {response.body[:300]}")
            org.connection_id = response.json()["id"]
            deadline = time.monotonic() + 900
            while True:
                got = api.request("GET", f"/integrations/anthropic/{org.connection_id}", tenant=org.tenant).json()
                if got["status"] != "backfilling":
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"the backfill of {org.tenant} did not finish within 15 minutes")
                time.sleep(0.1)
            if got["status"] != "active":
                raise SystemExit(f"the backfill of {org.tenant} ended {got['status']}: {got.get('error')}")
            seconds[org.size].append(time.perf_counter() - started)
            clock.advance(minutes=1)
    finally:
        backfill_logic.BACKFILL_DAYS = saved
    return {
        "backfill_days": SETUP_BACKFILL_DAYS,
        "wall": time.perf_counter() - began,
        "per_connection": {size: statistics.mean(values) for size, values in seconds.items()},
    }


# ---------------------------------------------------------------- one hour


def modelled_record(record: dict) -> float:
    """One connection's sync on AWS: own CPU at 256 MB + 200 ms per Anthropic request + 10 ms per DynamoDB request
    (or its write units at one partition's 1,000 WCU/s, if longer); no waiting for the gate (the timeline adds it)."""
    own = max(0.0, record["cpu"] - record["sdk_cpu"])
    return own * cpu_scale() + record["http_requests"] * LATENCY_S + ddb_seconds(record)


def ddb_seconds(record: dict) -> float:
    return max(record["sdk_calls"] * DDB_CALL_S, record["wcu"] / PARTITION_WCU_PER_S)


def run_hour(aws, fleet: FleetAnthropic, meter: FleetMeter, probe: SyncProbe, clock: Clock, orgs: list[Org]) -> dict:
    from pump_anthropic.settings import settings

    size_of = {org.connection_id: org.size for org in orgs}
    reread_days = settings().analytics_reread_days  # a sync that did the daily work re-read this many days
    requests_before = fleet.requests()
    calls_before = meter.snapshot()
    meter.reset_sink()
    totals = meter.thread_totals()
    sdk = (totals.cpu, totals.calls)
    began, cpu = time.perf_counter(), time.thread_time()
    queued = aws.fire_sync_schedule()["connections_queued"]
    dispatch = {
        "wall": time.perf_counter() - began,
        "own_cpu": max(0.0, time.thread_time() - cpu - (totals.cpu - sdk[0])),
        "sdk_calls": totals.calls - sdk[1],
    }
    dispatch_delta = meter.delta(calls_before, meter.snapshot())
    dispatch["calls"] = dict(dispatch_delta["calls"])
    dispatch["bytes_read"] = dispatch_delta["figures"]["bytes_read"]
    dispatched = time.perf_counter()
    processed = aws.drain_sync_queue(max_rounds=queued // SYNC_BATCH_SIZE + 20)
    wall = time.perf_counter() - began
    invocations, records = probe.take()
    for r in records:
        r["size"] = size_of.get(r["connection_id"], "?")
        r["local_queue_age"] = r["began"] - dispatched
        r["anthropic_requests"] = (r["outcome"] or {}).get("anthropic_requests", r["http_requests"])
        window = (r["outcome"] or {}).get("window_start"), (r["outcome"] or {}).get("window_end")
        r["daily"] = bool(window[0] and window[1] and (window[1] - window[0]).days >= reread_days)
        r["modelled"] = modelled_record(r)
    quota: Counter = Counter()
    pk_wcu: Counter = Counter()
    for r in records:
        quota.update(r["quota_items"])
        pk_wcu.update(r["pk_wcu"])
    hottest_quota = quota.most_common(1)[0] if quota else ("", 0)
    hottest_pk = pk_wcu.most_common(1)[0] if pk_wcu else (("", ""), 0)
    hottest_pk_one_sync = max(
        ((max(r["pk_wcu"].values(), default=0), r["connection_id"]) for r in records), default=(0, "")
    )
    hottest_item = max(((wcu, key) for r in records for key, wcu in r["item_wcu"].items()), default=(0, ("", "", "")))
    return {
        "hour": clock().isoformat(),
        "queued": queued,
        "processed": processed,
        "anthropic_requests": fleet.requests() - requests_before,
        "wall": wall,
        "dispatch": dispatch,
        "invocations": invocations,
        "records": records,
        "quota_writes": sum(quota.values()),
        "quota_items": len(quota),
        "quota_refused": sum(r["quota_refused"] for r in records),
        "hottest_quota_item": {"counter": hottest_quota[0], "writes": hottest_quota[1]},
        "hottest_partition_hour": {"table": hottest_pk[0][0], "pk": hottest_pk[0][1], "wcu": hottest_pk[1]},
        "hottest_partition_one_sync": {"wcu": hottest_pk_one_sync[0], "connection_id": hottest_pk_one_sync[1]},
        "hottest_item_one_sync": dict(
            zip(("wcu", "table", "pk", "sk"), (hottest_item[0], *hottest_item[1]), strict=True)
        ),
        "wcu": sum(pk_wcu.values()),
    }


# ---------------------------------------------------------------- the AWS timeline (measured fleet and the model)


@dataclass(frozen=True)
class Work:
    """One connection's sync, as the timeline runs it."""

    connection_id: str
    requests: int
    cpu_s: float  # own CPU on AWS (scaled to the function's vCPU share)
    ddb_s: float  # its DynamoDB requests other than the gate's counter writes
    size: str = "small"
    daily: bool = False


@dataclass(frozen=True)
class Limits:
    per_connection: int = 120  # template.yaml AnthropicRequestsPerMinutePerConnection
    per_stack: int = 1000  # AnthropicRequestsPerMinutePerStack
    shards_wanted: int = 8  # AnthropicRequestsPerMinuteStackShards
    concurrency: int = SYNC_MAX_CONCURRENCY
    batch_size: int = SYNC_BATCH_SIZE
    timeout_s: float = SYNC_TIMEOUT_S
    visibility_s: float = SYNC_VISIBILITY_S


def limits_from_settings() -> Limits:
    from pump_anthropic.settings import settings

    s = settings()
    return Limits(
        per_connection=s.requests_per_minute_per_connection,
        per_stack=s.requests_per_minute_per_stack,
        shards_wanted=s.requests_per_minute_stack_shards,
    )


def simulate_hour(works: list[Work], limits: Limits, dispatch_s: float) -> dict:  # noqa: C901 (one event loop)
    """The hour on AWS: messages queued evenly over the dispatcher's `dispatch_s`; the event source mapping hands
    batches of 10 to at most `concurrency` sync invocations (a batch waits ≤ 5 s to fill); each invocation syncs its
    connections one after another; each Anthropic request passes the request gate first (the connection's counter,
    then its stack shard's, each one conditional write, per UTC minute), sleeping to the next minute when a counter is
    full (at most 5 times a request), unless that sleep would pass the invocation's deadline (300 s − 20 s safety
    margin − 2 s for the request): then the record fails and its message comes back after the visibility timeout
    (1,800 s after it was received). No request is sent past the deadline; a batch still running at 300 s is killed
    and its unfinished messages come back the same way.

    Time 0 is HH:00:00. Returns the makespan, the requests per minute, the writes per second on the busiest counter
    item, queue ages, concurrency in use and the records that ran out of time.
    """
    from pump_anthropic.admin_api.analytics import DEFAULT_MIN_ATTEMPT_SECONDS
    from pump_anthropic.logic.request_gate import (
        DEFAULT_MAX_WAITS,
        WAKE_AFTER_WINDOW_SECONDS,
        stack_shard,
        stack_shards,
    )
    from pump_anthropic.wiring import LAMBDA_SAFETY_MARGIN_SECONDS

    n = len(works)
    shards = stack_shards(limits.per_stack, limits.per_connection, limits.shards_wanted) if limits.per_stack else 0
    shard_of = [stack_shard(w.connection_id, shards) if shards else 0 for w in works]
    share = [limits.per_stack // shards + (1 if s < limits.per_stack % shards else 0) for s in range(shards)]
    queue: list[tuple[float, int, int]] = [(dispatch_s * (i + 1) / max(1, n), i, i) for i in range(n)]  # (at, seq, i)
    enqueued = [at for at, _, _ in queue]
    heapq.heapify(queue)
    seq = n
    conn_count: Counter = Counter()
    shard_count: Counter = Counter()
    per_minute: Counter = Counter()
    conn_minute: Counter = Counter()
    shard_minute: Counter = Counter()
    item_second: Counter = Counter()
    started_at: dict[int, float] = {}
    finished_at: dict[int, float] = {}
    failures = 0
    timeouts = 0
    waits = 0
    invocations: list[tuple[float, float, int]] = []
    events: list[tuple[float, int, Iterator[float]]] = []

    def take(i: int, t: float) -> bool:
        window = int(t // 60)
        second = int(t)
        if limits.per_connection:
            item_second[("conn", i, window, second)] += 1
            if conn_count[(i, window)] >= limits.per_connection:
                return False
            conn_count[(i, window)] += 1
        if shards:
            s = shard_of[i]
            item_second[("shard", s, window, second)] += 1
            if shard_count[(s, window)] >= share[s]:
                return False
            shard_count[(s, window)] += 1
        return True

    def invocation(start: float, batch: list[int]):
        nonlocal failures, timeouts, waits, seq
        hard_stop = start + limits.timeout_s  # Lambda ends the invocation here
        deadline = hard_stop - LAMBDA_SAFETY_MARGIN_SECONDS  # the handler's own budget (wiring.deadline_from)
        t = start
        writes = (1 if limits.per_connection else 0) + (1 if shards else 0)

        def requeue(i: int) -> None:  # back in the queue once its visibility timeout runs out
            nonlocal seq
            seq += 1
            heapq.heappush(queue, (start + limits.visibility_s, seq, i))

        for position, i in enumerate(batch):
            w = works[i]
            started_at.setdefault(i, t)
            slice_s = w.cpu_s / max(1, w.requests)
            ok = True
            for _ in range(w.requests):
                t += slice_s
                if t >= hard_stop:
                    break
                yield t
                if t >= deadline:  # the client sends nothing once the time budget is spent
                    ok = False
                    break
                waited = 0
                while not take(i, t):
                    wait = 60 - t % 60 + WAKE_AFTER_WINDOW_SECONDS
                    t += writes * DDB_CALL_S
                    if t + wait + DEFAULT_MIN_ATTEMPT_SECONDS >= deadline or waited >= DEFAULT_MAX_WAITS:
                        ok = False
                        break
                    waits += 1
                    waited += 1
                    t += wait
                    yield t
                if not ok:
                    break
                per_minute[int(t // 60)] += 1
                conn_minute[(i, int(t // 60))] += 1
                if shards:
                    shard_minute[(shard_of[i], int(t // 60))] += 1
                t += writes * DDB_CALL_S + LATENCY_S
                yield t
            if ok:
                t += w.ddb_s
            if t >= hard_stop:  # timed out: this and the batch's remaining messages come back
                timeouts += 1
                for rest in batch[position:]:
                    requeue(rest)
                t = hard_stop
                break
            if ok:
                finished_at[i] = t
            else:
                failures += 1
                requeue(i)
        invocations.append((start, t, len(batch)))

    def next_batch(free_at: float) -> tuple[float, list[int]] | None:
        if not queue:
            return None
        start = max(free_at, queue[0][0])
        ready_by = queue[0][0] + SYNC_BATCH_WINDOW_S  # a batch waits this long at most to fill
        batch: list[int] = []
        while queue and len(batch) < limits.batch_size and queue[0][0] <= max(start, ready_by):
            at, _, i = heapq.heappop(queue)
            start = max(start, at)
            batch.append(i)
        return start, batch

    counter = 0
    for _ in range(min(limits.concurrency, math.ceil(n / limits.batch_size)) or 1):
        got = next_batch(0.0)
        if got is None:
            break
        counter += 1
        heapq.heappush(events, (got[0], counter, invocation(*got)))
    in_use, peak_in_use = len(events), len(events)
    while events:
        t, _, gen = heapq.heappop(events)
        try:
            wake = next(gen)
            counter += 1
            heapq.heappush(events, (wake, counter, gen))
        except StopIteration:
            end = invocations[-1][1]
            got = next_batch(end)
            if got is None:
                in_use -= 1
                continue
            counter += 1
            heapq.heappush(events, (got[0], counter, invocation(*got)))
        peak_in_use = max(peak_in_use, in_use)
    ages = sorted(started_at[i] - enqueued[i] for i in started_at)
    ends = list(finished_at.values())
    durations = [end - start for start, end, _ in invocations]
    peak_item = item_second.most_common(1)[0] if item_second else (("", 0, 0, 0), 0)
    return {
        "connections": n,
        "requests": sum(w.requests for w in works),
        "shards": shards,
        "shard_share": share[0] if share else 0,
        "makespan": max(ends, default=0.0),
        "finished": len(finished_at),
        "finished_in_hour": sum(1 for e in ends if e <= HOUR_S),
        "deadline_failures": failures,
        "timeouts": timeouts,
        "gate_waits": waits,
        "peak_minute": max(per_minute.values(), default=0),
        "peak_minute_at": max(per_minute, key=per_minute.get, default=0),
        "minutes_with_requests": len(per_minute),
        "peak_shard_minute": max(shard_minute.values(), default=0),
        "peak_connection_minute": max(conn_minute.values(), default=0),
        "peak_item_writes_per_s": peak_item[1],
        "peak_item": peak_item[0][0],
        "queue_age_p50": ages[len(ages) // 2] if ages else 0.0,
        "queue_age_max": ages[-1] if ages else 0.0,
        "invocations": len(invocations),
        "invocation_max": max(durations, default=0.0),
        "invocation_p50": statistics.median(durations) if durations else 0.0,
        "lambda_seconds": sum(durations),
        "busy_seconds": sum(w.cpu_s + w.ddb_s + w.requests * (LATENCY_S + 2 * DDB_CALL_S) for w in works),
        "peak_concurrency": peak_in_use,
        "per_minute": [per_minute.get(m, 0) for m in range(max(per_minute, default=-1) + 1)],
    }


def work_of(record: dict) -> Work:
    gate_calls = record["quota_writes"]
    return Work(
        connection_id=record["connection_id"],
        requests=record["http_requests"],
        cpu_s=max(0.0, record["cpu"] - record["sdk_cpu"]) * cpu_scale(),
        ddb_s=max((record["sdk_calls"] - gate_calls) * DDB_CALL_S, record["wcu"] / PARTITION_WCU_PER_S),
        size=record["size"],
        daily=record["daily"],
    )


def dispatch_seconds(dispatch: dict) -> float:
    """The dispatcher on AWS: own CPU at 256 MB + 10 ms per AWS request (GSI Query pages, SendMessageBatch)."""
    return dispatch["own_cpu"] * cpu_scale() + dispatch["sdk_calls"] * DDB_CALL_S


# ---------------------------------------------------------------- the 10,000-connection model


def profiles(hours: list[dict], warm_up: dict) -> dict:
    """Mean per-sync figures by (size, kind): kind is `daily` (did the re-read and audit; the warm-up's first syncs
    included), `midnight` (the UTC day's first sync: + the workspace list) or `hourly`."""
    groups: dict[tuple[str, str], list[Work]] = defaultdict(list)
    for hour in [warm_up, *hours]:
        midnight = datetime.fromisoformat(hour["hour"]).hour == 0
        for r in hour["records"]:
            if (r["outcome"] or {}).get("status") != "synced":
                continue
            kind = "daily" if r["daily"] else ("midnight" if midnight else "hourly")
            groups[(r["size"], kind)].append(work_of(r))
    out = {}
    for (size, kind), works in groups.items():
        out[f"{size}/{kind}"] = {
            "syncs": len(works),
            "requests": statistics.mean(w.requests for w in works),
            "requests_max": max(w.requests for w in works),
            "cpu_s": statistics.mean(w.cpu_s for w in works),
            "ddb_s": statistics.mean(w.ddb_s for w in works),
        }
    for size in ("small", "large"):  # a kind not measured falls back to the nearest one measured
        for kind, fallback in (("midnight", "hourly"), ("hourly", "midnight")):
            if f"{size}/{kind}" not in out and f"{size}/{fallback}" in out:
                out[f"{size}/{kind}"] = {**out[f"{size}/{fallback}"], "syncs": 0, "fallback": fallback}
    return out


def model_id(n: int) -> str:
    return "conn_" + hashlib.sha256(f"model\x1f{n}".encode()).hexdigest()[:20]


def model_works(count: int, large_share: float, profile: dict, hour: int) -> list[Work]:
    """`count` connections (every 1/large_share-th one large) at UTC `hour`, in the dispatcher's order (sync shard,
    then tenant#connection): a connection whose daily hour it is does the daily work, the rest the hour's sync."""
    from pump_anthropic.dal.table import sync_shard
    from pump_anthropic.domain.calendar import hour_of_day

    every = round(1 / large_share) if large_share else 0
    works = []
    for n in range(count):
        cid = model_id(n)
        size = "large" if every and n % every == 0 else "small"
        kind = "daily" if hour_of_day(cid) == hour else ("midnight" if hour == 0 else "hourly")
        p = profile[f"{size}/{kind}"]
        works.append(Work(cid, round(p["requests"]), p["cpu_s"], p["ddb_s"], size, kind == "daily"))
    works.sort(key=lambda w: (sync_shard(w.connection_id), w.connection_id))
    return works


def model_dispatch(dispatches: list[dict], connections: int, count: int) -> dict:
    """The dispatcher for `count` connections, scaled from the measured ones: own CPU per connection, the GSI read
    (projection ALL: whole connection items, 1 MB a Query page, 16 shards) and one SendMessageBatch per 10."""
    own_per = statistics.mean(d["own_cpu"] for d in dispatches) / connections
    bytes_per = statistics.mean(d["bytes_read"] for d in dispatches) / connections
    from pump_anthropic.dal.table import SYNC_SHARDS

    pages = SYNC_SHARDS + math.ceil(bytes_per * count / GSI_PAGE_BYTES)
    sends = math.ceil(count / SYNC_BATCH_SIZE)
    seconds = own_per * count * cpu_scale() + pages * DDB_CALL_S + sends * SQS_CALL_S
    return {"seconds": seconds, "query_pages": pages, "send_batches": sends, "bytes_per_connection": bytes_per}


def sized_limits(limits: Limits, natural_peak_per_minute: int, headroom: float = 1.2) -> Limits:
    """docs/operations.md's sizing: a stack limit the hourly sync never reaches (the fleet's unthrottled peak minute
    at this concurrency, + 20%, rounded up to 500), over as many shards as keep each share at least a connection's
    limit (at most 64, the template's maximum)."""
    from pump_anthropic.logic.request_gate import MIN_SHARD_SHARE

    per_stack = math.ceil(natural_peak_per_minute * headroom / 500) * 500
    shards = min(64, max(1, per_stack // max(limits.per_connection, MIN_SHARD_SHARE)))
    return replace(limits, per_stack=per_stack, shards_wanted=shards)


FLEET_TRIALS = (100, 250, 500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000)
CONCURRENCY_TRIALS = (10, 15, 20, 30, 40, 50, 75, 100, 150, 200)


def concurrency_needed(works: list[Work], limits: Limits, dispatch_s: float) -> dict | None:
    """The smallest MaximumConcurrency (of CONCURRENCY_TRIALS) at which every sync of the hour finishes inside it
    and none runs out of time."""
    for concurrency in CONCURRENCY_TRIALS:
        trial = simulate_hour(works, replace(limits, concurrency=concurrency), dispatch_s)
        if trial["finished_in_hour"] == len(works) and not trial["deadline_failures"] and not trial["timeouts"]:
            return {
                "concurrency": concurrency,
                "makespan": trial["makespan"],
                "invocation_max": trial["invocation_max"],
            }
    return None


def extrapolate(hours: list[dict], warm_up: dict, connections: int, limits: Limits, count: int, share: float) -> dict:
    from pump_anthropic.domain.calendar import hour_of_day

    profile = profiles(hours, warm_up)
    dispatch = model_dispatch([h["dispatch"] for h in hours], connections, count)
    daily_by_hour = Counter(hour_of_day(model_id(n)) for n in range(count))
    busiest = max(range(1, 24), key=lambda h: daily_by_hour[h])
    ordinary, midnight = model_works(count, share, profile, busiest), model_works(count, share, profile, 0)
    unlimited = replace(limits, per_stack=0)
    natural = simulate_hour(midnight, unlimited, dispatch["seconds"])
    sized = sized_limits(limits, natural["peak_minute"])
    scenarios = {}
    for label, works, scenario_limits in (
        ("ordinary hour, defaults", ordinary, limits),
        ("UTC midnight, defaults", midnight, limits),
        ("UTC midnight, no stack limit", midnight, unlimited),
        (f"UTC midnight, stack limit {sized.per_stack}/min on {sized.shards_wanted} shards", midnight, sized),
    ):
        result = natural if scenario_limits is unlimited else simulate_hour(works, scenario_limits, dispatch["seconds"])
        result["hour"] = busiest if works is ordinary else 0
        result["daily"] = sum(1 for w in works if w.daily)
        result["large"] = sum(1 for w in works if w.size == "large")
        result["limits"] = scenario_limits.__dict__
        scenarios[label] = result
    busy = sum(w.cpu_s + w.ddb_s + w.requests * (LATENCY_S + 2 * DDB_CALL_S) for w in midnight)
    carried: dict = {}
    for fleet_size in FLEET_TRIALS:  # the largest fleet whose midnight hour the defaults carry
        works = model_works(fleet_size, share, profile, 0)
        seconds = model_dispatch([h["dispatch"] for h in hours], connections, fleet_size)["seconds"]
        trial = simulate_hour(works, limits, seconds)
        if trial["finished_in_hour"] < fleet_size or trial["timeouts"]:
            break
        carried = {
            "connections": fleet_size,
            "deadline_failures": trial["deadline_failures"],
            "makespan": trial["makespan"],
        }
    return {
        "defaults_carry": carried,
        "connections": count,
        "large_share": share,
        "profiles": profile,
        "dispatch": dispatch,
        "daily_by_hour": {h: daily_by_hour[h] for h in range(24)},
        "peak_hour_requests": max(sum(w.requests for w in ordinary), sum(w.requests for w in midnight)),
        "sized_limits": sized.__dict__,
        "scenarios": scenarios,
        "busy_seconds_midnight": busy,
        "concurrency_floor": math.ceil(busy / HOUR_S),
        "concurrency_needed": {
            f"stack limit {limits.per_stack:,}/min (default)": concurrency_needed(
                midnight, limits, dispatch["seconds"]
            ),
            f"{sized.per_stack:,}/min on {sized.shards_wanted} shards": concurrency_needed(
                midnight, sized, dispatch["seconds"]
            ),
            "no stack limit": concurrency_needed(midnight, unlimited, dispatch["seconds"]),
        },
        "assumptions": ASSUMPTIONS,
    }


ASSUMPTIONS = [
    "Per-sync figures (Anthropic requests, own CPU, DynamoDB requests) are the means measured here per org size and "
    "kind of hour (ordinary, the UTC day's first, the connection's daily hour); small = the simulator's demo org "
    "(3 workspaces, 6 keys), large = 25 workspaces, 200 keys, 12 models; every 20th connection is large.",
    "Own CPU on AWS = CPU measured here outside the AWS SDK × 1769/256 (the 256 MB sync function's vCPU share), "
    "assuming this machine's core ≈ one Lambda vCPU.",
    "200 ms per Anthropic request (no Anthropic-side 429s); 10 ms per DynamoDB request (each request-gate counter "
    "write included) and per SQS request.",
    "The request gate as coded: per UTC minute, the connection's counter then its stack shard's; a full window is "
    "slept out (+50 ms); a record that cannot wait inside its deadline (300 s − 20 s margin − 2 s) fails back to the "
    "queue and returns after the 1,800 s visibility timeout.",
    "SQS event source mapping: batches of 10 (≤ 5 s to fill), at most MaximumConcurrency (50) invocations at once, "
    "scaled up at once (no ramp-up), a batch's connections synced one after another.",
    "The dispatcher starts at HH:00:00 and queues messages evenly over its modelled duration (its own CPU per "
    "connection as measured, the GSI read at 1 MB a page, one SendMessageBatch per 10 connections).",
    "Daily work at each connection's own hour (hour_of_day of its id), so 1/24 of the fleet per hour; the UTC day's "
    "first sync adds the workspace list for everyone (noon's API-key list is one request like it).",
    "DynamoDB: each item's WCU from its size (updates 1 WCU); one connection per tenant (a tenant's rollup partition "
    "takes all its connections' rollup writes); GSI writes (the connection item's hourly update) not counted.",
]


# ---------------------------------------------------------------- the table


def summarize_hour(hour: dict, limits: Limits) -> dict:
    records = hour["records"]
    works = [work_of(r) for r in records]
    timeline = simulate_hour(works, limits, dispatch_seconds(hour["dispatch"]))
    invocations = hour["invocations"]
    return {
        "timeline": timeline,
        "daily": sum(1 for r in records if r["daily"]),
        "failed": sum(i["failed"] for i in invocations),
        "invocation_wall_p50": statistics.median(i["wall"] for i in invocations) if invocations else 0.0,
        "invocation_wall_max": max((i["wall"] for i in invocations), default=0.0),
        "invocation_cpu_p50": statistics.median(i["cpu"] for i in invocations) if invocations else 0.0,
        "modelled_p50": statistics.median(r["modelled"] for r in records) if records else 0.0,
        "modelled_max": max((r["modelled"] for r in records), default=0.0),
        "local_queue_age_max": max((r["local_queue_age"] for r in records), default=0.0),
        "requests_by_size": {
            size: sorted({r["http_requests"] for r in records if r["size"] == size and not r["daily"]})
            for size in ("small", "large")
        },
    }


def rows_for(setup: dict, warm_up: dict, hours: list[dict], summaries: list[dict], model: dict, limits: Limits):
    n_small, n_large = setup["small"], setup["large"]
    per_minute = f"≤ {limits.per_stack:,}/min, ≤ {limits.per_connection}/min per connection"
    rows = [
        Row(
            "fleet",
            "connections on one stack",
            f"{n_small + n_large} ({n_small} small, {n_large} large), each its own tenant and organization",
            f"real connect + backfill of {setup['backfill_days']} days, {fmt_t(setup['wall'])} set-up; limits "
            f"{limits.per_connection}/min per connection, {limits.per_stack:,}/min per stack on "
            f"{summaries[0]['timeline']['shards']} shards; {LATENCY_S * 1000:.0f} ms per Anthropic request",
        )
    ]
    for hour, s in zip([warm_up, *hours], summaries, strict=True):
        t = s["timeline"]
        label = datetime.fromisoformat(hour["hour"]).strftime("%m-%d %H:00")
        label += " (warm-up: every first sync does the daily work)" if hour is warm_up else ""
        rows.append(
            Row(
                "fleet",
                f"hour {label}",
                f"{hour['anthropic_requests']} Anthropic requests, {hour['processed']} syncs ({s['daily']} daily), "
                f"{len(hour['invocations'])} sync invocations",
                f"peak minute {t['peak_minute']} modelled (one connection ≤ {t['peak_connection_minute']}); "
                f"{hour['quota_writes']} quota writes, hottest item {hour['hottest_quota_item']['writes']} "
                f"({hour['quota_refused']} refused); ≈{hour['wcu']:.0f} WCU; all synced at +{fmt_t(t['makespan'])}, "
                f"queue age ≤ {fmt_t(t['queue_age_max'])} modelled ({fmt_t(s['local_queue_age_max'])} here, one "
                f"batch at a time); {fmt_t(hour['wall'])} here",
                "" if hour is warm_up else per_minute,
            )
        )
    by_day: dict = defaultdict(set)
    for hour, s in zip(hours, summaries[1:], strict=True):
        for size, values in s["requests_by_size"].items():
            by_day[(size, hour["hour"][:10])].update(values)
    days = sorted({h["hour"][:10] for h in hours})
    rows.append(
        Row(
            "fleet",
            "requests per sync (daily work aside), by UTC day",
            "; ".join(
                f"{size} " + ", ".join(f"{d[5:]}: {'/'.join(map(str, sorted(by_day[(size, d)])))}" for d in days)
                for size in ("small", "large")
            ),
            "+1 on the day's first sync (the workspace list); on 12-01 the 4-day window spans two months",
            "the same on the 1st as on other days",
        )
    )
    records = [r for h in [warm_up, *hours] for r in h["records"]]
    kinds = []
    for size in ("small", "large"):
        for daily in (False, True):
            chosen = [r for r in records if r["size"] == size and r["daily"] == daily]
            if chosen:
                kinds.append(
                    f"{size} {'daily' if daily else 'hourly'} {fmt_t(statistics.median(r['modelled'] for r in chosen))}"
                    f" ({fmt_t(statistics.median(r['wall'] for r in chosen))} here)"
                )
    inv = [i for h in hours for i in h["invocations"]]
    rows.append(
        Row(
            "fleet",
            "one connection's sync, median, modelled on AWS",
            "; ".join(kinds),
            f"sync invocations (≤ {SYNC_BATCH_SIZE} syncs each): {len(inv)}, "
            f"{fmt_t(statistics.median(i['wall'] for i in inv))} p50 / {fmt_t(max(i['wall'] for i in inv))} max here,"
            f" {sum(i['failed'] for i in inv)} failed records; Lambda timeout {SYNC_TIMEOUT_S} s",
        )
    )
    item = max((h["hottest_item_one_sync"] for h in [warm_up, *hours]), key=lambda x: x["wcu"])
    part = max(h["hottest_partition_one_sync"]["wcu"] for h in [warm_up, *hours])
    item_size_of = next((r["size"] for r in records if r["connection_id"] in item["pk"]), "?")
    rows.append(
        Row(
            "fleet",
            "hottest DynamoDB item / partition in one sync",
            f"{item['wcu']:.0f} WCU on one item, {part:.0f} WCU on one partition",
            f"the {item['sk'].split('#')[0] or '?'} item of a {item_size_of} org's "
            f"{'#'.join(item['pk'].split('#')[-2:])} partition, written by one sync: "
            f"{item['wcu'] / PARTITION_WCU_PER_S:.0%} of one partition-second, ≈{item['wcu'] / HOUR_S:.2f} WCU/s if "
            "rewritten every hour; a connection's items are written by its own sync only, so the quota counters "
            "are the only items written many times a second (model rows)",
        )
    )
    d = [h["dispatch"] for h in hours]
    rows.append(
        Row(
            "fleet",
            "dispatcher",
            f"{fmt_t(statistics.median(x['wall'] for x in d))} here, "
            f"{fmt_t(statistics.median(dispatch_seconds(x) for x in d))} modelled",
            f"{statistics.median(x['sdk_calls'] for x in d):.0f} AWS requests for {hours[0]['queued']} connections "
            f"({statistics.median(x['bytes_read'] for x in d) / max(1, hours[0]['queued']):,.0f} B of index read per "
            "connection)",
        )
    )
    p = model["profiles"]
    rows.append(
        Row(
            "model",
            "per-sync profiles (requests; own CPU modelled at 256 MB)",
            "; ".join(f"{k} {v['requests']:.1f} ({v['cpu_s']:.1f} s)" for k, v in sorted(p.items())),
            "means of the syncs measured above (daily: the warm-up's and any at a connection's hour)",
        )
    )
    md = model["dispatch"]
    rows.append(
        Row(
            "model",
            f"dispatcher, {model['connections']:,} connections",
            fmt_t(md["seconds"]),
            f"{md['query_pages']} GSI pages + {md['send_batches']:,} SendMessageBatch; own CPU scaled per connection",
            f"≤ {DISPATCH_TIMEOUT_S} s (its timeout)",
        )
    )
    for label, sc in model["scenarios"].items():
        stack = sc["limits"]["per_stack"]
        shard = f"shard ≤ {sc['peak_shard_minute']}/{sc['shard_share']}, " if sc["shards"] else ""
        rows.append(
            Row(
                "model",
                f"{model['connections']:,} connections, {label} ({sc['hour']:02d}:00)",
                f"{sc['requests']:,} requests; all synced at +{fmt_t(sc['makespan'])}; "
                f"{sc['finished_in_hour']:,}/{sc['connections']:,} inside the hour",
                f"peak {sc['peak_minute']:,}/min ({shard}one org ≤ {sc['peak_connection_minute']}); {sc['daily']} "
                f"daily syncs; {sc['gate_waits']:,} gate waits, {sc['deadline_failures']} out of time, "
                f"{sc['timeouts']} timeouts; queue age ≤ {fmt_t(sc['queue_age_max'])}; batches ≤ "
                f"{fmt_t(sc['invocation_max'])}, {sc['peak_concurrency']} at once, "
                f"{sc['lambda_seconds'] / 3600:,.1f} Lambda-hours; hottest counter {sc['peak_item_writes_per_s']} "
                "writes/s",
                f"all inside the hour; ≤ {stack:,}/min" if stack else "all inside the hour",
            )
        )
    needed = model["concurrency_needed"]
    rows.append(
        Row(
            "model",
            "sync MaximumConcurrency for the midnight hour",
            ", ".join(
                f"{label}: {n['concurrency']} (done at +{fmt_t(n['makespan'])})" if n else f"{label}: none ≤ 200"
                for label, n in needed.items()
            ),
            f"floor {model['concurrency_floor']} = {model['busy_seconds_midnight'] / 3600:.1f} h of sync work in 1 h;"
            f" the template has {limits.concurrency}",
        )
    )
    carry = model["defaults_carry"]
    rows.append(
        Row(
            "model",
            "largest fleet the defaults carry (midnight hour, every sync inside it)",
            f"{carry['connections']:,} connections" if carry else f"< {FLEET_TRIALS[0]} connections",
            (
                f"all synced at +{fmt_t(carry['makespan'])}; {carry['deadline_failures']} of them ran out of time "
                "once and came back 30 min later"
                if carry
                else ""
            )
            + f" (tried {', '.join(f'{n:,}' for n in FLEET_TRIALS)}; {model['large_share']:.0%} large)",
        )
    )
    defaults = model["scenarios"]["UTC midnight, defaults"]
    rows.append(
        Row(
            "model",
            "hottest quota counter item, defaults",
            f"{defaults['peak_item_writes_per_s']} writes/s",
            f"{defaults['peak_item_writes_per_s'] / PARTITION_WCU_PER_S:.0%} of a partition's 1,000 WCU/s (a stack "
            f"shard's counter at the top of a minute, {defaults['shards']} shards)",
            f"≤ {HOT_ITEM_SHARE:.0%}",
        )
    )
    return rows


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SMALL} small + {QUICK_LARGE} large, 4 hours")
    parser.add_argument("--json", help="write the figures here (default: print them)")
    parser.add_argument("--small", type=int, help=f"small orgs (default {SMALL}, quick {QUICK_SMALL})")
    parser.add_argument("--large", type=int, help=f"large orgs (default {LARGE}, quick {QUICK_LARGE})")
    parser.add_argument("--hours", type=int, help=f"simulated hours (default {HOURS}, quick {QUICK_HOURS})")
    parser.add_argument("--model-connections", type=int, default=MODEL_CONNECTIONS)
    parser.add_argument("--model-large-share", type=float, default=MODEL_LARGE_SHARE)
    args = parser.parse_args()
    small = args.small if args.small is not None else (QUICK_SMALL if args.quick else SMALL)
    large = args.large if args.large is not None else (QUICK_LARGE if args.quick else LARGE)
    hours = args.hours or (QUICK_HOURS if args.quick else HOURS)
    start = QUICK_START if args.quick else START

    from pump_local.embedded_aws import LocalAws
    from pump_local.http_api import LocalApi

    clock = Clock(start)
    clock.install()
    meter, http = FleetMeter(), HttpMeter()
    restore = [meter.install(), http.install()]
    probe = SyncProbe(meter, http)
    orgs = build_orgs(small, large, clock)
    clock.now = start - timedelta(hours=1, minutes=len(orgs) + 1)  # one connect a minute, before the warm-up
    fleet = FleetAnthropic(orgs)
    started = time.perf_counter()
    try:
        url = fleet.start()
        with LocalAws(url, retry_interval_seconds=1, retry_max_attempts=3, run_exports=False) as aws:
            from pump_anthropic.settings import settings

            meter.quota_table = settings().quota_table_name
            limits = limits_from_settings()
            restore.append(probe.install())
            with meter.paused_():
                setup = connect_fleet(LocalApi(), orgs, clock) | {"small": small, "large": large}
            print(f"· set-up: {len(orgs)} connections in {setup['wall']:.0f} s", flush=True)
            fleet.set_latency(LATENCY_S)
            clock.now = start - timedelta(hours=1)
            measured = []
            for _ in range(hours + 1):
                hour = run_hour(aws, fleet, meter, probe, clock, orgs)
                measured.append(hour)
                print(f"· {hour['hour']}: {hour['anthropic_requests']} requests in {hour['wall']:.0f} s", flush=True)
                clock.now += timedelta(hours=1)
            warm_up, measured = measured[0], measured[1:]
    finally:
        for undo in reversed(restore):
            undo()
        fleet.stop()
    summaries = [summarize_hour(h, limits) for h in [warm_up, *measured]]
    model = extrapolate(measured, warm_up, small + large, limits, args.model_connections, args.model_large_share)
    rows = rows_for(setup, warm_up, measured, summaries, model, limits)
    for hour in [warm_up, *measured]:  # keep the JSON readable: the largest per-partition figure, the item count
        for r in hour["records"] + hour["invocations"]:
            r["pk_wcu"] = max(r["pk_wcu"].values(), default=0)
            r["item_wcu"] = max(r["item_wcu"].values(), default=0)
            r["quota_items"] = len(r["quota_items"])
    write_json(
        args.json,
        {
            "script": "fleet",
            "quick": args.quick,
            "machine": machine(),
            "seconds": time.perf_counter() - started,
            "fleet": {"small": small, "large": large, "hours": hours, "start": start.isoformat()},
            "limits": limits.__dict__,
            "setup": setup,
            "warm_up": warm_up,
            "hours": measured,
            "summaries": summaries,
            "model": model,
            "rows": rows_to_dicts(rows),
        },
    )


if __name__ == "__main__":
    main()
