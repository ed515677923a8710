"""The export worker derives the job's file from the ids it is handed (issue 23, item 3), runs at most
RUNNING_PER_TENANT jobs of one tenant at once and puts the rest back in the queue, and never lets a job expire while
it merely waits (item 4). Fakes only; the embedded stack runs the same in tests/integration/test_export_fairness.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pump_anthropic.adapters.export_store import object_key
from pump_anthropic.logic import exports, read
from tests.support.fake_storage import NOW
from tests.unit.test_exports import TENANT, FakeJobs, FakeQueue, FakeStore, big_lines, connect, create

OTHER = "tenant-2"


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch):
    monkeypatch.setattr(exports, "utc_now", lambda: NOW)
    monkeypatch.setattr(read, "focus_export_lines", big_lines(100, 1))


@pytest.fixture
def storage():
    from tests.support.fake_storage import fake_storage

    return fake_storage()


@pytest.fixture
def jobs():
    return FakeJobs()


def hold_slots(jobs: FakeJobs, tenant: str, *export_ids: str) -> None:
    """Runs of `tenant` still going (their slots taken)."""
    for export_id in export_ids:
        assert jobs.take_run_slot(tenant, export_id, slots=exports.RUNNING_PER_TENANT, lease_until=NOW)


# ---------------------------------------------------------------- derive, never trust


def test_the_file_is_named_by_the_tenant_and_the_job_id_not_by_the_record(storage, jobs):
    connect(storage, "conn-a", "org-a")
    job = create(storage, jobs)
    store = FakeStore()

    assert exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage) == "ready"

    ((key, _, filename),) = store.started
    assert key == object_key(TENANT, job.export_id, "anthropic-focus-2026-01-01-2026-03-01.csv") == job.object_key


@pytest.mark.parametrize(
    "field, value",
    [
        ("object_key", "exports/someone-elses-prefix/exp_x/anthropic-focus-2026-01-01-2026-03-01.csv"),
        ("tenant_id", OTHER),  # would read another tenant's costs into this tenant's file
        ("export_id", "exp_another"),
        ("filename", "../../elsewhere.csv"),
        ("first_day", "2026-01-01/../../x"),
    ],
)
def test_a_record_altered_in_the_table_is_failed_and_writes_no_file(storage, jobs, field, value):
    connect(storage, "conn-a", "org-a")
    job = create(storage, jobs)
    jobs.records[(TENANT, job.export_id)][field] = value
    store = FakeStore()

    assert exports.run_export(TENANT, job.export_id, store=store, jobs=jobs, storage=storage) == "failed"

    assert store.started == [] and store.uploads == []
    stored = jobs.get_job(TENANT, job.export_id)
    assert (stored["status"], stored["error_code"], stored["error_message"]) == (
        "failed",
        "export_failed",
        exports.UNEXPECTED,
    )
    assert jobs.slots == {}


def test_a_download_url_names_the_derived_key_and_an_altered_key_gets_none(storage, jobs):
    connect(storage, "conn-a", "org-a")
    job = create(storage, jobs)
    exports.run_export(TENANT, job.export_id, store=FakeStore(), jobs=jobs, storage=storage)

    shown, (url, _) = exports.get_export(TENANT, job.export_id, store=FakeStore(), jobs=jobs)
    assert shown.status == "ready" and url.startswith(f"https://files.example/{job.object_key}?")

    jobs.records[(TENANT, job.export_id)]["object_key"] = "exports/other/exp_x/file.csv"
    shown, download = exports.get_export(TENANT, job.export_id, store=FakeStore(), jobs=jobs)
    assert (shown.status, shown.error_code, download) == ("failed", "export_failed", None)


# ---------------------------------------------------------------- fair exports


def test_a_tenant_past_its_running_cap_is_put_back_while_another_tenant_runs(storage, jobs):
    connect(storage, "conn-a", "org-a")
    hold_slots(jobs, TENANT, "exp_running_1", "exp_running_2")
    waiting = create(storage, jobs)
    queue = FakeQueue()

    assert exports.run_export(TENANT, waiting.export_id, store=FakeStore(), queue=queue, jobs=jobs) == "deferred"

    assert queue.messages == [{"tenant_id": TENANT, "export_id": waiting.export_id}]
    assert exports.DEFER_SECONDS <= queue.delays[0] <= exports.DEFER_SECONDS * 3 // 2
    assert jobs.get_job(TENANT, waiting.export_id)["status"] == "queued"
    # Another tenant's job has slots of its own.
    other = exports.create_export(OTHER, exports_request(), queue=FakeQueue(), jobs=jobs, storage=storage)
    outcome = exports.run_export(OTHER, other.export_id, store=FakeStore(), queue=queue, jobs=jobs, storage=storage)
    assert outcome == "ready"
    # Once one of the tenant's runs ends, the job put back runs.
    jobs.release_run_slot(TENANT, "exp_running_1", slots=exports.RUNNING_PER_TENANT)
    outcome = exports.run_export(TENANT, waiting.export_id, store=FakeStore(), queue=queue, jobs=jobs, storage=storage)
    assert outcome == "ready"
    assert set(jobs.slots.values()) == {"exp_running_2"}  # its own slot is free again


def exports_request():
    from tests.unit.test_exports import export_request

    return export_request()


def test_a_run_ending_in_failure_frees_its_slot_and_a_superseded_one_leaves_it_to_its_successor(storage, jobs):
    connect(storage, "conn-a", "org-a")
    job = create(storage, jobs)
    failing = FakeStore(fail_start=True)
    assert exports.run_export(TENANT, job.export_id, store=failing, jobs=jobs, storage=storage) == "failed"
    assert jobs.slots == {}

    second = create(storage, jobs)

    def redelivered_meanwhile(tenant, query, *, storage=None, connections=None):
        yield "header\r\n"
        assert jobs.take_run_slot(TENANT, second.export_id, slots=2, lease_until=NOW)  # the same job, again
        jobs.claim_job(TENANT, second.export_id)
        yield "a row\r\n"

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(read, "focus_export_lines", redelivered_meanwhile)
        outcome = exports.run_export(TENANT, second.export_id, store=FakeStore(), jobs=jobs, storage=storage)
    assert outcome == "superseded"
    assert list(jobs.slots.values()) == [second.export_id]


def test_a_finished_job_is_not_run_and_takes_no_slot(storage, jobs):
    connect(storage, "conn-a", "org-a")
    job = create(storage, jobs)
    exports.run_export(TENANT, job.export_id, store=FakeStore(), jobs=jobs, storage=storage)
    hold_slots(jobs, TENANT, "exp_1", "exp_2")

    assert exports.run_export(TENANT, job.export_id, store=FakeStore(), queue=FakeQueue(), jobs=jobs) == "skipped"


def test_a_job_never_expires_while_it_waits_its_lifetime_counts_from_its_end(storage, jobs, monkeypatch):
    connect(storage, "conn-a", "org-a")
    job = create(storage, jobs)
    assert job.expires == NOW + exports.LIFETIME
    hold_slots(jobs, TENANT, "exp_1", "exp_2")
    queue = FakeQueue()
    later = NOW
    for _ in range(10):  # put back every 23 hours for 10 days: past the queue's retention and the job's lifetime
        later += timedelta(hours=23)
        monkeypatch.setattr(exports, "utc_now", lambda at=later: at)
        assert exports.run_export(TENANT, job.export_id, store=FakeStore(), queue=queue, jobs=jobs) == "deferred"
        shown, _ = exports.get_export(TENANT, job.export_id, store=None, jobs=jobs)
        assert shown.status == "queued"
    assert jobs.get_job(TENANT, job.export_id)["expires"] == later + exports.LIFETIME

    jobs.slots.clear()
    finished = later + timedelta(hours=1)
    monkeypatch.setattr(exports, "utc_now", lambda: finished)
    assert exports.run_export(TENANT, job.export_id, store=FakeStore(), queue=queue, jobs=jobs, storage=storage) == (
        "ready"
    )
    assert jobs.get_job(TENANT, job.export_id)["expires"] == finished + exports.LIFETIME
