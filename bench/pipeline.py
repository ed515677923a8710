"""Benchmarks 1–3 on the embedded default: 365-day backfill of a large org, hourly sync, GET /costs reads.

One process, one stack: the bundled Anthropic simulator over real HTTP (200 ms per request), moto executing the
real state machine (Map chunks run on moto's threads), and the real handlers. Measured, per phase: Anthropic
requests (the simulator's counters), every AWS SDK call (a wrapper around botocore's `_make_api_call`: DynamoDB
requests, items written/read by item type, capacity units estimated from item sizes), wall and CPU time split into
"waiting for Anthropic", "inside the AWS SDK (moto)" and "our own Python".

    .venv/bin/python bench/pipeline.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402 (the path above)
    BACKFILL_DAYS,
    LATENCY_S,
    MAP_CONCURRENCY,
    AwsMeter,
    Clock,
    HttpMeter,
    Row,
    ddb_write_requests,
    fmt_ratio,
    fmt_s,
    machine,
    median,
    minimum_pages,
    org_spec,
    rows_to_dicts,
    start_of_hour,
    write_json,
)

# A model of the same work on AWS, used only for the "modelled on AWS" figures (stated in RESULTS.md):
DDB_CALL_S = 0.010  # one DynamoDB request (BatchWriteItem of 25 small items, or one Query page), in-region
PARTITION_WCU_PER_S = 1000  # DynamoDB's per-partition write limit; a chunk's cost items share one partition key
LAMBDA_FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB, proportionally less below
CHUNK_MEMORY_MB = 512  # template.yaml BackfillChunkFunction
DEFAULT_MEMORY_MB = 256  # template.yaml Globals (connect, costs, sync, plan, finalize)
READ_RANGES = (30, 90, 365)
READ_PAGE_ROWS = 10_000  # the largest page GET /costs serves
READ_GROUPINGS = (
    "model",
    "workspace_id",
    "date",
    "date,workspace_id,model",
    "date,workspace_id,model,token_type",
    "api_key_id",
)


def cpu_scale(memory_mb: int) -> float:
    return LAMBDA_FULL_VCPU_MB / memory_mb


class HandlerProbe:
    """Wraps the backfill handlers LocalAws routes to: per invocation wall, CPU, SDK and Anthropic time."""

    def __init__(self, meter: AwsMeter, http: HttpMeter) -> None:
        self.meter = meter
        self.http = http
        self.records: list[dict] = []
        self.finished = threading.Event()
        self._lock = threading.Lock()

    def wrap(self, name: str, handler):
        def probed(event: dict, context) -> dict:
            totals = self.meter.thread_totals()
            saved_depth, totals.depth = totals.depth, 0  # count the handler's own SDK calls even inside an Invoke
            sdk = (totals.wall, totals.cpu, totals.calls, totals.wcu)
            http = self.http.thread_figures()
            self.http.thread_urls().clear()
            wall, cpu = time.perf_counter(), time.thread_time()
            outcome, result = "ok", None
            try:
                result = handler(event, context)
                return result
            except Exception as exc:
                outcome = type(exc).__name__
                raise
            finally:
                record = {
                    "function": name,
                    "start": event.get("start"),
                    "began": wall,
                    "ended": time.perf_counter(),
                    "wall": time.perf_counter() - wall,
                    "cpu": time.thread_time() - cpu,
                    "sdk_wall": totals.wall - sdk[0],
                    "sdk_cpu": totals.cpu - sdk[1],
                    "sdk_calls": totals.calls - sdk[2],
                    "wcu": totals.wcu - sdk[3],
                    "http_wall": self.http.thread_figures()[0] - http[0],
                    "http_requests": self.http.thread_figures()[1] - http[1],
                    "urls": list(self.http.thread_urls()),
                    "outcome": outcome,
                    "result": result,
                }
                totals.depth = saved_depth
                with self._lock:
                    self.records.append(record)
                if name == "BackfillFinalizeFunction":
                    self.finished.set()

        return probed


def modelled_seconds(record: dict, memory_mb: int) -> float:
    """The invocation on AWS: own CPU scaled to the function's vCPU share + Anthropic waits + DynamoDB time, the
    latter the longer of its round trips and its write units at one partition's 1,000 WCU/s."""
    own_cpu = max(0.0, record["cpu"] - record["sdk_cpu"])
    dynamodb = max(record["sdk_calls"] * DDB_CALL_S, record.get("wcu", 0) / PARTITION_WCU_PER_S)
    return own_cpu * cpu_scale(memory_mb) + record["http_wall"] + dynamodb


