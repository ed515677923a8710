"""The read use cases: the cost report and the exports of a tenant, read from storage."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta

from pump_anthropic.domain import export, month_summary, report, report_pages
from pump_anthropic.domain.month_summary import GRAIN_DAY_TOTALS, GRAIN_LINES
from pump_anthropic.domain.records import ConnectionRecord
from pump_anthropic.domain.report import CostQuery
from pump_anthropic.domain.report_pages import PageQuery
from pump_anthropic.exceptions import NoHourlyDataError
from pump_anthropic.logic import quotas
from pump_anthropic.logic.storage import Storage, dynamodb_storage

# The first read of a date-led page covers this many days; later reads aim at the rows the page still lacks.
DAYS_PER_PAGE_READ = 7


def cost_report(
    tenant: str,
    query: CostQuery,
    *,
    today: date | None = None,
    restatement_days: Mapping[str, int] | None = None,
    storage: Storage | None = None,
) -> dict:
    """The GET /costs body; with `today`, days Anthropic may still revise are marked provisional."""
    storage = storage or dynamodb_storage()
    connection_ids = storage.connections.connection_ids(tenant)
    return _report(tenant, query, connection_ids, storage, today=today, restatement_days=restatement_days)


def cost_report_page(
    tenant: str,
    query: CostQuery,
    page: PageQuery,
    *,
    today: date | None = None,
    restatement_days: Mapping[str, int] | None = None,
    storage: Storage | None = None,
) -> dict:
    """One page of the GET /costs body, reading what the page needs.

    A report grouped by date first and more (the large ones: up to ~164k rows a year) is read a few days at a time
    from the cursor's day on, until the page is full; its total, sources and settled day come from one pass over the
    range at the month-summary grain, so every page carries the same total at the cost of a few months' summaries.
    Any other report is small, and is built whole from the month summaries and paged."""
    storage = storage or dynamodb_storage()
    quotas.take(storage, tenant, quotas.READ, weight=report_pages.read_weight(query, page))
    connection_ids = storage.connections.connection_ids(tenant)
    windows = {"today": today, "restatement_days": restatement_days}
    if report.read_grain(query) != GRAIN_LINES or query.group_by[0] != "date" or "hour" in query.group_by:
        return report_pages.page_of_report(_report(tenant, query, connection_ids, storage, **windows), query, page)
    # The range's total at the month grain, summed from the same lines the rows are (by who, when rows are by who).
    who = tuple(d for d in query.group_by if d in report.WHO_DIMENSIONS)[:1]
    overall = _report(tenant, replace(query, group_by=who), connection_ids, storage, **windows)
    report.check_sources_combinable(query, overall["sources"])
    first = query.first_day if page.after is None else report_pages.cursor_day(page, query)
    rows: list[dict] = []
    read_from, days_per_read = first, DAYS_PER_PAGE_READ
    while first <= query.last_day:
        last = min(first + timedelta(days=days_per_read - 1), query.last_day)
        part = _report(tenant, replace(query, first_day=first, last_day=last), connection_ids, storage, **windows)
        rows += report_pages.rows_after(part["rows"], query, page.after)
        if len(rows) > page.limit:
            break
        first = last + timedelta(days=1)
        # Aim the next read at what the page still lacks, from the rows a day has given so far.
        rows_per_day = max(1, len(rows) // ((last - read_from).days + 1))
        days_per_read = max(1, min(31, (page.limit - len(rows)) // rows_per_day + 1))
    return report_pages.page_of_report({**overall, "group_by": list(query.group_by), "rows": rows}, query,
                                 replace(page, after=None))  # fmt: skip


def connections_report(tenant: str, query: CostQuery, connection_ids: list[str], *, storage: Storage) -> dict:
    """The report over some of the tenant's connections, no quota taken: for the spend guard's own reads."""
    return _report(tenant, query, connection_ids, storage, today=None, restatement_days=None)


def _report(
    tenant: str,
    query: CostQuery,
    connection_ids: list[str],
    storage: Storage,
    *,
    today: date | None,
    restatement_days: Mapping[str, int] | None,
) -> dict:
    who = bool(report.WHO_DIMENSIONS & set(query.group_by))
    if "hour" in query.group_by:
        rollups = list(storage.hours.iter_hour_rollups(tenant, connection_ids, query.first_day, query.last_day))
        if not rollups:
            raise NoHourlyDataError(
                "No hourly cost for this range: the sync reads cost hour by hour for yesterday and today (UTC) "
                "on days read from Anthropic's analytics API; ask for those days, or group by date."
            )
    else:
        grain = report.read_grain(query)
        if grain != GRAIN_DAY_TOTALS:  # the lines need keep only what the rows are grouped by
            grain = month_summary.with_dimensions(grain, month_summary.read_dimensions(query.group_by))
        rollups = storage.costs.iter_rollups(
            tenant, connection_ids, query.first_day, query.last_day, by_api_key=who, grain=grain
        )
    names = storage.directory.workspace_names(tenant, connection_ids) if "workspace_id" in query.group_by else {}
    key_names = storage.directory.api_key_names(tenant, connection_ids) if who else {}
    return report.build_cost_report(query, rollups, names, key_names, today=today, restatement_days=restatement_days)


def export_lines(tenant: str, query: CostQuery, *, by_api_key: bool, storage: Storage | None = None) -> Iterator[str]:
    """The FOCUS export of a range (allocated to API keys with `by_api_key`), counted against the tenant's quota."""
    storage = storage or dynamodb_storage()
    quotas.take(storage, tenant, quotas.EXPORT)
    if by_api_key:
        return allocated_export_lines(tenant, query, storage=storage)
    return focus_export_lines(tenant, query, storage=storage)


def focus_export_lines(
    tenant: str,
    query: CostQuery,
    *,
    storage: Storage | None = None,
    connections: Sequence[ConnectionRecord] | None = None,
) -> Iterator[str]:
    """The tenant's FOCUS CSV lines over every connection (or the `connections` given), read from the table
    lazily."""
    storage = storage or dynamodb_storage()
    connections = storage.connections.list_connections(tenant) if connections is None else connections
    names = storage.directory.workspace_names(tenant, [c.connection_id for c in connections])
    sources = (
        export.ConnectionItems(
            c.organization_id,
            c.organization_name,
            storage.costs.iter_cost_items(tenant, c.connection_id, query.first_day, query.last_day),
        )
        for c in connections
    )
    return export.focus_csv_lines(sources, names)


def allocated_export_lines(
    tenant: str,
    query: CostQuery,
    *,
    storage: Storage | None = None,
    connections: Sequence[ConnectionRecord] | None = None,
) -> Iterator[str]:
    """The tenant's FOCUS CSV lines with cost allocated to API keys (over every connection, or the `connections`
    given), from the per-key rollups."""
    storage = storage or dynamodb_storage()
    connections = storage.connections.list_connections(tenant) if connections is None else connections
    ids = [c.connection_id for c in connections]
    names, key_names = storage.directory.workspace_names(tenant, ids), storage.directory.api_key_names(tenant, ids)
    rollups = list(storage.costs.iter_rollups(tenant, ids, query.first_day, query.last_day, by_api_key=True))
    sources = (
        export.ConnectionKeyLines(
            c.organization_id, c.organization_name, (r for r in rollups if r.connection_id == c.connection_id)
        )
        for c in connections
    )

    def label(key: str) -> tuple[str, str]:
        name, _hint, method = report.api_key_label(key, key_names)
        return name, method

    return export.allocated_focus_csv_lines(sources, names, label)
