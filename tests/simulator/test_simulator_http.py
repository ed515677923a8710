"""The simulator over real HTTP on 127.0.0.1: validation, auth, pagination, grouping, faults, partial days."""

from __future__ import annotations

import json
import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from anthropic_simulator import DEMO_ADMIN_KEY, FAULT_KINDS, OrgSpec, Simulator, prices

pytestmark = pytest.mark.network

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
TODAY = NOW.date()
HEADERS = {"x-api-key": DEMO_ADMIN_KEY, "anthropic-version": "2023-06-01"}
ORG = "/v1/organizations"
USAGE = f"{ORG}/usage_report/messages"
COST = f"{ORG}/cost_report"


def _at(day_offset: int) -> str:
    return (datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(days=day_offset)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(spec=OrgSpec(seed=7), now=lambda: NOW) as simulator:
        yield simulator


@pytest.fixture
def api(sim: Simulator) -> Iterator[requests.Session]:
    sim.clear_faults()
    sim.reset_counts()
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield session


def _get(session: requests.Session, sim: Simulator, path: str, timeout: float = 5, **params) -> requests.Response:
    return session.get(sim.url + path, params=params, timeout=timeout)


def _all_buckets(session: requests.Session, sim: Simulator, path: str, **params) -> list[dict]:
    buckets, page = [], None
    while True:
        body = _get(session, sim, path, **params, **({"page": page} if page else {})).json()
        buckets.extend(body["data"])
        if not body["has_more"]:
            assert body["next_page"] is None
            return buckets
        page = body["next_page"]


# -- identity, auth and routing ------------------------------------------------------------------


def test_me_returns_the_organization_with_a_request_id(api: requests.Session, sim: Simulator) -> None:
    response = _get(api, sim, f"{ORG}/me")

    assert response.status_code == 200
    assert response.json() == {"id": sim.org.id, "name": sim.org.name, "type": "organization"}
    assert response.headers["request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("headers", "status", "error_type", "message"),
    [
        ({"x-api-key": "sk-ant-admin01-wrong"}, 401, "authentication_error", "invalid x-api-key"),
        ({"x-api-key": None}, 401, "authentication_error", None),
        ({"x-api-key": "sk-ant-api03-" + "x" * 93 + "AA"}, 403, "permission_error", None),
        ({"anthropic-version": None}, 400, "invalid_request_error", None),
    ],
)
def test_auth_rejects_bad_credentials_and_headers(
    api: requests.Session, sim: Simulator, headers: dict, status: int, error_type: str, message: str | None
) -> None:
    response = api.get(sim.url + f"{ORG}/me", headers=headers, timeout=5)

    body = response.json()
    assert response.status_code == status
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert body["request_id"] == response.headers["request-id"]
    if message:
        assert body["error"]["message"] == message
    if status == 403:
        assert "Admin API key" in body["error"]["message"]
    assert "sk-ant-" not in json.dumps(body).replace("sk-ant-admin...", "")


def test_routing_unknown_path_is_404(api: requests.Session, sim: Simulator) -> None:
    response = _get(api, sim, "/v1/organizations/nope")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    assert response.headers["request-id"].startswith("req_")


def test_admin_key_never_appears_in_any_response(api: requests.Session, sim: Simulator) -> None:
    paths = [f"{ORG}/me", f"{ORG}/api_keys", f"{ORG}/workspaces", USAGE, COST, "/nope"]

    texts = [_get(api, sim, p).text + str(_get(api, sim, p).headers) for p in paths]

    assert not any(DEMO_ADMIN_KEY in text for text in texts)


# -- report validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (USAGE, {}, "starting_at"),
        (COST, {}, "starting_at"),
        (USAGE, {"starting_at": "yesterday"}, "starting_at"),
        (USAGE, {"starting_at": "2026-03-01T00:00:00"}, "starting_at"),
        (USAGE, {"starting_at": "2026-03-01T00:00:00Z", "ending_at": "2026-03-01"}, "ending_at"),
        (
            USAGE,
            {"starting_at": "2026-03-02T00:00:00Z", "ending_at": "2026-03-02T00:00:00Z"},
            "Invalid date range",
        ),
        (COST, {"starting_at": _at(0)}, "Invalid date range: ending date must be after starting date"),
        (USAGE, {"starting_at": _at(-3), "bucket_width": "2d"}, "bucket_width"),
        (COST, {"starting_at": _at(-3), "bucket_width": "1h"}, "bucket_width"),
        (USAGE, {"starting_at": _at(-3), "limit": "0"}, "limit"),
        (USAGE, {"starting_at": _at(-3), "limit": "32"}, "limit"),
        (USAGE, {"starting_at": _at(-3), "limit": "169", "bucket_width": "1h"}, "limit"),
        (USAGE, {"starting_at": _at(-3), "limit": "1441", "bucket_width": "1m"}, "limit"),
        (USAGE, {"starting_at": _at(-3), "limit": "ten"}, "limit"),
        (COST, {"starting_at": _at(-3), "limit": "32"}, "limit"),
        (USAGE, {"starting_at": _at(-3), "group_by[]": "colour"}, "group_by[]"),
        (COST, {"starting_at": _at(-3), "group_by[]": "model"}, "group_by[]"),
        (
            USAGE,
            {
                "starting_at": _at(-3),
                "group_by[]": [
                    "api_key_id",
                    "workspace_id",
                    "model",
                    "service_tier",
                    "context_window",
                    "inference_geo",
                ],
            },
            "Cannot specify more than 5 group_by[] dimensions.",
        ),
        (USAGE, {"starting_at": _at(-3), "group_by": "model"}, "group_by"),
        (USAGE, {"starting_at": _at(-3), "service_tiers[]": "gold"}, "service_tiers[]"),
        (USAGE, {"starting_at": _at(-3), "context_window[]": "1M"}, "context_window[]"),
        (USAGE, {"starting_at": _at(-3), "inference_geos[]": "mars"}, "inference_geos[]"),
        (USAGE, {"starting_at": _at(-3), "group_by[]": "speed"}, "anthropic-beta"),
        (USAGE, {"starting_at": _at(-3), "page": "not-a-token"}, "page"),
        (COST, {"starting_at": _at(-3), "page": "page_e30"}, "page"),
    ],
)
def test_reports_reject_invalid_queries(
    api: requests.Session, sim: Simulator, path: str, params: dict, message: str
) -> None:
    response = _get(api, sim, path, **params)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert message in response.json()["error"]["message"]


