"""CPU per cost line of one backfill chunk (issue 22, item 4): where a month of the large org's backfill spends
our CPU, measured apart from the simulator and from moto.

    .venv/bin/python bench/chunk_cpu.py [--month 2026-10] [--profile] [--json out.json]

The simulator runs in its own process (`pump-anthropic simulate`, the large org, no added latency), so this
process's thread CPU is the connector's alone; moto's share of the store is taken out with the AWS meter. One month
is pulled twice (the first warms the connections and imports), then the second is measured in its three steps, as
`logic/backfill.run_chunk` runs them: pull (requests, JSON, the page models, normalizing and per-key lines),
encode (each day's document), store (diff-write to a connection with nothing stored yet, and the month's summary).
A "line" is a stored line: a day's cost line (`LINES`) or its billed line by key, actor and product (`WHO`).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import LARGE_ORG, QUICK_ORG, AwsMeter, Row, machine, rows_to_dicts, write_json  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_simulator(port: int, org: dict) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).parent / "pump-anthropic"), "simulate", "--seed", "7", "--days", "400",
        "--workspaces", str(org["workspaces"]), "--api-keys", str(org["api_keys"]), "--port", str(port),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # serving once its port takes a connection
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the simulator stopped: {process.stdout.read()}") from None
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the simulator did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--month", default=None, help="YYYY-MM (default: the last whole month)")
    parser.add_argument("--quick", action="store_true", help="a small org (a smoke run)")
    parser.add_argument("--profile", action="store_true", help="print the pull's 30 costliest functions")
    parser.add_argument("--json", help="write the figures here (default: print them)")
    args = parser.parse_args()

    from pydantic import SecretStr

    from anthropic_simulator import DEMO_ADMIN_KEY
    from pump_anthropic import wiring
    from pump_anthropic.domain import day_docs
    from pump_anthropic.domain.calendar import month_bounds
    from pump_anthropic.logic import sources
    from pump_anthropic.logic.storage import dynamodb_storage
    from pump_local.embedded_aws import LocalAws

    today = date.today()
    first = date.fromisoformat(f"{args.month}-01") if args.month else (today.replace(day=1) - timedelta(days=1))
    first, last = month_bounds(first.replace(day=1))
    port = _free_port()
    org = QUICK_ORG if args.quick else LARGE_ORG
    simulator = _start_simulator(port, org)
    meter = AwsMeter()
    restore = meter.install()
    try:
        with LocalAws(f"http://127.0.0.1:{port}", run_exports=False):
            wiring.bind_storage()
            storage = dynamodb_storage()
            tenant, connection_id = "bench", "conn_chunkcpu000000000"
            factory = partial(wiring.admin_client, connection_id=connection_id)

            def pull():
                return sources.pull_connection_days(
                    storage, tenant, connection_id, SecretStr(DEMO_ADMIN_KEY), factory, None, first,
                    last + timedelta(days=1), source=sources.AUTO,
                )  # fmt: skip

            pull()  # warm: imports, connections, the simulator's caches
            steps = {}
            profiler = cProfile.Profile(time.thread_time) if args.profile else None  # thread CPU, not wall
            with meter.request_cost() as cost:
                if profiler:
                    profiler.enable()
                pulled = pull()
                if profiler:
                    profiler.disable()
            steps["pull"] = cost
            with meter.request_cost() as cost:
                for day, projections in pulled.days.items():
                    day_docs.encode_day(day, projections)
            steps["encode"] = cost
            with meter.request_cost() as cost:
                figures = storage.costs.store_days(tenant, connection_id, first, last, pulled.days)
            steps["store"] = cost
    finally:
        restore()
        simulator.terminate()
        simulator.wait(timeout=30)
    lines = {kind: sum(len(day.get(kind, [])) for day in pulled.days.values()) for kind in (day_docs.LINES, "WHO")}
    total_lines = sum(lines.values())
    own = {name: cost.own_cpu for name, cost in steps.items()}
    payload = {
        "script": "chunk_cpu",
        "machine": machine(),
        "month": first.strftime("%Y-%m"),
        "days": len(pulled.days),
        "days_written": figures.written,
        "anthropic_requests": pulled.anthropic_requests,
        "lines": lines,
        "own_cpu": own,
        "us_per_line": {name: seconds * 1e6 / total_lines for name, seconds in own.items()},
        "us_per_line_total": sum(own.values()) * 1e6 / total_lines,
    }
    per_line = payload["us_per_line"]
    payload["rows"] = rows_to_dicts(
        [
            Row(
                "backfill",
                f"CPU per stored line, one month ({payload['month']}, {org['workspaces']} workspaces, "
                f"{org['api_keys']} keys)",
                f"{payload['us_per_line_total']:.1f} µs",
                f"{total_lines:,} lines; pull {per_line['pull']:.1f} µs, encode {per_line['encode']:.1f} µs, "
                f"store {per_line['store']:.1f} µs (own CPU, simulator and moto left out)",
                "4× lower than 147 µs (2026-10, 2026-12-08)",
            )
        ]
    )
    if args.json:
        write_json(args.json, payload)
    else:
        print(f"{payload['month']}: {payload['days']} days, {total_lines:,} lines {lines}, "
              f"{pulled.anthropic_requests} Anthropic requests")  # fmt: skip
        for name, seconds in own.items():
            print(f"  {name:7} own CPU {seconds:6.2f} s  {payload['us_per_line'][name]:6.1f} µs per line")
        print(f"  total   own CPU {sum(own.values()):6.2f} s  {payload['us_per_line_total']:6.1f} µs per line")
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
        print(text.getvalue())


if __name__ == "__main__":
    main()
