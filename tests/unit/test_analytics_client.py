"""AnalyticsClient against a scripted transport: no sockets, no real sleeping."""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from pydantic import SecretStr

from pump_anthropic.admin_api.analytics import AnalyticsClient, encode_query
from pump_anthropic.admin_api.analytics_models import ApiActor, OtherActor, UserActor
from pump_anthropic.domain.analytics_plan import AnalyticsQuery, Endpoint
from pump_anthropic.exceptions import (
    AdminApiAuthError,
    AdminApiError,
    AdminApiPaginationError,
    AdminApiPermissionError,
    AdminApiRateLimitedError,
    AdminApiReportPageTooLargeError,
    AdminApiRequestError,
    AdminApiTooManyReportGroupsError,
    AdminApiUnavailableError,
)
from tests.support.scripted_http import ADMIN_KEY, FakeClock, Reply, ScriptedAdapter, error_reply

pytestmark = pytest.mark.disable_socket

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 10, 3, tzinfo=UTC)
DAILY = AnalyticsQuery(START, END, "1d", ("api_key_id", "model"))
COST_PATH = "/v1/organizations/analytics/cost"
USAGE_PATH = "/v1/organizations/analytics/usage"


# The 20 keys every usage group carries (cost adds cost_type and token_type).
GROUP_KEYS = (
    "actor", "actor_type", "agent_id", "api_key_id", "claude_tag_category", "claude_tag_user_id", "context_window",
    "deployment_id", "environment_id", "inference_geo", "model", "organization_id", "product", "rbac_group_id",
    "service_tier", "session_id", "slack_channel_id", "speed", "user_profile_id", "workspace_id",
)  # fmt: skip


@dataclass
class Harness:
    client: AnalyticsClient
    adapter: ScriptedAdapter
    clock: FakeClock


@pytest.fixture
def harness():
    def build(script: list[Reply | BaseException], **kwargs: Any) -> Harness:
        clock = FakeClock()
        adapter = ScriptedAdapter(script)
        session = requests.Session()
        session.mount("https://", adapter)
        kwargs.setdefault("base_url", "https://admin.test")
        client = AnalyticsClient(SecretStr(ADMIN_KEY), session=session, sleep=clock.sleep, clock=clock, **kwargs)
        return Harness(client, adapter, clock)

    return build


def group(**values: Any) -> dict[str, Any]:
    return {**dict.fromkeys(GROUP_KEYS), **values}


def bounds(day: int) -> dict[str, str]:
    return {"starting_at": f"2026-10-{day:02d}T00:00:00Z", "ending_at": f"2026-10-{day + 1:02d}T00:00:00Z"}


def cost_row(day: int = 1, amount: Any = "1234.500000", **dims: Any) -> dict[str, Any]:
    cost = {"amount": amount, "list_amount": "1371.666667", "currency": "USD", "requests": 3}
    return {**bounds(day), "group": group(**{"cost_type": None, "token_type": None, **dims}), "cost": cost}


def usage_row(day: int = 1, **dims: Any) -> dict[str, Any]:
    usage = {
        "uncached_input_tokens": 10, "cache_creation": {"ephemeral_5m_input_tokens": 1, "ephemeral_1h_input_tokens": 2},
        "cache_read_input_tokens": 3, "output_tokens": 4, "server_tool_use": {"web_search_requests": 5},
        "total_tokens": 20, "requests": 6,
    }  # fmt: skip
    return {**bounds(day), "group": group(**dims), "usage": usage}


def page(rows: list[dict[str, Any]], next_page: str | None = None, **extra: Any) -> Reply:
    body = {"data": rows, "has_more": next_page is not None, "next_page": next_page}
    return Reply(body={**body, "data_refreshed_at": "2026-10-03T05:00:00Z", **extra})


def costs(client: AnalyticsClient, query: AnalyticsQuery = DAILY) -> list:
    return list(client.iter_cost(query))


def query_of(adapter: ScriptedAdapter, index: int = 0) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(adapter.requests[index].url).query, keep_blank_values=True)


# --- headers and auth ------------------------------------------------------------------------------------------


def test_analytics_call_sends_beta_version_key_and_path(harness):
    # Given
    h = harness([page([cost_row()])])

    # When
    rows = costs(h.client)

    # Then
    request = h.adapter.requests[0]
    assert request.url.startswith(f"https://admin.test{COST_PATH}?")
    assert request.headers["anthropic-beta"] == "analytics-usage-cost-2026-08-24"
    assert request.headers["anthropic-version"] == "2026-10-21"
    assert request.headers["x-api-key"] == ADMIN_KEY
    assert "authorization" not in request.headers
    assert request.headers["user-agent"].startswith("pump-anthropic/")
    assert len(rows) == 1 and h.client.request_count == 1


