"""The OpenAPI document as `pump-anthropic serve` serves it: the deployed API's, with the local truth about who is
asking. Locally no JWT is read: the tenant is the `X-Pump-Tenant` header, and without it the tenant is `local`, so
the header is optional (security `[{"localTenant": []}, {}]`)."""

from __future__ import annotations

import json

from pump_anthropic.api.contract import LOCAL_TENANT_SCHEME

LOCAL_SECURITY = [{LOCAL_TENANT_SCHEME: []}, {}]
LOCAL_NOTE = (
    " Served by `pump-anthropic serve`: the tenant is the X-Pump-Tenant header (default `local`); the deployed API "
    "requires a JWT instead."
)


def local_document(text: str) -> str:
    """The deployed document (JSON text) with the local server's security."""
    document = json.loads(text)
    document["security"] = LOCAL_SECURITY
    info = document.setdefault("info", {})
    info["description"] = (info.get("description") or "").strip() + LOCAL_NOTE
    return json.dumps(document)
