"""Where Powertools' event handler needs help, in one place: reading the body, JSON arrays as bodies, debug mode."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

# Where Powertools decodes and parses the request body, before any route code runs.
_BODY_READER_MODULE = "aws_lambda_powertools.event_handler.middlewares.openapi_validation"
_BODY_READER_FUNCTION = "_get_body"


def raised_reading_body(exc: BaseException) -> bool:
    """True when the exception came from Powertools decoding the request body (bad base64, bytes that are not
    UTF-8, JSON nested past the recursion limit, a multipart type without a boundary): the client's fault."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == _BODY_READER_FUNCTION and frame.f_globals.get("__name__") == _BODY_READER_MODULE:
            return True
        tb = tb.tb_next
    return False


def json_body_is_not_an_object(event: APIGatewayProxyEventV2) -> bool:
    """Powertools validates a JSON array's first element as the body, so [{"admin_key": ...}] would connect."""
    content_type = event.headers.get("content-type", "").strip()
    if content_type and not content_type.startswith("application/json"):
        return False  # a form or multipart body, parsed into fields by Powertools
    return not isinstance(event.json_body, dict)


def new_resolver() -> APIGatewayHttpResolver:
    """A resolver that never runs in debug mode. Powertools turns debug on from the environment (POWERTOOLS_DEV,
    POWERTOOLS_EVENT_HANDLER_DEBUG) and then prints every raw request, Admin key included, past our log redaction;
    an explicit debug=False wins over those variables."""
    return APIGatewayHttpResolver(enable_validation=True, debug=False)
