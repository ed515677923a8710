"""The spend guard's cost and quality (issue 25): what it adds to an hourly sync in Anthropic requests and CPU, and
how many false `spend_anomaly` and `price_change` alerts it raises over 90 days of the simulator's normal traffic.

    .venv/bin/python bench/guard.py [--quick] [--json out.json]

Large org (25 workspaces, 200 API keys, 12 models; --quick: the demo org), backfilled once through the real state
machine with the simulator's exact analytics amounts. Then: the first sync (it does the daily work: the analytics
re-read, the audit and the spend-limit read) and a quiet hourly sync, each with its Anthropic requests, its own
CPU (the sync function's thread: the simulator's server thread left out, the embedded DynamoDB in) and the CPU of
the guard's check inside it (budgets, the anomaly rule over 29 days of keys, workspaces and people, key alerts,
spend-limit headroom, price changes), with how many stored days the check folded (the first check folds the
window's 30; a later one only the days the sync changed since). Then the check timed on its own three ways: with
no kept spend days (the first check after a deploy), with today and the 3 days the hourly sync re-reads changed,
and with nothing changed; each modelled on AWS at the sync function's memory (own CPU × 1,769 / MB). Then the
anomaly rule backtested over the 90 days before today, each day judged once complete, and the price change rule
over the same days (the simulator's prices never change, so every one raised is false).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import ExitStack
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import LATENCY_S, MAP_CONCURRENCY, machine, org_spec, write_json  # noqa: E402

SYNC_MEMORY_MB = 512  # template.yaml: the sync function's own MemorySize (256 MB before; Globals)
FULL_CPU_MB = 1769  # Lambda gives one full vCPU at this memory
BACKTEST_DAYS = 90
REPEATS = 3  # each standalone check is timed this many times (the machine is shared): the median is shown
RE_READ_DAYS = 3  # the days before today the hourly sync re-reads (logic/guard.py PRICE_CHANGE_DAYS)


def modelled(cpu_s: float, memory_mb: int = SYNC_MEMORY_MB) -> str:
    return f"{cpu_s * FULL_CPU_MB / memory_mb:.2f} s at {memory_mb} MB, {cpu_s * FULL_CPU_MB / 256:.2f} s at 256 MB"


class CheckMeter:
    """Times the guard's check wherever it runs (the sync function calls `guard.check_connection`), counts the
    stored days it folds, and the part of its CPU spent in AWS SDK calls (the embedded DynamoDB, moto, runs in the
    calling thread: on AWS that work is DynamoDB's, not the function's)."""

    def __init__(self) -> None:
        from botocore.client import BaseClient

        from pump_anthropic.domain import spend_days
        from pump_anthropic.logic import guard, guard_spend

        self.cpu, self.sdk, self.folded, self._inside = 0.0, 0.0, 0, 0
        original_check, original_fold, original_call = (
            guard.check_connection,
            spend_days.fold_day,
            BaseClient._make_api_call,
        )

        def check(*args, **kwargs):
            started, self._inside = time.thread_time(), self._inside + 1
            try:
                return original_check(*args, **kwargs)
            finally:
                self.cpu, self._inside = self.cpu + time.thread_time() - started, self._inside - 1

        def fold(*args, **kwargs):
            self.folded += 1
            return original_fold(*args, **kwargs)

        def call(client, operation, params):
            if not self._inside:
                return original_call(client, operation, params)
            started, self._inside = time.thread_time(), 0  # nested SDK calls counted once
            try:
                return original_call(client, operation, params)
            finally:
                self.sdk, self._inside = self.sdk + time.thread_time() - started, 1

        guard.check_connection, guard_spend.spend_days.fold_day, BaseClient._make_api_call = check, fold, call

    def take(self) -> tuple[float, float, int]:
        figures, self.cpu, self.sdk, self.folded = (self.cpu, self.sdk, self.folded), 0.0, 0.0, 0
        return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the demo org instead of the large one")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    from anthropic_simulator import DEMO_ADMIN_KEY, OrgSpec, Simulator
    from anthropic_simulator.analytics_settings import AnalyticsSettings
    from pump_anthropic.domain import alerts
    from pump_anthropic.logic import guard
    from pump_local.embedded_aws import LocalAws
    from pump_local.http_api import LocalApi
    from pump_local.runner import connect_and_backfill

    spec = OrgSpec() if args.quick else org_spec(quick=False)
    rows: list[dict] = []
    with ExitStack() as resources:
        # As the reads bench runs the large org: Anthropic's round trip simulated, and the template's MaxConcurrency,
        # so four chunks' requests do not starve the simulator serving them in this same process.
        simulator = resources.enter_context(
            Simulator(
                spec,
                admin_key=DEMO_ADMIN_KEY,
                analytics=AnalyticsSettings(amount_decimals=None),
                latency_s=0 if args.quick else LATENCY_S,
            )
        )
        aws = resources.enter_context(LocalAws(simulator.url, max_concurrency=MAP_CONCURRENCY))
        api = LocalApi()
        started = time.monotonic()
        connection = connect_and_backfill(api, DEMO_ADMIN_KEY, timeout=3600)
        connection_id = connection["id"]
        if connection["status"] != "active":
            backfill = connection.get("backfill") or {}
            raise SystemExit(
                f"The backfill ended {connection['status']}, not active ({backfill.get('chunks_failed')} of "
                f"{backfill.get('chunks_total')} months failed: {connection.get('last_error')}); the guard's figures "
                "need a complete year, so none are taken."
            )
        rows.append({"what": "backfill (365 days)", "figure": f"{time.monotonic() - started:.0f} s wall"})
        meter = CheckMeter()
        for label in ("first sync (daily work: re-read, audit, spend limits)", "quiet hourly sync"):
            aws.fire_sync_schedule()
            cpu = time.thread_time()
            aws.drain_sync_queue()
            sync_cpu = time.thread_time() - cpu
            check_cpu, sdk_cpu, folded = meter.take()
            record = api.request("GET", f"/integrations/anthropic/{connection_id}").json()
            if not record.get("last_sync"):
                status, error = record["status"], record.get("last_error")
                raise SystemExit(f"The {label} recorded no sync (connection {status}: {error}).")
            rows.append(
                {"what": f"{label}: Anthropic requests", "figure": str(record["last_sync"]["anthropic_requests"])}
            )
            rows.append(
                {
                    "what": f"{label}: own CPU here (the guard's check included)",
                    "figure": f"{sync_cpu:.2f} s; modelled {modelled(sync_cpu)}",
                }
            )
            rows.append(
                {
                    "what": f"{label}: the guard's check in it, own CPU here",
                    "figure": f"{check_cpu:.2f} s ({folded} days folded; {sdk_cpu:.2f} s of it in moto); "
                    f"modelled {modelled(check_cpu)}",
                }
            )
        spend_limits = api.request("GET", f"/integrations/anthropic/{connection_id}").json()["spend_limits"]
        rows.append({"what": "spend limits read", "figure": f"{spend_limits['status']}, {len(spend_limits['limits'])}"})

        from pump_anthropic.logic.storage import dynamodb_storage

        storage, today = dynamodb_storage(), date.today()
        kept = storage.guard.spend_days("local", connection_id)
        rows.append(
            {"what": "kept spend days (items, bytes)", "figure": f"{len(kept)}, {sum(map(len, kept.values())):,}"}
        )
        changed = [today - timedelta(days=n) for n in range(RE_READ_DAYS + 1)]
        for label, dropped in (
            ("no kept spend days (first check)", list(kept)),
            (f"today + {RE_READ_DAYS} re-read days changed", changed),
            ("nothing changed", []),
        ):
            runs = []
            for _ in range(REPEATS):
                storage.guard.keep_spend_days("local", connection_id, {}, dropped)
                cpu = time.process_time()
                outcome = guard.check_connection("local", connection_id, lambda tenant, found: [a["id"] for a in found])
                runs.append(time.process_time() - cpu)
            check_cpu, (_, sdk_cpu, folded) = statistics.median(runs), meter.take()
            each = "/".join(f"{r:.2f}" for r in runs)
            rows.append(
                {
                    "what": f"guard check alone, {label}: own CPU here (median of {REPEATS})",
                    "figure": f"{check_cpu:.2f} s ({folded // REPEATS} days folded; runs {each} s; moto "
                    f"{sdk_cpu / REPEATS:.2f} s a run); "
                    f"modelled {modelled(check_cpu)}",
                }
            )
        rows.append(
            {"what": "guard check: alerts raised now (limits at simulator defaults)", "figure": str(outcome.raised)}
        )

        rules = alerts.AlertRules()
        history = guard.spend_history(
            "local", connection_id, today - timedelta(days=BACKTEST_DAYS + rules.baseline_days + 1), today
        )
        found = alerts.anomalies_over(
            connection_id, history, today - timedelta(days=BACKTEST_DAYS), today - timedelta(days=1), rules
        )
        rows.append({"what": "scopes watched (keys, workspaces, people)", "figure": str(len(history))})
        rows.append({"what": f"false spend_anomaly alerts over {BACKTEST_DAYS} days", "figure": str(len(found))})
        worst = 0.0
        for spend in history:
            for n in range(1, BACKTEST_DAYS + 1):
                day = today - timedelta(days=n)
                base = [spend.daily.get(day - timedelta(days=k), Decimal(0)) for k in range(1, rules.baseline_days + 1)]
                peak, value = max(base), spend.daily.get(day, Decimal(0))
                if peak and value - alerts.median(base) >= rules.min_excess_usd:
                    worst = max(worst, float(value / peak))
        rows.append({"what": "highest day / busiest baseline day (over the $ floor)", "figure": f"{worst:.2f}×"})
        changes = guard.price_changes_over("local", connection_id, today - timedelta(days=BACKTEST_DAYS), today)
        rows.append({"what": f"false price_change alerts over {BACKTEST_DAYS} days", "figure": str(len(changes))})

    print(f"Spend guard, {'demo' if args.quick else 'large'} org ({machine()['cpu']}):")
    width = max(len(r["what"]) for r in rows)
    print("\n".join(f"  {r['what']:<{width}}  {r['figure']}" for r in rows))
    if args.json:
        write_json(args.json, {"machine": machine(), "quick": args.quick, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
