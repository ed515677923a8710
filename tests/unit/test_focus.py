"""FOCUS mapping of a cost item (focus.py) and the CSV writer (export.py)."""

import csv
import io
import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pump_anthropic.domain.export import ConnectionItems, focus_csv_lines, format_decimal, join_within
from pump_anthropic.domain.focus import COLUMNS, EXTENSION_COLUMNS, FOCUS_COLUMNS, BillingContext, to_focus_row
from pump_anthropic.domain.normalize import CostItem, normalize
from pump_anthropic.exceptions import ExportTooLargeError

ORG = BillingContext("org-1", "Acme")
TOKENS = CostItem(
    date=date(2026, 3, 31),
    workspace_id="wrkspc_a",
    model="claude-opus-4-6",
    cost_type="tokens",
    token_type="uncached_input_tokens",
    service_tier="batch",
    context_window="0-200k",
    inference_geo="us",
    cost_usd=Decimal("1.2345"),
    amount_cents=Decimal("123.45"),
    quantity=493_800,
    unit="tokens",
    description="Claude Opus 4.6 Usage - Input Tokens, Batch",
)
WEB_SEARCH = replace(
    TOKENS,
    cost_type="web_search",
    token_type=None,
    service_tier=None,
    context_window=None,
    inference_geo=None,
    cost_usd=Decimal("2.5"),
    amount_cents=Decimal("250"),
    quantity=250,
    unit="requests",
    description="Claude Opus 4.6 Web Search Usage",
)
CODE_EXECUTION = replace(
    WEB_SEARCH,
    model=None,
    cost_type="code_execution",
    cost_usd=Decimal("0.114237025"),
    amount_cents=Decimal("11.4237025"),
    quantity=None,
    unit=None,
    description="Code Execution Usage",
)
PRIORITY = replace(TOKENS, service_tier="priority", cost_usd=None, amount_cents=None, quantity=42_391, description=None)
EVERY_KIND = (TOKENS, WEB_SEARCH, CODE_EXECUTION, PRIORITY)

# FOCUS 1.2 requires these on every Usage row. focus-validator 2.2.1 cannot check several of them: their condition
# `ChargeClass is not "Correction"` is NULL in SQL when ChargeClass is null, so no row is ever tested.
NEVER_NULL = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeDescription",
    "ServiceName",
    "ServiceCategory",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "SkuId",
    "SkuPriceId",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "SubAccountId",
    "x_CostKnown",
)


def rows_of(csv_text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(csv_text)))


def export(*items: CostItem, names: dict | None = None) -> list[dict[str, str]]:
    lines = focus_csv_lines([ConnectionItems("org-1", "Acme", items)], names or {})
    return rows_of("".join(lines))


# ---------------------------------------------------------------- money


def test_anthropic_cents_become_exact_usd_in_every_cost_column():
    item = normalize([("2026-03-01T00:00:00Z", {"amount": "123.45", "workspace_id": None})], [])[0]

    row = to_focus_row(item, ORG)

    assert {row[c] for c in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")} == {Decimal("1.2345")}
    assert row["x_AmountCentsRaw"] == Decimal("123.45")
    assert export(item)[0]["BilledCost"] == "1.2345"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal(0), "0.0"),
        (Decimal("0.00"), "0.0"),
        (Decimal("1E+1"), "10.0"),
        (Decimal("1E-9"), "0.000000001"),
        (Decimal("1.2300"), "1.23"),
        (Decimal("-0.25"), "-0.25"),
        (Decimal("123456789012345678.000000001"), "123456789012345678.000000001"),
    ],
)
def test_decimals_are_written_positionally_and_always_with_a_point(value, text):
    assert format_decimal(value) == text


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_text_is_exact_and_never_uses_an_exponent(value):
    text = format_decimal(value)

    assert Decimal(text) == value
    assert "E" not in text.upper() and "." in text


def test_a_float_never_reaches_the_csv():
    with pytest.raises(TypeError):
        "".join(focus_csv_lines([ConnectionItems("org-1", "Acme", [replace(TOKENS, cost_usd=1.2345)])], {}))