def list_schedule(durations: list[float], slots: int) -> float:
    """Makespan of running `durations` in order on `slots` parallel workers (what the Map does)."""
    free = [0.0] * slots
    for duration in durations:
        earliest = min(range(slots), key=free.__getitem__)
        free[earliest] += duration
    return max(free) if durations else 0.0


def total_requests(sim) -> int:
    return sum(sim.request_counts.values())


def run_backfill(api, sim, meter, http, probe, admin_key: str) -> dict:
    from pump_anthropic.dal import connections as stored_connections
    from pump_anthropic.dal import table

    counts_before = total_requests(sim)
    urls_before = len(http.urls)
    aws_before = meter.snapshot()
    stats_before = (table.STATS.batch_requests, table.STATS.items_put)
    began = time.perf_counter()
    response = api.request("POST", "/integrations/anthropic", body=json.dumps({"admin_key": admin_key}))
    connect_wall = time.perf_counter() - began
    if response.status != 202:
        raise SystemExit(f"connect failed: {response.status} {response.body}")
    connection_id = response.json()["id"]
    connect_requests = total_requests(sim) - counts_before
    connect_min, _ = minimum_pages(http.urls[urls_before:])
    if not probe.finished.wait(1800):
        raise SystemExit("the backfill did not finish within 30 minutes")
    finalize = next(r for r in probe.records if r["function"] == "BackfillFinalizeFunction")
    wall = finalize["ended"] - began
    aws_delta = meter.delta(aws_before, meter.snapshot())
    with meter.paused_():
        connection = stored_connections.get_connection("local", connection_id)
    chunks = [r for r in probe.records if r["function"] == "BackfillChunkFunction"]
    done = [r for r in chunks if r["outcome"] == "ok"]
    requests_made = total_requests(sim) - counts_before
    chunk_count = len({r["start"] for r in chunks})
    minimum, queries = minimum_pages(http.urls[urls_before:])
    chunk_minimum = max((minimum_pages(r["urls"])[0] for r in done), default=0)
    bound = LATENCY_S * (connect_min + math.ceil(chunk_count / MAP_CONCURRENCY) * chunk_minimum)
    items_written = sum(r["result"]["items_written"] for r in done)
    batch_requests = table.STATS.batch_requests - stats_before[0]
    items_put = table.STATS.items_put - stats_before[1]
    plan = next(r for r in probe.records if r["function"] == "BackfillPlanFunction")
    ordered = sorted(chunks, key=lambda r: r["began"])
    modelled = (
        connect_wall_model(connect_wall, connect_requests)
        + modelled_seconds(plan, DEFAULT_MEMORY_MB)
        + list_schedule([modelled_seconds(r, CHUNK_MEMORY_MB) for r in ordered], MAP_CONCURRENCY)
        + modelled_seconds(finalize, DEFAULT_MEMORY_MB)
    )
    return {
        "connection_id": connection_id,
        "status": connection.status if connection else None,
        "chunks": chunk_count,
        "chunk_attempts": len(chunks),
        "chunks_failed": chunk_count - len(done),
        "connect_wall": connect_wall,
        "connect_requests": connect_requests,
        "wall": wall,
        "requests": requests_made,
        "requests_by_path": sim.request_counts,
        "requests_min": minimum,
        "report_queries": queries,
        "chunk_requests_min": chunk_minimum,
        "connect_requests_min": connect_min,
        "critical_path_bound": bound,
        "partition_write_bound": max((r["wcu"] for r in done), default=0) / PARTITION_WCU_PER_S,
        "largest_chunk_wcu": max((r["wcu"] for r in done), default=0),
        "modelled_aws_wall": modelled,
        "cost_items_written": items_written,
        "dynamodb_items_put": items_put,
        "dynamodb_batch_requests": batch_requests,
        "aws": aws_delta,
        "chunk_wall_sum": sum(r["wall"] for r in chunks),
        "chunk_http_wall_sum": sum(r["http_wall"] for r in chunks),
        "chunk_sdk_wall_sum": sum(r["sdk_wall"] for r in chunks),
        "chunk_own_cpu_sum": sum(max(0.0, r["cpu"] - r["sdk_cpu"]) for r in chunks),
        "chunk_sdk_calls_sum": sum(r["sdk_calls"] for r in chunks),
        "chunk_modelled": [modelled_seconds(r, CHUNK_MEMORY_MB) for r in ordered],
        "chunk_records": [{k: v for k, v in r.items() if k != "result"} | {"result": r["result"]} for r in chunks],
        "plan": {k: v for k, v in plan.items() if k != "result"},
        "finalize": {k: v for k, v in finalize.items() if k != "result"},
        "state_transitions": 4 + len(chunks),  # Plan, Chunks (Map), Finalize, end + one Chunk state per attempt
    }


