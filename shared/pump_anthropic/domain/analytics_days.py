"""Days read from the Usage and Cost Analytics API, as the projections a day document stores. Pure.

Three query sets serve such a day (every one bucketed by UTC day, cost ones fanned out by cost and token type):
- `PRICE` (/cost by workspace, model, service tier, context window, speed): the day's cost items (`LINES`), each
  with its net amount (post-discount, pre-credit) and its list amount, priority tier included;
- `PRICE_USAGE` (/usage by the same dimensions): the token and web-search counts of those items;
- `WHO` (/cost by workspace, model, API key, actor, product): Anthropic's billed lines per key, person or service
  account and product (`WHO`), with the actors as the API describes them (`ACTORS`).
The Default workspace, a tagged id on this API, becomes None, as the legacy reports name it, so one workspace keeps
one series across the day sources switch. Each source's own model ids are kept as reported.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from pump_anthropic.domain.analytics_plan import Endpoint, Projection
from pump_anthropic.domain.normalize import CENTS_PER_DOLLAR, UNIT_REQUESTS, UNIT_TOKENS, CostItem
from pump_anthropic.domain.rollups import RollupLine

_PRICE_DIMENSIONS = frozenset({"workspace_id", "model", "service_tier", "context_window", "speed"})
PRICE = Projection("price", Endpoint.COST, _PRICE_DIMENSIONS, fan_out=True)
PRICE_USAGE = Projection("price_usage", Endpoint.USAGE, PRICE.dimensions)
WHO = Projection(
    "who", Endpoint.COST, frozenset({"workspace_id", "model", "api_key_id", "actor", "product"}), fan_out=True
)
QUERY_SETS = (PRICE, PRICE_USAGE, WHO)

# Day-document projections written for an analytics day (LINES is shared with legacy days).
WHO_LINES = "WHO"
ACTORS = "ACTORS"
WHO_LINE_DIMENSIONS = ("api_key_id", "actor", "product", "workspace_id", "model", "cost_type", "token_type")
# Usage with no API key behind it: the same bucket the legacy allocation calls the Console.
NO_API_KEY = "console"
_PRICE_JOIN = ("workspace_id", "model", "service_tier", "context_window", "speed")
SERVICE_ACCOUNT_NOTE = "Anthropic does not let an Admin key read service account names; shown by id."


def actor_key(actor: Any) -> str | None:
    """A stable id for an actor: its tagged id, or for a federated identity its provider and subject."""
    if actor is None:
        return None
    kind = actor.type
    if kind == "user_actor":
        return actor.user_id
    if kind == "service_account_actor":
        return actor.service_account_id
    if kind == "api_actor":
        return actor.api_key_id
    if kind == "federated_actor":
        provider = actor.provider
        where = provider.account_id or provider.subscription_id or provider.project_number or provider.issuer
        return f"federated:{provider.type}:{where or '-'}:{actor.subject or '-'}"
    return f"{kind}:{json.dumps(actor.model_dump(mode='json'), sort_keys=True)}"


def actor_entry(actor: Any) -> list:
    """[key, type, tagged id, display name, email, note]: what the report shows of an actor."""
    key, kind = actor_key(actor), actor.type
    if kind == "user_actor":
        return [key, kind, actor.user_id, actor.name, actor.email_address, None]
    if kind == "service_account_actor":
        return [key, kind, actor.service_account_id, None, None, SERVICE_ACCOUNT_NOTE]
    if kind == "api_actor":
        return [key, kind, actor.api_key_id, None, None, None]
    if kind == "federated_actor":
        return [key, kind, None, actor.subject, None, f"Federated identity ({actor.provider.type})"]
    return [key, kind, None, None, None, None]


def _usd(cents: Decimal) -> Decimal:
    return cents / CENTS_PER_DOLLAR


def _metric(usage: Any, path: str) -> int | None:
    node = usage
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return int(node)


def _quantity(usage: Any, cost_type: str | None, token_type: str | None) -> tuple[int | None, str | None]:
    if usage is None:
        return None, None
    if cost_type == "tokens" and token_type:
        return _metric(usage, token_type), UNIT_TOKENS
    if cost_type == "web_search":
        return _metric(usage, "server_tool_use.web_search_requests"), UNIT_REQUESTS
    return None, None


def _workspace(tagged: str | None, default_workspace_id: str | None) -> str | None:
    return None if tagged == default_workspace_id else tagged


def price_items(
    cost_rows: Iterable[Any], usage_rows: Iterable[Any], default_workspace_id: str | None
) -> list[CostItem]:
    """The cost items of PRICE rows, their quantities joined from PRICE_USAGE rows on every dimension."""
    usage_of: dict[tuple, Any] = {}
    for row in usage_rows:
        usage_of[(row.starting_at.date(), *(getattr(row.group, d) for d in _PRICE_JOIN))] = row.usage
    items: dict[tuple, CostItem] = {}
    for row in cost_rows:
        day, group, cost = row.starting_at.date(), row.group, row.cost
        usage = usage_of.get((day, *(getattr(group, d) for d in _PRICE_JOIN)))
        quantity, unit = _quantity(usage, group.cost_type, group.token_type)
        item = CostItem(
            date=day,
            workspace_id=_workspace(group.workspace_id, default_workspace_id),
            model=group.model,
            cost_type=group.cost_type,
            token_type=group.token_type,
            service_tier=group.service_tier,
            context_window=group.context_window,
            inference_geo=None,
            cost_usd=_usd(cost.amount),
            amount_cents=cost.amount,
            quantity=quantity,
            unit=unit,
            description=None,
            currency=cost.currency,
            list_cost_usd=_usd(cost.list_amount),
            speed=group.speed,
        )
        key = item.key  # (a computed property: once per row)
        previous = items.get(key)
        items[key] = item if previous is None else _merged(previous, item)
    return [items[key] for key in sorted(items)]


def _merged(a: CostItem, b: CostItem) -> CostItem:
    return replace(
        a,
        cost_usd=a.cost_usd + b.cost_usd,
        amount_cents=a.amount_cents + b.amount_cents,
        list_cost_usd=a.list_cost_usd + b.list_cost_usd,
        quantity=None if a.quantity is None and b.quantity is None else (a.quantity or 0) + (b.quantity or 0),
    )


def who_projections(
    cost_rows: Iterable[Any], default_workspace_id: str | None, price: Iterable[CostItem] = ()
) -> dict[date, dict[str, list[list]]]:
    """Per day: the WHO lines (billed cost and list cost per key, actor, product, workspace, model, cost and token
    type; the several null-actor rows Anthropic may send for one combination summed into one) and the ACTORS.

    Anthropic rounds each row's amounts, so the WHO rows of a (workspace, model, cost type, token type) can sum a few
    hundred-millionths of a dollar away from the PRICE rows of it. Given the day's `price` items, that residue is
    put on the cell's largest line, so that every breakdown adds up to the same total to the last decimal.
    """
    lines: dict[date, dict[tuple, RollupLine]] = defaultdict(dict)
    actors: dict[date, dict[str, list]] = defaultdict(dict)
    for row in cost_rows:
        day, group, cost = row.starting_at.date(), row.group, row.cost
        key = actor_key(group.actor)
        if key is not None:
            actors[day][key] = actor_entry(group.actor)
        dims = (
            group.api_key_id or NO_API_KEY,
            key,
            group.product,
            _workspace(group.workspace_id, default_workspace_id),
            group.model,
            group.cost_type,
            group.token_type,
        )
        _line(lines[day], dims).add(_usd(cost.amount), None, None, _usd(cost.list_amount))
    _reconcile(lines, price)
    out: dict[date, dict[str, list[list]]] = {}
    for day, day_lines in lines.items():
        ordered = [day_lines[k] for k in sorted(day_lines, key=_sort_key)]
        out[day] = {
            WHO_LINES: [line.to_json() for line in ordered],
            ACTORS: [actors[day][k] for k in sorted(actors[day])],
        }
    return out


def _line(lines: dict[tuple, RollupLine], dims: tuple) -> RollupLine:
    line = lines.get(dims)
    if line is None:
        line = lines[dims] = RollupLine(dims)
    return line


def _reconcile(lines: dict[date, dict[tuple, RollupLine]], price: Iterable[CostItem]) -> None:
    target: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for item in price:
        figures = target[(item.date, item.workspace_id, item.model, item.cost_type, item.token_type)]
        figures[0] += item.cost_usd or 0
        figures[1] += item.list_cost_usd or 0
    if not target:
        return
    cells: dict[tuple, list[RollupLine]] = defaultdict(list)
    for day, day_lines in lines.items():
        for dims, line in day_lines.items():
            cells[(day, *dims[3:])].append(line)
    for cell in set(target) | set(cells):
        want_cost, want_list = target.get(cell, (Decimal(0), Decimal(0)))
        members = cells.get(cell, [])
        cost_gap = want_cost - sum((m.cost_usd or 0 for m in members), Decimal(0))
        list_gap = want_list - sum((m.list_cost_usd or 0 for m in members), Decimal(0))
        if not cost_gap and not list_gap:
            continue
        if members:
            largest = max(members, key=lambda m: (abs(m.cost_usd or 0), _sort_key(m.dims)))
        else:
            largest = _line(lines[cell[0]], (NO_API_KEY, None, None, *cell[1:]))
        largest.add(cost_gap, None, None, list_gap)


def who_lines(rows: list[list]) -> list[RollupLine]:
    return [RollupLine.from_json(raw, len(WHO_LINE_DIMENSIONS)) for raw in rows]


def actors_by_key(rows: Iterable[list]) -> Mapping[str, list]:
    return {row[0]: row for row in rows}


def _sort_key(values: tuple) -> tuple:
    return tuple([(v is not None, v or "") for v in values])  # a list is built faster than a generator is drained