def test_extra_betas_are_comma_joined_and_bearer_replaces_x_api_key(harness):
    # Given
    h = harness([page([usage_row()])], auth_scheme="bearer", extra_betas=["other-beta-2026-01-01"])

    # When
    list(h.client.iter_usage(DAILY))

    # Then
    headers = h.adapter.requests[0].headers
    assert headers["anthropic-beta"] == "other-beta-2026-01-01,analytics-usage-cost-2026-08-24"
    assert headers["authorization"] == f"Bearer {ADMIN_KEY}"
    assert "x-api-key" not in headers
    assert h.adapter.requests[0].url.startswith(f"https://admin.test{USAGE_PATH}?")


def test_legacy_calls_through_the_analytics_client_keep_legacy_headers(harness):
    h = harness([Reply(body={"id": "org", "name": "Acme"})])
    h.client.get_organization()
    headers = h.adapter.requests[0].headers
    assert "anthropic-beta" not in headers
    assert headers["anthropic-version"] == "2023-06-01"


def test_client_rejects_unknown_auth_scheme():
    with pytest.raises(ValueError, match="auth_scheme"):
        AnalyticsClient(SecretStr(ADMIN_KEY), auth_scheme="basic")  # type: ignore[arg-type]


# --- parameter encoding --------------------------------------------------------------------------------------


# fmt: off
FULL_QUERY = AnalyticsQuery(
    starting_at=datetime(2026, 9, 1, 2, tzinfo=timezone(timedelta(hours=2))),
    ending_at=datetime(2026, 9, 2, tzinfo=UTC), time_bucket_width="1h",
    group_by=("actor", "model", "cost_type", "token_type"), limit=1000, order="asc", order_by="time",
    exclude_deleted_users=True, actor_ids=["user_1", "svac_2"], actor_types=["user_actor"], agent_ids=["agent_1"],
    api_key_ids=["apikey_1", ""], claude_tag_categories=["dm"], claude_tag_user_ids=["U0123ABCDEF"],
    context_windows=["0-200k", "200k-1M"], deployment_ids=["dep_1"], environment_ids=["env_1"],
    inference_geos=["not_available"], models=["claude-opus-5-5"], organization_ids=["org_1"],
    products=["messages_api", "claude_code"], service_tiers=["priority"], session_ids=["sesn_1"],
    slack_channel_ids=["C1"], speeds=["fast"], user_profile_ids=["uprof_1"], workspace_ids=["wrkspc_1"],
)
FULL_QUERY_PARAMS = [
    ("starting_at", "2026-09-01T00:00:00Z"), ("ending_at", "2026-09-02T00:00:00Z"), ("time_bucket_width", "1h"),
    ("group_by[]", "actor"), ("group_by[]", "model"), ("group_by[]", "cost_type"), ("group_by[]", "token_type"),
    ("limit", "1000"), ("order", "asc"), ("order_by", "time"),
    ("actor_ids[]", "user_1"), ("actor_ids[]", "svac_2"), ("actor_types[]", "user_actor"), ("agent_ids[]", "agent_1"),
    ("api_key_ids[]", "apikey_1"), ("api_key_ids[]", ""), ("claude_tag_categories[]", "dm"),
    ("claude_tag_user_ids[]", "U0123ABCDEF"), ("context_windows[]", "0-200k"), ("context_windows[]", "200k-1M"),
    ("deployment_ids[]", "dep_1"), ("environment_ids[]", "env_1"), ("inference_geos[]", "not_available"),
    ("models[]", "claude-opus-5-5"), ("organization_ids[]", "org_1"), ("products[]", "messages_api"),
    ("products[]", "claude_code"), ("service_tiers[]", "priority"), ("session_ids[]", "sesn_1"),
    ("slack_channel_ids[]", "C1"), ("speeds[]", "fast"), ("user_profile_ids[]", "uprof_1"),
    ("workspace_ids[]", "wrkspc_1"), ("exclude_deleted_users", "true"),
]
# fmt: on


def test_every_parameter_is_encoded_with_repeated_bracket_arrays(harness):
    # Given
    h = harness([page([])])

    # When
    list(h.client.iter_cost(FULL_QUERY))

    # Then
    assert query_of(h.adapter) == FULL_QUERY_PARAMS
    raw = urlsplit(h.adapter.requests[0].url).query
    assert "group_by%5B%5D=actor&" in raw and "api_key_ids%5B%5D=&" in raw


