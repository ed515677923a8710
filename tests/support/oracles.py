"""Independent ground truth: Anthropic's own reports read straight over HTTP (no project code), and what each API
key really spent, computed from the simulator's usage rows and price table."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import requests

from anthropic_simulator import DEMO_ADMIN_KEY, prices
from pump_anthropic.domain.allocation import CONSOLE, KEY_USAGE_GROUP_BY, KEY_WORKSPACE_GROUP_BY
from pump_anthropic.domain.normalize import COST_GROUP_BY, USAGE_GROUP_BY

COST_REPORT = "/v1/organizations/cost_report"
USAGE_REPORT = "/v1/organizations/usage_report/messages"

# The Admin API reports Pump asks for, as the simulator counts them: (path, group_by).
PLACEMENT_REPORT = (USAGE_REPORT, KEY_WORKSPACE_GROUP_BY)
THREE_REPORTS = {(COST_REPORT, COST_GROUP_BY), (USAGE_REPORT, USAGE_GROUP_BY), (USAGE_REPORT, KEY_USAGE_GROUP_BY)}


def admin_report_buckets(
    base_url: str, path: str, first_day: str, last_day: str, group_by: list[str]
) -> Iterator[dict]:
    """Every bucket of a daily Admin API report over [first_day, last_day], straight over HTTP (no project code)."""
    end = (date.fromisoformat(last_day) + timedelta(days=1)).isoformat()
    params = [("starting_at", f"{first_day}T00:00:00Z"), ("ending_at", f"{end}T00:00:00Z"), ("limit", "31")]
    params += [("group_by[]", g) for g in group_by]
    page = None
    while True:
        body = requests.get(
            f"{base_url}{path}",
            params=params + ([("page", page)] if page else []),
            headers={"x-api-key": DEMO_ADMIN_KEY, "anthropic-version": "2023-06-01"},
            timeout=30,
        ).json()
        yield from body["data"]
        if not body["has_more"]:
            return
        page = body["next_page"]


def one_model(model_id: str | None) -> str | None:
    """The model a report row names, as GET /costs groups it: the legacy reports' dated ids
    (claude-opus-4-1-20250805) and the analytics API's aliases (claude-opus-4-1) are one model."""
    return None if model_id is None else re.sub(r"-[0-9]{8}$", "", model_id)


def independent_cost_totals(base_url: str, first_day: str, last_day: str) -> dict[tuple, Decimal]:
    """Ground truth from the cost report: USD per (date, workspace_id, model)."""
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    for bucket in admin_report_buckets(base_url, COST_REPORT, first_day, last_day, ["workspace_id", "description"]):
        for row in bucket["results"]:
            totals[(bucket["starting_at"][:10], row["workspace_id"], one_model(row["model"]))] += (
                Decimal(row["amount"]) / 100
            )
    return totals


def independent_token_totals(base_url: str, first_day: str, last_day: str) -> dict[tuple, int]:
    """Ground truth from the usage report: tokens per (date, workspace_id, model)."""
    totals: dict[tuple, int] = defaultdict(int)
    for bucket in admin_report_buckets(base_url, USAGE_REPORT, first_day, last_day, ["workspace_id", "model"]):
        for row in bucket["results"]:
            tokens = (
                row["uncached_input_tokens"]
                + row["cache_read_input_tokens"]
                + row["output_tokens"]
                + sum(row["cache_creation"].values())
            )
            if tokens:
                totals[(bucket["starting_at"][:10], row["workspace_id"], one_model(row["model"]))] += tokens
    return totals


def true_cost_per_key(org, first: date, last: date) -> tuple[dict[str, Decimal], dict[str, set[date]]]:
    """Ground truth from the simulator's own usage rows and price table (USD), and the days each key was used."""
    cost: dict[str, Decimal] = defaultdict(Decimal)
    days_used: dict[str, set[date]] = defaultdict(set)
    day = first
    while day <= last:
        for row in org.usage_rows(day):
            key = row.api_key_id or CONSOLE
            days_used[key].add(day)
            if row.service_tier == "priority":
                continue  # no price in the cost report: its cost is unknown, not part of any key's spend
            for token_type, tokens in row.tokens_by_type():
                if tokens:
                    unit = prices.token_unit_price_cents(
                        row.model, token_type, row.service_tier, row.context_window, row.inference_geo
                    )
                    cost[key] += tokens * unit / 100
            cost[key] += row.web_search_requests * prices.WEB_SEARCH_CENTS_PER_REQUEST / 100
        day += timedelta(days=1)
    return cost, days_used


ANALYTICS_FLOOR = date(2026, 1, 1)


