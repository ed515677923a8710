"""The answer of a running `serve` to the CLI: the JSON body, or the API's error as the command's exit message."""

from __future__ import annotations

from typing import Any


def answer(response: Any) -> dict:
    """The body of a 2xx answer; otherwise exit with the error's code and sentence (never a traceback)."""
    if response.status_code >= 300:
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            raise SystemExit(f"HTTP {response.status_code} from the API") from None
        raise SystemExit(f"{error['code']}: {error['message']}")
    return response.json()