def test_minimal_query_sends_only_what_is_set():
    query = AnalyticsQuery(START, exclude_deleted_users=False, group_by=["actor"])
    assert encode_query(Endpoint.USAGE, query) == [
        ("starting_at", "2026-10-01T00:00:00Z"), ("group_by[]", "actor"), ("limit", "1000"),
        ("exclude_deleted_users", "false"),
    ]  # fmt: skip


SIX = ("actor", "model", "product", "speed", "workspace_id", "api_key_id")


@pytest.mark.parametrize(
    ("method", "query", "message"),
    [
        ("iter_usage", AnalyticsQuery(START, END, group_by=("model", "cost_type")), "cannot group by"),
        ("iter_usage", AnalyticsQuery(START, END, group_by=("a_new_dimension",)), "cannot group by"),
        ("iter_cost", AnalyticsQuery(START, END, order_by="requests"), "cannot order by"),
        ("iter_usage", AnalyticsQuery(START, END, order_by="amount"), "cannot order by"),
        ("iter_usage", AnalyticsQuery(START, END, group_by=SIX), "at most 5"),
        ("iter_cost", AnalyticsQuery(START, END, api_key_ids=[f"apikey_{i}" for i in range(101)]), "at most 100"),
    ],
    ids=["fan-out-on-usage", "unknown-dimension", "usage-order-on-cost", "cost-order-on-usage", "six", "101-keys"],
)
def test_invalid_queries_fail_at_call_time_without_a_request(harness, method, query, message):
    h = harness([])
    with pytest.raises(ValueError, match=message):
        getattr(h.client, method)(query)
    assert h.client.request_count == 0


def test_fan_out_dimensions_do_not_count_toward_the_cap_on_cost(harness):
    # Given: five counted dimensions plus cost_type and token_type
    dims = ("workspace_id", "model", "service_tier", "context_window", "inference_geo", "cost_type", "token_type")
    h = harness([page([])])

    # When
    list(h.client.iter_cost(AnalyticsQuery(START, END, "1d", dims)))

    # Then
    assert [v for k, v in query_of(h.adapter) if k == "group_by[]"] == list(dims)


def test_filter_cap_can_be_turned_off(harness):
    h = harness([page([])], max_filter_values=None)
    list(h.client.iter_cost(AnalyticsQuery(START, END, workspace_ids=[f"wrkspc_{i}" for i in range(150)])))
    assert len([k for k, _ in query_of(h.adapter) if k == "workspace_ids[]"]) == 150


# --- pagination ---------------------------------------------------------------------------------------------


def test_follows_next_page_resending_the_same_query(harness):
    # Given: 5 pages chained by next_page
    tokens = ["c1", "c2", "c3", "c4", None]
    h = harness([page([cost_row(day)], token) for day, token in zip(range(1, 6), tokens, strict=True)])

    # When
    rows = costs(h.client)

    # Then
    assert [row.starting_at.day for row in rows] == [1, 2, 3, 4, 5]
    base = query_of(h.adapter, 0)
    assert ("page", "c1") not in base
    assert [query_of(h.adapter, i) for i in range(1, 5)] == [[*base, ("page", t)] for t in tokens[:4]]
    assert h.client.request_count == 5


def test_pages_expose_cursor_and_data_refreshed_at(harness):
    # Given
    h = harness([page([usage_row(1)], "c1"), page([], None, organization_id="org-uuid")])

    # When
    pages = list(h.client.iter_usage_pages(DAILY))

    # Then
    assert [p.next_page for p in pages] == ["c1", None]
    assert pages[0].data_refreshed_at == datetime(2026, 10, 3, 5, tzinfo=UTC)
    assert pages[1].organization_id == "org-uuid" and pages[1].data == []


def test_resumes_from_a_saved_cursor(harness):
    h = harness([page([cost_row(3)], None)])
    rows = list(h.client.iter_cost(DAILY, page="saved-cursor"))
    assert rows[0].starting_at.day == 3
    assert query_of(h.adapter)[-1] == ("page", "saved-cursor")


@pytest.mark.parametrize(
    ("first", "expected_requests"),
    [
        ({"data": [], "next_page": "c1"}, 2),  # has_more missing: a cursor means more
        ({"data": [], "has_more": None, "next_page": "c1"}, 2),
        ({"data": [], "has_more": False, "next_page": "c1"}, 1),  # has_more false wins
        ({"data": []}, 1),  # neither: the last page
    ],
    ids=["missing", "null", "false-with-cursor", "bare"],
)
def test_has_more_is_read_as_the_official_sdk_reads_it(harness, first, expected_requests):
    h = harness([Reply(body=first), page([])])
    list(h.client.iter_cost(DAILY))
    assert h.client.request_count == expected_requests


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ([Reply(body={"data": [], "has_more": True, "next_page": None})], "no cursor"),
        ([page([], "a"), page([], "b"), page([], "a")], "repeated"),
    ],
    ids=["has-more-without-cursor", "repeated-cursor"],
)
def test_broken_pagination_raises(harness, script, message):
    h = harness(script)
    with pytest.raises(AdminApiPaginationError, match=message):
        costs(h.client)


