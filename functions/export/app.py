"""export: runs export jobs from the export queue (SQS, one job per message), each file streamed to S3."""

import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pump_anthropic import wiring
from pump_anthropic.logic import exports
from pump_anthropic.observability import logger


def _export_record(record: SQSRecord, lambda_context: LambdaContext | None = None) -> dict:
    message = json.loads(record.body)
    # The ids are all a worker takes from outside; the job's file is named by them (logic.exports).
    outcome = exports.run_export(
        message["tenant_id"],
        message["export_id"],
        store=wiring.export_store(),
        queue=wiring.export_queue(),  # a job whose tenant already runs its share goes back, with a delay
        deadline=wiring.deadline_from(lambda_context),
    )
    logger.info("export run finished", extra={"export_id": message["export_id"], "outcome": outcome})
    return {"outcome": outcome}


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    wiring.bind_storage()
    # A run cut off by an error we could not even record returns its message to the queue (at most 3 times).
    # A processor per event: it holds the batch's state (the local runtime runs several exports at once).
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=_export_record, processor=processor, context=context)