def test_reports_reject_a_page_token_from_another_query(api: requests.Session, sim: Simulator) -> None:
    first = _get(api, sim, USAGE, starting_at=_at(-20), ending_at=_at(0), limit=2).json()

    response = _get(api, sim, USAGE, starting_at=_at(-19), ending_at=_at(0), limit=2, page=first["next_page"])

    assert response.status_code == 400
    assert "page" in response.json()["error"]["message"]


def test_usage_report_accepts_the_max_group_by_and_a_beta_speed(api: requests.Session, sim: Simulator) -> None:
    dims = ["api_key_id", "workspace_id", "model", "service_tier", "speed"]

    response = api.get(
        sim.url + USAGE,
        params={"starting_at": _at(-2), "ending_at": _at(-1), "group_by[]": dims},
        headers={"anthropic-beta": "fast-mode-2026-02-01"},
        timeout=5,
    )

    assert response.status_code == 200
    assert {r["speed"] for r in response.json()["data"][0]["results"]} == {"standard"}


# -- buckets, pagination, grouping ---------------------------------------------------------------


def test_usage_report_small_pages_equal_one_big_page(api: requests.Session, sim: Simulator) -> None:
    query = {"starting_at": _at(-25), "ending_at": _at(-1), "group_by[]": ["workspace_id", "model"]}

    paged = _all_buckets(api, sim, USAGE, limit=4, **query)
    single = _get(api, sim, USAGE, limit=31, **query).json()

    assert paged == single["data"]
    assert len(paged) == 24
    assert single["has_more"] is False and single["next_page"] is None
    assert sim.request_counts[USAGE] == 7