def test_page_cap_stops_an_endless_chain(harness):
    h = harness([page([], f"t{i}") for i in range(5)], max_pages=3)
    with pytest.raises(AdminApiPaginationError, match="max_pages"):
        costs(h.client)
    assert h.client.request_count == 3


# --- rows --------------------------------------------------------------------------------------------------------


def test_cost_rows_keep_amounts_exact_and_fan_out_fields(harness):
    # Given: one amount as a JSON number, one as the documented decimal string
    as_number = json.dumps({"data": [cost_row(amount="@")], "has_more": False}).encode()
    as_number = as_number.replace(b'"@"', b"0.1000000000000000055511151231257827")
    h = harness([Reply(body=as_number), page([cost_row(cost_type="tokens", token_type="output_tokens")])])

    # When
    from_number, from_string = costs(h.client)[0], costs(h.client)[0]

    # Then
    assert from_number.cost.amount == Decimal("0.1000000000000000055511151231257827")
    assert from_string.cost.amount == Decimal("1234.500000")
    assert from_string.cost.amount_usd == Decimal("12.345")
    assert from_string.cost.list_amount - from_string.cost.amount == Decimal("137.166667")
    assert (from_string.group.cost_type, from_string.group.token_type) == ("tokens", "output_tokens")
    assert from_string.starting_at == datetime(2026, 10, 1, tzinfo=UTC)


def test_usage_rows_actors_and_open_values(harness):
    # Given
    rows = [
        usage_row(actor={"type": "user_actor", "user_id": "user_1", "email": "a@b.test", "deleted": True}),
        usage_row(actor={"type": "api_actor", "api_key_id": "apikey_1"}, product="a_new_product"),
        usage_row(actor={"type": "robot_actor", "robot_id": "r1"}, brand_new_dimension="x"),
        usage_row(actor=None, inference_geo=None),
    ]
    h = harness([page(rows)])

    # When
    user, key, robot, unattributed = list(h.client.iter_usage(DAILY))

    # Then
    assert isinstance(user.group.actor, UserActor) and user.group.actor.email_address == "a@b.test"
    assert isinstance(key.group.actor, ApiActor) and key.group.product == "a_new_product"
    assert isinstance(robot.group.actor, OtherActor) and robot.group.actor.model_extra == {"robot_id": "r1"}
    assert robot.group.model_extra == {"brand_new_dimension": "x"}
    assert unattributed.group.actor is None
    assert user.usage.cache_creation.ephemeral_1h_input_tokens == 2 and user.usage.total_tokens == 20


@pytest.mark.parametrize(
    "row",
    [
        {**cost_row(), "cost": {"list_amount": "1", "currency": "USD"}},
        {**cost_row(), "starting_at": "2026-10-01T00:00:00"},
        {**cost_row(), "group": None},
    ],
    ids=["missing-amount", "naive-time", "no-group"],
)
def test_row_drift_fails_loudly_without_retry(harness, row):
    h = harness([page([row])])
    with pytest.raises(AdminApiError, match="unexpected shape") as excinfo:
        costs(h.client)
    assert not excinfo.value.retriable and h.client.request_count == 1


# --- retried faults ------------------------------------------------------------------------------------------------


RETRIED = {
    "429-retry-after": error_reply(429, "rate_limit_error", **{"retry-after": "1"}),
    "500": error_reply(500, "api_error"), "502-html": Reply(status=502, body=b"<html>bad gateway</html>"),
    "503": error_reply(503, "api_error"), "504": error_reply(504, "timeout_error"),
    "529": error_reply(529, "overloaded_error"),
    "truncated-json": Reply(body=b'{"data": [{"starting_at": "2026-10-01T0'),
    "invalid-json": Reply(body=b"<html>oops</html>"), "empty-body": Reply(body=b""),
    "connection": requests.ConnectionError("connection refused"),
    "connect-timeout": requests.exceptions.ConnectTimeout("connect timed out"),
    "read-timeout": requests.exceptions.ReadTimeout("read timed out"),
    "chunked": requests.exceptions.ChunkedEncodingError("IncompleteRead"),
}  # fmt: skip


