"""Operations: move every connection's stored costs to day documents (run once after deploying this layout)."""

from __future__ import annotations

import logging

from pump_anthropic.dal import layout_migration

logger = logging.getLogger(__name__)


def migrate_layout() -> dict[str, int]:
    """Migrate every connection; idempotent, so a stopped or repeated run is harmless. Returns the totals."""
    totals = {"connections": 0, "days_written": 0, "days_unchanged": 0, "old_items_deleted": 0}
    for tenant_id, connection_id in layout_migration.all_connections():
        figures = layout_migration.migrate_connection(tenant_id, connection_id)
        totals["connections"] += 1
        totals["days_written"] += figures.days_written
        totals["days_unchanged"] += figures.days_unchanged
        totals["old_items_deleted"] += figures.old_items_deleted
        logger.info("connection migrated", extra={"connection_id": connection_id, **figures.__dict__})
    return totals
