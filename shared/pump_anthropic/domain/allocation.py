"""Cost per API key: each cost item split across the keys that consumed it, exactly. Pure functions.

Anthropic's cost report cannot be grouped by API key; its usage report can. Within one cost item (day,
workspace, model, token type, tier, context window, geo) every token has the same unit price, so the item's
cost splits across keys in proportion to their tokens (web search: requests). The usage report caps
`group_by[]` at five values, and the price dimensions plus the key are six, so keys are pulled as
(api_key_id, model, service_tier, context_window, inference_geo) and placed in their workspace. A
workspace-scoped key lives in one workspace, which the API key list names (`scope`): `KeyHomes` places those
without a request. Only when a used key is organization-scoped or unknown to the list does the caller pull a
second, cheap report grouped by (api_key_id, workspace_id); a key seen there in exactly one workspace that day is
placed exactly. Usage without a key (Console/Workbench, `api_key_id` null) is what
remains of the workspace's usage after its keys: its own "Console" bucket. What a key used in several
workspaces the same day, and costs with no usage counterpart (code execution, unknown cost types), go to an
explicit "unattributed" bucket, never spread silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from pump_anthropic.domain.normalize import TOKEN_TYPES, WEB_SEARCH_METRIC, CostItem, bucket_date, covers, metric_value

KEY_USAGE_GROUP_BY = ("api_key_id", "model", "service_tier", "context_window", "inference_geo")
KEY_WORKSPACE_GROUP_BY = ("api_key_id", "workspace_id")
PRICE_DIMENSIONS = ("model", "service_tier", "context_window", "inference_geo")
FINEST_SPLIT_DECIMALS = 12

CONSOLE = "console"  # usage with no API key (Console, Workbench)
UNATTRIBUTED = "unattributed"  # cost we cannot tie to any key
METHOD_PROPORTIONAL = "proportional_usage"
METHOD_UNATTRIBUTED = "unattributed"

Rows = Iterable[tuple[str | datetime, Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class KeyShare:
    """One key's part of one cost item. `api_key` is a key id, CONSOLE or UNATTRIBUTED."""

    item: CostItem
    api_key: str
    cost_usd: Decimal | None
    quantity: int | None
    method: str


def split_exactly(total: Decimal, weights: Mapping[str, int]) -> dict[str, Decimal]:
    """Split `total` in proportion to `weights` so the parts add up to `total` exactly.

    Parts are cut at Anthropic's own precision (the decimals of `total`) but never coarser than 10^-12 USD, since
    a trimmed amount ("0.00001") can hide finer per-key parts; the leftover units go one each to the largest
    remainders, ties broken by key: deterministic, non-negative, independent of the mapping's order.
    """
    positive = {k: w for k, w in weights.items() if w > 0}
    if not positive:
        raise ValueError("nothing to split across")
    whole = sum(positive.values())
    exponent = min(total.as_tuple().exponent, -FINEST_SPLIT_DECIMALS)
    unit = Decimal(1).scaleb(exponent)
    exact = {k: total * w / whole for k, w in positive.items()}
    parts = {k: v.quantize(unit, rounding=ROUND_FLOOR) for k, v in exact.items()}
    leftover = int((total - sum(parts.values())) / unit)
    for key in sorted(parts, key=lambda k: (-(exact[k] - parts[k]), k))[:leftover]:
        parts[key] += unit
    return parts


def _workspace_of_keys(key_workspace_rows: Rows) -> dict[tuple[date, str], str | None]:
    """(day, key) → the one workspace the key was used in that day; keys seen in several are left out."""
    seen: dict[tuple[date, str], set[str | None]] = defaultdict(set)
    for starting_at, row in key_workspace_rows:
        if row.get("api_key_id"):
            seen[(bucket_date(starting_at), row["api_key_id"])].add(row.get("workspace_id"))
    return {key: next(iter(ws)) for key, ws in seen.items() if len(ws) == 1}


@dataclass(frozen=True)
class KeyHomes:
    """Where the API key list places each key: `listed` is every key it named, `workspace_of` the home workspace
    of each workspace-scoped one (None = the Default workspace). Organization-scoped keys, and keys whose scope
    we can't read, are listed but not placed: their usage needs the (api_key_id, workspace_id) report."""

    listed: frozenset[str] = frozenset()
    workspace_of: Mapping[str, str | None] = field(default_factory=dict)

    @classmethod
    def from_api_keys(cls, api_keys: Iterable[Mapping[str, Any]]) -> KeyHomes:
        keys = [k for k in api_keys if k.get("id")]
        homes = {k["id"]: workspace_id for k in keys for placed, workspace_id in [home_workspace(k)] if placed}
        return cls(frozenset(k["id"] for k in keys), homes)

    def unlisted(self, key_ids: Iterable[str]) -> set[str]:
        return set(key_ids) - self.listed

    def places_all(self, key_ids: Iterable[str]) -> bool:
        return all(k in self.workspace_of for k in key_ids)

    def placement_rows(self, key_usage_rows: Rows) -> list[tuple[str | datetime, dict[str, Any]]]:
        """The rows the (api_key_id, workspace_id) report would hold for these keys' usage."""
        return [
            (starting_at, {"api_key_id": key, "workspace_id": self.workspace_of[key]})
            for starting_at, row in key_usage_rows
            if (key := row.get("api_key_id")) in self.workspace_of
        ]