@pytest.mark.parametrize("fault", list(RETRIED.values()), ids=list(RETRIED))
def test_retried_fault_mid_pagination_recovers_on_the_same_page(harness, fault):
    # Given: page 1 fine, page 2 fails twice then answers
    h = harness([page([cost_row(1)], "c1"), fault, fault, page([cost_row(2)])])

    # When
    rows = costs(h.client)

    # Then
    assert [row.starting_at.day for row in rows] == [1, 2]
    assert h.client.request_count == 4 and h.client.retry_count == 2
    assert [dict(query_of(h.adapter, i)).get("page") for i in (1, 2, 3)] == ["c1", "c1", "c1"]


@pytest.mark.parametrize(
    ("fault", "error_cls", "status"),
    [
        (RETRIED["503"], AdminApiUnavailableError, 503), (RETRIED["529"], AdminApiUnavailableError, 529),
        (RETRIED["429-retry-after"], AdminApiRateLimitedError, 429),
        (RETRIED["invalid-json"], AdminApiUnavailableError, 200),
        (RETRIED["read-timeout"], AdminApiUnavailableError, None),
    ],
    ids=["503", "529", "429", "invalid-json", "read-timeout"],
)  # fmt: skip
def test_retried_fault_raises_a_typed_retriable_error_after_max_attempts(harness, fault, error_cls, status):
    h = harness([fault] * 4, max_attempts=4)
    with pytest.raises(error_cls) as excinfo:
        costs(h.client)
    assert (excinfo.value.status, excinfo.value.retriable) == (status, True)
    assert h.client.request_count == 4


def test_429_sleeps_exactly_retry_after(harness):
    h = harness([error_reply(429, "rate_limit_error", **{"retry-after": "7"}), page([])], deadline=1000.0 + 60)
    costs(h.client)
    assert h.clock.sleeps == [7.0]


@pytest.mark.parametrize(("budget", "sleeps", "requests_sent"), [(9.5, [7.0], 2), (8.5, [], 1)])
def test_429_sleep_must_leave_time_for_the_attempt(harness, budget, sleeps, requests_sent):
    # Given: retry-after 7 s and 2 s reserved for the attempt that follows
    retry_in_7 = error_reply(429, "rate_limit_error", **{"retry-after": "7"})
    h = harness([retry_in_7, page([])], deadline=1000.0 + budget, min_attempt_seconds=2.0)

    # When
    try:
        costs(h.client)
    except AdminApiRateLimitedError as error:
        # Then (too little time): raised at once, retry_after kept for the caller to reschedule
        assert error.retry_after == 7.0 and error.retriable

    # Then
    assert h.clock.sleeps == sleeps and h.client.request_count == requests_sent
    assert h.clock.now < h.client.deadline


def test_429_without_retry_after_is_retried_only_a_little(harness):
    h = harness([error_reply(429, "rate_limit_error")] * 5, max_attempts=5)
    with pytest.raises(AdminApiRateLimitedError):
        costs(h.client)
    assert h.client.request_count == 3


def test_deadline_clamps_socket_timeouts_and_a_spent_budget_sends_nothing(harness):
    h = harness([page([])], deadline=1000.0 + 2.5)
    costs(h.client)
    assert h.adapter.send_kwargs[0]["timeout"] == (2.5, 2.5)
    spent = harness([page([])], deadline=999.0)
    with pytest.raises(AdminApiUnavailableError, match="time budget"):
        costs(spent.client)
    assert spent.client.request_count == 0


# --- never retried -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "error_cls"),
    [
        (400, "invalid_request_error", AdminApiRequestError), (401, "authentication_error", AdminApiAuthError),
        (402, "billing_error", AdminApiRequestError), (403, "permission_error", AdminApiPermissionError),
        (404, "not_found_error", AdminApiRequestError), (409, "conflict_error", AdminApiRequestError),
        (413, "request_too_large", AdminApiRequestError), (422, "invalid_request_error", AdminApiRequestError),
    ],
)  # fmt: skip
def test_non_retried_status_raises_at_once(harness, status, error_type, error_cls):
    h = harness([error_reply(status, error_type, "Cannot do that.", **{"request-id": "req_x"}), page([])])
    with pytest.raises(error_cls) as excinfo:
        costs(h.client)
    error = excinfo.value
    assert (error.status, error.error_type, error.request_id, error.retriable) == (status, error_type, "req_x", False)
    assert "Cannot do that." in str(error)
    assert h.client.request_count == 1 and h.clock.sleeps == []


