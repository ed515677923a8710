"""The spend guard's daily spend per scope of one connection, read cheaply.

Each stored day is folded once into a spend day (domain/spend_days.py: every scope type and the price rule's lines
in one pass over the day's lines) and kept, by the hourly check, in the connection's partition next to its budgets
and alerts, so a purge takes it. A kept spend day names the digest of the day document it was folded from, read in
the same item as the day's body; it is used only while the stored day still has that digest, and any other day is
folded again from its document. So an hourly check reads the window's day digests (heads only), its kept spend
days, and the documents of the days the sync changed since (today, and whatever a restatement touched), not every
day of the window; and what it uses is never stale, whatever order writes land in.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from pump_anthropic.domain import budgets, spend_days
from pump_anthropic.domain.alerts import AlertRules
from pump_anthropic.domain.calendar import day_runs
from pump_anthropic.domain.spend_days import SpendDay, SpendSeries
from pump_anthropic.logic.storage import Storage

logger = logging.getLogger(__name__)
# A kept spend day stays well under DynamoDB's 400 KB item; a larger one (never seen) is folded on every check.
MAX_KEPT_BYTES = 350_000


def check_window(today: date, rules: AlertRules | None = None) -> tuple[date, date]:
    """The days the check reads: the anomaly rule's baseline before yesterday, and a budget's month and run-rate
    (a spend limit's period and run-rate lie within them too)."""
    rules = rules or AlertRules()
    return min(today - timedelta(days=rules.baseline_days + 1), budgets.spend_window(today)[0]), today


def spend_series(
    tenant: str,
    connection_id: str,
    first: date,
    last: date,
    storage: Storage,
    *,
    keep: bool = False,
    key_names: dict | None = None,
) -> SpendSeries:
    """The connection's daily spend per scope over [first, last]; with `keep` (the check's own window), the spend
    days folded anew are kept and those no longer of use deleted."""
    digests = storage.guard.day_digests(tenant, connection_id, first, last)
    kept = storage.guard.spend_days(tenant, connection_id)
    days: dict[date, SpendDay] = {}
    for day, body in kept.items():
        if day in digests:
            found = spend_days.decode(body)
            if found is not None and found.digest == digests[day]:
                days[day] = found
    folded: dict[date, bytes] = {}
    for run_first, run_last in day_runs(d for d in digests if d not in days):
        for day, digest, projections in storage.guard.iter_day_documents(tenant, connection_id, run_first, run_last):
            days[day] = spend_days.fold_day(day, digest, projections)
            folded[day] = spend_days.encode(days[day])
    if keep:
        put = {d: body for d, body in folded.items() if len(body) <= MAX_KEPT_BYTES}
        storage.guard.keep_spend_days(tenant, connection_id, put, [d for d in kept if d not in put and d not in days])
    if folded:
        logger.info("spend days folded", extra={"connection_id": connection_id, "folded": len(folded),
                                                "kept": len(days) - len(folded)})  # fmt: skip
    if key_names is None:
        key_names = storage.directory.api_key_names(tenant, [connection_id])
    return SpendSeries(days.values(), key_names, storage.directory.workspace_names(tenant, [connection_id]))
