"""The spend guard's use cases: budgets (set, read with their month's figures, delete), a tenant's alerts, and the
check the hourly sync runs once it has stored a connection's days.

Spend per scope and day is the cost report's own figure (logic/guard_spend.py: the stored days folded once, the same
lines summed the same way), so a budget's month-to-date is the figure GET /costs gives for the same scope,
connection and month, to the last decimal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from pump_anthropic.admin_api.analytics import AnalyticsClient
from pump_anthropic.clock import utc_now
from pump_anthropic.domain import alerts, budgets, price_alerts, report, report_pages, spend_limits
from pump_anthropic.domain.alerts import AlertRules, KeyFacts, Scope, ScopeSpend, SpendPicture
from pump_anthropic.domain.budgets import Budget, BudgetScope
from pump_anthropic.domain.report import CostQuery, parse_cost_query
from pump_anthropic.domain.spend_days import SpendSeries
from pump_anthropic.exceptions import AdminApiError, NotFoundError
from pump_anthropic.logic import quotas
from pump_anthropic.logic.guard_spend import check_window, spend_series
from pump_anthropic.logic.purge_fence import fence_out_purge
from pump_anthropic.logic.storage import Storage, dynamodb_storage

logger = logging.getLogger(__name__)

# Publishes a tenant's alerts as events; returns the ids it published.
Publish = Callable[[str, Sequence[dict]], list[str]]
# The scopes the anomaly rule watches.
WATCHED_SCOPES = ("api_key", "workspace", "actor")
NOT_FOUND = "No budget with this id; create it with PUT /budgets/{id}."
ORGANIZATION = BudgetScope("organization", None)
# The Spend Limits API's answers that mean "not for this key or organization" rather than a fault: 400
# organization_type_not_supported, 401/403 (the early-access gate), 404.
REFUSING_STATUSES = frozenset({400, 401, 403, 404})
# The days each check judges for price changes: today and the days before it the hourly sync re-reads by default.
PRICE_CHANGE_DAYS = 3


@dataclass(frozen=True)
class GuardOutcome:
    raised: int  # alerts new on this check
    published: int  # events put (new ones and any a failed check left unpublished)


def put_budget(tenant: str, budget_id: str, body: object, *, storage: Storage | None = None) -> dict:
    """Create or replace the budget; a budget moved to another connection leaves the old one's partition."""
    storage = storage or dynamodb_storage()
    quotas.take(storage, tenant, quotas.BUDGET_CHANGE)
    connection_ids = storage.connections.connection_ids(tenant)
    budget = budgets.parse_budget(budget_id, body, connection_ids)
    for connection_id in connection_ids:
        if connection_id != budget.connection_id:
            storage.guard.delete_budget(tenant, connection_id, budget_id)
    storage.guard.put_budget(tenant, budget.connection_id, budget_id, budget.as_dict())
    return _budget_bodies(tenant, [budget], storage)[0]


def get_budget(tenant: str, budget_id: str, *, storage: Storage | None = None) -> dict:
    storage = storage or dynamodb_storage()
    budgets.check_budget_id(budget_id)
    quotas.take(storage, tenant, quotas.READ, weight=2)
    document = storage.guard.get_budget(tenant, storage.connections.connection_ids(tenant), budget_id)
    if document is None:
        raise NotFoundError(NOT_FOUND)
    return _budget_bodies(tenant, [_budget(document)], storage)[0]


def list_budgets(tenant: str, *, storage: Storage | None = None) -> dict:
    storage = storage or dynamodb_storage()
    quotas.take(storage, tenant, quotas.READ, weight=2)
    stored = storage.guard.list_budgets(tenant, storage.connections.connection_ids(tenant))
    found = sorted((_budget(d) for d in stored), key=lambda b: (b.name.lower(), b.budget_id))
    return {"budgets": _budget_bodies(tenant, found, storage)}


