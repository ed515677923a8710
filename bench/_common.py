"""Shared pieces of the benchmark scripts: paths, the simulated large org, AWS/HTTP meters, a settable clock.

The meters wrap public seams only (botocore's `BaseClient._make_api_call`, `requests.Session.send`), so they count
what the product really asks of DynamoDB and Anthropic whatever the table layout is.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CACHE = BENCH / ".cache"
# This checkout's code first (the editable install may point elsewhere).
for _path in (str(ROOT), str(ROOT / "shared")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

LATENCY_S = 0.2  # simulated Anthropic latency per request (the benchmarks' assumption for one round trip)
LARGE_ORG = {"workspaces": 25, "api_keys": 200, "models": 12}  # every tier, context window and geo (the defaults)
QUICK_ORG = {"workspaces": 4, "api_keys": 12, "models": 4}
MAP_CONCURRENCY = 4  # template.yaml BackfillMaxConcurrency default
BACKFILL_DAYS = 365
WCU_BYTES = 1024
RCU_BYTES = 4096


def org_spec(quick: bool):
    from anthropic_simulator import OrgSpec

    return OrgSpec(seed=7, days=400, **(QUICK_ORG if quick else LARGE_ORG))


# ---------------------------------------------------------------- clock


class Clock:
    """One settable UTC clock for the simulator and the product's `utc_now` (so "an hour later" is exact)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def install(self) -> None:
        """Point the product modules' `utc_now` at this clock (a benchmark-only patch, like a test's monkeypatch)."""
        import importlib

        for name in (
            "pump_anthropic.logic.sync",
            "pump_anthropic.logic.backfill",
            "pump_anthropic.logic.sources",
            "pump_anthropic.logic.connections",
            "pump_anthropic.api.costs",
            "pump_anthropic.dal.table",
        ):
            module = importlib.import_module(name)
            if hasattr(module, "utc_now"):
                module.utc_now = self


def start_of_hour(hour: int) -> datetime:
    return datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)


# ---------------------------------------------------------------- DynamoDB item sizes


