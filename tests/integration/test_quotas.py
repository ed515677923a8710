"""Per-tenant quotas on DynamoDB: one conditional write per request, so the limit holds and tenants are apart."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pump_anthropic.dal import quotas

pytestmark = pytest.mark.network


def test_a_quota_counts_up_to_its_limit_per_tenant_and_action(stack):
    minute = timedelta(minutes=1)
    taken = [quotas.take_quota("tenant-a", "export", limit=2, window=minute) for _ in range(3)]
    assert taken == [True, True, False]
    assert quotas.take_quota("tenant-b", "export", limit=2, window=minute)
    assert quotas.take_quota("tenant-a", "connect", limit=2, window=minute)


def test_the_export_route_answers_429_past_the_quota(stack, monkeypatch):
    from pump_anthropic.logic import quotas as policy

    monkeypatch.setattr(policy, "EXPORT", policy.Quota("export", 1, timedelta(minutes=1), "exports"))
    first = stack.call("GET", "/costs/export?from=2026-01-01&to=2026-01-02")
    second = stack.call("GET", "/costs/export?from=2026-01-01&to=2026-01-02")
    assert first.status == 200
    assert (second.status, second.json()["error"]["code"]) == (429, "tenant_rate_limited")


def test_a_weighted_quota_counts_the_work_not_the_requests(stack):
    minute = timedelta(minutes=1)
    assert quotas.take_quota("tenant-w", "read", limit=10, window=minute, weight=6)
    assert not quotas.take_quota("tenant-w", "read", limit=10, window=minute, weight=5)
    assert quotas.take_quota("tenant-w", "read", limit=10, window=minute, weight=4)
    assert not quotas.take_quota("tenant-w", "read", limit=10, window=minute, weight=1)


@pytest.mark.read_quota
def test_one_tenant_flooding_get_costs_is_throttled_while_another_still_reads(stack):
    """Reads are weighted by the work they ask for: a flood of year-long reads by one tenant runs into its own
    quota (429 tenant_rate_limited with Retry-After), and another tenant's reads are untouched."""
    from pump_anthropic.logic import quotas as policy

    year = "/costs?from=2025-12-08&to=2026-12-07&group_by=workspace_id,date,model"
    statuses = []
    for _ in range(policy.READ.limit):  # far more work than the quota: each asks for a year of day documents
        statuses.append(stack.call("GET", year, tenant="flooding").status)
        if statuses[-1] == 429:
            break
    assert statuses[0] == 200 and statuses[-1] == 429
    assert len(statuses) < 20
    refused = stack.call("GET", year, tenant="flooding")
    assert refused.status == 429 and refused.json()["error"]["code"] == "tenant_rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert stack.call("GET", year, tenant="quiet").status == 200
