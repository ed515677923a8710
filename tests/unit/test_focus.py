"""FOCUS mapping of a cost item (focus.py) and the CSV writer (export.py)."""

import csv
import io
import json
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pump_anthropic.admin_api.analytics_models import CostRow, UsageRow
from pump_anthropic.domain.analytics_days import price_items
from pump_anthropic.domain.export import ConnectionItems, focus_csv_lines, format_decimal, join_within
from pump_anthropic.domain.focus import (
    COLUMNS,
    EXTENSION_COLUMNS,
    FOCUS_COLUMNS,
    UNIT_PRICE_DIGITS,
    BillingContext,
    to_focus_row,
)
from pump_anthropic.domain.model_identity import model_identity
from pump_anthropic.domain.normalize import CostItem, normalize
from pump_anthropic.exceptions import ExportTooLargeError
from tests.support.builders import cost_item

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
        assert row["x_UnitPriceExact"] is True


def significant_digits(value: Decimal) -> int:
    return len(value.normalize().as_tuple().digits)


def assert_unit_prices_reproduce_costs(row: dict) -> None:
    """FOCUS 1.2: unit price × PricingQuantity MUST match the cost (ListCost-C-009-C, ContractedUnitPrice-C-011-C).

    Exact when the quotient terminates; otherwise a 12-digit rounding within 5e-12 of the cost, relative, well inside
    focus-validator 2.2.1's tolerance (1e-9 × max(|cost|, 1)). Never a 28-digit division remainder."""
    for price_column, cost_column in (("ListUnitPrice", "ListCost"), ("ContractedUnitPrice", "ContractedCost")):
        price, quantity, cost = row[price_column], row["PricingQuantity"], row[cost_column]
        product = Fraction(price) * Fraction(quantity)
        if row["x_UnitPriceExact"]:
            assert product == Fraction(cost), (price_column, price, quantity, cost)
        if product == Fraction(cost):
            # One flag covers both prices: a row whose other price was rounded may still have this one exact.
            assert significant_digits(price) <= 28
        else:
            assert not row["x_UnitPriceExact"]
            assert significant_digits(price) <= UNIT_PRICE_DIGITS, (price_column, price)
            assert abs(product - Fraction(cost)) <= Fraction(5, 10**12) * abs(Fraction(cost)), (price, cost)
            assert abs(product - Fraction(cost)) <= Fraction(1, 10**9) * max(abs(Fraction(cost)), 1)


def test_a_rounded_amount_gives_a_bounded_unit_price_not_a_division_remainder():
    # Anthropic rounds amounts: 6,587 tokens at $9.375/MTok is $0.061753125, billed as $0.06175312. The old division
    # gave ListUnitPrice 9.374999240929102778199483832 (the example).
    item = replace(TOKENS, quantity=6_587, cost_usd=Decimal("0.06175312"), amount_cents=Decimal("6.175312"))

    row = to_focus_row(item, ORG)

    assert row["ListUnitPrice"] == row["ContractedUnitPrice"] == Decimal("9.37499924093")
    assert row["x_UnitPriceExact"] is False
    assert_unit_prices_reproduce_costs(row)
    assert export(item)[0]["ListUnitPrice"] == "9.37499924093"


def test_an_unrounded_amount_gives_the_exact_rate_charged():
    item = replace(TOKENS, quantity=6_587, cost_usd=Decimal("0.061753125"), list_cost_usd=Decimal("0.07719140625"))

    row = to_focus_row(item, ORG)

    assert (row["ContractedUnitPrice"], row["ListUnitPrice"]) == (Decimal("9.375"), Decimal("11.71875"))
    assert row["x_UnitPriceExact"] is True
    assert_unit_prices_reproduce_costs(row)


@given(
    cost=st.decimals(min_value=0, max_value=10**7, places=8),
    list_extra=st.decimals(min_value=0, max_value=10**6, places=8),
    quantity=st.integers(min_value=0, max_value=10**13),
    unit=st.sampled_from(["tokens", "requests"]),
)
def test_every_unit_price_reproduces_its_cost_and_has_bounded_digits(cost, list_extra, quantity, unit):
    item = replace(TOKENS, cost_usd=cost, list_cost_usd=cost + list_extra, quantity=quantity, unit=unit)

    row = to_focus_row(item, ORG)

    assert_unit_prices_reproduce_costs(row)
    for column in ("ListUnitPrice", "ContractedUnitPrice"):
        assert Decimal(format_decimal(row[column])) == row[column]


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
    assert row["ChargeDescription"] == (
        "Claude Opus 4.6 Usage - Input Tokens (Priority, US): usage reported, cost not reported by Anthropic's cost "
        "report; the 0.0 costs are placeholders"
    )
    assert row["x_AmountCentsRaw"] is None
    assert row["x_SourceEndpoint"] == "/v1/organizations/usage_report/messages"
    # The usage itself is real and measured.
    assert row["ConsumedQuantity"] == Decimal(42_391)
    assert row["x_QuantityKnown"] is True


