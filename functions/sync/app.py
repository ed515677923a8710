"""sync: the hourly dispatcher (EventBridge schedule) and the per-connection sync (SQS, partial batch failures)."""

import json
from datetime import datetime
from decimal import Decimal
from functools import partial

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pump_anthropic import wiring
from pump_anthropic.clock import utc_now
from pump_anthropic.exceptions import ConnectionDisconnectedError, PumpError
from pump_anthropic.logic import guard, sync
from pump_anthropic.observability import MetricUnit, logger, metrics
from pump_anthropic.settings import settings

processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context(log_event=False)
def dispatch_handler(event: dict, context: LambdaContext) -> dict:
    wiring.bind_storage()
    sent = sync.dispatch_active_connections(wiring.sync_queue().send)
    return {"connections_queued": sent}


def _sync_record(record: SQSRecord, lambda_context: LambdaContext | None = None) -> dict:
    message = json.loads(record.body)
    outcome = sync.sync_connection(
        message["tenant_id"],
        message["connection_id"],
        secrets=wiring.secret_store(),
        client_factory=partial(wiring.admin_client, connection_id=message["connection_id"]),
        deadline=wiring.deadline_from(lambda_context),
        lookback_days=settings().sync_lookback_days,
        source=settings().cost_source,
        reread_days=settings().analytics_reread_days,
        hourly_reread_hours=settings().hourly_reread_hours,
    )
    logger.info("sync finished", extra={"connection_id": message["connection_id"], "status": outcome.status})
    record_sync_metrics(outcome)
    if outcome.status == "synced":
        check_spend(message["tenant_id"], message["connection_id"])
    return outcome.__dict__


def check_spend(tenant_id: str, connection_id: str) -> None:
    """The spend guard's check of what the sync just stored. Its failure doesn't fail the sync (the days are
    stored): the next hourly sync checks again, and publishes whatever this one left unpublished."""
    try:
        outcome = guard.check_connection(tenant_id, connection_id, wiring.alert_bus().publish)
    except ConnectionDisconnectedError:
        return  # purged meanwhile: what the check wrote is deleted
    except PumpError as exc:
        logger.error("spend check failed", extra={"connection_id": connection_id, "error_code": exc.code})
        metrics.add_metric(name="SpendCheckFailures", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="AlertsRaised", unit=MetricUnit.Count, value=outcome.raised)


def record_sync_metrics(outcome: sync.SyncOutcome) -> None:
    metrics.add_metric(name="AnthropicRequests", unit=MetricUnit.Count, value=outcome.anthropic_requests)
    metrics.add_metric(name="AnthropicRetries", unit=MetricUnit.Count, value=outcome.anthropic_retries)
    metrics.add_metric(name="ItemsWritten", unit=MetricUnit.Count, value=outcome.items_written)
    if outcome.status == "revoked":
        metrics.add_metric(name="ConnectionsRevoked", unit=MetricUnit.Count, value=1)
    if outcome.previous_sync_at:
        lag = (utc_now() - datetime.fromisoformat(outcome.previous_sync_at)).total_seconds()
        metrics.add_metric(name="SyncLagSeconds", unit=MetricUnit.Seconds, value=lag)
    if outcome.cross_check is not None:
        # The day's audit of the analytics source against the legacy reports (amounts exact until here).
        mismatch = 1 if outcome.cross_check.get("mismatch") else 0
        metrics.add_metric(name="SourceCrossCheckMismatch", unit=MetricUnit.Count, value=mismatch)
        difference = abs(Decimal(str(outcome.cross_check.get("difference_usd") or 0)))
        metrics.add_metric(name="SourceCrossCheckDifferenceUsd", unit=MetricUnit.NoUnit, value=float(difference))


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    wiring.bind_storage()
    # A retriable failure of one connection returns it to the queue; the others are not retried.
    response = process_partial_response(event=event, record_handler=_sync_record, processor=processor, context=context)
    metrics.add_metric(name="SyncFailures", unit=MetricUnit.Count, value=len(response.get("batchItemFailures", [])))
    return response
