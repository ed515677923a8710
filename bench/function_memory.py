"""Peak memory of the backfill chunk function (and of a sync catching up a month), each in its own process.

A Lambda sandbox runs one invocation at a time, so each measurement runs the real handler alone in a fresh child
interpreter, against moto in server mode and the simulator (both in this parent process, so their memory is not
counted). Two figures per invocation, from two separate children:

- RSS: the process's peak resident set (`VmHWM` in /proc/self/status; `getrusage`'s ru_maxrss would carry the
  parent's peak across fork+exec) after the invocation, which is what Lambda reports as "Max Memory Used", beside
  the resident set right after importing the handler (the init footprint);
- Python heap: `tracemalloc` peak around the invocation alone (run without tracemalloc for the RSS figure, since
  tracing inflates RSS).

    .venv/bin/python bench/function_memory.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, Row, fmt_s, machine, org_spec, rows_to_dicts, start_of_hour, write_json  # noqa: E402

TENANT = "bench"
ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "TABLE_NAME": "pump-anthropic-bench",
    "SECRET_PREFIX": "pump-anthropic/",
    "TENANT_CLAIM": "tenant_id",
    "POWERTOOLS_SERVICE_NAME": "pump-anthropic",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_NAMESPACE": "PumpAnthropic",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- child


def proc_status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def count_client_creation() -> dict:
    """Count botocore clients built during the invocation (each loads and parses its service model)."""
    from collections import Counter

    import botocore.session

    created: Counter = Counter()
    seconds = {"total": 0.0}
    original = botocore.session.Session.create_client

    def create_client(self, service_name, *args, **kwargs):
        began = time.perf_counter()
        try:
            return original(self, service_name, *args, **kwargs)
        finally:
            created[service_name] += 1
            seconds["total"] += time.perf_counter() - began

    botocore.session.Session.create_client = create_client
    return {"by_service": created, "seconds": seconds}


def child(handler_path: str, event: dict, trace: bool, fake_today: str | None) -> None:
    import importlib
    import tracemalloc

    rss_start = proc_status_kb("VmHWM")
    module_name, function_name = handler_path.split(":")
    handler = getattr(importlib.import_module(module_name), function_name)
    from pump_local.embedded_aws import FakeLambdaContext

    if fake_today:  # the simulator's clock, so "today" agrees with the parent's data
        from datetime import UTC, datetime

        import pump_anthropic.logic.sync as sync_module

        now = datetime.fromisoformat(fake_today).replace(tzinfo=UTC)
        sync_module.utc_now = lambda: now
    rss_import = proc_status_kb("VmRSS")
    clients = count_client_creation()
    if trace:
        tracemalloc.start()
    began, cpu = time.perf_counter(), time.process_time()
    result = handler(event, FakeLambdaContext(function_name))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    rss_end = proc_status_kb("VmHWM")
    print(
        json.dumps(
            {
                "rss_start_kb": rss_start,
                "rss_after_import_kb": rss_import,
                "rss_peak_kb": rss_end,
                "tracemalloc_peak_bytes": peak,
                "wall": wall,
                "cpu": cpu,
                "clients_created": clients,
                "result": result,
            },
            default=str,
        )
    )


def run_child(handler: str, event: dict, env: dict, *, trace: bool, fake_today: str | None = None) -> dict:
    command = [sys.executable, __file__, "--child", handler, "--event", json.dumps(event)]
    if trace:
        command.append("--trace")
    if fake_today:
        command += ["--today", fake_today]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"child {handler} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- parent


def setup_aws() -> None:
    import boto3

    from pump_anthropic import wiring
    from pump_anthropic.dal import table

    wiring.bind_storage()
    table.create_table()
    os.environ["KMS_KEY_ID"] = boto3.client("kms").create_key(Description="bench")["KeyMetadata"]["Arn"]
    wiring.settings.cache_clear()
    wiring.secret_store.cache_clear()


def new_connection(admin_key: str, number: int) -> tuple[str, int]:
    """A fresh connection per child, so every measured invocation writes into empty partitions."""
    from pydantic import SecretStr

    from pump_anthropic import wiring
    from pump_anthropic.dal import connections as stored_connections
    from pump_anthropic.logic.connections import connection_id_for

    connection_id = connection_id_for(TENANT, f"bench-org-{number}")
    secret_id = wiring.secret_store().put(connection_id, SecretStr(admin_key), tags={})
    record, _ = stored_connections.register_connection(
        tenant_id=TENANT,
        connection_id=connection_id,
        organization_id=f"bench-org-{number}",
        organization_name="Bench org",
        key_hint="sk-ant-admin01-…bench",
        secret_id=secret_id,
    )
    return connection_id, record.backfill_run


def chunk_event(admin_key: str, number: int, start: date, end: date) -> dict:
    connection_id, run = new_connection(admin_key, number)
    return {
        "tenant_id": TENANT,
        "connection_id": connection_id,
        "run": run,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


def sync_event(admin_key: str, number: int, cursor: date) -> dict:
    """An active connection whose sync cursor is at `cursor` (its backfill is not needed for the sync to run)."""
    from pump_anthropic.dal import connections as stored_connections
    from pump_anthropic.dal import cost_days

    connection_id, run = new_connection(admin_key, number)
    stored_connections.finish_backfill(
        TENANT, connection_id, run=run, status="active", error_code=None, error_message=None
    )
    cost_days.advance_sync_cursor(TENANT, connection_id, cursor)
    return sqs_event(connection_id)


def measure(label: str, handler: str, make_event, env: dict, fake_today: str | None = None) -> dict:
    from pump_anthropic.dal import connections as stored_connections

    event = make_event(1)
    rss = run_child(handler, event, env, trace=False, fake_today=fake_today)
    connection = stored_connections.get_connection(TENANT, event.get("connection_id") or _sqs_connection(event))
    rss["last_sync"] = connection.last_sync if connection else None
    traced = run_child(handler, make_event(2), env, trace=True, fake_today=fake_today)
    return {"label": label, "handler": handler, "event": event, "rss_run": rss, "traced_run": traced}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--event", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--today", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(args.event), args.trace, args.today)
        return

    import logging

    from moto.server import ThreadedMotoServer

    from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
    from pump_anthropic.domain.calendar import monthly_chunks

    now = start_of_hour(11)
    today = now.date()
    spec = org_spec(args.quick)
    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    started = time.perf_counter()
    catch_up = 30
    try:
        with Simulator(spec, latency_s=0.0, now=lambda: now) as sim:
            endpoint = f"http://127.0.0.1:{port}"
            os.environ.update(
                ENV | {"AWS_ENDPOINT_URL": endpoint, "DYNAMODB_ENDPOINT_URL": endpoint, "ANTHROPIC_API_URL": sim.url}
            )
            setup_aws()
            env = dict(os.environ) | {"PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'shared'}"}
            start, end = monthly_chunks(today - timedelta(days=364), today)[-2]  # the last full month
            measurements = [
                measure(
                    f"backfill chunk {start:%Y-%m} (full month)",
                    "functions.backfill.app:chunk_handler",
                    lambda n: chunk_event(DEMO_ADMIN_KEY, n, start, end),
                    env,
                ),
                measure(
                    f"sync after {catch_up} missed days",
                    "functions.sync.app:lambda_handler",
                    lambda n: sync_event(DEMO_ADMIN_KEY, 10 + n, today - timedelta(days=catch_up)),
                    env,
                    fake_today=now.replace(tzinfo=None).isoformat(),
                ),
            ]
    finally:
        server.stop()
    rows = rows_for(measurements)
    write_json(
        args.json,
        {
            "script": "function_memory",
            "quick": args.quick,
            "machine": machine(),
            "seconds": time.perf_counter() - started,
            "measurements": measurements,
            "rows": rows_to_dicts(rows),
        },
    )


def _sqs_connection(event: dict) -> str:
    return json.loads(event["Records"][0]["body"])["connection_id"]


def sqs_event(connection_id: str) -> dict:
    body = json.dumps({"tenant_id": TENANT, "connection_id": connection_id})
    return {
        "Records": [
            {
                "messageId": "bench-1",
                "receiptHandle": "bench",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:pump-anthropic-sync",
                "awsRegion": "us-east-1",
            }
        ]
    }


def rows_for(measurements: list[dict]) -> list[Row]:
    rows = []
    for m in measurements:
        rss, traced = m["rss_run"], m["traced_run"]
        written = (rss["result"] or {}).get("items_written")
        if written is None:
            written = (rss.get("last_sync") or {}).get("items_written", "?")
        rows.append(
            Row(
                "memory",
                f"{m['label']}: peak RSS (VmHWM)",
                f"{rss['rss_peak_kb'] / 1024:.0f} MB",
                f"{rss['rss_after_import_kb'] / 1024:.0f} MB after import; invocation {fmt_s(rss['wall'])}, "
                f"{written} items written",
            )
        )
        clients = rss.get("clients_created") or {}
        by_service = ", ".join(f"{n} {name}" for name, n in sorted(clients.get("by_service", {}).items()))
        rows.append(
            Row(
                "cold start",
                f"{m['label']}: AWS SDK clients built on the first invocation",
                f"{sum(clients.get('by_service', {}).values())}",
                f"{by_service}; {fmt_s(clients.get('seconds', {}).get('total', 0.0))} building them here "
                "(PynamoDB builds its own botocore session and client per model connection)",
            )
        )
        rows.append(
            Row(
                "memory",
                f"{m['label']}: Python heap peak (tracemalloc)",
                f"{traced['tracemalloc_peak_bytes'] / 2**20:.0f} MB",
                "around the invocation only",
            )
        )
    return rows


if __name__ == "__main__":
    main()
