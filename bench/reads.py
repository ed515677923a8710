"""Reads of a large org (issue 21): GET /costs over 30, 90 and 365 days by every single dimension and the wide
groupings, the whole 164k-row paged report beside a CSV export of the same rows, and a cold container's first read.

    .venv/bin/python bench/reads.py [--quick] [--json out.json] [--table-snapshot PATH]

With --table-snapshot, the backfilled table is saved to PATH (pickle of the raw items and the bench clock's start)
and, when PATH exists, loaded instead of backfilling again: for iterating on the read path (the large org's backfill
takes ~10 minutes). Only a snapshot taken the same UTC day is loaded (the reads are relative to today).

Large org (25 workspaces, 200 API keys, 12 models), backfilled once through the real state machine; each read is
timed on this machine (wall, own CPU without moto's) and modelled on AWS at the read function's memory (its own CPU
scaled by 1,769 MB / memory, plus 10 ms per DynamoDB request on the critical path: a read queries the month partitions
it takes from their summaries concurrently, so the path is the handler thread's requests plus the busiest reader
thread's; `RequestCost` in _common.py). Own CPU is the process's CPU outside SDK calls, on every thread.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    LATENCY_S,
    MAP_CONCURRENCY,
    AwsMeter,
    Clock,
    HttpMeter,
    Row,
    fmt_s,
    machine,
    org_spec,
    plain_table,
    rows_to_dicts,
    start_of_hour,
    write_json,
)
from pipeline import DDB_CALL_S, HandlerProbe, cpu_scale, run_backfill, run_reads  # noqa: E402

READ_MEMORY_MB = 1769  # template.yaml CostsFunction (one full vCPU; Globals' 256 MB before issue 21)
ALTERNATIVE_MEMORY_MB = 256  # what the same reads would take at the Globals' 256 MB
SINGLE_GROUPINGS = (
    "", "date", "month", "model", "workspace_id", "api_key_id", "actor", "product", "token_type", "service_tier",
)  # fmt: skip
WIDE_GROUPINGS = ("date,workspace_id,model", "date,workspace_id,model,token_type")
PAGED = "date,workspace_id,model,token_type"


class TickingClock(Clock):
    """The bench clock moving with real time from its start: the request gate's minute windows (on the quota table,
    read through this clock) turn over, so a backfill held to the per-connection rate resumes as it would on AWS."""

    def __init__(self, start) -> None:
        super().__init__(start)
        self._began = time.monotonic()

    def __call__(self):
        return self.now + timedelta(seconds=time.monotonic() - self._began)


def save_table(path: Path, start) -> None:
    """Every item of the main table, as the low-level client returns them, with the clock's start."""
    import boto3

    from pump_anthropic.dal.models import ConnectionModel

    client = boto3.client("dynamodb", region_name=ConnectionModel.Meta.region)
    items = [item for page in client.get_paginator("scan").paginate(TableName=ConnectionModel.Meta.table_name)
             for item in page["Items"]]  # fmt: skip
    path.write_bytes(pickle.dumps({"start": start, "items": items}))


def load_table(path: Path) -> int:
    import boto3

    from pump_anthropic.dal.models import ConnectionModel

    items = pickle.loads(path.read_bytes())["items"]  # noqa: S301 (a file this bench wrote)
    client = boto3.client("dynamodb", region_name=ConnectionModel.Meta.region)
    for offset in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[offset : offset + 25]]
        unprocessed = client.batch_write_item(RequestItems={ConnectionModel.Meta.table_name: batch})
        if unprocessed.get("UnprocessedItems"):
            raise SystemExit("moto left items unprocessed")
    return len(items)


def snapshot_start(path: Path | None):
    """The bench clock's start saved with a same-day snapshot, else None (backfill)."""
    if path is None or not path.exists():
        return None
    start = pickle.loads(path.read_bytes())["start"]  # noqa: S301 (a file this bench wrote)
    return start if start == start_of_hour(11) else None


