"""Placing API keys in their workspace: from the key list when it can, with a report only when it must.

A workspace-scoped key lives in one workspace, which the key list names; the (api_key_id, workspace_id) usage
report is pulled only for keys the list can't place (organization-scoped) — one request per sync saved.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from pump_anthropic.dal import directory
from pump_anthropic.dal.models import ApiKeyModel
from pump_anthropic.domain.allocation import KeyHomes
from tests.support.oracles import PLACEMENT_REPORT, THREE_REPORTS
from tests.support.stack import FIXED_NOW, sync_now

pytestmark = pytest.mark.network

COST = "/v1/organizations/cost_report"
USAGE = "/v1/organizations/usage_report/messages"
KEY_LIST = "/v1/organizations/api_keys"


def test_workspace_scoped_keys_are_placed_without_the_placement_report(stack):
    connection = stack.wait_settled(stack.connect().json()["id"])
    chunks = connection["backfill"]["chunks_total"]

    # The backfill asked for three reports per month and never for the placement report
    grouped = stack.simulator.grouped_request_counts
    assert PLACEMENT_REPORT not in grouped
    assert {q for q in grouped if q[0] in (COST, USAGE)} == THREE_REPORTS
    assert all(grouped[q] == chunks for q in THREE_REPORTS)

    # A quiet hourly sync: the same three reports, once each
    sync_now(stack, connection["id"])
    stack.simulator.reset_counts()
    stack.aws.fire_sync_schedule()
    stack.aws.drain_sync_queue()
    assert stack.simulator.grouped_request_counts == dict.fromkeys(THREE_REPORTS, 1)


def test_a_key_the_stored_list_does_not_know_is_fetched_with_the_key_list(stack):
    connection = stack.wait_settled(stack.connect().json()["id"])
    sync_now(stack, connection["id"])
    # Given a key used in the sync window that the stored key list doesn't name (created since the last refresh)
    today = FIXED_NOW.date()
    recent = {row.api_key_id for d in range(4) for row in stack.simulator.org.usage_rows(today - timedelta(days=d))}
    new_key = sorted(k for k in recent if k)[0]
    [stored] = list(ApiKeyModel.scan(ApiKeyModel.sk == f"APIKEY#{new_key}"))
    stored.delete()
    stack.simulator.reset_counts()

    # When the hourly sync runs
    stack.aws.fire_sync_schedule()
    stack.aws.drain_sync_queue()

    # Then it read the key list once (the key's name is back) and still placed every key without the report
    counts = stack.simulator.grouped_request_counts
    assert counts[(KEY_LIST, ())] == 1
    assert PLACEMENT_REPORT not in counts
    assert [m.name for m in ApiKeyModel.scan(ApiKeyModel.sk == f"APIKEY#{new_key}")] == [stored.name]


def test_the_stored_key_list_places_keys_as_the_api_list_does(stack):
    api_list = [
        {"id": "k1", "name": "a", "scope": {"type": "workspace", "workspace_id": "wrkspc_a"}, "workspace_id": "w"},
        {"id": "k2", "name": "b", "scope": {"type": "workspace", "workspace_id": None}, "workspace_id": None},
        {"id": "k3", "name": "c", "scope": {"type": "organization"}, "workspace_id": None},
        {"id": "k4", "name": "d", "workspace_id": "wrkspc_b"},
        {"id": "k5", "name": "e", "workspace_id": None},
        {"id": "k6", "name": "f", "scope": {"type": "workspace", "workspace_id": ["odd"]}},
        {"id": "k7", "name": "g", "scope": {"kind": "new"}},
    ]
    directory.put_api_keys("tenant-x", "conn-x", api_list)
    stored = KeyHomes.from_api_keys(directory.api_keys("tenant-x", "conn-x"))
    assert stored == KeyHomes.from_api_keys(api_list)
    assert stored.workspace_of == {"k1": "wrkspc_a", "k2": None, "k4": "wrkspc_b"}
