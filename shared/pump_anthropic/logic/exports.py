"""The export use cases: create an export job, run it, get it.

A run streams rows from storage into a multipart upload in bounded memory: the range is read a week (or, for a csv
grouped by month, a month) at a time; a FOCUS file one connection after another, so its rows come out in exactly the
order GET /costs/export gives them. The encoded bytes go to the store in parts of PART_BYTES as they fill, hashed on
the way. The job record carries the progress; only the run that claimed the job last may write to it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from pump_anthropic.clock import utc_now
from pump_anthropic.domain import export, report
from pump_anthropic.domain.records import ConnectionRecord
from pump_anthropic.domain.report import CostQuery
from pump_anthropic.domain.report_csv import csv_line, report_csv_columns  # noqa: F401 (re-exported)
from pump_anthropic.exceptions import NotFoundError, PumpError
from pump_anthropic.logic import quotas, read
from pump_anthropic.logic.storage import Storage, dynamodb_storage

FORMATS = ("focus", "csv")
PART_BYTES = 8 * 1024 * 1024  # S3 wants every part but the last to be at least 5 MiB
WINDOW_DAYS = 7
LIFETIME = timedelta(days=7)  # the job record's TTL; the bucket's lifecycle rule expires the file as late
MAX_ATTEMPTS = 3  # the export queue's maxReceiveCount
QUEUE_RETENTION = timedelta(days=1)  # the export queue's MessageRetentionPeriod
STALLED_AFTER = timedelta(minutes=20)  # longer than one run may take (the function's 15-minute timeout)
GZIP_CONTENT_TYPE = "application/gzip"
UNEXPECTED = "The export failed on our side; please try again."
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportRequest:
    query: CostQuery
    format: str
    allocation: str | None
    gzip: bool


@dataclass(frozen=True)
class ExportJob:
    tenant_id: str
    export_id: str
    status: str  # queued, running, ready, failed
    format: str
    first_day: str
    last_day: str
    allocation: str | None
    group_by: str | None  # comma list, csv only
    gzip: bool
    object_key: str
    filename: str
    created_at: datetime
    updated_at: datetime
    expires: datetime
    attempt: int = 0  # runs claimed so far
    upload_id: str | None = None
    rows: int = 0
    bytes_written: int = 0
    days_done: int = 0
    days_total: int = 0
    sha256: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    finished_at: datetime | None = None


class ExportJobs(Protocol):
    """Job records (dal.exports), as dicts of ExportJob's fields. `progress`: rows, bytes_written, days_done and
    days_total. Every write but the first is refused (False) unless `attempt` is still the job's latest run."""

    def create_job(self, job: dict[str, Any]) -> None: ...
    def get_job(self, tenant_id: str, export_id: str) -> dict[str, Any] | None: ...
    def claim_job(self, tenant_id: str, export_id: str) -> dict[str, Any] | None: ...
    def record_progress(
        self, tenant_id: str, export_id: str, *, attempt: int, progress: dict[str, int], upload_id: str | None = None
    ) -> bool: ...
    def finish_job(
        self, tenant_id: str, export_id: str, *, attempt: int, progress: dict[str, int], sha256: str
    ) -> bool: ...
    def fail_job(self, tenant_id: str, export_id: str, *, attempt: int, code: str, message: str) -> bool: ...


class Upload(Protocol):
    upload_id: str

    def upload_part(self, data: bytes) -> None: ...
    def complete(self) -> None: ...
    def abort(self) -> None: ...


class FileStore(Protocol):
    """Where export files go (adapters.export_store)."""

    def start_upload(self, key: str, *, content_type: str, filename: str) -> Upload: ...
    def abort_upload(self, key: str, upload_id: str) -> None: ...
    def download_url(self, key: str, *, export_id: str, filename: str) -> tuple[str, datetime]: ...


class JobQueue(Protocol):
    def send(self, message: dict) -> None: ...


