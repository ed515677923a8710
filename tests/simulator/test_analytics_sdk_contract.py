"""Contract: every analytics response parses with the official SDK's own models (anthropic==2.14.0, pinned).

Raw pages are validated in strict JSON mode against the SDK's page and item classes, and no object may carry a
key the SDK does not model (its models allow extras, so that is checked separately). The real SDK client is then
driven against the simulator, which proves wire compatibility: Bearer auth, bracketed arrays, isoformat
datetimes, the beta header and the paginator.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import anthropic
import pytest
import requests
from anthropic._models import BaseModel as SdkModel
from anthropic.pagination import SyncReportPageCursor
from anthropic.types.beta.organization.analytics import (
    BetaAnalyticsCostGroup,
    BetaAnalyticsCostItem,
    BetaAnalyticsUsageGroup,
    BetaAnalyticsUsageItem,
)

from anthropic_simulator import ANALYTICS_BETA, DEMO_ADMIN_KEY, AnalyticsSettings, OrgSpec, Simulator
from anthropic_simulator.analytics_params import COST_DIMENSIONS, USAGE_DIMENSIONS

pytestmark = pytest.mark.network

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
HEADERS = {
    "authorization": f"Bearer {DEMO_ADMIN_KEY}",
    "anthropic-version": "2026-10-21",
    "anthropic-beta": ANALYTICS_BETA,
}
PATHS = {"usage": "/v1/organizations/analytics/usage", "cost": "/v1/organizations/analytics/cost"}
PAGES = {"usage": SyncReportPageCursor[BetaAnalyticsUsageItem], "cost": SyncReportPageCursor[BetaAnalyticsCostItem]}
RANGE = {"starting_at": "2026-03-03T00:00:00Z", "ending_at": "2026-03-05T00:00:00Z"}
SHAPES = [
    *(("usage", {**RANGE, "group_by[]": [d]}) for d in USAGE_DIMENSIONS),
    *(("cost", {**RANGE, "group_by[]": [d]}) for d in COST_DIMENSIONS),
    ("usage", RANGE),
    ("cost", RANGE),
    ("usage", {**RANGE, "group_by[]": ["actor", "actor_type", "api_key_id", "product", "workspace_id"]}),
    ("cost", {**RANGE, "group_by[]": ["actor", "model", "service_tier", "speed", "inference_geo"]}),
    ("cost", {**RANGE, "group_by[]": ["session_id", "agent_id", "cost_type", "token_type"], "limit": "3"}),
    ("cost", {**RANGE, "time_bucket_width": "1d", "order_by": "time", "group_by[]": ["cost_type", "token_type"]}),
    ("usage", {**RANGE, "ending_at": "2026-03-03T06:00:00Z", "time_bucket_width": "1h", "limit": "5"}),
    ("usage", {**RANGE, "ending_at": "2026-03-03T00:30:00Z", "time_bucket_width": "1m", "limit": "1000"}),
    ("usage", {**RANGE, "group_by[]": ["actor"], "exclude_deleted_users": "true", "limit": "2"}),
    ("cost", {**RANGE, "group_by[]": ["context_window"], "api_key_ids[]": ["", "apikey_nope"]}),
    ("usage", {"starting_at": "2026-03-10T10:00:00Z", "ending_at": "2026-03-10T11:00:00Z"}),  # after the watermark
    ("cost", {**RANGE, "claude_tag_categories[]": "dm", "group_by[]": ["claude_tag_category"]}),  # matches nothing
]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(spec=OrgSpec(seed=7), now=lambda: NOW) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[anthropic.Anthropic]:
    sim.analytics = AnalyticsSettings(auth_styles=("bearer",))  # only the SDK's own auth style gets through
    with anthropic.Anthropic(api_key=DEMO_ADMIN_KEY, base_url=sim.url, max_retries=0) as sdk:
        yield sdk
    sim.analytics = AnalyticsSettings()


def _raw_pages(sim: Simulator, kind: str, params: dict) -> list[str]:
    texts, page = [], None
    with requests.Session() as session:
        session.headers.update(HEADERS)
        while True:
            response = session.get(sim.url + PATHS[kind], params={**params, **({"page": page} if page else {})})
            assert response.status_code == 200, response.text
            texts.append(response.text)
            body = response.json()
            if not body["has_more"]:
                return texts
            page = body["next_page"]


def _assert_no_unmodelled_keys(value: object, where: str = "page") -> None:
    if isinstance(value, SdkModel):
        assert not value.model_extra, f"{where} has keys the SDK does not model: {sorted(value.model_extra)}"
        for name in type(value).model_fields:
            _assert_no_unmodelled_keys(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _assert_no_unmodelled_keys(item, f"{where}[{i}]")


def test_the_sdk_is_the_pinned_version() -> None:
    assert anthropic.__version__ == "2.14.0"


def test_the_group_has_exactly_the_sdk_keys() -> None:
    assert set(USAGE_DIMENSIONS) == set(BetaAnalyticsUsageGroup.model_fields)
    assert set(COST_DIMENSIONS) == set(BetaAnalyticsCostGroup.model_fields)


@pytest.mark.parametrize(("kind", "params"), SHAPES)
def test_every_response_parses_strictly_with_the_sdk_models(sim: Simulator, kind: str, params: dict) -> None:
    texts = _raw_pages(sim, kind, params)

    for text in texts:
        page = PAGES[kind].model_validate_json(text, strict=True)
        _assert_no_unmodelled_keys(page)
        assert page.data_refreshed_at == datetime(2026, 3, 10, 8, 30, tzinfo=UTC)
        for item in page.data:
            group = item.group.model_dump()
            assert set(group) == set(type(item.group).model_fields)
            if kind == "usage":
                assert item.usage.total_tokens or item.usage.requests or item.usage.server_tool_use.web_search_requests
            else:
                assert (
                    Decimal(item.cost.list_amount) >= Decimal(item.cost.amount) and Decimal(item.cost.list_amount) > 0
                )


def test_the_sdk_client_pages_through_the_same_rows_as_raw_http(sim: Simulator, client: anthropic.Anthropic) -> None:
    dims = ["actor", "product", "api_key_id", "cost_type", "token_type"]
    start, end = datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)
    sim.reset_counts()

    items = list(client.beta.organization.analytics.cost.list(starting_at=start, ending_at=end, group_by=dims, limit=4))
    sdk_requests = sim.request_counts[PATHS["cost"]]
    texts = _raw_pages(sim, "cost", {**RANGE, "group_by[]": dims, "limit": "4"})
    raw = [item for text in texts for item in PAGES["cost"].model_validate_json(text).data]

    assert items == raw
    assert sdk_requests == len(texts) > 1


def test_the_sdk_client_sends_filters_booleans_and_extra_betas(sim: Simulator, client: anthropic.Anthropic) -> None:
    usage = client.beta.organization.analytics.usage
    start, end = datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)

    keyless = list(usage.list(starting_at=start, ending_at=end, group_by=["api_key_id"], api_key_ids=[""]))
    kept = list(
        usage.list(
            starting_at=start,
            ending_at=end,
            group_by=["actor"],
            exclude_deleted_users=True,
            betas=["fast-mode-2026-02-01"],
            limit=1000,
        )
    )
    hourly = usage.list(starting_at=start, ending_at=end, time_bucket_width="1h", speeds=["fast"], limit=1000)

    assert [i.group.api_key_id for i in keyless] == [None]
    assert kept and not any(getattr(i.group.actor, "deleted", False) for i in kept)
    assert {i.group.actor.type for i in kept if i.group.actor} == {
        "user_actor",
        "service_account_actor",
        "federated_actor",
        "api_actor",
    }
    assert len(hourly.data) == 24 and hourly.has_more is False and hourly.next_page is None


def test_sdk_errors_carry_the_simulator_error_body(sim: Simulator, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.beta.organization.analytics.usage.list(starting_at="2025-06-01T00:00:00Z")
    sim.analytics = AnalyticsSettings(auth_styles=("bearer",), rate_limit_per_minute=1)
    sim.reset_rate_limit()
    client.beta.organization.analytics.cost.list(starting_at="2026-03-03T00:00:00Z")
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.beta.organization.analytics.cost.list(starting_at="2026-03-03T00:00:00Z")
    sim.reset_rate_limit()

    assert bad.value.status_code == 400 and bad.value.request_id.startswith("req_")
    assert "2026-01-01" in bad.value.body["error"]["message"]
    assert int(limited.value.response.headers["retry-after"]) >= 1


def test_the_sdk_lists_the_default_workspace(sim: Simulator, client: anthropic.Anthropic) -> None:
    workspaces = list(client.organization.workspaces.list(include_default=True, include_archived=True))

    assert workspaces[0].id == sim.org.default_workspace.id
    assert [w.id for w in workspaces[1:]] == [w.id for w in sim.org.workspaces]
