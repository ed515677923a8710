"""The local stack as the integration and end-to-end tests drive it: the simulated org, the fixed clock, the
in-process API (`Stack`) or the stack served over HTTP (`LocalStack`), and the calls the tests make through it."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from anthropic_simulator import DEMO_ADMIN_KEY, OrgSpec, Simulator
from pump_anthropic.clock import utc_now
from pump_anthropic.dal import table
from pump_anthropic.domain.calendar import monthly_chunks
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi, LocalResponse

SMALL_ORG = OrgSpec(seed=11, days=400, workspaces=2, api_keys=3, models=3)


# A fixed simulator clock keeps today's partial day stable between two backfills in one test.
FIXED_NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@dataclass
class Stack:
    aws: LocalAws
    api: LocalApi
    simulator: Simulator
    responses: list[LocalResponse]

    def call(self, method: str, target: str, body: object | None = None, **kwargs) -> LocalResponse:
        text = body if isinstance(body, str) or body is None else json.dumps(body)
        response = self.api.request(method, target, body=text, **kwargs)
        self.responses.append(response)
        return response

    def wait_settled(self, connection_id: str, timeout: float = 120.0) -> dict:
        """Follow the connection until its backfill run is over."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.call("GET", f"/integrations/anthropic/{connection_id}").json()
            if body["status"] != "backfilling":
                return body
            assert time.monotonic() < deadline, "backfill did not settle"
            time.sleep(0.5)

    def connect(self, admin_key: str = DEMO_ADMIN_KEY, **kwargs) -> LocalResponse:
        return self.call("POST", "/integrations/anthropic", {"admin_key": admin_key}, **kwargs)


def costs(stack, first_day: str, last_day: str, group_by: str = "date,workspace_id,model") -> dict:
    """The whole GET /costs body of a range: every page's rows, behind the first page's fields."""
    query = {"from": first_day, "to": last_day, "group_by": group_by}
    response = stack.call("GET", "/costs?" + urlencode(query))
    assert response.status == 200, response.body
    body = response.json()
    page = body
    while page.get("has_more"):
        response = stack.call("GET", "/costs?" + urlencode({**query, "page": page["next_page"]}))
        assert response.status == 200, response.body
        page = response.json()
        body["rows"] += page["rows"]
    return body


def report_totals(report: dict) -> dict[tuple, Decimal]:
    return {
        (row["date"], row["workspace_id"], row["model"]): Decimal(row["cost_usd"])
        for row in report["rows"]
        if row["cost_usd"] is not None
    }


def by_key_costs(stack, connection: dict) -> dict[str, Decimal]:
    rows = costs(stack, connection["backfill"]["from"], connection["backfill"]["to"], "api_key_id")["rows"]
    return {row["api_key_id"]: Decimal(row["cost_usd"]) for row in rows}


def sync_now(stack, connection_id: str) -> dict:
    response = stack.call("POST", f"/integrations/anthropic/{connection_id}/sync")
    assert response.status == 202, response.body
    stack.aws.drain_sync_queue()
    return stack.call("GET", f"/integrations/anthropic/{connection_id}").json()


def stored_data() -> list[dict]:
    """Cost items, rollups and workspace names: what a re-run must leave identical."""
    items = [i for i in table.raw_items() if i["item_type"]["S"] in {"cost_item", "rollup", "day", "workspace"}]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


# ------------------------------------------------------------------------------- the stack served over HTTP


@dataclass(frozen=True)
class LocalStack:
    url: str
    simulator: Simulator
    aws: LocalAws


def no_api(event: dict, context: object) -> dict:
    raise AssertionError("the API should have been answered by the test")


def ignore_client_disconnects(server) -> None:
    """A closing browser drops its in-flight polls; that is no server error worth a traceback in the test log."""
    report = server.handle_error

    def handle_error(request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            report(request, client_address)

    server.handle_error = handle_error


def backfill_months(today: date | None = None) -> int:
    """How many monthly chunks a backfill made today has: 13, or 12 on the days when the 365 days start on the 1st."""
    today = today or utc_now().date()
    return len(monthly_chunks(today - timedelta(days=364), today))


def connect_over_http(url: str, timeout_s: float) -> dict:
    """Connect the simulator's org through a served API and wait for its backfill: the active connection."""
    import requests

    response = requests.post(f"{url}/integrations/anthropic", json={"admin_key": DEMO_ADMIN_KEY}, timeout=30)
    assert response.status_code == 202, response.text
    connection = response.json()
    deadline = time.monotonic() + timeout_s
    while connection["status"] == "backfilling":
        assert time.monotonic() < deadline, "the backfill did not finish"
        time.sleep(0.5)  # polling the API for the backfill's state, not waiting for time to pass
        connection = requests.get(f"{url}/integrations/anthropic/{connection['id']}", timeout=30).json()
    assert connection["status"] == "active", connection
    return connection

