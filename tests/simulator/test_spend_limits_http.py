"""The Spend Limits API (beta) over real HTTP on 127.0.0.1: shapes, settings, refusals, paging, and the SDK contract.

The contract half validates every body strictly against the official SDK's own models (`anthropic==2.14.0`, whose
spend-limit files are identical to 2.17.0's) and drives the real SDK client against the simulator.
docs/anthropic-spend-limits-api.md is the reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import get_args

import anthropic
import pytest
import requests
from anthropic._models import BaseModel as SdkModel
from anthropic.pagination import SyncPageCursor
from anthropic.types.beta.organization import BetaSpendLimit, BetaSpendLimitsAdminAPIWritesNotEnabledError
from anthropic.types.shared import ErrorResponse

from anthropic_simulator import ANALYTICS_BETA, DEMO_ADMIN_KEY, OrgSpec, Simulator
from anthropic_simulator.spend_limits import (
    CONSOLE_SCOPE_TYPES,
    SPEND_LIMITS_BETA,
    SpendLimitsApi,
    SpendLimitSettings,
)

pytestmark = pytest.mark.network

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
HEADERS = {"x-api-key": DEMO_ADMIN_KEY, "anthropic-version": "2023-06-01", "anthropic-beta": SPEND_LIMITS_BETA}
LIMITS = "/v1/organizations/spend_limits"
EFFECTIVE = f"{LIMITS}/effective"
PAGE = SyncPageCursor[BetaSpendLimit]
FIELDS = {"type", "id", "amount", "currency", "is_enabled", "period", "scope", "created_at", "updated_at"}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(spec=OrgSpec(seed=7), now=lambda: NOW) as simulator:
        yield simulator


@pytest.fixture
def api(sim: Simulator) -> Iterator[requests.Session]:
    sim.clear_faults()
    sim.reset_counts()
    sim.reset_rate_limit()
    sim.spend_limits = SpendLimitSettings()
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield session
    sim.spend_limits = SpendLimitSettings()


@pytest.fixture
def client(api: requests.Session, sim: Simulator) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=DEMO_ADMIN_KEY, base_url=sim.url, max_retries=0) as sdk:
        yield sdk


def _get(session: requests.Session, sim: Simulator, path: str = LIMITS, headers: dict | None = None, **params):
    return session.get(sim.url + path, params=params, headers=headers, timeout=10)


def _pages(session: requests.Session, sim: Simulator, **params) -> list[requests.Response]:
    responses, page = [], None
    while True:
        response = _get(session, sim, **params, **({"page": page} if page else {}))
        assert response.status_code == 200, response.text
        responses.append(response)
        page = response.json()["next_page"]
        if not page:
            return responses


def _error(response: requests.Response, status: int, error_type: str) -> dict:
    body = response.json()
    assert response.status_code == status, response.text
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert body["request_id"] == response.headers["request-id"]
    ErrorResponse.model_validate(body, strict=True)
    return body["error"]


def _literals(annotation: object) -> set[str]:
    args = get_args(annotation)
    return {a for a in args if isinstance(a, str)} | {v for a in args for v in _literals(a)}


def _assert_no_unmodelled_keys(value: object, where: str = "body") -> None:
    if isinstance(value, SdkModel):
        assert not value.model_extra, f"{where} has keys the SDK does not model: {sorted(value.model_extra)}"
        for name in type(value).model_fields:
            _assert_no_unmodelled_keys(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _assert_no_unmodelled_keys(item, f"{where}[{i}]")


# -- shapes and settings --------------------------------------------------------------------------


def test_the_default_org_lists_its_usage_tier_organization_and_workspace_limits(
    api: requests.Session, sim: Simulator
) -> None:
    response = _get(api, sim)

    body = response.json()
    rows = body["data"]
    assert response.status_code == 200 and set(body) == {"data", "next_page"} and body["next_page"] is None
    assert all(set(row) == FIELDS for row in rows)
    assert [row["scope"] for row in rows] == [
        {"type": "workspace", "workspace_id": sim.org.workspaces[0].id},
        {"type": "organization"},
        {"type": "usage_tier"},
    ]
    assert [row["amount"] for row in rows] == ["50000", "200000", "500000"]
    assert {(row["type"], row["currency"], row["period"], row["is_enabled"]) for row in rows} == {
        ("spend_limit", "USD", "monthly", True)
    }
    created = [datetime.fromisoformat(row["created_at"]) for row in rows]
    assert created == sorted(created, reverse=True) and max(created) < NOW
    assert all(row["id"].startswith("spl_01") and len(row["id"]) == 28 for row in rows)
    tier, org_limit = rows[-1], rows[1]
    assert tier["created_at"] == tier["updated_at"]
    assert datetime.fromisoformat(tier["updated_at"]) < datetime.fromisoformat(org_limit["updated_at"])


def test_settings_shape_the_limits(api: requests.Session, sim: Simulator) -> None:
    default_ws = sim.org.default_workspace.id
    before = {row["scope"]["type"]: row["id"] for row in _get(api, sim).json()["data"]}
    sim.spend_limits = SpendLimitSettings(
        organization_amount=0,
        workspace_amounts=((1, 12_345), (default_ws, 7_000), (0, 50_000)),
        usage_tier_amount=None,
        currency="EUR",
        organization_limit_enabled=False,
    )

    rows = _get(api, sim).json()["data"]

    by_scope = {row["scope"].get("workspace_id", row["scope"]["type"]): row for row in rows}
    assert set(by_scope) == {"organization", default_ws, sim.org.workspaces[0].id, sim.org.workspaces[1].id}
    assert by_scope["organization"]["amount"] == "0" and by_scope["organization"]["is_enabled"] is False
    assert by_scope[sim.org.workspaces[1].id]["amount"] == "12345" and by_scope[default_ws]["amount"] == "7000"
    assert {row["currency"] for row in rows} == {"EUR"}
    assert all(row["is_enabled"] for row in rows if row["scope"]["type"] == "workspace")
    assert by_scope["organization"]["id"] == before["organization"]  # ids are stable per (scope, period)


def test_an_org_without_limits_lists_nothing(api: requests.Session, sim: Simulator) -> None:
    sim.spend_limits = SpendLimitSettings(organization_amount=None, workspace_amounts=(), usage_tier_amount=None)

    assert _get(api, sim).json() == {"data": [], "next_page": None}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"organization_amount": -1},
        {"usage_tier_amount": 1.5},
        {"workspace_amounts": ((0, True),)},
        {"workspace_amounts": ((0, 1), (0, 2))},
        {"currency": "usd"},
        {"list_refusal": "teapot"},
        {"missing_beta_status": 403},
        {"max_page_size": 0},
        {"rate_limit_per_minute": 0},
    ],
)
def test_bad_settings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SpendLimitSettings(**kwargs)


@pytest.mark.parametrize("ref", [3, "wrkspc_01unknown"])
def test_a_workspace_the_org_lacks_is_a_configuration_error(sim: Simulator, ref: int | str) -> None:
    with pytest.raises(ValueError, match="workspace_amounts"):
        SpendLimitsApi(sim.org).limits(SpendLimitSettings(workspace_amounts=((ref, 1),)))


# -- headers, auth, refusals ----------------------------------------------------------------------


def test_both_auth_styles_are_accepted(api: requests.Session, sim: Simulator) -> None:
    with_key = _get(api, sim)
    bearer = _get(api, sim, headers={"x-api-key": None, "authorization": f"Bearer {DEMO_ADMIN_KEY}"})

    assert with_key.status_code == bearer.status_code == 200
    assert with_key.json() == bearer.json()
    assert with_key.headers["anthropic-organization-id"] == sim.org.id


@pytest.mark.parametrize(
    ("headers", "settings", "status", "error_type"),
    [
        ({"x-api-key": None}, {}, 401, "authentication_error"),
        ({"x-api-key": "sk-ant-admin01-wrong"}, {}, 401, "authentication_error"),
        ({"x-api-key": "sk-ant-api03-" + "x" * 93 + "AA"}, {}, 403, "permission_error"),
        ({"anthropic-version": None}, {}, 400, "invalid_request_error"),
        ({"anthropic-beta": None}, {}, 400, "invalid_request_error"),
        ({"anthropic-beta": ANALYTICS_BETA}, {}, 400, "invalid_request_error"),
        ({"anthropic-beta": None}, {"missing_beta_status": 404}, 404, "not_found_error"),
    ],
)
def test_credentials_and_the_beta_header_are_enforced_on_list(
    api: requests.Session, sim: Simulator, headers: dict, settings: dict, status: int, error_type: str
) -> None:
    sim.spend_limits = SpendLimitSettings(**settings)

    response = _get(api, sim, headers=headers)

    error = _error(response, status, error_type)
    if headers.get("anthropic-beta", "") is None and status == 400:
        assert SPEND_LIMITS_BETA in error["message"]
    assert DEMO_ADMIN_KEY not in response.text


def test_the_beta_is_found_anywhere_in_a_comma_separated_list(api: requests.Session, sim: Simulator) -> None:
    headers = {"anthropic-beta": f"{ANALYTICS_BETA}, {SPEND_LIMITS_BETA} ,fast-mode-2026-02-01"}

    assert _get(api, sim, headers=headers).status_code == 200


def test_retrieve_returns_each_listed_limit_without_a_beta_header(api: requests.Session, sim: Simulator) -> None:
    rows = _get(api, sim).json()["data"]

    for row in rows:
        response = _get(api, sim, f"{LIMITS}/{row['id']}", headers={"anthropic-beta": None})
        assert response.status_code == 200 and response.json() == row
    missing = _get(api, sim, f"{LIMITS}/spl_01nope")
    assert _error(missing, 404, "not_found_error")["message"] == "Spend limit spl_01nope not found."


def test_an_org_outside_the_early_access_preview_is_refused(api: requests.Session, sim: Simulator) -> None:
    limit_id = _get(api, sim).json()["data"][0]["id"]
    sim.spend_limits = SpendLimitSettings(api_access=False)

    listed = _error(_get(api, sim), 403, "permission_error")
    retrieved = _error(_get(api, sim, f"{LIMITS}/{limit_id}"), 403, "permission_error")
    sim.spend_limits = SpendLimitSettings(api_access=False, list_refusal="not_found")
    listed_404 = _error(_get(api, sim), 404, "not_found_error")
    retrieved_again = _error(_get(api, sim, f"{LIMITS}/{limit_id}"), 403, "permission_error")

    code = {"error_code": "spend_limits_admin_api_writes_not_enabled"}
    assert listed["details"] == retrieved["details"] == retrieved_again["details"] == code
    assert "details" not in listed_404


def test_the_effective_report_is_enterprise_only(api: requests.Session, sim: Simulator) -> None:
    error = _error(_get(api, sim, EFFECTIVE, **{"period[]": "monthly"}), 400, "invalid_request_error")

    assert error["details"] == {"error_code": "organization_type_not_supported"}


def test_writes_are_not_simulated(api: requests.Session, sim: Simulator) -> None:
    # Fresh connections: the simulator answers 405 without reading the request body, so keep-alive would misparse.
    body = {"amount": "1000", "scope": {"type": "organization"}}
    posted = requests.post(sim.url + LIMITS, json=body, headers=HEADERS, timeout=10)
    deleted = requests.delete(f"{sim.url}{LIMITS}/spl_01x", headers=HEADERS, timeout=10)

    _error(posted, 405, "invalid_request_error")
    _error(deleted, 405, "invalid_request_error")


def test_rate_limit_answers_429_with_retry_after_and_is_separate_from_analytics(
    api: requests.Session, sim: Simulator
) -> None:
    sim.spend_limits = SpendLimitSettings(rate_limit_per_minute=2)
    limit_id = _get(api, sim).json()["data"][0]["id"]

    second = _get(api, sim, f"{LIMITS}/{limit_id}")
    limited = _get(api, sim)
    usage, beta = "/v1/organizations/analytics/usage", {"anthropic-beta": ANALYTICS_BETA}
    analytics = _get(api, sim, usage, beta, starting_at="2026-03-09T00:00:00Z")
    sim.reset_rate_limit()

    assert second.status_code == 200 and analytics.status_code == 200
    _error(limited, 429, "rate_limit_error")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert _get(api, sim).status_code == 200


def test_faults_and_counters_apply_to_the_spend_limit_paths(api: requests.Session, sim: Simulator) -> None:
    sim.inject("529", path=LIMITS)

    overloaded, ok = _get(api, sim), _get(api, sim)

    assert (overloaded.status_code, ok.status_code) == (529, 200)
    assert sim.request_counts == {LIMITS: 2}


# -- list parameters and paging ---------------------------------------------------------------------


def test_scope_type_and_workspace_filters(api: requests.Session, sim: Simulator) -> None:
    workspace = sim.org.workspaces[0].id
    sim.spend_limits = SpendLimitSettings(workspace_amounts=((0, 1), (1, 2)))

    workspaces = _get(api, sim, **{"scope_type[]": "workspace"}).json()["data"]
    org_and_tier = _get(api, sim, **{"scope_type[]": ["organization", "usage_tier"]}).json()["data"]
    one = _get(api, sim, workspace_id=workspace).json()["data"]
    none = _get(api, sim, workspace_id="wrkspc_01unknown").json()["data"]
    crossed = _get(api, sim, workspace_id=workspace, **{"scope_type[]": "organization"}).json()["data"]

    assert [row["scope"]["type"] for row in workspaces] == ["workspace", "workspace"]
    assert {row["scope"]["type"] for row in org_and_tier} == {"organization", "usage_tier"}
    assert [row["scope"] for row in one] == [{"type": "workspace", "workspace_id": workspace}]
    assert none == crossed == []


@pytest.mark.parametrize(
    "query",
    [
        "scope_type%5B%5D=user",
        "scope_type%5B%5D=seat_tier",
        "scope_type%5B%5D=bogus",
        "scope_type=workspace",
        "scope_type%5B0%5D=workspace",
        "limit=0",
        "limit=1001",
        "limit=ten",
        "page=not-a-cursor",
    ],
)
def test_bad_list_parameters_get_400(api: requests.Session, sim: Simulator, query: str) -> None:
    _error(api.get(f"{sim.url}{LIMITS}?{query}", timeout=10), 400, "invalid_request_error")


def test_pages_follow_next_page_and_cursors_are_bound_to_their_query(api: requests.Session, sim: Simulator) -> None:
    sim.spend_limits = SpendLimitSettings(workspace_amounts=((0, 1), (1, 2), (2, 3)))

    pages = _pages(api, sim, limit=2)
    cursor = pages[0].json()["next_page"]
    foreign = _get(api, sim, limit=2, page=cursor, **{"scope_type[]": "workspace"})

    paged = [row for page in pages for row in page.json()["data"]]
    assert [len(page.json()["data"]) for page in pages] == [2, 2, 1]
    assert paged == _get(api, sim).json()["data"]
    assert pages[-1].json()["next_page"] is None
    _error(foreign, 400, "invalid_request_error")


# -- contract with the official SDK -----------------------------------------------------------------


def test_the_sdk_is_the_pinned_version_and_knows_this_beta() -> None:
    assert anthropic.__version__ == "2.14.0"
    assert SPEND_LIMITS_BETA in _literals(anthropic.types.AnthropicBetaParam)
    assert set(BetaSpendLimit.model_fields) == FIELDS
    assert set(PAGE.model_fields) == {"data", "next_page"}


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"workspace_amounts": ((0, 1), (1, 2), (2, 3)), "currency": "EUR", "organization_limit_enabled": False},
        {"organization_amount": None, "usage_tier_amount": None, "workspace_amounts": ()},
    ],
)
@pytest.mark.parametrize("params", [{}, {"limit": "1"}, {"scope_type[]": list(CONSOLE_SCOPE_TYPES)}])
def test_every_body_parses_strictly_with_the_sdk_models(
    api: requests.Session, sim: Simulator, settings: dict, params: dict
) -> None:
    sim.spend_limits = replace(SpendLimitSettings(), **settings)

    for response in _pages(api, sim, **params):
        page = PAGE.model_validate_json(response.text, strict=True)
        _assert_no_unmodelled_keys(page)
        for item in page.data:
            one = _get(api, sim, f"{LIMITS}/{item.id}")
            retrieved = BetaSpendLimit.model_validate_json(one.text, strict=True)
            _assert_no_unmodelled_keys(retrieved)
            assert retrieved == item and int(item.amount) >= 0 and item.created_at <= item.updated_at <= NOW


def test_the_sdk_client_pages_through_the_same_limits_as_raw_http(
    api: requests.Session, sim: Simulator, client: anthropic.Anthropic
) -> None:
    sim.spend_limits = SpendLimitSettings(workspace_amounts=((0, 1), (1, 2), (2, 3)))
    raw = [BetaSpendLimit.model_validate(row) for row in _get(api, sim).json()["data"]]
    sim.reset_counts()

    listed = list(client.beta.organization.spend_limits.list(limit=2))
    workspaces = list(client.beta.organization.spend_limits.list(scope_type=["workspace"], betas=["other-2026-01-01"]))
    retrieved = client.beta.organization.spend_limits.retrieve(raw[0].id)

    assert listed == raw and retrieved == raw[0]
    assert [w.scope.workspace_id for w in workspaces] == [w.id for w in reversed(sim.org.workspaces)]
    assert sim.request_counts == {LIMITS: 4, f"{LIMITS}/{raw[0].id}": 1}


def test_sdk_errors_map_to_the_sdk_exception_classes(sim: Simulator, client: anthropic.Anthropic) -> None:
    limits = client.beta.organization.spend_limits
    limit_id = limits.list().data[0].id
    sim.spend_limits = SpendLimitSettings(api_access=False)

    with pytest.raises(BetaSpendLimitsAdminAPIWritesNotEnabledError) as retrieve:
        limits.retrieve(limit_id)
    with pytest.raises(BetaSpendLimitsAdminAPIWritesNotEnabledError):
        limits.list()
    with pytest.raises(anthropic.OrganizationTypeNotSupportedError) as effective:
        client.organization.spend_limits.effective.list()
    sim.spend_limits = SpendLimitSettings()
    with pytest.raises(anthropic.NotFoundError):
        limits.retrieve("spl_01nope")

    assert retrieve.value.status_code == 403 and retrieve.value.request_id.startswith("req_")
    assert retrieve.value.error_code == "spend_limits_admin_api_writes_not_enabled"
    assert effective.value.status_code == 400 and effective.value.error_code == "organization_type_not_supported"