def attr_size(value: dict) -> int:
    """Approximate DynamoDB size of one attribute value in wire form (the published sizing rules)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = len(raw.lstrip("-").replace(".", "").strip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attr_size({kind[0]: v}) for v in raw)
    if kind == "L":
        return 3 + sum(1 + attr_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attr_size(v) for k, v in raw.items())
    return 0


def item_size(item: dict) -> int:
    return sum(len(name.encode()) + attr_size(value) for name, value in item.items())


# ---------------------------------------------------------------- AWS meter


@dataclass
class ThreadTotals:
    """What one thread spent inside AWS SDK calls (moto runs in the calling thread)."""

    wall: float = 0.0
    cpu: float = 0.0
    calls: int = 0
    depth: int = 0
    wcu: float = 0.0


@dataclass
class RequestCost:
    """What one request cost, over every thread it ran on (the handler's and any it fanned out to)."""

    wall: float = 0.0
    own_cpu: float = 0.0  # process CPU outside SDK calls (moto's included there)
    sdk_wall: float = 0.0  # the handler thread's time inside SDK calls
    calls: int = 0  # every SDK call
    # The SDK calls on the request's critical path: the handler thread's, plus the busiest other thread's (exact for
    # one fan-out per request, as a read's concurrent month reads are; the model charges DDB_CALL_S for each).
    critical_calls: int = 0


@dataclass
class AwsMeter:
    """Counts every AWS SDK call, DynamoDB capacity estimates and items read, per operation.

    LocalAws serializes moto's DynamoDB calls (moto is not thread-safe); the time a thread waits for that lock is
    counted as its SDK time. Real DynamoDB needs no such lock.
    """

    calls: Counter = field(default_factory=Counter)
    figures: Counter = field(default_factory=Counter)
    items_read_by_type: Counter = field(default_factory=Counter)
    stored: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # key -> (item_type, size)
    paused: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)
    _threads: list[ThreadTotals] = field(default_factory=list)

    def install(self) -> Callable[[], None]:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        meter = self

        def metered(client: Any, operation_name: str, api_params: dict) -> Any:
            service = client.meta.service_model.service_name
            totals = meter.thread_totals()
            outer = totals.depth == 0
            totals.depth += 1
            wall, cpu = time.perf_counter(), time.thread_time()
            response: dict = {}
            try:
                response = original(client, operation_name, api_params)
                return response
            except Exception as exc:  # a failed conditional write is still a (billed) write request
                response = {"Error": type(exc).__name__}
                raise
            finally:
                totals.depth -= 1
                if outer:
                    totals.wall += time.perf_counter() - wall
                    totals.cpu += time.thread_time() - cpu
                    totals.calls += 1
                if not meter.paused:
                    meter._record(service, operation_name, api_params, response, time.perf_counter() - wall)

        BaseClient._make_api_call = metered
        return lambda: setattr(BaseClient, "_make_api_call", original)

    def thread_totals(self) -> ThreadTotals:
        totals = getattr(self._local, "totals", None)
        if totals is None:
            totals = self._local.totals = ThreadTotals()
            with self._lock:
                self._threads.append(totals)
        return totals

    @contextmanager
    def request_cost(self) -> Iterator[RequestCost]:
        """Measure what runs inside the block (on this thread and any others) as one request."""
        mine = self.thread_totals()
        with self._lock:
            before = {id(t): (t.wall, t.cpu, t.calls) for t in self._threads}
        cost = RequestCost()
        began, cpu = time.perf_counter(), time.process_time()
        yield cost
        cost.wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        with self._lock:
            deltas = {id(t): tuple(a - b for a, b in zip((t.wall, t.cpu, t.calls), before.get(id(t), (0, 0.0, 0)),
                                                         strict=True)) for t in self._threads}  # fmt: skip
        here = deltas.pop(id(mine))
        cost.sdk_wall = here[0]
        cost.own_cpu = max(0.0, cpu - here[1] - sum(d[1] for d in deltas.values()))
        cost.calls = here[2] + sum(d[2] for d in deltas.values())
        cost.critical_calls = here[2] + max((d[2] for d in deltas.values()), default=0)

    @contextmanager
    def paused_(self) -> Iterator[None]:
        self.paused = True
        try:
            yield
        finally:
            self.paused = False

    def _record(self, service: str, operation: str, params: dict, response: dict, seconds: float) -> None:
        with self._lock:
            wcu_before = self.figures["wcu"]
            self._count(service, operation, params, response, seconds)
            added = self.figures["wcu"] - wcu_before
        self.thread_totals().wcu += added

    def _count(self, service: str, operation: str, params: dict, response: dict, seconds: float) -> None:
        """Called under the lock."""
        self.calls[f"{service}.{operation}"] += 1
        self.figures[f"seconds.{service}.{operation}"] += seconds
        if "Error" in response:
            self.figures[f"failed.{service}.{operation}"] += 1
        if service != "dynamodb":
            return
        if operation == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        size = item_size(item)
                        self._store(item, size)
                        self.figures["items_put"] += 1
                        self.figures["wcu"] += math.ceil(size / WCU_BYTES)
                    else:
                        deleted = self.stored.pop(_key_of(request["DeleteRequest"]["Key"]), None)
                        self.figures["items_deleted"] += 1
                        self.figures["wcu"] += math.ceil((deleted[1] if deleted else 1) / WCU_BYTES)
            unprocessed = sum(len(v) for v in (response.get("UnprocessedItems") or {}).values())
            self.figures["items_unprocessed"] += unprocessed
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            self.figures[f"single_writes.{operation}"] += 1
            size = item_size(params["Item"]) if operation == "PutItem" else WCU_BYTES  # updates: 1 WCU assumed
            if operation == "PutItem":
                self._store(params["Item"], size)
            self.figures["wcu"] += math.ceil(size / WCU_BYTES)
        elif operation in ("Query", "Scan", "GetItem"):
            items = response.get("Items") or ([response["Item"]] if response.get("Item") else [])
            strong = bool(params.get("ConsistentRead"))
            size = sum(item_size(i) for i in items)
            units = max(1, math.ceil(size / RCU_BYTES)) * (1.0 if strong else 0.5)
            self.figures["rcu"] += units
            self.figures["read_requests"] += 1
            self.figures["items_read"] += len(items)
            self.figures["bytes_read"] += size
            for i in items:
                self.items_read_by_type[(i.get("item_type") or {}).get("S", "other")] += 1

    def _store(self, item: dict, size: int) -> None:
        self.stored[_key_of(item)] = ((item.get("item_type") or {}).get("S", "other"), size)

    def census(self) -> dict:
        """Items the product put through the SDK and did not delete, by item type (UpdateItem-only items aside)."""
        with self._lock:
            counts: Counter = Counter()
            sizes: Counter = Counter()
            for kind, size in self.stored.values():
                counts[kind] += 1
                sizes[kind] += size
        return {"items": dict(counts), "bytes": dict(sizes), "total_bytes": sum(sizes.values())}

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "calls": Counter(self.calls),
                "figures": Counter(self.figures),
                "items_read_by_type": Counter(self.items_read_by_type),
            }

    @staticmethod
    def delta(before: dict, after: dict) -> dict:
        return {key: after[key] - before[key] for key in before}


