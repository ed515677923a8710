"""The two report-size errors of the analytics endpoints (SDK 2.15+): 400 `report_page_too_large` and 400
`too_many_report_groups`, over real HTTP, and the connector's client reading through both to the same rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import requests
from pydantic import SecretStr

from anthropic_simulator import ANALYTICS_BETA, DEMO_ADMIN_KEY, AnalyticsSettings, OrgSpec, Simulator
from pump_anthropic.admin_api.analytics import AnalyticsClient
from pump_anthropic.domain.analytics_plan import AnalyticsQuery
from pump_anthropic.exceptions import AdminApiTooManyReportGroupsError

pytestmark = pytest.mark.network

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
HEADERS = {"x-api-key": DEMO_ADMIN_KEY, "anthropic-version": "2026-10-21", "anthropic-beta": ANALYTICS_BETA}
COST, USAGE = "/v1/organizations/analytics/cost", "/v1/organizations/analytics/usage"
DAYS = {"starting_at": "2026-03-02T00:00:00Z", "ending_at": "2026-03-05T00:00:00Z", "time_bucket_width": "1d"}
FANNED = {**DAYS, "group_by[]": ["api_key_id", "model", "cost_type", "token_type"]}
KEYS_MODELS = {**DAYS, "group_by[]": ["api_key_id", "model"]}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(spec=OrgSpec(seed=7), now=lambda: NOW) as simulator:
        yield simulator


@pytest.fixture
def api(sim: Simulator) -> Iterator[requests.Session]:
    sim.clear_faults()
    sim.reset_counts()
    sim.analytics = AnalyticsSettings()
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield session
    sim.analytics = AnalyticsSettings()


def _get(session: requests.Session, sim: Simulator, path: str, **params) -> requests.Response:
    return session.get(sim.url + path, params=params, timeout=10)


def _walk(session: requests.Session, sim: Simulator, path: str, limits: Iterator[int], **params) -> list[dict]:
    rows, page = [], None
    while True:
        response = _get(session, sim, path, **params, limit=next(limits), **({"page": page} if page else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["data"])
        if not body["has_more"]:
            return rows
        page = body["next_page"]


def _coded(response: requests.Response) -> str:
    body = response.json()
    assert response.status_code == 400 and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error" and body["request_id"] == response.headers["request-id"]
    return body["error"]["details"]["error_code"]


def _groups_by_day(rows: list[dict], dims: list[str]) -> dict[str, set]:
    days: dict[str, set] = defaultdict(set)
    for row in rows:
        days[row["starting_at"][:10]].add(tuple(row["group"][d] for d in dims))
    return days


# --- report_page_too_large ------------------------------------------------------------------------------------------


def test_a_page_over_max_page_rows_is_report_page_too_large(api: requests.Session, sim: Simulator) -> None:
    everything = _get(api, sim, COST, limit=1000, **FANNED).json()["data"]
    sim.analytics = AnalyticsSettings(max_page_rows=len(everything) - 1)

    refused = _get(api, sim, COST, limit=1000, **FANNED)

    assert _coded(refused) == "report_page_too_large"
    assert "lower `limit`" in refused.json()["error"]["message"]
    assert _get(api, sim, COST, limit=1, **FANNED).status_code == 200


def test_a_cursor_goes_on_with_a_lower_limit_to_the_same_rows(api: requests.Session, sim: Simulator) -> None:
    # Given: one page of everything, read with the setting off
    everything = _get(api, sim, COST, limit=1000, **FANNED).json()["data"]
    sim.analytics = AnalyticsSettings(max_page_rows=12)

    # When: the first page at limit 2, then the rest from its cursor at limit 1 (the limit is not part of the query
    # a cursor is bound to)
    rows = _walk(api, sim, COST, iter([2] + [1] * 1000), **FANNED)

    # Then
    assert rows == everything
    other_query = _get(api, sim, COST, limit=2, **{**FANNED, "group_by[]": ["model"]}).json()["next_page"]
    assert _get(api, sim, COST, limit=1, page=other_query, **FANNED).status_code == 400


# --- too_many_report_groups ----------------------------------------------------------------------------------------


def test_too_many_groups_over_the_query(api: requests.Session, sim: Simulator) -> None:
    # Given: the groups of 3 days, and of the busiest single day
    rows = _get(api, sim, USAGE, limit=1000, **KEYS_MODELS).json()["data"]
    days = _groups_by_day(rows, ["api_key_id", "model"])
    busiest = max(days, key=lambda day: len(days[day]))
    overall = set().union(*days.values())
    assert len(overall) > len(days[busiest])
    sim.analytics = AnalyticsSettings(max_report_groups=len(overall) - 1, report_groups_scope="query")

    # When
    refused = _get(api, sim, USAGE, limit=1000, **KEYS_MODELS)
    one_day = {**KEYS_MODELS, "starting_at": f"{busiest}T00:00:00Z", "ending_at": _next_day(busiest)}
    accepted = _get(api, sim, USAGE, limit=1000, **one_day)

    # Then: the whole range is refused (every page of it), the busiest day alone is not
    assert _coded(refused) == "too_many_report_groups"
    assert accepted.status_code == 200 and len(accepted.json()["data"]) == len(days[busiest])
    assert _coded(_get(api, sim, USAGE, limit=1, **KEYS_MODELS)) == "too_many_report_groups"


@pytest.mark.parametrize("bucketed", [True, False], ids=["daily", "unbucketed"])
def test_too_many_groups_on_one_day_refuses_every_range_holding_it(
    api: requests.Session, sim: Simulator, bucketed: bool
) -> None:
    # Given: a cap one below the busiest day's groups, counted per day (the SDK's wording, and the default scope)
    rows = _get(api, sim, USAGE, limit=1000, **KEYS_MODELS).json()["data"]
    days = _groups_by_day(rows, ["api_key_id", "model"])
    busiest, quietest = max(days, key=lambda d: len(days[d])), min(days, key=lambda d: len(days[d]))
    assert len(days[quietest]) < len(days[busiest])
    sim.analytics = AnalyticsSettings(max_report_groups=len(days[busiest]) - 1)
    width = {} if bucketed else {"time_bucket_width": None}

    def one_day(day: str) -> requests.Response:
        bounds = {"starting_at": f"{day}T00:00:00Z", "ending_at": _next_day(day)}
        return _get(api, sim, USAGE, limit=1000, **{**KEYS_MODELS, **bounds, **width})

    # When / Then
    assert _coded(_get(api, sim, USAGE, limit=1000, **{**KEYS_MODELS, **width})) == "too_many_report_groups"
    refused = one_day(busiest)
    assert _coded(refused) == "too_many_report_groups" and busiest in refused.json()["error"]["message"]
    assert one_day(quietest).status_code == 200


@pytest.mark.parametrize(
    "settings",
    [{"report_groups_scope": "month"}, {"max_page_rows": 0}, {"max_report_groups": 0}],
    ids=["scope", "page-rows", "groups"],
)
def test_bad_settings_are_refused(settings: dict) -> None:
    with pytest.raises(ValueError):
        AnalyticsSettings(**settings)


# --- the connector's client reads through both --------------------------------------------------------------------

MARCH = datetime(2026, 2, 1, tzinfo=UTC)
CLIENT_QUERIES = [
    ("cost", AnalyticsQuery(MARCH, MARCH + timedelta(days=31), "1d", ("api_key_id", "model", "cost_type", "token_type"),
                            order_by="time", order="asc")),
    ("usage", AnalyticsQuery(MARCH, MARCH + timedelta(days=31), "1d", ("api_key_id", "model", "service_tier"),
                             order_by="time")),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "query"), CLIENT_QUERIES, ids=["cost-asc", "usage-desc"])
def test_the_client_returns_the_same_rows_with_both_errors_on(sim: Simulator, kind: str, query: AnalyticsQuery) -> None:
    def read(settings: AnalyticsSettings) -> tuple[list, int]:
        sim.analytics = settings
        sim.reset_counts()
        with AnalyticsClient(SecretStr(DEMO_ADMIN_KEY), sim.url, auth_scheme="bearer") as client:
            rows = list(client.iter_cost(query) if kind == "cost" else client.iter_usage(query))
            assert client.retry_count == 0
            return rows, sum(sim.request_counts.values())

    try:
        # Given: the query read with both settings off, and the size of its busiest day
        plain, plain_requests = read(AnalyticsSettings())
        dims = [d for d in query.group_by if d not in ("cost_type", "token_type")]
        days = _groups_by_day([row.model_dump(mode="json") for row in plain], dims)
        busiest = max(len(groups) for groups in days.values())
        # When: a query-wide group cap only a few days fit, and pages of at most 40 rows
        capped = AnalyticsSettings(max_report_groups=busiest + 1, report_groups_scope="query", max_page_rows=40)
        remedied, remedied_requests = read(capped)
    finally:
        sim.analytics = AnalyticsSettings()

    # Then
    assert plain_requests == 1 and len(plain) > 40
    assert remedied == plain
    assert remedied_requests > 2


def test_the_client_reports_a_day_it_cannot_split_below(sim: Simulator) -> None:
    query = CLIENT_QUERIES[0][1]
    sim.analytics = AnalyticsSettings(max_report_groups=1)
    sim.reset_counts()
    try:
        with (
            AnalyticsClient(SecretStr(DEMO_ADMIN_KEY), sim.url) as client,
            pytest.raises(AdminApiTooManyReportGroupsError, match="single 1d bucket") as excinfo,
        ):
            list(client.iter_cost(query))
    finally:
        sim.analytics = AnalyticsSettings()

    assert excinfo.value.status == 400 and not excinfo.value.retriable
    assert sim.request_counts == {COST: 5}  # 31 → 15 → 7 → 3 → 1 day, then given up


def test_the_official_sdk_maps_both_errors_to_its_typed_classes(sim: Simulator) -> None:
    anthropic = pytest.importorskip("anthropic")
    beta_types = pytest.importorskip("anthropic.types.beta")
    if not hasattr(beta_types, "BetaReportPageTooLargeError"):
        pytest.skip(f"anthropic {anthropic.__version__} predates the report size errors (2.15)")
    sim.analytics = AnalyticsSettings(max_page_rows=1, max_report_groups=1000)
    try:
        with anthropic.Anthropic(api_key=DEMO_ADMIN_KEY, base_url=sim.url, max_retries=0) as sdk:
            with pytest.raises(beta_types.BetaReportPageTooLargeError):
                sdk.beta.organization.analytics.cost.list(starting_at="2026-03-03T00:00:00Z", group_by=["model"])
            sim.analytics = replace(sim.analytics, max_page_rows=None, max_report_groups=1)
            with pytest.raises(beta_types.BetaTooManyReportGroupsError):
                sdk.beta.organization.analytics.cost.list(starting_at="2026-03-03T00:00:00Z", group_by=["model"])
    finally:
        sim.analytics = AnalyticsSettings()


def _next_day(day: str) -> str:
    return (datetime.fromisoformat(day) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
