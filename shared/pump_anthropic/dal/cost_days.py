"""Cost days: each day of a connection stored as one document holding all its projections; and the sync cursor.

Keys: pk `TENANT#{tenant}#CONN#{connection}#DAYS#{yyyy-mm}`; the day's head item sk `DAY#{date}`, and for the rare
day too large for one item, its further parts `DAY#{date}#V{version}#P{n}`; the month's summary sk `MONTH`
(domain/month_summary.py), rebuilt after the days of a month that has ended change, and read only while its day
digests equal the stored heads' (so it is never stale, whatever order writes land in). A 365-day read of one connection
queries 13 month partitions and reads one item per day. A day is replaced by writing its new parts first, then its
head (one atomic put: readers see the whole old day or the whole new one), then deleting the old parts; a day whose
content is unchanged is not written at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pynamodb.exceptions import UpdateError

from pump_anthropic.dal import month_stamps, table
from pump_anthropic.dal.models import DayDocModel, SyncStateModel
from pump_anthropic.dal.month_stamps import GRAINS, SUMMARY, SUMMARY_SK, MonthStamps
from pump_anthropic.dal.table import batch_write, condition_failed, connection_pk, item_key, months, storage_error
from pump_anthropic.domain import day_docs, month_summary
from pump_anthropic.domain.allocation import KeyShare
from pump_anthropic.domain.calendar import month_bounds
from pump_anthropic.domain.day_docs import LINES, StoredDay
from pump_anthropic.domain.month_summary import GRAIN_DAY_TOTALS, GRAIN_LINES, GRAIN_MONTH, SummaryDay
from pump_anthropic.domain.normalize import CostItem
from pump_anthropic.domain.records import DayWriteFigures, StoredRollup


def days_pk(tenant_id: str, connection_id: str, month: str) -> str:
    return f"{connection_pk(tenant_id, connection_id)}#DAYS#{month}"


def _head_sk(day: date) -> str:
    return f"DAY#{day.isoformat()}"


def _part_sk(day: date, version: str, part: int) -> str:
    return f"DAY#{day.isoformat()}#V{version}#P{part:02d}"


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


@dataclass
class _Stored:
    """What is stored of one day: its head's digest and parts count, and every part item's sort key."""

    digest: str = ""
    parts: int = 0
    part_sks: list[str] | None = None


def replace_days(
    tenant_id: str,
    connection_id: str,
    first_day: date,
    last_day: date,
    items: Iterable[CostItem],
    key_shares: Iterable[KeyShare] = (),
) -> DayWriteFigures:
    """Make the stored days [first_day, last_day] equal `items` and their per-key `key_shares` (legacy reports)."""
    lines: dict[date, list[CostItem]] = defaultdict(list)
    shares: dict[date, list[KeyShare]] = defaultdict(list)
    for item in items:
        lines[item.date].append(item)
    for share in key_shares:
        shares[share.item.date].append(share)
    days = {day: day_docs.legacy_day(lines[day], shares[day]) for day in set(lines) | set(shares)}
    return store_days(tenant_id, connection_id, first_day, last_day, days)


def store_days(
    tenant_id: str, connection_id: str, first_day: date, last_day: date, days: Mapping[date, dict[str, list]]
) -> DayWriteFigures:
    """Make the stored days [first_day, last_day] equal `days` (each day's projections; a day not in `days` had no
    spend). Only days whose content changed are written (a quiet re-pull writes nothing); a day that vanished from
    Anthropic's reports is deleted. Figures count stored days."""
    desired = {}
    day = first_day
    while day <= last_day:
        projections = days.get(day)
        desired[day] = None if projections is None else day_docs.encode_day(day, projections)
        day += timedelta(days=1)
    return apply_days(tenant_id, connection_id, desired)


