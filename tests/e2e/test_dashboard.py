"""The dashboard in a real headless Chromium: connect the simulator, watch the backfill, read the spend."""

from __future__ import annotations

import csv
import json
import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from anthropic_simulator import DEMO_ADMIN_KEY
from tests.support.stack import backfill_months

pytestmark = pytest.mark.network

BACKFILL_TIMEOUT_MS = 45_000
MODELS_IN_SMALL_ORG = 3


def display_usd(exact: str) -> str:
    """What the page must show for an exact amount: half-up to the cent, thousands grouped."""
    return f"${Decimal(exact).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def test_connect_backfill_spend_and_disconnect(local_stack, browser, artifact_path) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())  # the disconnect confirmation
    page.goto(f"{local_stack.url}/")

    # Every form control has a label (its accessible name).
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, button, select, textarea")]
            .filter((e) => !e.labels?.length && !e.getAttribute("aria-label") && !e.textContent.trim())
            .map((e) => e.outerHTML)"""
    )
    assert not unlabelled, unlabelled

    # Nothing connected yet: the spend view says so plainly.
    expect(page.locator("#spend-empty")).to_be_visible()
    expect(page.locator("#spend-empty")).to_contain_text("No data yet")

    # A wrong key: the API's sentence is shown, and the field never keeps what was typed.
    key_field = page.get_by_label("Admin API key")
    expect(key_field).to_have_attribute("type", "password")
    key_field.fill("sk-ant-admin01-" + "x" * 40)
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#connect-status.error")).not_to_be_empty()
    expect(key_field).to_have_value("")

    # Connect with the simulator's demo key (keyboard only), then follow the backfill to the end.
    key_field.fill(DEMO_ADMIN_KEY)
    key_field.press("Enter")
    expect(key_field).to_have_value("")
    card = page.locator("article.connection")
    expect(card).to_have_count(1)
    expect(card.locator(".badge")).to_have_text("Active", timeout=BACKFILL_TIMEOUT_MS)
    expect(card.locator(".progress-text")).to_have_text(f"{backfill_months()}/{backfill_months()} months")
    expect(card).to_contain_text("Acme Labs (simulated)")
    expect(card.locator("code")).to_contain_text("sk-ant-admin01-")
    assert DEMO_ADMIN_KEY not in page.content(), "the Admin key must never be echoed back onto the page"

    # Sync now: accepted once, then the API's rate-limit sentence; the queued sync shows up as the last sync time.
    sync_button = card.get_by_role("button", name="Sync now")
    message = card.locator("p.status")
    sync_button.click()
    expect(message).to_have_text("Sync started; new usage appears here when it finishes.")
    sync_button.click()
    expect(message).to_contain_text("please wait a moment")
    local_stack.aws.drain_sync_queue()
    expect(card.locator("time")).to_be_visible()

    # A year of spend: the page's total is exactly GET /costs for the same range.
    page.get_by_label("Last 365 days").check(force=True)
    total = page.locator("#total-amount")
    range_label = page.locator("#range-label")
    expect(range_label).to_have_attribute("data-from", _days_before(range_label.get_attribute("data-to"), 364))
    first, last = range_label.get_attribute("data-from"), range_label.get_attribute("data-to")
    report = requests.get(f"{local_stack.url}/costs", params={"from": first, "to": last}, timeout=30).json()
    exact = report["total"]["cost_usd"]
    expect(total).to_have_attribute("data-exact", exact)
    expect(total).to_have_text(display_usd(exact))
    expect(page.locator("#total-exact")).to_contain_text(exact)
    expect(page.locator("#breakdown-foot .money")).to_have_attribute("data-exact", exact)
    expect(page.locator("#chart-title")).to_have_text("Spend per month")
    # The simulated org always has priority-tier usage, which Anthropic reports without a cost.
    expect(page.locator("#cost-unknown-notice")).to_be_visible()
    expect(page.locator("#cost-unknown-notice")).to_contain_text("Cost unknown (priority tier)")

    # The FOCUS file of the same year: an export job followed on the page, then its file, whose costs add up to
    # exactly the same total.
    with page.expect_download(timeout=120_000) as download_info:
        page.get_by_role("button", name="Download FOCUS CSV").click()
        expect(page.locator("#export-status")).to_contain_text(f"Exporting {first} → {last}")
        expect(page.locator("#export-progress")).to_be_visible()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == f"anthropic-focus-{first}-{last}.csv"
    expect(page.locator("#export-status")).to_have_text(re.compile(r"^Downloaded anthropic-focus-.* rows, .*\.$"))
    expect(page.locator("#export-progress")).to_be_hidden()
    with open(download.path(), newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert rows and {r["ChargePeriodStart"][:10] for r in rows} <= {_days_before(last, n) for n in range(365)}
    assert sum(Decimal(r["BilledCost"]) for r in rows if r["x_CostKnown"] == "true") == Decimal(exact)

    # Stack the chart by workspace (arrow key within the radio group), then back by model (click).
    legend = page.locator("#chart-legend li")
    expect(legend).to_have_count(MODELS_IN_SMALL_ORG + 1)  # + "No model" (code execution)
    by_workspace = requests.get(
        f"{local_stack.url}/costs", params={"from": first, "to": last, "group_by": "workspace_id"}, timeout=30
    ).json()
    page.get_by_role("radio", name="By model").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="By workspace")).to_be_checked()
    expect(legend).to_have_count(len(by_workspace["rows"]))
    for row in by_workspace["rows"]:
        expect(page.locator("#chart-legend")).to_contain_text(row["workspace_name"])
    expect(page.locator("svg.chart-svg g.bar")).to_have_count(backfill_months())

    # The widest table (all four dimensions) still fits a desktop window: no column hidden behind a scroll.
    assert page.evaluate("(w => w.scrollWidth <= w.clientWidth)(document.querySelector('.table-wrap'))")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # Stack by API key: allocated figures, the Console bucket among them.
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="By API key (allocated)")).to_be_checked()
    expect(page.locator("#chart-legend")).to_contain_text("Console / Workbench (no API key)")
    page.get_by_role("radio", name="By API key (allocated)").focus()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("radio", name="By workspace")).to_be_checked()

    screenshot = artifact_path("dashboard.png")
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"dashboard screenshot: {screenshot}")

    page.locator("label[for=series-model]").click()
    expect(legend).to_have_count(MODELS_IN_SMALL_ORG + 1)

    # Disconnect (the confirmation dialog is accepted above): the connection stays listed, disconnected.
    card.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#connections-status")).to_have_text("Disconnected Acme Labs (simulated).")
    expect(card.locator(".badge")).to_have_text("Disconnected")
    expect(card.get_by_role("button", name="Sync now")).to_be_hidden()

    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


def _days_before(day: str | None, days: int) -> str:
    assert day, "the page shows no date range"
    return (date.fromisoformat(day) - timedelta(days=days)).isoformat()


FAILED_CONNECTION = {
    "id": "conn_failed",
    "status": "error",
    "organization": {"id": "org_1", "name": "Globex <b>Research</b>"},
    "key_hint": "sk-ant-admin01-…WXYZ",
    "backfill": {
        "chunks_total": 13,
        "chunks_done": 12,
        "chunks_failed": 1,
        "failed_chunks": [
            {
                "start": "2026-03-01",
                "end": "2026-04-01",
                "error": {"code": "anthropic_unavailable", "message": "Anthropic's API kept failing."},
            }
        ],
        "from": "2025-11-26",
        "to": "2026-11-25",
        "started_at": "2026-11-25T10:00:00Z",
        "finished_at": "2026-11-25T10:01:00Z",
    },
    "last_sync_at": None,
    "last_error": {"code": "backfill_incomplete", "message": "1 month could not be fetched; retry it."},
}


def test_exact_amounts_and_the_unknown_and_empty_states(static_server, browser) -> None:
    """The page's own API answers are scripted here: rounding from exact strings, cost unknown, no data yet."""
    from playwright.sync_api import expect

    costs: dict = {}

    def answer(route) -> None:
        url = urlsplit(route.request.url)
        if url.path == "/integrations/anthropic":
            body: dict = {"connections": [FAILED_CONNECTION]}
        else:
            query = parse_qs(url.query)
            last = query["to"][0]
            rows = [{"date": last, "month": last[:7], **row} for row in costs["rows"]]
            body = {"currency": "USD", "from": query["from"][0], "to": last, "total": costs["total"], "rows": rows}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.route(re.compile(r"/(integrations/anthropic|costs)(\?|$)"), answer)

    # Amounts whose float rounding would differ from the exact decimal's (2.675 → 2.67 as a float).
    costs.update(
        total={"cost_usd": "1234570.574", "tokens": 3000},
        rows=[
            {"model": "m-big", "cost_usd": "1234567.895", "tokens": 1000},
            {"model": "m-float", "cost_usd": "2.675", "tokens": 1000},
            {"model": "m-tiny", "cost_usd": "0.004", "tokens": 1000},
        ],
    )
    page.goto(f"{static_server}/")
    expect(page.locator("#total-amount")).to_have_text("$1,234,570.57")
    expect(page.locator("#total-amount")).to_have_attribute("title", "1234570.574 USD (exact)")
    cells = page.locator("#breakdown-body td.num .money")
    expect(cells).to_have_text(["$1,234,567.90", "$2.68", "<$0.01"])
    assert [display_usd(x) for x in ("1234567.895", "2.675")] == ["$1,234,567.90", "$2.68"]
    expect(page.locator("#cost-unknown-notice")).to_be_hidden()

    # The connection that needs attention: its sentence, the failed month, the retry offer.
    card = page.locator("article.connection")
    expect(card.locator("h3")).to_have_text("Globex <b>Research</b>")  # shown as text, never as markup
    expect(card.locator(".badge")).to_have_text("Needs attention")
    expect(card.locator(".progress-text")).to_have_text("12/13 months")
    expect(card.locator(".last-error")).to_have_text("1 month could not be fetched; retry it.")
    expect(card.locator(".failed-chunks")).to_contain_text("2026-03-01 → 2026-03-31")
    expect(card.get_by_role("button", name="Retry failed months (1)")).to_be_enabled()
    expect(card.get_by_role("button", name="Sync now")).to_be_disabled()

    # Only priority-tier usage: the cost is unknown, not $0.
    costs.update(
        total={"cost_usd": None, "tokens": 500, "cost_unknown": {"tokens": 500, "web_search_requests": 0}},
        rows=[{"model": "m-priority", "cost_usd": None, "tokens": 500, "cost_unknown": {"tokens": 500}}],
    )
    page.locator("label[for=range-90]").click()
    expect(page.locator("#total-amount")).to_have_text("Cost unknown")
    expect(page.locator("#cost-unknown-notice")).to_contain_text("500 tokens ran on the priority tier")
    expect(page.locator("#breakdown-body td.num .unknown")).to_have_text(["Cost unknown"])

    # Nothing in the range.
    costs.update(total={"cost_usd": "0", "tokens": 0}, rows=[])
    page.locator("label[for=range-30]").click()
    expect(page.locator("#spend-empty")).to_be_visible()
    expect(page.locator("#spend-empty")).to_have_text("No data yet. Nothing was spent in this date range.")
    expect(page.locator("#spend-data")).to_be_hidden()

    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


