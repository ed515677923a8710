"""The read use cases: the cost report and the exports of a tenant, read from storage."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date

from pump_anthropic.domain import export, report
from pump_anthropic.domain.report import CostQuery
from pump_anthropic.logic import quotas
from pump_anthropic.logic.storage import Storage, dynamodb_storage


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
    who = bool(report.WHO_DIMENSIONS & set(query.group_by))
    rollups = storage.costs.iter_rollups(tenant, connection_ids, query.first_day, query.last_day, by_api_key=who)
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


def focus_export_lines(tenant: str, query: CostQuery, *, storage: Storage | None = None) -> Iterator[str]:
    """The tenant's FOCUS CSV lines over every connection, read from the table lazily."""
    storage = storage or dynamodb_storage()
    connections = storage.connections.list_connections(tenant)
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


def allocated_export_lines(tenant: str, query: CostQuery, *, storage: Storage | None = None) -> Iterator[str]:
    """The tenant's FOCUS CSV lines with cost allocated to API keys, from the per-key rollups."""
    storage = storage or dynamodb_storage()
    connections = storage.connections.list_connections(tenant)
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