def delete_budget(tenant: str, budget_id: str, *, storage: Storage | None = None) -> None:
    storage = storage or dynamodb_storage()
    budgets.check_budget_id(budget_id)
    quotas.take(storage, tenant, quotas.BUDGET_CHANGE)
    connection_ids = storage.connections.connection_ids(tenant)
    document = storage.guard.get_budget(tenant, connection_ids, budget_id)
    if document is None:
        raise NotFoundError(NOT_FOUND)
    storage.guard.delete_budget(tenant, document["connection_id"], budget_id)


def list_alerts(
    tenant: str,
    from_: str | None,
    to: str | None,
    connection_id: str | None,
    *,
    limit: str | None = None,
    page: str | None = None,
    storage: Storage | None = None,
) -> dict:
    """A page of the tenant's alerts detected between `from` and `to` (UTC days, inclusive; by default the 30 days
    to today, as GET /costs), newest first, optionally of one connection. Paged as GET /costs is: `limit`, and the
    opaque cursor `page` (bound to the tenant and the query; keyed by the last alert shown, so an alert raised
    between two requests never shifts a page)."""
    storage = storage or dynamodb_storage()
    query = parse_cost_query(from_, to, "", today=utc_now().date())
    # The cursor's fingerprint binds what it pages: the range, the connection filter, and the (detected_at, id) key.
    paged = CostQuery(query.first_day, query.last_day, (f"alerts:{connection_id or ''}", "id"))
    page_query = report_pages.parse_page_query(limit, page, paged, tenant=tenant)
    quotas.take(storage, tenant, quotas.READ)
    connection_ids = storage.connections.connection_ids(tenant)
    if connection_id is not None:
        if connection_id not in connection_ids:
            raise NotFoundError("No Anthropic connection with this id.")
        connection_ids = [connection_id]
    first, last = query.first_day.isoformat(), query.last_day.isoformat()
    found = [
        {k: v for k, v in a.items() if k != "published"}
        for a in storage.guard.list_alerts(tenant, connection_ids)
        if first <= a["detected_at"][:10] <= last
    ]
    found.sort(key=lambda a: (a["detected_at"], a["id"]), reverse=True)
    if page_query.after is not None:
        after = tuple(v or "" for v in page_query.after)
        found = [a for a in found if (a["detected_at"], a["id"]) < after]
    shown, size = found[: page_query.limit], 0
    for count, alert in enumerate(shown):
        size += len(json.dumps(json.dumps(alert)))
        if size > report_pages.MAX_PAGE_BYTES and count:
            shown = shown[:count]
            break
    has_more = len(shown) < len(found)
    cursor = (shown[-1]["detected_at"], shown[-1]["id"]) if has_more else None
    next_page = report_pages.encode_cursor(paged, cursor, tenant=tenant) if cursor else None
    return {"from": first, "to": last, "alerts": shown, "has_more": has_more, "next_page": next_page}