def _key_of(item: dict) -> tuple[str, str]:
    return (item.get("pk") or {}).get("S", ""), (item.get("sk") or {}).get("S", "")


def ddb_write_requests(calls: Counter) -> int:
    return sum(
        n for op, n in calls.items() if op.split(".")[-1] in ("BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem")
    )


# ---------------------------------------------------------------- Anthropic (HTTP) meter


class HttpMeter:
    """Per-thread wall time spent in `requests` (the Admin API client's transport)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.urls: list[str] = []

    def install(self) -> Callable[[], None]:
        import requests

        original = requests.Session.send
        meter = self

        def send(session: Any, request: Any, **kwargs: Any) -> Any:
            with meter._lock:
                meter.urls.append(request.url)
            meter.thread_urls().append(request.url)
            started = time.perf_counter()
            try:
                return original(session, request, **kwargs)
            finally:
                meter._local.wall = getattr(meter._local, "wall", 0.0) + time.perf_counter() - started
                meter._local.count = getattr(meter._local, "count", 0) + 1

        requests.Session.send = send
        return lambda: setattr(requests.Session, "send", original)

    def thread_urls(self) -> list[str]:
        urls = getattr(self._local, "urls", None)
        if urls is None:
            urls = self._local.urls = []
        return urls

    def thread_figures(self) -> tuple[float, int]:
        return getattr(self._local, "wall", 0.0), getattr(self._local, "count", 0)


REPORT_MAX_LIMIT = {"1d": 31, "1h": 168, "1m": 1440}  # the Admin API's largest page per bucket width
BUCKET_WIDTH = {"1d": timedelta(days=1), "1h": timedelta(hours=1), "1m": timedelta(minutes=1)}


def minimum_pages(urls: list[str]) -> tuple[int, int]:
    """(pages, queries): the fewest requests that fetch the same reports at the largest page size.

    One query is a path with its parameters minus the paging ones; a report query needs ceil(buckets / max limit)
    pages, a list endpoint one page (≤ 1,000 items) and /me one request.
    """
    from urllib.parse import parse_qs, urlsplit

    seen: set = set()
    pages = 0
    for url in urls:
        parts = urlsplit(url)
        params = parse_qs(parts.query, keep_blank_values=True)
        key = (parts.path, tuple(sorted((k, tuple(v)) for k, v in params.items() if k not in _PAGING)))
        if key in seen:
            continue
        seen.add(key)
        if "starting_at" in params and "ending_at" in params:
            width = params.get("bucket_width", ["1d"])[0]
            start = datetime.fromisoformat(params["starting_at"][0].replace("Z", "+00:00"))
            end = datetime.fromisoformat(params["ending_at"][0].replace("Z", "+00:00"))
            buckets = math.ceil((end - start) / BUCKET_WIDTH[width])
            pages += max(1, math.ceil(buckets / REPORT_MAX_LIMIT[width]))
        else:
            pages += 1
    return pages, len(seen)


_PAGING = {"page", "limit", "after_id", "before_id"}


# ---------------------------------------------------------------- machine and output


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write_json(path: str | None, payload: dict) -> None:
    text = json.dumps(payload, indent=2, default=str)
    if path:
        Path(path).write_text(text)
    else:
        print(text)


@dataclass
class Row:
    """One line of the results table."""

    area: str
    metric: str
    value: str
    beside: str = ""  # the ratio or reference printed next to the value
    target: str = ""


def rows_to_dicts(rows: list[Row]) -> list[dict]:
    return [r.__dict__ for r in rows]


def markdown_table(rows: list[dict]) -> str:
    header = ["Area", "Metric", "Value", "Beside it (ratio / reference)", "Target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["area"], row["metric"], row["value"], row["beside"], row["target"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def plain_table(rows: list[dict]) -> str:
    header = ["Area", "Metric", "Value", "Beside it", "Target"]
    table = [header] + [[r["area"], r["metric"], r["value"], r["beside"], r["target"]] for r in rows]
    widths = [min(60, max(len(line[i]) for line in table)) for i in range(len(header))]
    out = []
    for n, line in enumerate(table):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}×"
