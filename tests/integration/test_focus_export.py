"""GET /costs/export: a real backfill on the local stack, exported as FOCUS 1.2 CSV and checked by the FinOps
Foundation's focus-validator 2.2.1 (installed by scripts/focus-validator.sh into its own virtualenv, run offline)."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlencode

import pytest

from pump_anthropic.api import costs as cost_routes
from pump_anthropic.dal import connections as stored_connections
from pump_anthropic.dal import cost_days, directory
from pump_anthropic.domain.focus import COLUMNS, UNIT_PRICE_DIGITS
from pump_anthropic.domain.normalize import CostItem

pytestmark = pytest.mark.network
VALIDATOR = Path(__file__).resolve().parents[2] / "scripts" / "focus-validator.sh"

# The applicability criteria that fit an Anthropic organization as this export presents it.
CRITERIA = (
    "ACCOUNT_NAMING_SUPPORTED",  # BillingAccountName = the organization's name
    "SUB_ACCOUNT_SUPPORTED",  # SubAccount* = the workspace
    "UNIT_PRICING_SUPPORTED",  # per-token / per-request prices: SkuId, SkuPriceId, SkuMeter, SkuPriceDetails
    "NEGOTIATED_PRICING_SUPPORTED",  # the cost report is after discounts: ContractedCost / ContractedUnitPrice
    "REGION_SUPPORTED",  # RegionId/RegionName = inference_geo ("us"); null for global routing
    "TAGGING_SUPPORTED",  # the export sets a provider-defined tag, anthropic/workspace
)
# Left out, and why.
EXCLUDED = {
    "USAGE_MEASUREMENT_SUPPORTED": (
        "would require ConsumedQuantity on every Usage row, but Anthropic reports no consumed quantity for code "
        "execution (nor for a cost row no usage row matches): we cannot know it. We still fill ConsumedQuantity "
        "wherever the usage report measures it (tokens, web search requests)."
    ),
    "PUBLIC_PRICE_LIST_SUPPORTED": (
        "Anthropic publishes prices, but the cost report carries none, so ListUnitPrice is the billed cost per "
        "unit rather than a price-list lookup. Also, 2.2.1 applies the PricingCurrency* presence rules "
        "(CostAndUsage-D-046..057) when any one of their criteria is given, i.e. it would demand the columns FOCUS "
        "requires only with virtual currency or pricing in another currency; Anthropic prices and bills in USD."
    ),
    "AVAILABILITY_ZONE_SUPPORTED": "no availability zones",
    "CAPACITY_RESERVATION_SUPPORTED": "no capacity reservations in the Admin API",
    "COMMITMENT_DISCOUNT_SUPPORTED": "commitments (priority tier) are not in the cost report; we cannot know them",
    "MULTIPLE_PRICING_CATEGORIES_SUPPORTED": "every row is Standard pricing",
    "MULTIPLE_SUB_ACCOUNT_TYPES_SUPPORTED": "one sub account type: Workspace",
    "MULTIPLE_BILLING_ACCOUNT_TYPES_SUPPORTED": "one billing account type: Anthropic Organization",
    "BILLING_BASED_ON_PROVISIONED_RESOURCES_SUPPORTED": "billed by usage, not by provisioned resource",
    "RESOURCE_TYPE_ASSIGNMENT_SUPPORTED": "no resources",
    "PRICING_BILLING_CURRENCY_DIFFERENCES_SUPPORTED": "priced and billed in USD",
    "VIRTUAL_CURRENCY_SUPPORTED": "no virtual currency",
}
# Failures no FOCUS 1.2 dataset can avoid under 2.2.1. InvoiceId-C-004-C ("MUST be null when the charge is not
# associated with an invoice") and InvoiceId-C-005-C ("MUST NOT be null when it is") both run unconditionally
# (model-1.2.0.1.json gives them no machine-readable condition), so with any row one of the two fails; dropping
# the column instead fails the RECOMMENDED presence rule CostAndUsage-D-033-O and six more. We cannot know
# Anthropic's invoice ids, so InvoiceId is null (C-004, the rule that applies, passes; so does the nullability
# rule C-003-C that ORs the two) and C-005 is reported failed.
UNAVOIDABLE_FAILURES = {"InvoiceId-C-005-C"}


@dataclass
class Validation:
    total: int
    passed: int
    failed: int
    failed_rules: set[str]
    output: str


def focus_validator(csv_path: Path, criteria: tuple[str, ...]) -> Validation:
    command = [
        "bash",
        str(VALIDATOR),
        "--data-file",
        str(csv_path),
        "--validate-version",
        "1.2",
        "--block-download",
        "--applicability-criteria",
        ",".join(criteria),
    ]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200, check=False)
    # focus-validator exits 0 even when rules fail: the summary line is the verdict.
    assert result.returncode == 0, result.stderr[-3000:]
    summary = re.search(r"^Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)$", result.stdout, re.M)
    assert summary, result.stdout[-3000:] + result.stderr[-3000:]
    total, passed, failed, _ = map(int, summary.groups())
    failed_rules = set(re.findall(r"^\S+ (\S+): FAIL\b", result.stdout, re.M))
    return Validation(total, passed, failed, failed_rules, result.stdout)


def assert_unit_prices_reproduce_costs(rows: list[dict[str, str]]) -> None:
    """Unit price × PricingQuantity is the cost: exactly where the quotient terminates, else within 5e-12 relative
    (a 12-digit rounding, flagged x_UnitPriceExact=false); never a 28-digit division remainder."""
    assert rows
    for row in rows:
        for price_column, cost_column in (("ListUnitPrice", "ListCost"), ("ContractedUnitPrice", "ContractedCost")):
            price, cost = Decimal(row[price_column]), Fraction(row[cost_column])
            gap = abs(Fraction(price) * Fraction(row["PricingQuantity"]) - cost)
            if row["x_UnitPriceExact"] == "true":
                assert gap == 0, row
            else:
                assert len(price.normalize().as_tuple().digits) <= UNIT_PRICE_DIGITS, row
                assert gap <= Fraction(5, 10**12) * cost, row


def export(stack, first_day: str, last_day: str, **params) -> tuple:
    query = urlencode({"from": first_day, "to": last_day, **params})
    response = stack.call("GET", f"/costs/export?{query}")
    return response, list(csv.DictReader(io.StringIO(response.body, newline="")))


def stored_items(tenant: str, first_day: date, last_day: date) -> list[CostItem]:
    return [
        item
        for connection in stored_connections.list_connections(tenant)
        for item in cost_days.iter_cost_items(tenant, connection.connection_id, first_day, last_day)
    ]


def test_export_of_a_real_backfill_passes_focus_validator(stack, tmp_path):
    # Given a connected organization whose backfill has settled
    connection = stack.wait_settled(stack.connect().json()["id"])
    assert connection["status"] == "active"
    last_day = date.fromisoformat(connection["backfill"]["to"])
    first_day = last_day - timedelta(days=61)

    # When two months are exported
    response, rows = export(stack, first_day.isoformat(), last_day.isoformat(), format="focus")

    # Then the CSV has one row per stored cost item, FOCUS columns first
    assert response.status == 200, response.body[:500]
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.body.splitlines()[0].split(",") == list(COLUMNS)
    items = stored_items("local", first_day, last_day)
    assert len(rows) == len(items) > 0
    # And the known costs add up exactly to GET /costs for the same range
    report = stack.call("GET", "/costs?" + urlencode({"from": first_day, "to": last_day})).json()
    known = [Decimal(r["BilledCost"]) for r in rows if r["x_CostKnown"] == "true"]
    assert sum(known) == Decimal(report["total"]["cost_usd"])
    # And priority-tier usage is there, flagged, with placeholder zero costs
    unknown = [r for r in rows if r["x_CostKnown"] == "false"]
    assert unknown and {r["BilledCost"] for r in unknown} == {"0.0"}
    assert {r["x_ServiceTier"] for r in unknown} == {"priority"}
    # And web search and code execution have their own SKUs
    assert {"web_search", "code_execution"} <= {r["SkuId"] for r in rows}
    # And every unit price is the rate charged: unit price × PricingQuantity gives back the cost
    assert_unit_prices_reproduce_costs(rows)

    # And focus-validator finds no failure it could be spared
    csv_path = tmp_path / "export.csv"
    csv_path.write_text(response.body, encoding="utf-8", newline="")
    validation = focus_validator(csv_path, CRITERIA)
    assert validation.total > 500 and validation.passed > 150, validation.output[-3000:]
    assert validation.failed == len(validation.failed_rules)
    assert validation.failed_rules - UNAVOIDABLE_FAILURES == set(), validation.output[-5000:]


def test_export_covers_every_connection_of_the_tenant_and_no_other_tenant(stack):
    day = date(2026, 3, 2)
    for tenant, connection_id, org in (
        ("local", "conn-a", "org-a"),
        ("local", "conn-b", "org-b"),
        ("someone-else", "conn-c", "org-c"),
    ):
        add_connection(tenant, connection_id, org, day)

    response, rows = export(stack, "2026-03-01", "2026-03-31")

    assert response.status == 200, response.body
    assert sorted((r["BillingAccountId"], r["BillingAccountName"]) for r in rows) == [
        ("org-a", "org-a name"),
        ("org-b", "org-b name"),
    ]
    assert {r["SubAccountName"] for r in rows} == {"Research"}
    assert {r["ChargePeriodStart"] for r in rows} == {"2026-03-02T00:00:00Z"}


def test_an_export_too_large_for_one_response_is_refused(stack, monkeypatch):
    add_connection("local", "conn-a", "org-a", date(2026, 3, 2))
    monkeypatch.setattr(cost_routes, "MAX_EXPORT_BYTES", 1000)

    response, _ = export(stack, "2026-03-01", "2026-03-31")

    assert response.status == 400
    assert response.json()["error"]["code"] == "export_too_large"


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-3-01", "to": "2026-03-31"},
        {"from": "2026-04-01", "to": "2026-03-31"},
        {"from": "2020-01-01", "to": "2026-03-31"},
        {"from": "2026-03-01", "to": "2026-03-31", "format": "csv"},
    ],
    ids=["bad date", "from after to", "range too long", "unknown format"],
)
def test_bad_queries_are_400_with_an_error_body(stack, query):
    response = stack.call("GET", "/costs/export?" + urlencode(query))

    assert response.status == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_query" and error["message"]


def test_export_needs_a_tenant(stack):
    response = stack.api.request("GET", "/costs/export?from=2026-03-01&to=2026-03-31", anonymous=True)

    assert response.status == 401


def add_connection(tenant: str, connection_id: str, org: str, day: date) -> None:
    stored_connections.register_connection(
        tenant_id=tenant,
        connection_id=connection_id,
        organization_id=org,
        organization_name=f"{org} name",
        key_hint="sk-ant-admin01-...abcd",
        secret_id=f"pump-anthropic/{connection_id}",
    )
    directory.put_workspaces(tenant, connection_id, [("wrkspc_r", "Research", False)])
    item = CostItem(
        date=day,
        workspace_id="wrkspc_r",
        model="claude-opus-4-6",
        cost_type="tokens",
        token_type="output_tokens",
        service_tier="standard",
        context_window="0-200k",
        inference_geo="global",
        cost_usd=Decimal("0.75"),
        amount_cents=Decimal("75"),
        quantity=30_000,
        unit="tokens",
        description="Claude Opus 4.6 Usage - Output Tokens",
    )
    cost_days.replace_days(tenant, connection_id, day, day, [item])


def test_export_allocated_to_api_keys_matches_cost_per_key_and_passes_focus_validator(stack, tmp_path):
    connection = stack.wait_settled(stack.connect().json()["id"])
    last_day = date.fromisoformat(connection["backfill"]["to"])
    first_day = last_day - timedelta(days=30)

    response, rows = export(stack, first_day.isoformat(), last_day.isoformat(), allocation="api_key")

    assert response.status == 200, response.body[:500]
    by_key = stack.call(
        "GET", "/costs?" + urlencode({"from": first_day, "to": last_day, "group_by": "api_key_id"})
    ).json()
    exported: dict[str, Decimal] = {}
    for row in rows:
        if row["x_CostKnown"] == "true":
            exported[row["x_ApiKeyId"]] = exported.get(row["x_ApiKeyId"], Decimal(0)) + Decimal(row["BilledCost"])
    assert exported == {r["api_key_id"]: Decimal(r["cost_usd"]) for r in by_key["rows"] if r["cost_usd"]}
    assert {r["x_AllocationMethod"] for r in rows} == {"proportional_usage", "unattributed"}
    assert all(r["x_ApiKeyName"] for r in rows)

    csv_path = tmp_path / "allocated.csv"
    csv_path.write_text(response.body, encoding="utf-8", newline="")
    validation = focus_validator(csv_path, CRITERIA)
    assert validation.failed_rules - UNAVOIDABLE_FAILURES == set(), validation.output[-5000:]


def test_analytics_days_export_list_and_net_cost_and_pass_focus_validator(make_stack, tmp_path):
    stack = make_stack(cost_source="auto")
    connection = stack.wait_settled(stack.connect().json()["id"])
    last_day = date.fromisoformat(connection["backfill"]["to"])
    first_day = last_day - timedelta(days=30)
    span = {"from": first_day, "to": last_day}

    response, rows = export(stack, first_day.isoformat(), last_day.isoformat(), format="focus")
    assert response.status == 200, response.body[:500]
    total = stack.call("GET", "/costs?" + urlencode(span)).json()["total"]
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal(total["cost_usd"])
    assert sum(Decimal(r["ListCost"]) for r in rows) == Decimal(total["list_cost_usd"])
    assert all(r["EffectiveCost"] == r["BilledCost"] == r["ContractedCost"] for r in rows)
    assert {r["x_ListCostSource"] for r in rows} == {"list_amount"} and {r["x_CostKnown"] for r in rows} == {"true"}
    assert "priority" in {r["x_ServiceTier"] for r in rows}  # priced on analytics days
    assert {"fast", "standard"} <= {r["x_Speed"] for r in rows}
    csv_path = tmp_path / "analytics.csv"
    csv_path.write_text(response.body, encoding="utf-8", newline="")
    validation = focus_validator(csv_path, CRITERIA)
    assert validation.failed_rules - UNAVOIDABLE_FAILURES == set(), validation.output[-5000:]

    response, rows = export(stack, first_day.isoformat(), last_day.isoformat(), allocation="api_key")
    assert response.status == 200, response.body[:500]
    by_key = stack.call("GET", "/costs?" + urlencode({**span, "group_by": "api_key_id"})).json()
    exported: dict[str, Decimal] = {}
    for row in rows:
        exported[row["x_ApiKeyId"]] = exported.get(row["x_ApiKeyId"], Decimal(0)) + Decimal(row["BilledCost"])
    assert exported == {r["api_key_id"]: Decimal(r["cost_usd"]) for r in by_key["rows"]}
    assert {r["x_AllocationMethod"] for r in rows} == {"billed"}
    assert {"user_actor", "service_account_actor"} <= {r["x_ActorType"] for r in rows}
    assert "claude_code" in {r["x_Product"] for r in rows}
    assert_unit_prices_reproduce_costs(rows)
    csv_path = tmp_path / "analytics-by-key.csv"
    csv_path.write_text(response.body, encoding="utf-8", newline="")
    validation = focus_validator(csv_path, CRITERIA)
    assert validation.failed_rules - UNAVOIDABLE_FAILURES == set(), validation.output[-5000:]

    # Across the stitch, FOCUS and GET /costs hold one rule: ListCost is the list price where Anthropic gives one and
    # BilledCost where it gives none (x_ListCostSource says which); the API fills nothing in (list_cost_usd null)
    # and its list_priced covers exactly the list-priced rows' days, list and net.
    floor = date(2026, 1, 1)
    first, last = floor - timedelta(days=10), floor + timedelta(days=9)
    assert date.fromisoformat(connection["backfill"]["from"]) <= first
    response, rows = export(stack, first.isoformat(), last.isoformat(), format="focus")
    assert response.status == 200, response.body[:500]
    total = stack.call("GET", "/costs?" + urlencode({"from": first, "to": last, "group_by": ""})).json()["total"]
    listed = [r for r in rows if r["x_ListCostSource"] == "list_amount"]
    filled = [r for r in rows if r["x_ListCostSource"] == "BilledCost"]
    assert listed and filled and len(listed) + len(filled) == len(rows)
    assert all(r["ListCost"] == r["BilledCost"] for r in filled)
    assert total["list_cost_usd"] is None
    priced = total["list_priced"]
    days = ({r["ChargePeriodStart"] for r in listed}, {r["ChargePeriodStart"] for r in rows})
    assert (priced["days"], priced["of_days"]) == tuple(map(len, days)) == (10, 20)  # January's 10 of the 20
    list_cost = sum((Decimal(r["ListCost"]) for r in listed), Decimal(0))
    net = sum((Decimal(r["BilledCost"]) for r in listed), Decimal(0))
    assert (Decimal(priced["list_cost_usd"]), Decimal(priced["cost_usd"])) == (list_cost, net)
    assert Decimal(priced["discount_usd"]) == list_cost - net > 0

    # One ChargeDescription form and one model identity on both sides of the stitch: a line (SKU, tier, context
    # window) read from the legacy reports (global routing) and from the analytics API (standard speed) reads the same.
    assert_unit_prices_reproduce_costs(rows)
    described: dict[tuple, set[tuple[str, str]]] = defaultdict(set)
    for r in rows:
        if (
            r["x_CostKnown"] == "true"
            and r["x_InferenceGeo"] in ("", "global", "not_available")
            and r["x_Speed"]
            in (
                "",
                "standard",
            )
        ):
            line = (r["SkuId"], r["x_ServiceTier"], r["x_ContextWindow"])
            described[line].add((r["x_ListCostSource"], r["ChargeDescription"], r["x_Model"], r["x_ModelFamily"]))
    on_both_sides = [seen for seen in described.values() if {s[0] for s in seen} == {"list_amount", "BilledCost"}]
    assert on_both_sides
    assert all(len({s[1:] for s in seen}) == 1 for seen in on_both_sides), on_both_sides
    assert not any(re.search(r"-\d{8}$", r["x_Model"]) for r in rows if r["x_Model"])
    assert any(re.search(r"-\d{8}$", r["x_ModelId"]) for r in rows if r["x_ListCostSource"] == "BilledCost")