def import_cpu() -> float:
    """CPU seconds a fresh interpreter spends importing the read function's handler (functions/costs/app.py, with the
    repository's compiled .pyc, as the shipped layer has them): the import half of a cold start."""
    code = "import time; t = time.process_time(); import app; print(time.process_time() - t)"
    root = Path(__file__).resolve().parent.parent
    env = {"PYTHONPATH": f"{root / 'shared'}", "AWS_DEFAULT_REGION": "us-east-1", "TABLE_NAME": "pump-anthropic",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    runs = [
        float(subprocess.run([sys.executable, "-B", "-c", code], cwd=root / "functions" / "costs", env=env,
                             capture_output=True, text=True, check=True).stdout)
        for _ in range(3)
    ]  # fmt: skip
    return sorted(runs)[1]


def cold_read(api, meter, clock: Clock) -> dict:
    """The first GET /costs (30 days) of this process, own CPU (the SDK's and moto's left out) and its requests."""
    today = clock().date()
    target = "/costs?" + urlencode({"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()})
    with meter.request_cost() as cost:
        response = api.request("GET", target)
    own, calls = cost.own_cpu, cost.critical_calls
    imported = import_cpu()
    return {
        "wall": cost.wall,
        "own_cpu": own,
        "sdk_calls": cost.calls,
        "critical_calls": calls,
        "status": response.status,
        "import_cpu": imported,
        "modelled_aws": (imported + own) * cpu_scale(READ_MEMORY_MB) + calls * DDB_CALL_S,
    }


def paged_vs_export(api, aws, meter, clock: Clock) -> dict:
    """Every page of the 365-day report by PAGED, then the CSV export of the same grouping, in one run."""
    today = clock().date()
    first = (today - timedelta(days=364)).isoformat()
    query = {"from": first, "to": today.isoformat(), "group_by": PAGED, "limit": 10_000}
    clock.advance(minutes=1)  # a minute of its own for the tenant's read quota
    began, cpu_began = time.perf_counter(), time.thread_time()
    pages, rows, page = 0, 0, None
    while True:
        response = api.request("GET", "/costs?" + urlencode({**query, **({"page": page} if page else {})}))
        if response.status != 200:
            raise SystemExit(f"GET /costs answered {response.status}: {response.body[:300]}")
        body = response.json()
        pages, rows = pages + 1, rows + len(body["rows"])
        page = body["next_page"] if body["has_more"] else None
        if page is None:
            break
    paged_wall, paged_cpu = time.perf_counter() - began, time.thread_time() - cpu_began
    created = api.request(
        "POST", "/costs/exports",
        body=json.dumps({"from": first, "to": today.isoformat(), "format": "csv", "group_by": PAGED, "gzip": False}),
    )  # fmt: skip
    if created.status != 202:
        raise SystemExit(f"POST /costs/exports answered {created.status}: {created.body[:300]}")
    began = time.perf_counter()
    aws.drain_export_queue()
    export_wall = time.perf_counter() - began
    job = api.request("GET", f"/costs/exports/{created.json()['id']}").json()
    return {
        "pages": pages,
        "rows": rows,
        "paged_wall": paged_wall,
        "paged_cpu": paged_cpu,
        "export_wall": export_wall,
        "export_rows": job.get("rows"),
        "export_status": job["status"],
        "ratio": paged_wall / export_wall,
    }


def rows_for(first: dict, reads: list[dict], paged: dict) -> list[Row]:
    rows = [
        Row(
            "read",
            "first GET /costs of a fresh process (30 d), import included",
            fmt_s(first["modelled_aws"]),
            f"import {first['import_cpu'] * 1000:.0f} ms + first read {first['own_cpu'] * 1000:.0f} ms own CPU here "
            f"(moto's left out), {first['sdk_calls']} requests, {first['critical_calls']} on its critical path; "
            f"modelled at {READ_MEMORY_MB} MB",
            "≤ 1.5 s modelled, import included",
        )
    ]
    by_grouping = {(r["days"], r["group_by"]): r for r in reads}
    for r in reads:
        base = by_grouping.get((30, r["group_by"]))
        ratio = f"; {r['modelled_aws'] / base['modelled_aws']:.2f}× the 30-day read" if base and r["days"] != 30 else ""
        rows.append(
            Row(
                "read",
                f"GET /costs {r['days']} d by {r['group_by'] or '(none)'}",
                f"{r['items_read']:,} items in {r['pages']} page(s), {fmt_s(r['latency'])}",
                f"{r['read_requests']} Query/Get ({r['critical_calls']} AWS requests on the critical path), "
                f"{r['rows']:,} rows; own CPU {r['own_cpu'] * 1000:.0f} ms; modelled "
                f"on AWS {fmt_s(r['modelled_aws'])} at {READ_MEMORY_MB} MB, "
                f"{fmt_s(r['own_cpu'] * cpu_scale(ALTERNATIVE_MEMORY_MB) + r['critical_calls'] * DDB_CALL_S)} at "
                f"{ALTERNATIVE_MEMORY_MB} MB{ratio}",
                "≤ 1 s modelled, ≤ 2× the 30-day read" if r["days"] == 365 and "," not in r["group_by"] else "",
            )
        )
    rows.append(
        Row(
            "read",
            f"365 d by {PAGED}: every page vs the CSV export",
            f"{paged['rows']:,} rows in {paged['pages']} pages, {fmt_s(paged['paged_wall'])}",
            f"export of the same grouping {fmt_s(paged['export_wall'])} ({paged['export_status']}, "
            f"{paged['export_rows']:,} rows): {paged['ratio']:.2f}×",
            "≤ 1.5× the export",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small org and one sample per read")
    parser.add_argument("--json", help="write the figures here (default: print them)")
    parser.add_argument("--table-snapshot", type=Path, help="save the backfilled table here; load it if present")
    args = parser.parse_args()

    from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
    from functions.backfill import app as backfill_app
    from pump_local.embedded_aws import BACKFILL_FUNCTIONS, LocalAws
    from pump_local.http_api import LocalApi

    loaded_start = snapshot_start(args.table_snapshot)
    clock = TickingClock(loaded_start or start_of_hour(11))
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
            LocalAws(sim.url, max_concurrency=MAP_CONCURRENCY, handlers=handlers, run_exports=False) as aws,
        ):
            api = LocalApi()
            if loaded_start is not None:
                with meter.paused_():
                    load_table(args.table_snapshot)
                backfill = {"wall": None}
            else:
                backfill = run_backfill(api, sim, meter, http, probe, DEMO_ADMIN_KEY)
                if args.table_snapshot is not None:
                    with meter.paused_():
                        save_table(args.table_snapshot, clock.now)
            # moto holds the whole table and the simulator its org in this process (GBs a Lambda never has): freeze
            # them out of the cyclic GC, whose full passes over them would otherwise land in the reads' CPU time.
            gc.collect()
            gc.freeze()
            first = cold_read(api, meter, clock)
            reads = run_reads(
                api, meter, clock, repeats=1 if args.quick else 3,
                groupings=SINGLE_GROUPINGS + WIDE_GROUPINGS, memory_mb=READ_MEMORY_MB,
            )  # fmt: skip
            paged = paged_vs_export(api, aws, meter, clock)
    finally:
        for undo in restore:
            undo()
    rows = rows_for(first, reads, paged)
    payload = {
        "script": "reads",
        "quick": args.quick,
        "org": spec.__dict__,
        "machine": machine(),
        "seconds": time.perf_counter() - started,
        "ddb_call_s": DDB_CALL_S,
        "memory_mb": READ_MEMORY_MB,
        "backfill_wall": backfill["wall"],
        "first_read": first,
        "reads": reads,
        "paged": paged,
        "rows": rows_to_dicts(rows),
    }
    write_json(args.json, payload)
    if not args.json:
        print(plain_table(rows_to_dicts(rows)))


if __name__ == "__main__":
    main()