class _Superseded(Exception):
    """Another run claimed the job: this one stops and records nothing."""


def _jobs() -> ExportJobs:
    from pump_anthropic.dal import exports

    return exports  # type: ignore[return-value]


# ---------------------------------------------------------------- create and get


def create_export(
    tenant: str,
    request: ExportRequest,
    *,
    queue: JobQueue,
    jobs: ExportJobs | None = None,
    storage: Storage | None = None,
) -> ExportJob:
    """Record the job and queue it (ids only), counted against the tenant's export quota."""
    from pump_anthropic.adapters.export_store import object_key

    storage, jobs = storage or dynamodb_storage(), jobs or _jobs()
    quotas.take(storage, tenant, quotas.EXPORT)
    now = utc_now().replace(microsecond=0)
    export_id = "exp_" + secrets.token_hex(16)
    query = request.query
    kind = "focus" if request.format == "focus" else "costs"
    filename = f"anthropic-{kind}-{query.first_day}-{query.last_day}.csv" + (".gz" if request.gzip else "")
    job = ExportJob(
        tenant_id=tenant,
        export_id=export_id,
        status="queued",
        format=request.format,
        first_day=query.first_day.isoformat(),
        last_day=query.last_day.isoformat(),
        allocation=request.allocation,
        group_by=",".join(query.group_by) if request.format == "csv" else None,
        gzip=request.gzip,
        object_key=object_key(tenant, export_id, filename),
        filename=filename,
        created_at=now,
        updated_at=now,
        expires=now + LIFETIME,
    )
    jobs.create_job(dict(job.__dict__))
    try:
        queue.send({"tenant_id": tenant, "export_id": export_id})
    except PumpError as exc:
        jobs.fail_job(tenant, export_id, attempt=0, code=exc.code, message=exc.message)
        raise
    return job


def get_export(
    tenant: str, export_id: str, *, store: FileStore | None, jobs: ExportJobs | None = None
) -> tuple[ExportJob, tuple[str, datetime] | None]:
    """The tenant's job (another tenant's is simply not found) and, once it is ready, a fresh download URL with the
    time it stops working."""
    record = (jobs or _jobs()).get_job(tenant, export_id)
    now = utc_now()
    if record is None or now >= record["expires"]:
        raise NotFoundError("No export with this id; an export and its file are kept for 7 days.")
    job = _as_seen(ExportJob(**record), now)
    if job.status != "ready" or store is None:
        return job, None
    return job, store.download_url(job.object_key, export_id=job.export_id, filename=job.filename)


def _as_seen(job: ExportJob, now: datetime) -> ExportJob:
    """A job whose runs all stopped without a word (timeouts, the dead-letter queue) is shown as failed."""
    stalled = job.status == "running" and job.attempt >= MAX_ATTEMPTS and now - job.updated_at > STALLED_AFTER
    lost = job.status == "queued" and now - job.created_at > QUEUE_RETENTION
    if not (stalled or lost):
        return job
    message = "The export stopped before it finished; please start it again, or export a shorter range."
    return replace(job, status="failed", error_code="export_interrupted", error_message=message)


# ---------------------------------------------------------------- run


