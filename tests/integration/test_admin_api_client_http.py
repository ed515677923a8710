"""AdminApiClient over real HTTP against the local Admin API simulator."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from anthropic_simulator import DEMO_ADMIN_KEY, FAULT_KINDS, OrgSpec, Simulator
from pump_anthropic.admin_api import AdminApiClient
from pump_anthropic.exceptions import (
    AdminApiAuthError,
    AdminApiPermissionError,
    AdminApiRateLimitedError,
    AdminApiRequestError,
    AdminApiUnavailableError,
)

pytestmark = [pytest.mark.network, pytest.mark.enable_socket]

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
START = datetime(2025, 4, 1, tzinfo=UTC)
END = datetime(2025, 5, 15, tzinfo=UTC)
COST_PATH = "/v1/organizations/cost_report"
ME_PATH = "/v1/organizations/me"


@pytest.fixture
def sim():
    spec = OrgSpec(seed=7, days=90, workspaces=3, api_keys=6)
    with Simulator(spec, admin_key=DEMO_ADMIN_KEY, now=lambda: NOW, slow_seconds=1.0) as simulator:
        yield simulator


def make_client(sim: Simulator, key: str = DEMO_ADMIN_KEY, **kwargs) -> AdminApiClient:
    kwargs = {"backoff_base": 0.01, "backoff_max": 0.05, "read_timeout": 5.0, **kwargs}
    return AdminApiClient(SecretStr(key), sim.url, **kwargs)


def test_client_reads_org_workspaces_and_keys(sim):
    # Given
    client = make_client(sim)

    # When
    org = client.get_organization()
    workspaces = list(client.iter_workspaces())
    api_keys = list(client.iter_api_keys())

    # Then
    assert (org.id, org.name) == (sim.org.id, sim.org.name)
    assert {w.id for w in workspaces} == {w.id for w in sim.org.workspaces}
    assert {k.id for k in api_keys} == {k.id for k in sim.org.api_keys}
    assert client.request_count == 3


@pytest.mark.parametrize("kind", [k for k in FAULT_KINDS if k != "slow"])
def test_client_recovers_from_each_retried_fault(sim, kind):
    # Given
    client = make_client(sim)
    sim.inject(kind, times=2, retry_after=0)

    # When
    buckets = list(client.iter_cost_report(START, START + timedelta(days=3)))

    # Then
    assert len(buckets) == 3
    assert client.request_count == 3
    assert client.retry_count == 2
    assert sim.request_counts == {COST_PATH: 3}


def test_client_retries_a_response_slower_than_the_read_timeout(sim):
    # Given: the simulator stalls 1 s; the client waits 0.3 s
    client = make_client(sim, read_timeout=0.3)
    sim.inject("slow", times=1)

    # When
    org = client.get_organization()

    # Then
    assert org.id == sim.org.id
    assert client.request_count == 2
    assert sim.request_counts == {ME_PATH: 2}


def test_client_gives_up_after_max_attempts_with_a_typed_error(sim):
    # Given
    client = make_client(sim, max_attempts=3)
    sim.inject("529", times=3)

    # When
    with pytest.raises(AdminApiUnavailableError) as excinfo:
        client.get_organization()

    # Then
    assert (excinfo.value.status, excinfo.value.error_type) == (529, "overloaded_error")
    assert excinfo.value.request_id.startswith("req_")
    assert sim.request_counts == {ME_PATH: 3}


@pytest.mark.parametrize(
    ("key", "error_cls", "status", "error_type"),
    [
        ("sk-ant-admin01-" + "x" * 93 + "AA", AdminApiAuthError, 401, "authentication_error"),
        ("sk-ant-api03-" + "y" * 93 + "AA", AdminApiPermissionError, 403, "permission_error"),
    ],
    ids=["unknown-admin-key", "standard-api-key"],
)
def test_client_raises_wrong_key_errors_at_once(sim, key, error_cls, status, error_type):
    # Given
    client = make_client(sim, key=key)

    # When
    with pytest.raises(error_cls) as excinfo:
        client.get_organization()

    # Then
    error = excinfo.value
    assert (error.status, error.error_type) == (status, error_type)
    assert error.request_id.startswith("req_")
    assert key not in str(error)
    assert sim.request_counts == {ME_PATH: 1}


def test_client_raises_bad_request_at_once(sim):
    # Given: the cost report cannot be grouped by model
    client = make_client(sim)

    # When
    with pytest.raises(AdminApiRequestError) as excinfo:
        list(client.iter_cost_report(START, END, group_by=("model",)))

    # Then
    assert (excinfo.value.status, excinfo.value.error_type) == (400, "invalid_request_error")
    assert "group_by" in str(excinfo.value)
    assert sim.request_counts == {COST_PATH: 1}


def test_cost_report_small_pages_equal_one_large_page(sim):
    # Given
    client = make_client(sim)
    end = START + timedelta(days=30)

    # When
    small = list(client.iter_cost_report(START, end, limit=2))
    small_requests = client.request_count
    large = list(client.iter_cost_report(START, end, limit=31))

    # Then
    assert len(small) == 30
    assert small_requests == 15
    assert client.request_count - small_requests == 1
    assert small == large
    assert any(bucket.results for bucket in small)


@pytest.mark.parametrize(
    ("width", "small_limit", "span", "buckets"),
    [("1d", 3, timedelta(days=20), 20), ("1h", 7, timedelta(days=2), 48)],
)
def test_usage_report_small_pages_equal_the_largest_pages(sim, width, small_limit, span, buckets):
    # Given
    client = make_client(sim)

    # When
    small = list(client.iter_usage_report(START, START + span, bucket_width=width, limit=small_limit))
    large = list(client.iter_usage_report(START, START + span, bucket_width=width))

    # Then
    assert len(small) == buckets
    assert small == large
    assert any(bucket.results for bucket in small)


def test_key_absent_from_logs_during_retries(sim, caplog):
    # Given
    client = make_client(sim)
    for kind in ("drop", "truncated", "429", "invalid_json"):
        sim.inject(kind)

    # When
    with caplog.at_level(logging.DEBUG):
        client.get_organization()

    # Then
    assert client.retry_count == 4
    assert all(DEMO_ADMIN_KEY not in r.getMessage() + str(vars(r)) for r in caplog.records)


def test_client_stops_at_the_deadline_instead_of_waiting_for_retry_after(sim):
    # Given: the API asks for 2 s; the caller has 1 s left
    client = make_client(sim, deadline=time.monotonic() + 1.0)
    sim.inject("429", times=3, retry_after=2)

    # When
    started = time.monotonic()
    with pytest.raises(AdminApiRateLimitedError) as excinfo:
        client.get_organization()

    # Then
    assert excinfo.value.retry_after == 2.0
    assert time.monotonic() - started < 0.5
    assert sim.request_counts == {ME_PATH: 1}
