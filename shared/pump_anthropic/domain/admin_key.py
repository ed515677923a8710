"""Admin key shape checks and the hint we show instead of the key."""

from __future__ import annotations

import re

from pydantic import SecretStr

from pump_anthropic.exceptions import InvalidKeyFormatError, StandardKeyNotAllowedError

# Anthropic Admin keys look like sk-ant-admin01-<93 url-safe chars>AA. We accept any two-digit version and a
# generous body length so a format revision doesn't lock users out; the /me call is the real proof.
ADMIN_KEY_PATTERN = re.compile(r"sk-ant-admin[0-9]{2}-[A-Za-z0-9_-]{20,300}", re.ASCII)
STANDARD_KEY_PREFIX = "sk-ant-api"
MAX_KEY_LENGTH = 400


def check_admin_key_shape(key: SecretStr) -> SecretStr:
    """Return the key, stripped of surrounding whitespace, or raise a user-facing error (never echoing it)."""
    value = key.get_secret_value().strip()
    if value.startswith(STANDARD_KEY_PREFIX):
        raise StandardKeyNotAllowedError(
            "This is a standard API key (sk-ant-api...). Pump needs an Admin API key: create one in the "
            "Anthropic Console under Settings → Admin keys (it starts with sk-ant-admin...)."
        )
    if len(value) > MAX_KEY_LENGTH or not ADMIN_KEY_PATTERN.fullmatch(value):
        raise InvalidKeyFormatError(
            "That doesn't look like an Anthropic Admin API key. Admin keys start with sk-ant-admin and contain "
            "only letters, digits, '-' and '_'; paste the whole key as shown when it was created."
        )
    return SecretStr(value)


def key_hint(key: SecretStr) -> str:
    """E.g. sk-ant-admin01-…abcd: enough to recognise a key, useless to anyone who reads it."""
    value = key.get_secret_value()
    prefix = value[: value.index("-", len("sk-ant-")) + 1] if value.count("-") >= 3 else value[:6]
    return f"{prefix}…{value[-4:]}"