def connect_wall_model(connect_wall: float, connect_requests: int) -> float:
    # The connect call is interactive and mostly Anthropic waits; count it at its Anthropic latency.
    return connect_requests * LATENCY_S


def run_sync_scenario(label: str, aws, sim, meter, connection_id: str) -> dict:
    from pump_anthropic.dal import connections as stored_connections

    requests_before = sim.request_counts
    aws_before = meter.snapshot()
    totals = meter.thread_totals()
    sdk_before = (totals.wall, totals.cpu, totals.calls)
    began, cpu = time.perf_counter(), time.thread_time()
    queued = aws.fire_sync_schedule()["connections_queued"]
    processed = aws.drain_sync_queue()
    wall, cpu = time.perf_counter() - began, time.thread_time() - cpu
    aws_delta = meter.delta(aws_before, meter.snapshot())
    after = sim.request_counts
    by_path = {
        p: after.get(p, 0) - requests_before.get(p, 0) for p in after if after.get(p, 0) > requests_before.get(p, 0)
    }
    with meter.paused_():
        last_sync = stored_connections.get_connection("local", connection_id, with_chunks=False).last_sync or {}
    calls = aws_delta["calls"]
    own_cpu = cpu - (totals.cpu - sdk_before[1])
    anthropic_requests = sum(by_path.values())
    modelled = (
        own_cpu * cpu_scale(DEFAULT_MEMORY_MB)
        + anthropic_requests * LATENCY_S
        + max((totals.calls - sdk_before[2]) * DDB_CALL_S, aws_delta["figures"]["wcu"] / PARTITION_WCU_PER_S)
    )
    return {
        "label": label,
        "modelled_aws": modelled,
        "queued": queued,
        "processed": processed,
        "wall": wall,
        "own_cpu": own_cpu,
        "sdk_wall": totals.wall - sdk_before[0],
        "sdk_calls": totals.calls - sdk_before[2],
        "anthropic_requests": anthropic_requests,
        "anthropic_by_path": by_path,
        "window": [last_sync.get("window_start"), last_sync.get("window_end")],
        "items_written": last_sync.get("items_written"),
        "items_unchanged": last_sync.get("items_unchanged"),
        "items_deleted": last_sync.get("items_deleted"),
        "ddb_write_requests": ddb_write_requests(calls),
        "ddb_items_put": aws_delta["figures"]["items_put"],
        "ddb_items_deleted": aws_delta["figures"]["items_deleted"],
        "ddb_single_writes": {k.split(".")[1]: v for k, v in aws_delta["figures"].items() if k.startswith("single")},
        "wcu": aws_delta["figures"]["wcu"],
        "rcu": aws_delta["figures"]["rcu"],
        "ddb_read_requests": aws_delta["figures"]["read_requests"],
        "items_read": aws_delta["figures"]["items_read"],
        "calls": dict(calls),
        "seconds_by_call": {k[8:]: v for k, v in aws_delta["figures"].items() if k.startswith("seconds.")},
    }


