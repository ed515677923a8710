"""reconcile: GET /costs/reconciliation, a month's stored total beside Anthropic's own (reads the Admin keys)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from pump_anthropic import wiring
from pump_anthropic.api.powertools import new_resolver
from pump_anthropic.api.reconciliation import router
from pump_anthropic.api.responses import install_error_handlers
from pump_anthropic.observability import logger

app = new_resolver()
app.include_router(router)
install_error_handlers(app)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    wiring.bind_storage()
    return app.resolve(event, context)
