"""Reconcile a month: the stored total (GET /costs' own figure) beside Anthropic's cost report read fresh.

For each connection, the month's days (to today) are read again from the source each was stored from, through the
same client, retries and request gate as the sync: analytics days with the very query the sync stores them from
(`/cost` by the price grain, daily, fanned out by cost and token type: summing the same rows, the totals agree to the
digit), legacy days with the legacy cost report (by workspace and description, as the sync reads it) and the legacy
usage report by service tier for their priority-tier tokens. The lines, sums and status are
`domain/reconciliation.py`'s; the key is read by a name derived from the connection id, never from the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal

from pydantic import SecretStr

from pump_anthropic.adapters.secret_store import SecretStore
from pump_anthropic.clock import utc_now
from pump_anthropic.domain import analytics_days
from pump_anthropic.domain import reconciliation as recon
from pump_anthropic.domain.calendar import day_start
from pump_anthropic.domain.cost_query import CostQuery
from pump_anthropic.domain.normalize import COST_GROUP_BY, TOKEN_TYPES, UNPRICED_TIERS, cents_to_usd, metric_value
from pump_anthropic.domain.records import ConnectionRecord
from pump_anthropic.exceptions import ConflictError, NotFoundError, PumpError
from pump_anthropic.logic import quotas, read, sources
from pump_anthropic.logic.pull import ClientFactory
from pump_anthropic.logic.storage import Storage, dynamodb_storage

# Each connection reconciled reads a month from Anthropic (two to five requests, more for a large org's pages)
# with the org's own rate limit: a tenant may reconcile this many connection-months a minute.
RECONCILE = quotas.Quota("reconcile", 10, timedelta(minutes=1), "connection reconciliations")
CODE_EXECUTION = "code_execution"
PRIORITY_USAGE_GROUP_BY = ("service_tier",)
KEY_REVOKED = (
    "Anthropic no longer accepts this connection's Admin key (it was deleted or lost access), so its figures can't "
    "be read to reconcile. Create a new Admin key and reconnect."
)


def reconcile_month(
    tenant: str,
    month: str | None,
    connection_id: str | None,
    *,
    secrets: SecretStore,
    client_factory_for: Callable[[str], ClientFactory],
    deadline: float | None,
    windows: Mapping[str, int],
    source_setting: str = sources.AUTO,
    storage: Storage | None = None,
) -> dict:
    """The GET /costs/reconciliation body of `month` (YYYY-MM) over one connection or every active one.

    `client_factory_for(connection_id)` is that connection's client factory (held to its request rate); `windows`
    are the restatement windows by source ({"legacy": days, "analytics": days}) GET /costs marks provisional days by.
    """
    storage = storage or dynamodb_storage()
    now = utc_now()
    today = now.date()
    first, last_of_month = recon.parse_month(month, today=today)
    last = min(last_of_month, today)
    connections = _connections(storage, tenant, connection_id)
    quotas.take(storage, tenant, RECONCILE, weight=max(1, len(connections)))
    figures = [
        _connection_figures(
            storage, tenant, record, first, last, now,
            secrets=secrets, client_factory=client_factory_for(record.connection_id), deadline=deadline,
            windows=windows, source_setting=source_setting,
        )
        for record in connections
    ]  # fmt: skip
    return recon.reconciliation_body(f"{first:%Y-%m}", connection_id, figures, now)


def _connections(storage: Storage, tenant: str, connection_id: str | None) -> list[ConnectionRecord]:
    if connection_id is None:
        return [c for c in storage.connections.list_connections(tenant) if c.status == "active"]
    if connection_id not in storage.connections.connection_ids(tenant):
        raise NotFoundError("No Anthropic connection with this id.")
    record = storage.connections.get_connection(tenant, connection_id)
    if record is None:
        raise NotFoundError("No Anthropic connection with this id.")
    if record.status != "active":
        raise ConflictError(
            f"This connection is {record.status}: only an active connection's figures can be read from Anthropic to "
            "reconcile.",
            code="connection_not_active",
        )
    return [record]


def _connection_figures(
    storage: Storage,
    tenant: str,
    record: ConnectionRecord,
    first: date,
    last: date,
    now: datetime,
    *,
    secrets: SecretStore,
    client_factory: ClientFactory,
    deadline: float | None,
    windows: Mapping[str, int],
    source_setting: str,
) -> recon.ConnectionFigures:
    cid = record.connection_id
    report = read.connections_report(tenant, CostQuery(first, last, ("date", "cost_type")), [cid], storage=storage)
    stored = recon.Figures()
    for row in report["rows"]:
        if row["cost_usd"] is not None:
            day = date.fromisoformat(row["date"])
            stored.add(day, Decimal(row["cost_usd"]), code_execution=row.get("cost_type") == CODE_EXECUTION)
    analytics_from = sources.analytics_first_day(now)

    def default(day: date) -> str:
        reads_analytics = source_setting != sources.LEGACY and day >= analytics_from
        return recon.ANALYTICS if reads_analytics else recon.LEGACY

    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    day_sources = recon.day_sources_of(
        days, _days_of(report["sources"]), _days_of(_recorded_sources(record)), default=default
    )
    runs = recon.source_runs(day_sources)
    anthropic, priority = recon.Figures(), {}
    try:
        # Named from the connection id, never from a field of the table someone could point elsewhere.
        key = secrets.get(secrets.secret_name(cid))
        for run in runs:
            if run.source == recon.ANALYTICS:
                _read_analytics(anthropic, key, client_factory, deadline, run, now)
            else:
                _read_legacy(anthropic, priority, key, client_factory, deadline, run)
    except PumpError as exc:
        if exc.revokes_connection:
            raise ConflictError(KEY_REVOKED, code="key_revoked") from None
        raise
    total = report["total"]["cost_usd"]
    return recon.ConnectionFigures(
        connection_id=cid,
        organization_name=record.organization_name,
        status=record.status,
        runs=tuple(runs),
        stored_usd=Decimal(total) if total is not None else Decimal(0),
        stored=stored,
        anthropic=anthropic,
        priority_tokens=priority,
        provisional=recon.provisional_days(day_sources, now.date(), windows),
    )


def _read_analytics(
    figures: recon.Figures,
    key: SecretStr,
    client_factory: ClientFactory,
    deadline: float | None,
    run: recon.SourceRun,
    now: datetime,
) -> None:
    """The run's analytics cost with the sync's own price query (the same rows the stored days were built from)."""
    planned = sources.analytics_plan(run.first_day, run.last_day + timedelta(days=1), now).queries
    price = [p.query for p in planned if analytics_days.PRICE.name in p.serves]
    with client_factory(key, deadline) as client:
        for query in price:
            for page in client.iter_cost_pages(query):
                for row in page.data:
                    day = row.starting_at.date()
                    if run.first_day <= day <= run.last_day:
                        code = row.group.cost_type == CODE_EXECUTION
                        figures.add(day, row.cost.amount_usd, code_execution=code)


def _read_legacy(
    figures: recon.Figures,
    priority: dict[date, int],
    key: SecretStr,
    client_factory: ClientFactory,
    deadline: float | None,
    run: recon.SourceRun,
) -> None:
    """The run's legacy cost report (as the sync reads it) and its priority-tier tokens from the usage report."""
    start, end = day_start(run.first_day), day_start(run.last_day + timedelta(days=1))
    with client_factory(key, deadline) as client:
        for bucket in client.iter_cost_report(start, end, COST_GROUP_BY):
            day = bucket.starting_at.date()
            if run.first_day <= day <= run.last_day:
                for row in bucket.results:
                    code = row.get("cost_type") == CODE_EXECUTION
                    figures.add(day, cents_to_usd(str(row.get("amount") or "0")), code_execution=code)
        for bucket in client.iter_usage_report(start, end, PRIORITY_USAGE_GROUP_BY):
            day = bucket.starting_at.date()
            if run.first_day <= day <= run.last_day:
                tokens = sum(
                    metric_value(row, metric) or 0
                    for row in bucket.results
                    if row.get("service_tier") in UNPRICED_TIERS
                    for metric in TOKEN_TYPES
                )
                if tokens:
                    priority[day] = priority.get(day, 0) + tokens


def _recorded_sources(record: ConnectionRecord) -> list[dict]:
    """The source ranges the backfill's chunks and the latest sync recorded, merged (a later record of a day wins)."""
    ranges: list[dict] = []
    for chunk in sorted(record.chunks, key=lambda c: c.start):
        ranges += (chunk.source or {}).get("sources") or []
    ranges += (record.last_sync or {}).get("sources") or []
    return sources.source_coverage(ranges)


def _days_of(ranges: list[dict]) -> dict[date, str]:
    out: dict[date, str] = {}
    for entry in ranges:
        day, last = date.fromisoformat(entry["from"]), date.fromisoformat(entry["to"])
        while day <= last:
            out[day] = entry["source"]
            day += timedelta(days=1)
    return out
