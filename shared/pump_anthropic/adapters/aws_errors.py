"""How an AWS SDK failure is named in our messages: its error code, never its text (which can hold ARNs)."""

from __future__ import annotations

from botocore.exceptions import ClientError


def aws_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "Unknown")
    return type(exc).__name__
