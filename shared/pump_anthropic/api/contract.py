"""What the OpenAPI document declares beyond what Powertools derives from the routes: security, each query
parameter's type, format and allowed values, and the request bodies' allowed values.

The routes read their parameters as strings and validate them themselves (every problem a 400 `invalid_query` with a
sentence naming the parameter), so these declarations only describe that validation: documenting a parameter never
changes what the server accepts or the error code it answers with.
"""

from __future__ import annotations

from pump_anthropic.domain import rates, report_pages, savings
from pump_anthropic.domain.cost_query import EARLIEST_DATE, GROUP_BY_DIMENSIONS, LATEST_DATE, MAX_RANGE_DAYS

JWT_SCHEME = "jwt"
LOCAL_TENANT_SCHEME = "localTenant"
LOCAL_TENANT_HEADER = "X-Pump-Tenant"
SECURITY_SCHEMES = {
    JWT_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "On AWS: API Gateway's JWT authorizer verifies the token; the tenant is its `tenant_id` claim "
        "(the stack's TenantClaim). Without a verified tenant every route answers 401.",
    },
    LOCAL_TENANT_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": LOCAL_TENANT_HEADER,
        "description": "Local only (`pump-anthropic serve`): the tenant, in place of the JWT; optional there (default "
        "`local`). The deployed API ignores this header; its document requires the JWT.",
    },
}
SECURITY = [{JWT_SCHEME: []}]

# Years 2000 to 2100, as the server accepts them (the format says the date itself must exist).
DATE_PATTERN = r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
RANGE_RULES = (
    f" Between {EARLIEST_DATE} and {LATEST_DATE}; `from` on or before `to`, at most {MAX_RANGE_DAYS} days apart "
    "(400 invalid_query otherwise). Left out or empty: the default."
)


def date_schema(description: str) -> dict:
    """A day, or the empty string the server reads as the parameter left out."""
    day = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
    return {"anyOf": [day, {"type": "string", "enum": [""]}], "description": description + RANGE_RULES}


def comma_list(names: tuple[str, ...] | frozenset[str], description: str) -> dict:
    """A comma-separated list of dimension names (spaces around a name are ignored; each name at most once)."""
    ordered = [n for n in GROUP_BY_DIMENSIONS if n in names] + sorted(set(names) - set(GROUP_BY_DIMENSIONS))
    name = "(" + "|".join(ordered) + ")"
    return {
        "type": "string",
        "pattern": f"^$|^ *{name} *(, *{name} *)*$",
        "description": f"{description}. Comma list of: {', '.join(ordered)}; each name at most once (400 "
        "invalid_query otherwise)",
    }


COSTS_GROUP_BY = comma_list(
    GROUP_BY_DIMENSIONS,
    "Left out: date,workspace_id,model; given empty: no grouping (one row, the total). actor and product don't "
    "combine with service_tier, context_window or speed, nor api_key_id with them on days from the analytics API; "
    "hour combines only with date, month, workspace_id and api_key_id, over days read hour by hour (yesterday and "
    "today; 400 no_hourly_data otherwise)",
)
QUERY_PARAMETERS: dict[tuple[str, str], dict[str, dict]] = {
    ("/costs", "get"): {
        "from": date_schema("First UTC day, YYYY-MM-DD (default: 29 days before `to`)."),
        "to": date_schema("Last UTC day (inclusive), YYYY-MM-DD (default: today)."),
        "group_by": COSTS_GROUP_BY,
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": report_pages.MAX_PAGE_ROWS,
            "default": report_pages.DEFAULT_PAGE_ROWS,
            "description": "Rows per page; a page may hold fewer to keep the response within the Lambda size limit",
        },
        "page": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "maxLength": report_pages.MAX_CURSOR_CHARS,
            "description": "Opaque cursor: the next_page of the previous answer to the same from, to and group_by; "
            "leave it out for the first page (any other value: 400 invalid_query)",
        },
    },
    ("/costs/export", "get"): {
        "from": date_schema("First UTC day, YYYY-MM-DD (default: 29 days before `to`)."),
        "to": date_schema("Last UTC day (inclusive), YYYY-MM-DD (default: today)."),
        "format": {"type": "string", "enum": ["focus"], "default": "focus", "description": "FOCUS 1.2 CSV"},
        "allocation": {
            "type": "string",
            "enum": ["api_key"],
            "description": "api_key: one row per API key's allocated share (x_ApiKeyId)",
        },
    },
    ("/costs/rates", "get"): {
        "from": date_schema("First UTC day, YYYY-MM-DD (default: 29 days before `to`)."),
        "to": date_schema("Last UTC day (inclusive), YYYY-MM-DD (default: today)."),
        "group_by": comma_list(
            rates.RATE_GROUP_BY_ACCEPTED,
            f"What to add to the rate dimensions ({', '.join(rates.RATE_DIMENSIONS)}), which are always there: "
            f"{', '.join(rates.RATE_GROUP_BY)} (naming a rate dimension changes nothing)",
        ),
    },
    ("/costs/savings", "get"): {
        "from": date_schema("First UTC day, YYYY-MM-DD (default: 29 days before `to`)."),
        "to": date_schema("Last UTC day (inclusive), YYYY-MM-DD (default: today)."),
        "group_by": comma_list(
            savings.SAVINGS_GROUP_BY,
            f"Left out: {savings.DEFAULT_SAVINGS_GROUP_BY}; given empty: one row, the total",
        ),
    },
    ("/costs/reconciliation", "get"): {
        "month": {
            "required": True,  # the route answers 400 invalid_query without it
            "type": "string",
            "pattern": r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$",
            "description": "The month to reconcile, YYYY-MM: not after today's, and starting within the last 365 days "
            "(400 invalid_query otherwise, or when left out)",
        },
        "connection_id": {
            "type": "string",
            "description": "Only this connection (404 not_found when it is none of the tenant's; 409 "
            "connection_not_active unless active); left out: every active connection, summed",
        },
    },
    ("/alerts", "get"): {
        "from": date_schema("First UTC day the alerts were detected on, YYYY-MM-DD (default: 29 days before `to`)."),
        "to": date_schema("Last UTC day (inclusive), YYYY-MM-DD (default: today)."),
        "connection_id": {
            "type": "string",
            "description": "Only this connection's alerts (404 not_found when it is none of the tenant's)",
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": report_pages.MAX_PAGE_ROWS,
            "default": report_pages.DEFAULT_PAGE_ROWS,
            "description": "Alerts per page; a page may hold fewer to keep the response within the Lambda size limit",
        },
        "page": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "maxLength": report_pages.MAX_CURSOR_CHARS,
            "description": "Opaque cursor: the next_page of the previous answer to the same from, to and "
            "connection_id; leave it out for the first page (any other value: 400 invalid_query)",
        },
    },
}


