"""Reads of a large org (issue 21): GET /costs over 30, 90 and 365 days by every single dimension and the wide
groupings, the whole 164k-row paged report beside a CSV export of the same rows, and a cold container's first read.

    .venv/bin/python bench/reads.py [--quick] [--json out.json]

Large org (25 workspaces, 200 API keys, 12 models), backfilled once through the real state machine; each read is
timed on this machine (wall, own CPU without moto's) and modelled on AWS at the read function's memory (its own CPU
scaled by 1,769 MB / memory, plus 10 ms per DynamoDB request).
"""

from __future__ import annotations

import argparse
import gc
import json
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
from pipeline import DDB_CALL_S, HandlerProbe, cpu_scale, first_read, run_backfill, run_reads  # noqa: E402

READ_MEMORY_MB = 256  # template.yaml CostsFunction (Globals)
ALTERNATIVE_MEMORY_MB = 1024  # what the same reads would take with the read function at 1 GB
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


def paged_vs_export(api, aws, meter, clock: Clock) -> dict:
    """Every page of the 365-day report by PAGED, then the CSV export of the same grouping, in one run."""
    today = clock().date()
    first = (today - timedelta(days=364)).isoformat()
    query = {"from": first, "to": today.isoformat(), "group_by": PAGED, "limit": 10_000}
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
            "first GET /costs of a fresh process (30 d)",
            fmt_s(first["wall"]),
            f"{first['cpu'] * 1000:.0f} ms CPU here; ≈{fmt_s(first['cpu'] * cpu_scale(READ_MEMORY_MB))} at "
            f"{READ_MEMORY_MB} MB, on top of the import",
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
                f"{r['read_requests']} Query/Get, {r['rows']:,} rows; own CPU {r['own_cpu'] * 1000:.0f} ms; modelled "
                f"on AWS {fmt_s(r['modelled_aws'])} at {READ_MEMORY_MB} MB, "
                f"{fmt_s(r['own_cpu'] * cpu_scale(ALTERNATIVE_MEMORY_MB) + r['read_requests'] * DDB_CALL_S)} at "
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
    args = parser.parse_args()

    from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
    from functions.backfill import app as backfill_app
    from pump_local.embedded_aws import BACKFILL_FUNCTIONS, LocalAws
    from pump_local.http_api import LocalApi

    clock = TickingClock(start_of_hour(11))
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
            backfill = run_backfill(api, sim, meter, http, probe, DEMO_ADMIN_KEY)
            # moto holds the whole table and the simulator its org in this process (GBs a Lambda never has): freeze
            # them out of the cyclic GC, whose full passes over them would otherwise land in the reads' CPU time.
            gc.collect()
            gc.freeze()
            first = first_read(api, clock)
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