def home_workspace(api_key: Mapping[str, Any]) -> tuple[bool, str | None]:
    """(placed, workspace): the workspace a key is scoped to (None = Default); not placed for organization-scoped
    keys and scopes we don't understand. Without `scope`, the deprecated `workspace_id` places a key only when set:
    null there means Default *or* organization-scoped."""
    scope = api_key.get("scope")
    if isinstance(scope, Mapping):
        workspace_id = scope.get("workspace_id")
        if scope.get("type") == "workspace" and (workspace_id is None or isinstance(workspace_id, str)):
            return True, workspace_id
        return False, None
    workspace_id = api_key.get("workspace_id")
    return (True, workspace_id) if isinstance(workspace_id, str) and workspace_id else (False, None)


def unlisted_key(key_id: str) -> dict[str, Any]:
    """A used key the key list doesn't show (deleted, or not visible yet): named by its id, placed by the report."""
    return {"id": key_id, "name": key_id, "scope": {"type": "not_in_key_list"}}


def used_keys(key_usage_rows: Rows) -> set[str]:
    return {key for _, row in key_usage_rows if (key := row.get("api_key_id"))}


@dataclass(frozen=True, slots=True)
class _KeyUsage:
    day: date
    api_key: str
    workspace_id: str | None
    dims: Mapping[str, str | None]
    row: Mapping[str, Any]


def allocate(items: Iterable[CostItem], key_usage_rows: Rows, key_workspace_rows: Rows) -> list[KeyShare]:
    """Split every cost item across API keys (see the module docstring); shares of an item sum to it exactly."""
    workspace_of = _workspace_of_keys(key_workspace_rows)
    usage: dict[tuple[date, str | None], list[_KeyUsage]] = defaultdict(list)
    ambiguous: dict[date, list[_KeyUsage]] = defaultdict(list)
    for starting_at, row in key_usage_rows:
        day, key = bucket_date(starting_at), row.get("api_key_id")
        if not key:
            continue  # Console usage is derived as the workspace's remainder
        dims = {d: row.get(d) for d in PRICE_DIMENSIONS}
        if (day, key) in workspace_of:
            ws = workspace_of[(day, key)]
            usage[(day, ws)].append(_KeyUsage(day, key, ws, dims, row))
        else:
            ambiguous[day].append(_KeyUsage(day, key, None, dims, row))
    shares: list[KeyShare] = []
    for item in items:
        shares += _shares_of(item, usage.get((item.date, item.workspace_id), ()), ambiguous.get(item.date, ()))
    return shares


def _metric(item: CostItem) -> str | None:
    if item.cost_type == "web_search":
        return WEB_SEARCH_METRIC
    return item.token_type if item.token_type in TOKEN_TYPES else None


def _shares_of(item: CostItem, keyed: Iterable[_KeyUsage], ambiguous: Iterable[_KeyUsage]) -> list[KeyShare]:
    metric = _metric(item)
    if metric is None or not item.quantity:
        return [KeyShare(item, UNATTRIBUTED, item.cost_usd, item.quantity, METHOD_UNATTRIBUTED)]
    item_dims = {d: getattr(item, d) for d in PRICE_DIMENSIONS}
    weights: dict[str, int] = defaultdict(int)
    for usage in keyed:
        if covers(item_dims, usage.dims):
            weights[usage.api_key] += metric_value(usage.row, metric) or 0
    keyed_total = sum(weights.values())
    ambiguous_total = sum(metric_value(u.row, metric) or 0 for u in ambiguous if covers(item_dims, u.dims))
    # What the workspace used beyond its keys: Console, unless it could be a multi-workspace key's usage.
    remainder = max(item.quantity - keyed_total, 0)
    if remainder:
        weights[UNATTRIBUTED if ambiguous_total else CONSOLE] += remainder
    if not any(weights.values()):
        return [KeyShare(item, UNATTRIBUTED, item.cost_usd, item.quantity, METHOD_UNATTRIBUTED)]
    costs = split_exactly(item.cost_usd, weights) if item.cost_usd is not None else {}
    return [
        KeyShare(
            item,
            key,
            costs.get(key) if item.cost_usd is not None else None,
            quantity,
            METHOD_UNATTRIBUTED if key == UNATTRIBUTED else METHOD_PROPORTIONAL,
        )
        for key, quantity in sorted(weights.items())
        if quantity > 0
    ]
