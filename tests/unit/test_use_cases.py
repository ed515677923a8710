"""The use cases against in-memory storage and a fake Admin API: connect, one backfill chunk, finalize, one sync.

These pin the flow of each use case without moto, the simulator or the state machine; the integration tests run
the same flows end to end.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr

from pump_anthropic.domain import report
from pump_anthropic.domain.records import ConnectionRecord
from pump_anthropic.exceptions import (
    AdminApiAuthError,
    AdminApiUnavailableError,
    BackfillStartError,
    ConflictError,
    ConnectionDisconnectedError,
    StandardKeyNotAllowedError,
    TenantRateLimitedError,
)
from pump_anthropic.logic import backfill, connections, quotas, read, sync
from pump_anthropic.logic.backfill import Chunk
from tests.support.fake_anthropic import FakeAdminApi, FakeLauncher, FakeSecrets, cost_row
from tests.support.fake_storage import NOW, fake_storage

KEY = "sk-ant-admin01-" + "u" * 93 + "AA"
TENANT = "tenant-1"
TODAY = NOW.date()


@pytest.fixture
def storage():
    return fake_storage()


def connect(storage, api: FakeAdminApi | None = None):
    api = api or FakeAdminApi(workspaces=[("wrkspc_a", "Research")])
    secrets, launcher = FakeSecrets(), FakeLauncher()
    services = connections.ConnectServices(client_factory=lambda key, deadline: api, secrets=secrets, launcher=launcher)
    record = connections.connect(TENANT, SecretStr(KEY), services, storage=storage)
    return record, secrets, launcher


def test_connect_stores_the_key_records_the_connection_and_starts_the_backfill_with_ids_only(storage):
    record, secrets, launcher = connect(storage)

    assert record.status == "backfilling" and record.organization_name == "Acme"
    assert secrets.stored == {record.secret_id: KEY}
    assert launcher.started == [
        {
            "tenant_id": TENANT,
            "connection_id": record.connection_id,
            "run": record.backfill_run,
            "run_id": record.backfill_run_id,
            "mode": "full",
        }
    ]
    assert KEY not in json.dumps(launcher.started) and KEY not in repr(record)
    assert storage.directory.workspace_names(TENANT, [record.connection_id]) == {"wrkspc_a": "Research"}


def test_connect_twice_while_backfilling_starts_one_backfill(storage):
    connect(storage)
    _, _, launcher = connect(storage)
    assert launcher.started == []


def test_a_standard_key_is_refused_before_anything_is_asked_or_stored(storage):
    api = FakeAdminApi()
    services = connections.ConnectServices(lambda key, deadline: api, FakeSecrets(), FakeLauncher())
    with pytest.raises(StandardKeyNotAllowedError):
        connections.connect(TENANT, SecretStr("sk-ant-api03-" + "x" * 95), services, storage=storage)
    assert api.asked == [] and storage.connections.connection_ids(TENANT) == []


def chunk_of(record, start: date, end: date) -> Chunk:
    return Chunk(TENANT, record.connection_id, record.backfill_run, start, end)


def test_one_chunk_stores_its_days_exactly_and_a_rerun_writes_nothing(storage):
    record, secrets, _ = connect(storage)
    day = date(2026, 3, 1)
    api = FakeAdminApi(costs={day: [cost_row("123.456")]})
    chunk = chunk_of(record, day, day + timedelta(days=2))

    first = backfill.run_chunk(
        chunk, secrets=secrets, client_factory=lambda k, d: api, deadline=None, source="legacy", storage=storage
    )
    again = backfill.run_chunk(
        chunk, secrets=secrets, client_factory=lambda k, d: api, deadline=None, source="legacy", storage=storage
    )

    items = list(storage.costs.iter_cost_items(TENANT, record.connection_id, day, day))
    assert [i.cost_usd for i in items] == [Decimal("1.23456")]
    assert (first.items_written, again.items_written, again.items_unchanged) == (1, 0, 1)
    assert storage.connections.list_chunks(TENANT, record.connection_id)[-1].status == "done"


def test_a_chunk_of_a_disconnected_connection_stops(storage):
    record, secrets, _ = connect(storage)
    storage.connections.disconnect(TENANT, record.connection_id)
    with pytest.raises(ConnectionDisconnectedError):
        backfill.run_chunk(
            chunk_of(record, TODAY, TODAY + timedelta(days=1)),
            secrets=secrets,
            client_factory=lambda k, d: FakeAdminApi(),
            deadline=None,
            storage=storage,
        )


def test_a_failing_chunk_records_our_code_and_raises_for_the_state_machine_to_retry(storage):
    record, secrets, _ = connect(storage)
    api = FakeAdminApi(failure=AdminApiUnavailableError("Anthropic's API kept failing."))
    chunk = chunk_of(record, TODAY, TODAY + timedelta(days=1))
    storage.connections.plan_chunks(TENANT, record.connection_id, 1, [(chunk.start, chunk.end)])
    with pytest.raises(AdminApiUnavailableError):
        backfill.run_chunk(
            chunk, secrets=secrets, client_factory=lambda k, d: api, deadline=None, source="legacy", storage=storage
        )
    assert storage.connections.list_chunks(TENANT, record.connection_id)[0].error_code == "anthropic_unavailable"


def plan(storage, record) -> list[Chunk]:
    """The planned chunks, oldest first."""
    planned = backfill.plan_backfill(
        TENANT, record.connection_id, record.backfill_run, "full", today=TODAY, storage=storage
    )
    return sorted(planned, key=lambda chunk: chunk.start)


def test_plan_puts_the_newest_month_first_so_recent_spend_shows_first(storage):
    record, _, _ = connect(storage)
    planned = backfill.plan_backfill(
        TENANT, record.connection_id, record.backfill_run, "full", today=TODAY, storage=storage
    )
    assert [c.start for c in planned] == sorted((c.start for c in planned), reverse=True)
    assert planned[0].end == TODAY + timedelta(days=1)


def test_plan_covers_365_days_in_monthly_chunks_through_today(storage):
    record, _, _ = connect(storage)
    chunks = plan(storage, record)
    assert chunks[0].start == TODAY - timedelta(days=364) and chunks[-1].end == TODAY + timedelta(days=1)
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:], strict=False))


def finalize(storage, record, results, run_error=None):
    return backfill.finalize_backfill(
        TENANT, record.connection_id, record.backfill_run, results, run_error, storage=storage
    )


def done(chunks: list[Chunk]) -> list[dict]:
    return [{"start": c.start.isoformat(), "end": c.end.isoformat(), "status": "done"} for c in chunks]


def test_finalize_all_done_activates_the_connection_and_sets_the_cursor(storage):
    record, _, _ = connect(storage)
    chunks = plan(storage, record)
    for c in chunks:
        storage.connections.record_chunk(TENANT, record.connection_id, c.start.isoformat(), status="done")
    outcome = finalize(storage, record, done(chunks))
    assert outcome.status == "active"
    assert storage.costs.get_sync_cursor(TENANT, record.connection_id) is not None


def test_finalize_with_a_failed_month_is_an_error_naming_the_month_with_our_code(storage):
    record, _, _ = connect(storage)
    chunks = plan(storage, record)
    for c in chunks[1:]:
        storage.connections.record_chunk(TENANT, record.connection_id, c.start.isoformat(), status="done")
    cause = json.dumps({"errorMessage": "Anthropic's API kept failing."})
    failed = {
        "start": chunks[0].start.isoformat(),
        "status": "failed",
        "error": "AdminApiRateLimitedError",
        "cause": cause,
    }
    outcome = finalize(storage, record, [failed, *done(chunks[1:])])
    current = storage.connections.get_connection(TENANT, record.connection_id)
    assert outcome.status == "error" and outcome.chunks_failed == [chunks[0].start.isoformat()]
    assert current.chunks[0].error_code == "anthropic_rate_limited"
    assert chunks[0].start.isoformat()[:7] in current.last_error_message


def test_finalize_never_shows_a_tenant_the_text_of_an_error_that_is_not_ours(storage):
    record, _, _ = connect(storage)
    chunks = plan(storage, record)
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/pump-anthropic"
    cause = json.dumps({"errorMessage": f"User: arn:aws:sts::123456789012:assumed-role/x is not authorized on {arn}"})
    failed = {"start": chunks[0].start.isoformat(), "status": "failed", "error": "ClientError", "cause": cause}
    finalize(storage, record, [failed])
    chunk = storage.connections.get_connection(TENANT, record.connection_id).chunks[0]
    assert chunk.error_code == "chunk_failed"
    assert "123456789012" not in chunk.error_message and "arn:" not in chunk.error_message


def test_finalize_with_a_rejected_key_revokes_the_connection(storage):
    record, _, _ = connect(storage)
    chunks = plan(storage, record)
    failed = {"start": chunks[0].start.isoformat(), "status": "failed", "error": "AdminApiAuthError", "cause": "{}"}
    assert finalize(storage, record, [failed]).status == "revoked"


def active_connection(storage):
    record, secrets, _ = connect(storage)
    storage.connections.finish_backfill(
        TENANT, record.connection_id, run=record.backfill_run, status="active", error_code=None, error_message=None
    )
    storage.costs.advance_sync_cursor(TENANT, record.connection_id, TODAY)
    return record, secrets


def test_sync_rewrites_the_trailing_window_and_a_quiet_hour_writes_nothing(storage, monkeypatch):
    monkeypatch.setattr(sync, "utc_now", lambda: NOW)
    (
        record,
        secrets,
    ) = active_connection(storage)
    day = TODAY - timedelta(days=1)
    api = FakeAdminApi(costs={day: [cost_row("250")]})

    first = sync.sync_connection(
        TENANT,
        record.connection_id,
        secrets=secrets,
        client_factory=lambda k, d: api,
        deadline=None,
        source="legacy",
        storage=storage,
    )
    quiet = sync.sync_connection(
        TENANT,
        record.connection_id,
        secrets=secrets,
        client_factory=lambda k, d: api,
        deadline=None,
        source="legacy",
        storage=storage,
    )

    assert (first.status, first.items_written) == ("synced", 1)
    assert (quiet.items_written, quiet.items_deleted, quiet.items_unchanged) == (0, 0, 1)
    assert first.window_start == TODAY - timedelta(days=sync.DEFAULT_LOOKBACK_DAYS)


def test_sync_with_a_rejected_key_marks_the_connection_revoked(storage, monkeypatch):
    monkeypatch.setattr(sync, "utc_now", lambda: NOW)
    record, secrets = active_connection(storage)
    api = FakeAdminApi(failure=AdminApiAuthError("invalid x-api-key", status=401))
    outcome = sync.sync_connection(
        TENANT,
        record.connection_id,
        secrets=secrets,
        client_factory=lambda k, d: api,
        deadline=None,
        source="legacy",
        storage=storage,
    )
    current = storage.connections.get_connection(TENANT, record.connection_id)
    assert outcome.status == "revoked" and current.status == "revoked" and current.last_error_code == "key_revoked"


def test_sync_of_a_connection_that_is_not_active_is_skipped(storage):
    record, secrets, _ = connect(storage)
    api = FakeAdminApi()
    outcome = sync.sync_connection(
        TENANT,
        record.connection_id,
        secrets=secrets,
        client_factory=lambda k, d: api,
        deadline=None,
        source="legacy",
        storage=storage,
    )
    assert outcome.status == "skipped" and api.asked == []


def test_disconnect_deletes_the_key_at_once_and_purge_leaves_nothing_of_the_connection(storage, monkeypatch):
    monkeypatch.setattr(sync, "utc_now", lambda: NOW)
    record, secrets = active_connection(storage)
    day = TODAY - timedelta(days=1)
    api = FakeAdminApi(costs={day: [cost_row("250")]})
    sync.sync_connection(
        TENANT,
        record.connection_id,
        secrets=secrets,
        client_factory=lambda k, d: api,
        deadline=None,
        source="legacy",
        storage=storage,
    )

    kept, purged = connections.disconnect(TENANT, record.connection_id, purge=False, secrets=secrets, storage=storage)
    assert (kept.status, purged, secrets.stored) == ("disconnected", None, {})

    gone, deleted = connections.disconnect(TENANT, record.connection_id, purge=True, secrets=secrets, storage=storage)
    assert gone.status == "purged" and deleted > 0
    assert storage.connections.get_connection(TENANT, record.connection_id) is None


def test_a_tenant_that_floods_connect_is_refused_before_anthropic_is_asked(storage):
    for _ in range(quotas.CONNECT.limit):
        connect(storage)
    api = FakeAdminApi()
    with pytest.raises(TenantRateLimitedError) as refused:
        connect(storage, api)
    assert refused.value.http_status == 429 and api.asked == []
    # another tenant is not affected
    services = connections.ConnectServices(lambda key, deadline: FakeAdminApi(), FakeSecrets(), FakeLauncher())
    assert connections.connect("tenant-2", SecretStr(KEY), services, storage=storage).status == "backfilling"


def test_exports_are_counted_against_the_tenants_quota(storage):
    query = report.parse_cost_query(None, None, None, today=TODAY)
    for _ in range(quotas.EXPORT.limit):
        list(read.export_lines(TENANT, query, by_api_key=False, storage=storage))
    with pytest.raises(TenantRateLimitedError):
        read.export_lines(TENANT, query, by_api_key=True, storage=storage)


def test_sync_now_is_counted_against_the_tenants_quota(storage):
    record, _ = active_connection(storage)
    storage.quotas.counts[(TENANT, quotas.SYNC_NOW.action)] = quotas.SYNC_NOW.limit
    queue = type("Queue", (), {"send": lambda self, messages: None})()
    with pytest.raises(TenantRateLimitedError):
        connections.request_sync(TENANT, record.connection_id, queue, storage=storage)


# ------------------------------------------------------------------ reconnect and retry from every state


def conflict_code(call) -> str:
    with pytest.raises(ConflictError) as refused:
        call()
    assert refused.value.http_status == 409 and refused.value.message.endswith(".")
    return refused.value.code


def retry(storage, record, launcher=None):
    return connections.retry_backfill(TENANT, record.connection_id, launcher or FakeLauncher(), storage=storage)


def settle_all_done(storage, record) -> None:
    chunks = plan(storage, record)
    for c in chunks:
        storage.connections.record_chunk(TENANT, record.connection_id, c.start.isoformat(), status="done")
    assert finalize(storage, record, done(chunks)).status == "active"


def test_connecting_again_after_a_purge_starts_a_run_of_its_own(storage):
    first, secrets, first_launcher = connect(storage)
    settle_all_done(storage, first)
    connections.disconnect(TENANT, first.connection_id, purge=True, secrets=secrets, storage=storage)

    second, _, second_launcher = connect(storage)

    assert second.status == "backfilling" and second_launcher.started[0]["mode"] == "full"
    # Neither the run id (the execution name) nor the run number (what the state machine carries) repeats
    assert second.backfill_run_id != first.backfill_run_id and second.backfill_run != first.backfill_run
    assert second_launcher.started[0]["run_id"] != first_launcher.started[0]["run_id"]


def test_a_run_of_a_purged_connection_neither_plans_runs_nor_settles_the_reconnected_one(storage):
    stale, secrets, _ = connect(storage)
    connections.disconnect(TENANT, stale.connection_id, purge=True, secrets=secrets, storage=storage)
    current, secrets, _ = connect(storage)
    planned = plan(storage, current)

    assert backfill.plan_backfill(TENANT, stale.connection_id, stale.backfill_run, "full", storage=storage) == []
    with pytest.raises(ConflictError):
        backfill.run_chunk(
            chunk_of(stale, planned[0].start, planned[0].end),
            secrets=secrets,
            client_factory=lambda k, d: FakeAdminApi(),
            deadline=None,
            storage=storage,
        )
    failed = {"start": planned[0].start.isoformat(), "status": "failed", "error": "AdminApiAuthError", "cause": "{}"}
    assert finalize(storage, stale, [failed]).status == "superseded"

    after = storage.connections.get_connection(TENANT, current.connection_id)
    assert after.status == "backfilling" and {c.status for c in after.chunks} == {"pending"}


def test_retrying_a_complete_backfill_is_refused_only_when_active(storage):
    record, _, _ = connect(storage)
    settle_all_done(storage, record)
    assert conflict_code(lambda: retry(storage, record)) == "nothing_to_retry"


def test_a_backfill_lost_before_planning_is_in_progress_then_restartable_in_full(storage):
    record, _, _ = connect(storage)  # the execution never ran: backfilling, 0 of 0 chunks

    assert conflict_code(lambda: retry(storage, record)) == "backfill_in_progress"

    storage.connections.now += ConnectionRecord.IN_FLIGHT_BACKFILL + timedelta(minutes=1)
    launcher = FakeLauncher()
    restarted = retry(storage, record, launcher)
    assert restarted.status == "backfilling" and restarted.backfill_run == record.backfill_run + 1
    assert launcher.started[0]["mode"] == "full" and launcher.started[0]["run_id"] != record.backfill_run_id


def test_a_backfill_that_could_not_start_is_retried_in_full(storage):
    class Unavailable(FakeLauncher):
        def start(self, **payload) -> str:
            raise BackfillStartError("Could not start the backfill (ServiceUnavailable); please try again.")

    services = connections.ConnectServices(lambda key, deadline: FakeAdminApi(), FakeSecrets(), Unavailable())
    with pytest.raises(BackfillStartError):
        connections.connect(TENANT, SecretStr(KEY), services, storage=storage)
    (record,) = storage.connections.list_connections(TENANT)
    assert record.status == "error" and record.chunks == ()

    launcher = FakeLauncher()
    assert retry(storage, record, launcher).status == "backfilling"
    assert launcher.started[0]["mode"] == "full"


def test_failed_months_are_retried_alone_and_a_second_retry_waits_for_the_first(storage):
    record, _, _ = connect(storage)
    chunks = plan(storage, record)
    failed = {"start": chunks[0].start.isoformat(), "status": "failed", "error": "AdminApiUnavailableError"}
    assert finalize(storage, record, [failed, *done(chunks[1:])]).status == "error"

    launcher = FakeLauncher()
    retried = retry(storage, record, launcher)

    assert launcher.started[0]["mode"] == "failed_only" and launcher.started[0]["run"] == retried.backfill_run
    assert conflict_code(lambda: retry(storage, retried)) == "backfill_in_progress"


@pytest.mark.parametrize("status", ["disconnected", "revoked"])
def test_a_connection_without_a_usable_key_is_told_to_connect_again(storage, status):
    record, secrets, _ = connect(storage)
    settle_all_done(storage, record)
    if status == "disconnected":
        connections.disconnect(TENANT, record.connection_id, purge=False, secrets=secrets, storage=storage)
    else:
        storage.connections.mark_revoked(TENANT, record.connection_id, code="key_revoked", message="Key revoked.")
    with pytest.raises(ConflictError) as refused:
        retry(storage, record)
    assert refused.value.code == f"connection_{status}" and "POST /integrations/anthropic" in refused.value.message

    again, _, launcher = connect(storage)
    assert again.status == "backfilling" and launcher.started[0]["mode"] == "full"


def test_sync_now_of_a_backfilling_connection_says_what_to_do(storage):
    record, _, _ = connect(storage)
    queue = type("Queue", (), {"send": lambda self, messages: None})()
    with pytest.raises(ConflictError) as refused:
        connections.request_sync(TENANT, record.connection_id, queue, storage=storage)
    assert refused.value.code == "connection_not_active"
    assert f"POST /integrations/anthropic/{record.connection_id}/backfill" in refused.value.message


def test_a_sync_reads_the_key_named_by_its_connection_id_not_by_a_field_of_the_table(storage, monkeypatch):
    """Confused deputy: the connection item pointed at another tenant's secret is not followed; the worker derives
    the secret's name from the connection id it was handed."""
    monkeypatch.setattr(sync, "utc_now", lambda: NOW)
    record, secrets = active_connection(storage)
    secrets.stored["pump/conn_of_another_tenant"] = "sk-ant-admin01-" + "z" * 93 + "AA"
    storage.connections._update(TENANT, record.connection_id, secret_id="pump/conn_of_another_tenant")
    keys_used = []
    api = FakeAdminApi(costs={TODAY - timedelta(days=1): [cost_row("250")]})

    def client_factory(key, deadline):
        keys_used.append(key.get_secret_value())
        return api

    sync.sync_connection(
        TENANT, record.connection_id, secrets=secrets, client_factory=client_factory, deadline=None,
        source="legacy", storage=storage,
    )  # fmt: skip
    assert keys_used and set(keys_used) == {KEY}


def test_a_sync_that_finds_its_connection_purged_after_writing_deletes_its_window_and_stops(storage, monkeypatch):
    monkeypatch.setattr(sync, "utc_now", lambda: NOW)
    record, secrets = active_connection(storage)
    api = FakeAdminApi(costs={TODAY - timedelta(days=1): [cost_row("250")]})
    windows = []
    real_store = storage.costs.store_days

    def store_then_purge(*args, **kwargs):
        figures = real_store(*args, **kwargs)
        storage.connections.disconnect(TENANT, record.connection_id, purging=True)  # the purge lands meanwhile
        return figures

    monkeypatch.setattr(storage.costs, "store_days", store_then_purge)
    monkeypatch.setattr(storage.connections, "purge_window", lambda t, c, first, last: windows.append((first, last)))
    outcome = sync.sync_connection(
        TENANT, record.connection_id, secrets=secrets, client_factory=lambda k, d: api, deadline=None,
        source="legacy", storage=storage,
    )  # fmt: skip
    assert outcome.status == "skipped"
    assert windows == [(TODAY - timedelta(days=sync.DEFAULT_LOOKBACK_DAYS), TODAY)]
