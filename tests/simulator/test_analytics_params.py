"""Analytics request validation and defaults, without sockets: every 400 and what an omitted parameter means."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pytest_socket import disable_socket, enable_socket

from anthropic_simulator import AnalyticsData, AnalyticsSettings, OrgSpec, SimulatedOrg
from anthropic_simulator.analytics_params import COST_DIMENSIONS, USAGE_DIMENSIONS
from anthropic_simulator.analytics_reports import AnalyticsReports
from anthropic_simulator.reports import BadRequest

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
START = "2026-03-01T00:00:00Z"
END = "2026-03-03T00:00:00Z"
SIX = ["actor", "model", "product", "speed", "workspace_id", "api_key_id"]


@pytest.fixture(autouse=True)
def _no_sockets() -> Iterator[None]:
    disable_socket()
    yield
    enable_socket()


@pytest.fixture(scope="module")
def reports() -> AnalyticsReports:
    return AnalyticsReports(AnalyticsData(SimulatedOrg(OrgSpec(seed=7), now=lambda: NOW)))


def call(reports: AnalyticsReports, kind: str, settings: AnalyticsSettings | None = None, **params) -> dict:
    wire = {name: value if isinstance(value, list) else [str(value)] for name, value in params.items()}
    return reports.report(kind, wire, settings or AnalyticsSettings())


def _cursor(reports: AnalyticsReports, kind: str, **params) -> str:
    return call(reports, kind, starting_at=START, ending_at=END, limit=1, **{"group_by[]": "model"}, **params)[
        "next_page"
    ]


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("usage", {}, "starting_at: Field required"),
        ("cost", {"starting_at": "yesterday"}, "starting_at"),
        ("usage", {"starting_at": "2026-03-01T00:00:00"}, "starting_at"),
        ("usage", {"starting_at": "2026-03-01T00:00:00 00:00"}, "starting_at"),  # an unencoded "+" in a URL
        ("usage", {"starting_at": "2025-12-31T23:00:00Z"}, "2026-01-01"),
        ("cost", {"starting_at": START, "ending_at": START}, "Invalid date range"),
        ("cost", {"starting_at": END, "ending_at": START}, "Invalid date range"),
        ("usage", {"starting_at": "2026-02-01T00:00:00Z", "ending_at": "2026-03-04T00:00:01Z"}, "31 days"),
        ("usage", {"starting_at": "2026-03-11T00:00:00Z"}, "Invalid date range"),  # defaults to now: before it
        ("cost", {"starting_at": START, "time_bucket_width": "1d"}, "ending_at: Field required"),
        ("usage", {"starting_at": START, "ending_at": "2026-03-02T01:00:00Z", "time_bucket_width": "1m"}, "24 hours"),
        ("usage", {"starting_at": START, "ending_at": END, "time_bucket_width": "1w"}, "time_bucket_width"),
        ("usage", {"starting_at": START, "group_by[]": SIX}, "more than 5"),
        ("cost", {"starting_at": START, "group_by[]": SIX}, "cost_type and token_type do not count"),
        ("usage", {"starting_at": START, "group_by[]": ["cost_type"]}, "group_by[]"),
        ("cost", {"starting_at": START, "group_by[]": ["description"]}, "group_by[]"),
        ("usage", {"starting_at": START, "group_by[]": ["model", "model"]}, "duplicate"),
        ("usage", {"starting_at": START, "group_by": "model"}, "group_by"),
        ("usage", {"starting_at": START, "models[0]": "x"}, "models[0]"),
        ("usage", {"starting_at": START, "group_by[]": ["claude_tag_user_id", "rbac_group_id"]}, "cannot be combined"),
        ("cost", {"starting_at": START, "group_by[]": ["rbac_group_id"], "claude_tag_user_ids[]": "U1"}, "combined"),
        ("cost", {"starting_at": START, "claude_tag_user_ids[]": "U1", "rbac_group_ids[]": "rbac_group_1"}, "combined"),
        ("usage", {"starting_at": START, "exclude_deleted_users": "true"}, "requires group_by[]=actor"),
        ("usage", {"starting_at": START, "group_by[]": ["actor"], "exclude_deleted_users": "yes"}, "boolean"),
        ("usage", {"starting_at": START, "limit": "0"}, "limit"),
        ("usage", {"starting_at": START, "limit": "1001"}, "limit"),
        ("cost", {"starting_at": START, "limit": "ten"}, "limit"),
        ("usage", {"starting_at": START, "order": "up"}, "order"),
        ("cost", {"starting_at": START, "order_by": "requests"}, "order_by"),
        ("usage", {"starting_at": START, "order_by": "amount"}, "order_by"),
        ("usage", {"starting_at": START, "actor_types[]": "robot"}, "actor_types[]"),
        ("usage", {"starting_at": START, "products[]": "claude-tag"}, "products[]"),
        ("cost", {"starting_at": START, "products[]": "chat_cowork_unified"}, "not available"),
        ("usage", {"starting_at": START, "service_tiers[]": "gold"}, "service_tiers[]"),
        ("usage", {"starting_at": START, "speeds[]": "turbo"}, "speeds[]"),
        ("usage", {"starting_at": START, "context_windows[]": "1M"}, "context_windows[]"),
        ("usage", {"starting_at": START, "inference_geos[]": "eu"}, "inference_geos[]"),
        ("cost", {"starting_at": START, "claude_tag_categories[]": "chat"}, "claude_tag_categories[]"),
        ("usage", {"starting_at": START, "actor_ids[]": "bob"}, "actor_ids[]"),
        ("usage", {"starting_at": START, "organization_ids[]": "org_1"}, "parent organization"),
        ("usage", {"starting_at": START, "models[]": [f"m{i}" for i in range(101)]}, "at most 100"),
        ("usage", {"starting_at": START, "page": "garbage"}, "page: Invalid page cursor"),
        ("usage", {"starting_at": START, "page": "rpt_e30"}, "page: Invalid page cursor"),
    ],
)
def test_invalid_requests_are_rejected(reports: AnalyticsReports, kind: str, params: dict, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        call(reports, kind, **params)

    assert message in str(caught.value)


def test_cost_accepts_five_dimensions_plus_cost_and_token_type(reports: AnalyticsReports) -> None:
    group_by = ["actor", "model", "product", "speed", "workspace_id", "cost_type", "token_type"]

    body = call(reports, "cost", starting_at=START, ending_at=END, **{"group_by[]": group_by})

    assert body["data"]


def test_a_cursor_from_another_endpoint_or_query_is_rejected(reports: AnalyticsReports) -> None:
    usage_cursor = _cursor(reports, "usage")

    with pytest.raises(BadRequest, match="another endpoint"):
        call(reports, "cost", starting_at=START, ending_at=END, page=usage_cursor, **{"group_by[]": "model"})
    with pytest.raises(BadRequest, match="different query"):
        call(reports, "usage", starting_at=START, ending_at=END, page=usage_cursor, **{"group_by[]": "product"})
    loose = AnalyticsSettings(cursor_bound_to_query=False)
    body = call(reports, "usage", loose, starting_at=START, ending_at=END, page=usage_cursor, **{"group_by[]": "speed"})
    assert body["data"] is not None


def test_a_legacy_page_token_is_rejected(reports: AnalyticsReports) -> None:
    with pytest.raises(BadRequest, match="page"):
        call(reports, "usage", starting_at=START, page="page_eyJvZmZzZXQiOjEsInF1ZXJ5IjoieCJ9")


def test_history_is_limited_to_the_last_365_days() -> None:
    later = AnalyticsReports(AnalyticsData(SimulatedOrg(OrgSpec(seed=7, days=30), now=lambda: NOW.replace(2027))))

    with pytest.raises(BadRequest, match="365 days"):
        call(later, "usage", starting_at="2026-03-09T00:00:00Z", ending_at="2026-03-12T00:00:00Z")
    assert call(later, "usage", starting_at="2026-03-11T00:00:00Z", ending_at="2026-03-12T00:00:00Z")["data"] == []


def test_array_caps_and_organization_ids_are_settings(reports: AnalyticsReports) -> None:
    relaxed = AnalyticsSettings(max_array_items=None, organization_ids="match_nothing")

    assert call(reports, "usage", relaxed, starting_at=START, **{"models[]": [f"m{i}" for i in range(150)]})
    assert call(reports, "usage", relaxed, starting_at=START, **{"organization_ids[]": "org_1"})["data"] == []
    assert call(
        reports,
        "usage",
        AnalyticsSettings(reject_duplicate_group_by=False),
        starting_at=START,
        **{"group_by[]": ["model", "model"]},
    )["data"]


def test_defaults_one_whole_hour_row_ranked_and_watermarked(reports: AnalyticsReports) -> None:
    body = call(reports, "usage", starting_at="2026-03-05T10:20:00Z")

    assert body["has_more"] is False and body["next_page"] is None
    assert body["data_refreshed_at"] == "2026-03-10T08:30:00Z"
    (row,) = body["data"]
    # The row spans the requested range, hour-rounded; its data stops at data_refreshed_at.
    assert (row["starting_at"], row["ending_at"]) == ("2026-03-05T10:00:00Z", "2026-03-10T12:00:00Z")
    assert list(row["group"]) == list(USAGE_DIMENSIONS) and set(row["group"].values()) == {None}


def test_default_ending_is_at_most_31_days_after_the_start(reports: AnalyticsReports) -> None:
    later = AnalyticsReports(AnalyticsData(SimulatedOrg(OrgSpec(seed=7), now=lambda: NOW.replace(month=4))))

    (row,) = call(later, "cost", starting_at="2026-02-01T00:30:00Z")["data"]

    assert (row["starting_at"], row["ending_at"]) == ("2026-02-01T00:00:00Z", "2026-03-04T00:00:00Z")
    assert list(row["group"]) == list(COST_DIMENSIONS) and len(row["group"]) == 22


def test_default_limit_is_20_rows_ranked_by_total_tokens(reports: AnalyticsReports) -> None:
    body = call(reports, "usage", starting_at=START, ending_at=END, **{"group_by[]": ["actor", "model", "product"]})

    totals = [row["usage"]["total_tokens"] for row in body["data"]]
    assert len(totals) == 20 and body["has_more"] is True
    assert totals == sorted(totals, reverse=True)


def test_amounts_are_cents_with_six_decimals_by_default(reports: AnalyticsReports) -> None:
    (row,) = call(reports, "cost", starting_at=START, ending_at=END)["data"]
    (exact,) = call(reports, "cost", AnalyticsSettings(amount_decimals=None), starting_at=START, ending_at=END)["data"]

    assert len(row["cost"]["amount"].split(".")[1]) == 6
    assert row["cost"]["currency"] == "USD"
    assert Decimal(row["cost"]["amount"]) == Decimal(exact["cost"]["amount"]).quantize(Decimal("0.000001"))
    assert Decimal(exact["cost"]["amount"]) > 0