def apply_days(tenant_id: str, connection_id: str, desired: dict[date, StoredDay | None]) -> DayWriteFigures:
    """Make each stored day equal its desired form (None: no spend, so nothing stored): new parts first, then the
    heads, then the old parts; an unchanged day is not touched."""
    figures = DayWriteFigures()
    if not desired:
        return figures
    stored = _stored_days(tenant_id, connection_id, min(desired), max(desired))
    parts_first, heads, then_delete = [], [], []
    for day, new in sorted(desired.items()):
        old = stored.get(day)
        pk = days_pk(tenant_id, connection_id, day.strftime("%Y-%m"))
        if new is not None and old is not None and new.digest == old.digest:
            figures.unchanged += 1
        elif new is not None:
            new_parts = [_part(pk, connection_id, new, n) for n in range(1, len(new.parts))]
            parts_first += new_parts
            heads.append(_head(pk, connection_id, new))
            keep = {part["sk"]["S"] for part in new_parts}
            then_delete += [item_key(pk, sk) for sk in (old.part_sks if old else []) if sk not in keep]
            figures.written += 1
            figures.changed_days.append(day)
        elif old is not None:
            then_delete += [item_key(pk, _head_sk(day)), *(item_key(pk, sk) for sk in old.part_sks)]
            figures.deleted += 1
            figures.changed_days.append(day)
    batch_write(puts=parts_first)
    batch_write(puts=heads)
    batch_write(deletes=then_delete)
    last_written = max(desired)
    refresh_summaries(tenant_id, connection_id, [m for m in months(min(desired), last_written) if
                                                 _month_bounds(m)[1] <= last_written])  # fmt: skip
    return figures


def _month_bounds(month: str) -> tuple[date, date]:
    return month_bounds(date.fromisoformat(f"{month}-01"))


def _month_stamps(
    tenant_id: str, connection_id: str, month: str, *attributes: str
) -> tuple[dict[date, str], dict[str, dict]]:
    """The month's stored day digests and the named attributes of its summary item decoded, in one query."""
    stamps = month_stamps.read(days_pk(tenant_id, connection_id, month), attributes)
    return stamps.digests, {a: month_summary.decode(body) for a, body in stamps.encoded.items()}


def refresh_summaries(tenant_id: str, connection_id: str, months_: Iterable[str]) -> int:
    """Rebuild the summary (and grains) of each month whose stored days no longer match them; returns how many were
    written."""
    written = 0
    for month in months_:
        digests, found = _month_stamps(tenant_id, connection_id, month, SUMMARY, GRAINS)
        summary = found.get(SUMMARY)
        if month_summary.is_current(summary, digests) and month_summary.is_current(
            found.get(GRAINS), digests, format_=month_summary.GRAINS_FORMAT
        ):
            continue
        pk = days_pk(tenant_id, connection_id, month)
        first, last = _month_bounds(month)
        days = []
        for day, digest, projections in iter_day_documents(tenant_id, connection_id, first, last):
            source, _ = day_docs.source_of(projections)
            cost = day_docs.rollup_of(day, connection_id, projections, who=False)
            who = day_docs.rollup_of(day, connection_id, projections, who=True)
            days.append(SummaryDay(day, digest, source, cost, who))
        if not days:
            if summary is not None:
                batch_write(deletes=[item_key(pk, SUMMARY_SK)])
            continue
        built = month_summary.summarize(days)
        item = {
            "pk": {"S": pk},
            "sk": {"S": SUMMARY_SK},
            "item_type": {"S": "month_summary"},
            "connection_id": {"S": connection_id},
            SUMMARY: {"B": month_summary.encode(built)},
            GRAINS: {"B": month_summary.encode(month_summary.grains_of(built))},
        }
        expiry = expiry_of(last)
        if expiry is not None:
            item["expires"] = {"N": str(int(expiry.timestamp()))}
        batch_write(puts=[item])
        written += 1
    return written


