"""The analytics view of the synthetic org, without sockets: attribution, exactness and the legacy invariant."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pytest_socket import disable_socket, enable_socket

from anthropic_simulator import AnalyticsData, AnalyticsRow, AnalyticsSettings, OrgSpec, SimulatedOrg, prices
from anthropic_simulator.analytics_data import CODE_SECONDS, SESSION_SECONDS, row_cost, split

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
DAYS_2026 = [date(2026, 1, 1) + timedelta(days=i) for i in range((NOW.date() - date(2026, 1, 1)).days)]
UNIT_PRIORITY = AnalyticsSettings(
    priority_multiplier=Decimal(1), priority_on_demand_multiplier=Decimal(1), fast_multiplier=Decimal(1)
)


@pytest.fixture(autouse=True)
def _no_sockets() -> Iterator[None]:
    disable_socket()
    yield
    enable_socket()


@pytest.fixture(scope="module")
def data() -> AnalyticsData:
    return AnalyticsData(SimulatedOrg(OrgSpec(seed=7), now=lambda: NOW))


def _legacy_cost(data: AnalyticsData, day: date) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in data.org.cost_rows(day):
        totals[row.workspace_id or data.default_workspace_id] += row.amount
    return totals


def _priority_at_standard_prices(data: AnalyticsData, day: date) -> dict[str, Decimal]:
    # An independent pricing of the legacy priority rows at standard unit prices, through the public price table.
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in data.org.usage_rows(day):
        if row.service_tier != "priority":
            continue
        workspace = row.workspace_id or data.default_workspace_id
        for token_type, tokens in row.tokens_by_type():
            unit = prices.token_unit_price_cents(
                row.model, token_type, "standard", row.context_window, row.inference_geo
            )
            totals[workspace] += tokens * unit
        totals[workspace] += row.web_search_requests * prices.WEB_SEARCH_CENTS_PER_REQUEST
    return totals


@pytest.mark.parametrize(
    ("metrics", "weights"),
    [((7, 0, 1), (1,)), ((10, 3, 999_999_937), (3, 1, 1)), ((1, 2, 3), (5, 2, 2, 1)), ((0, 0), (1, 1))],
)
def test_split_parts_sum_back_exactly(metrics: tuple[int, ...], weights: tuple[int, ...]) -> None:
    parts = split(metrics, weights)

    assert len(parts) == len(weights)
    assert tuple(map(sum, zip(*parts, strict=True))) == metrics
    assert all(v >= 0 for part in parts for v in part)


def test_analytics_rows_sum_to_the_legacy_usage_of_each_day_and_workspace(data: AnalyticsData) -> None:
    for day in DAYS_2026:
        legacy: Counter = Counter()
        for row in data.org.usage_rows(day):
            for i, value in enumerate(row.metrics()):
                legacy[(row.workspace_id or data.default_workspace_id, i)] += value
        for workspace, seconds in data.org.code_execution_seconds(day).items():
            legacy[(workspace or data.default_workspace_id, "seconds")] += seconds
        analytics: Counter = Counter()
        for dims, metrics in data.rows(day):
            for i in range(6):
                analytics[(dims.workspace_id, i)] += metrics[i]
            analytics[(dims.workspace_id, "seconds")] += metrics[CODE_SECONDS] + metrics[SESSION_SECONDS]

        assert +analytics == +legacy, day


def test_analytics_amount_is_legacy_cost_plus_priority_for_every_2026_day_and_workspace(data: AnalyticsData) -> None:
    for day in DAYS_2026:
        legacy = _legacy_cost(data, day)
        independent = _priority_at_standard_prices(data, day)
        at_unit = data.expected_cost(day, by=("workspace_id",), settings=UNIT_PRIORITY)
        default = data.expected_cost(day, by=("workspace_id",))
        priority = data.priority_cost(day)

        workspaces = set(legacy) | set(independent)
        assert {ws for (ws,) in at_unit} == workspaces, day
        for workspace in workspaces:
            assert at_unit[(workspace,)][0] == legacy.get(workspace, 0) + independent.get(workspace, 0), day
            assert default[(workspace,)][0] == legacy.get(workspace, 0) + priority.get(workspace, 0), day
    assert any(data.priority_cost(day) for day in DAYS_2026)


def test_list_amount_is_at_least_amount_and_some_lines_are_discounted(data: AnalyticsData) -> None:
    lines = data.expected_cost(DAYS_2026[-1], by=("workspace_id", "model", "service_tier"))

    assert all(listed >= amount for amount, listed in lines.values())
    discounted = {key[1] for key, (amount, listed) in lines.items() if listed > amount}
    assert discounted and discounted <= {"claude-opus-4-6", "claude-sonnet-4-6"}
    assert any(listed == amount for amount, listed in lines.values())


def test_expected_cost_per_key_actor_and_product_sums_to_the_day(data: AnalyticsData) -> None:
    day = DAYS_2026[-3]
    fine = data.expected_cost(day)
    total = data.expected_cost(day, by=())

    assert sum(amount for amount, _ in fine.values()) == total[()][0]
    assert {key[3] for key in fine} >= {"claude_console", "messages_api", "claude_code", "managed_agents_api", None}


def test_every_dimension_carries_meaning(data: AnalyticsData) -> None:
    rows = [row for day in DAYS_2026 for row in data.rows(day)]
    seen = defaultdict(set)
    for dims, _ in rows:
        for name in ("product", "service_tier", "speed", "inference_geo", "context_window", "workspace_id"):
            seen[name].add(getattr(dims, name))
        seen["actor_type"].add(dims.actor.type if dims.actor else None)
        seen["rendered_null"].add(dims.actor is not None and dims.actor.to_api() is None)

    assert seen["product"] == {
        "claude_console",
        "messages_api",
        "message_batches_api",
        "claude_code",
        "managed_agents_api",
        None,
    }
    assert seen["service_tier"] == {
        "standard",
        "batch",
        "priority",
        "priority_on_demand",
        "flex",
        "flex_discount",
        None,
    }
    assert seen["speed"] == {"standard", "fast", None}
    assert seen["inference_geo"] == {"global", "us", None}
    assert seen["context_window"] == {"0-200k", "200k-1M", None}
    assert seen["actor_type"] == {"user_actor", "service_account_actor", "federated_actor", "api_actor", None}
    assert seen["rendered_null"] == {True, False}
    assert data.default_workspace_id in seen["workspace_id"]
    assert all(ws.startswith("wrkspc_") for ws in seen["workspace_id"])


def test_keyless_console_usage_is_attributed_to_its_user(data: AnalyticsData) -> None:
    console = [dims for day in DAYS_2026[-7:] for dims, _ in data.rows(day) if dims.product == "claude_console"]

    assert console
    assert {d.api_key_id for d in console} == {None}
    assert {d.workspace_id for d in console} == {data.default_workspace_id}
    assert {d.actor.to_api()["email_address"] for d in console} == {data.org.users[0].email}


def test_code_execution_rows_have_no_model_tier_window_or_product(data: AnalyticsData) -> None:
    code = [(dims, m) for day in DAYS_2026[-7:] for dims, m in data.rows(day) if m[CODE_SECONDS]]

    assert code
    for dims, metrics in code:
        assert (dims.model, dims.service_tier, dims.context_window, dims.product) == (None, None, None, None)
        assert metrics[6] >= 1 and not any(metrics[:6])


def test_sessions_carry_token_usage_and_runtime(data: AnalyticsData) -> None:
    day = DAYS_2026[-1]
    rows = [(dims, m) for dims, m in data.rows(day) if dims.session_id]

    assert {d.product for d, _ in rows} == {"managed_agents_api"}
    assert all(d.agent_id.startswith("agent_") and d.environment_id for d, _ in rows)
    assert {d.deployment_id is None for d, _ in rows} == {True, False}
    with_tokens = {d.session_id for d, m in rows if sum(m[:5])}
    with_runtime = {d.session_id for d, m in rows if m[SESSION_SECONDS]}
    assert with_tokens & with_runtime
    for dims, metrics in rows:
        if metrics[SESSION_SECONDS]:
            assert set(row_cost(AnalyticsRow(dims, metrics), UNIT_PRIORITY)) == {("session_usage", None)}


def test_the_deleted_user_renders_as_deleted_and_stops_on_its_deletion_day(data: AnalyticsData) -> None:
    def used(day: date) -> bool:
        return any(dims.actor == data.deleted_user for dims, _ in data.rows(day))

    assert data.deleted_user.to_api() == {
        "type": "user_actor",
        "user_id": data.deleted_user.id,
        "email_address": None,
        "name": "Deleted User",
        "deleted": True,
    }
    assert used(data.deleted_on - timedelta(days=1))
    assert not used(data.deleted_on)


def test_fast_speed_and_priority_premiums_are_priced_on_top(data: AnalyticsData) -> None:
    day = next(d for d in reversed(DAYS_2026) if data.priority_cost(d))
    default = data.priority_cost(day)
    at_unit = data.priority_cost(day, UNIT_PRIORITY)

    assert sum(default.values()) > sum(at_unit.values()) > 0


def test_same_seed_same_analytics_and_another_seed_differs() -> None:
    def rows(seed: int) -> list:
        data = AnalyticsData(SimulatedOrg(OrgSpec(seed=seed), now=lambda: NOW))
        return [data.rows(day) for day in DAYS_2026[-3:]], data.default_workspace_id, data.deleted_user

    assert rows(5) == rows(5)
    assert rows(5) != rows(6)


def test_restatement_moves_the_analytics_rows_and_keeps_the_invariant() -> None:
    data = AnalyticsData(SimulatedOrg(OrgSpec(seed=7), now=lambda: NOW))
    day = NOW.date() - timedelta(days=1)
    before = data.rows(day)

    data.org.restate(2)

    assert data.rows(day) != before
    legacy, priority = _legacy_cost(data, day), data.priority_cost(day)
    for (workspace,), (amount, _) in data.expected_cost(day, by=("workspace_id",)).items():
        assert amount == legacy.get(workspace, 0) + priority.get(workspace, 0)


def test_slices_of_a_day_sum_to_the_whole_day(data: AnalyticsData) -> None:
    day = DAYS_2026[-2]
    whole = Counter()
    for dims, metrics in data.rows(day):
        whole[dims] += sum(metrics)
    hourly = Counter()
    for hour in range(24):
        for dims, metrics in data.rows_between(day, hour * 60, hour * 60 + 60):
            hourly[dims] += sum(metrics)

    assert hourly == whole


def test_the_default_workspace_is_tagged_and_does_not_disturb_the_other_entities() -> None:
    org = SimulatedOrg(OrgSpec(seed=7), now=lambda: NOW)

    assert org.default_workspace.id.startswith("wrkspc_")
    assert org.default_workspace.id not in {ws.id for ws in org.workspaces}
    assert org.default_workspace.created_at < min(ws.created_at for ws in org.workspaces)


def test_settings_reject_a_discount_without_an_exact_list_price() -> None:
    with pytest.raises(ValueError, match="non-terminating"):
        AnalyticsSettings(discounts={"claude-opus-4-6": "0.1"})
    with pytest.raises(ValueError, match="bucket_alignment"):
        AnalyticsSettings(bucket_alignment="round")
    assert AnalyticsSettings(discounts={"claude-opus-4-6": "0.5"}).discount("claude-opus-4-6") == Decimal("0.5")
