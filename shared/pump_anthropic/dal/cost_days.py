"""Cost days: the cost items and rollups of each day, replaced whole, and the sync cursor."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date

from pynamodb.exceptions import UpdateError

from pump_anthropic.dal.models import CostItemModel, RollupModel, SyncStateModel
from pump_anthropic.dal.table import (
    batch_write,
    condition_failed,
    connection_pk,
    diff_into,
    existing_items,
    items_pk,
    months,
    rollups_pk,
    storage_error,
)
from pump_anthropic.domain.allocation import KeyShare
from pump_anthropic.domain.normalize import CostItem
from pump_anthropic.domain.records import DayWriteFigures, StoredRollup
from pump_anthropic.domain.rollups import (
    KEY_LINE_DIMENSIONS,
    LINE_DIMENSIONS,
    Rollup,
    build_key_rollups,
    build_rollups,
    parse_lines,
)

ROLLUP_PREFIX = "DAY#"


KEY_ROLLUP_PREFIX = "KEYDAY#"


def get_sync_cursor(tenant_id: str, connection_id: str) -> date | None:
    try:
        state = SyncStateModel.get(connection_pk(tenant_id, connection_id), "SYNC", consistent_read=True)
    except SyncStateModel.DoesNotExist:
        return None
    return date.fromisoformat(state.cursor) if state.cursor else None


def advance_sync_cursor(tenant_id: str, connection_id: str, cursor: date) -> None:
    """Move the cursor forward only (a slower concurrent writer never moves it back)."""
    state = SyncStateModel(connection_pk(tenant_id, connection_id), "SYNC")
    try:
        state.update(
            actions=[SyncStateModel.cursor.set(cursor.isoformat()), SyncStateModel.item_type.set("sync_state")],
            condition=SyncStateModel.cursor.does_not_exist() | (SyncStateModel.cursor < cursor.isoformat()),
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise storage_error(exc) from exc


def _cost_item_model(tenant_id: str, connection_id: str, item: CostItem) -> CostItemModel:
    return CostItemModel(
        items_pk(tenant_id, connection_id, item.date.strftime("%Y-%m")),
        f"ITEM#{item.date.isoformat()}#{item.item_id}",
        item_type="cost_item",
        date=item.date.isoformat(),
        item_id=item.item_id,
        workspace_id=item.workspace_id,
        model=item.model,
        cost_type=item.cost_type,
        token_type=item.token_type,
        service_tier=item.service_tier,
        context_window=item.context_window,
        inference_geo=item.inference_geo,
        cost_usd=item.cost_usd,
        amount_cents=item.amount_cents,
        quantity=item.quantity,
        unit=item.unit,
        description=item.description,
        currency=item.currency,
    )


def _rollup_model(tenant_id: str, connection_id: str, rollup: Rollup, prefix: str = ROLLUP_PREFIX) -> RollupModel:
    return RollupModel(
        rollups_pk(tenant_id),
        f"{prefix}{rollup.date.isoformat()}#CONN#{connection_id}#P{rollup.part:02d}",
        item_type="rollup",
        date=rollup.date.isoformat(),
        connection_id=connection_id,
        lines=rollup.lines_json(),
    )


def replace_days(
    tenant_id: str,
    connection_id: str,
    first_day: date,
    last_day: date,
    items: Iterable[CostItem],
    key_shares: Iterable[KeyShare] = (),
) -> DayWriteFigures:
    """Make the stored items and rollups of [first_day, last_day] equal `items`.

    Writes only what changed and deletes what vanished (Anthropic restates recent days), so re-running a chunk
    leaves the table identical and a quiet re-pull costs reads, not writes. `key_shares` (the per-API-key
    allocation of `items`) become the days' API-key rollups.
    """
    items = [i for i in items if first_day <= i.date <= last_day]
    desired = {m.sk: m.serialize() for m in (_cost_item_model(tenant_id, connection_id, i) for i in items)}
    figures = DayWriteFigures()
    puts: list[dict] = []
    deletes: list[dict] = []
    for month in months(first_day, last_day):
        pk = items_pk(tenant_id, connection_id, month)
        existing = existing_items(pk, f"ITEM#{first_day.isoformat()}", f"ITEM#{last_day.isoformat()}~")
        diff_into(pk, {k: v for k, v in desired.items() if k[5:12] == month}, existing, puts, deletes, figures)

    for prefix, rollups in (
        (ROLLUP_PREFIX, build_rollups(items)),
        (KEY_ROLLUP_PREFIX, build_key_rollups(s for s in key_shares if first_day <= s.item.date <= last_day)),
    ):
        desired_rollups = {
            m.sk: m.serialize() for m in (_rollup_model(tenant_id, connection_id, r, prefix) for r in rollups)
        }
        existing_rollups = {
            sk: raw
            for sk, raw in existing_items(
                rollups_pk(tenant_id), f"{prefix}{first_day.isoformat()}", f"{prefix}{last_day.isoformat()}~"
            ).items()
            if f"#CONN#{connection_id}#" in sk
        }
        diff_into(rollups_pk(tenant_id), desired_rollups, existing_rollups, puts, deletes, DayWriteFigures())
    batch_write(puts=puts, deletes=deletes)
    return figures


def iter_cost_items(tenant_id: str, connection_id: str, first_day: date, last_day: date) -> Iterator[CostItem]:
    for month in months(first_day, last_day):
        query = CostItemModel.query(
            items_pk(tenant_id, connection_id, month),
            CostItemModel.sk.between(f"ITEM#{first_day.isoformat()}", f"ITEM#{last_day.isoformat()}~"),
        )
        for m in query:
            yield CostItem(
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


def iter_rollups(
    tenant_id: str, first_day: date, last_day: date, *, by_api_key: bool = False
) -> Iterator[StoredRollup]:
    """The tenant's rollups of [first_day, last_day]: cost lines, or with `by_api_key` the per-key lines."""
    prefix, dimensions = (KEY_ROLLUP_PREFIX, KEY_LINE_DIMENSIONS) if by_api_key else (ROLLUP_PREFIX, LINE_DIMENSIONS)
    query = RollupModel.query(
        rollups_pk(tenant_id),
        RollupModel.sk.between(f"{prefix}{first_day.isoformat()}", f"{prefix}{last_day.isoformat()}~"),
    )
    for m in query:
        yield StoredRollup(date.fromisoformat(m.date), m.connection_id, dimensions, parse_lines(m.lines))
