"""Headless Chromium for the end-to-end tests: where to find Debian's package, how to start it offline, and what to
do on a machine without it."""

from __future__ import annotations

import os

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Without the background-networking flags Chromium keeps dialling Google services, which misbehaves offline.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALLOW_NO_BROWSER = "PUMP_ALLOW_NO_BROWSER"


def no_browser(reason: str) -> None:
    """Fail (CI installs Chromium), or skip when the developer explicitly allowed it."""
    if os.environ.get(ALLOW_NO_BROWSER) == "1":
        pytest.skip(f"{reason} ({ALLOW_NO_BROWSER}=1)")
    pytest.fail(
        f"{reason}. Install Debian's Chromium (`apt-get install -y chromium`; CI's .ci/run does it) "
        f"or set {ALLOW_NO_BROWSER}=1 to skip the browser tests on this machine.",
        pytrace=False,
    )
