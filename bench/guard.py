"""The spend guard's cost and quality (issue 25): what it adds to an hourly sync in Anthropic requests and CPU, and
how many false `spend_anomaly` and `price_change` alerts it raises over 90 days of the simulator's normal traffic.

    .venv/bin/python bench/guard.py [--quick] [--json out.json]

Large org (25 workspaces, 200 API keys, 12 models; --quick: the demo org), backfilled once through the real state
machine with the simulator's exact analytics amounts. Then: the first sync (it does the daily work: the analytics
re-read, the audit and the spend-limit read) and a quiet hourly sync, each with its Anthropic requests; the
guard's own check of the connection (budgets, the anomaly rule over 29 days of keys, workspaces and people, key
alerts, spend-limit headroom) timed on its own, modelled on AWS at the sync function's 256 MB (own CPU × 1,769 /
256); the anomaly rule backtested over the 90 days before today, each day judged once complete; and the price
change rule over the same days (the simulator's prices never change, so every one raised is false).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, org_spec, write_json  # noqa: E402

SYNC_MEMORY_MB = 256  # template.yaml Globals: the sync function's memory
FULL_CPU_MB = 1769  # Lambda gives one full vCPU at this memory
BACKTEST_DAYS = 90


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
        simulator = resources.enter_context(
            Simulator(spec, admin_key=DEMO_ADMIN_KEY, analytics=AnalyticsSettings(amount_decimals=None))
        )
        aws = resources.enter_context(LocalAws(simulator.url))
        api = LocalApi()
        started = time.monotonic()
        connection = connect_and_backfill(api, DEMO_ADMIN_KEY, timeout=3600)
        connection_id = connection["id"]
        rows.append({"what": "backfill (365 days)", "figure": f"{time.monotonic() - started:.0f} s wall"})
        for label in ("first sync (daily work: re-read, audit, spend limits)", "quiet hourly sync"):
            aws.fire_sync_schedule()
            aws.drain_sync_queue()
            record = api.request("GET", f"/integrations/anthropic/{connection_id}").json()
            rows.append(
                {"what": f"{label}: Anthropic requests", "figure": str(record["last_sync"]["anthropic_requests"])}
            )
        spend_limits = api.request("GET", f"/integrations/anthropic/{connection_id}").json()["spend_limits"]
        rows.append({"what": "spend limits read", "figure": f"{spend_limits['status']}, {len(spend_limits['limits'])}"})

        cpu = time.process_time()
        outcome = guard.check_connection("local", connection_id, lambda tenant, found: [a["id"] for a in found])
        check_cpu = time.process_time() - cpu
        rows.append({"what": "guard check: own CPU here", "figure": f"{check_cpu:.2f} s"})
        rows.append({"what": f"guard check: modelled at {SYNC_MEMORY_MB} MB",
                     "figure": f"{check_cpu * FULL_CPU_MB / SYNC_MEMORY_MB:.1f} s"})  # fmt: skip
        rows.append(
            {"what": "guard check: alerts raised now (limits at simulator defaults)", "figure": str(outcome.raised)}
        )

        today = date.today()
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
