"""The Spend Limits API (beta), read only: the organization's, its workspaces' and its usage tier's limits.

docs/anthropic-spend-limits-api.md is the reference (from the official SDK's types, anthropic 2.17.0). A limit
carries its cap only, never the spend against it: the headroom is computed from our own stored spend.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from pump_anthropic.admin_api.client import AdminApiClient, Params, _next_page

SPEND_LIMITS_PATH = "/v1/organizations/spend_limits"
SPEND_LIMITS_BETA = "spend-limit-reads-2026-09-26"
# The scope types a Claude Console organization has (any other gives 400 there).
CONSOLE_SCOPE_TYPES = ("organization", "workspace", "usage_tier")
PAGE_LIMIT = "100"


class SpendLimit(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    amount: str | None = None  # integer minor units of `currency` (cents for USD); None: no cap at this scope
    currency: str = "USD"
    is_enabled: bool = True
    period: str
    scope: dict[str, Any]


class SpendLimitPage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    data: list[SpendLimit]
    next_page: str | None = None

    @property
    def has_more(self) -> bool:  # the API has no has_more: a page with a cursor is followed
        return bool(self.next_page)


def iter_spend_limit_pages(client: AdminApiClient) -> Iterator[SpendLimitPage]:
    """Every page of the organization, workspace and usage-tier limits (AnalyticsClient.list_spend_limits)."""
    params: Params = [("limit", PAGE_LIMIT), *(("scope_type[]", t) for t in CONSOLE_SCOPE_TYPES)]
    headers = {"anthropic-beta": SPEND_LIMITS_BETA}
    return client._iter_pages(SPEND_LIMITS_PATH, params, SpendLimitPage, "page", _next_page, headers=headers)