def run_syncs(aws, sim, meter, clock: Clock, connection_id: str) -> tuple[list[dict], dict]:
    results = [run_sync_scenario("first sync after the backfill", aws, sim, meter, connection_id)]
    results.append(run_sync_scenario("quiet hour (nothing changed upstream)", aws, sim, meter, connection_id))
    clock.advance(hours=1)
    results.append(run_sync_scenario("next hour (today's partial day grew)", aws, sim, meter, connection_id))
    sim.restate(days=2)
    results.append(run_sync_scenario("2-day restatement", aws, sim, meter, connection_id))
    clock.advance(hours=24)
    results.append(run_sync_scenario("after 24 missed hours", aws, sim, meter, connection_id))
    return results, run_hourly_day(aws, sim, meter, clock, connection_id)


def run_hourly_day(aws, sim, meter, clock: Clock, connection_id: str) -> dict:
    """24 hourly syncs in a row (today's partial day grows each hour): what one connection costs per day."""
    hours = []
    for _ in range(24):
        clock.advance(hours=1)
        hours.append(run_sync_scenario("hour", aws, sim, meter, connection_id))
    requests = [h["anthropic_requests"] for h in hours]
    return {
        "syncs": len(hours),
        "anthropic_requests": sum(requests),
        "requests_per_sync": sorted(set(requests)),
        "max_requests_per_sync": max(requests),
        "name_list_requests": sum(
            n for h in hours for path, n in h["anthropic_by_path"].items() if path.endswith(("workspaces", "api_keys"))
        ),
        "items_written": sum(h["ddb_items_put"] + h["ddb_items_deleted"] for h in hours),
        "wcu": sum(h["wcu"] for h in hours),
        "wall": sum(h["wall"] for h in hours),
    }


