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
from tests.support.stack import backfill_months, connect_over_http

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
    # A bound, not a wait: a year's export on a loaded 2-core machine once took longer than 120 s in CI.
    with page.expect_download(timeout=300_000) as download_info:
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

    # Stack by API key: the Console bucket among them.
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="By API key")).to_be_checked()
    expect(page.locator("#chart-legend")).to_contain_text("Console / Workbench (no API key)")
    page.get_by_role("radio", name="By API key").focus()
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


# ------------------------------------------------------------------------ the Analytics-API dimensions (issue 16)

CHART_SERIES = 8  # the page stacks at most this many series; the rest fold into "Other"
PERSON = re.compile(r"\(person\)")


def test_spend_by_person_product_and_key_with_the_discount_and_provisional_days(
    local_stack, browser, artifact_path
) -> None:
    """Against the real backend: the breakdowns the analytics source brings, figures checked against GET /costs."""
    from playwright.sync_api import expect

    connect_over_http(local_stack.url, BACKFILL_TIMEOUT_MS / 1000)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(f"{local_stack.url}/")

    # The last 30 days (the default range) are all read from the analytics API: a list price for every day.
    range_label = page.locator("#range-label")
    expect(range_label).to_have_attribute("data-from", _days_before(range_label.get_attribute("data-to"), 29))
    first, last = range_label.get_attribute("data-from"), range_label.get_attribute("data-to")
    by_day = _costs(local_stack.url, first, last, "date")
    total = by_day["total"]
    assert "list_cost_usd" in total, "GET /costs does not send list prices yet (the analytics backend has not landed)"
    expect(page.locator("#total-amount")).to_have_attribute("data-exact", total["cost_usd"])

    # The discount beside the total is exactly list − net of the API's total.
    assert total["list_cost_usd"] is not None, f"the last 30 days should all have a list price: {by_day['sources']}"
    discount = Decimal(total["list_cost_usd"]) - Decimal(total["cost_usd"])
    assert discount > 0, "the simulated org has a negotiated discount on two models"
    amount = page.locator("#discount-amount")
    expect(amount).to_have_text(display_usd(str(discount)))
    assert Decimal(amount.get_attribute("data-exact")) == discount
    expect(page.locator("#discount")).to_contain_text(f"List price {display_usd(total['list_cost_usd'])}")
    # Priority-tier usage is priced on analytics days: no "cost unknown" notice for this range.
    assert total["cost_unknown"] == {"tokens": 0, "web_search_requests": 0}
    expect(page.locator("#cost-unknown-notice")).to_be_hidden()

    # Recent days are provisional (Anthropic may still revise them): marked on the chart, with the legend's note.
    expect(page.locator(f'svg.chart-svg g.bar[data-slot="{last}"]')).to_have_attribute("data-provisional", "true")
    _assert_provisional_bars(page, by_day)
    expect(page.locator("svg.chart-svg g.bar.provisional rect.hatch").first).to_be_attached()
    expect(page.locator("#chart-provisional")).to_be_visible()
    expect(page.locator("#chart-provisional")).to_contain_text("provisional: Anthropic may still revise these days")

    # By person / service account: a simulated person's name labels a stacked series.
    by_actor = _costs(local_stack.url, first, last, "actor")
    person = _top_named_person(by_actor["rows"], {user.name for user in local_stack.simulator.org.users})
    page.locator("label[for=series-actor]").click()
    expect(page.get_by_role("radio", name="By person / service account")).to_be_checked()
    legend = page.locator("#chart-legend li")
    expect(legend).to_have_count(min(len(by_actor["rows"]), CHART_SERIES))
    item = page.locator(f'#chart-legend li[data-series="{person["actor"]}"]')
    expect(item.locator(".series-label")).to_have_text(person["actor_name"])
    expect(item).to_contain_text(PERSON)
    expect(item.locator(".money")).to_have_attribute("data-exact", person["cost_usd"])
    bar_rects = page.locator("svg.chart-svg g.bar rect.segment")
    assert bar_rects.count() > 30, "the actor breakdown stacks several series per day"
    page.screenshot(path=str(artifact_path("dashboard-by-person.png")), full_page=True)

    # By product: Claude Code among them.
    by_product = _costs(local_stack.url, first, last, "product")
    claude_code = next(row for row in by_product["rows"] if row["product"] == "claude_code")
    page.locator("label[for=series-product]").click()
    expect(page.get_by_role("radio", name="By product")).to_be_checked()
    expect(legend).to_have_count(min(len(by_product["rows"]), CHART_SERIES))
    item = page.locator('#chart-legend li[data-series="claude_code"]')
    expect(item).to_contain_text("Claude Code")
    expect(item.locator(".money")).to_have_attribute("data-exact", claude_code["cost_usd"])

    # By API key: on analytics days Anthropic bills each key exactly; the legend says so.
    by_key = _costs(local_stack.url, first, last, "api_key_id")
    page.locator("label[for=series-api-key]").click()
    expect(page.get_by_role("radio", name="By API key")).to_be_checked()
    top_key = max(by_key["rows"], key=lambda row: Decimal(row["cost_usd"] or 0))
    assert top_key["allocation"] == "billed", top_key
    item = page.locator(f'#chart-legend li[data-series="{top_key["api_key_id"]}"]')
    expect(item).to_contain_text(top_key["api_key_name"])
    expect(item).to_contain_text("(billed per key)")
    expect(page.locator("#chart-notes")).to_contain_text("Billed per key")

    # Over 90 days, the older days are settled: only the recent ones are marked.
    page.locator("label[for=series-model]").click()
    expect(page.get_by_role("radio", name="By model")).to_be_checked()
    page.locator("label[for=range-90]").click()
    expect(range_label).to_have_attribute("data-from", _days_before(last, 89))
    expect(page.locator("svg.chart-svg g.bar")).to_have_count(90)
    marked = _assert_provisional_bars(page, _costs(local_stack.url, _days_before(last, 89), last, "date"))
    assert set(marked.values()) == {"true", "false"}, marked
    page.screenshot(path=str(artifact_path("dashboard-90-days.png")), full_page=True)

    # A year reaches back before the analytics API: those days have no list price, so the discount is unknown
    # (never $0), and their priority-tier usage has no cost.
    page.locator("label[for=range-365]").click()
    expect(range_label).to_have_attribute("data-from", _days_before(last, 364))
    year = _costs(local_stack.url, _days_before(last, 364), last, "month")
    expect(page.locator("#total-amount")).to_have_attribute("data-exact", year["total"]["cost_usd"] or "")
    priced = year["total"]["list_priced"]
    if year["total"]["list_cost_usd"] is None:
        # Discount on the days that have a list price, saying how many.
        assert 0 < priced["days"] < priced["of_days"]
        expect(amount).to_have_text(display_usd(priced["discount_usd"]))
        expect(amount).to_have_attribute("data-exact", priced["discount_usd"])
        expect(page.locator("#discount-detail")).to_contain_text(
            f"Discount on {priced['days']} of {priced['of_days']} days: {display_usd(priced['discount_usd'])} ("
        )
    else:
        year_discount = Decimal(year["total"]["list_cost_usd"]) - Decimal(year["total"]["cost_usd"])
        expect(amount).to_have_text(display_usd(str(year_discount)))
    notice = page.locator("#cost-unknown-notice")
    if any(year["total"]["cost_unknown"].values()):
        expect(notice).to_be_visible()
    else:
        expect(notice).to_be_hidden()
    if year["settled_through"] is not None:  # months are marked from it (month rows carry no flag)
        expect(page.locator("svg.chart-svg g.bar.provisional").last).to_have_attribute("data-slot", last[:7])
    # By person over the year: the legacy days are one "Before analytics" series, with the API's sentence on why.
    year_by_actor = _costs(local_stack.url, _days_before(last, 364), last, "month,actor")
    before = next(row for row in year_by_actor["rows"] if row["actor_type"] == "unknown")
    page.locator("label[for=series-actor]").click()
    expect(page.locator(f'#chart-legend li[data-series="{before["actor"]}"]')).to_contain_text("Before analytics")
    if before.get("actor_note"):
        expect(page.locator("#chart-notes")).to_contain_text(before["actor_note"])
    page.screenshot(path=str(artifact_path("dashboard-year-by-person.png")), full_page=True)

    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


