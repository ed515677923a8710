"""Static files of the local dashboard (served by `pump-anthropic serve` at /)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"


def static_asset(path: str) -> tuple[str, bytes] | None:
    """(content type, bytes) for a file under static/, or None to let the API answer."""
    if path == "/":
        path = "/index.html"
    candidate = (STATIC_DIR / path.lstrip("/")).resolve()
    if not candidate.is_file() or STATIC_DIR.resolve() not in candidate.parents:
        return None
    content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
    return content_type, candidate.read_bytes()
