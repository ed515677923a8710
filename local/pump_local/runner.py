"""`pump-anthropic run`: connect → backfill → report in one process, on the embedded AWS."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi, LocalResponse

REPORT_GROUP_BY = "date,workspace_id,model"
POLL_SECONDS = 0.5

Progress = Callable[[int, int, str], None]


class RunError(Exception):
    """The pipeline stopped with an API error (its code and sentence), e.g. a rejected key."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass
class RunResult:
    connection: dict
    report: dict
    api: LocalApi
    seconds: float


def _expect(response: LocalResponse, *statuses: int) -> dict:
    body = response.json()
    if response.status not in statuses:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise RunError(response.status, error.get("code", "error"), error.get("message", response.body[:200]))
    return body


def connect_and_backfill(
    api: LocalApi, admin_key: str, *, progress: Progress | None = None, timeout: float = 1800.0
) -> dict:
    """POST the key, then follow the connection until the backfill settles; returns the connection body."""
    connection = _expect(api.request("POST", "/integrations/anthropic", body=json.dumps({"admin_key": admin_key})), 202)
    deadline = time.monotonic() + timeout
    while connection["status"] == "backfilling":
        if time.monotonic() > deadline:
            raise RunError(504, "backfill_timeout", f"The backfill did not finish within {timeout:.0f} s.")
        time.sleep(POLL_SECONDS)
        connection = _expect(api.request("GET", f"/integrations/anthropic/{connection['id']}"), 200)
        if progress:
            backfill = connection["backfill"]
            progress(backfill["chunks_done"], backfill["chunks_total"], connection["status"])
    return connection


PAGE_ROWS = 10_000


def cost_report(api: LocalApi, first_day: str, last_day: str, group_by: str = REPORT_GROUP_BY) -> dict:
    """The whole GET /costs body of the range: every page's rows after the first page's fields."""
    query = {"from": first_day, "to": last_day, "group_by": group_by, "limit": PAGE_ROWS}
    body = page = _expect(api.request("GET", f"/costs?{urlencode(query)}"), 200)
    while page.get("has_more"):
        page = _expect(api.request("GET", f"/costs?{urlencode({**query, 'page': page['next_page']})}"), 200)
        body["rows"] += page["rows"]
    return {**body, "has_more": False, "next_page": None} if "has_more" in body else body


def run_pipeline(
    anthropic_url: str,
    admin_key: str,
    *,
    progress: Progress | None = None,
    max_concurrency: int = 4,
    source: str | None = None,
) -> RunResult:
    started = time.monotonic()
    with LocalAws(anthropic_url, max_concurrency=max_concurrency, cost_source=source):
        api = LocalApi()
        connection = connect_and_backfill(api, admin_key, progress=progress)
        first_day, last_day = _covered_days(connection)
        report = cost_report(api, first_day, last_day)
        return RunResult(connection, report, api, time.monotonic() - started)


def _covered_days(connection: dict) -> tuple[str, str]:
    backfill = connection["backfill"]
    if not backfill.get("from"):
        raise RunError(500, "no_backfill", "The connection has no backfill range.")
    return backfill["from"], backfill["to"]