def _assert_provisional_bars(page, by_day: dict) -> dict[str, str]:
    """Each day's bar is marked provisional exactly when GET /costs says the day is (its flag, or settled_through)."""
    from playwright.sync_api import expect

    flagged = {row["date"] for row in by_day["rows"] if row["provisional"]}
    settled_through = by_day["settled_through"]
    assert flagged, "recent days should be provisional"
    bars = page.locator("svg.chart-svg g.bar")
    expect(bars.last).to_have_attribute("data-slot", by_day["to"])
    marked = {bar.get_attribute("data-slot"): bar.get_attribute("data-provisional") for bar in bars.all()}
    for day, flag in marked.items():
        expected = day in flagged or (settled_through is not None and day > settled_through)
        assert flag == ("true" if expected else "false"), (day, flag, settled_through)
    return marked


def _costs(url: str, first: str, last: str, group_by: str) -> dict:
    response = requests.get(
        f"{url}/costs", params={"from": first, "to": last, "group_by": group_by, "limit": 10_000}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body["has_more"]
    return body


def _top_named_person(rows: list[dict], people: set[str]) -> dict:
    """The costliest simulated person among the series the chart shows on its own (not folded into "Other")."""
    ranked = sorted(rows, key=lambda row: Decimal(row["cost_usd"] or 0), reverse=True)
    shown = ranked if len(ranked) <= CHART_SERIES else ranked[: CHART_SERIES - 1]
    named = [row for row in shown if row["actor_type"] == "user_actor" and row["actor_name"] in people]
    assert named, f"no simulated person among the top series: {[row['actor_name'] for row in shown]}"
    return named[0]


SCRIPTED_SERIES = {
    "model": [{"model": "claude-opus-4-6", "cost_usd": "50", "list_cost_usd": "62.5", "tokens": 10}],
    "actor": [
        {
            "actor": "user_01ada",
            "actor_type": "user_actor",
            "actor_id": "user_01ada",
            "actor_name": '<img src=x onerror="window.__pwned=1">Ada',
            "actor_email": "ada@acme.example",
            "cost_usd": "20",
            "list_cost_usd": "25",
            "tokens": 10,
        },
        {
            "actor": "user_01bob",
            "actor_type": "user_actor",
            "actor_id": "user_01bob",
            "actor_name": None,
            "actor_email": "bob@acme.example",
            "cost_usd": "10",
            "list_cost_usd": "10",
            "tokens": 10,
        },
        {
            "actor": "svcacct_01etl",
            "actor_type": "service_account_actor",
            "actor_id": "svcacct_01etl",
            "actor_name": None,
            "actor_email": None,
            "actor_note": "Service account names cannot be read with an Admin key.",
            "cost_usd": "5",
            "list_cost_usd": "5",
            "tokens": 10,
        },
        {"actor": None, "actor_type": None, "actor_id": None, "actor_name": None, "actor_email": None, "cost_usd": "2"},
        {
            "actor": "unknown",
            "actor_type": "unknown",
            "actor_id": "unknown",
            "actor_name": None,
            "actor_email": None,
            "cost_usd": "1",
        },
    ],
    "product": [
        {"product": "claude_code", "cost_usd": "30", "list_cost_usd": "36", "tokens": 10},
        {"product": "messages_api", "cost_usd": "6", "list_cost_usd": "6", "tokens": 10},
        {"product": None, "cost_usd": "2", "list_cost_usd": "2", "tokens": 1},
        {"product": "unknown", "cost_usd": "1", "list_cost_usd": None, "tokens": 1},
    ],
    "api_key_id": [
        {"api_key_id": "apikey_01", "api_key_name": "ci", "api_key_hint": "sk-ant-api03-…AbCd", "allocation": "billed"},
        {"api_key_id": "apikey_02", "api_key_name": "batch", "api_key_hint": None, "allocation": "mixed"},
    ],
}


def test_the_analytics_breakdowns_on_scripted_answers(static_server, browser) -> None:
    """GET /costs answered by the test: labels of people and products, names from the org shown as text only,
    the exact discount (or why it is unknown), provisional days, and an older API without these fields."""
    from playwright.sync_api import expect

    answers: dict = {"total": {"cost_usd": "100.005", "list_cost_usd": "125.01", "tokens": 40}, "legacy": False}

    def answer(route) -> None:
        url = urlsplit(route.request.url)
        if url.path == "/integrations/anthropic":
            body: dict = {"connections": []}
        else:
            body = _scripted_costs(parse_qs(url.query), answers)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.route(re.compile(r"/(integrations/anthropic|costs)(\?|$)"), answer)
    page.goto(f"{static_server}/")

    # The discount, exact: 125.01 − 100.005 = 25.005, which rounds half-up to $25.01 (as a float, 25.00).
    amount = page.locator("#discount-amount")
    expect(amount).to_have_text("$25.01")
    expect(amount).to_have_attribute("data-exact", "25.005")
    expect(page.locator("#discount-detail")).to_have_text("List price $125.01 − net $100.01")
    expect(page.locator("#total-sources")).to_have_text("Source: Anthropic's analytics API 2020-01-01 → 2030-01-01")

    # Provisional: the days after settled_through (the last two), and the rows flagged so.
    range_label = page.locator("#range-label")
    last = range_label.get_attribute("data-to")
    provisional = page.locator("svg.chart-svg g.bar.provisional")
    expect(provisional).to_have_count(2)
    expect(provisional.last).to_have_attribute("data-slot", last)
    expect(page.locator("#chart-provisional")).to_contain_text(f"after {_days_before(last, 2)}")

    # People: by name, else email, else id; the rest say why they have none. Org text is text, never markup.
    page.locator("label[for=series-actor]").click()
    legend = page.locator("#chart-legend")
    expect(legend.locator(".series-label")).to_have_text(
        [
            '<img src=x onerror="window.__pwned=1">Ada',
            "bob@acme.example",
            "svcacct_01etl",
            "Unattributed (no identity from Anthropic)",
            "Before analytics (no per-person detail)",
        ]
    )
    expect(legend.locator('li[data-series="svcacct_01etl"]')).to_contain_text("(service account)")
    expect(page.locator("#chart-notes")).to_contain_text("Service account names cannot be read with an Admin key.")
    expect(page.locator("#chart-notes")).to_contain_text("no per-person or per-product detail")
    assert page.locator("#chart-legend img").count() == 0
    assert page.evaluate("window.__pwned") is None
    expect(page.locator("svg.chart-svg title").last).to_contain_text('<img src=x onerror="window.__pwned=1">Ada')

    page.locator("label[for=series-product]").click()
    expect(legend.locator(".series-label")).to_have_text(
        ["Claude Code", "Messages API", "No product (e.g. code execution)", "Before analytics (product not reported)"]
    )

    page.locator("label[for=series-api-key]").click()
    expect(legend.locator("li")).to_have_text(
        [re.compile(r"^ci \(sk-ant-api03-…AbCd\) \(billed per key\)"), re.compile(r"^batch \(billed \+ allocated\)")]
    )
    expect(page.locator("#chart-notes li")).to_have_count(2)

    # Days before the analytics API have no list price: the discount is unknown, not $0, and says which days.
    answers.update(total={"cost_usd": "80", "list_cost_usd": None, "tokens": 40}, legacy=True)
    page.locator("label[for=range-90]").click()
    expect(amount).to_have_text("Unknown")
    expect(amount).to_have_attribute("data-exact", "")
    expect(page.locator("#discount-detail")).to_contain_text(
        "Unknown for days before the analytics API (2019-12-01 → 2019-12-31)"
    )
    expect(page.locator("#total-sources")).to_contain_text("legacy cost report 2019-12-01 → 2019-12-31")

    # An older API (no list prices, no provisional days): no discount figure, and no actor or product breakdown.
    answers.update(total={"cost_usd": "80", "tokens": 40}, old_api=True)
    page.locator("label[for=range-365]").click()
    expect(page.locator("#discount")).to_be_hidden()
    expect(page.get_by_role("radio", name="By person / service account")).to_be_disabled()
    expect(page.get_by_role("radio", name="By product")).to_be_disabled()
    expect(page.get_by_role("radio", name="By API key")).to_be_enabled()
    expect(page.locator("svg.chart-svg g.bar.provisional")).to_have_count(0)
    expect(page.locator("#chart-provisional")).to_be_hidden()
    expect(page.locator("#total-sources")).to_have_text("")

    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


def _scripted_costs(query: dict, answers: dict) -> dict:
    """A GET /costs body: each series of SCRIPTED_SERIES on a settled day and on a provisional one."""
    first, last = query["from"][0], query["to"][0]
    dims = query["group_by"][0].split(",")
    series = next(d for d in dims if d not in ("date", "month"))
    settled_day, recent_day = _days_before(last, 5), last
    rows = []
    for template in SCRIPTED_SERIES[series]:
        for day in (settled_day, recent_day):
            row = {"date": day, "month": day[:7], "tokens": 0, "list_cost_usd": None, **template}
            if "date" in dims and not answers.get("old_api"):
                row["provisional"] = day == recent_day
            rows.append(row)
    body = {"currency": "USD", "from": first, "to": last, "group_by": dims, "total": answers["total"], "rows": rows}
    if answers.get("old_api"):
        for row in rows:
            row.pop("list_cost_usd")
        return body
    sources = [{"source": "analytics", "from": "2020-01-01", "to": "2030-01-01"}]
    if answers["legacy"]:
        sources.insert(0, {"source": "legacy", "from": "2019-12-01", "to": "2019-12-31"})
    return {**body, "settled_through": _days_before(last, 2), "sources": sources}
