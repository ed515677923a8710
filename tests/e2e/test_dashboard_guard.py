"""The dashboard's spend guard in a real headless Chromium: budgets (create, edit, delete through the form, a bar
each) and the alerts list. Most checks answer the page's API calls from the test; one runs the real stack."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.stack import connect_over_http

pytestmark = pytest.mark.network

BACKFILL_TIMEOUT_S = 45
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">Team <b>AI</b>'

CONNECTION = {
    "id": "conn_1",
    "status": "active",
    "organization": {"id": "org_1", "name": "Acme <i>Labs</i>"},
    "key_hint": "sk-ant-admin01-…WXYZ",
    "backfill": {"chunks_total": 13, "chunks_done": 13, "chunks_failed": 0, "failed_chunks": []},
    "last_sync_at": "2026-11-25T10:00:00Z",
    "last_error": None,
}
WORKSPACES = [
    {"workspace_id": None, "workspace_name": "Default workspace", "cost_usd": "10"},
    {"workspace_id": "wrkspc_01Prod", "workspace_name": "Production", "cost_usd": "20"},
]
ALERTS = [
    {
        "id": "alrt_old",
        "kind": "spend_anomaly",
        "connection_id": "conn_1",
        "budget_id": None,
        "scope": {"type": "workspace", "id": "wrkspc_01Prod", "name": "Prod <script>x</script>"},
        "detected_at": "2026-11-20T08:00:00Z",
        "window": {"from": "2026-11-19", "to": "2026-11-19"},
        "amount_usd": "1234567.895",
        "baseline_usd": "100",
        "threshold": None,
        "message": "Spend on <b>Prod</b> was 12× its usual day.",
    },
    {
        "id": "alrt_new",
        "kind": "new_key_spend",
        "connection_id": "conn_1",
        "budget_id": None,
        "scope": {"type": "api_key", "id": "apikey_01New", "name": "ci-runner"},
        "detected_at": "2026-11-24T09:30:00Z",
        "window": {"from": "2026-11-24", "to": "2026-11-24"},
        "amount_usd": "2.675",
        "baseline_usd": None,
        "threshold": None,
        "message": "A new key spent $2.675 on its first day.",
    },
]
# What the scripted API says a budget's month looks like, by its monthly_usd.
FIGURES = {
    "1000.00": {"month_to_date_usd": "850.005", "forecast_month_end_usd": "1200.50", "status": "warning"},
    "2000": {"month_to_date_usd": "850.005", "forecast_month_end_usd": "1200.50", "status": "ok"},
}
MONTHLY_USD = re.compile(r"^([1-9][0-9]{0,8}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$")


def display_usd(exact: str) -> str:
    """What the page must show for an exact amount: half-up to the cent, thousands grouped."""
    return f"${Decimal(exact).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


class ScriptedApi:
    """The page's API, answered by the test: connections, costs (the workspaces), budgets kept in a dict, alerts."""

    def __init__(self) -> None:
        self.budgets: dict[str, dict] = {}
        self.alerts = list(ALERTS)  # oldest first: the page must put the newest first itself
        self.puts: list[tuple[str, dict]] = []
        self.deletes: list[str] = []

    def answer(self, route) -> None:
        request = route.request
        url = urlsplit(request.url)
        query = parse_qs(url.query)
        if url.path == "/integrations/anthropic":
            return self._json(route, 200, {"connections": [CONNECTION]})
        if url.path == "/costs":
            rows = WORKSPACES if query.get("group_by") == ["workspace_id"] else []
            report = {"currency": "USD", "from": query["from"][0], "to": query["to"][0], "rows": rows}
            return self._json(route, 200, {**report, "total": {"cost_usd": "0", "tokens": 0}})
        if url.path == "/alerts":
            return self._json(route, 200, {"from": "2026-10-27", "to": "2026-11-25", "alerts": self.alerts})
        if url.path == "/budgets":
            return self._json(route, 200, {"budgets": list(self.budgets.values())})
        budget_id = url.path.removeprefix("/budgets/")
        if request.method == "PUT":
            return self._put(route, budget_id, json.loads(request.post_data or "null"))
        if request.method == "DELETE":
            self.deletes.append(budget_id)
            self.budgets.pop(budget_id)
            return route.fulfill(status=204, body="")
        return self._json(route, 405, {"error": {"code": "method_not_allowed", "message": request.method}})

    def _put(self, route, budget_id: str, body: dict) -> None:
        self.puts.append((budget_id, body))
        if not MONTHLY_USD.match(body["monthly_usd"]):
            error = {"code": "invalid_request", "message": "The request is invalid (monthly_usd: not an amount)."}
            return self._json(route, 400, {"error": error})
        figures = FIGURES[body["monthly_usd"]]
        reached = [t for t in body["thresholds"] if Decimal(body["monthly_usd"]) * t / 100 <= Decimal("850.005")]
        budget = {
            "id": budget_id,
            **body,
            "enforced": body.get("enforced", False),
            "month": "2026-11",
            **figures,
            "crossed": [{"threshold": t, "at": "2026-11-24T09:30:00Z" if t == 50 else None} for t in reached],
        }
        self.budgets[budget_id] = budget
        return self._json(route, 200, budget)

    @staticmethod
    def _json(route, status: int, body: dict) -> None:
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def test_budgets_and_alerts_on_scripted_answers(static_server, browser, artifact_path) -> None:
    """Create a budget through the form (a workspace from the costs), its bar and status; the API's refusal said as
    it is; edit and delete it; the alerts newest first; names and messages from the org shown as text only."""
    from playwright.sync_api import expect

    scripted = ScriptedApi()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.route(re.compile(r"/(integrations/anthropic|costs|alerts|budgets)(/[A-Za-z0-9_-]+)?(\?|$)"), scripted.answer)
    page.goto(f"{static_server}/")

    # The alerts: newest first, the exact amounts rounded half-up from their strings, org text as text.
    rows = page.locator("#alerts-body tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-alert-id", "alrt_new")
    expect(rows.nth(0)).to_contain_text("New key spending")
    expect(rows.nth(0).locator(".alert-scope")).to_have_text("API key: ci-runner (apikey_01New)")
    expect(rows.nth(0).locator(".money")).to_have_text("$2.68")
    expect(rows.nth(1).locator(".alert-scope")).to_have_text("Workspace: Prod <script>x</script> (wrkspc_01Prod)")
    expect(rows.nth(1).locator(".money")).to_have_text(display_usd("1234567.895"))
    expect(rows.nth(1).locator(".money")).to_have_attribute("title", "1234567.895 USD (exact)")
    expect(rows.nth(1).locator(".alert-message")).to_have_text("Spend on <b>Prod</b> was 12× its usual day.")
    expect(page.locator("#alerts-range")).to_have_text("Detected 2026-10-27 → 2026-11-25 (UTC days)")
    expect(page.locator("#budgets-empty")).to_be_visible()

    # Create: a workspace the costs have seen, an amount typed with a thousands separator.
    form = page.locator("#budget-form")
    expect(form.get_by_label("Organization", exact=True)).to_have_value("conn_1")
    form.get_by_label("Name", exact=True).fill(HOSTILE_NAME)
    form.get_by_label("Scope", exact=True).select_option("workspace")
    workspace = form.get_by_label("Workspace", exact=True)
    expect(workspace.locator("option")).to_have_text(
        ["Default workspace", "Production (wrkspc_01Prod)", "Another workspace (type its id)"]
    )
    expect(form.get_by_label("Scope id")).to_be_hidden()
    workspace.select_option("wrkspc_01Prod")
    form.get_by_label("Monthly budget (USD)").fill("1,000.00")
    form.get_by_label("Alert at (% of the budget)").fill("50, 80,100")
    form.get_by_role("button", name="Create budget").click()
    expect(page.locator("#budget-form-status")).to_have_text(f"Created the budget “{HOSTILE_NAME}”.")
    budget_id, body = scripted.puts[-1]
    assert re.fullmatch(r"bdg_[0-9a-f]{16}", budget_id)
    assert body == {
        "name": HOSTILE_NAME,
        "connection_id": "conn_1",
        "scope": {"type": "workspace", "id": "wrkspc_01Prod"},
        "monthly_usd": "1000.00",
        "thresholds": [50, 80, 100],
    }

    # Its card: the name as text, the status in words, exact figures, the bar with its ticks and forecast marker.
    card = page.locator(f'article.budget[data-budget-id="{budget_id}"]')
    expect(card.locator("h3")).to_have_text(HOSTILE_NAME)
    expect(card.locator(".badge")).to_have_text("Warning: 80% reached")
    expect(card.locator(".badge")).to_have_attribute("data-status", "warning")
    expect(card.locator(".budget-scope")).to_have_text(
        "Workspace: Production (wrkspc_01Prod) · Acme <i>Labs</i> · 2026-11"
    )
    expect(card.locator(".budget-figures")).to_have_text(
        "$850.01 of $1,000.00 this month (85.0%) · forecast for the month's end $1,200.50"
    )
    expect(card.locator(".budget-mtd .money")).to_have_attribute("data-exact", "850.005")
    expect(card.locator(".budget-tick")).to_have_count(3)
    expect(card.locator(".budget-tick.crossed")).to_have_count(2)
    expect(card.locator(".budget-forecast")).to_have_count(1)
    expect(card.locator(".budget-thresholds li.crossed")).to_have_count(2)
    expect(card.locator(".budget-thresholds li").first).to_contain_text("50% (reached, alerted")
    expect(card.locator(".budget-thresholds li").nth(1)).to_have_text("80% (reached, alert on the next sync)")
    # The scale runs to the forecast (the largest figure): the fill ends at 850.005 / 1200.50 of the track.
    fill = card.locator(".budget-fill").evaluate(
        "e => e.getBoundingClientRect().width / e.parentElement.getBoundingClientRect().width"
    )
    assert abs(fill - 850.005 / 1200.50) < 0.01, fill
    assert page.locator("#budgets img, #alerts img, #alerts script, #budgets b").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.locator("#budgets").screenshot(path=str(artifact_path("dashboard-budgets.png")))
    page.locator("#alerts").screenshot(path=str(artifact_path("dashboard-alerts.png")))

    # The API's refusal is shown as it said it; the form keeps what was typed.
    form.get_by_label("Name", exact=True).fill("Typo")
    form.get_by_label("Monthly budget (USD)").fill("ten dollars")
    form.get_by_role("button", name="Create budget").click()
    expect(page.locator("#budget-form-status")).to_have_text("The request is invalid (monthly_usd: not an amount).")
    expect(page.locator("#budget-form-status")).to_have_class(re.compile(r"\berror\b"))
    expect(form.get_by_label("Monthly budget (USD)")).to_have_value("ten dollars")
    expect(page.locator("article.budget")).to_have_count(1)

    # Edit: the form filled from the budget, sent again to the same id.
    card.get_by_role("button", name="Edit").click()
    expect(page.locator("#budget-form-title")).to_have_text(f"Edit the budget “{HOSTILE_NAME}”")
    expect(form.get_by_label("Name", exact=True)).to_have_value(HOSTILE_NAME)
    expect(workspace).to_have_value("wrkspc_01Prod")
    expect(form.get_by_label("Alert at (% of the budget)")).to_have_value("50, 80, 100")
    form.get_by_label("Monthly budget (USD)").fill("2000")
    form.get_by_role("button", name="Save changes").click()
    expect(card.locator(".badge")).to_have_text("On track")
    assert scripted.puts[-1][0] == budget_id
    assert scripted.puts[-1][1]["monthly_usd"] == "2000" and scripted.puts[-1][1]["enforced"] is False
    expect(page.locator("#budget-form-title")).to_have_text("New budget")
    expect(card.locator(".budget-figures")).to_contain_text("$850.01 of $2,000.00 this month (42.5%)")

    # Alerts are reloaded with the rest of the page (here: another date range for the spend).
    scripted.alerts.append({**ALERTS[1], "id": "alrt_newest", "detected_at": "2026-11-25T07:00:00Z"})
    page.locator("label[for=range-90]").click()
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_attribute("data-alert-id", "alrt_newest")

    # Delete, after a confirmation naming the budget.
    card.get_by_role("button", name="Delete").click()
    expect(card).to_have_count(0)
    expect(page.locator("#budgets-status")).to_have_text(f"Deleted the budget “{HOSTILE_NAME}”.")
    expect(page.locator("#budgets-empty")).to_be_visible()
    assert scripted.deletes == [budget_id]
    assert dialogs == [f"Delete the budget “{HOSTILE_NAME}”? The alerts it raised stay listed."]

    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