def _stored_days(tenant_id: str, connection_id: str, first_day: date, last_day: date) -> dict[date, _Stored]:
    """The stored days' digests and part keys (bodies are read, since DynamoDB bills reads by item size anyway)."""
    found: dict[date, _Stored] = defaultdict(lambda: _Stored(part_sks=[]))
    for doc in _docs(tenant_id, connection_id, first_day, last_day):
        day = date.fromisoformat(doc.date)
        if doc.sk == _head_sk(day):
            found[day].digest, found[day].parts = doc.digest, int(doc.parts)
        else:
            found[day].part_sks.append(doc.sk)
    return dict(found)


def _docs(tenant_id: str, connection_id: str, first_day: date, last_day: date) -> Iterator[DayDocModel]:
    for month in months(first_day, last_day):
        yield from _month_docs(tenant_id, connection_id, month, first_day, last_day)


def _month_docs(
    tenant_id: str, connection_id: str, month: str, first_day: date, last_day: date
) -> Iterator[DayDocModel]:
    return DayDocModel.query(
        days_pk(tenant_id, connection_id, month),
        DayDocModel.sk.between(_head_sk(first_day), f"{_head_sk(last_day)}~"),
        consistent_read=True,
    )


def expiry_of(day: date) -> datetime | None:
    if not table.RETENTION_MONTHS:
        return None
    # DynamoDB's TTL deletes the day once it is older than the retention (a month counted as 31 days).
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=31 * table.RETENTION_MONTHS)


def _head(pk: str, connection_id: str, day: StoredDay) -> dict:
    return _doc(pk, _head_sk(day.day), "day", connection_id, day, 0)


def _part(pk: str, connection_id: str, day: StoredDay, part: int) -> dict:
    return _doc(pk, _part_sk(day.day, day.version, part), "day_part", connection_id, day, part)


def _doc(pk: str, sk: str, item_type: str, connection_id: str, day: StoredDay, part: int) -> dict:
    return DayDocModel(pk, sk, item_type=item_type, date=day.day.isoformat(), connection_id=connection_id,
                       digest=day.digest, parts=len(day.parts), body=day.parts[part],
                       expires=expiry_of(day.day)).serialize()  # fmt: skip


def iter_days(
    tenant_id: str, connection_id: str, first_day: date, last_day: date
) -> Iterator[tuple[date, dict[str, list[list]]]]:
    """(day, projections) of the stored days, a month partition at a time (bounded memory), in date order."""
    for day, _digest, projections in iter_day_documents(tenant_id, connection_id, first_day, last_day):
        yield day, projections


def iter_day_documents(
    tenant_id: str, connection_id: str, first_day: date, last_day: date
) -> Iterator[tuple[date, str, dict[str, list[list]]]]:
    """(day, digest, projections) of the stored days, each digest read in the same item as the day's body, a month
    partition at a time, in date order."""
    for month in months(first_day, last_day):
        heads: dict[date, DayDocModel] = {}
        parts: dict[str, bytes] = {}
        for doc in _month_docs(tenant_id, connection_id, month, first_day, last_day):
            day = date.fromisoformat(doc.date)
            if doc.sk == _head_sk(day):
                heads[day] = doc
            else:
                parts[doc.sk] = bytes(doc.body)
        for day in sorted(heads):
            head = heads[day]
            version = head.digest[:12]
            rest = [parts.get(_part_sk(day, version, n)) for n in range(1, int(head.parts))]
            if any(p is None for p in rest):
                continue  # parts deleted under us by a newer version's cleanup: that version's head is read next time
            yield day, head.digest, day_docs.decode_day([bytes(head.body), *rest])


def iter_cost_items(tenant_id: str, connection_id: str, first_day: date, last_day: date) -> Iterator[CostItem]:
    for day, projections in iter_days(tenant_id, connection_id, first_day, last_day):
        for row in projections.get(LINES, []):
            yield day_docs.item_of(day, row)


