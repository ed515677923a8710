"""Spend scenario knobs over real HTTP on 127.0.0.1: the exact dollars each adds, where, and nothing without them.

Every check compares a scenario's simulator with a plain one on the same clock and seed: the difference of the
legacy usage (priced) and cost reports and of the analytics usage and cost reports is exactly what the scenario
says it added, on its key, day and hour.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from anthropic_simulator import ANALYTICS_BETA, DEMO_ADMIN_KEY, AnalyticsSettings, OrgSpec, Simulator, prices
from anthropic_simulator.scenarios import SpendScenario, parse_usd
from anthropic_simulator.server import _banner
from anthropic_simulator.spend_limits import SPEND_LIMITS_BETA, WRITES_NOT_ENABLED, SpendLimitSettings
from pump_local import cli

pytestmark = pytest.mark.network

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
TODAY = NOW.date()
YESTERDAY = TODAY - timedelta(days=1)
ORG = "/v1/organizations"
HEADERS = {
    "x-api-key": DEMO_ADMIN_KEY,
    "anthropic-version": "2023-06-01",
    "anthropic-beta": f"{ANALYTICS_BETA},{SPEND_LIMITS_BETA}",
}
EXACT = AnalyticsSettings(amount_decimals=None)
GROUPS = ["workspace_id", "api_key_id", "actor", "product"]
RUNAWAY = SpendScenario(runaway_usd_per_hour=Decimal("12.34"), runaway_hours=3)
NEW_KEY = SpendScenario(new_key_usd=Decimal("50"))
ARCHIVED = SpendScenario(archived_key_usd=Decimal("7.50"), archived_key_usd_yesterday=Decimal("3.25"))
LIMITS = SpendScenario(spend_limit_usd=Decimal("1500"), workspace_spend_limit_usd=Decimal("250.50"))
EVERYTHING = SpendScenario(
    runaway_usd_per_hour=Decimal("0.99"),
    runaway_hours=20,
    new_key_usd=Decimal("4.01"),
    archived_key_usd=Decimal("1.11"),
    archived_key_usd_yesterday=Decimal("2.22"),
)


@pytest.fixture(scope="module")
def sims() -> Iterator[dict]:
    started: dict = {}

    def start(scenario: SpendScenario | None = None, now: datetime = NOW, lag: timedelta | None = None) -> Simulator:
        key = (scenario, now, lag)
        if key not in started:
            settings = EXACT if lag is None else replace(EXACT, refresh_lag=lag)
            started[key] = Simulator(OrgSpec(seed=7), now=lambda: now, analytics=settings, scenario=scenario)
            started[key].start()
        return started[key]

    yield start
    for sim in started.values():
        sim.stop()


@pytest.fixture(scope="module")
def api() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield session


def _midnight(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _span(first: date, days: int = 1, **params) -> dict:
    return {"starting_at": _midnight(first), "ending_at": _midnight(first + timedelta(days=days)), **params}


def _get(api: requests.Session, sim: Simulator, path: str, **params) -> requests.Response:
    response = api.get(sim.url + path, params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response


def _pages(api: requests.Session, sim: Simulator, path: str, params: dict) -> list[dict]:
    items, page = [], None
    while True:
        body = _get(api, sim, path, **params, **({"page": page} if page else {})).json()
        items.extend(body["data"])
        if not body["has_more"]:
            return items
        page = body["next_page"]


def _usage(api: requests.Session, sim: Simulator, day: date, width: str = "1h") -> dict[tuple, dict]:
    """Legacy usage of `day` per (bucket, key): {"cents": priced, "tokens": (uncached input, output)}."""
    group_by = ["api_key_id", "model", "service_tier", "context_window", "inference_geo"]
    params = _span(day, bucket_width=width, limit=24, **{"group_by[]": group_by})
    out: dict[tuple, dict] = defaultdict(lambda: {"cents": Decimal(0), "tokens": (0, 0)})
    for bucket in _pages(api, sim, f"{ORG}/usage_report/messages", params):
        for r in bucket["results"]:
            entry = out[(bucket["starting_at"], r["api_key_id"])]
            entry["tokens"] = (entry["tokens"][0] + r["uncached_input_tokens"], entry["tokens"][1] + r["output_tokens"])
            if r["service_tier"] == "priority":  # not in the legacy cost report
                continue
            counts = {**r, **{f"cache_creation.{name}": n for name, n in r["cache_creation"].items()}}
            for token_type in prices.TOKEN_TYPES:
                if counts[token_type]:
                    unit = prices.token_unit_price_cents(r["model"], token_type, *(r[d] for d in group_by[2:]))
                    entry["cents"] += counts[token_type] * unit
            entry["cents"] += r["server_tool_use"]["web_search_requests"] * prices.WEB_SEARCH_CENTS_PER_REQUEST
    return dict(out)


def _cost(api: requests.Session, sim: Simulator, first: date, days: int = 1) -> dict[tuple, Decimal]:
    """The legacy cost report's cents per (day, workspace)."""
    buckets = _pages(api, sim, f"{ORG}/cost_report", _span(first, days, **{"group_by[]": ["workspace_id"]}))
    return {(b["starting_at"][:10], r["workspace_id"]): Decimal(r["amount"]) for b in buckets for r in b["results"]}


