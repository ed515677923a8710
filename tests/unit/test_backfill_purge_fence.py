"""Purges landing while the backfill plans or settles (issue 23, item 2; both found by tests/integration/test_chaos.py).

The plan checked the connection, the purge deleted everything, then the plan wrote its chunk records, which nothing
deleted afterwards (the chunks found no connection and the finalize settled nothing): 13 `pending` chunks were left.
The finalize read the connection while the purge was under way and then set the sync cursor: a `SYNC` item was left.
Both now check after writing, as the chunks and the sync do."""

from __future__ import annotations

import pytest

from pump_anthropic.exceptions import ConnectionDisconnectedError
from pump_anthropic.logic import backfill
from tests.support.fake_storage import NOW
from tests.unit.test_use_cases import TENANT, TODAY, connect, done, finalize, plan


@pytest.fixture
def storage():
    from tests.support.fake_storage import fake_storage

    return fake_storage()


def test_a_plan_that_finds_its_connection_purged_after_writing_its_chunks_deletes_them_and_stops(storage, monkeypatch):
    record, _, _ = connect(storage)
    real_plan_chunks = storage.connections.plan_chunks

    def plan_then_purge(*args, **kwargs):
        real_plan_chunks(*args, **kwargs)
        storage.connections.disconnect(TENANT, record.connection_id, purging=True)  # the purge lands meanwhile

    monkeypatch.setattr(storage.connections, "plan_chunks", plan_then_purge)
    with pytest.raises(ConnectionDisconnectedError):
        backfill.plan_backfill(TENANT, record.connection_id, record.backfill_run, "full", today=TODAY, storage=storage)

    assert storage.connections.list_chunks(TENANT, record.connection_id) == []


def test_a_plan_with_no_purge_in_sight_keeps_its_chunks(storage):
    record, _, _ = connect(storage)
    planned = backfill.plan_backfill(
        TENANT, record.connection_id, record.backfill_run, "full", today=TODAY, storage=storage
    )
    assert len(storage.connections.list_chunks(TENANT, record.connection_id)) == len(planned) > 0


def test_a_finalize_during_a_purge_settles_nothing(storage):
    record, _, _ = connect(storage)
    chunks = plan(storage, record)
    storage.connections.disconnect(TENANT, record.connection_id, purging=True)  # marked, not yet deleted

    assert finalize(storage, record, done(chunks)).status == "superseded"
    assert storage.costs.get_sync_cursor(TENANT, record.connection_id) is None


def test_a_finalize_that_finds_a_purge_landed_after_it_wrote_deletes_what_it_wrote(storage, monkeypatch):
    monkeypatch.setattr(backfill, "utc_now", lambda: NOW)
    record, _, _ = connect(storage)
    chunks = plan(storage, record)
    for chunk in chunks:
        storage.connections.record_chunk(TENANT, record.connection_id, chunk.start.isoformat(), status="done")
    real_advance = storage.costs.advance_sync_cursor
    windows = []

    def advance_then_purge(*args, **kwargs):
        real_advance(*args, **kwargs)
        storage.connections.disconnect(TENANT, record.connection_id, purging=True)  # the purge lands meanwhile

    monkeypatch.setattr(storage.costs, "advance_sync_cursor", advance_then_purge)
    monkeypatch.setattr(storage.connections, "purge_window", lambda t, c, first, last: windows.append((first, last)))

    assert finalize(storage, record, done(chunks)).status == "superseded"
    assert windows == [(TODAY, TODAY)]  # the connection's own partition (chunks, sync state) and today's days
