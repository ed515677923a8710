"""GET /costs/rates and GET /costs/savings with any dates, group_by values and query-string junk: an answer (empty for
tenant B) or a 400, never a 5xx; and tenant A's own answers are exact: every rate times its units is its cost, and
the rows add up to what GET /costs reports for the same days."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pump_anthropic.domain import rates, savings
from pump_anthropic.logic import quotas
from tests.integration.bad_input.test_costs_bad_input import (
    date_windows,
    expected_group_by,
    expected_range,
    group_by_lists,
    render_group_by,
)
from tests.support.bad_input import check_response, error_code, writes
from tests.support.bad_input_strategies import RANGE_DAYS, join_query, junk_queries
from tests.support.bad_input_world import BAD_INPUT_MARKS, TENANT_A, examples

pytestmark = BAD_INPUT_MARKS


@pytest.fixture(autouse=True)
def _read_quota_out_of_the_way(monkeypatch):
    # Hundreds of generated reads a minute; the read quota is tested on its own.
    monkeypatch.setattr(quotas, "READ", replace(quotas.READ, limit=10**9))


def expected_dims(entries: list[str]) -> tuple[str, ...] | None:
    """What GET /costs would group by for these group_by entries (given empty: no grouping), or None for a 400."""
    return () if ",".join(entries) == "" else expected_group_by(entries)


def expected_rate_group_by(entries: list[str] | None) -> tuple[str, ...] | None:
    if entries is None:
        return ()
    dims = expected_dims(entries)
    if dims is None or not set(dims) <= rates.RATE_GROUP_BY_ACCEPTED:
        return None
    return tuple(d for d in rates.RATE_GROUP_BY if d in dims)


def expected_savings_group_by(entries: list[str] | None) -> tuple[str, ...] | None:
    if entries is None:
        return (savings.DEFAULT_SAVINGS_GROUP_BY,)
    dims = expected_dims(entries)
    return dims if dims is not None and set(dims) <= set(savings.SAVINGS_GROUP_BY) else None


ROUTES = {"/costs/rates": expected_rate_group_by, "/costs/savings": expected_savings_group_by}


@examples(600)
@given(
    data=st.data(),
    path=st.sampled_from(sorted(ROUTES)),
    group_by=group_by_lists,
    comma=st.sampled_from([",", "%2C"]),
    junk=st.one_of(st.none(), junk_queries),
)
def test_rates_and_savings_answer_or_refuse_any_query(world, data, path, group_by, comma, junk):
    first, last = data.draw(date_windows(world.today), label="from/to")
    query = join_query(
        *first.render("from"),
        *last.render("to"),
        render_group_by(group_by, comma) if group_by is not None else "",
        junk or "",
    )
    response = world.send("GET", path, query=query)
    window, dims = expected_range(first, last, world.today), ROUTES[path](group_by)
    if window is None or dims is None:
        assert response.status == 400 and error_code(response) in ("invalid_query", "invalid_request"), response.body
        return
    assert response.status == 200, response.body[:300]
    body = response.json()
    assert (body["from"], body["to"], tuple(body["group_by"])) == (window[0].isoformat(), window[1].isoformat(), dims)
    assert body["rows"] == [], "tenant B saw costs"
    if path == "/costs/savings":
        assert body["total"]["cache_read_tokens"] == 0 and body["total"]["net_savings_usd"] == "0"


def tenant_a(world, target: str) -> dict:
    with world.recorder.recording() as calls:
        response = world.api.request("GET", target, tenant=TENANT_A)
    check_response(response)
    assert not writes(calls)
    assert response.status == 200, response.body[:300]
    return response.json()


def test_tenant_a_rates_are_exact_and_add_up_to_its_cost_report(world):
    window = f"from={world.today - timedelta(days=RANGE_DAYS - 1)}&to={world.today}"
    costs = tenant_a(world, f"/costs?{window}&group_by=token_type")
    card = tenant_a(world, f"/costs/rates?{window}")
    assert card["rows"], "tenant A has spend, so it has rates"
    with localcontext() as ctx:
        ctx.prec = 200
        for row in card["rows"]:
            units = row["tokens"] if row["unit"] == "tokens" else row["requests"]
            if row["rate_exact"]:
                scale = 10**6 if row["unit"] == "tokens" else 1
                assert Decimal(row["net_usd_per_unit"]) * units / scale == Decimal(row["cost_usd"]), row
            else:
                assert row["net_usd_per_unit"] is None and row["rate_status"] != "exact", row
        known = [Decimal(r["cost_usd"]) for r in card["rows"] if r["cost_usd"] is not None]
        assert sum(known, Decimal(0)) == Decimal(costs["total"]["cost_usd"] or "0")
    tokens = sum(r["tokens"] or 0 for r in card["rows"])
    assert tokens == costs["total"]["tokens"]

    saved = tenant_a(world, f"/costs/savings?{window}&group_by=")
    reads = sum(r["tokens"] for r in costs["rows"] if r["token_type"] == "cache_read_input_tokens")
    total = saved["total"]
    assert total["cache_read_tokens"] == reads == total["savings_known_tokens"] + total["unpriced_cache_read_tokens"]
    assert saved["rows"] == [total]
