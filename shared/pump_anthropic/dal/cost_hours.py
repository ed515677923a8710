"""A connection's hourly cost in the table: one document per day (`HOURS#{date}`) in the day's month partition, so
a purge or the retention TTL removes it with the day."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date

from pump_anthropic.dal.cost_days import days_pk, expiry_of
from pump_anthropic.dal.models import DayDocModel
from pump_anthropic.dal.table import batch_write, item_key, months
from pump_anthropic.domain import day_docs, hourly
from pump_anthropic.domain.records import StoredRollup


def _hours_sk(day: date) -> str:
    return f"HOURS#{day.isoformat()}"


def _documents(tenant_id: str, connection_id: str, first_day: date, last_day: date) -> Iterator[DayDocModel]:
    # One query per month partition, however many days: hours sort before the day documents of any date.
    for month in months(first_day, last_day):
        yield from DayDocModel.query(
            days_pk(tenant_id, connection_id, month),
            DayDocModel.sk.between(_hours_sk(first_day), _hours_sk(last_day)),
            consistent_read=True,
        )


def read_hours(tenant_id: str, connection_id: str, days: Iterable[date]) -> dict[date, hourly.DayHours]:
    """The stored hours of those of `days` that have them."""
    wanted = sorted(set(days))
    if not wanted:
        return {}
    found = {}
    for doc in _documents(tenant_id, connection_id, wanted[0], wanted[-1]):
        day = date.fromisoformat(doc.date)
        if day in wanted:
            found[day] = hourly.decode(day, day_docs.decode_day([bytes(doc.body)]), doc.digest)
    return found


def store_hours(
    tenant_id: str, connection_id: str, days: Mapping[date, hourly.StoredHours], previous: Mapping[date, str]
) -> int:
    """Store each day's encoded hours unless `previous` (the digests stored now, from `read_hours`) says they are
    unchanged. Returns how many were written."""
    writes = [
        DayDocModel(
            days_pk(tenant_id, connection_id, day.strftime("%Y-%m")),
            _hours_sk(day),
            item_type="day_hours",
            date=day.isoformat(),
            connection_id=connection_id,
            digest=new.digest,
            parts=1,
            body=new.body,
            expires=expiry_of(day),
        ).serialize()  # fmt: skip
        for day, new in sorted(days.items())
        if previous.get(day) != new.digest
    ]
    batch_write(puts=writes)
    return len(writes)


def drop_hours(tenant_id: str, connection_id: str, days: Iterable[date]) -> None:
    """Forget the hours of days whose billed lines changed since they were read hour by hour (a restatement), so
    the hours stored always add up to the day."""
    batch_write(deletes=[item_key(days_pk(tenant_id, connection_id, d.strftime("%Y-%m")), _hours_sk(d)) for d in days])


def iter_hour_rollups(
    tenant_id: str, connection_ids: Iterable[str], first_day: date, last_day: date
) -> Iterator[StoredRollup]:
    """The stored hours of the days of [first_day, last_day] that have them, as rollup lines by hour."""
    for connection_id in connection_ids:
        for doc in _documents(tenant_id, connection_id, first_day, last_day):
            day = date.fromisoformat(doc.date)
            yield hourly.rollup(day, connection_id, day_docs.decode_day([bytes(doc.body)]))
