"""Independent ground truth: Anthropic's own reports read straight over HTTP (no project code), and what each API
key really spent, computed from the simulator's usage rows and price table."""

from __future__ import annotations

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


def independent_cost_totals(base_url: str, first_day: str, last_day: str) -> dict[tuple, Decimal]:
    """Ground truth from the cost report: USD per (date, workspace_id, model)."""
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    for bucket in admin_report_buckets(base_url, COST_REPORT, first_day, last_day, ["workspace_id", "description"]):
        for row in bucket["results"]:
            totals[(bucket["starting_at"][:10], row["workspace_id"], row["model"])] += Decimal(row["amount"]) / 100
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
                totals[(bucket["starting_at"][:10], row["workspace_id"], row["model"])] += tokens
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
