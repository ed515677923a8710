"""`pump-anthropic`: simulate, serve, run, report."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import IO, Any
from urllib.parse import urlencode, urljoin, urlsplit

from pump_local import alerts_cli, reconcile_cli
from pump_local.api_client import answer
from pump_local.summary import render_summary

SOURCE_ARGUMENT = {
    "choices": ["auto", "legacy", "analytics"],
    "default": "auto",
    "help": "where cost comes from: auto (the analytics API from 2026-01-01, the legacy reports before), or one only",
}


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
    simulate.add_argument(
        "--runaway-key",
        type=_runaway,
        metavar="USD_PER_HOUR[:HOURS]",
        help="an existing key spends this much per hour for HOURS (default 3) whole hours up to the newest reported",
    )
    simulate.add_argument("--new-key-spend", type=_usd, metavar="USD", help="a key made in the last hour spends this")
    simulate.add_argument("--archived-key-spend", type=_usd, metavar="USD", help="an archived key spends this today")
    limits = simulate.add_mutually_exclusive_group()
    limits.add_argument("--spend-limit", type=_usd, metavar="USD", help="the organization's monthly spend limit")
    limits.add_argument(
        "--spend-limits-refused", action="store_true", help="the Spend Limits endpoints refuse (not enabled)"
    )
    simulate.set_defaults(command=_simulate)

    serve = commands.add_parser("serve", help="run the whole stack locally with its HTTP API")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others can reach any other)"
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="also answer requests addressed to this host name (repeatable; default: localhost, 127.0.0.1, [::1] "
        "and the --host address, on the server's port; others get 421, a defence against DNS rebinding)",
    )
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--anthropic-url", help="Admin API base URL (default: the bundled simulator)")
    serve.add_argument("--source", **SOURCE_ARGUMENT)
    serve.add_argument(
        "--sync-every", type=float, default=3600.0, help="seconds between scheduled syncs (moto never fires schedules)"
    )
    serve.set_defaults(command=_serve)

    run = commands.add_parser("run", help="connect → backfill → report in one process, then exit")
    run.add_argument("--anthropic-url", help="Admin API base URL (default: the bundled simulator)")
    run.add_argument("--admin-key", help="Admin key (default: the simulator's demo key)")
    run.add_argument("--json", action="store_true", help="print exactly the GET /costs body of the backfilled range")
    run.add_argument("--max-concurrency", type=int, default=4, help="backfill Map concurrency")
    run.add_argument("--source", **SOURCE_ARGUMENT)
    run.set_defaults(command=_run)

    report = commands.add_parser("report", help="print a spend summary from a running `serve`")
    report.add_argument("--api-url", default="http://127.0.0.1:8080")
    report.add_argument("--tenant", default="local")
    report.add_argument("--from", dest="from_", help="first day, YYYY-MM-DD (default: 365 days ago)")
    report.add_argument("--to", help="last day, YYYY-MM-DD (default: today)")
    report.add_argument("--group-by", default="date,workspace_id,model", help="comma list, as GET /costs takes it")
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the GET /costs body (every page)")
    output.add_argument("--csv", action="store_true", help="export the cost report's rows as CSV (POST /costs/exports)")
    output.add_argument("--focus", action="store_true", help="export the FOCUS 1.2 CSV (POST /costs/exports)")
    report.add_argument("--allocation", choices=["api_key"], help="with --focus: one row per API key's share")
    report.add_argument("--gzip", action="store_true", help="with --csv or --focus: a gzip-compressed file")
    report.add_argument("--out", help="with --csv or --focus: write the file here (default: stdout)")
    reconcile_cli.add_arguments(report)
    report.set_defaults(command=_report)
    alerts_cli.add_parser(commands)
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
        scenario=_scenario(args),
    )
    return 0


def _scenario(args: argparse.Namespace) -> Any:
    """The `SpendScenario` of `simulate`'s scenario flags."""
    from anthropic_simulator import SpendScenario

    runaway_usd, runaway_hours = args.runaway_key or (None, 3)
    return SpendScenario(
        runaway_usd_per_hour=runaway_usd,
        runaway_hours=runaway_hours,
        new_key_usd=args.new_key_spend,
        archived_key_usd=args.archived_key_spend,
        spend_limit_usd=args.spend_limit,
        spend_limits_refused=args.spend_limits_refused,
    )