def check_connection(
    tenant: str,
    connection_id: str,
    publish: Publish,
    *,
    now: datetime | None = None,
    rules: AlertRules | None = None,
    storage: Storage | None = None,
) -> GuardOutcome:
    """Raise what holds for the connection as of now, store each new alert once, and publish every stored alert
    not yet published (a publish that failed on an earlier check is tried again here). A purge that took the
    connection meanwhile wins: what the check wrote is deleted (ConnectionDisconnectedError)."""
    storage = storage or dynamodb_storage()
    now = now or utc_now()
    rules = rules or AlertRules()
    today = now.date()
    key_names = storage.directory.api_key_names(tenant, [connection_id])
    first, _ = check_window(today, rules)
    spend = spend_series(tenant, connection_id, first, today, storage, keep=True, key_names=key_names)
    stored_budgets = [_budget(d) for d in storage.guard.list_budgets(tenant, [connection_id])]
    watched = [s for scope_type in WATCHED_SCOPES for s in spend.of(scope_type) if _watched(s.scope)]
    months = [(b, budgets.budget_month(b, spend.daily(b.scope), today), spend.name(b.scope)) for b in stored_budgets]
    _, rooms = _headrooms(tenant, connection_id, stored_budgets, spend, today, storage)
    picture = SpendPicture(
        connection_id=connection_id,
        now=now,
        spend=watched,
        keys={key_id: _key_facts(v) for key_id, v in key_names.items()},
        budgets=months,
        headrooms=rooms,
    )
    holding = alerts.raise_alerts(picture, rules) + _price_changes(connection_id, spend, now)
    raised = [a for a in holding if storage.guard.add_alert(tenant, connection_id, a.as_dict())]
    waiting = [a for a in storage.guard.list_alerts(tenant, [connection_id]) if not a.get("published")]
    published = publish(tenant, [{k: v for k, v in a.items() if k != "published"} for a in waiting]) if waiting else []
    for alert_id in published:
        storage.guard.mark_published(tenant, connection_id, alert_id)
    fence_out_purge(storage, tenant, connection_id, today, today)
    if len(published) < len(waiting):
        logger.error("alerts left unpublished", extra={"connection_id": connection_id,
                                                       "unpublished": len(waiting) - len(published)})  # fmt: skip
    return GuardOutcome(raised=len(raised), published=len(published))


def _price_changes(connection_id: str, spend: SpendSeries, now: datetime) -> list[alerts.Alert]:
    """The price changes of the days the sync re-reads (each judged against the days before it)."""
    today = now.date()
    first = today - timedelta(days=PRICE_CHANGE_DAYS)
    since = first - timedelta(days=price_alerts.LOOKBACK_DAYS)
    return price_alerts.changes_of(connection_id, spend.rate_lines(since, today), first, today, _detected(now))


