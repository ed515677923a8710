"""The export use cases with fakes: the job's lifecycle, rows streamed to the store in parts (bounded memory, S3's
part sizes), failures recorded with our code and sentence, and tenants kept apart."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import tracemalloc
from datetime import date, timedelta
from decimal import Decimal

import pytest

from pump_anthropic.api.exports import ExportBody, job_body, parse_export_request
from pump_anthropic.domain import report
from pump_anthropic.domain.allocation import KeyShare
from pump_anthropic.domain.report import CostQuery
from pump_anthropic.exceptions import (
    InvalidQueryError,
    NotFoundError,
    PumpError,
    StorageThrottledError,
    SyncQueueUnavailableError,
    TenantRateLimitedError,
)
from pump_anthropic.logic import exports, quotas, read
from tests.support.builders import cost_item
from tests.support.fake_storage import NOW, fake_storage

TENANT = "tenant-1"
TODAY = NOW.date()
MiB = 1024 * 1024


class FakeJobs:
    """dal.exports in memory, with its contract: only the latest run may write, a finished job stays finished."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict] = {}
        self.progress_log: list[dict] = []
        self.slots: dict[tuple[str, int], str] = {}  # (tenant, slot) → the export holding it (leases never run out)
        self.requeued: list[str] = []

    def create_job(self, job: dict) -> None:
        assert (job["tenant_id"], job["export_id"]) not in self.records
        self.records[(job["tenant_id"], job["export_id"])] = dict(job)

    def get_job(self, tenant_id: str, export_id: str) -> dict | None:
        record = self.records.get((tenant_id, export_id))
        return dict(record) if record else None

    def claim_job(self, tenant_id: str, export_id: str, *, expires=None) -> dict | None:
        record = self.records.get((tenant_id, export_id))
        if record is None or record["status"] not in ("queued", "running"):
            return None
        record.update(status="running", attempt=record["attempt"] + 1, updated_at=NOW)
        if expires is not None:
            record["expires"] = expires
        return dict(record)

    def requeue_job(self, tenant_id: str, export_id: str, *, expires) -> bool:
        record = self.records.get((tenant_id, export_id))
        if record is None or record["status"] not in ("queued", "running"):
            return False
        record.update(updated_at=exports.utc_now(), expires=expires)
        self.requeued.append(export_id)
        return True

    def take_run_slot(self, tenant_id: str, export_id: str, *, slots: int, lease_until) -> bool:
        for slot in range(slots):
            if self.slots.get((tenant_id, slot)) in (None, export_id):
                self.slots[(tenant_id, slot)] = export_id
                return True
        return False

    def release_run_slot(self, tenant_id: str, export_id: str, *, slots: int) -> None:
        for slot in range(slots):
            if self.slots.get((tenant_id, slot)) == export_id:
                del self.slots[(tenant_id, slot)]

    def record_progress(self, tenant_id, export_id, *, attempt, progress, upload_id=None) -> bool:
        record = self._latest_run(tenant_id, export_id, attempt)
        if record is None:
            return False
        record.update(progress)
        if upload_id is not None:
            record["upload_id"] = upload_id
        self.progress_log.append({**progress, "upload_id": upload_id})
        return True

    def finish_job(self, tenant_id, export_id, *, attempt, progress, sha256, expires) -> bool:
        record = self._latest_run(tenant_id, export_id, attempt)
        if record is None:
            return False
        record.update(progress, status="ready", sha256=sha256, upload_id=None, finished_at=NOW, expires=expires)
        return True

    def fail_job(self, tenant_id, export_id, *, attempt, code, message, expires=None) -> bool:
        record = self.records.get((tenant_id, export_id))
        if (
            record is None
            or record["status"] not in ("queued", "running")
            or (attempt and record["attempt"] != attempt)
        ):
            return False
        record.update(status="failed", error_code=code, error_message=message, upload_id=None, finished_at=NOW)
        return True

    def _latest_run(self, tenant_id: str, export_id: str, attempt: int) -> dict | None:
        record = self.records.get((tenant_id, export_id))
        ok = record is not None and record["status"] == "running" and record["attempt"] == attempt
        return record if ok else None


