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