def _detected(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def price_changes_over(
    tenant: str, connection_id: str, first_day: date, last_day: date, *, now: datetime | None = None,
    storage: Storage | None = None,
) -> list[alerts.Alert]:  # fmt: skip
    """The `price_change` alerts of [first_day, last_day] over the stored days (also a backtest of the rule)."""
    storage = storage or dynamodb_storage()
    since = first_day - timedelta(days=price_alerts.LOOKBACK_DAYS)
    spend = spend_series(tenant, connection_id, since, last_day, storage)
    return price_alerts.changes_of(connection_id, spend.rate_lines(since, last_day), first_day, last_day,
                                   _detected(now or utc_now()))  # fmt: skip


def refresh_spend_limits(storage: Storage, tenant: str, connection_id: str, client: AnalyticsClient) -> None:
    """Read the connection's spend limits from Anthropic and keep them (one request, two with a second page). A
    refusal (the API is in early access, or not for this organization's type) is kept as such: enforced budgets
    then stand in. A failure keeps the limits read before, marked unavailable, and never fails the sync."""
    read_at = utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        found = client.list_spend_limits()
    except AdminApiError as exc:
        status = getattr(exc, "status", None)
        if status in REFUSING_STATUSES:
            document = {"status": "refused", "read_at": read_at, "error_code": exc.code, "limits": []}
        else:
            before = storage.guard.get_spend_limits(tenant, connection_id) or {}
            document = {**before, "status": "unavailable", "error_code": exc.code, "limits": before.get("limits", [])}
            logger.warning("spend limits not read", extra={"connection_id": connection_id, "error_code": exc.code})
        storage.guard.put_spend_limits(tenant, connection_id, {"read_at": read_at, **document})
        return
    limits = [limit.model_dump() for limit in found]
    storage.guard.put_spend_limits(tenant, connection_id, {"status": "ok", "read_at": read_at, "limits": limits})


def connection_spend_limits(tenant: str, connection_id: str, *, storage: Storage | None = None) -> dict:
    """The `spend_limits` of GET /integrations/anthropic/{id}: each limit's current period with the spend against it
    and the day it is projected to be reached; enforced budgets stand in where Anthropic's can't be read."""
    storage = storage or dynamodb_storage()
    today = utc_now().date()
    reader = spend_series(tenant, connection_id, *check_window(today), storage)  # every limit's period and run-rate
    stored_budgets = [_budget(d) for d in storage.guard.list_budgets(tenant, [connection_id])]
    read, rooms = _headrooms(tenant, connection_id, stored_budgets, reader, today, storage)
    return {
        "status": read.get("status", "not_read"),
        "read_at": read.get("read_at"),
        "error_code": read.get("error_code"),
        "limits": [room.as_dict() for room in rooms],
    }


def _headrooms(
    tenant: str,
    connection_id: str,
    stored_budgets: Sequence[Budget],
    spend: SpendSeries,
    today: date,
    storage: Storage,
) -> tuple[dict, list[spend_limits.Headroom]]:
    read = storage.guard.get_spend_limits(tenant, connection_id) or {}
    limits = spend_limits.limits_of(read, storage.directory.default_workspace(tenant, connection_id))
    if read.get("status") != "ok":
        limits += spend_limits.standing_in(stored_budgets)
    rooms = []
    for limit in limits:
        scope = BudgetScope("workspace", limit.workspace_id) if limit.scope_type == "workspace" else ORGANIZATION
        rooms.append(spend_limits.headroom(limit, spend.daily(scope), today))
    return read, rooms


def spend_history(
    tenant: str, connection_id: str, first_day: date, last_day: date, *, storage: Storage | None = None
) -> list[ScopeSpend]:
    """The daily spend of every scope the anomaly rule watches, over a range (for backtesting the rule)."""
    spend = spend_series(tenant, connection_id, first_day, last_day, storage or dynamodb_storage())
    return [s for scope_type in WATCHED_SCOPES for s in spend.of(scope_type) if _watched(s.scope)]


def _watched(scope: Scope) -> bool:
    """The anomaly rule watches keys, workspaces (the Default one too) and people, not the buckets of spend with no
    key (Console, unattributed)."""
    if scope.type == "api_key":
        return scope.id is not None and scope.id not in report.SPECIAL_KEY_BUCKETS
    return scope.id is not None or scope.type == "workspace"


def _budget_bodies(tenant: str, found: Sequence[Budget], storage: Storage) -> list[dict]:
    """The API bodies of budgets, each with its month's figures as of today, reading each connection's spend once
    per scope type."""
    today = utc_now().date()
    readers: dict[str, SpendSeries] = {}
    crossed_at: dict[str, dict[int, str]] = {}
    month = budgets.month_of(today)
    for budget in found:
        if budget.connection_id not in readers:
            readers[budget.connection_id] = spend_series(tenant, budget.connection_id, *check_window(today), storage)
            for alert in storage.guard.list_alerts(tenant, [budget.connection_id]):
                if alert["kind"] == "budget_threshold" and alert["window"]["from"].startswith(month):
                    crossed_at.setdefault(alert.get("budget_id") or "", {})[alert["threshold"]] = alert["detected_at"]
    bodies = []
    for budget in found:
        reader = readers[budget.connection_id]
        figures = budgets.budget_month(budget, reader.daily(budget.scope), today)
        bodies.append(budgets.budget_body(budget, figures, crossed_at.get(budget.budget_id, {})))
    return bodies


def _budget(document: Mapping) -> Budget:
    scope = document["scope"]
    return Budget(
        budget_id=document["id"],
        name=document["name"],
        connection_id=document["connection_id"],
        scope=BudgetScope(scope["type"], scope["id"]),
        monthly_usd=Decimal(document["monthly_usd"]),
        thresholds=tuple(document["thresholds"]),
        enforced=bool(document.get("enforced", False)),
    )


def _key_facts(stored: Mapping) -> KeyFacts:
    created = stored.get("created_at")
    try:
        created_at = datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None
    except ValueError:
        created_at = None
    return KeyFacts(status=stored.get("status"), created_at=created_at)
