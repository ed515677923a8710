"""The daily audit of the analytics source: one settled day, read back from storage, against the legacy cost report.

The legacy cost report leaves priority-tier cost out and the analytics API includes it, so for a settled day
(outside the restatement window) the legacy total plus our stored priority-tier cost must equal the stored analytics
total. A difference beyond rounding is reported as a mismatch (a metric and an alarm), so a change in either API's
meaning shows up within a day instead of in someone's invoice reconciliation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from pydantic import SecretStr

from pump_anthropic.domain.calendar import day_start
from pump_anthropic.domain.normalize import COST_GROUP_BY, UNPRICED_TIERS, cents_to_usd
from pump_anthropic.logic.pull import ClientFactory
from pump_anthropic.logic.storage import Storage

logger = logging.getLogger(__name__)

# Each analytics row's amount is rounded to Anthropic's published decimals; a day sums hundreds of them.
TOLERANCE_USD = Decimal("0.01")


@dataclass(frozen=True)
class Audit:
    result: dict | None  # None: no settled analytics day to audit
    requests: int = 0


def compare_day(day: date, analytics_usd: Decimal, priority_usd: Decimal, legacy_usd: Decimal) -> dict:
    """The audit's finding for one day; amounts as exact decimal strings."""
    difference = analytics_usd - (legacy_usd + priority_usd)
    return {
        "day": day.isoformat(),
        "analytics_usd": format(analytics_usd, "f"),
        "legacy_usd": format(legacy_usd, "f"),
        "priority_usd": format(priority_usd, "f"),
        "difference_usd": format(difference, "f"),
        "mismatch": abs(difference) > TOLERANCE_USD,
    }


def audit_day(
    storage: Storage,
    tenant_id: str,
    connection_id: str,
    key: SecretStr,
    client_factory: ClientFactory,
    deadline: float | None,
    today: date,
    reread_days: int,
) -> Audit:
    """Audit the newest settled day (the day before the restatement window) if it was read from the analytics API."""
    day = today - timedelta(days=reread_days + 1)
    items = list(storage.costs.iter_cost_items(tenant_id, connection_id, day, day))
    if not items or any(i.list_cost_usd is None for i in items):
        return Audit(None)  # no spend that day, or the day came from the legacy reports
    analytics = sum((i.cost_usd or Decimal(0) for i in items), Decimal(0))
    priority = sum((i.cost_usd or Decimal(0) for i in items if i.service_tier in UNPRICED_TIERS), Decimal(0))
    with client_factory(key, deadline) as client:
        buckets = client.iter_cost_report(day_start(day), day_start(day + timedelta(days=1)), COST_GROUP_BY)
        legacy = sum((cents_to_usd(row["amount"]) for bucket in buckets for row in bucket.results), Decimal(0))
        requests = client.request_count
    result = compare_day(day, analytics, priority, legacy)
    if result["mismatch"]:
        # Only the day and the connection: cost figures stay in the table (which purge clears), never in logs.
        logger.warning(
            "analytics and legacy totals disagree", extra={"connection_id": connection_id, "day": result["day"]}
        )
    return Audit(result, requests)