class FakeUpload:
    """Keeps the parts' sizes and hash; their bytes only when asked to (the memory test must not hold them)."""

    def __init__(self, number: int, keep: bool) -> None:
        self.upload_id = f"upload-{number}"
        self.part_sizes: list[int] = []
        self.sha256 = hashlib.sha256()
        self.data = bytearray() if keep else None
        self.completed = self.aborted = False

    def upload_part(self, data: bytes) -> None:
        assert not (self.completed or self.aborted)
        self.part_sizes.append(len(data))
        self.sha256.update(data)
        if self.data is not None:
            self.data += data

    def complete(self) -> None:
        self.completed = True

    def abort(self) -> None:
        self.aborted = True


class FakeStore:
    def __init__(self, keep: bool = True, fail_start: bool = False) -> None:
        self.uploads: list[FakeUpload] = []
        self.stale_aborted: list[str] = []
        self.started: list[tuple[str, str, str]] = []
        self._keep, self._fail_start = keep, fail_start

    def start_upload(self, key: str, *, content_type: str, filename: str) -> FakeUpload:
        if self._fail_start:
            raise PumpError("The export file could not be written (SlowDown); please try again.", code="upload_failed")
        self.started.append((key, content_type, filename))
        self.uploads.append(FakeUpload(len(self.uploads) + 1, self._keep))
        return self.uploads[-1]

    def abort_upload(self, key: str, upload_id: str) -> None:
        self.stale_aborted.append(upload_id)

    def download_url(self, key: str, *, export_id: str, filename: str):
        return f"https://files.example/{key}?signature=x", NOW + timedelta(minutes=15)

    def text(self) -> str:
        return bytes(self.uploads[-1].data).decode()


class FakeQueue:
    def __init__(self, error: Exception | None = None) -> None:
        self.messages: list[dict] = []
        self.delays: list[int] = []
        self._error = error

    def send(self, message: dict, *, delay_seconds: int = 0) -> None:
        if self._error:
            raise self._error
        self.messages.append(message)
        self.delays.append(delay_seconds)


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch):
    monkeypatch.setattr(exports, "utc_now", lambda: NOW)


@pytest.fixture
def storage():
    return fake_storage()


@pytest.fixture
def jobs():
    return FakeJobs()


def export_request(**fields) -> exports.ExportRequest:
    body = ExportBody.model_validate({"from": "2026-01-01", "to": "2026-03-01", **fields})
    return parse_export_request(body, today=TODAY)


def create(storage, jobs, queue=None, **fields) -> exports.ExportJob:
    return exports.create_export(
        TENANT, export_request(**fields), queue=queue or FakeQueue(), jobs=jobs, storage=storage
    )


def connect(storage, connection_id: str, organization: str) -> None:
    storage.connections.register_connection(
        tenant_id=TENANT,
        connection_id=connection_id,
        organization_id=organization,
        organization_name=f"{organization} name",
        key_hint="sk-ant-admin01-…AA",
        secret_id="secret",
    )


def seed(storage, connection_id: str, organization: str, first: date, days: int, workspace: str) -> None:
    connect(storage, connection_id, organization)
    storage.directory.put_workspaces(TENANT, connection_id, [(workspace, f"{workspace} name", False)])
    items, shares = [], []
    for n in range(days):
        day = first + timedelta(days=n)
        for model, cost in (("claude-opus-4-6", "1.25"), ("claude-haiku-4-5", "0.0301")):
            item = cost_item(date=day, model=model, workspace_id=workspace, cost_usd=Decimal(cost) + n)
            items.append(item)
            shares.append(KeyShare(item, "apikey_1", item.cost_usd, 1000, "proportional"))
    storage.costs.replace_days(TENANT, connection_id, first, first + timedelta(days=days - 1), items, shares)