def _usd(text: str) -> Decimal:
    """A `simulate` dollar amount: positive, whole cents (argparse reports anything else)."""
    from anthropic_simulator.scenarios import parse_usd

    try:
        return parse_usd(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _runaway(text: str) -> tuple[Decimal, int]:
    """`USD_PER_HOUR[:HOURS]` of `simulate --runaway-key`."""
    from anthropic_simulator.scenarios import MAX_RUNAWAY_HOURS

    usd, colon, hours = text.partition(":")
    if not colon:
        return _usd(usd), 3
    if not hours.isdigit() or not 1 <= int(hours) <= MAX_RUNAWAY_HOURS:
        raise argparse.ArgumentTypeError(f"HOURS must be a whole number in 1..{MAX_RUNAWAY_HOURS}: {hours!r}")
    return _usd(usd), int(hours)


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
                url,
                key,
                progress=None if args.json else _progress_bar,
                max_concurrency=args.max_concurrency,
                source=args.source,
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


def _print_alert_event(event: dict) -> None:
    """A spend alert as the embedded EventBridge delivered it, one JSON line (JSON escapes whatever an org's names
    hold, so nothing reaches the terminal as a control sequence)."""
    print(f"EventBridge event: {json.dumps(event, sort_keys=True)}", flush=True)


def _serve(args: argparse.Namespace) -> int:
    from pump_local.embedded_aws import LocalAws, LocalScheduler
    from pump_local.http_api import LocalApi, make_http_server
    from pump_local.static_files import static_asset

    anthropic = _anthropic(args.anthropic_url, None, key_required=False)
    with anthropic as (url, key), LocalAws(url, cost_source=args.source) as aws:
        scheduler = LocalScheduler(aws, sync_every=args.sync_every, on_alert_event=_print_alert_event)
        scheduler.start()
        server = make_http_server(
            LocalApi(), args.host, args.port, static=static_asset, allowed_hosts=args.allowed_host
        )
        port = server.server_address[1]
        shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        if ":" in shown_host and not shown_host.startswith("["):
            shown_host = f"[{shown_host}]"
        aws.serve_downloads_from(f"http://{shown_host}:{port}")
        warning = non_loopback_warning(args.host, port)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        print(f"Pump (local) on http://{shown_host}:{port}/  — Anthropic at {url}")
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


def non_loopback_warning(host: str, port: int) -> str | None:
    """The warning `serve --host` prints when the server is reachable from other machines (None on loopback)."""
    import ipaddress

    name = host.strip("[]")
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (
        f"WARNING: --host {host or '(all addresses)'} is not a loopback address: anyone who can reach this machine "
        f"on port {port} can use this server's API and dashboard without logging in (the tenant is just the "
        "X-Pump-Tenant header), including connecting Admin keys and reading their costs. Run it only on a network "
        "you trust. Requests addressed to other host names are refused (421) unless allowed with --allowed-host."
    )


def _report(args: argparse.Namespace) -> int:
    import requests

    from pump_anthropic.clock import utc_now

    today = utc_now().date()
    first = args.from_ or (today - timedelta(days=364)).isoformat()
    last = args.to or today.isoformat()
    session = requests.Session()
    session.headers["X-Pump-Tenant"] = args.tenant

    def get(path: str, **params: str) -> dict:
        return answer(session.get(f"{args.api_url}{path}?{urlencode(params)}", timeout=60))

    if args.reconcile or args.month:
        return reconcile_cli.run(args, session)
    if args.focus or args.csv:
        return _export(args, session, first, last)
    report = _cost_report(get, first, last, args.group_by)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        summary = _cost_report(get, first, last, "date,workspace_id,model")
        connections = get("/integrations/anthropic")["connections"]
        for connection in connections:
            print(render_summary(connection, summary, seconds=None))
        if not connections:
            print("No Anthropic connection yet.")
    return 0


def _cost_report(get: Any, first: str, last: str, group_by: str) -> dict:
    """GET /costs, every page: the rows of all pages in order (`total` is the whole range's on each page)."""
    params = {"from": first, "to": last, "group_by": group_by}
    report = get("/costs", **params)
    rows = list(report["rows"])
    page = report
    while page.get("has_more"):
        page = get("/costs", **params, page=page["next_page"])
        rows += page["rows"]
    report["rows"] = rows
    report.pop("has_more", None)
    report.pop("next_page", None)
    return report


def _export(args: argparse.Namespace, session: Any, first: str, last: str) -> int:
    """POST /costs/exports, follow the job with a progress bar on stderr, then download the whole file."""
    body: dict = {"from": first, "to": last, "format": "focus" if args.focus else "csv", "gzip": args.gzip}
    if args.focus and args.allocation:
        body["allocation"] = args.allocation
    if args.csv:
        body["group_by"] = args.group_by
    created = session.post(f"{args.api_url}/costs/exports", json=body, timeout=60)
    if created.status_code == 404:  # a stack without the export API: its one-response exports
        return _export_in_one_response(args, session, first, last)
    job = answer(created)
    while job["status"] in ("queued", "running"):
        _export_progress(job)
        time.sleep(0.5)
        job = answer(session.get(f"{args.api_url}/costs/exports/{job['id']}", timeout=60))
    _export_progress(job)
    sys.stderr.write("\n")
    if job["status"] != "ready":
        error = job.get("error") or {"code": "export_failed", "message": "The export did not finish."}
        print(f"{error['code']}: {error['message']}", file=sys.stderr)
        return 1
    url = urljoin(args.api_url.rstrip("/") + "/", job["download_url"])
    same_origin = urlsplit(url)[:2] == urlsplit(args.api_url)[:2]
    # A presigned URL carries its own authority; only our API gets the tenant header.
    download = session.get(url, stream=True, timeout=60) if same_origin else _plain_get(url)
    if download.status_code != 200:
        raise SystemExit(f"The download answered HTTP {download.status_code}; run the export again.")
    with open(args.out, "wb") if args.out else contextlib.nullcontext(sys.stdout.buffer) as out:
        digest = _copy(download, out)
    if digest != job["sha256"]:
        raise SystemExit("The downloaded file does not match the export's SHA-256; run the export again.")
    if args.out:
        print(f"{job['rows']} rows, {job['bytes']} bytes written to {args.out}", file=sys.stderr)
    return 0


def _export_in_one_response(args: argparse.Namespace, session: Any, first: str, last: str) -> int:
    def get(path: str, **params: str) -> dict:
        return answer(session.get(f"{args.api_url}{path}?{urlencode(params)}", timeout=60))

    with open(args.out, "w", newline="") if args.out else contextlib.nullcontext(sys.stdout) as out:
        if args.csv:
            _print_csv(_cost_report(get, first, last, args.group_by), out)
            return 0
        params = {
            "from": first,
            "to": last,
            "format": "focus",
            **({"allocation": "api_key"} if args.allocation else {}),
        }
        response = session.get(f"{args.api_url}/costs/export?{urlencode(params)}", timeout=60)
        if response.status_code != 200:
            answer(response)
        out.write(response.text)
    return 0


def _print_csv(report: dict, out: IO[str] | None = None) -> None:
    """The cost report's rows as CSV, written exactly as the csv export writes them."""
    from pump_anthropic.domain.report_csv import csv_line, report_csv_columns

    out = out or sys.stdout
    columns = report_csv_columns(report["group_by"])
    out.write(csv_line({c: c for c in columns}, columns))
    for row in report["rows"]:
        out.write(csv_line(row, columns))


def _plain_get(url: str) -> Any:
    import requests

    return requests.get(url, stream=True, timeout=60)


def _copy(download: Any, out: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in download.iter_content(chunk_size=1024 * 1024):
        digest.update(chunk)
        out.write(chunk)
    out.flush()
    return digest.hexdigest()


def _export_progress(job: dict) -> None:
    progress = job["progress"]
    done, total, width = progress["days_done"], progress["days_total"], 30
    filled = int(width * done / total) if total else 0
    sys.stderr.write(
        f"\rexport [{'#' * filled}{'.' * (width - filled)}] {done}/{total} days  {progress['rows']} rows  "
        f"{progress['bytes'] / 1_000_000:.1f} MB  {job['status']:<8}"
    )
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
