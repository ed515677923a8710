from decimal import Decimal

import pytest

from pump_anthropic.domain.normalize import CostItem, cents_to_usd, normalize

DAY = "2026-03-01T00:00:00Z"


def usage(workspace="wrkspc_a", model="claude-opus-4-6", tier="standard", window="0-200k", geo="global", **metrics):
    row = {
        "uncached_input_tokens": metrics.get("uncached", 0),
        "cache_creation": {
            "ephemeral_5m_input_tokens": metrics.get("cw5m", 0),
            "ephemeral_1h_input_tokens": metrics.get("cw1h", 0),
        },
        "cache_read_input_tokens": metrics.get("cache_read", 0),
        "output_tokens": metrics.get("output", 0),
        "server_tool_use": {"web_search_requests": metrics.get("web_search", 0)},
        "api_key_id": None,
        "workspace_id": workspace,
        "model": model,
        "service_tier": tier,
        "context_window": window,
        "inference_geo": geo,
    }
    return row


def cost(
    amount,
    token_type="uncached_input_tokens",
    cost_type="tokens",
    workspace="wrkspc_a",
    model="claude-opus-4-6",
    tier="standard",
    window="0-200k",
    geo="global",
    description="Claude Opus 4.6 Usage - Input Tokens",
):
    return {
        "amount": amount,
        "currency": "USD",
        "workspace_id": workspace,
        "description": description,
        "cost_type": cost_type,
        "model": model,
        "token_type": token_type,
        "context_window": window,
        "service_tier": tier,
        "inference_geo": geo,
    }


def only(items: list[CostItem], **match) -> CostItem:
    found = [i for i in items if all(getattr(i, k) == v for k, v in match.items())]
    assert len(found) == 1, found
    return found[0]


def test_cents_to_usd_reads_cents_not_dollars():
    assert cents_to_usd("123.45") == Decimal("1.2345")
    assert cents_to_usd("123.78912") == Decimal("1.2378912")


def test_cents_to_usd_refuses_float():
    with pytest.raises(TypeError):
        cents_to_usd(1.5)  # type: ignore[arg-type]


def test_normalize_keeps_full_precision_of_many_decimal_amounts():
    items = normalize([(DAY, cost("0.000000123456789"))], [(DAY, usage(uncached=5))])
    assert only(items, token_type="uncached_input_tokens").cost_usd == Decimal("0.00000000123456789")


def test_normalize_joins_quantity_from_usage_on_every_filled_dimension():
    usage_rows = [
        (DAY, usage(uncached=1000)),
        (DAY, usage(tier="batch", uncached=7)),
        (DAY, usage(workspace="wrkspc_b", uncached=99)),
    ]
    items = normalize([(DAY, cost("300"))], usage_rows)
    item = only(items, token_type="uncached_input_tokens", service_tier="standard", workspace_id="wrkspc_a")
    assert (item.quantity, item.unit, item.cost_usd) == (1000, "tokens", Decimal("3"))


def test_normalize_reads_nested_cache_creation_tokens():
    rows = [
        (DAY, cost("10", token_type="cache_creation.ephemeral_5m_input_tokens")),
        (DAY, cost("20", token_type="cache_creation.ephemeral_1h_input_tokens")),
    ]
    items = normalize(rows, [(DAY, usage(cw5m=500, cw1h=1000))])
    assert only(items, token_type="cache_creation.ephemeral_5m_input_tokens").quantity == 500
    assert only(items, token_type="cache_creation.ephemeral_1h_input_tokens").quantity == 1000


def test_normalize_default_workspace_is_null_not_dropped():
    items = normalize([(DAY, cost("50", workspace=None))], [(DAY, usage(workspace=None, uncached=10))])
    item = only(items, token_type="uncached_input_tokens")
    assert item.workspace_id is None and item.quantity == 10 and item.cost_usd == Decimal("0.5")


def test_normalize_web_search_takes_request_count():
    row = cost("1000", cost_type="web_search", token_type=None, description="Web search")
    items = normalize([(DAY, row)], [(DAY, usage(web_search=100))])
    item = only(items, cost_type="web_search")
    assert (item.quantity, item.unit, item.cost_usd) == (100, "requests", Decimal("10"))


def test_normalize_code_execution_has_cost_and_no_quantity():
    row = cost(
        "4.5",
        cost_type="code_execution",
        token_type=None,
        model=None,
        tier=None,
        window=None,
        geo=None,
        description="Code Execution Usage",
    )
    items = normalize([(DAY, row)], [])
    item = only(items, cost_type="code_execution")
    assert item.cost_usd == Decimal("0.045") and item.quantity is None and item.unit is None


