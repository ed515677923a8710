"""The dashboard's finance views in a real headless Chromium: today's spend by UTC hour, the rate card, the cache
savings and a month's reconciliation with Anthropic. One test answers the page's API calls itself (exact figures,
unknowns, refusals, errors, hostile names); the others run the real stack and compare the page with the API."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi, make_http_server
from pump_local.static_files import static_asset
from tests.support.stack import SMALL_ORG, LocalStack, connect_over_http, ignore_client_disconnects

pytestmark = pytest.mark.network

BACKFILL_TIMEOUT_S = 90
HOSTILE = '<img src=x onerror="window.__pwned=1">'
HOSTILE_MODEL = f"{HOSTILE}claude-evil"
HOSTILE_ORG = f"{HOSTILE}Acme <b>Labs</b>"
API_PATHS = re.compile(r"^https?://[^/]+/(integrations/anthropic|costs|alerts|budgets)(/|\?|$)")


def display_usd(exact: str) -> str:
    """What the page must show for an exact amount: half-up to the cent, thousands grouped."""
    value = Decimal(exact).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"-${-value:,}" if value < 0 else f"${value:,}"


def last_complete_month() -> str:
    today = datetime.now(UTC).date()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


# ------------------------------------------------------------------------------------------ scripted answers

CONNECTION = {
    "id": "conn_1",
    "status": "active",
    "organization": {"id": "org_1", "name": HOSTILE_ORG},
    "key_hint": "sk-ant-admin01-…WXYZ",
    "backfill": {"chunks_total": 13, "chunks_done": 13, "chunks_failed": 0, "failed_chunks": []},
    "last_sync_at": "2026-11-25T10:00:00Z",
    "last_error": None,
}


def rate_row(**fields) -> dict:
    row = {
        "model": "claude-sonnet-4-5",
        "model_ids": ["claude-sonnet-4-5-20250929"],
        "cost_type": "tokens",
        "token_type": "uncached_input_tokens",
        "service_tier": "standard",
        "context_window": "0-200k",
        "inference_geo": None,
        "speed": "standard",
        "unit": "tokens",
        "per": "1M tokens",
        "tokens": 1_000_000,
        "requests": None,
        "cost_usd": "2.4",
        "list_cost_usd": "3",
        "net_usd_per_unit": "2.4",
        "list_usd_per_unit": "3",
        "discount_pct": "20",
        "rate_exact": True,
        "rate_status": "exact",
        "net_usd_per_unit_rounded": "2.400000",
        "list_usd_per_unit_rounded": "3.000000",
        "first_seen": "2026-11-01",
        "last_seen": "2026-11-30",
        "days": 30,
        "rate_changed": False,
    }
    return {**row, **fields}


RATES = [
    rate_row(model=HOSTILE_MODEL, model_ids=[HOSTILE_MODEL]),
    rate_row(
        token_type="output_tokens",
        net_usd_per_unit="0.075",
        list_usd_per_unit=None,
        list_cost_usd=None,
        list_usd_per_unit_rounded=None,
        discount_pct=None,
        cost_usd="0.075",
        first_seen="2026-11-03",
        last_seen="2026-11-14",
        rate_changed=True,
    ),
    rate_row(
        token_type="cache_read_input_tokens",
        net_usd_per_unit=None,
        net_usd_per_unit_rounded="0.123457",
        list_usd_per_unit=None,
        list_usd_per_unit_rounded="0.15",
        discount_pct="17.6954",
        rate_exact=False,
        rate_status="inexact",
        cost_usd="0.3703703",
    ),
    rate_row(
        model=None,
        model_ids=[],
        cost_type="code_execution",
        token_type=None,
        service_tier=None,
        context_window=None,
        speed=None,
        unit=None,
        per=None,
        tokens=None,
        cost_usd="1.44127539",
        list_cost_usd="1.44127539",
        net_usd_per_unit=None,
        list_usd_per_unit=None,
        net_usd_per_unit_rounded=None,
        list_usd_per_unit_rounded=None,
        discount_pct="0",
        rate_exact=False,
        rate_status="no_usage",
    ),
    rate_row(
        cost_type="web_search",
        token_type=None,
        unit="requests",
        per="request",
        tokens=None,
        requests=300,
        net_usd_per_unit="0.01",
        list_usd_per_unit="0.01",
        discount_pct="0",
        cost_usd="3",
    ),
]


def savings_figures(net: str, read: str, p5: str, p1h: str, **flags) -> dict:
    return {
        "uncached_input_tokens": 1000,
        "uncached_input_cost_usd": "3",
        "cache_read_tokens": 2_500_000,
        "cache_read_cost_usd": "0.75",
        "savings_known_tokens": 2_500_000,
        "unpriced_cache_read_tokens": 0,
        "cache_read_as_input_usd": "7.5",
        "read_savings_usd": read,
        "cache_write_5m_tokens": 100,
        "cache_write_5m_cost_usd": "0.1",
        "cache_write_5m_premium_usd": p5,
        "unpriced_cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 100,
        "cache_write_1h_cost_usd": "0.2",
        "cache_write_1h_premium_usd": p1h,
        "unpriced_cache_write_1h_tokens": 0,
        "net_savings_usd": net,
        "cache_loses_money": flags.get("cache_loses_money", False),
        "one_hour_cache_loses_money": flags.get("one_hour_cache_loses_money", False),
        "savings_exact": True,
    }


SAVINGS_BY_MODEL = [
    {
        "model": "claude-opus-4-1",
        "model_ids": ["claude-opus-4-1"],
        **savings_figures("-2.005", "3", "0.005", "5", cache_loses_money=True, one_hour_cache_loses_money=True),
    },
    {"model": HOSTILE_MODEL, "model_ids": [HOSTILE_MODEL], **savings_figures("1234.5", "1300", "65.5", "0")},
    {"model": "claude-haiku-4-5", "model_ids": ["claude-haiku-4-5"], **savings_figures("0.5", "2.5", "0", "2")},
]
SAVINGS_BY_WORKSPACE = [
    {"workspace_id": None, "workspace_name": "Default workspace", **savings_figures("100", "100", "0", "0")},
    {
        "workspace_id": "wrkspc_01",
        "workspace_name": f"{HOSTILE}Prod",
        **savings_figures("1132.995", "1205.5", "65.505", "7"),
    },
]
SAVINGS_TOTAL = savings_figures("1232.995", "1305.5", "65.505", "7")
KEY_REFUSAL = (
    "Savings can't be grouped by 'api_key_id': Anthropic's analytics API bills API keys in dollars without their "
    "tokens, so cache savings can't be split by key; group_by may list date, month, workspace_id, model, model_id, "
    "service_tier, context_window, speed."
)

HOURS = {"00": "1.005", "01": "12.5", "05": "0.004", "13": "250.125"}
HOURLY_TOTAL = "263.634"

RECONCILIATION = {
    "month": last_complete_month(),
    "connection_id": None,
    "status": "explained",
    "stored_usd": "1234.56",
    "anthropic_usd": "1236.845",
    "difference_usd": "2.285",
    "explained_usd": "2.285",
    "unexplained_usd": "0.00",
    "lines": [
        {
            "kind": "provisional_days",
            "connection_id": "conn_1",
            "description": "Anthropic revised the last 2 days <b>after</b> the sync read them.",
            "amount_usd": "0.785",
            "tokens": None,
            "from": "2026-10-30",
            "to": "2026-10-31",
        },
        {
            "kind": "priority_tier_unpriced",
            "connection_id": "conn_1",
            "description": "Priority-tier tokens Anthropic reports without a cost.",
            "amount_usd": None,
            "tokens": 123456,
            "from": "2026-10-01",
            "to": "2026-10-31",
        },
        {
            "kind": "code_execution_missing",
            "connection_id": "conn_1",
            "description": "Code execution billed by Anthropic but not in the stored days.",
            "amount_usd": "1.5",
            "tokens": None,
            "from": "2026-10-12",
            "to": "2026-10-12",
        },
    ],
    "connections": [
        {
            "connection_id": "conn_1",
            "organization_name": HOSTILE_ORG,
            "status": "explained",
            "stored_usd": "1234.56",
            "anthropic_usd": "1236.845",
            "difference_usd": "2.285",
            "unexplained_usd": "0.00",
            "sources": [{"source": "analytics", "from": "2026-10-01", "to": "2026-10-31"}],
        }
    ],
    "notes": ["Neither figure includes credits or taxes <script>x</script>."],
    "read_at": "2026-11-02T08:00:00Z",
}


class ScriptedApi:
    """The page's API, answered by the test; it records every request the page made."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.hourly_data = True
        self.reconciliation = [
            (429, {"error": {"code": "tenant_rate_limited", "message": "Too many requests."}}, {"Retry-After": "17"}),
            (503, {"error": {"code": "anthropic_unavailable", "message": "Anthropic's API <i>kept</i> failing."}}, {}),
            (200, RECONCILIATION, {}),
            (200, {**RECONCILIATION, "connection_id": "conn_1", "status": "unexplained", "unexplained_usd": "0.5"}, {}),
        ]

    def paths(self, path: str) -> list[dict]:
        return [query for p, query in self.requests if p == path]

    def answer(self, route) -> None:
        url = urlsplit(route.request.url)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.requests.append((url.path, query))
        if url.path == "/integrations/anthropic":
            return self._json(route, 200, {"connections": [CONNECTION]})
        if url.path == "/costs" and query.get("group_by") == "hour":
            if not self.hourly_data:
                error = {"code": "no_hourly_data", "message": "Hourly data starts with the next sync."}
                return self._json(route, 400, {"error": error})
            day = query["from"]
            rows = [{"hour": f"{day}T{h}:00:00Z", "cost_usd": c} for h, c in HOURS.items()]
            total = {"cost_usd": HOURLY_TOTAL, "tokens": 0}
            return self._json(route, 200, {"currency": "USD", "from": day, "to": day, "rows": rows, "total": total})
        if url.path == "/costs":
            report = {"currency": "USD", "from": query["from"], "to": query["to"], "rows": []}
            return self._json(route, 200, {**report, "total": {"cost_usd": "0", "tokens": 0}})
        if url.path == "/costs/rates":
            return self._json(route, 200, {"currency": "USD", **self._range(query), "group_by": [], "rows": RATES})
        if url.path == "/costs/savings":
            by = query.get("group_by")
            if by == "api_key_id":
                return self._json(route, 400, {"error": {"code": "invalid_query", "message": KEY_REFUSAL}})
            rows = SAVINGS_BY_MODEL if by == "model" else SAVINGS_BY_WORKSPACE
            body = {"currency": "USD", **self._range(query), "group_by": [by], "total": SAVINGS_TOTAL, "rows": rows}
            return self._json(route, 200, body)
        if url.path == "/costs/reconciliation":
            status, body, headers = self.reconciliation.pop(0)
            return self._json(route, status, body, headers)
        if url.path == "/alerts":
            return self._json(route, 200, {"from": "2026-10-27", "to": "2026-11-25", "alerts": []})
        if url.path == "/budgets":
            return self._json(route, 200, {"budgets": []})
        return self._json(route, 404, {"error": {"code": "not_found", "message": "No such route."}})

    @staticmethod
    def _range(query: dict) -> dict:
        return {"from": query["from"], "to": query["to"]}

    @staticmethod
    def _json(route, status: int, body: dict, headers: dict | None = None) -> None:
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body), headers=headers or {})


