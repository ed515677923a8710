"""The rate card derived from the bill (GET /costs/rates): hand-computed rates, the exactness rule (rate × units is
the cost to the last digit, or no rate at all), rate changes as separate rows, and the use case over storage."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pump_anthropic.domain import rates
from pump_anthropic.domain.report import CostQuery
from pump_anthropic.exceptions import InvalidQueryError
from pump_anthropic.logic import pricing
from tests.support.builders import cost_item
from tests.support.fake_storage import fake_storage

TENANT = "tenant-1"
MARCH = CostQuery(date(2026, 3, 1), date(2026, 3, 3), ())
SONNET = "claude-sonnet-4-5-20250929"


def day(n: int) -> date:
    return date(2026, 3, n)


def tokens(n: int, token_type: str, quantity: int, cost: str | None, **changes):
    fields = {
        "date": day(n),
        "model": SONNET,
        "token_type": token_type,
        "quantity": quantity,
        "cost_usd": None if cost is None else Decimal(cost),
        "inference_geo": "not_available",
        **changes,
    }
    return cost_item(**fields)


FIXTURE = [
    # Sonnet 4.5 input: $3/MTok on the 1st (two workspaces) and the 2nd, then $2.40/MTok on the 3rd.
    tokens(1, "uncached_input_tokens", 1_000_000, "3", workspace_id="wrkspc_a"),
    tokens(1, "uncached_input_tokens", 500_000, "1.5", workspace_id="wrkspc_b"),
    tokens(2, "uncached_input_tokens", 250_000, "0.75"),
    tokens(3, "uncached_input_tokens", 1_000_000, "2.4"),
    # Opus 4.6 output from the analytics API (no geo, a speed, a list price): $20 net, $25 list per MTok.
    tokens(1, "output_tokens", 200_000, "4", model="claude-opus-4-6", inference_geo=None, speed="standard",
           list_cost_usd=Decimal("5")),
    tokens(2, "output_tokens", 300_000, "6", model="claude-opus-4-6", inference_geo=None, speed="standard",
           list_cost_usd=Decimal("7.5")),
    # Haiku 3 batch cache reads at $0.01375/MTok, rounded by Anthropic to 10⁻⁸ USD: 3 tokens billed $0.00000004
    # (4.125e-8 rounded), which no finite decimal rate explains; 64 tokens billed $0.00000088 (exact).
    tokens(1, "cache_read_input_tokens", 3, "0.00000004", model="claude-3-haiku-20240307", service_tier="batch"),
    tokens(2, "cache_read_input_tokens", 64, "0.00000088", model="claude-3-haiku-20240307", service_tier="batch"),
    # Web search: 7 requests, $0.07; code execution: cost without usage; priority tier: usage without cost.
    cost_item(date=day(1), model=SONNET, cost_type="web_search", token_type=None, quantity=7, unit="requests",
              cost_usd=Decimal("0.07"), inference_geo="not_available"),
    cost_item(date=day(1), model=None, cost_type="code_execution", token_type=None, quantity=None, unit=None,
              cost_usd=Decimal("0.5"), inference_geo=None, service_tier=None, context_window=None),
    tokens(2, "uncached_input_tokens", 1000, None, service_tier="priority"),
]  # fmt: skip


def by_line(card: dict) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for row in card["rows"]:
        out.setdefault((row["model"], row["cost_type"], row["token_type"], row["service_tier"]), []).append(row)
    return out


def test_rates_match_a_hand_computation_with_a_rate_change_as_two_rows():
    card = rates.rate_card(MARCH, (("conn_1", i) for i in FIXTURE))
    lines = by_line(card)

    first, second = lines[("claude-sonnet-4-5", "tokens", "uncached_input_tokens", "standard")]
    assert (first["tokens"], first["cost_usd"], first["net_usd_per_unit"], first["per"]) == (
        1_750_000, "5.25", "3", "1M tokens"
    )  # fmt: skip
    assert (first["first_seen"], first["last_seen"], first["days"]) == ("2026-03-01", "2026-03-02", 2)
    assert (second["tokens"], second["cost_usd"], second["net_usd_per_unit"]) == (1_000_000, "2.4", "2.4")
    assert (second["first_seen"], second["last_seen"], second["days"]) == ("2026-03-03", "2026-03-03", 1)
    assert first["rate_changed"] is second["rate_changed"] is True
    assert first["model_ids"] == [SONNET] and first["inference_geo"] == "not_available"

    (opus,) = lines[("claude-opus-4-6", "tokens", "output_tokens", "standard")]
    assert {k: opus[k] for k in ("tokens", "cost_usd", "list_cost_usd", "net_usd_per_unit", "list_usd_per_unit",
                                 "discount_pct", "speed", "rate_changed")} == {
        "tokens": 500_000, "cost_usd": "10", "list_cost_usd": "12.5", "net_usd_per_unit": "20",
        "list_usd_per_unit": "25", "discount_pct": "20", "speed": "standard", "rate_changed": False,
    }  # fmt: skip


def test_a_day_whose_rate_is_no_finite_decimal_is_its_own_row_without_a_rate():
    card = rates.rate_card(MARCH, (("conn_1", i) for i in FIXTURE))
    inexact, exact = by_line(card)[("claude-3-haiku", "tokens", "cache_read_input_tokens", "batch")]

    assert {k: inexact[k] for k in ("tokens", "cost_usd", "net_usd_per_unit", "rate_exact", "rate_status",
                                    "net_usd_per_unit_rounded", "first_seen", "last_seen")} == {
        "tokens": 3, "cost_usd": "0.00000004", "net_usd_per_unit": None, "rate_exact": False,
        "rate_status": "inexact", "net_usd_per_unit_rounded": "0.013333", "first_seen": "2026-03-01",
        "last_seen": "2026-03-01",
    }  # fmt: skip
    assert (exact["tokens"], exact["cost_usd"], exact["net_usd_per_unit"], exact["rate_exact"]) == (
        64, "0.00000088", "0.01375", True
    )  # fmt: skip
    # 4e-8 over 3 tokens and 8.8e-7 over 64 differ by less than rounding each amount to 10⁻⁸ explains.
    assert inexact["rate_changed"] is exact["rate_changed"] is False


def test_requests_cost_without_usage_and_usage_without_cost():
    lines = by_line(rates.rate_card(MARCH, (("conn_1", i) for i in FIXTURE)))

    (search,) = lines[("claude-sonnet-4-5", "web_search", None, "standard")]
    assert (search["unit"], search["per"], search["requests"], search["tokens"]) == ("requests", "request", 7, None)
    assert (search["cost_usd"], search["net_usd_per_unit"]) == ("0.07", "0.01")

    (code,) = lines[(None, "code_execution", None, None)]
    assert (code["unit"], code["per"], code["cost_usd"], code["net_usd_per_unit"], code["rate_status"]) == (
        None, None, "0.5", None, "no_usage"
    )  # fmt: skip

    (priority,) = lines[("claude-sonnet-4-5", "tokens", "uncached_input_tokens", "priority")]
    assert (priority["tokens"], priority["cost_usd"], priority["net_usd_per_unit"], priority["rate_status"]) == (
        1000, None, None, "cost_unknown"
    )  # fmt: skip
    assert priority["net_usd_per_unit_rounded"] is None


def test_a_rate_moved_only_by_rounding_is_not_a_change_but_a_real_change_is():
    # $3/MTok: 1,000,001 tokens cost 3.000003 exactly; 333,333 tokens cost 0.999999, rounded to cents: 1.00.
    items = [
        tokens(1, "uncached_input_tokens", 1_000_001, "3.000003"),
        tokens(2, "uncached_input_tokens", 333_333, "1.00"),
        tokens(3, "uncached_input_tokens", 1_000_000, "3.30"),  # a real change: $3.30/MTok
    ]
    rows = rates.rate_card(MARCH, (("conn_1", i) for i in items))["rows"]
    assert [(r["net_usd_per_unit"], r["rate_status"], r["first_seen"]) for r in rows] == [
        ("3", "exact", "2026-03-01"),
        (None, "inexact", "2026-03-02"),
        ("3.3", "exact", "2026-03-03"),
    ]
    assert all(r["rate_changed"] for r in rows)
    # Without the last day, nothing changed beyond rounding.
    rows = rates.rate_card(MARCH, (("conn_1", i) for i in items[:2]))["rows"]
    assert [r["rate_changed"] for r in rows] == [False, False]


def test_grouped_by_workspace_each_workspace_has_its_own_rows_with_names():
    query = CostQuery(day(1), day(1), ("workspace_id",))
    rows = rates.rate_card(query, (("conn_1", i) for i in FIXTURE[:2]), {"wrkspc_a": "Research"})["rows"]
    fields = ("workspace_id", "workspace_name", "tokens", "cost_usd", "net_usd_per_unit")
    assert [tuple(r[f] for f in fields) for r in rows] == [
        ("wrkspc_a", "Research", 1_000_000, "3", "3"),
        ("wrkspc_b", "wrkspc_b", 500_000, "1.5", "3"),
    ]


@pytest.mark.parametrize("dims", [("api_key_id",), ("actor",), ("workspace_id", "product")])
def test_the_rate_card_refuses_groupings_it_cannot_price(dims):
    with pytest.raises(InvalidQueryError):
        rates.check_rate_group_by(CostQuery(day(1), day(1), dims))


def test_rate_dimensions_in_group_by_change_nothing():
    assert rates.check_rate_group_by(CostQuery(day(1), day(1), ("model", "month", "speed"))) == ("month",)


def units_of(row: dict) -> int:
    return row["tokens"] if row["unit"] == "tokens" else row["requests"]


money = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1000"), places=8)
token_lines = st.builds(
    lambda d, ws, tier, n, cost: tokens(d, "output_tokens", n, str(cost), workspace_id=ws, service_tier=tier),
    st.integers(1, 3),
    st.sampled_from(["wrkspc_a", "wrkspc_b"]),
    st.sampled_from(["standard", "batch"]),
    st.one_of(st.integers(1, 10**9), st.sampled_from([250_000, 500_000, 1_000_000])),
    st.one_of(money, st.sampled_from([Decimal("3"), Decimal("0.75"), Decimal("1.5")])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(token_lines, max_size=12), st.sampled_from([(), ("workspace_id",), ("date",)]))
def test_every_exact_rate_times_its_units_is_its_cost_and_rows_add_up_to_the_bill(items, dims):
    query = CostQuery(day(1), day(3), dims)
    rows = rates.rate_card(query, (("conn_1", i) for i in items))["rows"]
    with localcontext() as ctx:
        ctx.prec = 200
        for row in rows:
            if row["net_usd_per_unit"] is not None:
                units = Decimal(units_of(row))
                assert Decimal(row["net_usd_per_unit"]) * units / 10**6 == Decimal(row["cost_usd"])
            else:
                assert row["rate_status"] == "inexact" and not row["rate_exact"]
        assert sum((Decimal(r["cost_usd"]) for r in rows), Decimal(0)) == sum((i.cost_usd for i in items), Decimal(0))
        assert sum(r["tokens"] for r in rows) == sum(i.quantity for i in items)
    # Exact rows of one line never share a rate, and an inexact day never sits in an exact row.
    seen = set()
    for row in rows:
        if row["rate_exact"]:
            key = (row.get("workspace_id"), row.get("date"), row["service_tier"], Decimal(row["net_usd_per_unit"]))
            assert key not in seen
            seen.add(key)


def register(storage, tenant: str, connection_id: str) -> None:
    storage.connections.register_connection(
        tenant_id=tenant,
        connection_id=connection_id,
        organization_id=f"org_{connection_id}",
        organization_name="Acme",
        key_hint="sk-ant-admin01-…abcd",
        secret_id="s",
    )


def test_the_use_case_reads_every_connection_of_the_tenant_only_and_counts_the_read_quota():
    storage = fake_storage()
    register(storage, TENANT, "conn_1")
    register(storage, TENANT, "conn_2")
    register(storage, "tenant-2", "conn_3")
    storage.costs.replace_days(TENANT, "conn_1", day(1), day(1), FIXTURE[:2])
    storage.costs.replace_days(TENANT, "conn_2", day(2), day(2), [FIXTURE[2]])
    storage.costs.replace_days("tenant-2", "conn_3", day(1), day(3), [tokens(1, "uncached_input_tokens", 1, "9")])
    storage.directory.put_workspaces(TENANT, "conn_1", [("wrkspc_a", "Research", False)])

    query = CostQuery(day(1) - timedelta(days=399), day(1) + timedelta(days=0), ())
    card = pricing.rate_card(TENANT, CostQuery(day(1), day(3), ()), storage=storage)
    (row,) = card["rows"]
    assert (row["tokens"], row["cost_usd"], row["net_usd_per_unit"], row["days"]) == (1_750_000, "5.25", "3", 2)
    assert storage.quotas.counts[(TENANT, "read")] == 1  # 3 days: 1 + 3 // 7

    pricing.rate_card(TENANT, query, storage=storage)
    assert storage.quotas.counts[(TENANT, "read")] == 1 + 1 + 400 // 7

    named = pricing.rate_card(TENANT, CostQuery(day(1), day(1), ("workspace_id",)), storage=storage)
    assert [r["workspace_name"] for r in named["rows"]] == ["Research", "wrkspc_b"]


def test_a_list_price_rounded_by_anthropic_gives_a_rounded_list_rate_and_discount():
    # The simulator's analytics amounts: $5.50/MTok net, list 25% above, each amount rounded to 10⁻⁸ USD.
    item = tokens(1, "uncached_input_tokens", 4_079_627, "22.4379485", model="claude-opus-4-6", inference_geo=None,
                  speed="standard", list_cost_usd=Decimal("28.04743561"))  # fmt: skip
    (row,) = rates.rate_card(MARCH, [("conn_1", item)])["rows"]
    assert {k: row[k] for k in ("net_usd_per_unit", "list_usd_per_unit", "list_usd_per_unit_rounded",
                                "discount_pct", "rate_exact")} == {
        # 28.04743561 × 10⁶ / 4,079,627 = 6.8749999963…; 100 × 5.60948711 / 28.04743561 = 19.9999999572…
        "net_usd_per_unit": "5.5", "list_usd_per_unit": None, "list_usd_per_unit_rounded": "6.875",
        "discount_pct": "20", "rate_exact": True,
    }  # fmt: skip
