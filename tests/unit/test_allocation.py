from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pump_anthropic.domain.allocation import CONSOLE, UNATTRIBUTED, KeyHomes, allocate, split_exactly, used_keys
from pump_anthropic.domain.normalize import CostItem

DAY = "2026-03-01T00:00:00Z"

amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=9, allow_nan=False)
weights = st.dictionaries(
    st.text(alphabet="abcdefgh", min_size=1, max_size=4), st.integers(min_value=0, max_value=10**12), min_size=1
).filter(lambda w: any(v > 0 for v in w.values()))


@given(total=amounts, weights=weights)
def test_split_exactly_preserves_the_sum_and_is_non_negative(total, weights):
    parts = split_exactly(total, weights)
    assert sum(parts.values()) == total
    assert all(p >= 0 for p in parts.values())
    assert set(parts) == {k for k, w in weights.items() if w > 0}


@given(total=amounts, weights=weights)
def test_split_exactly_is_deterministic_and_stable_under_reordering(total, weights):
    reordered = dict(reversed(list(weights.items())))
    assert split_exactly(total, weights) == split_exactly(total, reordered) == split_exactly(total, weights)


@given(
    price=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1"), places=6),
    tokens=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=20),
)
def test_split_exactly_gives_each_key_its_true_cost_when_the_unit_price_is_shared(price, tokens):
    weights = {f"k{i}": t for i, t in enumerate(tokens)}
    total = sum((price * t for t in tokens), Decimal(0))
    assert split_exactly(total, weights) == {k: price * t for k, t in weights.items()}


def test_split_exactly_refuses_nothing_to_split():
    with pytest.raises(ValueError):
        split_exactly(Decimal("1"), {"a": 0})


def item(quantity, cost="1", workspace="wrkspc_a", token_type="output_tokens", cost_type="tokens", geo="global"):
    return CostItem(
        date=date(2026, 3, 1),
        workspace_id=workspace,
        model="m",
        cost_type=cost_type,
        token_type=token_type,
        service_tier="standard",
        context_window="0-200k",
        inference_geo=geo,
        cost_usd=None if cost is None else Decimal(cost),
        amount_cents=None,
        quantity=quantity,
        unit="tokens" if token_type else ("requests" if cost_type == "web_search" else None),
        description=None,
    )


def key_row(key, tokens, geo="global", web_search=0):
    return (
        DAY,
        {
            "api_key_id": key,
            "model": "m",
            "service_tier": "standard",
            "context_window": "0-200k",
            "inference_geo": geo,
            "output_tokens": tokens,
            "server_tool_use": {"web_search_requests": web_search},
        },
    )


def placed(*pairs):
    return [(DAY, {"api_key_id": k, "workspace_id": ws}) for k, ws in pairs]


def by_key(shares):
    return {s.api_key: (s.cost_usd, s.quantity, s.method) for s in shares}


def test_allocate_splits_by_tokens_and_gives_the_rest_to_console():
    shares = allocate(
        [item(100, "1")], [key_row("k1", 30), key_row("k2", 50)], placed(("k1", "wrkspc_a"), ("k2", "wrkspc_a"))
    )
    assert by_key(shares) == {
        "k1": (Decimal("0.3"), 30, "proportional_usage"),
        "k2": (Decimal("0.5"), 50, "proportional_usage"),
        CONSOLE: (Decimal("0.2"), 20, "proportional_usage"),
    }


def test_allocate_keeps_keys_of_other_workspaces_and_geos_out():
    rows = [key_row("k1", 40), key_row("k2", 60), key_row("k1", 999, geo="us")]
    shares = allocate([item(40, "0.4")], rows, placed(("k1", "wrkspc_a"), ("k2", "wrkspc_b")))
    assert by_key(shares) == {"k1": (Decimal("0.4"), 40, "proportional_usage")}


def test_allocate_sends_a_multi_workspace_keys_usage_to_unattributed_not_console():
    rows = [key_row("k1", 40), key_row("org-key", 60)]
    shares = allocate(
        [item(100, "1")], rows, placed(("k1", "wrkspc_a"), ("org-key", "wrkspc_a"), ("org-key", "wrkspc_b"))
    )
    assert by_key(shares) == {
        "k1": (Decimal("0.4"), 40, "proportional_usage"),
        UNATTRIBUTED: (Decimal("0.6"), 60, "unattributed"),
    }