def iter_rollups(
    tenant_id: str,
    connection_ids: Iterable[str],
    first_day: date,
    last_day: date,
    *,
    by_api_key: bool = False,
    grain: str = GRAIN_LINES,
) -> Iterator[StoredRollup]:
    """The tenant's days of [first_day, last_day] as rollup lines: cost lines, or with `by_api_key` the lines by API
    key (and, on days from the analytics API, by actor and product). With a coarser `grain` than every day's lines,
    a whole month inside the range is read from its summary (or its grains) while they match the stored days; a
    grain naming the dimensions the read keeps (month_summary.with_dimensions) has its lines folded onto them."""
    base, wanted = month_summary.split_grain(grain)
    totals_only = base == GRAIN_DAY_TOTALS or (base == GRAIN_MONTH and wanted == () and not by_api_key)
    spans = []  # (connection, month, the range's part of it, whether the range holds the month's start, its end)
    for connection_id in connection_ids:
        for month in months(first_day, last_day):
            month_first, month_last = _month_bounds(month)
            first, last = max(first_day, month_first), min(last_day, month_last)
            spans.append((connection_id, month, first, last, first == month_first, last == month_last))
    # A whole month at a coarser grain is read from its summary item; so is a read of day totals' leading part of an
    # ended month (the trailing part is mostly the month still running, which has none). All at once.
    summarized = [(c, m) for c, m, _, _, starts, ends in spans
                  if ends and (totals_only or (starts and base != GRAIN_LINES))]  # fmt: skip
    # The grains serve reads of day totals and of one dimension at the month grain; the summary the rest.
    grains_serve = base == GRAIN_DAY_TOTALS or (base == GRAIN_MONTH and wanted is not None and len(wanted) <= 1)
    attribute = GRAINS if grains_serve or totals_only else SUMMARY
    stamps = month_stamps.read_many([days_pk(tenant_id, c, m) for c, m in summarized], (attribute,))
    for connection_id, month, first, last, starts, ends in spans:
        found = stamps.pop(days_pk(tenant_id, connection_id, month), None)  # (one decoded month held at a time)
        if found is not None:
            whole = starts and ends and base != GRAIN_LINES
            rollups = _summary_rollups(found, month, connection_id, base, by_api_key, wanted) if whole else None
            if rollups is None and totals_only:
                rollups = _day_totals(found, month, connection_id, first, last)
            if rollups is not None:
                yield from rollups
                continue
        for day, projections in iter_days(tenant_id, connection_id, first, last):
            yield month_summary.day_rollup(day, connection_id, projections, who=by_api_key, wanted=wanted)


def _day_totals(
    stamps: MonthStamps, month: str, connection_id: str, first_day: date, last_day: date
) -> list[StoredRollup] | None:
    """Each day's total of [first_day, last_day] within `month`, from the month's grains while they match the stored
    days and carry the days' totals (grains written before they did send the read to the summary or the days)."""
    grains = stamps.current(GRAINS)
    if grains is None or "daily" not in grains:
        return None
    month_first, _ = _month_bounds(month)
    rollups = month_summary.rollups(grains, month_first, connection_id, grain=GRAIN_DAY_TOTALS, who=False)
    return [rollup for rollup in rollups if first_day <= rollup.date <= last_day]


def _summary_rollups(
    stamps: MonthStamps, month: str, connection_id: str, grain: str, who: bool, wanted: tuple[str, ...] | None
) -> list[StoredRollup] | None:
    """A whole month from its grains when they hold what the read keeps, else from its summary; None when neither
    matches the stored days (the days are read instead)."""
    month_first, month_last = _month_bounds(month)
    if grain == GRAIN_DAY_TOTALS:
        totals = _day_totals(stamps, month, connection_id, month_first, month_last)
        if totals is not None:
            return totals
    if grain == GRAIN_MONTH and wanted is not None and len(wanted) <= 1:
        grains = stamps.current(GRAINS)
        if grains is not None:
            rollups = month_summary.grain_rollups(grains, month_first, connection_id, who=who, wanted=wanted)
            if rollups is not None:
                return rollups
    summary = stamps.current(SUMMARY)
    if summary is None:
        return None
    return month_summary.rollups(summary, month_first, connection_id, grain=grain, who=who, wanted=wanted)
