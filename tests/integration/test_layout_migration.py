"""The one-shot migration to day documents: old-layout data reads the same afterwards, and a re-run changes nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from pump_anthropic.dal import cost_days, table
from pump_anthropic.dal.models import CostItemModel, RollupModel
from pump_anthropic.dal.table import batch_write, item_key, items_pk, rollups_pk
from pump_anthropic.domain import day_docs
from pump_anthropic.domain.rollups import build_rollups
from pump_anthropic.logic import migrate
from tests.support.stack import costs, stored_data

pytestmark = pytest.mark.network
TENANT = "local"


def rewrite_in_the_old_layout(connection_id: str, first: date, last: date) -> None:
    """What the table held before day documents: one item per cost line, per-day rollups, no day documents."""
    old, doomed = [], []
    for day, projections in cost_days.iter_days(TENANT, connection_id, first, last):
        items = [day_docs.item_of(day, row) for row in projections.get(day_docs.LINES, [])]
        for item in items:
            old.append(
                CostItemModel(
                    items_pk(TENANT, connection_id, day.strftime("%Y-%m")),
                    f"ITEM#{day.isoformat()}#{item.item_id}",
                    item_type="cost_item",
                    date=day.isoformat(),
                    item_id=item.item_id,
                    **{f: getattr(item, f) for f in ("workspace_id", "model", "cost_type", "token_type")},
                    **{f: getattr(item, f) for f in ("service_tier", "context_window", "inference_geo")},
                    **{f: getattr(item, f) for f in ("cost_usd", "amount_cents", "quantity", "unit")},
                    description=item.description,
                    currency=item.currency,
                ).serialize()
            )
        key_lines = day_docs.projection(projections, day_docs.KEYS)
        for prefix, lines in (
            ("DAY#", [line.to_json() for rollup in build_rollups(items) for line in rollup.lines]),
            ("KEYDAY#", key_lines),
        ):
            if lines:
                old.append(
                    RollupModel(
                        rollups_pk(TENANT),
                        f"{prefix}{day.isoformat()}#CONN#{connection_id}#P00",
                        item_type="rollup",
                        date=day.isoformat(),
                        connection_id=connection_id,
                        lines=json.dumps(lines, separators=(",", ":")),
                    ).serialize()
                )
        doomed.append(item_key(cost_days.days_pk(TENANT, connection_id, day.strftime("%Y-%m")), f"DAY#{day}"))
    batch_write(puts=old, deletes=doomed)


def test_old_layout_data_reads_the_same_after_the_migration_and_a_rerun_changes_nothing(stack):
    connection = stack.wait_settled(stack.connect().json()["id"])
    first, last = date.fromisoformat(connection["backfill"]["from"]), date.fromisoformat(connection["backfill"]["to"])
    before = [costs(stack, str(first), str(last)), costs(stack, str(first), str(last), "api_key_id,date,model")]
    old_first = first + timedelta(days=40)
    rewrite_in_the_old_layout(connection["id"], old_first, old_first + timedelta(days=45))
    assert {i["item_type"]["S"] for i in table.raw_items()} >= {"cost_item", "rollup"}
    assert costs(stack, str(first), str(last)) != before[0]  # the old items are invisible until migrated

    totals = migrate.migrate_layout()

    assert totals["connections"] == 1 and totals["days_written"] == 46 and totals["old_items_deleted"] > 0
    assert not [i for i in table.raw_items() if i["item_type"]["S"] in {"cost_item", "rollup"}]
    after = [costs(stack, str(first), str(last)), costs(stack, str(first), str(last), "api_key_id,date,model")]
    assert after == before
    snapshot = stored_data()
    assert migrate.migrate_layout() == {**totals, "days_written": 0, "days_unchanged": 0, "old_items_deleted": 0}
    assert stored_data() == snapshot
    assert len([i for i in table.raw_items() if i["item_type"]["S"] == "day"]) == (last - first).days + 1