def _analytics_headers() -> dict[str, str]:
    return {
        "authorization": f"Bearer {DEMO_ADMIN_KEY}",
        "anthropic-version": "2026-10-21",
        "anthropic-beta": "analytics-usage-cost-2026-08-24",
    }


def default_workspace_id(base_url: str) -> str | None:
    """The Default workspace's tagged id: listed only with include_default=true (no project code)."""

    def ids(**extra: str) -> set[str]:
        params = {"limit": "1000", "include_archived": "true", **extra}
        headers = {"x-api-key": DEMO_ADMIN_KEY, "anthropic-version": "2023-06-01"}
        body = requests.get(f"{base_url}/v1/organizations/workspaces", params=params, headers=headers, timeout=30)
        return {w["id"] for w in body.json()["data"]}

    extra = ids(include_default="true") - ids()
    return extra.pop() if len(extra) == 1 else None


def analytics_rows(
    base_url: str, first_day: date, last_day: date, group_by: list[str], *, endpoint: str = "cost"
) -> Iterator[dict]:
    """Every row of an analytics endpoint (cost, or usage) over [first_day, last_day] in 1d buckets, 31 days per
    query, straight over HTTP (no project code)."""
    start = first_day
    while start <= last_day:
        end = min(start + timedelta(days=31), last_day + timedelta(days=1))
        params = [
            ("starting_at", f"{start.isoformat()}T00:00:00Z"),
            ("ending_at", f"{end.isoformat()}T00:00:00Z"),
            ("time_bucket_width", "1d"),
            ("limit", "1000"),
        ] + [("group_by[]", g) for g in group_by]
        page = None
        while True:
            body = requests.get(
                f"{base_url}/v1/organizations/analytics/{endpoint}",
                params=params + ([("page", page)] if page else []),
                headers=_analytics_headers(),
                timeout=60,
            ).json()
            yield from body["data"]
            if not body.get("has_more") or not body.get("next_page"):
                break
            page = body["next_page"]
        start = end


def independent_analytics_totals(
    base_url: str, first_day: date, last_day: date, group_by: list[str], *, list_price: bool = False
) -> dict[tuple, Decimal]:
    """Ground truth from the analytics cost endpoint: USD (net, or with `list_price` list) per (date, *group_by),
    the Default workspace's tagged id read as None, as the legacy reports name it."""
    default = default_workspace_id(base_url) if "workspace_id" in group_by else None
    field = "list_amount" if list_price else "amount"
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in analytics_rows(base_url, first_day, last_day, group_by):
        values = [row["group"][g] for g in group_by]
        if "workspace_id" in group_by:
            i = group_by.index("workspace_id")
            values[i] = None if values[i] == default else values[i]
        if "model" in group_by:
            i = group_by.index("model")
            values[i] = one_model(values[i])
        totals[(row["starting_at"][:10], *values)] += Decimal(row["cost"][field]) / 100
    return totals


def stitched_cost_totals(base_url: str, first_day: date, last_day: date) -> dict[tuple, Decimal]:
    """What `auto` must report per (date, workspace_id, model): the legacy cost report before 2026-01-01, the
    analytics cost endpoint (priority tier included) from then on."""
    totals: dict[tuple, Decimal] = {}
    if first_day < ANALYTICS_FLOOR:
        legacy_last = min(last_day, ANALYTICS_FLOOR - timedelta(days=1))
        totals.update(independent_cost_totals(base_url, first_day.isoformat(), legacy_last.isoformat()))
    if last_day >= ANALYTICS_FLOOR:
        start = max(first_day, ANALYTICS_FLOOR)
        totals.update(independent_analytics_totals(base_url, start, last_day, ["workspace_id", "model"]))
    return {key: value for key, value in totals.items() if value}


def analytics_rows_per_day(base_url: str, endpoint: str, group_by: list[str], first_day: date, last_day: date):
    """How many rows a daily query grouped by `group_by` (no fan-out) has per day: what counts toward a page's limit."""
    counts: dict[str, int] = defaultdict(int)
    for row in analytics_rows(base_url, first_day, last_day, group_by, endpoint=endpoint):
        counts[row["starting_at"][:10]] += 1
    return counts


def fewest_requests(rows_per_day: dict[str, int], first_day: date, last_day: date, limit: int = 1000) -> int:
    """The fewest requests that read those rows: 31-day ranges from the first day, ceil(rows / limit) pages each."""
    pages, start = 0, first_day
    while start <= last_day:
        end = min(start + timedelta(days=31), last_day + timedelta(days=1))
        rows = sum(rows_per_day.get((start + timedelta(days=d)).isoformat(), 0) for d in range((end - start).days))
        pages += max(1, -(-rows // limit))
        start = end
    return pages
