"""The sync's daily audit of the analytics source becomes two metrics (the mismatch alarm watches the first)."""

import contextlib
import io
import json

import pytest

from functions.sync.app import record_sync_metrics
from pump_anthropic.logic import sync
from pump_anthropic.observability import metrics


def emitted(outcome: sync.SyncOutcome, monkeypatch) -> tuple[dict, dict[str, str]]:
    """The EMF document the outcome's metrics flush to, and each metric's unit."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()  # process-wide: earlier handlers in this process may have added to it
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        record_sync_metrics(outcome)
        metrics.flush_metrics()
    emf = json.loads(out.getvalue().splitlines()[-1])
    units = {m["Name"]: m["Unit"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    return emf, units


def audit(mismatch: bool, difference: str) -> dict:
    return {
        "day": "2026-11-24",
        "analytics_usd": "101.25",
        "legacy_usd": "100.00",
        "priority_usd": "0",
        "difference_usd": difference,
        "mismatch": mismatch,
    }


def test_a_mismatch_counts_one_and_reports_the_size_of_the_difference(monkeypatch):
    emf, units = emitted(sync.SyncOutcome("synced", cross_check=audit(True, "-1.25")), monkeypatch)
    assert emf["SourceCrossCheckMismatch"] == [1.0]
    assert emf["SourceCrossCheckDifferenceUsd"] == [pytest.approx(1.25)]
    assert (units["SourceCrossCheckMismatch"], units["SourceCrossCheckDifferenceUsd"]) == ("Count", "None")


def test_an_agreeing_audit_counts_zero(monkeypatch):
    emf, _ = emitted(sync.SyncOutcome("synced", cross_check=audit(False, "0.000001")), monkeypatch)
    assert emf["SourceCrossCheckMismatch"] == [0.0]
    assert emf["SourceCrossCheckDifferenceUsd"] == [pytest.approx(0.000001)]


def test_a_sync_without_an_audit_emits_neither(monkeypatch):
    emf, units = emitted(sync.SyncOutcome("synced", anthropic_requests=3), monkeypatch)
    assert "SourceCrossCheckMismatch" not in units and "SourceCrossCheckDifferenceUsd" not in units
    assert emf["AnthropicRequests"] == [3.0]