def test_error_code_from_details_is_in_the_message(harness):
    reply = error_reply(400, "invalid_request_error", "Not enrolled.")
    reply.body["error"]["details"] = {"error_code": "organization_not_enrolled_in_beta"}
    h = harness([reply])
    with pytest.raises(AdminApiRequestError, match="error_code=organization_not_enrolled_in_beta"):
        costs(h.client)


# --- the key never leaks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("auth_scheme", ["x-api-key", "bearer"])
def test_key_absent_from_errors_reprs_and_logs(harness, caplog, auth_scheme):
    # Given: every kind of failure, and a server that echoes the key back
    script: list[Reply | BaseException] = [
        requests.ConnectionError(f"refused at https://admin.test/?echo={ADMIN_KEY}"),
        error_reply(429, "rate_limit_error", f"slow down {ADMIN_KEY}", **{"retry-after": "1"}),
        error_reply(503, "api_error", f"bad key {ADMIN_KEY}"),
        Reply(body=b"{trunc" + ADMIN_KEY.encode()),
        error_reply(401, "authentication_error", f"invalid Bearer {ADMIN_KEY}"),
    ]
    h = harness(script, auth_scheme=auth_scheme, max_attempts=6)

    # When
    with caplog.at_level(logging.DEBUG), pytest.raises(AdminApiAuthError) as excinfo:
        costs(h.client)

    # Then
    error = excinfo.value
    rendered = [str(error), repr(error), repr(h.client), str(vars(h.client))]
    rendered += ["".join(traceback.format_exception(error))]
    rendered += [record.getMessage() + str(vars(record)) for record in caplog.records]
    assert len([r for r in caplog.records if r.name == "pump_anthropic.admin_api"]) == 4
    assert all(ADMIN_KEY not in text for text in rendered)
    assert "[redacted]" in str(error)
    assert error.__context__ is None or ADMIN_KEY not in str(error.__context__)


# --- report_page_too_large and too_many_report_groups ------------------------------------------------------------


def coded_error(code: str, message: str = "Too much.") -> Reply:
    reply = error_reply(400, "invalid_request_error", message)
    reply.body["error"]["details"] = {"error_code": code}
    return reply


TOO_LARGE = coded_error("report_page_too_large", "The requested page has more usage than one page can hold.")
TOO_MANY = coded_error("too_many_report_groups", "A day in the report has usage in more groups than it can return.")


def sent(adapter: Any, name: str) -> list[str | None]:
    return [dict(parse_qsl(urlsplit(r.url).query)).get(name) for r in adapter.requests]


def test_page_too_large_re_asks_the_same_page_with_half_the_limit_and_pages_on_with_it(harness):
    # Given: page 2 is too large at 1000 and 500 rows, fine at 250
    h = harness([page([cost_row(1)], "c1"), TOO_LARGE, TOO_LARGE, page([cost_row(2)], "c2"), page([cost_row(3)])])

    # When
    rows = costs(h.client)

    # Then: no row twice or lost; the lowered limit stays for the pages after
    assert [row.starting_at.day for row in rows] == [1, 2, 3]
    assert sent(h.adapter, "page") == [None, "c1", "c1", "c1", "c2"]
    assert sent(h.adapter, "limit") == ["1000", "1000", "500", "250", "250"]
    assert h.client.request_count == 5 and h.clock.sleeps == []


@pytest.mark.parametrize(
    ("min_page_limit", "limits"), [(1, [1000, 500, 250, 125, 62, 31, 15, 7, 3, 1]), (100, [1000, 500, 250, 125, 100])]
)
def test_page_too_large_even_at_the_floor_raises_a_clear_non_retriable_error(harness, min_page_limit, limits):
    h = harness([TOO_LARGE] * 20, min_page_limit=min_page_limit)

    with pytest.raises(AdminApiReportPageTooLargeError, match=f"still too large at limit={limits[-1]}") as excinfo:
        costs(h.client)

    error = excinfo.value
    assert (error.status, error.retriable, error.code) == (400, False, "anthropic_report_page_too_large")
    assert isinstance(error, AdminApiRequestError)
    assert sent(h.adapter, "limit") == [str(limit) for limit in limits]


def test_a_400_without_a_known_error_code_is_not_remedied(harness):
    h = harness([coded_error("some_other_code"), page([])])
    with pytest.raises(AdminApiRequestError) as excinfo:
        costs(h.client)
    assert type(excinfo.value) is AdminApiRequestError and h.client.request_count == 1


