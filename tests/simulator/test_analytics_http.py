"""The analytics endpoints over real HTTP on 127.0.0.1: auth, headers, knobs, faults and the legacy invariant."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from anthropic_simulator import ANALYTICS_BETA, DEMO_ADMIN_KEY, AnalyticsSettings, OrgSpec, Simulator

pytestmark = pytest.mark.network

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
HEADERS = {"x-api-key": DEMO_ADMIN_KEY, "anthropic-version": "2023-06-01", "anthropic-beta": ANALYTICS_BETA}
ORG = "/v1/organizations"
USAGE, COST = f"{ORG}/analytics/usage", f"{ORG}/analytics/cost"
QUERY = {"starting_at": "2026-03-02T00:00:00Z", "ending_at": "2026-03-05T00:00:00Z"}
MICRO = Decimal("0.000001")


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(spec=OrgSpec(seed=7), now=lambda: NOW) as simulator:
        yield simulator


@pytest.fixture
def api(sim: Simulator) -> Iterator[requests.Session]:
    sim.clear_faults()
    sim.reset_counts()
    sim.reset_rate_limit()
    sim.analytics = AnalyticsSettings()
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield session
    sim.analytics = AnalyticsSettings()


def _get(session: requests.Session, sim: Simulator, path: str, headers: dict | None = None, **params):
    return session.get(sim.url + path, params=params, headers=headers, timeout=10)


def _rows(session: requests.Session, sim: Simulator, path: str, **params) -> list[dict]:
    rows, page = [], None
    while True:
        body = _get(session, sim, path, **params, **({"page": page} if page else {})).json()
        rows.extend(body["data"])
        if not body["has_more"]:
            return rows
        page = body["next_page"]


def test_both_auth_styles_are_accepted(api: requests.Session, sim: Simulator) -> None:
    with_key = _get(api, sim, USAGE, **QUERY)
    bearer = _get(api, sim, USAGE, headers={"x-api-key": None, "authorization": f"Bearer {DEMO_ADMIN_KEY}"}, **QUERY)

    assert with_key.status_code == bearer.status_code == 200
    assert with_key.json() == bearer.json()
    assert bearer.headers["request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("headers", "settings", "status", "error_type"),
    [
        ({"x-api-key": None}, {}, 401, "authentication_error"),
        ({"x-api-key": None, "authorization": "Bearer sk-ant-admin01-wrong"}, {}, 401, "authentication_error"),
        ({"x-api-key": "sk-ant-api03-" + "x" * 93 + "AA"}, {}, 403, "permission_error"),
        ({}, {"auth_styles": ("bearer",)}, 401, "authentication_error"),
        ({"anthropic-version": None}, {}, 400, "invalid_request_error"),
        ({}, {"accepted_versions": ("2026-10-21",)}, 400, "invalid_request_error"),
        ({"anthropic-beta": None}, {}, 400, "invalid_request_error"),
        ({"anthropic-beta": "fast-mode-2026-02-01"}, {"missing_beta_status": 404}, 404, "not_found_error"),
        ({}, {"hipaa_readiness": True}, 400, "invalid_request_error"),
    ],
)
def test_credentials_headers_and_org_settings_are_enforced(
    api: requests.Session, sim: Simulator, headers: dict, settings: dict, status: int, error_type: str
) -> None:
    sim.analytics = AnalyticsSettings(**settings)

    response = _get(api, sim, COST, headers=headers, **QUERY)

    body = response.json()
    assert response.status_code == status
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert body["request_id"] == response.headers["request-id"]
    assert DEMO_ADMIN_KEY not in response.text


def test_the_beta_is_found_anywhere_in_a_comma_separated_list(api: requests.Session, sim: Simulator) -> None:
    headers = {"anthropic-beta": f"fast-mode-2026-02-01,{ANALYTICS_BETA} , other-2026-01-01"}

    assert _get(api, sim, USAGE, headers=headers, **QUERY).status_code == 200


def test_an_org_outside_the_beta_gets_the_error_code(api: requests.Session, sim: Simulator) -> None:
    sim.analytics = AnalyticsSettings(enrolled_in_beta=False)

    error = _get(api, sim, USAGE, **QUERY).json()["error"]

    assert error["details"] == {"error_code": "organization_not_enrolled_in_beta"}


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("starting_at=2026-03-02T00:00:00%2B00:00&ending_at=2026-03-03T00:00:00%2B00:00", 200),
        ("starting_at=2026-03-02T00:00:00+00:00", 400),  # "+" unencoded reads as a space
        ("starting_at=2026-03-02T00:00:00Z&group_by%5B%5D=actor&group_by%5B%5D=model&limit=5", 200),
        ("starting_at=2026-03-02T00:00:00Z&group_by=model", 400),
        ("starting_at=2026-03-02T00:00:00Z&api_key_ids%5B%5D=&group_by%5B%5D=api_key_id", 200),
        ("starting_at=2025-12-01T00:00:00Z", 400),
        ("starting_at=2026-03-02T00:00:00Z&time_bucket_width=1h", 400),
        ("starting_at=2026-03-02T00:00:00Z&limit=1001", 400),
    ],
)
def test_query_strings_as_clients_send_them(api: requests.Session, sim: Simulator, query: str, status: int) -> None:
    response = api.get(f"{sim.url}{USAGE}?{query}", timeout=10)

    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_rate_limit_answers_429_with_retry_after(api: requests.Session, sim: Simulator) -> None:
    sim.analytics = AnalyticsSettings(rate_limit_per_minute=2)

    statuses = [_get(api, sim, path, **QUERY).status_code for path in (USAGE, COST)]
    limited = _get(api, sim, USAGE, **QUERY)

    assert statuses == [200, 200]
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert _get(api, sim, f"{ORG}/me").status_code == 200
    sim.reset_rate_limit()
    assert _get(api, sim, USAGE, **QUERY).status_code == 200


def test_faults_counters_and_revocation_apply_to_the_analytics_paths(api: requests.Session, sim: Simulator) -> None:
    sim.inject("529", path=COST)
    sim.inject("429", retry_after=3, path=USAGE)

    overloaded = _get(api, sim, COST, **QUERY)
    limited = _get(api, sim, USAGE, **QUERY)
    ok = _get(api, sim, COST, **QUERY)
    sim.replace_admin_key(DEMO_ADMIN_KEY.replace("DEMO", "NEXT"))
    try:
        revoked = _get(api, sim, COST, **QUERY)
    finally:
        sim.replace_admin_key(DEMO_ADMIN_KEY)

    assert (overloaded.status_code, limited.status_code, ok.status_code, revoked.status_code) == (529, 429, 200, 401)
    assert limited.headers["retry-after"] == "3"
    assert sim.request_counts == {COST: 3, USAGE: 1}


def test_a_restatement_changes_values_on_a_re_read() -> None:
    with Simulator(spec=OrgSpec(seed=7), now=lambda: NOW) as sim, requests.Session() as session:
        session.headers.update(HEADERS)
        query = {"starting_at": "2026-03-09T00:00:00Z", "ending_at": "2026-03-10T00:00:00Z"}
        before = _get(session, sim, COST, **query).json()["data"]

        sim.restate(2)
        after = _get(session, sim, COST, **query).json()["data"]

    assert before != after
    assert before[0]["starting_at"] == after[0]["starting_at"] == query["starting_at"]


def _legacy_cost(session: requests.Session, sim: Simulator, start: date, end: date) -> dict[tuple, Decimal]:
    params = {"starting_at": f"{start}T00:00:00Z", "ending_at": f"{end}T00:00:00Z", "limit": 31}
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    for bucket in _rows(session, sim, f"{ORG}/cost_report", **params, **{"group_by[]": "workspace_id"}):
        for result in bucket["results"]:
            workspace = result["workspace_id"] or sim.org.default_workspace.id
            totals[(bucket["starting_at"][:10], workspace)] += Decimal(result["amount"])
    return totals


@pytest.mark.parametrize("decimals", [6, None])
def test_analytics_cost_is_legacy_cost_plus_priority_per_day_and_workspace(
    api: requests.Session, sim: Simulator, decimals: int | None
) -> None:
    sim.analytics = AnalyticsSettings(amount_decimals=decimals)
    windows = [
        (date(2026, 1, 1), date(2026, 2, 1)),
        (date(2026, 2, 1), date(2026, 3, 4)),
        (date(2026, 3, 4), NOW.date()),
    ]
    seen_days = set()
    for start, end in windows:
        legacy = _legacy_cost(api, sim, start, end)
        params = {"starting_at": f"{start}T00:00:00Z", "ending_at": f"{end}T00:00:00Z", "time_bucket_width": "1d"}
        rows = _rows(api, sim, COST, limit=1000, **params, **{"group_by[]": "workspace_id"})

        actual = {(r["starting_at"][:10], r["group"]["workspace_id"]): Decimal(r["cost"]["amount"]) for r in rows}
        expected = dict(legacy)
        for day in {day for day, _ in legacy}:
            for workspace, amount in sim.analytics_data.priority_cost(date.fromisoformat(day)).items():
                expected[(day, workspace)] = expected.get((day, workspace), Decimal(0)) + amount
        if decimals is not None:
            expected = {key: amount.quantize(MICRO) for key, amount in expected.items()}
        assert actual == expected
        seen_days |= {day for day, _ in actual}
    assert len(seen_days) == (NOW.date() - date(2026, 1, 1)).days


def test_tiny_pages_equal_one_large_page(api: requests.Session, sim: Simulator) -> None:
    fanned = {**QUERY, "group_by[]": ["actor", "product", "cost_type", "token_type"]}
    hourly = {**QUERY, "ending_at": "2026-03-03T00:00:00Z", "time_bucket_width": "1h", "group_by[]": ["speed"]}

    one_cost = _get(api, sim, COST, limit=1000, **fanned).json()
    one_usage = _get(api, sim, USAGE, limit=1000, **hourly).json()

    assert _rows(api, sim, COST, limit=1, **fanned) == one_cost["data"]
    assert _rows(api, sim, USAGE, limit=7, **hourly) == one_usage["data"]
    assert sim.request_counts[USAGE] == 1 + -(-len(one_usage["data"]) // 7)


def test_workspaces_list_includes_the_default_workspace_on_request(api: requests.Session, sim: Simulator) -> None:
    plain = _get(api, sim, f"{ORG}/workspaces", include_archived="true").json()["data"]
    with_default = _get(api, sim, f"{ORG}/workspaces", include_archived="true", include_default="true").json()["data"]

    assert with_default[1:] == plain
    assert with_default[0]["id"] == sim.org.default_workspace.id and with_default[0]["name"] == "Default Workspace"
    analytics = _get(api, sim, COST, **QUERY, **{"group_by[]": "workspace_id", "limit": 100}).json()["data"]
    assert {r["group"]["workspace_id"] for r in analytics} <= {ws["id"] for ws in with_default}
    assert _get(api, sim, f"{ORG}/workspaces/{with_default[0]['id']}").json() == with_default[0]


def test_latency_applies_to_the_analytics_endpoints(api: requests.Session, sim: Simulator) -> None:
    sim.latency_s = 0.2
    try:
        response = _get(api, sim, USAGE, **QUERY)
    finally:
        sim.latency_s = 0.0

    assert response.status_code == 200 and response.elapsed >= timedelta(seconds=0.2)


def test_settings_can_be_swapped_while_serving(api: requests.Session, sim: Simulator) -> None:
    sim.analytics = replace(sim.analytics, include_organization_id=True, refresh_lag=timedelta(0))

    body = _get(api, sim, USAGE, **QUERY).json()

    assert body["organization_id"] == sim.org.id and body["data_refreshed_at"] == "2026-03-10T12:30:00Z"