def test_usage_report_buckets_before_the_history_are_present_and_empty(api: requests.Session, sim: Simulator) -> None:
    start = datetime.combine(sim.org.first_day, datetime.min.time(), UTC) - timedelta(days=5)

    body = _get(api, sim, USAGE, starting_at=start.isoformat(), limit=10).json()

    assert [b["starting_at"][:10] for b in body["data"]] == [
        (start + timedelta(days=i)).date().isoformat() for i in range(10)
    ]
    assert [len(b["results"]) for b in body["data"][:5]] == [0] * 5
    assert all(b["results"] for b in body["data"][5:] if datetime.fromisoformat(b["starting_at"]).weekday() < 5)


def test_usage_report_snaps_buckets_up_to_the_next_boundary(api: requests.Session, sim: Simulator) -> None:
    body = _get(api, sim, USAGE, starting_at="2026-03-01T10:15:00Z", ending_at="2026-03-04T00:00:00Z").json()

    assert [(b["starting_at"], b["ending_at"]) for b in body["data"]] == [
        ("2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"),
        ("2026-03-03T00:00:00Z", "2026-03-04T00:00:00Z"),
    ]


def test_usage_report_ungrouped_rows_have_every_field_null(api: requests.Session, sim: Simulator) -> None:
    results = _get(api, sim, USAGE, starting_at=_at(-3), ending_at=_at(-2)).json()["data"][0]["results"]

    assert len(results) == 1
    row = results[0]
    assert set(row["cache_creation"]) == {"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"}
    assert set(row["server_tool_use"]) == {"web_search_requests"}
    for field in (
        "api_key_id",
        "workspace_id",
        "model",
        "service_tier",
        "context_window",
        "inference_geo",
        "account_id",
        "service_account_id",
    ):
        assert row[field] is None


def test_usage_report_groups_sum_to_the_total_and_show_console_and_default(
    api: requests.Session, sim: Simulator
) -> None:
    query = {"starting_at": _at(-30), "ending_at": _at(0), "limit": 31}

    grouped = _get(api, sim, USAGE, **query, **{"group_by[]": ["api_key_id", "workspace_id"]}).json()["data"]
    total = _get(api, sim, USAGE, **query).json()["data"]

    for by_key, whole in zip(grouped, total, strict=True):
        assert sum(r["output_tokens"] for r in by_key["results"]) == sum(r["output_tokens"] for r in whole["results"])
        for row in by_key["results"]:
            assert row["model"] is None
    rows = [r for b in grouped for r in b["results"]]
    assert any(r["api_key_id"] is None for r in rows)
    assert any(r["workspace_id"] is None for r in rows)


def test_usage_report_filters_restrict_rows(api: requests.Session, sim: Simulator) -> None:
    model = "claude-opus-4-6"
    params = {
        "starting_at": _at(-30),
        "ending_at": _at(0),
        "limit": 31,
        "models[]": model,
        "service_tiers[]": ["standard", "batch"],
        "group_by[]": ["model", "service_tier"],
    }

    rows = [r for b in _get(api, sim, USAGE, **params).json()["data"] for r in b["results"]]

    assert rows
    assert {r["model"] for r in rows} == {model}
    assert {r["service_tier"] for r in rows} <= {"standard", "batch"}


def test_usage_report_hourly_and_minute_buckets_sum_to_the_day(api: requests.Session, sim: Simulator) -> None:
    day = _get(api, sim, USAGE, starting_at=_at(-4), ending_at=_at(-3)).json()["data"][0]["results"][0]
    hours = _get(api, sim, USAGE, starting_at=_at(-4), ending_at=_at(-3), bucket_width="1h").json()["data"]
    minutes = _get(api, sim, USAGE, starting_at=_at(-4), ending_at=_at(-3), bucket_width="1m", limit=1440).json()[
        "data"
    ]

    assert len(hours) == 24 and len(minutes) == 1440
    for buckets in (hours, minutes):
        rows = [r for b in buckets for r in b["results"]]
        assert sum(r["uncached_input_tokens"] for r in rows) == day["uncached_input_tokens"]
        assert (
            sum(r["cache_creation"]["ephemeral_5m_input_tokens"] for r in rows)
            == (day["cache_creation"]["ephemeral_5m_input_tokens"])
        )


