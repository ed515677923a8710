"""Requests to Anthropic with the analytics API as the source (issue 16), on the embedded default.

For the small org (the tests' org) and the large org (25 workspaces, 200 API keys, 12 models): a 365-day backfill with
ANTHROPIC_COST_SOURCE=auto, its requests per query set against the planner's minimum for the rows that really exist,
then the syncs: the UTC day's first (30-day re-read and the audit), a quiet hour, and 24 hourly syncs.

The minimum per query set is what the planner asks for given the true row counts: over 31-day ranges from the first
analytics day, `ceil(base rows / 1000)` pages per range (fan-out rows don't count toward the limit). The base rows are
counted by querying the simulator directly (not counted in the figures).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections import Counter
from datetime import date, timedelta

import requests
from _common import Clock, machine, start_of_hour, write_json

from anthropic_simulator import DEMO_ADMIN_KEY, OrgSpec, Simulator
from pump_anthropic.domain import analytics_days
from pump_anthropic.domain.analytics_plan import FAN_OUT_DIMENSIONS
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from pump_local.runner import connect_and_backfill

SMALL = OrgSpec(seed=11, days=400, workspaces=2, api_keys=3, models=3)
LARGE = OrgSpec(seed=7, days=400, workspaces=25, api_keys=200, models=12)
ANALYTICS = "/v1/organizations/analytics/"


def query_set_of(path: str, group_by: tuple[str, ...]) -> str:
    if not path.startswith(ANALYTICS):
        return "legacy reports" if "report" in path else "names and key check"
    dims = frozenset(group_by) - set(FAN_OUT_DIMENSIONS)
    for projection in analytics_days.QUERY_SETS:
        if projection.dimensions == dims and path.endswith(projection.endpoint.value):
            return projection.name
    return f"other {path} {sorted(group_by)}"


def base_rows_per_day(url: str, endpoint: str, dims: frozenset[str], first: date, last: date) -> Counter:
    """Rows per UTC day of a 1d query grouped by `dims` (no fan-out): what counts toward a page's limit."""
    rows: Counter = Counter()
    headers = {
        "x-api-key": DEMO_ADMIN_KEY,
        "anthropic-version": "2026-10-21",
        "anthropic-beta": "analytics-usage-cost-2026-08-24",
    }
    start = first
    while start <= last:
        end = min(start + timedelta(days=31), last + timedelta(days=1))
        params = [
            ("starting_at", f"{start}T00:00:00Z"),
            ("ending_at", f"{end}T00:00:00Z"),
            ("time_bucket_width", "1d"),
            ("limit", "1000"),
            *(("group_by[]", d) for d in sorted(dims)),
        ]
        page = None
        while True:
            body = requests.get(
                f"{url}{ANALYTICS}{endpoint}", params=params + ([("page", page)] if page else []), headers=headers
            ).json()
            rows.update(row["starting_at"][:10] for row in body["data"])
            if not body.get("next_page"):
                break
            page = body["next_page"]
        start = end
    return rows


def planner_minimum(per_day: Counter, first: date, last: date) -> int:
    pages, start = 0, first
    while start <= last:
        end = min(start + timedelta(days=31), last + timedelta(days=1))
        rows = sum(per_day[(start + timedelta(days=d)).isoformat()] for d in range((end - start).days))
        pages += max(1, math.ceil(rows / 1000))
        start = end
    return pages


def counts_by_set(sim: Simulator) -> Counter:
    by_set: Counter = Counter()
    for (path, group_by), n in sim.grouped_request_counts.items():
        by_set[query_set_of(path, group_by)] += n
    return by_set


def sync(aws, sim: Simulator) -> Counter:
    sim.reset_counts()
    aws.fire_sync_schedule()
    aws.drain_sync_queue()
    return counts_by_set(sim)


def run(name: str, spec: OrgSpec, latency: float) -> dict:
    clock = Clock(start_of_hour(11))
    clock.install()
    with (
        Simulator(spec, latency_s=latency, now=clock) as sim,
        LocalAws(sim.url, retry_interval_seconds=1, retry_max_attempts=3, run_exports=False) as aws,
    ):
        started = time.perf_counter()
        connection = connect_and_backfill(LocalApi(), DEMO_ADMIN_KEY, timeout=3600)
        seconds = time.perf_counter() - started
        backfill = counts_by_set(sim)
        first_day = max(date.fromisoformat(connection["backfill"]["from"]), date(2026, 1, 1))
        last_day = date.fromisoformat(connection["backfill"]["to"])
        minimum = {
            p.name: planner_minimum(
                base_rows_per_day(sim.url, p.endpoint.value, p.dimensions, first_day, last_day), first_day, last_day
            )
            for p in analytics_days.QUERY_SETS
        }
        first_sync = sync(aws, sim)
        quiet = sync(aws, sim)
        hourly = []
        for _ in range(24):
            clock.advance(hours=1)
            hourly.append(sum(sync(aws, sim).values()))
    return {
        "org": name,
        "status": connection["status"],
        "backfill_seconds": round(seconds, 1),
        "backfill_requests": dict(backfill),
        "planner_minimum": minimum,
        "ratio": {k: round(backfill[k] / v, 3) for k, v in minimum.items()},
        "first_sync_of_the_day": dict(first_sync),
        "quiet_hour": dict(quiet),
        "hourly_requests": hourly,
    }


def main() -> None:
    # The benchmark's clock stands still between syncs, so the per-minute request windows would never roll over:
    # the rate limits are off here (they are measured by their own tests), this script counts requests.
    os.environ["ANTHROPIC_RPM_PER_CONNECTION"] = os.environ["ANTHROPIC_RPM_PER_STACK"] = "0"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small-only", action="store_true")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per simulated Anthropic request")
    parser.add_argument("--json", help="write the figures here (default: print them)")
    args = parser.parse_args()
    orgs = [("small", SMALL)] + ([] if args.small_only else [("large", LARGE)])
    results = [run(name, spec, args.latency) for name, spec in orgs]
    write_json(args.json, {"script": "analytics_requests", "machine": machine(), "results": results})
    for r in results:
        print(f"\n{r['org']} org: {r['status']} in {r['backfill_seconds']} s")
        for name in [p.name for p in analytics_days.QUERY_SETS]:
            sent, fewest = r["backfill_requests"].get(name, 0), r["planner_minimum"][name]
            print(f"  {name:12} {sent:5} requests, minimum {fewest:5} ({r['ratio'][name]}x)")
        for name in ("legacy reports", "names and key check"):
            print(f"  {name:20} {r['backfill_requests'].get(name, 0):5} requests")
        print(f"  first sync of a day: {r['first_sync_of_the_day']}")
        print(f"  quiet hour: {r['quiet_hour']}")
        print(f"  24 hourly syncs: {r['hourly_requests']}")


if __name__ == "__main__":
    main()