def test_finance_views_on_scripted_answers(static_server, browser, artifact_path) -> None:
    """Each view from the API's exact strings: hourly bars and total, rates with their unknowns, savings with the
    money-losing caches flagged in words, the refusal by API key, the reconciliation only on click, its errors and its
    lines; names and sentences from the organization are text, never markup."""
    from playwright.sync_api import expect

    scripted = ScriptedApi()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.route(API_PATHS, scripted.answer)
    page.goto(f"{static_server}/")
    today = datetime.now(UTC).date().isoformat()

    # The views below the fold ask nothing until they are scrolled into view (their reads cost quota).
    expect(page.locator("#total-amount")).to_have_attribute("data-exact", "0")
    assert [q for q in scripted.paths("/costs") if q.get("group_by") == "hour"] == []
    assert scripted.paths("/costs/rates") == [] and scripted.paths("/costs/savings") == []

    # ---- today by hour: 24 bars, missing hours at $0, the total as the API gives it.
    page.locator("#today").scroll_into_view_if_needed()
    bars = page.locator("#hourly-svg g.hour-bar")
    expect(bars).to_have_count(24)
    total = page.locator("#hourly-total")
    expect(total).to_have_attribute("data-exact", HOURLY_TOTAL)
    expect(total).to_have_text(display_usd(HOURLY_TOTAL))
    expect(page.locator("#hourly-day")).to_contain_text(today)
    for hour in range(24):
        exact = HOURS.get(f"{hour:02d}", "0")
        expect(bars.nth(hour)).to_have_attribute("data-hour", f"{today}T{hour:02d}")
        expect(bars.nth(hour)).to_have_attribute("data-exact", exact)
    expect(bars.nth(13).locator("title")).to_have_text("13:00–13:59 UTC: $250.13")
    expect(bars.nth(5).locator("title")).to_have_text("05:00–05:59 UTC: <$0.01")
    expect(bars.nth(2).locator("title")).to_have_text("02:00–02:59 UTC: no spend")
    heights = bars.locator("rect.hour-fill").evaluate_all("rs => rs.map(r => r.getBBox().height)")
    assert heights[13] == max(heights) and heights[2] == 0 and heights[1] > heights[0] > 0, heights
    page.locator("#hourly-figures summary").click()
    expect(page.locator("#hourly-body tr")).to_have_count(24)
    expect(page.locator('#hourly-body tr[data-hour$="T00"] .money')).to_have_text("$1.01")
    expect(page.locator('#hourly-body tr[data-hour$="T00"] .money')).to_have_attribute("title", "1.005 USD (exact)")
    page.locator("#today").screenshot(path=str(artifact_path("finance-hourly.png")))
    hourly_query = scripted.paths("/costs")
    assert {"from": today, "to": today, "group_by": "hour", "limit": "10000"} in hourly_query, hourly_query

    # ---- rates: model × token type, net and list per MTok, discount, first and last seen; unknowns are "—".
    range_label = page.locator("#range-label")
    page.locator("#rates").scroll_into_view_if_needed()
    expect(page.locator("#rates-range")).to_have_attribute("data-from", range_label.get_attribute("data-from"))
    rows = page.locator("#rates-body tr")
    expect(rows).to_have_count(len(RATES))
    hostile = rows.nth(0)
    expect(hostile.locator("th")).to_have_text(HOSTILE_MODEL)
    expect(hostile.locator("td").nth(0)).to_have_text("Input")
    expect(hostile.locator(".price-class")).to_have_text("standard · 0-200k")
    expect(hostile.locator(".net")).to_have_text("$2.40")
    expect(hostile.locator(".net .rate")).to_have_attribute("title", "2.4 USD per 1M tokens (exact net rate)")
    expect(hostile.locator(".list")).to_have_text("$3.00")
    expect(hostile.locator(".discount")).to_have_text("20%")
    expect(hostile.locator(".first-seen")).to_have_text("2026-11-01")
    expect(hostile.locator(".last-seen")).to_have_text("2026-11-30")
    legacy = rows.nth(1)  # output tokens at $0.075 (never rounded to the cent), no list price
    expect(legacy.locator("td").nth(0)).to_contain_text("Output")
    expect(legacy.locator(".rate-changed-badge")).to_have_text("rate changed")
    expect(legacy.locator(".net")).to_have_text("$0.075")
    for cell in ("list", "discount"):
        expect(legacy.locator(f".{cell}")).to_have_text("—")
        expect(legacy.locator(f".{cell} .unknown-value")).to_have_attribute("title", re.compile(r"^Unknown: "))
    expect(legacy.locator(".first-seen")).to_have_text("2026-11-03")
    inexact = rows.nth(2)
    expect(inexact.locator(".net")).to_have_text("≈ $0.123457")
    expect(inexact.locator(".list")).to_have_text("≈ $0.15")
    expect(inexact.locator(".discount")).to_have_text("17.7%")
    no_usage = rows.nth(3)
    expect(no_usage.locator("th")).to_have_text("No model")
    expect(no_usage.locator("td").nth(0)).to_have_text("Code execution")
    expect(no_usage.locator(".net")).to_have_text("—")
    expect(no_usage.locator(".net .unknown-value")).to_have_attribute(
        "title", "Unknown: Anthropic reports this cost without usage, so it has no price per unit."
    )
    expect(no_usage.locator(".money")).to_have_attribute("data-exact", "1.44127539")
    expect(rows.nth(4).locator(".net")).to_have_text("$0.01 / request")
    page.locator("#rates").screenshot(path=str(artifact_path("finance-rates.png")))

    # ---- savings by model: net savings exact, the money-losing cache flagged by a class and a badge in words.
    page.locator("#savings").scroll_into_view_if_needed()
    savings_rows = page.locator("#savings-body tr")
    expect(savings_rows).to_have_count(3)
    expect(page.locator("#savings-total .money")).to_have_attribute("data-exact", "1232.995")
    expect(page.locator("#savings-total")).to_have_text("$1,233.00")
    losing = savings_rows.nth(0)
    expect(losing).to_have_class(re.compile(r"\bcache-loses-money\b"))
    expect(losing.locator(".loss-badge")).to_have_text(["1-hour cache loses money", "Net loss"])
    expect(losing.locator(".net-savings")).to_have_text("-$2.01")
    expect(losing.locator(".net-savings .money")).to_have_attribute("data-exact", "-2.005")
    expect(savings_rows.nth(1).locator("th")).to_have_text(HOSTILE_MODEL)
    expect(savings_rows.nth(1).locator(".net-savings")).to_have_text("$1,234.50")
    for fine in (savings_rows.nth(1), savings_rows.nth(2)):
        expect(fine).not_to_have_class(re.compile(r"\bcache-loses-money\b"))
        expect(fine.locator(".loss-badge")).to_have_count(0)
    expect(page.locator("#savings-foot .net-savings .money")).to_have_attribute("data-exact", "1232.995")
    expect(page.locator("#savings-body tr.cache-loses-money")).to_have_count(1)
    page.locator("#savings").screenshot(path=str(artifact_path("finance-savings.png")))

    # By workspace: the workspace's name as text. By API key: the API refuses it, and the page says its sentence.
    page.locator("label[for=savings-workspace]").click()
    expect(savings_rows.nth(1).locator("th")).to_have_text(f"{HOSTILE}Prod")
    page.locator("label[for=savings-api-key]").click()
    expect(page.locator("#savings-refused")).to_have_text(f"Not available by API key: {KEY_REFUSAL}")
    expect(page.locator("#savings-table")).to_be_hidden()
    assert [q["group_by"] for q in scripted.paths("/costs/savings")][-3:] == ["model", "workspace_id", "api_key_id"]
    page.locator("label[for=savings-model]").click()
    expect(page.locator("#savings-table")).to_be_visible()
    expect(page.locator("#savings-refused")).to_be_hidden()

    # ---- reconciliation: nothing asked before the click; the month defaults to the last complete one.
    assert scripted.paths("/costs/reconciliation") == []
    section = page.locator("#reconciliation")
    expect(section.get_by_label("Month (UTC)")).to_have_value(last_complete_month())
    expect(section.get_by_label("Organization", exact=True).locator("option")).to_have_text(
        ["All organizations", HOSTILE_ORG]
    )
    status = page.locator("#reconcile-status")
    button = section.get_by_role("button", name="Reconcile")
    button.click()
    expect(status).to_have_text(f"Could not reconcile {last_complete_month()}: Too many requests. Try again in 17 s.")
    expect(status).to_have_class(re.compile(r"\berror\b"))
    button.click()
    expect(status).to_have_text(f"Could not reconcile {last_complete_month()}: Anthropic's API <i>kept</i> failing.")
    expect(page.locator("#reconcile-result")).to_be_hidden()
    button.click()
    expect(page.locator("#reconcile-result")).to_be_visible()
    expect(status).to_have_text("")
    assert scripted.paths("/costs/reconciliation") == [{"month": last_complete_month()}] * 3
    expect(page.locator("#reconcile-badge")).to_have_text("Difference explained")
    expect(page.locator("#reconcile-badge")).to_have_attribute("data-status", "explained")
    expect(page.locator("#reconcile-heading")).to_have_text(f"{last_complete_month()} · all organizations")
    for field, exact in (("stored", "1234.56"), ("anthropic", "1236.845"), ("difference", "2.285")):
        expect(page.locator(f"#reconcile-{field} .money")).to_have_attribute("data-exact", exact)
        expect(page.locator(f"#reconcile-{field}")).to_have_text(display_usd(exact))
    expect(page.locator("#reconcile-unexplained")).to_have_text("$0.00")
    expect(page.locator("#reconcile-notes li")).to_have_text(RECONCILIATION["notes"])
    lines = page.locator("#reconcile-lines-body tr")
    expect(lines).to_have_count(3)
    expect(lines.nth(0).locator("th")).to_have_text("Provisional days")
    expect(lines.nth(0).locator(".org-name")).to_have_text(HOSTILE_ORG)
    expect(lines.nth(0).locator(".line-description")).to_have_text(RECONCILIATION["lines"][0]["description"])
    expect(lines.nth(0)).to_contain_text("2026-10-30 → 2026-10-31")
    expect(lines.nth(0).locator(".line-amount")).to_have_text("$0.79")
    expect(lines.nth(1).locator(".line-amount")).to_have_text("123,456 tokens")
    expect(lines.nth(2).locator(".line-amount")).to_have_text("$1.50")
    expect(lines.nth(2)).to_contain_text("2026-10-12")
    connection = page.locator("#reconcile-connections-body tr")
    expect(connection).to_have_count(1)
    expect(connection.locator("th")).to_have_text(HOSTILE_ORG)
    expect(connection.locator(".badge")).to_have_text("Explained")
    expect(connection.locator(".sources-cell")).to_have_text("analytics: 2026-10-01 → 2026-10-31")
    page.locator("#reconciliation").screenshot(path=str(artifact_path("finance-reconciliation.png")))

    # Another month of one organization: both sent; the status in words.
    section.get_by_label("Month (UTC)").fill("2026-09")
    section.get_by_label("Organization", exact=True).select_option("conn_1")
    button.click()
    expect(page.locator("#reconcile-badge")).to_have_text("Unexplained difference")
    expect(page.locator("#reconcile-heading")).to_have_text(f"{last_complete_month()} · {HOSTILE_ORG}")
    assert scripted.paths("/costs/reconciliation")[-1] == {"month": "2026-09", "connection_id": "conn_1"}

    # No markup from the organization ran or rendered anywhere.
    assert page.locator("main img, main b, main i").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # ---- a day without hourly data: the API's 400 becomes "No hourly data yet".
    scripted.hourly_data = False
    page.reload()
    page.locator("#today").scroll_into_view_if_needed()
    expect(page.locator("#hourly-empty")).to_be_visible()
    expect(page.locator("#hourly-empty")).to_have_text("No hourly data yet. Hourly data starts with the next sync.")
    expect(page.locator("#hourly-chart")).to_be_hidden()
    expect(page.locator("#hourly-total")).to_have_text("—")
    expect(page.locator("#hourly-status")).to_have_text("")

    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