def test_unit_price_times_pricing_quantity_is_exactly_the_cost():
    for item in EVERY_KIND:
        row = to_focus_row(item, ORG)
        assert row["ListUnitPrice"] * row["PricingQuantity"] == row["ListCost"], item.cost_type
        assert row["ContractedUnitPrice"] * row["PricingQuantity"] == row["ContractedCost"], item.cost_type


# ---------------------------------------------------------------- periods


def test_charge_period_is_the_utc_day_and_billing_period_its_utc_month():
    row = to_focus_row(TOKENS, ORG)

    assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == ("2026-03-31T00:00:00Z", "2026-04-01T00:00:00Z")
    assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")


def test_billing_period_of_december_ends_in_january():
    row = to_focus_row(replace(TOKENS, date=date(2025, 12, 31)), ORG)

    assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == ("2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z")
    assert row["ChargePeriodEnd"] == "2026-01-01T00:00:00Z"


# ---------------------------------------------------------------- unknown cost


def test_unknown_cost_is_a_flagged_zero_placeholder_never_a_silent_zero():
    row = to_focus_row(PRIORITY, ORG)

    assert row["x_CostKnown"] is False
    assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] == row["ContractedCost"] == Decimal(0)
    assert row["ListUnitPrice"] == row["ContractedUnitPrice"] == Decimal(0)
    assert "cost not reported by Anthropic" in row["ChargeDescription"]
    assert "priority" in row["ChargeDescription"]
    assert row["x_AmountCentsRaw"] is None
    assert row["x_SourceEndpoint"] == "/v1/organizations/usage_report/messages"
    # The usage itself is real and measured.
    assert row["ConsumedQuantity"] == Decimal(42_391)
    assert row["x_QuantityKnown"] is True


def test_known_cost_is_flagged_known_and_sourced_from_the_cost_report():
    row = to_focus_row(TOKENS, ORG)

    assert row["x_CostKnown"] is True
    assert row["x_SourceEndpoint"] == "/v1/organizations/cost_report"
    assert row["ChargeDescription"] == TOKENS.description


def test_flags_are_written_as_true_and_false():
    rows = export(TOKENS, PRIORITY)

    assert [r["x_CostKnown"] for r in rows] == ["true", "false"]
    assert rows[1]["BilledCost"] == "0.0"


# ---------------------------------------------------------------- SKUs and quantities


def test_tokens_are_priced_per_million_and_the_price_id_carries_what_changes_the_price():
    row = to_focus_row(TOKENS, ORG)

    assert row["SkuId"] == "claude-opus-4-6/uncached_input_tokens"
    assert row["SkuPriceId"] == "claude-opus-4-6/uncached_input_tokens/batch/0-200k/us"
    assert row["SkuMeter"] == "Input Tokens"
    assert (row["PricingQuantity"], row["PricingUnit"]) == (Decimal("0.4938"), "1000000 Tokens")
    assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == (Decimal(493_800), "Tokens")
    assert row["ListUnitPrice"] == Decimal("2.5")
    assert json.loads(row["SkuPriceDetails"])["service_tier"] == "batch"


def test_web_search_is_one_sku_priced_per_thousand_requests():
    row = to_focus_row(WEB_SEARCH, ORG)

    assert row["SkuId"] == row["SkuPriceId"] == "web_search"
    assert row["SkuMeter"] == "Web Search Requests"
    assert (row["PricingQuantity"], row["PricingUnit"]) == (Decimal("0.25"), "1000 Requests")
    assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == (Decimal(250), "Requests")
    assert row["ListUnitPrice"] == Decimal(10)
    assert row["x_Model"] == "claude-opus-4-6"


def test_code_execution_without_a_reported_quantity_is_one_day_flagged_unmeasured():
    row = to_focus_row(CODE_EXECUTION, ORG)

    assert row["SkuId"] == row["SkuPriceId"] == "code_execution"
    assert row["SkuMeter"] == "Code Execution"
    assert (row["PricingQuantity"], row["PricingUnit"]) == (Decimal(1), "Day")
    assert row["ListUnitPrice"] == row["BilledCost"] == Decimal("0.114237025")
    assert row["ConsumedQuantity"] is None and row["ConsumedUnit"] is None
    assert row["x_QuantityKnown"] is False


