"""Analytics report semantics without sockets: grouping, fan-out, buckets, ordering, filters, pagination, knobs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pytest_socket import disable_socket, enable_socket

from anthropic_simulator import AnalyticsData, AnalyticsSettings, OrgSpec, SimulatedOrg
from anthropic_simulator.analytics_reports import AnalyticsReports

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
START, END = "2026-03-02T00:00:00Z", "2026-03-05T00:00:00Z"
EXACT = AnalyticsSettings(amount_decimals=None)


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


def rows(reports: AnalyticsReports, kind: str, settings: AnalyticsSettings | None = None, **params) -> list[dict]:
    out, page = [], None
    while True:
        body = call(reports, kind, settings, **params, **({"page": page} if page else {}))
        out.extend(body["data"])
        if not body["has_more"]:
            return out
        page = body["next_page"]


def by(*dims: str) -> dict:
    return {"group_by[]": list(dims)}


def _combo(row: dict) -> str:
    # The combination (and bucket) a row belongs to, whatever its fan-out component.
    group = {k: v for k, v in row["group"].items() if k not in ("cost_type", "token_type")}
    return repr(sorted(group.items())) + row["starting_at"]


def test_small_pages_equal_one_large_page_and_fan_out_rows_do_not_count(reports: AnalyticsReports) -> None:
    query = {"starting_at": START, "ending_at": END, **by("actor", "model", "cost_type", "token_type")}

    single = call(reports, "cost", limit=1000, **query)
    first = call(reports, "cost", limit=2, **query)
    paged = rows(reports, "cost", limit=2, **query)

    assert single["has_more"] is False and paged == single["data"]
    assert len(first["data"]) > 2 and len({_combo(r) for r in first["data"]}) == 2
    usage = {"starting_at": START, "ending_at": END, "time_bucket_width": "1d", **by("product", "speed")}
    assert rows(reports, "usage", limit=1, **usage) == call(reports, "usage", limit=1000, **usage)["data"]


def test_fan_out_rows_sum_to_the_combined_amount_and_drop_requests(reports: AnalyticsReports) -> None:
    query = {"starting_at": START, "ending_at": END, "limit": 1000}
    combined = {_combo(r): r["cost"] for r in call(reports, "cost", EXACT, **query, **by("workspace_id"))["data"]}
    fanned = call(reports, "cost", EXACT, **query, **by("workspace_id", "cost_type", "token_type"))["data"]

    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in fanned:
        assert row["cost"]["requests"] is None
        assert (row["group"]["token_type"] is None) == (row["group"]["cost_type"] != "tokens")
        sums[_combo(row)][0] += Decimal(row["cost"]["amount"])
        sums[_combo(row)][1] += Decimal(row["cost"]["list_amount"])
    assert {k: [Decimal(c["amount"]), Decimal(c["list_amount"])] for k, c in combined.items()} == sums
    assert {r["group"]["cost_type"] for r in fanned} == {"tokens", "web_search", "code_execution", "session_usage"}


def test_cost_type_alone_and_token_type_alone(reports: AnalyticsReports) -> None:
    query = {"starting_at": START, "ending_at": END}
    cost_types = call(reports, "cost", **query, **by("cost_type"))["data"]
    token_types = call(reports, "cost", **query, **by("token_type"))["data"]
    only_tokens = call(reports, "cost", AnalyticsSettings(token_type_alone="tokens_only"), **query, **by("token_type"))

    assert [r["group"]["cost_type"] for r in cost_types][0] == "tokens"
    assert {r["group"]["token_type"] for r in cost_types} == {None}
    assert len(token_types) == 8 and len(only_tokens["data"]) == 5
    assert {r["group"]["cost_type"] for r in only_tokens["data"]} == {"tokens"}


def test_cost_requests_equal_usage_requests_for_the_same_query(reports: AnalyticsReports) -> None:
    query = {"starting_at": START, "ending_at": END, "limit": 1000, **by("api_key_id", "product")}

    usage = {_combo(r): r["usage"]["requests"] for r in call(reports, "usage", **query)["data"]}
    cost = {_combo(r): r["cost"]["requests"] for r in call(reports, "cost", **query)["data"]}

    assert sum(usage.values()) == sum(cost.values())
    assert all(cost[k] == v for k, v in usage.items())


def test_hour_and_minute_buckets_sum_to_the_day(reports: AnalyticsReports) -> None:
    day = {"starting_at": "2026-03-03T00:00:00Z", "ending_at": "2026-03-04T00:00:00Z", "limit": 1000}
    (whole,) = call(reports, "cost", EXACT, **day)["data"]
    (usage,) = call(reports, "usage", **day)["data"]
    hours = call(reports, "cost", EXACT, time_bucket_width="1h", **day)["data"]
    minutes = rows(reports, "usage", time_bucket_width="1m", **day)

    assert len(hours) == 24 and len(minutes) > 1000
    assert sum(Decimal(r["cost"]["amount"]) for r in hours) == Decimal(whole["cost"]["amount"])
    assert sum(r["cost"]["requests"] for r in hours) == whole["cost"]["requests"]
    for metric in ("total_tokens", "output_tokens", "requests"):
        assert sum(r["usage"][metric] for r in minutes) == usage["usage"][metric]


def test_unbucketed_rows_cover_whole_hours(reports: AnalyticsReports) -> None:
    (row,) = call(reports, "usage", starting_at="2026-03-03T10:20:00Z", ending_at="2026-03-04T05:59:59Z")["data"]
    hours = call(
        reports,
        "usage",
        starting_at="2026-03-03T10:00:00Z",
        ending_at="2026-03-04T05:00:00Z",
        limit=100,
        **{"time_bucket_width": "1h"},
    )["data"]

    assert (row["starting_at"], row["ending_at"]) == ("2026-03-03T10:00:00Z", "2026-03-04T05:00:00Z")
    assert sum(r["usage"]["total_tokens"] for r in hours) == row["usage"]["total_tokens"]
    assert call(reports, "usage", starting_at="2026-03-03T10:10:00Z", ending_at="2026-03-03T10:50:00Z")["data"] == []


def test_bucket_alignment_is_a_setting(reports: AnalyticsReports) -> None:
    query = {"starting_at": "2026-03-02T10:00:00Z", "ending_at": "2026-03-04T06:00:00Z", "time_bucket_width": "1d"}

    def starts(alignment: str) -> list[str]:
        return sorted(
            r["starting_at"][:10]
            for r in call(reports, "usage", AnalyticsSettings(bucket_alignment=alignment), **query)["data"]
        )

    assert starts("floor") == ["2026-03-02", "2026-03-03"]
    assert starts("overlap") == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert starts("inside") == ["2026-03-03"]


def test_order_by_time_and_by_metric(reports: AnalyticsReports) -> None:
    query = {"starting_at": START, "ending_at": END, "time_bucket_width": "1d", "limit": 1000, **by("model")}
    newest = call(reports, "cost", order_by="time", **query)["data"]
    oldest = call(reports, "cost", order_by="time", order="asc", **query)["data"]
    ranked = call(reports, "cost", **query)["data"]
    ascending = call(reports, "usage", order_by="output_tokens", order="asc", **query)["data"]

    assert [r["starting_at"] for r in newest] == sorted((r["starting_at"] for r in newest), reverse=True)
    assert [r["starting_at"] for r in oldest] == sorted(r["starting_at"] for r in oldest)
    for bucket in {r["starting_at"] for r in oldest}:
        amounts = [Decimal(r["cost"]["amount"]) for r in oldest if r["starting_at"] == bucket]
        assert amounts == sorted(amounts, reverse=True)
    assert [Decimal(r["cost"]["amount"]) for r in ranked] == sorted(
        (Decimal(r["cost"]["amount"]) for r in ranked), reverse=True
    )
    assert [r["usage"]["output_tokens"] for r in ascending] == sorted(r["usage"]["output_tokens"] for r in ascending)
    unbucketed = {"starting_at": START, "ending_at": END, **by("model")}
    assert call(reports, "cost", order_by="time", **unbucketed) == call(reports, "cost", **unbucketed)


def test_each_unrenderable_identity_is_its_own_null_actor_row(reports: AnalyticsReports) -> None:
    data = call(reports, "usage", starting_at=START, ending_at=END, limit=1000, **by("actor"))["data"]

    nulls = [r for r in data if r["group"]["actor"] is None]
    assert len(nulls) == 3  # two hidden federated identities and the unattributed code execution
    types = {r["group"]["actor"]["type"] for r in data if r["group"]["actor"]}
    assert types == {"user_actor", "service_account_actor", "federated_actor", "api_actor"}
    typed = call(reports, "usage", starting_at=START, ending_at=END, **by("actor", "actor_type"))["data"]
    assert all(
        r["group"]["actor_type"] == (r["group"]["actor"] or {}).get("type", r["group"]["actor_type"]) for r in typed
    )


def test_exclude_deleted_users_drops_rows_and_can_shorten_pages(reports: AnalyticsReports) -> None:
    query = {"starting_at": "2026-02-20T00:00:00Z", "ending_at": "2026-02-27T00:00:00Z", **by("actor")}
    every = rows(reports, "usage", limit=1, **query)
    kept = []
    short_page = False
    page = None
    while True:
        body = call(
            reports, "usage", limit=1, exclude_deleted_users="true", **query, **({"page": page} if page else {})
        )
        kept.extend(body["data"])
        short_page |= body["has_more"] and not body["data"]
        if not body["has_more"]:
            break
        page = body["next_page"]

    deleted = [r for r in every if r["group"]["actor"] and r["group"]["actor"].get("deleted")]
    assert len(deleted) == 1 and deleted[0]["group"]["actor"]["name"] == "Deleted User"
    assert kept == [r for r in every if r not in deleted]
    assert short_page


@pytest.mark.parametrize(
    ("filters", "dimension", "expected"),
    [
        ({"api_key_ids[]": ""}, "api_key_id", {None}),
        ({"inference_geos[]": "not_available"}, "inference_geo", {None}),
        ({"inference_geos[]": ["us", "global"]}, "inference_geo", {"us", "global"}),
        ({"products[]": ["claude_code", "claude_console"]}, "product", {"claude_code", "claude_console"}),
        ({"service_tiers[]": ["flex", "flex_discount"]}, "service_tier", {"flex", "flex_discount"}),
        ({"speeds[]": "fast"}, "speed", {"fast"}),
        ({"actor_types[]": "federated_actor"}, "actor_type", {"federated_actor"}),
        ({"models[]": "claude-haiku-4-5"}, "model", {"claude-haiku-4-5"}),
        ({"claude_tag_categories[]": "dm"}, "model", set()),
        ({"rbac_group_ids[]": "rbac_group_01"}, "model", set()),
    ],
)
def test_filters_match_the_group_values(
    reports: AnalyticsReports, filters: dict, dimension: str, expected: set
) -> None:
    data = call(reports, "usage", starting_at=START, ending_at=END, limit=1000, **filters, **by(dimension))["data"]

    assert {r["group"][dimension] for r in data} == expected


def test_an_apikey_actor_filter_is_narrower_than_the_api_key_filter(reports: AnalyticsReports) -> None:
    key = reports.data.org.api_keys[0].id
    query = {"starting_at": START, "ending_at": END, "limit": 1000, **by("actor")}

    as_actor = call(reports, "usage", **{"actor_ids[]": key}, **query)["data"]
    through_key = call(reports, "usage", **{"api_key_ids[]": key}, **query)["data"]

    assert [r["group"]["actor"] for r in as_actor] == [{"type": "api_actor", "api_key_id": key}]
    assert len(through_key) > 3 and as_actor[0] in through_key


def test_code_execution_rows_appear_on_both_endpoints_with_null_dimensions(reports: AnalyticsReports) -> None:
    query = {"starting_at": START, "ending_at": END, "limit": 1000}
    dims = ["product", "model", "service_tier"]

    usage = [r for r in call(reports, "usage", **query, **by(*dims))["data"] if r["group"]["product"] is None]
    cost = call(reports, "cost", **query, **by(*dims, "cost_type"))["data"]

    assert usage and usage[0]["usage"]["total_tokens"] == 0 and usage[0]["usage"]["requests"] > 0
    code = [r for r in cost if r["group"]["cost_type"] == "code_execution"]
    assert code and all((r["group"]["model"], r["group"]["service_tier"]) == (None, None) for r in code)


def test_every_service_tier_has_cost(reports: AnalyticsReports) -> None:
    data = call(reports, "cost", starting_at=START, ending_at=END, **by("service_tier"))["data"]

    assert {r["group"]["service_tier"] for r in data} == {
        "standard",
        "batch",
        "priority",
        "priority_on_demand",
        "flex",
        "flex_discount",
        None,
    }
    assert all(Decimal(r["cost"]["list_amount"]) >= Decimal(r["cost"]["amount"]) > 0 for r in data)


def test_data_stops_at_the_refresh_watermark(reports: AnalyticsReports) -> None:
    today = {"starting_at": "2026-03-10T00:00:00Z", "ending_at": "2026-03-11T00:00:00Z", "time_bucket_width": "1h"}

    lagged = call(reports, "usage", order_by="time", limit=100, **today)
    fresh = call(reports, "usage", AnalyticsSettings(refresh_lag=0 * EXACT.refresh_lag), order_by="time", **today)

    assert lagged["data"][0]["starting_at"] == "2026-03-10T08:00:00Z"
    assert fresh["data"][0]["starting_at"] == "2026-03-10T12:00:00Z"
    assert fresh["data_refreshed_at"] == "2026-03-10T12:30:00Z"


def test_envelope_and_model_id_settings(reports: AnalyticsReports) -> None:
    settings = AnalyticsSettings(model_ids="dated", next_page_on_last_page="absent", include_organization_id=True)

    body = call(reports, "usage", settings, starting_at=START, ending_at=END, limit=1000, **by("model"))

    assert "next_page" not in body and body["organization_id"] == reports.data.org.id
    assert "claude-haiku-4-5-20251001" in {r["group"]["model"] for r in body["data"]}


def test_priority_can_be_left_out_of_amount_but_not_list_amount(reports: AnalyticsReports) -> None:
    settings = AnalyticsSettings(priority_billed_in_amount=False)

    data = call(reports, "cost", settings, starting_at=START, ending_at=END, **by("service_tier"))["data"]

    priority = [r["cost"] for r in data if r["group"]["service_tier"] in ("priority", "priority_on_demand")]
    assert priority and all(c["amount"] == "0.000000" and Decimal(c["list_amount"]) > 0 for c in priority)