def big_lines(line_bytes: int, lines_per_day: int):
    """A stand-in for read.focus_export_lines: a header (each window has one), then `lines_per_day` lines a day."""

    def lines(tenant, query, *, storage=None, connections=None):
        yield "header\r\n"
        for n in range(((query.last_day - query.first_day).days + 1) * lines_per_day):
            yield f"{n:010d}," + "x" * (line_bytes - 13) + "\r\n"

    return lines


# ---------------------------------------------------------------- create and get


def test_create_records_a_queued_job_counts_the_quota_and_queues_ids_only(storage, jobs):
    queue = FakeQueue()

    job = create(storage, jobs, queue, gzip=True)

    assert storage.quotas.counts[(TENANT, quotas.EXPORT.action)] == 1
    assert queue.messages == [{"tenant_id": TENANT, "export_id": job.export_id}]
    stored = jobs.get_job(TENANT, job.export_id)
    assert stored["status"] == "queued" and stored["expires"] == NOW + timedelta(days=7)
    assert stored["filename"] == "anthropic-focus-2026-01-01-2026-03-01.csv.gz"
    # Tenant-scoped object keys, from a digest of the tenant (never the raw tenant id)
    assert stored["object_key"].startswith("exports/") and TENANT not in stored["object_key"]
    assert stored["object_key"].endswith(f"/{job.export_id}/anthropic-focus-2026-01-01-2026-03-01.csv.gz")
    body = job_body(job)
    assert (body["status"], body["from"], body["to"], body["format"], body["gzip"]) == (
        "queued",
        "2026-01-01",
        "2026-03-01",
        "focus",
        True,
    )
    assert body["download_url"] is None and body["error"] is None and body["sha256"] is None


def test_a_tenant_past_its_export_quota_gets_429_and_nothing_is_queued(storage, jobs):
    storage.quotas.counts[(TENANT, quotas.EXPORT.action)] = quotas.EXPORT.limit
    queue = FakeQueue()

    with pytest.raises(TenantRateLimitedError):
        create(storage, jobs, queue)

    assert queue.messages == [] and jobs.records == {}


def test_a_job_that_cannot_be_queued_is_failed_and_the_error_raised(storage, jobs):
    error = SyncQueueUnavailableError("The export could not be queued (Throttling); please try again.", code="x")

    with pytest.raises(SyncQueueUnavailableError):
        create(storage, jobs, FakeQueue(error))

    (record,) = jobs.records.values()
    assert (record["status"], record["error_code"]) == ("failed", "x")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"from": "2026-1-01"}, "'from' must be a date written YYYY-MM-DD."),
        ({"from": "2026-04-01"}, "'from' must be on or before 'to'."),
        ({"from": "2025-01-01"}, "The date range may cover at most 400 days."),
        ({"format": "xlsx"}, "'format' must be one of: focus, csv."),
        ({"allocation": "workspace"}, "'allocation' may only be 'api_key'."),
        ({"format": "csv", "group_by": "date,colour"}, None),
        ({"format": "csv", "allocation": "api_key"}, "'allocation' applies to the FOCUS format"),
        ({"group_by": "model"}, "'group_by' applies to the csv format"),
    ],
)
def test_requests_are_validated_like_get_costs(fields, message):
    with pytest.raises(InvalidQueryError) as raised:
        export_request(**fields)

    assert raised.value.code == "invalid_query"
    if message is None:  # the very sentence GET /costs gives
        with pytest.raises(InvalidQueryError) as expected:
            report.parse_cost_query("2026-01-01", "2026-03-01", fields["group_by"], today=TODAY)
        message = expected.value.message
    assert raised.value.message.startswith(message)


