"""AdminApiClient against a scripted transport: no sockets, no real sleeping."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from pump_anthropic.admin_api import AdminApiClient, CostBucket, UsageBucket
from pump_anthropic.exceptions import (
    AdminApiAuthError,
    AdminApiError,
    AdminApiPaginationError,
    AdminApiPermissionError,
    AdminApiRateLimitedError,
    AdminApiRequestError,
    AdminApiUnavailableError,
)
from tests.support.scripted_http import ADMIN_KEY, FakeClock, Reply, ScriptedAdapter, error_reply

pytestmark = pytest.mark.disable_socket

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 3, 1, tzinfo=UTC)
COST_PATH = "/v1/organizations/cost_report"


@dataclass
class Harness:
    client: AdminApiClient
    adapter: ScriptedAdapter
    clock: FakeClock


@pytest.fixture
def harness():
    def build(script: list[Reply | BaseException], **kwargs: Any) -> Harness:
        clock = FakeClock()
        adapter = ScriptedAdapter(script)
        session = requests.Session()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        kwargs.setdefault("base_url", "https://admin.test")
        client = AdminApiClient(SecretStr(ADMIN_KEY), session=session, sleep=clock.sleep, clock=clock, **kwargs)
        return Harness(client, adapter, clock)

    return build


def org_reply() -> Reply:
    return Reply(body={"id": "org-uuid", "name": "Acme", "type": "organization"})


def cost_page(day: int, next_page: str | None) -> Reply:
    bucket = {
        "starting_at": f"2025-01-{day:02d}T00:00:00Z",
        "ending_at": f"2025-01-{day + 1:02d}T00:00:00Z",
        "results": [{"amount": f"{day}.5", "currency": "USD", "workspace_id": None}],
    }
    return Reply(body={"data": [bucket], "has_more": next_page is not None, "next_page": next_page})


def list_page(ids: list[str], has_more: bool) -> Reply:
    rows = [{"id": i, "name": f"name-{i}", "type": "workspace", "created_at": "2024-05-01T00:00:00Z"} for i in ids]
    return Reply(body={"data": rows, "has_more": has_more, "first_id": ids[0], "last_id": ids[-1]})


def cost_report(client: AdminApiClient) -> list[CostBucket]:
    return list(client.iter_cost_report(START, END))


# --- construction, headers, repr --------------------------------------------------------------------------


def test_client_sends_key_version_user_agent_and_timeouts(harness):
    # Given
    h = harness([org_reply()])

    # When
    org = h.client.get_organization()

    # Then
    headers = h.adapter.requests[0].headers
    assert (org.id, org.name) == ("org-uuid", "Acme")
    assert headers["x-api-key"] == ADMIN_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["user-agent"].startswith("pump-anthropic/") and "+https://pump.co" in headers["user-agent"]
    assert h.adapter.requests[0].url == "https://admin.test/v1/organizations/me"
    assert h.adapter.send_kwargs[0]["timeout"] == (3.05, 30.0)
    assert h.client.request_count == 1


def test_client_base_url_from_env_and_trailing_slash(monkeypatch):
    # Given
    monkeypatch.setenv("ANTHROPIC_API_URL", "http://127.0.0.1:9999/")

    # When / Then
    assert AdminApiClient(SecretStr(ADMIN_KEY)).base_url == "http://127.0.0.1:9999"
    assert AdminApiClient(SecretStr(ADMIN_KEY), "https://x.test//").base_url == "https://x.test"
    monkeypatch.delenv("ANTHROPIC_API_URL")
    assert AdminApiClient(SecretStr(ADMIN_KEY)).base_url == "https://api.anthropic.com"


def test_client_rejects_a_plain_string_key():
    with pytest.raises(TypeError) as excinfo:
        AdminApiClient(ADMIN_KEY)  # type: ignore[arg-type]
    assert ADMIN_KEY not in str(excinfo.value)


def test_client_repr_hides_the_key(harness):
    h = harness([])
    assert ADMIN_KEY not in repr(h.client)
    assert ADMIN_KEY not in str(vars(h.client))


def test_client_does_not_follow_redirects(harness):
    # Given: a redirect would carry x-api-key to another host
    h = harness([Reply(status=302, body=b"", headers={"location": "https://evil.test/steal"})])

    # When / Then
    with pytest.raises(AdminApiRequestError) as excinfo:
        h.client.get_organization()
    assert excinfo.value.status == 302
    assert len(h.adapter.requests) == 1


# --- pagination ----------------------------------------------------------------------------------------------


def test_iter_cost_report_follows_many_pages_with_the_same_query(harness):
    # Given: 12 pages chained by next_page
    tokens = [f"tok{i}" for i in range(1, 12)]
    h = harness([cost_page(day, token) for day, token in zip(range(1, 13), [*tokens, None], strict=True)])

    # When
    buckets = cost_report(h.client)

    # Then
    assert [b.starting_at.day for b in buckets] == list(range(1, 13))
    assert buckets[0].starting_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert buckets[0].results == [{"amount": "1.5", "currency": "USD", "workspace_id": None}]
    base = [
        ("starting_at", "2025-01-01T00:00:00Z"),
        ("ending_at", "2025-03-01T00:00:00Z"),
        ("limit", "31"),
        ("group_by[]", "workspace_id"),
        ("group_by[]", "description"),
    ]
    queries = h.adapter.queries()
    assert queries[0] == base
    assert queries[1:] == [[*base, ("page", token)] for token in tokens]
    assert h.client.request_count == 12


def test_iter_cost_report_formats_bounds_in_utc_with_z(harness):
    # Given
    h = harness([cost_page(1, None)])
    plus_two = datetime(2025, 1, 1, 2, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))

    # When
    list(h.client.iter_cost_report(plus_two, plus_two + timedelta(days=1), group_by=()))

    # Then
    assert h.adapter.queries()[0][:2] == [
        ("starting_at", "2025-01-01T02:00:00Z"),
        ("ending_at", "2025-01-02T02:00:00Z"),
    ]


@pytest.mark.parametrize(("width", "limit"), [("1d", "31"), ("1h", "168"), ("1m", "1440")])
def test_iter_usage_report_asks_for_the_largest_page_for_the_width(harness, width, limit):
    # Given
    bucket = {"starting_at": "2025-01-01T00:00:00Z", "ending_at": "2025-01-02T00:00:00Z", "results": []}
    h = harness([Reply(body={"data": [bucket], "has_more": False, "next_page": None})])

    # When
    buckets = list(h.client.iter_usage_report(START, END, group_by=("model",), bucket_width=width))

    # Then
    query = h.adapter.queries()[0]
    assert isinstance(buckets[0], UsageBucket)
    assert ("limit", limit) in query and ("bucket_width", width) in query
    assert [v for k, v in query if k == "group_by[]"] == ["model"]
    assert h.adapter.requests[0].url.startswith("https://admin.test/v1/organizations/usage_report/messages?")


def test_iter_usage_report_default_groups_by_five_join_dimensions(harness):
    h = harness([Reply(body={"data": [], "has_more": False})])
    list(h.client.iter_usage_report(START, END))
    assert len([k for k, _ in h.adapter.queries()[0] if k == "group_by[]"]) == 5


def test_iter_workspaces_follows_after_id(harness):
    # Given
    h = harness([list_page(["w1", "w2"], True), list_page(["w3", "w4"], True), list_page(["w5"], False)])

    # When
    workspaces = list(h.client.iter_workspaces())

    # Then
    assert [w.id for w in workspaces] == ["w1", "w2", "w3", "w4", "w5"]
    assert workspaces[0].model_extra == {"type": "workspace"}
    queries = h.adapter.queries()
    assert queries[0] == [("limit", "1000"), ("include_archived", "true")]
    assert [dict(q).get("after_id") for q in queries] == [None, "w2", "w4"]


def test_iter_api_keys_sends_filters(harness):
    # Given
    key = {
        "id": "apikey_1",
        "name": "prod",
        "status": "brand_new_status",
        "partial_key_hint": "sk-ant-api03-R2D...igAA",
    }
    h = harness([Reply(body={"data": [key], "has_more": False, "first_id": "apikey_1", "last_id": "apikey_1"})])

    # When
    keys = list(h.client.iter_api_keys(status="active", workspace_id="wrkspc_1"))

    # Then
    assert keys[0].status == "brand_new_status"
    assert h.adapter.queries()[0] == [("limit", "1000"), ("status", "active"), ("workspace_id", "wrkspc_1")]


def test_paginate_raises_on_a_repeated_page_token(harness):
    # Given
    h = harness([cost_page(1, "a"), cost_page(2, "b"), cost_page(3, "a")])

    # When / Then
    with pytest.raises(AdminApiPaginationError, match="repeated"):
        cost_report(h.client)
    assert h.client.request_count == 3


def test_paginate_raises_when_has_more_has_no_cursor(harness):
    h = harness([Reply(body={"data": [], "has_more": True, "next_page": None})])
    with pytest.raises(AdminApiPaginationError, match="no cursor"):
        cost_report(h.client)


def test_paginate_raises_beyond_max_pages(harness):
    # Given: an endless chain of fresh tokens
    h = harness([cost_page(1, f"t{i}") for i in range(10)], max_pages=3)

    # When / Then
    with pytest.raises(AdminApiPaginationError, match="max_pages"):
        cost_report(h.client)
    assert h.client.request_count == 3


def test_paginate_allows_exactly_max_pages(harness):
    h = harness([cost_page(1, "t1"), cost_page(2, "t2"), cost_page(3, None)], max_pages=3)
    assert len(cost_report(h.client)) == 3


def test_iter_report_validates_arguments_before_any_request(harness):
    # Given
    h = harness([])
    naive = datetime(2025, 1, 1)

    # When / Then: raised at call time, not at first next()
    with pytest.raises(ValueError, match="at most 5"):
        h.client.iter_usage_report(START, END, group_by=("a", "b", "c", "d", "e", "f"))
    with pytest.raises(ValueError, match="timezone-aware"):
        h.client.iter_cost_report(naive, naive + timedelta(days=1))
    with pytest.raises(ValueError, match="before"):
        h.client.iter_cost_report(END, START)
    with pytest.raises(ValueError, match="bucket_width"):
        h.client.iter_usage_report(START, END, bucket_width="1w")
    assert h.client.request_count == 0


# --- schema at the edge --------------------------------------------------------------------------------------


def test_report_rows_keep_unknown_fields_and_enum_values(harness):
    # Given
    row = {"amount": "1", "cost_type": "teleportation", "brand_new": {"nested": [1, 2]}}
    bucket = {"starting_at": "2025-01-01T00:00:00Z", "ending_at": "2025-01-02T00:00:00Z", "results": [row]}
    h = harness([Reply(body={"data": [bucket], "has_more": False, "next_page": None, "new_top": 1})])

    # When / Then
    assert cost_report(h.client)[0].results == [row]


@pytest.mark.parametrize(
    "bucket",
    [
        {"ending_at": "2025-01-02T00:00:00Z", "results": []},
        {"starting_at": "2025-01-01T00:00:00", "ending_at": "2025-01-02T00:00:00Z", "results": []},
        {"starting_at": "2025-01-01T00:00:00Z", "ending_at": "2025-01-02T00:00:00Z", "results": "nope"},
    ],
    ids=["missing-start", "naive-start", "results-not-list"],
)
def test_report_envelope_drift_fails_loudly_without_retry(harness, bucket):
    # Given
    h = harness([Reply(body={"data": [bucket], "has_more": False})])

    # When / Then
    with pytest.raises(AdminApiError, match="unexpected shape") as excinfo:
        cost_report(h.client)
    assert not excinfo.value.retriable
    assert excinfo.value.request_id == "req_200"
    assert h.client.request_count == 1


# --- retries ---------------------------------------------------------------------------------------------


RETRIED_REPLIES = {
    "429": error_reply(429, "rate_limit_error", **{"retry-after": "0"}),
    "500": error_reply(500, "api_error"),
    "502": Reply(status=502, body=b"<html>bad gateway</html>"),
    "503": error_reply(503, "api_error"),
    "504": error_reply(504, "timeout_error"),
    "529": error_reply(529, "overloaded_error"),
    "truncated-json": Reply(body=b'{"id": "org-uuid", "na'),
    "invalid-json": Reply(body=b"<html>oops</html>"),
    "empty-body": Reply(body=b""),
}

RETRIED_EXCEPTIONS = {
    "connection": requests.ConnectionError("connection refused"),
    "connect-timeout": requests.exceptions.ConnectTimeout("connect timed out"),
    "read-timeout": requests.exceptions.ReadTimeout("read timed out"),
    "chunked": requests.exceptions.ChunkedEncodingError("IncompleteRead"),
}


@pytest.mark.parametrize(
    "fault",
    list(RETRIED_REPLIES.values()) + list(RETRIED_EXCEPTIONS.values()),
    ids=list(RETRIED_REPLIES) + list(RETRIED_EXCEPTIONS),
)
def test_request_retries_transient_faults_and_recovers(harness, fault):
    # Given
    h = harness([fault, fault, org_reply()])

    # When
    org = h.client.get_organization()

    # Then
    assert org.name == "Acme"
    assert h.client.request_count == 3
    assert h.client.retry_count == 2
    assert len(h.clock.sleeps) == 2


@pytest.mark.parametrize(
    ("fault", "error_cls", "status", "error_type"),
    [
        (RETRIED_REPLIES["500"], AdminApiUnavailableError, 500, "api_error"),
        (RETRIED_REPLIES["502"], AdminApiUnavailableError, 502, None),
        (RETRIED_REPLIES["529"], AdminApiUnavailableError, 529, "overloaded_error"),
        (RETRIED_REPLIES["429"], AdminApiRateLimitedError, 429, "rate_limit_error"),
        (RETRIED_REPLIES["truncated-json"], AdminApiUnavailableError, 200, None),
        (RETRIED_EXCEPTIONS["read-timeout"], AdminApiUnavailableError, None, None),
    ],
    ids=["500", "502", "529", "429", "truncated", "read-timeout"],
)
def test_request_raises_typed_error_after_max_attempts(harness, fault, error_cls, status, error_type):
    # Given
    h = harness([fault] * 5, max_attempts=5)

    # When
    with pytest.raises(error_cls) as excinfo:
        h.client.get_organization()

    # Then
    error = excinfo.value
    assert (error.status, error.error_type, error.retriable) == (status, error_type, True)
    assert error.request_id == (None if status is None else f"req_{status}")
    assert h.client.request_count == 5
    assert h.client.retry_count == 4


def test_request_honours_retry_after_seconds(harness):
    # Given
    h = harness([error_reply(429, "rate_limit_error", **{"retry-after": "7"}), org_reply()])

    # When
    h.client.get_organization()

    # Then
    assert h.clock.sleeps == [7.0]


def test_request_honours_retry_after_http_date(harness):
    # Given: an HTTP-date far in the past means "now"
    h = harness([error_reply(429, "rate_limit_error", **{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}), org_reply()])

    # When
    h.client.get_organization()

    # Then
    assert h.clock.sleeps == [0.0]


def test_request_backoff_is_exponential_full_jitter_capped(harness, monkeypatch):
    # Given: jitter pinned to its upper bound
    monkeypatch.setattr("tenacity.wait.random.uniform", lambda low, high: high)
    h = harness([error_reply(500, "api_error")] * 5 + [org_reply()], max_attempts=6, backoff_base=0.5, backoff_max=3)

    # When
    h.client.get_organization()

    # Then
    assert h.clock.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_request_backoff_jitter_stays_within_bounds(harness):
    h = harness([error_reply(503, "api_error")] * 4 + [org_reply()], backoff_base=1, backoff_max=20)
    h.client.get_organization()
    assert all(0 <= slept <= 2**i for i, slept in enumerate(h.clock.sleeps))


def test_request_retries_spend_cap_429_only_a_little(harness):
    # Given: 429 without retry-after (spend cap)
    h = harness([error_reply(429, "rate_limit_error")] * 5, max_attempts=5)

    # When
    with pytest.raises(AdminApiRateLimitedError) as excinfo:
        h.client.get_organization()

    # Then
    assert excinfo.value.retry_after is None
    assert h.client.request_count == 3


def test_request_does_not_wait_for_retry_after_beyond_max(harness):
    # Given
    h = harness([error_reply(429, "rate_limit_error", **{"retry-after": "600"})], max_retry_after=60)

    # When
    with pytest.raises(AdminApiRateLimitedError) as excinfo:
        h.client.get_organization()

    # Then
    assert excinfo.value.retry_after == 600.0
    assert h.clock.sleeps == []


def test_deadline_refuses_a_retry_after_that_would_end_past_it(harness):
    # Given
    h = harness([error_reply(429, "rate_limit_error", **{"retry-after": "10"})], deadline=1000.0 + 5)

    # When
    with pytest.raises(AdminApiRateLimitedError) as excinfo:
        h.client.get_organization()

    # Then
    assert excinfo.value.retry_after == 10.0
    assert h.clock.sleeps == []
    assert h.client.request_count == 1


def test_deadline_stops_retries_before_max_attempts(harness):
    # Given: each retry sleeps 2s; 5s of budget leave room for two sleeps only
    retry_in_2 = error_reply(429, "rate_limit_error", **{"retry-after": "2"})
    h = harness([retry_in_2] * 10, max_attempts=10, deadline=1000.0 + 5)

    # When
    with pytest.raises(AdminApiRateLimitedError):
        h.client.get_organization()

    # Then
    assert h.clock.sleeps == [2.0, 2.0]
    assert h.client.request_count == 3
    assert h.clock.now < h.client.deadline


def test_deadline_already_passed_sends_nothing(harness):
    h = harness([org_reply()], deadline=999.0)
    with pytest.raises(AdminApiUnavailableError, match="time budget"):
        h.client.get_organization()
    assert h.client.request_count == 0


def test_deadline_clamps_socket_timeouts(harness):
    h = harness([org_reply()], deadline=1000.0 + 2)
    h.client.get_organization()
    assert h.adapter.send_kwargs[0]["timeout"] == (2.0, 2.0)


def test_retry_is_logged_with_structured_fields(harness, caplog):
    # Given
    h = harness([error_reply(503, "api_error", **{"request-id": "req_abc"}), org_reply()])

    # When
    with caplog.at_level(logging.WARNING, logger="pump_anthropic.admin_api"):
        h.client.get_organization()

    # Then
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert (record.status, record.error_type, record.request_id, record.attempt) == (503, "api_error", "req_abc", 1)
    assert record.path == "/v1/organizations/me"
    assert record.sleep_s == pytest.approx(h.clock.sleeps[0], abs=1e-3)


# --- never retried --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "error_cls"),
    [
        (400, "invalid_request_error", AdminApiRequestError),
        (401, "authentication_error", AdminApiAuthError),
        (402, "billing_error", AdminApiRequestError),
        (403, "permission_error", AdminApiPermissionError),
        (404, "not_found_error", AdminApiRequestError),
        (409, "conflict_error", AdminApiRequestError),
        (413, "request_too_large", AdminApiRequestError),
    ],
)
def test_request_raises_non_retried_status_at_once(harness, status, error_type, error_cls):
    # Given
    h = harness([error_reply(status, error_type, "Cannot do that.", **{"request-id": "req_xyz"}), org_reply()])

    # When
    with pytest.raises(error_cls) as excinfo:
        h.client.get_organization()

    # Then
    error = excinfo.value
    assert (error.status, error.error_type, error.request_id) == (status, error_type, "req_xyz")
    assert not error.retriable
    assert "Cannot do that." in str(error)
    assert h.client.request_count == 1
    assert h.clock.sleeps == []


def test_error_request_id_falls_back_to_the_body(harness):
    # Given
    reply = error_reply(400, "invalid_request_error")
    reply.headers["request-id"] = ""
    h = harness([reply])

    # When / Then
    with pytest.raises(AdminApiRequestError) as excinfo:
        h.client.get_organization()
    assert excinfo.value.request_id == "req_body"


# --- the key never leaks ---------------------------------------------------------------------------------


def test_key_absent_from_errors_reprs_and_logs(harness, caplog):
    # Given: every kind of failure, and a server that echoes the key back
    script: list[Reply | BaseException] = [
        requests.ConnectionError(f"refused at https://admin.test/?echo={ADMIN_KEY}"),
        error_reply(503, "api_error", f"bad key {ADMIN_KEY}"),
        Reply(body=b"{trunc"),
        error_reply(401, "authentication_error", f"invalid x-api-key {ADMIN_KEY}"),
    ]
    h = harness(script)

    # When
    with caplog.at_level(logging.DEBUG), pytest.raises(AdminApiAuthError) as excinfo:
        h.client.get_organization()

    # Then
    error = excinfo.value
    rendered = [str(error), repr(error), repr(h.client), "".join(traceback.format_exception(error))]
    rendered += [r.getMessage() + str(vars(r)) for r in caplog.records]
    assert len(caplog.records) == 3
    assert all(ADMIN_KEY not in text for text in rendered)
    assert "[redacted]" in str(error)


def test_transport_error_does_not_chain_the_requests_exception(harness):
    # Given: requests exceptions carry the prepared request, headers included
    h = harness([requests.ConnectionError("boom")], max_attempts=1)

    # When
    with pytest.raises(AdminApiUnavailableError) as excinfo:
        h.client.get_organization()

    # Then
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__context__ is None
    assert "ConnectionError" in str(excinfo.value)