def test_allocate_puts_cost_without_usage_in_unattributed():
    code = item(None, "4.5", token_type=None, cost_type="code_execution")
    assert by_key(allocate([code], [], [])) == {UNATTRIBUTED: (Decimal("4.5"), None, "unattributed")}


def test_allocate_web_search_by_requests_and_keeps_unknown_cost_unknown():
    search = item(10, "0.1", token_type=None, cost_type="web_search")
    priority = item(7, None)
    shares = allocate([search, priority], [key_row("k1", 7, web_search=10)], placed(("k1", "wrkspc_a")))
    assert {(s.item.cost_type, s.api_key, s.cost_usd, s.quantity) for s in shares} == {
        ("web_search", "k1", Decimal("0.1"), 10),
        ("tokens", "k1", None, 7),
    }


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=0, max_size=8), st.integers(0, 10**6), amounts)
def test_allocated_shares_of_an_item_always_sum_to_the_item(key_tokens, console_tokens, cost):
    rows = [key_row(f"k{i}", t) for i, t in enumerate(key_tokens)]
    quantity = sum(key_tokens) + console_tokens
    shares = allocate(
        [item(quantity, str(cost))], rows, placed(*((f"k{i}", "wrkspc_a") for i in range(len(key_tokens))))
    )
    assert sum(s.cost_usd for s in shares) == cost
    assert all(s.cost_usd >= 0 for s in shares)


# ---------------------------------------------------------------- placing keys from the key list

WS = "wrkspc_a"


@pytest.mark.parametrize(
    ("api_key", "home"),
    [
        ({"id": "k", "scope": {"type": "workspace", "workspace_id": WS}, "workspace_id": WS}, WS),
        ({"id": "k", "scope": {"type": "workspace", "workspace_id": None}, "workspace_id": None}, None),
        ({"id": "k", "workspace_id": WS}, WS),  # no scope: the deprecated field, when set, still places
    ],
)
def test_a_workspace_scoped_key_is_placed_in_its_workspace(api_key, home):
    homes = KeyHomes.from_api_keys([api_key])
    assert homes.listed == {"k"} and homes.workspace_of == {"k": home}


@pytest.mark.parametrize(
    "api_key",
    [
        {"id": "k", "scope": {"type": "organization"}, "workspace_id": None},
        {"id": "k", "scope": {"type": "something_new", "workspace_id": WS}},
        {"id": "k", "scope": {"type": "workspace", "workspace_id": 7}},
        {"id": "k", "scope": "workspace"},
        {"id": "k", "workspace_id": None},  # Default workspace or organization-scoped: can't tell
        {"id": "k"},
    ],
)
def test_a_key_the_list_cannot_place_is_listed_but_left_to_the_report(api_key):
    homes = KeyHomes.from_api_keys([api_key])
    assert homes.listed == {"k"} and homes.workspace_of == {}
    assert not homes.places_all({"k"})


def test_placement_from_the_key_list_allocates_like_the_placement_report():
    items = [item(300, cost="3.00", workspace=WS), item(300, cost="3.00", workspace=None)]
    usage = [key_row("k1", 100), key_row("k2", 50), key_row("k3", 300)]
    placed = (("k1", WS), ("k2", WS), ("k3", None))
    report = [(DAY, {"api_key_id": k, "workspace_id": ws}) for k, ws in placed]
    homes = KeyHomes.from_api_keys([{"id": k, "scope": {"type": "workspace", "workspace_id": ws}} for k, ws in placed])
    assert homes.places_all(used_keys(usage))
    from_list = allocate(items, usage, homes.placement_rows(usage))
    assert from_list == allocate(items, usage, report)
    assert {(s.item.workspace_id, s.api_key): s.cost_usd for s in from_list} == {
        (WS, "k1"): Decimal("1.00"),
        (WS, "k2"): Decimal("0.50"),
        (WS, CONSOLE): Decimal("1.50"),
        (None, "k3"): Decimal("3.00"),
    }