def _analytics(
    api: requests.Session, sim: Simulator, kind: str, day: date, group_by: list[str], width: str = "1h"
) -> dict[tuple, object]:
    """Analytics rows of `day` per (bucket, *group): cost cents as Decimal, or usage (uncached input, output)."""
    params = _span(day, time_bucket_width=width, limit=1000, **{"group_by[]": group_by})
    out: dict[tuple, object] = {}
    for row in _pages(api, sim, f"{ORG}/analytics/{kind}", params):
        # Two hidden identities are two rows with the same (null) actor: they add up.
        key = (row["starting_at"], *(json.dumps(row["group"][g], sort_keys=True) for g in group_by))
        if kind == "cost":
            out[key] = out.get(key, Decimal(0)) + Decimal(row["cost"]["amount"])
        else:
            usage, seen = row["usage"], out.get(key, (0, 0))
            out[key] = (seen[0] + usage["uncached_input_tokens"], seen[1] + usage["output_tokens"])
    return out


def _diff(after: dict, before: dict) -> dict:
    """What `after` adds to `before`, per key (cents, or token pairs), zero differences left out."""
    out = {}
    for key in after.keys() | before.keys():
        a, b = after.get(key), before.get(key)
        if isinstance(a or b, tuple):
            delta = tuple(x - y for x, y in zip(a or (0, 0), b or (0, 0), strict=True))
            if any(delta):
                out[key] = delta
        elif (a or 0) != (b or 0):
            out[key] = (a or 0) - (b or 0)
    return out


def _usage_diff(after: dict, before: dict, field: str) -> dict:
    return _diff({k: v[field] for k, v in after.items()}, {k: v[field] for k, v in before.items()})


def _added(api: requests.Session, sim: Simulator, plain: Simulator, kind: str, day: date, *args) -> dict:
    """What `sim` adds to `plain` in the analytics `kind` report of `day` (args: group_by, width)."""
    return _diff(_analytics(api, sim, kind, day, *args), _analytics(api, plain, kind, day, *args))


def _hour(day: date, hour: int) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def _id(value: str) -> str:
    return json.dumps(value)


# -- no knob --------------------------------------------------------------------------------------


def test_without_a_traffic_knob_every_report_is_byte_for_byte_the_same(api: requests.Session, sims) -> None:
    plain, empty, limits_only = sims(), sims(SpendScenario()), sims(SpendScenario(spend_limits_refused=True))
    span = _span(YESTERDAY, 2)
    requests_ = [
        (f"{ORG}/api_keys", {"limit": 1000}),
        (f"{ORG}/usage_report/messages", {**span, "bucket_width": "1h", "limit": 48, "group_by[]": ["api_key_id"]}),
        (f"{ORG}/cost_report", {**span, "group_by[]": ["workspace_id", "description"]}),
        (f"{ORG}/analytics/cost", {**span, "time_bucket_width": "1h", "limit": 1000, "group_by[]": GROUPS}),
        (f"{ORG}/analytics/usage", {**span, "time_bucket_width": "1d", "group_by[]": ["api_key_id", "model"]}),
    ]

    bodies = [
        [_get(api, sim, path, **params).content for path, params in requests_] for sim in (plain, empty, limits_only)
    ]

    assert bodies[1] == bodies[0] and bodies[2] == bodies[0]
    assert empty.org.scenario is None and limits_only.org.scenario is None
    assert empty.spend_limits == SpendLimitSettings()