# ------------------------------------------------------------------------------------------ the real stack


@pytest.fixture(scope="module")
def connected_stack() -> Iterator[tuple[LocalStack, dict]]:
    """The whole stack over HTTP (as conftest's local_stack), an organization with a hostile name, connected and
    backfilled once for the tests of this module, then synced once (today's hours)."""
    org = dataclasses.replace(SMALL_ORG, name=HOSTILE_ORG)
    with Simulator(org, admin_key=DEMO_ADMIN_KEY) as simulator, LocalAws(simulator.url) as aws:
        server = make_http_server(LocalApi(), "127.0.0.1", 0, static=static_asset)
        server.daemon_threads = False
        ignore_client_disconnects(server)
        thread = threading.Thread(target=server.serve_forever, name="dashboard-http", daemon=True)
        thread.start()
        try:
            stack = LocalStack(f"http://127.0.0.1:{server.server_address[1]}", simulator, aws)
            connection = connect_over_http(stack.url, BACKFILL_TIMEOUT_S)
            response = requests.post(f"{stack.url}/integrations/anthropic/{connection['id']}/sync", timeout=30)
            assert response.status_code == 202, response.text
            aws.drain_sync_queue()
            yield stack, connection
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{url}/")
    return page, errors


def test_rates_and_savings_on_the_real_stack(connected_stack, browser, artifact_path) -> None:
    """The page's rate card and savings are the API's, row for row and to the exact string."""
    from playwright.sync_api import expect

    stack, _ = connected_stack
    page, page_errors = _open(browser, stack.url)
    page.locator("#rates").scroll_into_view_if_needed()
    rates_range = page.locator("#rates-range")
    expect(rates_range).to_have_attribute("data-from", re.compile(r"^\d{4}-\d{2}-\d{2}$"))
    first, last = rates_range.get_attribute("data-from"), rates_range.get_attribute("data-to")

    card = requests.get(f"{stack.url}/costs/rates", params={"from": first, "to": last}, timeout=60).json()
    rows = page.locator("#rates-body tr")
    expect(rows).to_have_count(len(card["rows"]))
    assert card["rows"], "the simulated org has usage in the last 30 days"
    for i, row in enumerate(card["rows"]):
        net = rows.nth(i).locator(".net")
        if row["net_usd_per_unit"] is not None:
            expect(net.locator(".rate")).to_have_attribute("data-exact", row["net_usd_per_unit"])
        elif row["net_usd_per_unit_rounded"] is not None:
            expect(net).to_have_text(re.compile(r"^≈ \$"))
        else:
            expect(net).to_have_text("—")
        expect(rows.nth(i).locator(".first-seen")).to_have_text(row["first_seen"])
        expect(rows.nth(i).locator(".last-seen")).to_have_text(row["last_seen"])
    page.locator("#rates").screenshot(path=str(artifact_path("finance-rates-real.png")))

    body = requests.get(
        f"{stack.url}/costs/savings", params={"from": first, "to": last, "group_by": "model"}, timeout=60
    ).json()
    page.locator("#savings").scroll_into_view_if_needed()
    savings_rows = page.locator("#savings-body tr")
    expect(savings_rows).to_have_count(len(body["rows"]))
    expect(page.locator("#savings-total .money")).to_have_attribute("data-exact", body["total"]["net_savings_usd"])
    expect(page.locator("#savings-total")).to_have_text(display_usd(body["total"]["net_savings_usd"]))
    for i, row in enumerate(body["rows"]):
        expect(savings_rows.nth(i).locator("th")).to_have_text(row["model"] or "No model")
        expect(savings_rows.nth(i).locator(".net-savings .money")).to_have_attribute(
            "data-exact", row["net_savings_usd"]
        )
    flagged = sum(1 for r in body["rows"] if r["one_hour_cache_loses_money"] or r["cache_loses_money"])
    expect(page.locator("#savings-body tr.cache-loses-money")).to_have_count(flagged)
    page.locator("#savings").screenshot(path=str(artifact_path("finance-savings-real.png")))

    # By API key: whatever the API answers, the page shows it (today: its refusal, in its words).
    by_key = requests.get(
        f"{stack.url}/costs/savings", params={"from": first, "to": last, "group_by": "api_key_id"}, timeout=60
    )
    page.locator("label[for=savings-api-key]").click()
    if by_key.status_code == 400:
        message = by_key.json()["error"]["message"]
        expect(page.locator("#savings-refused")).to_have_text(f"Not available by API key: {message}")
    else:
        assert by_key.status_code == 200, by_key.text
        expect(savings_rows).to_have_count(len(by_key.json()["rows"]))
    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