def run_export(
    tenant: str,
    export_id: str,
    *,
    store: FileStore,
    jobs: ExportJobs | None = None,
    storage: Storage | None = None,
    deadline: float | None = None,
    part_bytes: int | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> str:
    """Run one job to its end: "ready", "failed", or "skipped" (nothing to run) / "superseded" (another run has it).

    A failure is recorded on the job with our code and sentence and the upload is aborted; it is not raised, so the
    queue does not run the same failure again. Only a run cut off from outside (a timeout) is retried by the queue.
    """
    jobs, storage = jobs or _jobs(), storage or dynamodb_storage()
    claimed = jobs.claim_job(tenant, export_id)
    if claimed is None:
        return "skipped"
    job = ExportJob(**claimed)
    if job.upload_id:  # left by a run that was cut off
        store.abort_upload(job.object_key, job.upload_id)
    content_type = GZIP_CONTENT_TYPE if job.gzip else export.CONTENT_TYPE
    upload: Upload | None = None
    try:
        upload = store.start_upload(job.object_key, content_type=content_type, filename=job.filename)
        _stream(job, storage, jobs, _PartWriter(upload, part_bytes or PART_BYTES, job.gzip), deadline, monotonic)
        return "ready"
    except Exception as exc:
        if upload is not None:
            upload.abort()
        if isinstance(exc, _Superseded):
            return "superseded"
        if isinstance(exc, PumpError):
            code, message = exc.code, exc.message
        else:  # its text is not for the tenant (it can name our resources)
            logger.error("export failed unexpectedly", extra={"export_id": export_id, "error": type(exc).__name__})
            code, message = "export_failed", UNEXPECTED
        jobs.fail_job(tenant, export_id, attempt=job.attempt, code=code, message=message)
        return "failed"


def _stream(
    job: ExportJob, storage: Storage, jobs: ExportJobs, writer: _PartWriter, deadline: float | None, monotonic
) -> None:
    header, days_total, windows = (_focus_sections if job.format == "focus" else _csv_sections)(job, storage)
    progress = {"rows": 0, "bytes_written": 0, "days_done": 0, "days_total": days_total}

    def record(upload_id: str | None = None) -> None:
        progress["bytes_written"] = writer.bytes_encoded
        if not jobs.record_progress(
            job.tenant_id, job.export_id, attempt=job.attempt, progress=progress, upload_id=upload_id
        ):
            raise _Superseded

    record(writer.upload.upload_id)
    writer.write(header)
    for days, lines in windows:
        for line in lines:
            progress["rows"] += 1
            if writer.write(line):
                record()
            if deadline is not None and monotonic() > deadline:
                raise PumpError(
                    "The export took longer than one run may take (15 minutes); export a shorter range.",
                    code="export_timed_out",
                )
        progress["days_done"] += days
        record()
    writer.close()
    writer.upload.complete()
    progress["bytes_written"] = writer.bytes_written
    sha256 = writer.sha256.hexdigest()
    if not jobs.finish_job(job.tenant_id, job.export_id, attempt=job.attempt, progress=progress, sha256=sha256):
        raise _Superseded


class _PartWriter:
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


def _focus_sections(job: ExportJob, storage: Storage) -> Sections:
    first, last = date.fromisoformat(job.first_day), date.fromisoformat(job.last_day)
    connections = storage.connections.list_connections(job.tenant_id)
    windows = list(_windows(first, last, WINDOW_DAYS, by_month=False))
    lines_of = read.allocated_export_lines if job.allocation else read.focus_export_lines

    def sections() -> Iterator[tuple[int, Iterator[str]]]:
        for connection in connections:
            scoped = replace(storage, connections=_OnlyConnection(storage.connections, connection))
            for window_first, window_last in windows:
                query = CostQuery(window_first, window_last, report.DEFAULT_GROUP_BY)
                lines = lines_of(job.tenant_id, query, storage=scoped)
                next(lines, None)  # each window starts with the header
                yield (window_last - window_first).days + 1, lines

    header = next(export.focus_csv_lines((), {}))
    return header, ((last - first).days + 1) * len(connections), sections()


def _csv_sections(job: ExportJob, storage: Storage) -> Sections:
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


class _OnlyConnection:
    """The tenant's connections as one of them: reads connection by connection, in the synchronous export's order."""

    def __init__(self, inner: Any, connection: ConnectionRecord) -> None:
        self._inner = inner
        self._connection = connection

    def list_connections(self, tenant_id: str) -> list[ConnectionRecord]:
        return [self._connection]

    def connection_ids(self, tenant_id: str) -> list[str]:
        return [self._connection.connection_id]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
