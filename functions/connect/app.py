"""connect: the /integrations/anthropic API (API Gateway HTTP API, JWT authorizer)."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from pump_anthropic import services
from pump_anthropic.api.common import install_error_handlers
from pump_anthropic.api.integrations import router
from pump_anthropic.observability import logger

app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(router)
install_error_handlers(app)


@logger.inject_lambda_context(log_event=False)  # the event holds the Admin key: never log it
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    services.bind_storage()
    return app.resolve(event, context)