QUEUED_EXPORT = {
    "id": "exp_1",
    "status": "queued",
    "format": "focus",
    "from": "2025-11-26",
    "to": "2026-11-25",
    "progress": {"rows": 0, "bytes": 0, "days_done": 0, "days_total": 0},
    "error": None,
}
FAILED_EXPORT = {
    **QUEUED_EXPORT,
    "status": "failed",
    "progress": {"rows": 1200, "bytes": 1_500_000, "days_done": 70, "days_total": 365},
    "error": {"code": "export_timed_out", "message": "The export took longer than one run may take."},
}


def test_an_export_that_fails_is_said_on_the_page_never_silently_dropped(static_server, browser) -> None:
    """The export API's answers are scripted: a job that fails after starting, then a request refused outright."""
    from playwright.sync_api import expect

    empty = {"currency": "USD", "from": "2025-11-26", "to": "2026-11-25", "total": {"cost_usd": "0", "tokens": 0}}
    refused: list[bool] = []

    def page_data(route) -> None:
        body = {"connections": []} if "/integrations/" in route.request.url else {**empty, "rows": []}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    def create(route) -> None:
        if refused:
            error = {"code": "tenant_rate_limited", "message": "Your organization made more than 20 exports."}
            route.fulfill(status=429, content_type="application/json", body=json.dumps({"error": error}))
            return
        route.fulfill(status=202, content_type="application/json", body=json.dumps(QUEUED_EXPORT))

    def follow(route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(FAILED_EXPORT))

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.route(re.compile(r"/(integrations/anthropic|costs)(\?|$)"), page_data)
    page.route(re.compile(r"/costs/exports$"), create)
    page.route(re.compile(r"/costs/exports/exp_1$"), follow)
    page.goto(f"{static_server}/")
    button = page.get_by_role("button", name="Download FOCUS CSV")
    status = page.locator("#export-status")

    button.click()
    expect(status).to_have_text("Could not export the costs: The export took longer than one run may take.")
    expect(status).to_have_class(re.compile(r"\berror\b"))
    expect(button).to_be_enabled()

    refused.append(True)
    button.click()
    expect(status).to_have_text("Could not export the costs: Your organization made more than 20 exports.")
    expect(page.locator("#export-progress")).to_be_hidden()
    assert not page_errors, f"JavaScript errors on the page: {page_errors}"
