"""Turn Anthropic cost-report and usage-report rows into cost items. Pure: no I/O, no clock.

A cost item is one (day, workspace, model, cost_type, token_type, service_tier, context_window, inference_geo).
Its cost comes from the cost report (`amount` is a decimal string in cents); its quantity from the usage report,
joined on every dimension the cost row fills. Usage that no cost row prices (priority tier) becomes an item whose
cost is unknown (`cost_usd is None`), never zero. Unknown enum values pass through untouched.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

CENTS_PER_DOLLAR = Decimal(100)

# Dimensions shared by both reports, in key order. The usage report is pulled grouped by exactly these
# (five, the API's cap) so every cost row can find its quantity.
JOIN_DIMENSIONS = ("workspace_id", "model", "service_tier", "context_window", "inference_geo")
USAGE_GROUP_BY = JOIN_DIMENSIONS
COST_GROUP_BY = ("workspace_id", "description")

# Token types as the cost report names them; the same dotted path reads the usage report's nested fields.
TOKEN_TYPES = (
    "uncached_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)
WEB_SEARCH_METRIC = "server_tool_use.web_search_requests"

# Anthropic's cost report leaves out priority-tier usage (it is billed under the priority commitment), so its cost
# is unknown to us: such usage is shown as usage without a cost, never as $0.
UNPRICED_TIERS = frozenset({"priority", "priority_on_demand"})

UNIT_TOKENS = "tokens"
UNIT_REQUESTS = "requests"


@dataclass(frozen=True, slots=True)
class CostItem:
    """One normalized line of spend. `cost_usd is None` means Anthropic reports usage but no cost for it."""

    date: date
    workspace_id: str | None
    model: str | None
    cost_type: str | None
    token_type: str | None
    service_tier: str | None
    context_window: str | None
    inference_geo: str | None
    cost_usd: Decimal | None
    amount_cents: Decimal | None
    quantity: int | None
    unit: str | None
    description: str | None
    currency: str = "USD"
    # Read from the analytics API only: the list price before discounts (None: not reported) and the speed.
    list_cost_usd: Decimal | None = None
    speed: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        grain = (
            self.workspace_id,
            self.model,
            self.cost_type,
            self.token_type,
            self.service_tier,
            self.context_window,
            self.inference_geo,
        )
        # The speed joins the key only when set, so every id from the legacy reports stays as it was.
        speed = () if self.speed is None else (f"speed={self.speed}",)
        return (self.date.isoformat(), *(_key_part(v) for v in grain), *speed)

    @property
    def item_id(self) -> str:
        """Deterministic id: the same grain always gets the same id, so every write is an upsert."""
        return hashlib.sha256("|".join(self.key).encode()).hexdigest()[:32]

    @property
    def cost_known(self) -> bool:
        return self.cost_usd is not None

    @property
    def tokens(self) -> int:
        return self.quantity if self.unit == UNIT_TOKENS and self.quantity else 0


def _key_part(value: str | None) -> str:
    return "-" if value is None else value


def cents_to_usd(amount: str | int | Decimal) -> Decimal:
    """Anthropic's `amount` is in cents as a decimal string: "123.45" is $1.2345. Exact, never float."""
    if isinstance(amount, float):
        raise TypeError("amount must be a decimal string, not a float")
    return Decimal(amount) / CENTS_PER_DOLLAR


def bucket_date(starting_at: str | datetime) -> date:
    if isinstance(starting_at, datetime):
        return starting_at.date()
    return datetime.fromisoformat(starting_at.replace("Z", "+00:00")).date()


def metric_value(usage_row: Mapping[str, Any], path: str) -> int | None:
    """Read a (possibly nested, dotted) usage metric; None when the report doesn't carry it."""
    node: Any = usage_row
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    if isinstance(node, bool) or not isinstance(node, int | str):
        return None
    try:
        return int(node)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _UsageRow:
    day: date
    dims: tuple[str | None, ...]
    row: Mapping[str, Any]


def _metric_for(cost_type: str | None, token_type: str | None) -> tuple[str | None, str | None]:
    if cost_type == "web_search":
        return WEB_SEARCH_METRIC, UNIT_REQUESTS
    if token_type:
        return token_type, UNIT_TOKENS
    return None, None


def covers(cost_dims: Mapping[str, str | None], usage_dims: Mapping[str, str | None]) -> bool:
    """Whether a cost row prices this usage: equal on every dimension the cost row fills.

    A dimension the cost row leaves null was aggregated over, so it matches any usage value, except the tiers
    Anthropic bills outside the cost report (priority): their usage is never priced by a tier-less row either.
    The workspace is different: both reports are grouped by it, so its null means the Default workspace.
    """
    for name, cost_value in cost_dims.items():
        usage_value = usage_dims.get(name)
        if name == "workspace_id":
            if cost_value != usage_value:
                return False
        elif cost_value is None:
            if name == "service_tier" and usage_value in UNPRICED_TIERS:
                return False
        elif cost_value != usage_value:
            return False
    return True


