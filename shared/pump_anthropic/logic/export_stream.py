"""What an export run writes: the file's sections read from storage a window at a time (a week, or a month for a
csv grouped by month; a FOCUS file connection by connection, in the synchronous export's order), and the part
writer that cuts the encoded bytes into parts of a fixed size (gzip and SHA-256 on the way)."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any, Protocol

from pump_anthropic.domain import export, report
from pump_anthropic.domain.report import CostQuery
from pump_anthropic.domain.report_csv import csv_line, report_csv_columns
from pump_anthropic.logic import read
from pump_anthropic.logic.storage import Storage

WINDOW_DAYS = 7


class Upload(Protocol):
    upload_id: str

    def upload_part(self, data: bytes) -> None: ...
    def complete(self) -> None: ...
    def abort(self) -> None: ...


class PartWriter:
    """Text in, parts of exactly `part_bytes` out (the last one shorter); gzip and SHA-256 on the way."""

    def __init__(self, upload: Upload, part_bytes: int, gzip: bool) -> None:
        self.upload = upload
        self.sha256 = hashlib.sha256()
        self.bytes_written = 0
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if gzip else None

    def write(self, text: str) -> bool:
        """True when a part went out."""
        data = text.encode()
        self._buffer += self._compressor.compress(data) if self._compressor else data
        sent = False
        while len(self._buffer) >= self._part_bytes:
            self._send_part(self._part_bytes)
            sent = True
        return sent

    def close(self) -> None:
        if self._compressor:
            self._buffer += self._compressor.flush()
        while len(self._buffer) > self._part_bytes:
            self._send_part(self._part_bytes)
        self._send_part(len(self._buffer))

    @property
    def bytes_encoded(self) -> int:
        """The file's bytes so far: sent in parts, or waiting for the next one."""
        return self.bytes_written + len(self._buffer)

    def _send_part(self, size: int) -> None:
        with memoryview(self._buffer) as view:  # one copy of the part, not two
            data = bytes(view[:size])
        del self._buffer[:size]
        self.sha256.update(data)
        self.bytes_written += len(data)
        self.upload.upload_part(data)


# What a run writes: (header, days to read, windows of (days covered, lines without the header)).
Sections = tuple[str, int, Iterator[tuple[int, Iterator[str]]]]


def focus_sections(job: Any, storage: Storage) -> Sections:
    first, last = date.fromisoformat(job.first_day), date.fromisoformat(job.last_day)
    connections = storage.connections.list_connections(job.tenant_id)
    windows = list(_windows(first, last, WINDOW_DAYS, by_month=False))
    lines_of = read.allocated_export_lines if job.allocation else read.focus_export_lines

    def sections() -> Iterator[tuple[int, Iterator[str]]]:
        for connection in connections:  # connection by connection, in the synchronous export's order
            for window_first, window_last in windows:
                query = CostQuery(window_first, window_last, report.DEFAULT_GROUP_BY)
                lines = lines_of(job.tenant_id, query, storage=storage, connections=[connection])
                next(lines, None)  # each window starts with the header
                yield (window_last - window_first).days + 1, lines

    header = next(export.focus_csv_lines((), {}))
    return header, ((last - first).days + 1) * len(connections), sections()


def csv_sections(job: Any, storage: Storage) -> Sections:
    first, last = date.fromisoformat(job.first_day), date.fromisoformat(job.last_day)
    group_by = tuple((job.group_by or "").split(","))
    columns = report_csv_columns(group_by)
    # Rows of different windows never share a group only when the grouping has a date or a month in it.
    if "month" in group_by or "date" in group_by:
        windows = list(_windows(first, last, WINDOW_DAYS, by_month="month" in group_by))
    else:
        windows = [(first, last)]

    def sections() -> Iterator[tuple[int, Iterator[str]]]:
        for window_first, window_last in windows:
            body = read.cost_report(job.tenant_id, CostQuery(window_first, window_last, group_by), storage=storage)
            yield (window_last - window_first).days + 1, (csv_line(row, columns) for row in body["rows"])

    return csv_line({c: c for c in columns}, columns), (last - first).days + 1, sections()


def _windows(first: date, last: date, days: int, *, by_month: bool) -> Iterator[tuple[date, date]]:
    """[first, last] in spans of `days` days, or of calendar months."""
    while first <= last:
        next_month = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        end = min(next_month - timedelta(days=1) if by_month else first + timedelta(days=days - 1), last)
        yield first, end
        first = end + timedelta(days=1)