# A small analytics endpoint over fixed rows, for the remedies that must not change what a query returns: ranges,
# time order, limit, offset cursors, and both errors on demand.
OCT = datetime(2026, 10, 1, tzinfo=UTC)
MONTH = AnalyticsQuery(OCT, OCT + timedelta(days=31), "1d", ("api_key_id", "cost_type", "token_type"),
                       order_by="time", order="asc")  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def month_rows() -> list[dict[str, Any]]:
    # Day d has key "apikey_<d // 4>" and "apikey_all": a range's groups grow with its length.
    rows = []
    for day in range(31):
        start = OCT + timedelta(days=day)
        for key in (f"apikey_{day // 4}", "apikey_all"):
            for token_type in ("uncached_input_tokens", "output_tokens"):
                row = cost_row(
                    amount=f"{day}.{len(rows):06d}", api_key_id=key, cost_type="tokens", token_type=token_type
                )
                rows.append({**row, "starting_at": _iso(start), "ending_at": _iso(start + timedelta(days=1))})
    return rows


class FakeReportApi(requests.adapters.BaseAdapter):
    def __init__(self, rows, *, max_limit=None, max_groups=None, per_day=False, max_page_rows=None):
        super().__init__()
        self.rows, self.max_limit, self.max_groups, self.per_day = rows, max_limit, max_groups, per_day
        self.max_page_rows = max_page_rows
        self.requests: list[requests.PreparedRequest] = []
        self.outcomes: list[str] = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        reply = self._answer(dict(parse_qsl(urlsplit(request.url).query)))
        self.outcomes.append(reply.body["error"]["details"]["error_code"] if reply.status != 200 else "ok")
        return reply.build(request)

    def _answer(self, q: dict[str, str]) -> Reply:
        inside = [r for r in self.rows if q["starting_at"] <= r["starting_at"] < q["ending_at"]]
        inside.sort(key=lambda r: r["starting_at"], reverse=q.get("order") != "asc")
        combos = {(r["starting_at"] if self.per_day else "", r["group"]["api_key_id"]) for r in inside}
        per_unit: dict[str, int] = {}
        for unit, _ in combos:
            per_unit[unit] = per_unit.get(unit, 0) + 1
        if self.max_groups is not None and max(per_unit.values(), default=0) > self.max_groups:
            return TOO_MANY
        limit, offset = int(q["limit"]), int(q.get("page", "o0")[1:])
        if self.max_limit is not None and limit > self.max_limit:
            return TOO_LARGE
        data = inside[offset : offset + limit]
        if self.max_page_rows is not None and len(data) > self.max_page_rows:
            return TOO_LARGE
        more = offset + limit < len(inside)
        return page(data, f"o{offset + limit}" if more else None)

    def close(self):
        pass

    def ranges(self) -> list[tuple[int, int]]:
        # (first day, last day + 1) of each request, as days of October
        spans = []
        for request in self.requests:
            q = dict(parse_qsl(urlsplit(request.url).query))
            spans.append((int(q["starting_at"][8:10]), (datetime.fromisoformat(q["ending_at"]) - OCT).days + 1))
        return spans


def on_fake(api: FakeReportApi, **kwargs: Any) -> AnalyticsClient:
    session = requests.Session()
    session.mount("https://", api)
    clock = FakeClock()
    return AnalyticsClient(SecretStr(ADMIN_KEY), "https://admin.test", session=session, sleep=clock.sleep,
                           clock=clock, **kwargs)  # fmt: skip


def unremedied(query: AnalyticsQuery) -> list:
    return list(on_fake(FakeReportApi(month_rows())).iter_cost(query))


def test_lowered_limits_return_exactly_the_rows_of_one_unlimited_walk():
    # Given: 124 rows; any page over 30 rows is too large
    api = FakeReportApi(month_rows(), max_page_rows=30)
    client = on_fake(api)

    # When
    rows = list(client.iter_cost(MONTH))

    # Then: 1000 → 500 → 250 → 125 → 62 → 31 → 15 rejected or accepted, then 15-row pages to the end
    assert rows == unremedied(MONTH) and len(rows) == 124
    assert sent(api, "limit") == ["1000", "500", "250", "125", "62", "31", *["15"] * 9]
    assert api.outcomes == ["report_page_too_large"] * 6 + ["ok"] * 9
    assert client.request_count == 15


def test_too_many_groups_splits_the_range_in_halves_on_a_bucket_edge():
    # Given: 8 days hold 3 keys; the API returns at most 2 per query
    query = replace(MONTH, ending_at=OCT + timedelta(days=8))
    api = FakeReportApi(month_rows(), max_groups=2)
    client = on_fake(api)

    # When
    rows = list(client.iter_cost(query))

    # Then: the whole range is refused, its two halves of 4 days are not
    assert rows == unremedied(query)
    assert api.ranges() == [(1, 9), (1, 5), (5, 9)]
    assert api.outcomes == ["too_many_report_groups", "ok", "ok"]
    assert client.request_count == 3