def _matches(cost_dims: tuple[str | None, ...], usage_dims: tuple[str | None, ...]) -> bool:
    return covers(
        dict(zip(JOIN_DIMENSIONS, cost_dims, strict=True)), dict(zip(JOIN_DIMENSIONS, usage_dims, strict=True))
    )


def normalize(
    cost_rows: Iterable[tuple[str | datetime, Mapping[str, Any]]],
    usage_rows: Iterable[tuple[str | datetime, Mapping[str, Any]]],
) -> list[CostItem]:
    """Join cost rows and usage rows, each given as (bucket starting_at, result row), into cost items."""
    usage_by_day: dict[date, list[_UsageRow]] = defaultdict(list)
    for starting_at, row in usage_rows:
        day = bucket_date(starting_at)
        usage_by_day[day].append(_UsageRow(day, tuple(row.get(d) for d in JOIN_DIMENSIONS), row))

    priced: dict[tuple[str, ...], CostItem] = {}
    for starting_at, row in cost_rows:
        item = _priced_item(bucket_date(starting_at), row, usage_by_day)
        previous = priced.get(item.key)
        priced[item.key] = item if previous is None else _merge(previous, item)

    unpriced = _unpriced_items(usage_by_day, list(priced.values()))
    return sorted([*priced.values(), *unpriced], key=lambda i: i.key)


def _priced_item(day: date, row: Mapping[str, Any], usage_by_day: Mapping[date, list[_UsageRow]]) -> CostItem:
    cost_type = row.get("cost_type")
    token_type = row.get("token_type")
    dims = tuple(row.get(d) for d in JOIN_DIMENSIONS)
    metric, unit = _metric_for(cost_type, token_type)
    quantity = None
    if metric is not None:
        matching = [u for u in usage_by_day.get(day, ()) if _matches(dims, u.dims)]
        values = [v for v in (metric_value(u.row, metric) for u in matching) if v is not None]
        quantity = sum(values) if values else None
    amount = Decimal(str(row.get("amount") or "0"))
    return CostItem(
        date=day,
        workspace_id=dims[0],
        model=dims[1],
        cost_type=cost_type,
        token_type=token_type,
        service_tier=dims[2],
        context_window=dims[3],
        inference_geo=dims[4],
        cost_usd=cents_to_usd(amount),
        amount_cents=amount,
        quantity=quantity,
        unit=unit if quantity is not None else None,
        description=row.get("description"),
        currency=row.get("currency") or "USD",
    )


def _merge(a: CostItem, b: CostItem) -> CostItem:
    """Two cost rows on one grain (e.g. two descriptions for one price): add the money, keep one quantity."""
    return replace(
        a,
        cost_usd=(a.cost_usd or Decimal(0)) + (b.cost_usd or Decimal(0)),
        amount_cents=(a.amount_cents or Decimal(0)) + (b.amount_cents or Decimal(0)),
        description=a.description
        if a.description == b.description
        else " / ".join(sorted({a.description or "", b.description or ""} - {""})) or None,
    )


def _unpriced_items(usage_by_day: Mapping[date, list[_UsageRow]], priced: list[CostItem]) -> list[CostItem]:
    """Usage with no cost row pricing it (priority tier, or anything Anthropic bills elsewhere): cost unknown."""
    priced_index: dict[tuple[date, str | None], list[tuple[str | None, ...]]] = defaultdict(list)
    for item in priced:
        metric, _ = _metric_for(item.cost_type, item.token_type)
        if metric is not None:
            priced_index[(item.date, metric)].append(
                (item.workspace_id, item.model, item.service_tier, item.context_window, item.inference_geo)
            )

    totals: dict[tuple, int] = defaultdict(int)
    for day, rows in usage_by_day.items():
        for usage in rows:
            for metric, cost_type, token_type in _usage_metrics():
                value = metric_value(usage.row, metric)
                if value and not any(_matches(c, usage.dims) for c in priced_index.get((day, metric), ())):
                    totals[(day, usage.dims, cost_type, token_type)] += value

    return [
        CostItem(
            date=day,
            workspace_id=dims[0],
            model=dims[1],
            cost_type=cost_type,
            token_type=token_type,
            service_tier=dims[2],
            context_window=dims[3],
            inference_geo=dims[4],
            cost_usd=None,
            amount_cents=None,
            quantity=quantity,
            unit=UNIT_REQUESTS if cost_type == "web_search" else UNIT_TOKENS,
            description=None,
        )
        for (day, dims, cost_type, token_type), quantity in totals.items()
    ]


def _usage_metrics() -> Iterable[tuple[str, str, str | None]]:
    for token_type in TOKEN_TYPES:
        yield token_type, "tokens", token_type
    yield WEB_SEARCH_METRIC, "web_search", None