def test_reports_include_todays_partial_bucket_and_nothing_later(api: requests.Session, sim: Simulator) -> None:
    usage = _get(api, sim, USAGE, starting_at=_at(0), ending_at=_at(3)).json()
    cost = _get(api, sim, COST, starting_at=_at(-1), ending_at=_at(1)).json()
    hours = _get(api, sim, USAGE, starting_at=_at(0), ending_at=_at(1), bucket_width="1h").json()

    assert [b["starting_at"] for b in usage["data"]] == [_at(0)]
    assert usage["data"][0]["results"][0]["output_tokens"] == sum(r.output_tokens for r in sim.org.usage_rows(TODAY))
    assert [b["starting_at"] for b in cost["data"]] == [_at(-1), _at(0)]
    assert cost["data"][1]["results"]
    assert len(hours["data"]) == 13
    today_output = usage["data"][0]["results"][0]["output_tokens"]
    assert sum(r["output_tokens"] for b in hours["data"] for r in b["results"]) == today_output


def test_cost_report_defaults_ending_to_today_midnight(api: requests.Session, sim: Simulator) -> None:
    body = _get(api, sim, COST, starting_at=_at(-2)).json()

    assert [b["starting_at"] for b in body["data"]] == [_at(-2), _at(-1)]


def test_cost_report_fields_and_nulls_follow_grouping(api: requests.Session, sim: Simulator) -> None:
    by_workspace = _get(api, sim, COST, starting_at=_at(-8), ending_at=_at(-1), **{"group_by[]": "workspace_id"})
    by_description = _get(api, sim, COST, starting_at=_at(-8), ending_at=_at(-1), **{"group_by[]": "description"})

    for row in (r for b in by_workspace.json()["data"] for r in b["results"]):
        assert row["currency"] == "USD"
        assert row["description"] is None and row["cost_type"] is None and row["model"] is None
    rows = [r for b in by_description.json()["data"] for r in b["results"]]
    assert {r["cost_type"] for r in rows} >= {"tokens", "code_execution"}
    assert all(r["workspace_id"] is None for r in rows)
    code = [r for r in rows if r["cost_type"] == "code_execution"]
    assert {(r["description"], r["model"], r["token_type"]) for r in code} == {("Code Execution Usage", None, None)}
    assert "priority" not in {r["service_tier"] for r in rows}


def test_cost_report_equals_usage_report_priced(api: requests.Session, sim: Simulator) -> None:
    window = {"starting_at": _at(-15), "ending_at": _at(-1), "limit": 31}
    dims = ["workspace_id", "model", "service_tier", "context_window", "inference_geo"]
    usage = _get(api, sim, USAGE, **window, **{"group_by[]": dims}).json()["data"]
    cost = _get(api, sim, COST, **window, **{"group_by[]": ["workspace_id", "description"]}).json()["data"]

    for usage_bucket, cost_bucket in zip(usage, cost, strict=True):
        expected: dict[tuple, Decimal] = defaultdict(Decimal)
        for row in usage_bucket["results"]:
            if row["service_tier"] == "priority":
                continue
            tokens = {
                "uncached_input_tokens": row["uncached_input_tokens"],
                "output_tokens": row["output_tokens"],
                "cache_read_input_tokens": row["cache_read_input_tokens"],
                "cache_creation.ephemeral_5m_input_tokens": row["cache_creation"]["ephemeral_5m_input_tokens"],
                "cache_creation.ephemeral_1h_input_tokens": row["cache_creation"]["ephemeral_1h_input_tokens"],
            }
            for token_type, count in tokens.items():
                price_dims = (
                    row["model"],
                    token_type,
                    row["service_tier"],
                    row["context_window"],
                    row["inference_geo"],
                )
                if count:
                    key = (row["workspace_id"], prices.token_description(*price_dims))
                    expected[key] += count * prices.token_unit_price_cents(*price_dims)
            if row["server_tool_use"]["web_search_requests"]:
                key = (row["workspace_id"], prices.web_search_description(row["model"]))
                expected[key] += row["server_tool_use"]["web_search_requests"] * prices.WEB_SEARCH_CENTS_PER_REQUEST
        actual = {
            (r["workspace_id"], r["description"]): Decimal(r["amount"])
            for r in cost_bucket["results"]
            if r["cost_type"] != "code_execution"
        }
        assert actual == expected


