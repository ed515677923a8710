"""sync: the hourly dispatcher (EventBridge schedule) and the per-connection sync (SQS, partial batch failures)."""

import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pump_anthropic import services, sync
from pump_anthropic.observability import logger
from pump_anthropic.settings import settings

processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context(log_event=False)
def dispatch_handler(event: dict, context: LambdaContext) -> dict:
    services.bind_storage()
    sent = sync.dispatch_active_connections(services.sync_queue().send)
    return {"connections_queued": sent}


def _sync_record(record: SQSRecord, lambda_context: LambdaContext | None = None) -> dict:
    message = json.loads(record.body)
    outcome = sync.sync_connection(
        message["tenant_id"],
        message["connection_id"],
        secrets=services.secret_store(),
        client_factory=services.admin_client,
        deadline=services.deadline_from(lambda_context),
        lookback_days=settings().sync_lookback_days,
    )
    logger.info("sync finished", extra={"connection_id": message["connection_id"], "status": outcome.status})
    return outcome.__dict__


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    services.bind_storage()
    # A retriable failure of one connection returns it to the queue; the others are not retried.
    return process_partial_response(event=event, record_handler=_sync_record, processor=processor, context=context)
