import contextlib
import io
import json

from functions.sync.app import record_sync_metrics
from pump_anthropic.logic import sync
from pump_anthropic.observability import metrics


def test_a_sync_emits_requests_retries_items_and_lag_as_emf(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()  # the Metrics object is process-wide: earlier handlers in this process added to it
    outcome = sync.SyncOutcome(
        "synced",
        anthropic_requests=6,
        anthropic_retries=2,
        items_written=3,
        previous_sync_at="2026-11-25T10:00:00+00:00",
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        record_sync_metrics(outcome)
        metrics.flush_metrics()
    emf = json.loads(out.getvalue().splitlines()[-1])
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "PumpAnthropic"
    assert (emf["AnthropicRequests"], emf["AnthropicRetries"], emf["ItemsWritten"]) == ([6.0], [2.0], [3.0])
    assert emf["SyncLagSeconds"][0] > 0