def test_reconciliation_on_the_real_stack(connected_stack, browser, artifact_path) -> None:
    """Reconcile the last complete month on a click: the page shows the API's figures, status and lines."""
    from playwright.sync_api import expect

    stack, connection = connected_stack
    month = last_complete_month()
    page, page_errors = _open(browser, stack.url)
    section = page.locator("#reconciliation")
    expect(section.get_by_label("Organization", exact=True).locator("option")).to_have_text(
        ["All organizations", HOSTILE_ORG]
    )
    expect(section.get_by_label("Month (UTC)")).to_have_value(month)
    section.get_by_role("button", name="Reconcile").click()
    expect(page.locator("#reconcile-result")).to_be_visible(timeout=120_000)

    expected = requests.get(f"{stack.url}/costs/reconciliation", params={"month": month}, timeout=120)
    assert expected.status_code == 200, expected.text
    body = expected.json()
    expect(page.locator("#reconcile-badge")).to_have_attribute("data-status", body["status"])
    for field in ("stored", "anthropic", "difference", "explained", "unexplained"):
        expect(page.locator(f"#reconcile-{field} .money")).to_have_attribute("data-exact", body[f"{field}_usd"])
    expect(page.locator("#reconcile-lines-body tr")).to_have_count(len(body["lines"]))
    rows = page.locator("#reconcile-connections-body tr")
    expect(rows).to_have_count(len(body["connections"]))
    expect(rows.first.locator("th")).to_have_text(HOSTILE_ORG)
    assert page.locator("main img, main b").count() == 0 and page.evaluate("window.__pwned") is None
    page.locator("#reconciliation").screenshot(path=str(artifact_path("finance-reconciliation-real.png")))

    section.get_by_label("Organization", exact=True).select_option(connection["id"])
    section.get_by_role("button", name="Reconcile").click()
    expect(page.locator("#reconcile-heading")).to_have_text(f"{month} · {HOSTILE_ORG}", timeout=120_000)
    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