def test_known_cost_is_flagged_known_and_sourced_from_the_cost_report():
    row = to_focus_row(TOKENS, ORG)

    assert row["x_CostKnown"] is True
    assert row["x_SourceEndpoint"] == "/v1/organizations/cost_report"
    assert row["ChargeDescription"] == "Claude Opus 4.6 Usage - Input Tokens (Batch, US)"


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
    assert json.loads(row["SkuPriceDetails"])["x_ServiceTier"] == "batch"


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


# ---------------------------------------------------------------- one description and model identity for both sources

LEGACY_DESCRIPTIONS = {  # the legacy cost report's own wording, which the export no longer passes through
    "uncached_input_tokens": "Input Tokens",
    "output_tokens": "Output Tokens",
    "cache_read_input_tokens": "Input Tokens, Cache Read",
    "cache_creation.ephemeral_5m_input_tokens": "Input Tokens, Cache Write 5m",
    "cache_creation.ephemeral_1h_input_tokens": "Input Tokens, Cache Write 1h",
}


def legacy_item(token_type: str, tier: str, context_window: str) -> CostItem:
    """A line as the legacy reports give it (dated model id, Anthropic's description), through normalize()."""
    qualifiers = [q for q, on in (("Batch", tier == "batch"), ("Long Context", context_window == "200k-1M")) if on]
    cost_row = {
        "workspace_id": "wrkspc_a",
        "description": f"Claude Sonnet 4.5 Usage - {LEGACY_DESCRIPTIONS[token_type]}"
        + (f" ({', '.join(qualifiers)})" if qualifiers else ""),
        "model": "claude-sonnet-4-5-20250929",
        "cost_type": "tokens",
        "token_type": token_type,
        "service_tier": tier,
        "context_window": context_window,
        "inference_geo": "global",
        "amount": "123.45",
        "currency": "USD",
    }
    metric = {"cache_creation": {token_type.split(".")[1]: 493_800}} if "." in token_type else {token_type: 493_800}
    usage_row = {**{k: cost_row[k] for k in ("workspace_id", "model", "service_tier", "context_window")}, **metric}
    usage_row["inference_geo"] = "global"
    [item] = normalize([("2025-12-31T00:00:00Z", cost_row)], [("2025-12-31T00:00:00Z", usage_row)])
    return item


def analytics_item(token_type: str, tier: str, context_window: str) -> CostItem:
    """The same line as the analytics API gives it (alias model id, no description, speed), through price_items()."""
    group = {
        "workspace_id": "wrkspc_a",
        "model": "claude-sonnet-4-5",
        "service_tier": tier,
        "context_window": context_window,
        "speed": "standard",
    }
    span = {"starting_at": "2026-01-01T00:00:00Z", "ending_at": "2026-01-02T00:00:00Z"}
    cost = CostRow.model_validate(
        {
            **span,
            "group": {**group, "cost_type": "tokens", "token_type": token_type},
            "cost": {"amount": "123.45", "list_amount": "154.3125", "currency": "USD"},
        }
    )
    tokens = {t.split(".")[-1]: 0 for t in LEGACY_DESCRIPTIONS} | {token_type.split(".")[-1]: 493_800}
    usage = UsageRow.model_validate(
        {
            **span,
            "group": group,
            "usage": {
                "uncached_input_tokens": tokens["uncached_input_tokens"],
                "output_tokens": tokens["output_tokens"],
                "cache_read_input_tokens": tokens["cache_read_input_tokens"],
                "cache_creation": {k: tokens[k] for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")},
                "server_tool_use": {"web_search_requests": 0},
                "total_tokens": 493_800,
            },
        }
    )
    [item] = price_items([cost], [usage], default_workspace_id=None)
    return item


@pytest.mark.parametrize("context_window", ["0-200k", "200k-1M"])
@pytest.mark.parametrize("tier", ["standard", "batch"])
@pytest.mark.parametrize("token_type", list(LEGACY_DESCRIPTIONS))
def test_both_sources_describe_and_identify_the_same_line_the_same_way(token_type, tier, context_window):
    legacy = to_focus_row(legacy_item(token_type, tier, context_window), ORG)
    analytics = to_focus_row(analytics_item(token_type, tier, context_window), ORG)

    same = (
        "ChargeDescription",
        "SkuId",
        "SkuMeter",
        "x_Model",
        "x_ModelFamily",
        "x_ModelVersion",
        "x_ModelDeveloper",
        "x_TokenDirection",
        "x_TokenCacheAction",
        "ConsumedQuantity",
        "PricingQuantity",
    )
    assert {c: legacy[c] for c in same} == {c: analytics[c] for c in same}
    assert legacy["ChargeDescription"].startswith("Claude Sonnet 4.5 Usage - ")
    assert (legacy["x_ModelId"], analytics["x_ModelId"]) == ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5")
    assert (legacy["x_ListCostSource"], analytics["x_ListCostSource"]) == ("BilledCost", "list_amount")


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({}, "Claude Opus 4.6 Usage - Output Tokens"),
        ({"service_tier": "batch", "inference_geo": "us"}, "Claude Opus 4.6 Usage - Output Tokens (Batch, US)"),
        ({"context_window": "200k-1M", "speed": "fast"}, "Claude Opus 4.6 Usage - Output Tokens (Long Context, Fast)"),
        ({"inference_geo": None, "speed": "standard"}, "Claude Opus 4.6 Usage - Output Tokens"),
        ({"service_tier": "priority_on_demand"}, "Claude Opus 4.6 Usage - Output Tokens (Priority On-Demand)"),
        ({"service_tier": "flex_discount"}, "Claude Opus 4.6 Usage - Output Tokens (Flex Discount)"),
        ({"token_type": "cache_read_input_tokens"}, "Claude Opus 4.6 Usage - Cache Read Tokens"),
        ({"model": "claude-3-5-haiku-20241022"}, "Claude Haiku 3.5 Usage - Output Tokens"),
        ({"model": "claude-next-preview"}, "claude-next-preview Usage - Output Tokens"),
        ({"cost_type": "web_search", "token_type": None}, "Claude Opus 4.6 Usage - Web Search Requests"),
        (
            {
                "cost_type": "code_execution",
                "token_type": None,
                "model": None,
                "service_tier": None,
                "context_window": None,
                "inference_geo": None,
            },
            "Claude API Usage - Code Execution",
        ),
    ],
)
def test_the_description_is_built_from_the_line_whatever_anthropic_called_it(changes, description):
    row = to_focus_row(cost_item(description="anything Anthropic wrote", **changes), ORG)

    assert row["ChargeDescription"] == description