def _nullable(schema: dict) -> dict:
    description = schema.pop("description", None)
    return {"anyOf": [schema, {"type": "null"}], **({"description": description} if description else {})}


EXPORT_BODY = {
    "from": _nullable(date_schema("First UTC day, YYYY-MM-DD (default: 29 days before `to`).")),
    "to": _nullable(date_schema("Last UTC day (inclusive), YYYY-MM-DD (default: today).")),
    "format": _nullable(
        {"type": "string", "enum": ["focus", "csv"], "description": "focus (FOCUS 1.2 CSV, the default) or csv"}
    ),
    "allocation": _nullable(
        {"type": "string", "enum": ["api_key"], "description": "FOCUS only: one row per key's share"}
    ),
    "group_by": _nullable(comma_list(GROUP_BY_DIMENSIONS, "csv only; left out: date,workspace_id,model")),
}
# csv takes group_by and no allocation; focus (the default) takes allocation and no group_by.
EXPORT_BODY_RULE = {
    "if": {"properties": {"format": {"const": "csv"}}, "required": ["format"]},
    "then": {"properties": {"allocation": {"type": "null"}}},
    "else": {"properties": {"group_by": {"type": "null"}}},
}
# The document never spells a key's prefix out: a fragment of a submitted key must never come back in any answer
# (tests/support/bad_input.py checks every body for one), and `s[k]` matches the same text as `sk`.
ADMIN_KEY = {
    "type": "string",
    "format": "password",
    "writeOnly": True,
    "pattern": "^s[k]-ant-admin[0-9]{2}-[A-Za-z0-9_-]{20,300}$",
    "description": "An Anthropic Admin API key (Console → Settings → Admin keys); proven with Anthropic before it is "
    "stored (400 key_rejected or key_lacks_permission when Anthropic refuses it)",
}


def apply(document: dict) -> None:
    """Declares security, the parameters' types, formats and allowed values, and the request bodies', in place."""
    components = document.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    document["security"] = SECURITY
    for (path, method), schemas in QUERY_PARAMETERS.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        for parameter in (operation or {}).get("parameters", []):
            schema = schemas.get(parameter["name"]) if parameter.get("in") == "query" else None
            if schema is not None:
                parameter["schema"] = {k: v for k, v in schema.items() if k not in ("description", "required")}
                parameter["description"] = schema["description"]
                if schema.get("required"):
                    parameter["required"] = True
    for methods in document.get("paths", {}).values():
        for operation in methods.values():
            no_content = operation.get("responses", {}).get("204")
            if no_content is not None:
                no_content.pop("content", None)  # a 204 has no body (Powertools documents the route's None)
    bodies = components.get("schemas", {})
    if "ExportBody" in bodies:
        for name, schema in EXPORT_BODY.items():
            bodies["ExportBody"]["properties"][name] = schema
        bodies["ExportBody"].update(EXPORT_BODY_RULE)
    if "ConnectBody" in bodies:
        bodies["ConnectBody"]["properties"]["admin_key"] = ADMIN_KEY