def test_a_budget_on_the_real_stack_raises_its_alerts(local_stack, browser) -> None:
    """The real API behind the page: a budget set through the form shows the month's exact figures, the next sync
    raises its alerts, which are listed; deleting it leaves its alerts."""
    from playwright.sync_api import expect

    connection = connect_over_http(local_stack.url, BACKFILL_TIMEOUT_S)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{local_stack.url}/")
    form = page.locator("#budget-form")
    expect(page.locator("#alerts-empty")).to_be_visible()
    expect(form.get_by_label("Organization", exact=True)).to_have_value(connection["id"])

    form.get_by_label("Name", exact=True).fill("Whole org")
    form.get_by_label("Monthly budget (USD)").fill("0.01")  # any spend this month passes it
    form.get_by_role("button", name="Create budget").click()
    card = page.locator("article.budget")
    expect(card).to_have_count(1)
    budget = requests.get(f"{local_stack.url}/budgets", timeout=30).json()["budgets"][0]
    assert budget["name"] == "Whole org" and budget["scope"] == {"type": "organization", "id": None}
    assert budget["thresholds"] == [50, 80, 100]
    expect(card.locator(".badge")).to_have_attribute("data-status", budget["status"])
    expect(card.locator(".budget-mtd .money")).to_have_attribute("data-exact", budget["month_to_date_usd"])
    expect(card.locator(".budget-forecast-amount .money")).to_have_text(display_usd(budget["forecast_month_end_usd"]))

    # The next sync checks the budget: its alerts appear on the page as the page refreshes.
    connection_card = page.locator("article.connection")
    connection_card.get_by_role("button", name="Sync now").click()
    expect(connection_card.locator("p.status")).to_have_text("Sync started; new usage appears here when it finishes.")
    local_stack.aws.drain_sync_queue()
    alerts = requests.get(f"{local_stack.url}/alerts", timeout=30).json()["alerts"]
    assert any(a["kind"] == "budget_threshold" and a["budget_id"] == budget["id"] for a in alerts), alerts
    # The page also refreshes on its own poll, which a loaded machine can stretch: a reload shows the same state now.
    page.reload()
    rows = page.locator("#alerts-body tr")
    expect(rows).to_have_count(len(alerts))
    expect(page.locator("#alerts-body")).to_contain_text("Budget threshold")
    expect(card.locator(".budget-thresholds li", has_text="(reached, alerted")).to_have_count(
        sum(1 for a in alerts if a["kind"] == "budget_threshold")
    )

    card.get_by_role("button", name="Delete").click()
    expect(card).to_have_count(0)
    assert requests.get(f"{local_stack.url}/budgets", timeout=30).json()["budgets"] == []
    expect(rows).to_have_count(len(alerts))  # its alerts stay
    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