# -- directory endpoints -------------------------------------------------------------------------


def test_workspaces_list_archived_only_on_request(api: requests.Session, sim: Simulator) -> None:
    active = _get(api, sim, f"{ORG}/workspaces").json()
    everything = _get(api, sim, f"{ORG}/workspaces", include_archived="true").json()

    assert len(everything["data"]) == len(sim.org.workspaces) == len(active["data"]) + 1
    archived = [w for w in everything["data"] if w["archived_at"]]
    assert len(archived) == 1
    assert set(archived[0]) >= {
        "id",
        "name",
        "created_at",
        "archived_at",
        "display_color",
        "type",
        "data_residency",
    }
    assert archived[0]["type"] == "workspace" and archived[0]["id"].startswith("wrkspc_")


def test_workspaces_id_cursor_pages_walk_the_whole_list(api: requests.Session, sim: Simulator) -> None:
    full = _get(api, sim, f"{ORG}/workspaces", include_archived="true").json()["data"]
    walked, after = [], None
    while True:
        page = _get(
            api,
            sim,
            f"{ORG}/workspaces",
            include_archived="true",
            limit=1,
            **({"after_id": after} if after else {}),
        ).json()
        walked.extend(page["data"])
        after = page["last_id"]
        if not page["has_more"]:
            break

    back = _get(api, sim, f"{ORG}/workspaces", include_archived="true", before_id=full[-1]["id"]).json()

    assert walked == full
    assert back["data"] == full[:-1] and back["has_more"] is False
    assert back["first_id"] == full[0]["id"]


def test_api_keys_list_fields_and_filters(api: requests.Session, sim: Simulator) -> None:
    keys = _get(api, sim, f"{ORG}/api_keys", limit=1000).json()["data"]
    inactive = _get(api, sim, f"{ORG}/api_keys", status="inactive").json()["data"]
    workspace_id = sim.org.workspaces[0].id
    in_workspace = _get(api, sim, f"{ORG}/api_keys", workspace_id=workspace_id).json()["data"]

    assert len(keys) == 6
    for key in keys:
        assert key["type"] == "api_key" and key["id"].startswith("apikey_")
        assert key["partial_key_hint"].startswith("sk-ant-api03-") and key["partial_key_hint"].endswith("AA")
        assert set(key) >= {
            "name",
            "status",
            "workspace_id",
            "created_at",
            "created_by",
            "expires_at",
            "scope",
        }
    assert {k["status"] for k in keys} >= {"active", "archived", "inactive"}
    assert inactive and all(k["status"] == "inactive" for k in inactive)
    assert in_workspace and all(k["workspace_id"] == workspace_id for k in in_workspace)
    assert _get(api, sim, f"{ORG}/api_keys", limit=1001).status_code == 400


# -- faults and knobs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [("500", "api_error"), ("503", "api_error"), ("504", "timeout_error"), ("529", "overloaded_error")],
)
def test_inject_error_status_answers_once(api: requests.Session, sim: Simulator, kind: str, error_type: str) -> None:
    sim.inject(kind)

    faulted = _get(api, sim, f"{ORG}/me")
    healthy = _get(api, sim, f"{ORG}/me")

    assert faulted.status_code == int(kind)
    assert faulted.json()["error"]["type"] == error_type
    assert faulted.headers["request-id"].startswith("req_")
    assert healthy.status_code == 200


def test_inject_429_carries_retry_after_for_the_given_times(api: requests.Session, sim: Simulator) -> None:
    sim.inject("429", times=2, retry_after=3)

    statuses = [_get(api, sim, COST, starting_at=_at(-2)) for _ in range(3)]

    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["retry-after"] == "3"
    assert statuses[0].json()["error"]["type"] == "rate_limit_error"
    assert sim.request_counts[COST] == 3


