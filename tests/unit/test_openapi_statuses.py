"""The OpenAPI document tells the truth: each route documents exactly the statuses its handler answers with, for a
success and for each error its use case can raise, and the success body matches the documented model."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.connect import app as connect_app
from functions.costs import app as costs_app
from functions.guard import app as guard_app
from pump_anthropic import wiring
from pump_anthropic.api import guard_schemas, schemas
from pump_anthropic.api.openapi import openapi_document
from pump_anthropic.domain.records import ConnectionRecord
from pump_anthropic.exceptions import (
    AdminApiAuthError,
    AdminApiPermissionError,
    AdminApiRateLimitedError,
    AdminApiRequestError,
    AdminApiUnavailableError,
    BackfillStartError,
    ConflictError,
    ExportTooLargeError,
    InvalidInputError,
    InvalidKeyFormatError,
    InvalidQueryError,
    NotFoundError,
    SecretStoreUnavailableError,
    StandardKeyNotAllowedError,
    StorageError,
    StorageThrottledError,
    SyncQueueUnavailableError,
    SyncRateLimitedError,
    TenantRateLimitedError,
)
from pump_anthropic.logic import connections, exports, guard, pricing, read
from tests.support.api_events import http_event

KEY = "sk-ant-admin01-" + "o" * 93 + "AA"
MOMENT = datetime(2026, 3, 1, tzinfo=UTC)
RECORD = ConnectionRecord(
    tenant_id="tenant-1",
    connection_id="conn_1",
    status="active",
    organization_id="org_1",
    organization_name="Acme",
    key_hint="sk-ant-admin01-…0AA",
    secret_id="s",
    created_at=MOMENT,
    updated_at=MOMENT,
    backfill_run=1,
    backfill_started_at=MOMENT,
    backfill_finished_at=MOMENT,
    last_sync_at=None,
    last_error_code=None,
    last_error_message=None,
)
LIST_PRICED = {"days": 1, "of_days": 1, "list_cost_usd": "1.875", "cost_usd": "1.5", "discount_usd": "0.375"}
NO_UNKNOWN = {"tokens": 0, "web_search_requests": 0}
REPORT = {
    "currency": "USD",
    "from": "2026-03-01",
    "to": "2026-03-01",
    "group_by": ["date"],
    "settled_through": "2026-02-28",
    "sources": [{"source": "analytics", "from": "2026-03-01", "to": "2026-03-01"}],
    "total": {
        "cost_usd": "1.5",
        "list_cost_usd": "1.875",
        "list_priced": LIST_PRICED,
        "tokens": 3,
        "cost_unknown": NO_UNKNOWN,
    },
    "rows": [
        {
            "date": "2026-03-01",
            "provisional": True,
            "cost_usd": "1.5",
            "list_cost_usd": "1.875",
            "list_priced": LIST_PRICED,
            "tokens": 3,
            "cost_unknown": NO_UNKNOWN,
        }
    ],
}
REPORT_PAGE = {**REPORT, "has_more": False, "next_page": None}
RATE_CARD = {
    "currency": "USD",
    "from": "2026-03-01",
    "to": "2026-03-01",
    "group_by": [],
    "rows": [
        {
            "model": "claude-opus-4-6",
            "model_ids": ["claude-opus-4-6"],
            "cost_type": "tokens",
            "token_type": "output_tokens",
            "service_tier": "standard",
            "context_window": "0-200k",
            "inference_geo": None,
            "speed": "standard",
            "unit": "tokens",
            "per": "1M tokens",
            "tokens": 200000,
            "requests": None,
            "cost_usd": "4",
            "list_cost_usd": "5",
            "net_usd_per_unit": "20",
            "list_usd_per_unit": "25",
            "discount_pct": "20",
            "rate_exact": True,
            "rate_status": "exact",
            "net_usd_per_unit_rounded": "20",
            "list_usd_per_unit_rounded": "25",
            "first_seen": "2026-03-01",
            "last_seen": "2026-03-01",
            "days": 1,
            "rate_changed": False,
        }
    ],
}
SAVINGS_FIGURES = {
    "uncached_input_tokens": 1,
    "uncached_input_cost_usd": "0.000003",
    "cache_read_tokens": 10,
    "cache_read_cost_usd": "0.000003",
    "savings_known_tokens": 10,
    "unpriced_cache_read_tokens": 0,
    "cache_read_as_input_usd": "0.00003",
    "read_savings_usd": "0.000027",
    "cache_write_5m_tokens": 0,
    "cache_write_5m_cost_usd": "0",
    "cache_write_5m_premium_usd": "0",
    "unpriced_cache_write_5m_tokens": 0,
    "cache_write_1h_tokens": 0,
    "cache_write_1h_cost_usd": "0",
    "cache_write_1h_premium_usd": "0",
    "unpriced_cache_write_1h_tokens": 0,
    "net_savings_usd": "0.000027",
    "cache_loses_money": False,
    "one_hour_cache_loses_money": False,
    "savings_exact": True,
}
SAVINGS = {
    "currency": "USD",
    "from": "2026-03-01",
    "to": "2026-03-01",
    "group_by": ["model"],
    "total": SAVINGS_FIGURES,
    "rows": [{"model": "claude-sonnet-4-5", "model_ids": ["claude-sonnet-4-5-20250929"], **SAVINGS_FIGURES}],
}
EXPORT_JOB = exports.ExportJob(
    tenant_id="tenant-1",
    export_id="exp_1",
    status="ready",
    format="focus",
    first_day="2026-01-01",
    last_day="2026-03-01",
    allocation=None,
    group_by=None,
    gzip=False,
    object_key="exports/abc/exp_1/anthropic-focus-2026-01-01-2026-03-01.csv",
    filename="anthropic-focus-2026-01-01-2026-03-01.csv",
    created_at=MOMENT,
    updated_at=MOMENT,
    expires=MOMENT + timedelta(days=7),
    rows=3,
    bytes_written=300,
    days_done=60,
    days_total=60,
    sha256="0" * 64,
    finished_at=MOMENT,
)
STORAGE = (StorageThrottledError, StorageError)
# (method, documented path, request path, body, the use case the route calls, what it returns, what it can raise)
ROUTES = [
    (
        "post",
        "/integrations/anthropic",
        "/integrations/anthropic",
        {"admin_key": KEY},
        (connections, "connect"),
        RECORD,
        (
            StandardKeyNotAllowedError,
            InvalidInputError,
            InvalidKeyFormatError,
            AdminApiAuthError,
            AdminApiPermissionError,
            AdminApiRequestError,
            AdminApiUnavailableError,
            AdminApiRateLimitedError,
            SecretStoreUnavailableError,
            BackfillStartError,
            TenantRateLimitedError,
            *STORAGE,
        ),
    ),
    (
        "get",
        "/integrations/anthropic",
        "/integrations/anthropic",
        None,
        (connections, "list_connections"),
        [RECORD],
        STORAGE,
    ),
    (
        "get",
        "/integrations/anthropic/{connection_id}",
        "/integrations/anthropic/conn_1",
        None,
        (connections, "get_connection"),
        RECORD,
        (NotFoundError, *STORAGE),
    ),
    (
        "post",
        "/integrations/anthropic/{connection_id}/backfill",
        "/integrations/anthropic/conn_1/backfill",
        None,
        (connections, "retry_backfill"),
        RECORD,
        (NotFoundError, ConflictError, BackfillStartError, *STORAGE),
    ),
    (
        "delete",
        "/integrations/anthropic/{connection_id}",
        "/integrations/anthropic/conn_1",
        None,
        (connections, "disconnect"),
        (RECORD, None),
        (NotFoundError, SecretStoreUnavailableError, *STORAGE),
    ),
    (
        "post",
        "/integrations/anthropic/{connection_id}/sync",
        "/integrations/anthropic/conn_1/sync",
        None,
        (connections, "request_sync"),
        RECORD,
        (
            NotFoundError,
            ConflictError,
            SyncRateLimitedError,
            TenantRateLimitedError,
            SyncQueueUnavailableError,
            *STORAGE,
        ),
    ),
    ("get", "/costs", "/costs", None, (read, "cost_report_page"), REPORT_PAGE, (TenantRateLimitedError, *STORAGE)),
    (
        "get",
        "/costs/rates",
        "/costs/rates",
        None,
        (pricing, "rate_card"),
        RATE_CARD,
        (TenantRateLimitedError, *STORAGE),
    ),
    (
        "get",
        "/costs/savings",
        "/costs/savings",
        None,
        (pricing, "cache_savings"),
        SAVINGS,
        (TenantRateLimitedError, *STORAGE),
    ),
    (
        "get",
        "/costs/export",
        "/costs/export",
        None,
        (read, "export_lines"),
        iter(["a,b\r\n"]),
        (ExportTooLargeError, TenantRateLimitedError, *STORAGE),
    ),
    (
        "post",
        "/costs/exports",
        "/costs/exports",
        {"from": "2026-01-01", "to": "2026-03-01"},
        (exports, "create_export"),
        EXPORT_JOB,
        (InvalidQueryError, TenantRateLimitedError, SyncQueueUnavailableError, *STORAGE),
    ),
    (
        "get",
        "/costs/exports/{export_id}",
        "/costs/exports/exp_1",
        None,
        (exports, "get_export"),
        (EXPORT_JOB, ("https://files.example/exp_1", MOMENT)),
        (NotFoundError, *STORAGE),
    ),
]
BUDGET = {
    "id": "b-1",
    "name": "Research",
    "connection_id": "conn_1",
    "scope": {"type": "workspace", "id": None},
    "monthly_usd": "100.00",
    "thresholds": [50, 80, 100],
    "enforced": False,
    "month": "2026-03",
    "month_to_date_usd": "61.5",
    "forecast_month_end_usd": "190.65",
    "status": "warning",
    "crossed": [{"threshold": 50, "at": None}],
}
ALERT = {
    "id": "alrt_1",
    "kind": "budget_threshold",
    "connection_id": "conn_1",
    "budget_id": "b-1",
    "scope": {"type": "workspace", "id": None, "name": None},
    "detected_at": "2026-03-10T12:00:00Z",
    "window": {"from": "2026-03-01", "to": "2026-03-10"},
    "amount_usd": "61.5",
    "baseline_usd": "100",
    "threshold": 50,
    "message": "Budget 'Research' reached 50% in 2026-03: $61.5 of $100.00.",
}
BUDGET_BODY = {"name": "R", "connection_id": "conn_1", "scope": {"type": "organization"}, "monthly_usd": "5"}
ROUTES += [
    ("put", "/budgets/{budget_id}", "/budgets/b-1", BUDGET_BODY, (guard, "put_budget"), BUDGET,
     (InvalidInputError, TenantRateLimitedError, *STORAGE)),
    ("get", "/budgets", "/budgets", None, (guard, "list_budgets"), {"budgets": [BUDGET]},
     (TenantRateLimitedError, *STORAGE)),
    ("get", "/budgets/{budget_id}", "/budgets/b-1", None, (guard, "get_budget"), BUDGET,
     (InvalidInputError, NotFoundError, TenantRateLimitedError, *STORAGE)),
    ("delete", "/budgets/{budget_id}", "/budgets/b-1", None, (guard, "delete_budget"), None,
     (InvalidInputError, NotFoundError, TenantRateLimitedError, *STORAGE)),
    ("get", "/alerts", "/alerts", None, (guard, "list_alerts"), {"from": "2026-03-01", "to": "2026-03-30",
     "alerts": [ALERT], "has_more": False, "next_page": None},
     (InvalidQueryError, NotFoundError, TenantRateLimitedError, *STORAGE)),
]  # fmt: skip
GUARD_MODELS = {
    ("put", "/budgets/{budget_id}"): guard_schemas.Budget,
    ("get", "/budgets/{budget_id}"): guard_schemas.Budget,
    ("get", "/budgets"): guard_schemas.BudgetList,
    ("get", "/alerts"): guard_schemas.AlertList,
}
SPEND_LIMITS = {"status": "refused", "read_at": "2026-03-10T12:00:00Z", "error_code": "key_lacks_permission",
                "limits": []}  # fmt: skip
# Routes served by the connect function outside /integrations (creating an export job writes the table).
CONNECT_ROUTES = {("post", "/costs/exports")}
JSON_BODY_ROUTES = {("post", "/integrations/anthropic"), ("post", "/costs/exports"), ("put", "/budgets/{budget_id}")}
ALWAYS = {400, 401, 500}  # unreadable request, no tenant, our own fault: any route


@pytest.fixture(autouse=True)
def _no_adapters(monkeypatch):
    adapters = ("connect_services", "backfill_launcher", "secret_store", "sync_queue", "export_queue", "export_store")
    for name in (*adapters, "bind_storage"):
        monkeypatch.setattr(wiring, name, lambda: None)
    monkeypatch.setattr(guard, "connection_spend_limits", lambda *a, **k: SPEND_LIMITS)


def call(method: str, path: str, body: dict | None, **event_args) -> tuple[int, str]:
    connect = path.startswith("/integrations") or (method, path) in CONNECT_ROUTES
    spend_guard = path.startswith(("/budgets", "/alerts"))
    app = connect_app.app if connect else guard_app.app if spend_guard else costs_app.app
    text = json.dumps(body) if body is not None else None
    response = app.resolve(http_event(method.upper(), path, body=text, **event_args), None)
    return response["statusCode"], response["body"]


def raising(error: Exception):
    def use_case(*args, **kwargs):
        raise error

    return use_case


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r[0].upper()} {r[1]}" for r in ROUTES])
def test_each_route_documents_exactly_the_statuses_its_handler_answers(route, monkeypatch):
    method, documented_path, path, body, (module, name), result, error_classes = route
    operation = openapi_document()["paths"][documented_path][method]
    documented = {int(status) for status in operation["responses"]}

    monkeypatch.setattr(module, name, lambda *a, **k: result)
    success, text = call(method, path, body)
    answered = {success}
    assert 200 <= success < 300 and success in documented
    if (method, documented_path) in GUARD_MODELS:
        GUARD_MODELS[(method, documented_path)].model_validate_json(text)
    elif operation["responses"][str(success)].get("content", {}).get("application/json"):
        model = {
            "/costs": schemas.CostReport,
            "/costs/rates": schemas.RateCard,
            "/costs/savings": schemas.CacheSavings,
        }.get(documented_path) or (
            schemas.ExportJob
            if documented_path.startswith("/costs/exports")
            else schemas.ConnectionList
            if documented_path == "/integrations/anthropic" and method == "get"
            else schemas.Connection
        )
        model.model_validate_json(text)

    for error_class in error_classes:
        monkeypatch.setattr(module, name, raising(error_class("It failed.")))
        status, text = call(method, path, body)
        assert status == error_class.http_status and json.loads(text)["error"]["code"] == error_class.code
        answered.add(status)
    monkeypatch.setattr(module, name, raising(RuntimeError("a bug")))
    answered.add(call(method, path, body)[0])
    answered.add(call(method, path, body, tenant=None)[0])
    answered |= ALWAYS

    if (method, documented_path) in JSON_BODY_ROUTES:
        answered.add(call(method, path, body, content_type="text/plain")[0])
    assert documented == answered


def test_connect_answers_202_with_the_documented_body_and_no_route_documents_422():
    document = openapi_document()
    connect = document["paths"]["/integrations/anthropic"]["post"]["responses"]
    assert connect["202"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Connection"}
    for methods in document["paths"].values():
        for operation in methods.values():
            assert "422" not in operation["responses"]
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorBody"
                    }
