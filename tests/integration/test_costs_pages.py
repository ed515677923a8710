"""GET /costs in pages through the local stack: small pages concatenated are exactly one large page."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from tests.support.stack import FIXED_NOW, SMALL_ORG, Stack

pytestmark = pytest.mark.network


def get(stack, **params) -> dict:
    response = stack.call("GET", "/costs?" + urlencode(params))
    assert response.status == 200, response.body
    return response.json()


def every_page(stack, **params) -> list[dict]:
    pages = [get(stack, **params)]
    while pages[-1]["has_more"]:
        pages.append(get(stack, **params, page=pages[-1]["next_page"]))
    return pages


def without_page(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in {"rows", "has_more", "next_page"}}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """One backfilled year for the whole module: these tests only read it."""
    with (
        Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, now=lambda: FIXED_NOW) as simulator,
        LocalAws(simulator.url) as aws,
    ):
        stack = Stack(aws, LocalApi(), simulator, [])
        connection = stack.wait_settled(stack.connect().json()["id"])
        assert connection["status"] == "active"
        yield stack


@pytest.fixture(scope="module")
def backfilled(stack) -> dict:
    return stack.call("GET", "/integrations/anthropic").json()["connections"][0]["backfill"]


def test_small_pages_concatenated_equal_one_large_page_with_the_same_total_on_each(stack, backfilled):
    year = {"from": backfilled["from"], "to": backfilled["to"]}
    month = {"from": backfilled["from"], "to": backfilled["from"][:8] + "28"}
    for query, limits in (
        ({**year, "group_by": "date,workspace_id,model"}, (997,)),
        ({**year, "group_by": "api_key_id,month"}, (9,)),
        ({**month, "group_by": "date,model,cost_type,token_type"}, (7, 100)),
    ):
        whole = get(stack, **query, limit=10_000)
        assert whole["has_more"] is False and whole["next_page"] is None
        for limit in limits:
            assert len(whole["rows"]) > limit
            pages = every_page(stack, **query, limit=limit)
            assert [row for page in pages for row in page["rows"]] == whole["rows"]
            assert [len(page["rows"]) for page in pages[:-1]] == [limit] * (len(pages) - 1)
            assert all(without_page(page) == without_page(whole) for page in pages)
            assert [page["has_more"] for page in pages] == [True] * (len(pages) - 1) + [False]


def test_the_default_page_is_a_thousand_rows_and_the_rest_follows(stack, backfilled):
    query = {"from": backfilled["from"], "to": backfilled["to"], "group_by": "date,workspace_id,model"}
    whole = get(stack, **query, limit=10_000)
    assert len(whole["rows"]) > 1000

    pages = every_page(stack, **query)

    assert len(pages[0]["rows"]) == 1000 and pages[0]["has_more"] is True
    assert [row for page in pages for row in page["rows"]] == whole["rows"]


def test_a_cursor_from_another_query_or_a_made_up_one_is_refused_without_echo(stack, backfilled):
    query = {"from": backfilled["from"], "to": backfilled["to"], "group_by": "date,model"}
    cursor = get(stack, **query, limit=5)["next_page"]
    for other in ({**query, "group_by": "model,date"}, {**query, "to": backfilled["from"]}):
        response = stack.call("GET", "/costs?" + urlencode({**other, "page": cursor}))
        assert (response.status, response.json()["error"]["code"]) == (400, "invalid_query")
        assert response.json()["error"]["message"].startswith("The page cursor is not one this query returned")
        assert cursor not in response.body

    made_up = "eyJxIjoiMDAwMDAwMDAwMDAwMDAwMCIsImFmdGVyIjpbXX0"
    response = stack.call("GET", "/costs?" + urlencode({**query, "page": made_up}))
    assert (response.status, response.json()["error"]["code"]) == (400, "invalid_query")
    assert made_up not in response.body


@pytest.mark.parametrize("limit", ["0", "10001", "many", "2.5"])
def test_a_limit_outside_one_to_ten_thousand_is_400_with_a_sentence(stack, limit):
    response = stack.call("GET", "/costs?" + urlencode({"limit": limit}))
    assert (response.status, response.json()["error"]["code"]) == (400, "invalid_query")
    assert response.json()["error"]["message"] == "'limit' must be a whole number from 1 to 10000."
