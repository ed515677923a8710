"""costs: the read API for the Pump frontend (GET /costs, GET /costs/rates, GET /costs/savings,
GET /costs/exports/{id}, GET /openapi.json)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from pump_anthropic import wiring
from pump_anthropic.api import exports, pricing
from pump_anthropic.api.costs import router
from pump_anthropic.api.powertools import new_resolver
from pump_anthropic.api.responses import install_error_handlers
from pump_anthropic.observability import logger

app = new_resolver()
app.include_router(router)
app.include_router(exports.router)
app.include_router(pricing.router)
install_error_handlers(app)


@app.get("/openapi.json", include_in_schema=False)
def get_openapi() -> dict:
    # Imported here: building the document loads the integrations routes, which the read API never needs.
    from pump_anthropic.api.openapi import openapi_document

    return openapi_document()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    wiring.bind_storage()
    return app.resolve(event, context)
