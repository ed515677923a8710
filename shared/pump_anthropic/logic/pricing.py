"""The pricing use cases: the rate card derived from the bill and the cache savings of a tenant, read from storage."""

from __future__ import annotations

from collections.abc import Iterator

from pump_anthropic.domain import rates, savings
from pump_anthropic.domain.normalize import CostItem
from pump_anthropic.domain.report import CostQuery
from pump_anthropic.logic import quotas
from pump_anthropic.logic.storage import Storage, dynamodb_storage


def rate_card(tenant: str, query: CostQuery, *, storage: Storage | None = None) -> dict:
    """The GET /costs/rates body (counted against the read quota like GET /costs by date)."""
    storage = storage or dynamodb_storage()
    rates.check_rate_group_by(query)
    return rates.rate_card(query, *_read(tenant, query, storage))


def cache_savings(tenant: str, query: CostQuery, *, storage: Storage | None = None) -> dict:
    """The GET /costs/savings body (counted against the read quota like GET /costs by date)."""
    storage = storage or dynamodb_storage()
    savings.check_savings_group_by(query)
    return savings.cache_savings(query, *_read(tenant, query, storage))


def _read(tenant: str, query: CostQuery, storage: Storage) -> tuple[Iterator[tuple[str, CostItem]], dict[str, str]]:
    """The tenant's cost items of the range, lazily, with each one's connection; and the workspace names if needed."""
    days = (query.last_day - query.first_day).days + 1
    quotas.take(storage, tenant, quotas.READ, weight=1 + days // 7)
    connection_ids = storage.connections.connection_ids(tenant)
    names = storage.directory.workspace_names(tenant, connection_ids) if "workspace_id" in query.group_by else {}
    items = (
        (connection_id, item)
        for connection_id in connection_ids
        for item in storage.costs.iter_cost_items(tenant, connection_id, query.first_day, query.last_day)
    )
    return items, names
