"""The export use cases: create an export job, run it, get it.

A run streams rows from storage into a multipart upload in bounded memory: the range is read a week (or, for a csv
grouped by month, a month) at a time; a FOCUS file one connection after another, so its rows come out in exactly the
order GET /costs/export gives them. The encoded bytes go to the store in parts of PART_BYTES as they fill, hashed on
the way. The job record carries the progress; only the run that claimed the job last may write to it.

A worker trusts ids, not fields: the tenant and the job id come from the queue message, the file's key is derived
from them (and the record's own copy checked against it). Each tenant runs at most RUNNING_PER_TENANT jobs at once;
a job beyond that goes back to the queue (with a delay), so one tenant's backlog never holds up another tenant's
export. A job's lifetime counts from its last time in the queue, its start or its end, never from its submission.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from pump_anthropic.clock import utc_now
from pump_anthropic.domain import export
from pump_anthropic.domain.report import CostQuery
from pump_anthropic.domain.report_csv import csv_line, report_csv_columns  # noqa: F401 (re-exported)
from pump_anthropic.exceptions import NotFoundError, PumpError
from pump_anthropic.logic import quotas
from pump_anthropic.logic.export_stream import PartWriter, csv_sections, focus_sections
from pump_anthropic.logic.storage import Storage, dynamodb_storage

FORMATS = ("focus", "csv")
PART_BYTES = 8 * 1024 * 1024  # S3 wants every part but the last to be at least 5 MiB
LIFETIME = timedelta(days=7)  # the job record's TTL, from its end; the bucket's lifecycle rule expires the file as late
RUNNING_PER_TENANT = 2  # of the export function's 5 concurrent runs (ExportQueueMapping)
SLOT_LEASE = timedelta(minutes=16)  # past the function's 15-minute timeout: a run cut off frees its slot
DEFER_SECONDS = 30  # a job whose tenant's slots are taken comes back after this (plus up to half again)
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
    def claim_job(self, tenant_id: str, export_id: str, *, expires: datetime) -> dict[str, Any] | None: ...
    def requeue_job(self, tenant_id: str, export_id: str, *, expires: datetime) -> bool: ...
    def record_progress(
        self, tenant_id: str, export_id: str, *, attempt: int, progress: dict[str, int], upload_id: str | None = None
    ) -> bool: ...
    def finish_job(
        self, tenant_id: str, export_id: str, *, attempt: int, progress: dict[str, int], sha256: str, expires: datetime
    ) -> bool: ...
    def fail_job(
        self, tenant_id: str, export_id: str, *, attempt: int, code: str, message: str, expires: datetime | None = None
    ) -> bool: ...
    def take_run_slot(self, tenant_id: str, export_id: str, *, slots: int, lease_until: datetime) -> bool: ...
    def release_run_slot(self, tenant_id: str, export_id: str, *, slots: int) -> None: ...


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
    def send(self, message: dict, *, delay_seconds: int = 0) -> None: ...


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
    storage, jobs = storage or dynamodb_storage(), jobs or _jobs()
    quotas.take(storage, tenant, quotas.EXPORT)
    now = utc_now().replace(microsecond=0)
    export_id = "exp_" + secrets.token_hex(16)
    query = request.query
    filename = export_filename(request.format, query.first_day.isoformat(), query.last_day.isoformat(), request.gzip)
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
        object_key=_object_key(tenant, export_id, filename),
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
    derived = _derived(tenant, export_id, job)  # the file named by the ids, never by the record's own field
    if derived is None:
        return replace(job, status="failed", error_code="export_failed", error_message=UNEXPECTED), None
    return job, store.download_url(derived.object_key, export_id=export_id, filename=derived.filename)


def export_filename(format: str, first_day: str, last_day: str, gzip: bool) -> str:
    kind = "focus" if format == "focus" else "costs"
    first, last = date.fromisoformat(first_day), date.fromisoformat(last_day)  # a date, nothing else, in a key
    return f"anthropic-{kind}-{first}-{last}.csv" + (".gz" if gzip else "")


def _object_key(tenant: str, export_id: str, filename: str) -> str:
    from pump_anthropic.adapters.export_store import object_key

    return object_key(tenant, export_id, filename)


def _derived(tenant: str, export_id: str, job: ExportJob) -> ExportJob | None:
    """The job with its ids and file named by the message's tenant and job id; None when the record disagrees (an
    altered item: its ids, its file name or its key)."""
    try:
        filename = export_filename(job.format, job.first_day, job.last_day, job.gzip)
    except (TypeError, ValueError):
        return None
    key = _object_key(tenant, export_id, filename)
    same = (job.tenant_id, job.export_id, job.filename, job.object_key) == (tenant, export_id, filename, key)
    return replace(job, tenant_id=tenant, export_id=export_id, filename=filename, object_key=key) if same else None


def _as_seen(job: ExportJob, now: datetime) -> ExportJob:
    """A job whose runs all stopped without a word (timeouts, the dead-letter queue) is shown as failed."""
    stalled = job.status == "running" and job.attempt >= MAX_ATTEMPTS and now - job.updated_at > STALLED_AFTER
    lost = job.status == "queued" and now - job.updated_at > QUEUE_RETENTION  # since it last went into the queue
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
    queue: JobQueue | None = None,
    jobs: ExportJobs | None = None,
    storage: Storage | None = None,
    deadline: float | None = None,
    part_bytes: int | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> str:
    """Run one job to its end: "ready", "failed", or "skipped" (nothing to run) / "superseded" (another run has it) /
    "deferred" (the tenant already runs RUNNING_PER_TENANT jobs: back to `queue`, with a delay).

    A failure is recorded on the job with our code and sentence and the upload is aborted; it is not raised, so the
    queue does not run the same failure again. Only a run cut off from outside (a timeout) is retried by the queue.
    """
    jobs, storage = jobs or _jobs(), storage or dynamodb_storage()
    waiting = jobs.get_job(tenant, export_id)
    if waiting is None or waiting["status"] not in ("queued", "running"):
        return "skipped"
    if not jobs.take_run_slot(tenant, export_id, slots=RUNNING_PER_TENANT, lease_until=utc_now() + SLOT_LEASE):
        return _defer(tenant, export_id, jobs, queue)
    outcome = None  # an exception: the job's message comes back and takes the slot its job still holds
    try:
        outcome = _run(tenant, export_id, store, jobs, storage, deadline, part_bytes or PART_BYTES, monotonic)
        return outcome
    finally:
        if outcome not in (None, "superseded"):  # a superseding run of the same job holds the same slot
            jobs.release_run_slot(tenant, export_id, slots=RUNNING_PER_TENANT)


def _defer(tenant: str, export_id: str, jobs: ExportJobs, queue: JobQueue | None) -> str:
    if queue is None:
        raise RuntimeError("a deferred export needs its queue")
    if not jobs.requeue_job(tenant, export_id, expires=utc_now() + LIFETIME):
        return "skipped"
    delay = DEFER_SECONDS + random.randint(0, DEFER_SECONDS // 2)
    queue.send({"tenant_id": tenant, "export_id": export_id}, delay_seconds=delay)  # a failure: the queue retries
    return "deferred"


def _run(
    tenant: str,
    export_id: str,
    store: FileStore,
    jobs: ExportJobs,
    storage: Storage,
    deadline: float | None,
    part_bytes: int,
    monotonic: Callable[[], float],
) -> str:
    claimed = jobs.claim_job(tenant, export_id, expires=utc_now() + LIFETIME)
    if claimed is None:
        return "skipped"
    job = _derived(tenant, export_id, ExportJob(**claimed))
    if job is None:
        logger.warning("export record does not match its ids; not run", extra={"export_id": export_id})
        jobs.fail_job(tenant, export_id, attempt=claimed["attempt"], code="export_failed", message=UNEXPECTED,
                      expires=utc_now() + LIFETIME)  # fmt: skip
        return "failed"
    if job.upload_id:  # left by a run that was cut off
        store.abort_upload(job.object_key, job.upload_id)
    content_type = GZIP_CONTENT_TYPE if job.gzip else export.CONTENT_TYPE
    upload: Upload | None = None
    try:
        upload = store.start_upload(job.object_key, content_type=content_type, filename=job.filename)
        _stream(job, storage, jobs, PartWriter(upload, part_bytes, job.gzip), deadline, monotonic)
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
        jobs.fail_job(tenant, export_id, attempt=job.attempt, code=code, message=message, expires=utc_now() + LIFETIME)
        return "failed"


def _stream(
    job: ExportJob, storage: Storage, jobs: ExportJobs, writer: PartWriter, deadline: float | None, monotonic
) -> None:
    header, days_total, windows = (focus_sections if job.format == "focus" else csv_sections)(job, storage)
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
    expires = utc_now() + LIFETIME
    if not jobs.finish_job(
        job.tenant_id, job.export_id, attempt=job.attempt, progress=progress, sha256=sha256, expires=expires
    ):
        raise _Superseded
