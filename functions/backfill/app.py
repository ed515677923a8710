"""backfill: the three steps of the backfill state machine (plan, one chunk, finalize)."""

from functools import partial

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from pump_anthropic import wiring
from pump_anthropic.logic import backfill, migrate
from pump_anthropic.logic.backfill import Chunk
from pump_anthropic.observability import MetricUnit, logger, metrics
from pump_anthropic.settings import settings


class PlanEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tenant_id: str
    connection_id: str
    run: int
    mode: str = "full"


class ChunkEvent(PlanEvent):
    start: str
    end: str


class FinalizeEvent(PlanEvent):
    results: list[dict]
    run_error: str | None = None


@logger.inject_lambda_context(log_event=True)  # ids and dates only: safe to log
def plan_handler(event: dict, context: LambdaContext) -> dict:
    wiring.bind_storage()
    request = PlanEvent.model_validate(event)
    chunks = backfill.plan_backfill(request.tenant_id, request.connection_id, request.run, request.mode)
    return {**request.model_dump(), "chunks": [c.as_event() for c in chunks]}


@logger.inject_lambda_context(log_event=True)
@metrics.log_metrics
def chunk_handler(event: dict, context: LambdaContext) -> dict:
    wiring.bind_storage()
    request = ChunkEvent.model_validate(event)
    chunk = Chunk.from_event(request.model_dump())
    result = backfill.run_chunk(
        chunk,
        secrets=wiring.secret_store(),
        client_factory=partial(wiring.admin_client, connection_id=request.connection_id),
        deadline=wiring.deadline_from(context),
        source=settings().cost_source,
    )
    metrics.add_metric(name="AnthropicRequests", unit=MetricUnit.Count, value=result.anthropic_requests)
    metrics.add_metric(name="AnthropicRetries", unit=MetricUnit.Count, value=result.anthropic_retries)
    metrics.add_metric(name="ItemsWritten", unit=MetricUnit.Count, value=result.items_written)
    return result.as_dict()


@logger.inject_lambda_context(log_event=True)
@metrics.log_metrics
def finalize_handler(event: dict, context: LambdaContext) -> dict:
    wiring.bind_storage()
    request = FinalizeEvent.model_validate(event)
    outcome = backfill.finalize_backfill(
        request.tenant_id, request.connection_id, request.run, request.results, request.run_error
    )
    metrics.add_metric(name="BackfillChunksFailed", unit=MetricUnit.Count, value=len(outcome.chunks_failed))
    return {"status": outcome.status, "chunks_total": outcome.chunks_total, "chunks_failed": outcome.chunks_failed}


@logger.inject_lambda_context(log_event=True)
def migrate_handler(event: dict, context: LambdaContext) -> dict:
    """Invoked once by an operator after deploying the day-document layout (idempotent)."""
    wiring.bind_storage()
    return migrate.migrate_layout()
