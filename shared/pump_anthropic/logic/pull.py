"""One pull of a window from Anthropic, shared by the backfill and the sync: reports in, cost items and per-key
shares out, plus the name lists when they are due."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from pydantic import SecretStr

from pump_anthropic.admin_api import AdminApiClient
from pump_anthropic.domain.allocation import (
    KEY_USAGE_GROUP_BY,
    KEY_WORKSPACE_GROUP_BY,
    KeyHomes,
    KeyShare,
    allocate,
    unlisted_key,
    used_keys,
)
from pump_anthropic.domain.calendar import day_start
from pump_anthropic.domain.normalize import COST_GROUP_BY, USAGE_GROUP_BY, CostItem, normalize

# Deadline-aware factory: (key, monotonic deadline or None) -> client.
ClientFactory = Callable[[SecretStr, float | None], AdminApiClient]


@dataclass(frozen=True)
class PulledData:
    items: list[CostItem]
    key_shares: list[KeyShare]
    workspaces: list[tuple[str, str, bool]] | None  # None: not refreshed by this pull
    api_keys: list[dict] | None
    key_homes: KeyHomes  # as refreshed by this pull, for the caller's next one
    anthropic_requests: int
    anthropic_retries: int = 0


def pull_items(
    key: SecretStr,
    client_factory: ClientFactory,
    deadline: float | None,
    start: date,
    end: date,
    *,
    key_homes: KeyHomes,
    refresh_workspaces: bool = False,
    refresh_api_keys: bool = False,
    refresh_api_keys_if_unlisted: bool = False,
) -> PulledData:
    """Cost and usage reports of [start, end) normalized into cost items and split across API keys (end may be
    tomorrow: today's bucket is in progress and only an ending_at after it includes it).

    Three reports always; the key list when asked (or, if allowed, when a used key isn't in `key_homes`); the
    (api_key_id, workspace_id) report only when a used key's workspace can't be read from the key list.
    """
    since, until = day_start(start), day_start(end)
    workspaces = api_keys = None
    with client_factory(key, deadline) as client:
        cost_rows = _rows(client.iter_cost_report(since, until, COST_GROUP_BY))
        usage_rows = _rows(client.iter_usage_report(since, until, USAGE_GROUP_BY))
        key_usage_rows = _rows(client.iter_usage_report(since, until, KEY_USAGE_GROUP_BY))
        used = used_keys(key_usage_rows)
        if refresh_workspaces:
            workspaces = fetch_workspaces(client)
        if refresh_api_keys or (refresh_api_keys_if_unlisted and key_homes.unlisted(used)):
            api_keys = fetch_api_keys(client)
            # A used key the list doesn't show is remembered as such, so it doesn't trigger a read every hour.
            api_keys += [unlisted_key(k) for k in sorted(KeyHomes.from_api_keys(api_keys).unlisted(used))]
            key_homes = KeyHomes.from_api_keys(api_keys)
        if key_homes.places_all(used):
            key_workspace_rows = key_homes.placement_rows(key_usage_rows)
        else:
            key_workspace_rows = _rows(client.iter_usage_report(since, until, KEY_WORKSPACE_GROUP_BY))
        requests_made, retries = client.request_count, client.retry_count
    items = normalize(cost_rows, usage_rows)
    shares = allocate(items, key_usage_rows, key_workspace_rows)
    return PulledData(items, shares, workspaces, api_keys, key_homes, requests_made, retries)


def fetch_names(client: AdminApiClient) -> tuple[list[tuple[str, str, bool]], list[dict]]:
    """Workspaces as (id, name, archived) and API keys as dicts: what the API shows instead of ids."""
    return fetch_workspaces(client), fetch_api_keys(client)


def fetch_workspaces(client: AdminApiClient) -> list[tuple[str, str, bool]]:
    return [(w.id, w.name, w.archived_at is not None) for w in client.iter_workspaces()]


def fetch_api_keys(client: AdminApiClient) -> list[dict]:
    return [k.model_dump() for k in client.iter_api_keys()]


def _rows(buckets: Iterable) -> list[tuple]:
    return [(bucket.starting_at, row) for bucket in buckets for row in bucket.results]