def test_another_tenants_job_is_not_found_and_not_run(storage, jobs):
    job = create(storage, jobs)

    with pytest.raises(NotFoundError):
        exports.get_export("tenant-2", job.export_id, store=FakeStore(), jobs=jobs)
    assert exports.run_export("tenant-2", job.export_id, store=FakeStore(), jobs=jobs, storage=storage) == "skipped"
    assert jobs.get_job(TENANT, job.export_id)["status"] == "queued"


def test_an_expired_job_is_not_found(storage, jobs, monkeypatch):
    job = create(storage, jobs)
    monkeypatch.setattr(exports, "utc_now", lambda: NOW + timedelta(days=7))

    with pytest.raises(NotFoundError):
        exports.get_export(TENANT, job.export_id, store=FakeStore(), jobs=jobs)


def test_a_job_whose_runs_all_stopped_shows_as_failed(storage, jobs, monkeypatch):
    job = create(storage, jobs)
    jobs.records[(TENANT, job.export_id)].update(status="running", attempt=exports.MAX_ATTEMPTS, updated_at=NOW)
    monkeypatch.setattr(exports, "utc_now", lambda: NOW + timedelta(minutes=10))
    assert exports.get_export(TENANT, job.export_id, store=None, jobs=jobs)[0].status == "running"

    monkeypatch.setattr(exports, "utc_now", lambda: NOW + timedelta(minutes=30))
    seen, download = exports.get_export(TENANT, job.export_id, store=None, jobs=jobs)

    assert (seen.status, seen.error_code, download) == ("failed", "export_interrupted", None)
    assert "start it again" in seen.error_message


# ---------------------------------------------------------------- run


def test_a_job_runs_to_ready_with_progress_and_a_download_url(storage, jobs, monkeypatch):
    connect(storage, "conn-a", "org-a")
    monkeypatch.setattr(read, "focus_export_lines", big_lines(100, 10))
    job = create(storage, jobs, **{"from": "2026-01-01", "to": "2026-01-20"})
    store = FakeStore()

    assert exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage) == "ready"

    (upload,) = store.uploads
    assert upload.completed and not upload.aborted
    assert store.started[0][1:] == ("text/csv; charset=utf-8", "anthropic-focus-2026-01-01-2026-01-20.csv")
    # The first record names the upload (so a later run can abort it), then days advance a window at a time.
    assert jobs.progress_log[0]["upload_id"] == upload.upload_id
    assert [p["days_done"] for p in jobs.progress_log] == [0, 7, 14, 20]
    assert {p["days_total"] for p in jobs.progress_log} == {20}
    seen, download = exports.get_export(TENANT, job.export_id, store=store, jobs=jobs)
    body = job_body(seen, download)
    assert body["status"] == "ready" and body["rows"] == 200 and body["progress"]["rows"] == 200
    assert body["bytes"] == len(upload.data) == sum(upload.part_sizes)
    assert body["sha256"] == hashlib.sha256(upload.data).hexdigest()
    assert body["download_url"].startswith("https://files.example/exports/")
    assert body["download_expires_at"] == "2026-03-10T12:15:00Z"
    # The FOCUS header once, then every row
    lines = store.text().splitlines()
    assert lines[0].startswith("BilledCost,EffectiveCost,") and len(lines) == 201
    # A second delivery of the same message finds nothing to do.
    assert exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage) == "skipped"


def test_parts_are_exactly_part_bytes_except_the_last(storage, jobs, monkeypatch):
    connect(storage, "conn-a", "org-a")
    monkeypatch.setattr(read, "focus_export_lines", big_lines(1000, 360))  # ~21 MB over 60 days
    job = create(storage, jobs)
    store = FakeStore(keep=False)

    exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage)

    (upload,) = store.uploads
    *full, last = upload.part_sizes
    assert 5 * MiB <= exports.PART_BYTES
    assert len(full) >= 2 and set(full) == {exports.PART_BYTES}
    assert 0 < last <= exports.PART_BYTES
    stored = jobs.get_job(TENANT, job.export_id)
    assert stored["bytes_written"] == sum(upload.part_sizes) > 2 * exports.PART_BYTES
    assert stored["sha256"] == upload.sha256.hexdigest()