# -- runaway key -----------------------------------------------------------------------------------


def test_a_runaway_key_spends_exactly_its_hourly_dollars_in_every_report(api: requests.Session, sims) -> None:
    plain, sim = sims(), sims(RUNAWAY)
    traffic = sim.org.scenario
    key, workspace = traffic.runaway_key_id, sim.org.workspaces[0].id
    hours = {(_hour(TODAY, h), key): Decimal(1234) for h in (5, 6, 7)}  # ends at the 08:30 watermark's hour

    assert key == next(k.id for k in sim.org.api_keys if k.status == "active" and k.workspace_id == workspace)
    assert (traffic.burst_start, traffic.burst_end) == (NOW.replace(hour=5, minute=0), NOW.replace(hour=8, minute=0))
    assert traffic.added_usd == {TODAY: Decimal("37.02")}
    assert _usage_diff(_usage(api, sim, TODAY), _usage(api, plain, TODAY), "cents") == hours
    assert _diff(_cost(api, sim, TODAY), _cost(api, plain, TODAY)) == {(TODAY.isoformat(), workspace): Decimal(3702)}
    assert _added(api, sim, plain, "cost", TODAY, ["api_key_id"]) == {
        (hour, _id(k)): cents for (hour, k), cents in hours.items()
    }
    legacy_tokens = _usage_diff(_usage(api, sim, TODAY), _usage(api, plain, TODAY), "tokens")
    analytics_tokens = _added(api, sim, plain, "usage", TODAY, ["api_key_id"])
    assert analytics_tokens == {(hour, _id(k)): tokens for (hour, k), tokens in legacy_tokens.items()}


def test_the_runaway_is_ordinary_usage_of_its_key_split_by_actor_and_product(api: requests.Session, sims) -> None:
    plain, sim = sims(), sims(RUNAWAY)
    key, workspace = sim.org.scenario.runaway_key_id, sim.org.workspaces[0].id

    added = _added(api, sim, plain, "cost", TODAY, GROUPS, "1d")

    assert {(k[1], k[2]) for k in added} == {(_id(workspace), _id(key))}
    assert len({k[3] for k in added}) > 1  # spread over the key's actors like the rest of its usage
    assert sum(added.values()) == Decimal(3702)


def test_a_runaway_burst_across_midnight_adds_to_both_days(api: requests.Session, sims) -> None:
    early = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)
    scenario = SpendScenario(runaway_usd_per_hour=Decimal("2.50"), runaway_hours=5)
    plain, sim = sims(now=early, lag=timedelta(0)), sims(scenario, now=early, lag=timedelta(0))
    workspace = sim.org.workspaces[0].id

    assert sim.org.scenario.burst_start == datetime(2026, 3, 9, 21, tzinfo=UTC)
    assert sim.org.scenario.added_usd == {YESTERDAY: Decimal("7.50"), TODAY: Decimal("5.00")}
    assert _diff(_cost(api, sim, YESTERDAY, 2), _cost(api, plain, YESTERDAY, 2)) == {
        (YESTERDAY.isoformat(), workspace): Decimal(750),
        (TODAY.isoformat(), workspace): Decimal(500),
    }
    for day, cents in ((YESTERDAY, 750), (TODAY, 500)):
        assert sum(_added(api, sim, plain, "cost", day, ["api_key_id"], "1d").values()) == cents


# -- new and archived keys ---------------------------------------------------------------------------