def test_inject_502_answers_a_gateway_html_page(api: requests.Session, sim: Simulator) -> None:
    sim.inject("502")

    response = _get(api, sim, f"{ORG}/me")

    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["request-id"].startswith("req_")


def test_inject_slow_outlasts_the_read_timeout(api: requests.Session, sim: Simulator) -> None:
    sim.slow_seconds = 0.4
    sim.inject("slow")
    try:
        with pytest.raises(requests.ReadTimeout):
            _get(api, sim, f"{ORG}/me", timeout=0.1)
    finally:
        sim.slow_seconds = 5.0


def test_inject_truncated_cuts_the_body(api: requests.Session, sim: Simulator) -> None:
    sim.inject("truncated")

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _get(api, sim, USAGE, starting_at=_at(-3))


def test_inject_invalid_json_answers_200_with_garbage(api: requests.Session, sim: Simulator) -> None:
    sim.inject("invalid_json")

    response = _get(api, sim, USAGE, starting_at=_at(-3))

    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_inject_drop_closes_without_an_answer(api: requests.Session, sim: Simulator) -> None:
    sim.inject("drop")

    with pytest.raises(requests.ConnectionError):
        _get(api, sim, f"{ORG}/me")
    assert _get(api, sim, f"{ORG}/me").status_code == 200
    assert sim.request_counts[f"{ORG}/me"] == 2


def test_inject_rejects_unknown_kinds(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.inject("418")
    assert set(FAULT_KINDS) == {
        "429",
        "500",
        "502",
        "503",
        "504",
        "529",
        "slow",
        "truncated",
        "invalid_json",
        "drop",
    }


def test_random_faults_follow_the_seed() -> None:
    def statuses(seed: int) -> list[int]:
        with Simulator(fault_rate=0.5, fault_seed=seed, now=lambda: NOW) as simulator:
            simulator.fault_kinds = ("500", "529")
            with requests.Session() as session:
                return [
                    session.get(simulator.url + f"{ORG}/me", headers=HEADERS, timeout=5).status_code for _ in range(20)
                ]

    first, again = statuses(3), statuses(3)

    assert first == again
    assert {200, 500, 529} >= set(first) and 200 in first and len(set(first)) > 1


def test_latency_delays_each_answer(api: requests.Session, sim: Simulator) -> None:
    sim.latency_s = 0.2
    try:
        started = time.perf_counter()
        _get(api, sim, f"{ORG}/me")
        assert time.perf_counter() - started >= 0.2
    finally:
        sim.latency_s = 0.0


def test_restate_changes_the_last_days_over_http(api: requests.Session, sim: Simulator) -> None:
    query = {"starting_at": _at(-6), "ending_at": _at(0), "group_by[]": "workspace_id"}
    before = _get(api, sim, COST, **query).json()["data"]

    sim.restate(days=2)
    after = _get(api, sim, COST, **query).json()["data"]

    assert after[:5] == before[:5]
    assert after[5] != before[5]


def test_stop_refuses_new_connections() -> None:
    simulator = Simulator(now=lambda: NOW)
    url = simulator.start()
    port = int(url.rsplit(":", 1)[1])
    simulator.stop()

    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert simulator.url is None


def test_routing_rejects_other_methods_with_json_errors(api: requests.Session, sim: Simulator) -> None:
    post = api.post(sim.url + f"{ORG}/me", timeout=5)
    options = api.options(sim.url + f"{ORG}/me", timeout=5)

    for response in (post, options):
        assert response.status_code == 405
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert response.headers["request-id"] == response.json()["request_id"]


def test_reports_answer_concurrent_requests_consistently(sim: Simulator) -> None:
    params = {"starting_at": _at(-60), "ending_at": _at(0), "limit": 31, "group_by[]": "description"}

    def fetch(_: int) -> dict:
        with requests.Session() as session:
            return session.get(sim.url + COST, params=params, headers=HEADERS, timeout=10).json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(fetch, range(16)))

    assert bodies[0]["data"] and all(body == bodies[0] for body in bodies)
