"""A month partition's stamps: the digests of its stored days (heads only) and its summary item's encoded attributes,
read in one query that leaves the day bodies out; and the stamps of many months read at once, so a year's read waits
on its slowest month instead of on the sum of twelve."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from pump_anthropic.dal import table
from pump_anthropic.domain import month_summary

SUMMARY_SK = "MONTH"
SUMMARY = "summary"
GRAINS = "grains"  # the summary's lines folded by single dimensions (month_summary.grains_of), beside it on its item
_FORMATS = {SUMMARY: month_summary.FORMAT, GRAINS: month_summary.GRAINS_FORMAT}
# Months read at once by one request (a year spans 13 partitions). DynamoDB serves them in parallel; the threads
# wait on the network, and the CPU they need (decoding what was read) is the same as read one after another.
CONCURRENT_MONTHS = 13


@dataclass
class MonthStamps:
    pk: str
    attributes: tuple[str, ...]  # the summary item's attributes read (each is large: only what a read needs)
    digests: dict[date, str] = field(default_factory=dict)
    encoded: dict[str, bytes] = field(default_factory=dict)
    _decoded: dict[str, dict] = field(default_factory=dict)

    def current(self, attribute: str) -> dict | None:
        """The summary's attribute (SUMMARY or GRAINS) decoded, if it was built from exactly the days stored now;
        else None (the month's days are read instead). An attribute not read yet is read now, with the stamps
        again (so what is compared was read together)."""
        if attribute not in self.attributes:
            again = read(self.pk, (*self.attributes, attribute))
            self.attributes, self.digests, self.encoded = again.attributes, again.digests, again.encoded
            self._decoded.clear()
        if attribute not in self._decoded:
            body = self.encoded.get(attribute)
            self._decoded[attribute] = {} if body is None else month_summary.decode(body)
        decoded = self._decoded[attribute] or None
        return decoded if month_summary.is_current(decoded, self.digests, format_=_FORMATS[attribute]) else None


def read(pk: str, attributes: Iterable[str]) -> MonthStamps:
    """One month partition's stamps, with the named attributes of its summary item."""
    stamps = MonthStamps(pk, tuple(attributes))
    connection = table.table_connection()
    last_key = None
    while True:
        wanted = ["sk", "digest", *stamps.attributes]
        page = connection.query(pk, exclusive_start_key=last_key, consistent_read=True, attributes_to_get=wanted)
        for raw in page.get("Items", []):
            sk = raw["sk"]["S"]
            if sk == SUMMARY_SK:
                stamps.encoded = {a: table.binary_value(raw[a]["B"]) for a in stamps.attributes if a in raw}
            elif sk.startswith("DAY#") and sk.count("#") == 1:  # a day's head: DAY#{date} (not its parts or hours)
                stamps.digests[date.fromisoformat(sk[4:])] = raw["digest"]["S"]
        last_key = page.get("LastEvaluatedKey")
        if not last_key:
            return stamps


_readers: ThreadPoolExecutor | None = None


def read_many(pks: Iterable[str], attributes: Iterable[str]) -> dict[str, MonthStamps]:
    """The stamps of each month partition, read concurrently (by threads kept for the container's next request)."""
    global _readers
    pks, attributes = list(dict.fromkeys(pks)), tuple(attributes)
    if len(pks) <= 1:
        return {pk: read(pk, attributes) for pk in pks}
    if _readers is None:
        table.table_connection().connection.client  # noqa: B018 (made here, once: botocore makes clients unsafely)
        _readers = ThreadPoolExecutor(max_workers=CONCURRENT_MONTHS, thread_name_prefix="month-reader")
    return dict(zip(pks, _readers.map(lambda pk: read(pk, attributes), pks), strict=True))
