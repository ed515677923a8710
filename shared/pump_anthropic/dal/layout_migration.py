"""The one-shot move of a connection's data from the layout before day documents (one item per cost line in month
partitions, plus per-day rollups in the tenant's rollup partition) to day documents.

Idempotent and safe to interrupt: each month's days are written first (an unchanged day is not rewritten), then
that month's old items are deleted, so a re-run finishes what a stopped one left and changes nothing after that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from pump_anthropic.dal import cost_days
from pump_anthropic.dal.models import ConnectionModel, CostItemModel, RollupModel
from pump_anthropic.dal.purge import BACKFILL_REACH
from pump_anthropic.dal.table import batch_write, current_time, item_key, items_pk, months, rollups_pk, tenant_pk
from pump_anthropic.domain import day_docs
from pump_anthropic.domain.normalize import CostItem
from pump_anthropic.domain.rollups import parse_lines

OLD_ROLLUP_PREFIXES = ("DAY#", "KEYDAY#")


@dataclass
class MigrationFigures:
    days_written: int = 0
    days_unchanged: int = 0
    old_items_deleted: int = 0


def all_connections() -> Iterator[tuple[str, str]]:
    """(tenant_id, connection_id) of every connection in the table: a full scan, fine for a one-shot migration."""
    for model in ConnectionModel.scan(ConnectionModel.item_type == "connection"):
        yield model.tenant_id, model.connection_id


def migrate_connection(tenant_id: str, connection_id: str) -> MigrationFigures:
    figures = MigrationFigures()
    try:
        record = ConnectionModel.get(tenant_pk(tenant_id), f"CONN#{connection_id}", consistent_read=True)
    except ConnectionModel.DoesNotExist:
        return figures
    first_day = record.created_at.date() - BACKFILL_REACH
    for month in months(first_day, current_time().date() + timedelta(days=1)):
        items, item_keys = _old_items(tenant_id, connection_id, month)
        key_lines, rollup_keys = _old_rollups(tenant_id, connection_id, month)
        if not item_keys and not rollup_keys:
            continue
        desired = {
            day: day_docs.encode_day(
                day,
                {
                    day_docs.LINES: day_docs.line_rows(items.get(day, [])),
                    day_docs.KEYS: [line.to_json() for line in key_lines.get(day, [])],
                },
            )
            for day in set(items) | set(key_lines)
        }
        written = cost_days.apply_days(tenant_id, connection_id, desired)
        figures.days_written += written.written
        figures.days_unchanged += written.unchanged
        batch_write(deletes=item_keys + rollup_keys)
        figures.old_items_deleted += len(item_keys) + len(rollup_keys)
    return figures


def _old_items(tenant_id: str, connection_id: str, month: str) -> tuple[dict[date, list[CostItem]], list[dict]]:
    items: dict[date, list[CostItem]] = defaultdict(list)
    keys: list[dict] = []
    for m in CostItemModel.query(items_pk(tenant_id, connection_id, month), consistent_read=True):
        keys.append(item_key(m.pk, m.sk))
        items[date.fromisoformat(m.date)].append(
            CostItem(
                date=date.fromisoformat(m.date),
                workspace_id=m.workspace_id,
                model=m.model,
                cost_type=m.cost_type,
                token_type=m.token_type,
                service_tier=m.service_tier,
                context_window=m.context_window,
                inference_geo=m.inference_geo,
                cost_usd=m.cost_usd,
                amount_cents=m.amount_cents,
                quantity=int(m.quantity) if m.quantity is not None else None,
                unit=m.unit,
                description=m.description,
                currency=m.currency,
            )
        )
    return items, keys


def _old_rollups(tenant_id: str, connection_id: str, month: str) -> tuple[dict[date, list], list[dict]]:
    """The month's old per-key rollup lines of this connection, and the keys of every old rollup to delete."""
    key_lines: dict[date, list] = defaultdict(list)
    keys: list[dict] = []
    marker = f"#CONN#{connection_id}#"
    for prefix in OLD_ROLLUP_PREFIXES:
        query = RollupModel.query(
            rollups_pk(tenant_id),
            RollupModel.sk.between(f"{prefix}{month}-01", f"{prefix}{month}-31~"),
            consistent_read=True,
        )
        for m in query:
            if marker not in m.sk:
                continue
            keys.append(item_key(m.pk, m.sk))
            if prefix == "KEYDAY#":
                key_lines[date.fromisoformat(m.date)] += parse_lines(m.lines)
    return key_lines, keys