def test_today_by_hour_on_the_real_stack(connected_stack, browser, artifact_path) -> None:
    """Today's hours as the API gives them: 24 bars, each hour's exact sum, the total so far (or, when the API has
    no hourly data for today, the page says so)."""
    from playwright.sync_api import expect

    stack, _ = connected_stack
    today = datetime.now(UTC).date().isoformat()
    page, page_errors = _open(browser, stack.url)
    page.locator("#today").scroll_into_view_if_needed()
    response = requests.get(
        f"{stack.url}/costs", params={"from": today, "to": today, "group_by": "hour", "limit": "10000"}, timeout=60
    )
    if response.status_code == 400:
        error = response.json()["error"]
        assert error["code"] == "no_hourly_data", error
        expect(page.locator("#hourly-empty")).to_have_text(f"No hourly data yet. {error['message']}")
    else:
        assert response.status_code == 200, response.text
        report = response.json()
        assert not report.get("has_more")
        per_hour: dict[str, Decimal] = {}
        for row in report["rows"]:
            if row["cost_usd"] is not None:
                per_hour[row["hour"][:13]] = per_hour.get(row["hour"][:13], Decimal(0)) + Decimal(row["cost_usd"])
        bars = page.locator("#hourly-svg g.hour-bar")
        expect(bars).to_have_count(24)
        expect(page.locator("#hourly-total")).to_have_attribute("data-exact", report["total"]["cost_usd"])
        expect(page.locator("#hourly-total")).to_have_text(display_usd(report["total"]["cost_usd"]))
        shown = bars.evaluate_all("gs => gs.map(g => [g.dataset.hour, g.dataset.exact])")
        assert {hour: Decimal(exact) for hour, exact in shown} == {
            f"{today}T{h:02d}": per_hour.get(f"{today}T{h:02d}", Decimal(0)) for h in range(24)
        }
    page.locator("#today").screenshot(path=str(artifact_path("finance-hourly-real.png")))
    assert not page_errors, f"JavaScript errors on the page: {page_errors}"
