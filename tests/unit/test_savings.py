"""Cache savings in billed dollars (GET /costs/savings) against a hand-computed fixture: reads priced at the same
day's billed uncached input rate, the 5-minute and 1-hour write premiums, money-losing caches, and days with no
uncached input (counted, not priced)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pump_anthropic.domain import savings
from pump_anthropic.domain.report import CostQuery
from pump_anthropic.exceptions import InvalidQueryError
from pump_anthropic.logic import pricing
from tests.support.builders import cost_item
from tests.support.fake_storage import fake_storage

TENANT = "tenant-1"
SONNET, HAIKU = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"
UNCACHED, READ = "uncached_input_tokens", "cache_read_input_tokens"
WRITE_5M, WRITE_1H = "cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens"


def line(n: int, model: str, token_type: str, quantity: int, cost: str | None, ws: str = "wrkspc_a", **changes):
    return cost_item(
        date=date(2026, 3, n),
        model=model,
        token_type=token_type,
        quantity=quantity,
        cost_usd=None if cost is None else Decimal(cost),
        workspace_id=ws,
        inference_geo="not_available",
        **changes,
    )


FIXTURE = [
    # Sonnet 4.5 on the 1st: uncached input $6 for 2M tokens over both workspaces ($3/MTok).
    line(1, SONNET, UNCACHED, 1_500_000, "4.5"),
    line(1, SONNET, UNCACHED, 500_000, "1.5", ws="wrkspc_b"),
    line(1, SONNET, READ, 10_000_000, "3"),  # as input: 10M × 6 / 2M = $30; saved $27
    line(1, SONNET, WRITE_5M, 1_000_000, "3.75"),  # as input $3: premium $0.75
    line(1, SONNET, WRITE_1H, 2_000_000, "12", ws="wrkspc_b"),  # as input $6: premium $6
    # Haiku 4.5 on the 1st: $1/MTok input; few reads, many 1-hour writes.
    line(1, HAIKU, UNCACHED, 1_000_000, "1"),
    line(1, HAIKU, READ, 1_000_000, "0.1"),  # as input $1: saved $0.90
    line(1, HAIKU, WRITE_1H, 3_000_000, "6"),  # as input $3: premium $3
    # Haiku 4.5 on the 2nd: cache reads, no uncached input that day: counted, not priced.
    line(2, HAIKU, READ, 500_000, "0.05"),
    # Output tokens are no part of caching.
    line(1, SONNET, "output_tokens", 1_000, "0.015"),
]
RANGE = (date(2026, 3, 1), date(2026, 3, 2))
ZERO_WRITES = {"cache_write_5m_tokens": 0, "cache_write_5m_cost_usd": "0", "cache_write_5m_premium_usd": "0",
               "unpriced_cache_write_5m_tokens": 0}  # fmt: skip


def body(group_by: tuple[str, ...], items=FIXTURE, names=None) -> dict:
    return savings.cache_savings(CostQuery(*RANGE, group_by), (("conn_1", i) for i in items), names)


def test_savings_by_model_match_the_hand_computation():
    rows = {row["model"]: row for row in body(("model",))["rows"]}
    assert rows["claude-sonnet-4-5"] == {
        "model": "claude-sonnet-4-5",
        "model_ids": [SONNET],
        "uncached_input_tokens": 2_000_000,
        "uncached_input_cost_usd": "6",
        "cache_read_tokens": 10_000_000,
        "cache_read_cost_usd": "3",
        "savings_known_tokens": 10_000_000,
        "unpriced_cache_read_tokens": 0,
        "cache_read_as_input_usd": "30",
        "read_savings_usd": "27",
        "cache_write_5m_tokens": 1_000_000,
        "cache_write_5m_cost_usd": "3.75",
        "cache_write_5m_premium_usd": "0.75",
        "unpriced_cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 2_000_000,
        "cache_write_1h_cost_usd": "12",
        "cache_write_1h_premium_usd": "6",
        "unpriced_cache_write_1h_tokens": 0,
        "net_savings_usd": "20.25",  # 27 − 0.75 − 6
        "cache_loses_money": False,
        "one_hour_cache_loses_money": False,
        "savings_exact": True,
    }
    assert rows["claude-haiku-4-5"] == {
        "model": "claude-haiku-4-5",
        "model_ids": [HAIKU],
        "uncached_input_tokens": 1_000_000,
        "uncached_input_cost_usd": "1",
        "cache_read_tokens": 1_500_000,
        "cache_read_cost_usd": "0.15",
        "savings_known_tokens": 1_000_000,
        "unpriced_cache_read_tokens": 500_000,
        "cache_read_as_input_usd": "1",
        "read_savings_usd": "0.9",
        **ZERO_WRITES,
        "cache_write_1h_tokens": 3_000_000,
        "cache_write_1h_cost_usd": "6",
        "cache_write_1h_premium_usd": "3",
        "unpriced_cache_write_1h_tokens": 0,
        "net_savings_usd": "-2.1",  # 0.9 − 3
        "cache_loses_money": True,
        "one_hour_cache_loses_money": True,
        "savings_exact": True,
    }


def test_the_total_is_the_sum_of_the_rows():
    total = body(("model",))["total"]
    assert {k: total[k] for k in ("uncached_input_tokens", "cache_read_tokens", "savings_known_tokens",
                                  "unpriced_cache_read_tokens", "cache_read_as_input_usd", "read_savings_usd",
                                  "cache_write_5m_premium_usd", "cache_write_1h_tokens", "cache_write_1h_premium_usd",
                                  "net_savings_usd", "cache_loses_money")} == {
        "uncached_input_tokens": 3_000_000, "cache_read_tokens": 11_500_000, "savings_known_tokens": 11_000_000,
        "unpriced_cache_read_tokens": 500_000, "cache_read_as_input_usd": "31", "read_savings_usd": "27.9",
        "cache_write_5m_premium_usd": "0.75", "cache_write_1h_tokens": 5_000_000, "cache_write_1h_premium_usd": "9",
        "net_savings_usd": "18.15", "cache_loses_money": False,
    }  # fmt: skip
    assert body(())["rows"] == [body(())["total"]]


def test_by_workspace_the_rate_is_the_whole_class_s_and_a_write_only_workspace_loses_money():
    rows = body(("workspace_id",), names={"wrkspc_a": "Research"})["rows"]
    a, b = rows
    assert (a["workspace_id"], a["workspace_name"], b["workspace_id"], b["workspace_name"]) == (
        "wrkspc_a", "Research", "wrkspc_b", "wrkspc_b"
    )  # fmt: skip
    assert (a["read_savings_usd"], a["cache_write_5m_premium_usd"], a["cache_write_1h_premium_usd"]) == (
        "27.9", "0.75", "3"
    )  # fmt: skip
    assert (a["net_savings_usd"], a["cache_loses_money"], a["one_hour_cache_loses_money"]) == ("24.15", False, False)
    # Workspace b only wrote the 1-hour cache, priced at the $3/MTok the class paid that day across workspaces.
    assert (b["cache_write_1h_premium_usd"], b["net_savings_usd"], b["cache_loses_money"]) == ("6", "-6", True)
    assert b["one_hour_cache_loses_money"] is True


def test_writes_on_a_day_without_uncached_input_or_without_a_cost_are_not_priced():
    items = [
        line(1, HAIKU, WRITE_5M, 400, "0.0005"),
        line(1, SONNET, UNCACHED, 1000, None, service_tier="priority"),
        line(1, SONNET, READ, 2000, None, service_tier="priority"),
    ]
    total = body((), items)["total"]
    assert (total["unpriced_cache_write_5m_tokens"], total["cache_write_5m_cost_usd"]) == (400, "0.0005")
    assert (total["cache_write_5m_premium_usd"], total["unpriced_cache_read_tokens"], total["read_savings_usd"]) == (
        "0", 2000, "0"
    )  # fmt: skip


def test_a_repeating_input_rate_is_rounded_to_a_trillionth_of_a_dollar_and_said():
    items = [line(1, HAIKU, UNCACHED, 3, "0.00001"), line(1, HAIKU, READ, 1, "0.000001")]
    (row,) = body(("model",), items)["rows"]
    # 1 × 0.00001 / 3 = 0.00000333…, rounded half-even to 12 places.
    assert (row["cache_read_as_input_usd"], row["read_savings_usd"], row["savings_exact"]) == (
        "0.000003333333", "0.000002333333", False
    )  # fmt: skip


def test_savings_refuse_a_grouping_by_api_key_with_the_reason():
    with pytest.raises(InvalidQueryError, match="without their tokens"):
        savings.check_savings_group_by(CostQuery(*RANGE, ("model", "api_key_id")))
    with pytest.raises(InvalidQueryError):
        savings.check_savings_group_by(CostQuery(*RANGE, ("token_type",)))


def test_the_use_case_reads_the_tenant_s_connections_and_counts_the_read_quota():
    storage = fake_storage()
    for tenant, connection_id in ((TENANT, "conn_1"), ("tenant-2", "conn_2")):
        storage.connections.register_connection(
            tenant_id=tenant, connection_id=connection_id, organization_id="org", organization_name="Acme",
            key_hint="sk-ant-admin01-…abcd", secret_id="s",
        )  # fmt: skip
    storage.costs.replace_days(TENANT, "conn_1", *RANGE, FIXTURE)
    storage.costs.replace_days("tenant-2", "conn_2", *RANGE, [line(1, SONNET, READ, 1, "1")])

    result = pricing.cache_savings(TENANT, CostQuery(*RANGE, ("model",)), storage=storage)
    assert result["total"]["net_savings_usd"] == "18.15" and result["total"]["cache_read_tokens"] == 11_500_000
    assert storage.quotas.counts[(TENANT, "read")] == 1