@pytest.mark.parametrize(
    ("model_id", "canonical", "family", "version"),
    [
        ("claude-opus-4-6", "claude-opus-4-6", "Claude Opus", "4.6"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "Claude Sonnet", "4.5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4", "Claude Sonnet", "4"),
        ("claude-3-7-sonnet-20250219", "claude-3-7-sonnet", "Claude Sonnet", "3.7"),
        ("claude-3-haiku-20240307", "claude-3-haiku", "Claude Haiku", "3"),
        ("claude-next-preview", "claude-next-preview", None, None),
    ],
)
def test_model_identity_follows_both_naming_schemes_and_never_guesses(model_id, canonical, family, version):
    row = to_focus_row(cost_item(model=model_id), ORG)

    assert (row["x_ModelId"], row["x_Model"], row["x_ModelFamily"], row["x_ModelVersion"]) == (
        model_id,
        canonical,
        family,
        version,
    )
    assert row["x_ModelDeveloper"] == "Anthropic"
    assert row["SkuId"] == f"{canonical}/output_tokens"
    assert model_identity(None) is None


@pytest.mark.parametrize(
    ("token_type", "direction", "cache_action"),
    [
        ("uncached_input_tokens", "Input", "Uncached"),
        ("cache_read_input_tokens", "Input", "Read"),
        ("cache_creation.ephemeral_5m_input_tokens", "Input", "Write"),
        ("cache_creation.ephemeral_1h_input_tokens", "Input", "Write"),
        ("output_tokens", "Output", None),
        ("some_new_tokens", None, None),
    ],
)
def test_token_direction_and_cache_action_use_the_focus_1_5_draft_values(token_type, direction, cache_action):
    row = to_focus_row(replace(TOKENS, token_type=token_type), ORG)

    assert (row["x_TokenDirection"], row["x_TokenCacheAction"]) == (direction, cache_action)
    details = json.loads(row["SkuPriceDetails"])
    assert (details.get("x_TokenDirection"), details.get("x_TokenCacheAction")) == (direction, cache_action)


def test_non_token_lines_have_no_token_facets():
    for item in (WEB_SEARCH, CODE_EXECUTION):
        row = to_focus_row(item, ORG)
        assert row["x_TokenDirection"] is row["x_TokenCacheAction"] is None
        assert json.loads(row["SkuPriceDetails"]) == {"x_CostType": item.cost_type}


def test_sku_price_details_keys_are_provider_defined_pascal_case_and_fixed_by_the_sku_price():
    # FOCUS 1.2 SkuPriceDetails-C-017-C: a key FOCUS does not define MUST begin with "x_"; C-002-O: PascalCase.
    for item in (*EVERY_KIND, legacy_item("output_tokens", "batch", "0-200k")):
        details = json.loads(to_focus_row(item, ORG)["SkuPriceDetails"])
        assert all(re.fullmatch(r"x_[A-Z][A-Za-z]*", key) for key in details), details
    # One SkuPriceId, one SkuPriceDetails, whatever model id the source reported.
    dated, alias = (to_focus_row(cost_item(model=m), ORG) for m in ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"))
    assert dated["SkuPriceId"] == alias["SkuPriceId"] and dated["SkuPriceDetails"] == alias["SkuPriceDetails"]
