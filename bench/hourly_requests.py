"""What the hourly cost read adds to a quiet hourly sync, in Anthropic requests (issue 25: at most +2), hour by hour.

    .venv/bin/python bench/hourly_requests.py [--quick] [--json out.json]

Large org (25 workspaces, 200 API keys, 12 models; --quick: the demo org), the simulator's rounded analytics rows and
its 4-hour data lag, on one settable clock. No backfill: each simulated hourly sync (at HH:30, 00:30 through 23:30 of
one UTC day) pulls yesterday and today as the sync does (the day queries: the sync's own requests, counted apart) and
then runs the hourly step (logic/hourly.py) twice on the embedded DynamoDB:
- as it is now: from the hour the last read was loaded through less the margin (HOURLY_REREAD_HOURS, 2), its earlier
  hours kept;
- as it was (session of 2026-12-07): both days whole on every sync (its stored hours dropped first).
Each row: the hourly step's requests for both, whether the stored hours add up to the day's billed lines, and
whether the day had to be read whole again (data landed in a kept hour).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Clock, machine, org_spec, write_json  # noqa: E402

TENANT = "bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the demo org instead of the large one")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    os.environ["ANTHROPIC_RPM_PER_CONNECTION"] = "0"  # the bench counts requests; it does not wait on our gate
    os.environ["ANTHROPIC_RPM_PER_STACK"] = "0"

    from pydantic import SecretStr

    from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
    from pump_anthropic import wiring
    from pump_anthropic.domain import analytics_days, day_docs
    from pump_anthropic.logic import hourly, sources
    from pump_anthropic.logic.storage import dynamodb_storage
    from pump_local.embedded_aws import LocalAws

    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    days = [yesterday, today]
    clock = Clock(datetime.combine(today, datetime.min.time(), UTC) + timedelta(minutes=30))
    rows: list[dict] = []
    simulator = Simulator(org_spec(quick=args.quick), admin_key=DEMO_ADMIN_KEY, now=clock)
    with simulator, LocalAws(simulator.url):
        clock.install()
        storage = dynamodb_storage()
        key = SecretStr(DEMO_ADMIN_KEY)
        for _ in range(24):
            factory = partial(wiring.admin_client, connection_id="conn_bench")
            pulled = sources.pull_connection_days(
                storage, TENANT, "conn_bench", key, factory, None, yesterday, today + timedelta(days=1),
                source=sources.ANALYTICS,
            )  # fmt: skip
            row = {"at": clock.now.strftime("%H:%M"), "day queries": sum(pulled.requests_by_query_set.values())}
            for name, connection_id in (("now", "conn_now"), ("before", "conn_before")):
                if name == "before":
                    storage.hours.drop_hours(TENANT, connection_id, days)
                with factory(key, None) as client:
                    hourly.refresh_hours(
                        storage, TENANT, connection_id, client, days, pulled.days, pulled.default_workspace_id
                    )
                    row[f"hourly requests ({name})"] = client.request_count
            stored = storage.hours.read_hours(TENANT, "conn_now", days)
            adds_up = True
            for day in days:
                who = day_docs.projection(pulled.days.get(day) or {}, analytics_days.WHO_LINES)
                billed = sum((Decimal(line[7]) for line in who), Decimal(0))
                hours = sum((line.cost_usd or 0 for line in stored[day].lines), Decimal(0)) if day in stored else 0
                adds_up = adds_up and abs(billed - hours) <= Decimal("0.0001") * max(1, len(who))
            row["hours add up (now)"] = "yes" if adds_up else "no"
            rows.append(row)
            clock.advance(hours=1)
    quiet = rows[1:]
    now_max = max(r["hourly requests (now)"] for r in quiet)
    before_max = max(r["hourly requests (before)"] for r in quiet)
    print(f"Hourly cost read, {'demo' if args.quick else 'large'} org ({machine()['cpu']}):")
    header = list(rows[0])
    print("  " + " | ".join(header))
    for row in rows:
        print("  " + " | ".join(str(row[h]) for h in header))
    print(f"  quiet syncs (after the first): at most +{now_max} requests now, +{before_max} before")
    write_json(args.json, {"machine": machine(), "rows": rows, "max_now": now_max, "max_before": before_max})
    return 0


if __name__ == "__main__":
    sys.exit(main())