def first_read(api, clock: Clock) -> dict:
    """The first GET /costs this process serves: what a fresh CostsFunction container adds on its first request."""
    today = clock().date()
    target = "/costs?" + urlencode({"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()})
    began, cpu = time.perf_counter(), time.thread_time()
    response = api.request("GET", target)
    return {"wall": time.perf_counter() - began, "cpu": time.thread_time() - cpu, "status": response.status}


def run_reads(
    api,
    meter,
    clock: Clock,
    repeats: int,
    groupings: tuple[str, ...] = READ_GROUPINGS,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> list[dict]:
    today = clock().date()
    results = []
    for days in READ_RANGES:
        first = (today - timedelta(days=days - 1)).isoformat()
        for grouping in groupings:
            query = {"from": first, "to": today.isoformat(), "group_by": grouping, "limit": READ_PAGE_ROWS}
            target = "/costs?" + urlencode(query)
            samples = []
            for _ in range(1 if days == 365 and "," in grouping else repeats):  # the wide year reads: 1 (~30 s)
                # Each sample in a minute of its own, as a dashboard's reads are: the tenant's read quota (600 units a
                # minute) is not what this measures.
                clock.advance(minutes=1)
                before = meter.snapshot()
                pages, rows, body_bytes, page = 0, 0, 0, None
                with meter.request_cost() as cost:
                    while True:  # every page of the report, as a client does
                        url = target + (f"&{urlencode({'page': page})}" if page else "")
                        response = api.request("GET", url)
                        if response.status != 200:
                            raise SystemExit(f"GET {target} answered {response.status}: {response.body[:300]}")
                        body = response.json()
                        pages, rows, body_bytes = pages + 1, rows + len(body["rows"]), body_bytes + len(response.body)
                        page = body.get("next_page") if body.get("has_more") else None
                        if page is None:
                            break
                delta = meter.delta(before, meter.snapshot())
                samples.append(
                    {
                        "wall": cost.wall,
                        "sdk_wall": cost.sdk_wall,
                        "own_cpu": cost.own_cpu,
                        "sdk_calls": cost.calls,
                        "critical_calls": cost.critical_calls,
                        "items_read": delta["figures"]["items_read"],
                        "items_read_by_type": dict(delta["items_read_by_type"]),
                        "read_requests": delta["figures"]["read_requests"],
                        "rcu": delta["figures"]["rcu"],
                        "bytes_read": delta["figures"]["bytes_read"],
                        "rows": rows,
                        "pages": pages,
                        "body_bytes": body_bytes,
                    }
                )
            best = samples[0]
            modelled = [s["own_cpu"] * cpu_scale(memory_mb) + s["critical_calls"] * DDB_CALL_S for s in samples]
            results.append(
                {
                    "days": days,
                    "group_by": grouping,
                    "latency": median([s["wall"] for s in samples]),
                    "sdk_wall": median([s["sdk_wall"] for s in samples]),
                    "own_cpu": median([s["own_cpu"] for s in samples]),
                    "modelled_aws": median(modelled),
                    **{
                        k: best[k]
                        for k in (
                            "items_read",
                            "items_read_by_type",
                            "read_requests",
                            "rcu",
                            "bytes_read",
                            "rows",
                            "pages",
                            "body_bytes",
                            "sdk_calls",
                            "critical_calls",
                        )
                    },
                }
            )
    return results


class _SinkUpload:
    upload_id = "sink"

    def upload_part(self, data: bytes) -> None:
        return None

    def complete(self) -> None:
        return None

    def abort(self) -> None:
        return None


class _SinkStore:
    """An export store that keeps nothing: moto's S3 holds every uploaded part in this same process, which would
    otherwise count in the export's peak heap."""

    def start_upload(self, key: str, *, content_type: str, filename: str) -> _SinkUpload:
        return _SinkUpload()

    def abort_upload(self, key: str, upload_id: str) -> None:
        return None

    def download_url(self, key: str, *, export_id: str, filename: str):
        raise NotImplementedError


def export_heap_peak(api, first: str, last: str) -> int:
    """Peak Python heap (tracemalloc) of running one 365-day FOCUS export job, as the export function runs it."""
    import tracemalloc

    from pump_anthropic.logic import exports

    body = json.dumps({"from": first, "to": last, "format": "focus", "gzip": False})
    export_id = api.request("POST", "/costs/exports", body=body).json()["id"]
    tracemalloc.start()
    try:
        outcome = exports.run_export("local", export_id, store=_SinkStore())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if outcome != "ready":
        raise SystemExit(f"the measured export ended {outcome}")
    return peak


def run_export(api, aws, clock: Clock) -> dict:
    """A 365-day FOCUS export through the export API: the job run as the export function runs it, measured for
    wall time and peak Python heap (tracemalloc), and its BilledCost summed against GET /costs' total."""
    import csv
    import gzip
    import io

    import boto3

    from pump_local.embedded_aws import EXPORT_BUCKET_NAME, REGION

    today = clock().date()
    first = (today - timedelta(days=BACKFILL_DAYS - 1)).isoformat()
    body = json.dumps({"from": first, "to": today.isoformat(), "format": "focus", "gzip": False})
    created = api.request("POST", "/costs/exports", body=body)
    if created.status != 202:
        raise SystemExit(f"POST /costs/exports answered {created.status}: {created.body[:300]}")
    export_id = created.json()["id"]
    began = time.perf_counter()
    aws.drain_export_queue()
    wall = time.perf_counter() - began
    peak = export_heap_peak(api, first, today.isoformat())
    job = api.request("GET", f"/costs/exports/{export_id}").json()
    if job["status"] != "ready":
        raise SystemExit(f"the export ended {job['status']}: {job.get('error')}")
    s3 = boto3.client("s3", region_name=REGION)
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=EXPORT_BUCKET_NAME)["Contents"] if export_id in o["Key"]]
    raw = s3.get_object(Bucket=EXPORT_BUCKET_NAME, Key=key)["Body"].read()
    text = (gzip.decompress(raw) if key.endswith(".gz") else raw).decode()
    billed = sum(
        (Decimal(r["BilledCost"]) for r in csv.DictReader(io.StringIO(text)) if r["x_CostKnown"] == "true"),
        Decimal(0),
    )
    query = urlencode({"from": first, "to": today.isoformat(), "group_by": "month"})
    total = Decimal(api.request("GET", f"/costs?{query}").json()["total"]["cost_usd"])
    return {
        "rows": job["rows"],
        "bytes": job["bytes"],
        "wall": wall,
        "rows_per_s": job["rows"] / wall,
        "peak_heap_mb": peak / 1e6,  # the export's own heap, measured with a store that keeps nothing
        "billed_cost": str(billed),
        "costs_total": str(total),
        "exact": billed == total,
    }


def rows_for(backfill: dict, syncs: list[dict], day: dict, first: dict, reads: list[dict], export: dict) -> list[Row]:
    b = backfill
    rows = [
        Row(
            "backfill",
            "outcome",
            f"{b['status']}, {b['chunks']} chunks, {b['chunks_failed']} failed",
            f"MaxConcurrency {MAP_CONCURRENCY}, {LATENCY_S * 1000:.0f} ms per Anthropic request",
        ),
        Row(
            "backfill",
            "wall time (POST → finalize)",
            fmt_s(b["wall"]),
            f"{fmt_ratio(b['wall'] / b['critical_path_bound'])} the critical-path bound "
            f"{fmt_s(b['critical_path_bound'])}",
            "≤ 1.5×",
        ),
        Row(
            "backfill",
            "  where the chunk time went (sum over chunks)",
            f"{fmt_s(b['chunk_wall_sum'])}",
            f"Anthropic {b['chunk_http_wall_sum'] / b['chunk_wall_sum']:.0%}, AWS SDK/moto "
            f"{b['chunk_sdk_wall_sum'] / b['chunk_wall_sum']:.0%}, "
            f"own CPU {b['chunk_own_cpu_sum'] / b['chunk_wall_sum']:.0%}"
            f", rest waiting for the GIL (4 chunk threads in one process)",
        ),
        Row(
            "backfill",
            "  DynamoDB partition bound",
            fmt_s(b["partition_write_bound"]),
            f"largest chunk ≈{b['largest_chunk_wcu']:,.0f} WCU into one month partition at 1,000 WCU/s; "
            f"{fmt_ratio(b['partition_write_bound'] / b['critical_path_bound'])} the Anthropic bound",
        ),
        Row(
            "backfill",
            "  modelled on AWS (see RESULTS.md)",
            fmt_s(b["modelled_aws_wall"]),
            f"{fmt_ratio(b['modelled_aws_wall'] / b['critical_path_bound'])} the bound",
            "≤ 1.5×",
        ),
        Row(
            "backfill",
            "Anthropic requests",
            str(b["requests"]),
            f"{fmt_ratio(b['requests'] / b['requests_min'])} the minimum {b['requests_min']} "
            f"({b['report_queries']} distinct queries, {b['chunk_requests_min']} per chunk, "
            f"{b['connect_requests_min']} at connect; each fits one page at the largest limit)",
            "≤ 1.2×",
        ),
        Row(
            "backfill",
            "cost items written",
            f"{b['cost_items_written']:,}",
            f"{b['cost_items_written'] / b['wall']:,.0f} items/s (wall); "
            f"{b['cost_items_written'] / b['modelled_aws_wall']:,.0f}/s modelled",
        ),
        Row(
            "backfill",
            "DynamoDB write requests per item written",
            f"{b['dynamodb_batch_requests'] / max(1, b['dynamodb_items_put']):.4f}",
            f"{b['dynamodb_batch_requests']:,} BatchWriteItem for {b['dynamodb_items_put']:,} items "
            f"(cost items + rollups); {ddb_write_requests(b['aws']['calls']) - b['dynamodb_batch_requests']} "
            f"single-item writes; ≈{b['aws']['figures']['wcu']:,.0f} WCU",
        ),
    ]
    for s in syncs:
        single = ", ".join(f"{n} {op}" for op, n in sorted(s["ddb_single_writes"].items())) or "none"
        rows.append(
            Row(
                "sync",
                s["label"],
                f"{s['anthropic_requests']} Anthropic requests; {s['ddb_items_put'] + s['ddb_items_deleted']} "
                f"items written/deleted; ≈{s['wcu']:.0f} WCU",
                f"window {s['window'][0]}..{s['window'][1]}; {s['ddb_write_requests']} write requests "
                f"(batch + {single}); ≈{s['rcu']:.0f} RCU, {s['items_read']:,} items read; {fmt_s(s['wall'])} here, "
                f"modelled on AWS {fmt_s(s['modelled_aws'])}",
                "quiet: 0 writes, ≤ 4 requests" if s["label"].startswith("quiet") else "",
            )
        )
    rows.append(
        Row(
            "sync",
            f"a day of hourly syncs ({day['syncs']} runs)",
            f"{day['anthropic_requests']} Anthropic requests",
            f"{'/'.join(map(str, day['requests_per_sync']))} per sync (at most {day['max_requests_per_sync']}; "
            f"{day['name_list_requests']} of them name lists); {day['items_written']:,} items written/deleted as "
            f"today's partial day grew; ≈{day['wcu']:,.0f} WCU; {fmt_s(day['wall'])} here",
            "every sync ≤ 4 requests",
        )
    )
    rows.append(
        Row(
            "read",
            "first GET /costs served by this process (30 d)",
            fmt_s(first["wall"]),
            f"{first['cpu'] * 1000:.0f} ms CPU here (lazy set-up, mostly building a botocore client); "
            f"≈{fmt_s(first['cpu'] * cpu_scale(DEFAULT_MEMORY_MB))} at 256 MB, on top of the import",
        )
    )
    rows.append(
        Row(
            "export",
            "365-day FOCUS export (POST /costs/exports)",
            f"{export['rows']:,} rows, {export['bytes'] / 1e6:.1f} MB in {fmt_s(export['wall'])}",
            f"{export['rows_per_s']:,.0f} rows/s; peak Python heap {export['peak_heap_mb']:.0f} MB; BilledCost "
            f"{export['billed_cost']} {'=' if export['exact'] else '≠'} GET /costs total {export['costs_total']}",
            "completes, exact, ≤ 512 MB, ≥ 5,000 rows/s",
        )
    )
    for r in reads:
        rows.append(
            Row(
                "read",
                f"GET /costs {r['days']} d by {r['group_by']}",
                f"{r['items_read']:,} items read in {r['pages']} page(s), {fmt_s(r['latency'])}",
                f"{r['read_requests']} Query pages, ≈{r['rcu']:.0f} RCU, {r['rows']:,} rows; moto "
                f"{r['sdk_wall'] / r['latency']:.0%} of the time; modelled on AWS {fmt_s(r['modelled_aws'])}",
                "≤ 400 items" if r["days"] == 365 else "",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small org and one sample per read")
    parser.add_argument("--json", help="write the figures here (default: print them)")
    args = parser.parse_args()

    from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
    from functions.backfill import app as backfill_app
    from pump_local.embedded_aws import BACKFILL_FUNCTIONS, LocalAws
    from pump_local.http_api import LocalApi

    clock = Clock(start_of_hour(11))
    clock.install()
    meter, http = AwsMeter(), HttpMeter()
    restore = [meter.install(), http.install()]
    probe = HandlerProbe(meter, http)
    handlers = {name: probe.wrap(name, getattr(backfill_app, fn)) for name, fn in BACKFILL_FUNCTIONS.items()}
    spec = org_spec(args.quick)
    started = time.perf_counter()
    try:
        with (
            Simulator(spec, latency_s=LATENCY_S, now=clock) as sim,
            LocalAws(
                sim.url,
                max_concurrency=MAP_CONCURRENCY,
                retry_interval_seconds=1,
                retry_max_attempts=3,
                handlers=handlers,
                run_exports=False,
            ) as aws,
        ):
            api = LocalApi()
            backfill = run_backfill(api, sim, meter, http, probe, DEMO_ADMIN_KEY)
            census = meter.census()
            syncs, hourly_day = run_syncs(aws, sim, meter, clock, backfill["connection_id"])
            first = first_read(api, clock)
            reads = run_reads(api, meter, clock, repeats=1 if args.quick else 3)
            export = run_export(api, aws, clock)
    finally:
        for undo in restore:
            undo()
    rows = rows_for(backfill, syncs, hourly_day, first, reads, export)
    write_json(
        args.json,
        {
            "script": "pipeline",
            "quick": args.quick,
            "org": spec.__dict__,
            "backfill_days": BACKFILL_DAYS,
            "machine": machine(),
            "seconds": time.perf_counter() - started,
            "backfill": backfill,
            "table": census,
            "syncs": syncs,
            "hourly_day": hourly_day,
            "first_read": first,
            "reads": reads,
            "export": export,
            "rows": rows_to_dicts(rows),
        },
    )


if __name__ == "__main__":
    main()