def test_memory_stays_bounded_by_the_part_size_whatever_the_export_size(storage, jobs, monkeypatch):
    connect(storage, "conn-a", "org-a")
    monkeypatch.setattr(read, "focus_export_lines", big_lines(1000, 280))  # ~16 MB over 60 days
    job = create(storage, jobs)
    store = FakeStore(keep=False)
    part_bytes = 256 * 1024

    tracemalloc.start()
    try:
        exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage, part_bytes=part_bytes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    written = jobs.get_job(TENANT, job.export_id)["bytes_written"]
    assert written > 16 * MiB
    assert peak < 4 * part_bytes, f"peak {peak} bytes for a {written}-byte export"
    assert max(store.uploads[0].part_sizes) == part_bytes  # the store only ever received parts


def test_gzip_is_the_same_csv_compressed_and_hashed_as_stored(storage, jobs, monkeypatch):
    connect(storage, "conn-a", "org-a")
    monkeypatch.setattr(read, "focus_export_lines", big_lines(200, 5))
    plain, zipped = create(storage, jobs), create(storage, jobs, gzip=True)
    plain_store, zipped_store = FakeStore(), FakeStore()

    exports.run_export(TENANT, plain.export_id, store=plain_store, jobs=jobs, storage=storage)
    exports.run_export(TENANT, zipped.export_id, store=zipped_store, jobs=jobs, storage=storage)

    data = bytes(zipped_store.uploads[0].data)
    assert gzip.decompress(data).decode() == plain_store.text()
    assert zipped_store.started[0][1] == "application/gzip"
    assert jobs.get_job(TENANT, zipped.export_id)["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("allocation", [None, "api_key"])
def test_the_focus_file_is_exactly_the_synchronous_export_in_the_same_order(storage, jobs, allocation):
    seed(storage, "conn-a", "org-a", date(2026, 1, 3), 20, "wrkspc_a")
    seed(storage, "conn-b", "org-b", date(2026, 1, 1), 30, "wrkspc_b")
    job = create(storage, jobs, **({"allocation": allocation} if allocation else {}))
    store = FakeStore()

    exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage)

    query = CostQuery(date(2026, 1, 1), date(2026, 3, 1), report.DEFAULT_GROUP_BY)
    synchronous = read.export_lines(TENANT, query, by_api_key=allocation is not None, storage=storage)
    assert store.text() == "".join(synchronous)
    stored = jobs.get_job(TENANT, job.export_id)
    assert stored["days_total"] == stored["days_done"] == 60 * 2  # each day of each connection
    assert stored["rows"] == len(store.text().splitlines()) - 1


