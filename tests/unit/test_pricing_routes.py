"""GET /costs/rates and GET /costs/savings through the costs function: the query each use case gets, the defaults,
400 invalid_query for what they can't answer, and a whole answer over in-memory storage."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from functions.costs import app as costs_app
from pump_anthropic import wiring
from pump_anthropic.logic import pricing
from tests.support.api_events import http_event
from tests.support.builders import cost_item
from tests.support.fake_storage import fake_storage


@pytest.fixture(autouse=True)
def _no_adapters(monkeypatch):
    monkeypatch.setattr(wiring, "bind_storage", lambda: None)


def get(path: str, query: str = "") -> tuple[int, dict]:
    response = costs_app.app.resolve(http_event("GET", path, query=query), None)
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def asked(monkeypatch) -> list:
    calls: list = []
    for name in ("rate_card", "cache_savings"):
        monkeypatch.setattr(pricing, name, lambda tenant, query, _n=name: calls.append((_n, tenant, query)) or {})
    return calls


@pytest.mark.parametrize(
    ("path", "query", "group_by"),
    [
        ("/costs/rates", "from=2026-03-01&to=2026-03-03", ()),
        ("/costs/rates", "from=2026-03-01&to=2026-03-03&group_by=workspace_id,month", ("workspace_id", "month")),
        ("/costs/rates", "from=2026-03-01&to=2026-03-03&group_by=model", ("model",)),
        ("/costs/savings", "from=2026-03-01&to=2026-03-03", ("model",)),
        ("/costs/savings", "from=2026-03-01&to=2026-03-03&group_by=", ()),
        ("/costs/savings", "from=2026-03-01&to=2026-03-03&group_by=workspace_id,date", ("workspace_id", "date")),
    ],
)
def test_the_use_case_gets_the_tenant_and_the_parsed_query(asked, path, query, group_by):
    status, _ = get(path, query)
    assert status == 200
    ((_, tenant, parsed),) = asked
    assert (tenant, parsed.first_day, parsed.last_day, parsed.group_by) == (
        "tenant-1", date(2026, 3, 1), date(2026, 3, 3), group_by
    )  # fmt: skip


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/costs/rates", "group_by=api_key_id"),
        ("/costs/rates", "group_by=actor"),
        ("/costs/rates", "group_by=workspace_id,workspace_id"),
        ("/costs/rates", "group_by=inference_geo"),
        ("/costs/rates", "from=2026-03-04&to=2026-03-03"),
        ("/costs/rates", "from=2025-01-01&to=2026-03-03"),
        ("/costs/savings", "group_by=api_key_id"),
        ("/costs/savings", "group_by=token_type"),
        ("/costs/savings", "group_by=product"),
        ("/costs/savings", "from=2026-3-1"),
        ("/costs/savings", "to=yesterday"),
    ],
)
def test_what_cannot_be_answered_is_a_400_and_no_read(asked, path, query):
    status, body = get(path, query)
    assert status == 400 and body["error"]["code"] == "invalid_query" and body["error"]["message"]
    assert asked == []


def test_a_whole_answer_over_storage(monkeypatch):
    storage = fake_storage()
    storage.connections.register_connection(
        tenant_id="tenant-1", connection_id="conn_1", organization_id="org", organization_name="Acme",
        key_hint="sk-ant-admin01-…abcd", secret_id="s",
    )  # fmt: skip
    day = date(2026, 3, 1)
    storage.costs.replace_days(
        "tenant-1",
        "conn_1",
        day,
        day,
        [
            cost_item(date=day, token_type="uncached_input_tokens", quantity=2_000_000, cost_usd=Decimal("10")),
            cost_item(date=day, token_type="cache_read_input_tokens", quantity=4_000_000, cost_usd=Decimal("2")),
        ],
    )
    monkeypatch.setattr(pricing, "dynamodb_storage", lambda: storage)

    status, card = get("/costs/rates", "from=2026-03-01&to=2026-03-01")
    assert status == 200
    assert [(r["token_type"], r["net_usd_per_unit"], r["tokens"], r["cost_usd"]) for r in card["rows"]] == [
        ("cache_read_input_tokens", "0.5", 4_000_000, "2"),
        ("uncached_input_tokens", "5", 2_000_000, "10"),
    ]
    status, saved = get("/costs/savings", "from=2026-03-01&to=2026-03-01")
    assert status == 200
    (row,) = saved["rows"]
    # 4M reads at $5/MTok would have cost $20; they cost $2.
    assert (row["model"], row["cache_read_as_input_usd"], row["read_savings_usd"], row["net_savings_usd"]) == (
        "claude-opus-4-6", "20", "18", "18"
    )  # fmt: skip