def test_a_new_key_is_listed_active_and_spends_at_once(api: requests.Session, sims) -> None:
    plain, sim = sims(), sims(NEW_KEY)
    key_id = sim.org.scenario.new_key_id

    keys = {k["id"]: k for k in _get(api, sim, f"{ORG}/api_keys", limit=1000).json()["data"]}
    created = datetime.fromisoformat(keys[key_id]["created_at"])

    assert keys[key_id]["status"] == "active" and key_id not in {k.id for k in plain.org.api_keys}
    assert NOW - timedelta(hours=1) < created <= NOW
    assert _usage_diff(_usage(api, sim, TODAY), _usage(api, plain, TODAY), "cents") == {
        (_hour(TODAY, 12), key_id): Decimal(5000)
    }
    assert _diff(_cost(api, sim, TODAY), _cost(api, plain, TODAY)) == {
        (TODAY.isoformat(), sim.org.workspaces[0].id): Decimal(5000)
    }
    # The analytics API shows it once its watermark (now - 4 h) passes the spend.
    assert _added(api, sim, plain, "cost", TODAY, ["api_key_id"]) == {}
    sim.analytics = replace(sim.analytics, refresh_lag=timedelta(0))
    plain.analytics = replace(plain.analytics, refresh_lag=timedelta(0))
    try:
        seen = _added(api, sim, plain, "cost", TODAY, ["api_key_id"])
    finally:
        sim.analytics = plain.analytics = EXACT
    assert seen == {(_hour(TODAY, 12), _id(key_id)): Decimal(5000)}


def test_an_archived_key_spends_today_and_yesterday(api: requests.Session, sims) -> None:
    plain, sim = sims(lag=timedelta(0)), sims(ARCHIVED, lag=timedelta(0))
    key_id = sim.org.scenario.archived_key_id

    archived = _get(api, sim, f"{ORG}/api_keys", status="archived", limit=1000).json()["data"]

    assert key_id in {k["id"] for k in archived}
    assert sim.org.scenario.added_usd_by_key == {key_id: {YESTERDAY: Decimal("3.25"), TODAY: Decimal("7.50")}}
    for day, cents in ((YESTERDAY, Decimal(325)), (TODAY, Decimal(750))):
        legacy = _usage_diff(_usage(api, sim, day, "1d"), _usage(api, plain, day, "1d"), "cents")
        analytics = _added(api, sim, plain, "cost", day, ["api_key_id"], "1d")
        assert legacy == {(_midnight(day), key_id): cents}
        assert analytics == {(_midnight(day), _id(key_id)): cents}


def test_every_knob_together_adds_exactly_its_dollars_per_day_in_both_apis(api: requests.Session, sims) -> None:
    plain, sim = sims(lag=timedelta(0)), sims(EVERYTHING, lag=timedelta(0))
    traffic = sim.org.scenario
    added = traffic.added_usd

    assert added == {
        YESTERDAY: Decimal("2.22") + 8 * Decimal("0.99"),
        TODAY: Decimal("4.01") + Decimal("1.11") + 12 * Decimal("0.99"),
    }
    assert len({traffic.runaway_key_id, traffic.new_key_id, traffic.archived_key_id}) == 3
    for day in (YESTERDAY, TODAY):
        cents = added[day] * 100
        legacy = _usage_diff(_usage(api, sim, day, "1d"), _usage(api, plain, day, "1d"), "cents")
        analytics = _added(api, sim, plain, "cost", day, ["api_key_id"], "1d")
        assert sum(_diff(_cost(api, sim, day), _cost(api, plain, day)).values()) == cents
        assert legacy == {(_midnight(day), k): v[day] * 100 for k, v in traffic.added_usd_by_key.items() if day in v}
        assert analytics == {(_midnight(day), _id(k)): v for (_, k), v in legacy.items()}


# -- spend limits ----------------------------------------------------------------------------------------