@pytest.mark.parametrize("group_by", ["date,workspace_id,model", "month,model", "model", "api_key_id,month"])
def test_the_csv_file_is_the_cost_report_and_sums_to_its_total(storage, jobs, group_by):
    seed(storage, "conn-a", "org-a", date(2026, 1, 3), 40, "wrkspc_a")
    job = create(storage, jobs, format="csv", group_by=group_by)
    store = FakeStore()

    exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage)

    dimensions = tuple(group_by.split(","))
    rows = list(csv.DictReader(io.StringIO(store.text(), newline="")))
    body = read.cost_report(TENANT, CostQuery(date(2026, 1, 1), date(2026, 3, 1), dimensions), storage=storage)
    # The report's rows, in its order (the range is read a window at a time: the groups never straddle two).
    assert [tuple(r[d] for d in dimensions) for r in rows] == [
        tuple(row[d] for d in dimensions) for row in body["rows"]
    ]
    assert [r["cost_usd"] for r in rows] == [row["cost_usd"] for row in body["rows"]]
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal(body["total"]["cost_usd"])
    assert store.started[0][2] == "anthropic-costs-2026-01-01-2026-03-01.csv"


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            StorageThrottledError("DynamoDB is throttling writes; the operation will be retried."),
            "storage_throttled",
            None,
        ),
        (RuntimeError("arn:aws:dynamodb:us-east-1:123456789012:table/x broke"), "export_failed", exports.UNEXPECTED),
    ],
)
def test_a_failure_marks_the_job_failed_with_our_code_and_sentence_and_aborts_the_upload(
    storage, jobs, monkeypatch, error, code, message
):
    connect(storage, "conn-a", "org-a")

    def failing(tenant, query, *, storage=None, connections=None):
        yield "header\r\n"
        yield "a row\r\n"
        raise error

    monkeypatch.setattr(read, "focus_export_lines", failing)
    job = create(storage, jobs)
    store = FakeStore()

    assert exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage) == "failed"

    (upload,) = store.uploads
    assert upload.aborted and not upload.completed
    seen, download = exports.get_export(TENANT, job.export_id, store=store, jobs=jobs)
    assert (seen.status, seen.error_code, download) == ("failed", code, None)
    assert seen.error_message == (message or error.message)
    assert "arn:" not in seen.error_message
    assert job_body(seen)["error"] == {"code": code, "message": seen.error_message}


def test_a_store_that_refuses_the_upload_fails_the_job(storage, jobs):
    job = create(storage, jobs)

    assert exports.run_export(TENANT, job.export_id, store=FakeStore(fail_start=True), jobs=jobs, storage=storage) == (
        "failed"
    )
    assert jobs.get_job(TENANT, job.export_id)["error_code"] == "upload_failed"


def test_a_run_past_its_deadline_fails_with_a_sentence(storage, jobs, monkeypatch):
    connect(storage, "conn-a", "org-a")
    monkeypatch.setattr(read, "focus_export_lines", big_lines(100, 10))
    job = create(storage, jobs)
    ticks = iter(range(10_000))
    store = FakeStore()

    outcome = exports.run_export(
        TENANT, job.export_id, store=store, jobs=jobs, storage=storage, deadline=50, monotonic=lambda: next(ticks)
    )

    assert outcome == "failed" and store.uploads[0].aborted
    stored = jobs.get_job(TENANT, job.export_id)
    assert stored["error_code"] == "export_timed_out" and "shorter range" in stored["error_message"]


def test_a_superseded_run_stops_records_nothing_and_aborts_its_upload(storage, jobs, monkeypatch):
    connect(storage, "conn-a", "org-a")
    job = create(storage, jobs)

    def redelivered_meanwhile(tenant, query, *, storage=None, connections=None):
        yield "header\r\n"
        jobs.claim_job(TENANT, job.export_id)  # the same message, handed to a second function
        yield "a row\r\n"

    monkeypatch.setattr(read, "focus_export_lines", redelivered_meanwhile)
    store = FakeStore()

    assert exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage) == "superseded"

    assert store.uploads[0].aborted and not store.uploads[0].completed
    stored = jobs.get_job(TENANT, job.export_id)
    assert (stored["status"], stored["attempt"], stored["error_code"]) == ("running", 2, None)


def test_a_run_that_was_cut_off_is_run_again_and_its_upload_aborted(storage, jobs, monkeypatch):
    connect(storage, "conn-a", "org-a")
    monkeypatch.setattr(read, "focus_export_lines", big_lines(100, 1))
    job = create(storage, jobs)
    jobs.claim_job(TENANT, job.export_id)  # a first run that timed out after starting its upload
    jobs.records[(TENANT, job.export_id)]["upload_id"] = "upload-of-the-first-run"
    store = FakeStore()

    assert exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage) == "ready"

    assert store.stale_aborted == ["upload-of-the-first-run"]
    assert jobs.get_job(TENANT, job.export_id)["attempt"] == 2
