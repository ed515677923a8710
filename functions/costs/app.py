"""costs: the read API for the Pump frontend (GET /costs, GET /openapi.json)."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from pump_anthropic import services
from pump_anthropic.api.common import install_error_handlers
from pump_anthropic.api.cost_routes import router
from pump_anthropic.observability import logger

app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(router)
install_error_handlers(app)


@app.get("/openapi.json", include_in_schema=False)
def get_openapi() -> dict:
    # Imported here: building the document loads the integrations routes, which the read API never needs.
    from pump_anthropic.api.openapi import openapi_document

    return openapi_document()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    services.bind_storage()
    return app.resolve(event, context)