def test_a_zero_quantity_with_a_cost_counts_as_unmeasured():
    row = to_focus_row(replace(TOKENS, quantity=0), ORG)

    assert (row["PricingQuantity"], row["PricingUnit"], row["x_QuantityKnown"]) == (Decimal(1), "Day", False)


def test_region_is_the_inference_geo_unless_global():
    assert to_focus_row(TOKENS, ORG)["RegionId"] == "us"
    assert to_focus_row(replace(TOKENS, inference_geo="global"), ORG)["RegionId"] is None
    assert to_focus_row(replace(TOKENS, inference_geo="not_available"), ORG)["RegionName"] is None


# ---------------------------------------------------------------- accounts


def test_billing_account_is_the_organization_and_sub_account_the_workspace():
    row = to_focus_row(TOKENS, BillingContext("org-1", "Acme", "Research"))

    assert (row["BillingAccountId"], row["BillingAccountName"]) == ("org-1", "Acme")
    assert (row["SubAccountId"], row["SubAccountName"], row["SubAccountType"]) == ("wrkspc_a", "Research", "Workspace")
    assert json.loads(row["Tags"]) == {"anthropic/workspace": "Research"}


def test_null_workspace_is_the_default_workspace():
    row = to_focus_row(replace(TOKENS, workspace_id=None), ORG)

    assert (row["SubAccountId"], row["SubAccountName"]) == ("default", "Default workspace")


def test_a_workspace_without_a_known_name_shows_its_id():
    assert to_focus_row(TOKENS, ORG)["SubAccountName"] == "wrkspc_a"


# ---------------------------------------------------------------- columns and CSV


def test_every_row_has_every_column_with_extensions_last():
    assert all(c.startswith("x_") for c in EXTENSION_COLUMNS)
    assert not any(c.startswith("x_") for c in FOCUS_COLUMNS)
    assert {"ServiceProviderName", "HostProviderName"} <= set(FOCUS_COLUMNS)
    for item in EVERY_KIND:
        assert tuple(to_focus_row(item, ORG)) == COLUMNS


@pytest.mark.parametrize("item", EVERY_KIND, ids=lambda i: f"{i.cost_type}-{i.service_tier}")
def test_columns_focus_requires_on_usage_rows_are_never_null(item):
    row = to_focus_row(item, ORG)

    assert [c for c in NEVER_NULL if row[c] is None] == []


def test_csv_has_the_header_then_one_row_per_item_of_every_connection():
    connections = [
        ConnectionItems("org-1", "Acme", [TOKENS, PRIORITY]),
        ConnectionItems("org-2", "Beta, Inc.", [WEB_SEARCH]),
    ]

    text = "".join(focus_csv_lines(connections, {"wrkspc_a": 'Team "A"'}))

    assert text.splitlines()[0].split(",") == list(COLUMNS)
    rows = rows_of(text)
    assert [(r["BillingAccountId"], r["BillingAccountName"]) for r in rows] == [
        ("org-1", "Acme"),
        ("org-1", "Acme"),
        ("org-2", "Beta, Inc."),
    ]
    assert {r["SubAccountName"] for r in rows} == {'Team "A"'}
    assert rows[0]["ChargeClass"] == "" and rows[0]["InvoiceId"] == ""
    assert text.endswith("\r\n")


def test_csv_lines_are_produced_lazily():
    consumed = []

    def items():
        for item in EVERY_KIND:
            consumed.append(item)
            yield item

    lines = focus_csv_lines([ConnectionItems("org-1", "Acme", items())], {})
    next(lines), next(lines)

    assert consumed == [TOKENS]


def test_join_within_stops_reading_at_the_limit():
    read = []

    def lines():
        for i in range(1000):
            read.append(i)
            yield "x" * 99 + "\n"

    assert join_within(iter(["a\n", "b\n"]), 4) == "a\nb\n"
    with pytest.raises(ExportTooLargeError) as error:
        join_within(lines(), 1000)
    assert error.value.code == "export_too_large" and error.value.http_status == 400
    assert len(read) == 11