def test_spend_limit_knobs_set_the_organization_and_workspace_limits(api: requests.Session, sims) -> None:
    sim = sims(LIMITS)

    limits = _get(api, sim, f"{ORG}/spend_limits", limit=100).json()["data"]
    amounts = {(row["scope"]["type"], row["scope"].get("workspace_id")): row["amount"] for row in limits}

    assert amounts[("organization", None)] == "150000"
    assert amounts[("workspace", sim.org.workspaces[0].id)] == "25050"
    assert sim.org.scenario is None


def test_the_refused_knob_makes_the_spend_limit_endpoints_refuse(api: requests.Session, sims) -> None:
    sim = sims(SpendScenario(spend_limits_refused=True))

    response = api.get(sim.url + f"{ORG}/spend_limits", timeout=10)

    assert response.status_code == 403
    assert response.json()["error"]["details"]["error_code"] == WRITES_NOT_ENABLED


# -- knobs, CLI and banner ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.5, "0.001", "-1", "0", "abc", "NaN", True])
def test_amounts_must_be_positive_whole_cents_and_never_floats(value: object) -> None:
    with pytest.raises(ValueError):
        SpendScenario(new_key_usd=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("hours", [0, -1, 169, True])
def test_runaway_hours_must_be_a_sane_whole_number(hours: int) -> None:
    with pytest.raises(ValueError):
        SpendScenario(runaway_usd_per_hour=Decimal(1), runaway_hours=hours)


def test_the_simulate_flags_build_the_scenario() -> None:
    flags = "simulate --runaway-key 12.5:4 --new-key-spend 3 --archived-key-spend $1.25 --spend-limit 900"
    args = cli._parser().parse_args(flags.split())
    default_hours = cli._parser().parse_args(["simulate", "--runaway-key", "7"])

    assert cli._scenario(args) == SpendScenario(
        runaway_usd_per_hour=Decimal("12.50"),
        runaway_hours=4,
        new_key_usd=Decimal(3),
        archived_key_usd=Decimal("1.25"),
        spend_limit_usd=Decimal(900),
    )
    assert cli._scenario(default_hours) == SpendScenario(runaway_usd_per_hour=parse_usd("7"), runaway_hours=3)
    assert cli._scenario(cli._parser().parse_args(["simulate"])) == SpendScenario()


BAD_FLAGS = ("--runaway-key 1.234", "--runaway-key 5:0", "--runaway-key 5:", "--runaway-key 5:two")


@pytest.mark.parametrize(
    "flags", [*BAD_FLAGS, "--new-key-spend -1", "--archived-key-spend free", "--spend-limit 10 --spend-limits-refused"]
)
def test_bad_simulate_flags_are_argparse_errors(flags: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli._parser().parse_args(["simulate", *flags.split()])

    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_the_banner_names_the_chosen_keys_the_dollars_per_day_and_the_limits(sims) -> None:
    sim, limited = sims(EVERYTHING, lag=timedelta(0)), sims(LIMITS)
    traffic = sim.org.scenario

    banner, limits = _banner(sim, sim.url, DEMO_ADMIN_KEY), _banner(limited, limited.url, DEMO_ADMIN_KEY)

    assert all(key in banner for key in (traffic.runaway_key_id, traffic.new_key_id, traffic.archived_key_id))
    assert f"{TODAY} ${traffic.added_usd[TODAY]}" in banner
    assert f"organization $1500.00/month, workspace {limited.org.workspaces[0].id} $250.50/month" in limits
    assert "Scenario" not in _banner(sims(), sims().url, DEMO_ADMIN_KEY)


def test_scenario_keys_are_stable_and_leave_the_other_entities_alone(sims) -> None:
    plain, sim = sims(), sims(EVERYTHING, lag=timedelta(0))
    again = Simulator(
        OrgSpec(seed=7), now=lambda: NOW, analytics=replace(EXACT, refresh_lag=timedelta(0)), scenario=EVERYTHING
    )

    assert sim.org.api_keys[: len(plain.org.api_keys)] == plain.org.api_keys
    assert [k.id for k in again.org.api_keys] == [k.id for k in sim.org.api_keys]
    assert sim.analytics_data.agents == plain.analytics_data.agents
    assert sim.analytics_data.agents_keys == plain.analytics_data.agents_keys
