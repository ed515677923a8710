"""`pump-anthropic`: simulate, serve, run, report."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import timedelta
from urllib.parse import urlencode

from pump_anthropic.domain.export import safe_text
from pump_local.summary import render_summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return args.command(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pump-anthropic", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    simulate = commands.add_parser("simulate", help="run the Anthropic Admin API simulator on localhost")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8765)
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--admin-key", help="the one Admin key it accepts (default: the printed demo key)")
    simulate.add_argument("--days", type=int, default=400, help="days of history")
    simulate.add_argument("--workspaces", type=int, default=3)
    simulate.add_argument("--api-keys", type=int, default=6)
    simulate.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    simulate.add_argument("--fault-rate", type=float, default=0.0, help="share of requests given a random fault")
    simulate.add_argument("--restate-days", type=int, default=0)
    simulate.set_defaults(command=_simulate)

    serve = commands.add_parser("serve", help="run the whole stack locally with its HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--anthropic-url", help="Admin API base URL (default: the bundled simulator)")
    serve.add_argument(
        "--sync-every", type=float, default=3600.0, help="seconds between scheduled syncs (moto never fires schedules)"
    )
    serve.set_defaults(command=_serve)

    run = commands.add_parser("run", help="connect → backfill → report in one process, then exit")
    run.add_argument("--anthropic-url", help="Admin API base URL (default: the bundled simulator)")
    run.add_argument("--admin-key", help="Admin key (default: the simulator's demo key)")
    run.add_argument("--json", action="store_true", help="print exactly the GET /costs body of the backfilled range")
    run.add_argument("--max-concurrency", type=int, default=4, help="backfill Map concurrency")
    run.set_defaults(command=_run)

    report = commands.add_parser("report", help="print a spend summary from a running `serve`")
    report.add_argument("--api-url", default="http://127.0.0.1:8080")
    report.add_argument("--tenant", default="local")
    report.add_argument("--from", dest="from_", help="first day, YYYY-MM-DD (default: 365 days ago)")
    report.add_argument("--to", help="last day, YYYY-MM-DD (default: today)")
    report.add_argument("--group-by", default="date,workspace_id,model", help="comma list, as GET /costs takes it")
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the GET /costs body")
    output.add_argument("--csv", action="store_true", help="print the GET /costs rows as CSV")
    output.add_argument("--focus", action="store_true", help="print the FOCUS 1.2 export (GET /costs/export)")
    report.set_defaults(command=_report)
    return parser


def _simulate(args: argparse.Namespace) -> int:
    from anthropic_simulator import DEMO_ADMIN_KEY, serve_forever

    serve_forever(
        args.host,
        args.port,
        seed=args.seed,
        admin_key=args.admin_key or DEMO_ADMIN_KEY,
        latency_s=args.latency,
        fault_rate=args.fault_rate,
        restate_days=args.restate_days,
        days=args.days,
        workspaces=args.workspaces,
        api_keys=args.api_keys,
    )
    return 0


@contextlib.contextmanager
def _anthropic(
    url: str | None, admin_key: str | None, *, key_required: bool = True
) -> Iterator[tuple[str, str | None]]:
    """The given Admin API, or the bundled simulator on a free port (with its demo key)."""
    if url:
        if key_required and not admin_key:
            raise SystemExit("--admin-key is required with --anthropic-url")
        yield url, admin_key
        return
    from anthropic_simulator import DEMO_ADMIN_KEY, OrgSpec, Simulator

    with Simulator(spec=OrgSpec(), admin_key=admin_key or DEMO_ADMIN_KEY) as simulator:
        yield simulator.url, admin_key or DEMO_ADMIN_KEY


def _progress_bar(done: int, total: int, status: str) -> None:
    width = 30
    filled = int(width * done / total) if total else 0
    sys.stderr.write(f"\rbackfill [{'#' * filled}{'.' * (width - filled)}] {done}/{total} months  {status:<12}")
    sys.stderr.flush()


def _run(args: argparse.Namespace) -> int:
    from pump_local.runner import RunError, run_pipeline

    with _anthropic(args.anthropic_url, args.admin_key) as (url, key):
        try:
            result = run_pipeline(
                url, key, progress=None if args.json else _progress_bar, max_concurrency=args.max_concurrency
            )
        except RunError as exc:
            print(json.dumps({"error": {"code": exc.code, "message": exc.message}}), file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(result.report, indent=2))
        return 0 if result.connection["status"] == "active" else 1
    sys.stderr.write("\n")
    print(render_summary(result.connection, result.report, seconds=result.seconds))
    return 0 if result.connection["status"] == "active" else 1


def _serve(args: argparse.Namespace) -> int:
    from pump_local.embedded_aws import LocalAws, LocalScheduler
    from pump_local.http_api import LocalApi, make_http_server
    from pump_local.static_files import static_asset

    with _anthropic(args.anthropic_url, None, key_required=False) as (url, key), LocalAws(url) as aws:
        scheduler = LocalScheduler(aws, sync_every=args.sync_every)
        scheduler.start()
        server = make_http_server(LocalApi(), args.host, args.port, static=static_asset)
        print(f"Pump (local) on http://{args.host}:{server.server_address[1]}/  — Anthropic at {url}")
        if key:
            print(f"Connect with the simulator's demo Admin key: {key}")
        print("Tenant: header X-Pump-Tenant (default 'local'). Ctrl-C to stop.", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            scheduler.stop()
            server.server_close()
    return 0


def _report(args: argparse.Namespace) -> int:
    import requests

    from pump_anthropic.clock import utc_now

    today = utc_now().date()
    first = args.from_ or (today - timedelta(days=364)).isoformat()
    last = args.to or today.isoformat()
    headers = {"X-Pump-Tenant": args.tenant}

    def get(path: str, **params: str) -> requests.Response:
        response = requests.get(f"{args.api_url}{path}?{urlencode(params)}", headers=headers, timeout=60)
        if response.status_code != 200:
            error = response.json()["error"]
            raise SystemExit(f"{error['code']}: {error['message']}")
        return response

    if args.focus:
        sys.stdout.write(get("/costs/export", **{"from": first, "to": last, "format": "focus"}).text)
        return 0
    report = get("/costs", **{"from": first, "to": last, "group_by": args.group_by}).json()
    if args.json:
        print(json.dumps(report, indent=2))
    elif args.csv:
        _print_csv(report)
    else:
        summary = get("/costs", **{"from": first, "to": last, "group_by": "date,workspace_id,model"}).json()
        connections = get("/integrations/anthropic").json()["connections"]
        for connection in connections:
            print(render_summary(connection, summary, seconds=None))
        if not connections:
            print("No Anthropic connection yet.")
    return 0


def _print_csv(report: dict) -> None:
    writer = csv.writer(sys.stdout)
    columns = [
        *report["group_by"],
        *(["workspace_name"] if "workspace_id" in report["group_by"] else []),
        "cost_usd",
        "tokens",
        "tokens_cost_unknown",
    ]
    writer.writerow(columns)
    for row in report["rows"]:
        unknown = (row.get("cost_unknown") or {}).get("tokens", 0)
        cells = [row.get(c) for c in columns[:-1]]
        writer.writerow([*(safe_text(c) if isinstance(c, str) else c for c in cells), unknown])


if __name__ == "__main__":
    sys.exit(main())