@pytest.mark.parametrize(
    "query",
    [MONTH, replace(MONTH, order="desc"), replace(MONTH, order=None), replace(MONTH, order_by=None, order=None)],
    ids=["time-asc", "time-desc", "time-default-desc", "metric-ranked"],
)
def test_split_rows_are_the_rows_of_the_unsplit_query(query):
    # Given: a month whose 9 keys must be read in ranges holding at most 2
    api = FakeReportApi(month_rows(), max_groups=2)

    # When
    rows = list(on_fake(api).iter_cost(query))

    # Then: time-ordered queries in the unsplit sequence; a metric-ranked one with the same rows (each half ranked)
    expected = unremedied(query)
    if query.order_by == "time":
        assert rows == expected
    else:
        assert sorted(rows, key=repr) == sorted(expected, key=repr) and len(rows) == len(expected)
    # every refused range was asked again as its two halves; the accepted ranges tile the month once
    spans, outcomes = api.ranges(), api.outcomes
    refused = [span for span, outcome in zip(spans, outcomes, strict=True) if outcome != "ok"]
    accepted = sorted(span for span, outcome in zip(spans, outcomes, strict=True) if outcome == "ok")
    assert all(any((a, m) in spans and (m, b) in spans for m in range(a + 1, b)) for a, b in refused)
    assert [a for a, _ in accepted] == [1] + [b for _, b in accepted[:-1]] and accepted[-1][1] == 32
    assert len(spans) == len(set(spans)) == 2 * len(refused) + 1


def test_split_and_lowered_limit_together_still_return_the_unremedied_rows():
    # Given: both errors; the limit learnt in the first half is kept in the second
    api = FakeReportApi(month_rows(), max_groups=5, max_page_rows=10)
    client = on_fake(api)

    # When
    rows = list(client.iter_cost(MONTH))

    # Then
    assert rows == unremedied(MONTH)
    assert api.outcomes.count("report_page_too_large") == 7  # 1000 → … → 7, learnt once for every piece
    assert set(sent(api, "limit")[api.outcomes.index("ok") :]) == {"7"}


def test_a_day_with_too_many_groups_is_split_down_to_that_day_then_reported():
    # Given: the cap holds per day, and every day has 2 keys
    api = FakeReportApi(month_rows(), max_groups=1, per_day=True)
    client = on_fake(api)

    # When
    with pytest.raises(AdminApiTooManyReportGroupsError, match="single 1d bucket") as excinfo:
        list(client.iter_cost(MONTH))

    # Then: halved 31 → 15 → 7 → 3 → 1 day, earliest half first, then given up (bounded, non-retriable)
    assert api.ranges() == [(1, 32), (1, 16), (1, 8), (1, 4), (1, 2)]
    error = excinfo.value
    assert (error.status, error.retriable, error.code) == (400, False, "anthropic_too_many_report_groups")
    assert "2026-10-01T00:00:00Z..2026-10-02T00:00:00Z" in str(error)
    assert error.__cause__ is not None and error.__cause__.__context__ is None


def test_splitting_stops_at_the_depth_cap():
    api = FakeReportApi(month_rows(), max_groups=1)
    with pytest.raises(AdminApiTooManyReportGroupsError, match="splitting its range 2 times"):
        list(on_fake(api, max_split_depth=2).iter_cost(MONTH))
    assert api.ranges() == [(1, 32), (1, 16), (1, 8)]


@pytest.mark.parametrize(
    ("query", "cursor", "reason"),
    [
        (replace(MONTH, time_bucket_width=None, order_by=None, order=None), None, "unbucketed"),
        (MONTH, "o4", "already read"),
    ],
    ids=["unbucketed", "resumed-from-a-cursor"],
)
def test_a_query_that_cannot_be_split_exactly_is_reported_at_once(query, cursor, reason):
    api = FakeReportApi(month_rows(), max_groups=2)
    with pytest.raises(AdminApiTooManyReportGroupsError, match=reason):
        list(on_fake(api).iter_cost(query, page=cursor))
    assert len(api.requests) == 1


def test_too_many_groups_after_pages_were_read_is_not_split(harness):
    h = harness([page([cost_row(1)], "c1"), TOO_MANY])
    with pytest.raises(AdminApiTooManyReportGroupsError, match="already read"):
        costs(h.client, MONTH)
    assert h.client.request_count == 2