def test_normalize_priority_usage_without_cost_is_unknown_not_zero():
    items = normalize([], [(DAY, usage(tier="priority", uncached=10, output=5))])
    assert {(i.token_type, i.quantity) for i in items} == {("uncached_input_tokens", 10), ("output_tokens", 5)}
    assert all(i.cost_usd is None and not i.cost_known for i in items)


def test_normalize_priced_usage_is_not_repeated_as_unknown():
    items = normalize([(DAY, cost("1"))], [(DAY, usage(uncached=10))])
    assert [i.cost_known for i in items] == [True]


@pytest.mark.parametrize(
    "field,value",
    [
        ("model", "claude-future-9"),
        ("service_tier", "flex_discount"),
        ("inference_geo", "eu"),
        ("context_window", "1M-10M"),
    ],
)
def test_normalize_keeps_unknown_enum_values(field, value):
    kwargs = {"model": "model", "service_tier": "tier", "inference_geo": "geo", "context_window": "window"}
    items = normalize(
        [(DAY, cost("2", **{kwargs[field]: value}))], [(DAY, usage(**{kwargs[field]: value}, uncached=3))]
    )
    item = only(items, token_type="uncached_input_tokens")
    assert getattr(item, field) == value and item.quantity == 3


def test_normalize_keeps_unknown_cost_and_token_types():
    rows = [
        (DAY, cost("7", cost_type="session_usage", token_type=None, description="Session")),
        (DAY, cost("8", token_type="cache_creation.ephemeral_24h_input_tokens")),
    ]
    items = normalize(rows, [(DAY, usage(uncached=1))])
    assert only(items, cost_type="session_usage").cost_usd == Decimal("0.07")
    unknown_token = only(items, token_type="cache_creation.ephemeral_24h_input_tokens")
    assert unknown_token.cost_usd == Decimal("0.08") and unknown_token.quantity is None


def test_normalize_tolerates_missing_and_null_metric_fields():
    row = {
        "workspace_id": "wrkspc_a",
        "model": "claude-opus-4-6",
        "service_tier": "standard",
        "context_window": "0-200k",
        "inference_geo": "global",
        "cache_creation": None,
        "output_tokens": None,
    }
    items = normalize([(DAY, cost("1", token_type="output_tokens"))], [(DAY, row)])
    assert only(items, token_type="output_tokens").quantity is None


def test_normalize_sums_rows_that_land_on_one_grain():
    rows = [(DAY, cost("1.5", description="a")), (DAY, cost("2.25", description="b"))]
    items = normalize(rows, [(DAY, usage(uncached=4))])
    item = only(items, token_type="uncached_input_tokens")
    assert item.cost_usd == Decimal("0.0375") and item.quantity == 4


def test_cost_item_ids_are_deterministic_and_distinct():
    rows = [(DAY, cost("1")), (DAY, cost("1", tier="batch")), (DAY, cost("1", geo="us"))]
    first = normalize(rows, [])
    second = normalize(list(reversed(rows)), [])
    assert [i.item_id for i in first] == [i.item_id for i in second]
    assert len({i.item_id for i in first}) == 3


def test_normalize_total_equals_the_cost_report_sum_exactly():
    amounts = ["0.1", "0.2", "123.456789", "99999.99999", "0.000001"]
    rows = [(f"2026-03-0{n + 1}T00:00:00Z", cost(a)) for n, a in enumerate(amounts)]
    items = normalize(rows, [])
    assert sum(i.cost_usd for i in items) == sum(Decimal(a) for a in amounts) / 100


def test_default_workspace_usage_is_not_mixed_with_other_workspaces():
    # null workspace_id is the Default workspace in both reports, not "any workspace"
    rows = [(DAY, usage(workspace=None, uncached=10)), (DAY, usage(workspace="wrkspc_b", uncached=90))]
    items = normalize([(DAY, cost("1", workspace=None)), (DAY, cost("9", workspace="wrkspc_b"))], rows)
    assert only(items, workspace_id=None).quantity == 10
    assert only(items, workspace_id="wrkspc_b").quantity == 90


def test_web_search_quantity_leaves_out_priority_tier_usage():
    row = cost("50", cost_type="web_search", token_type=None, tier=None, window=None, geo=None, description="Web")
    rows = [(DAY, usage(web_search=5)), (DAY, usage(tier="priority", web_search=3))]
    items = normalize([(DAY, row)], rows)
    assert only(items, cost_type="web_search", cost_usd=Decimal("0.5")).quantity == 5
    unknown = only(items, cost_type="web_search", cost_usd=None)
    assert unknown.quantity == 3 and unknown.service_tier == "priority"
