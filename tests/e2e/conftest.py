"""End-to-end fixtures: the whole local stack over real HTTP (as `pump-anthropic serve` runs it) and a headless
Chromium (Debian's package, driven by Playwright's Python package; Playwright's own browser download is not used)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi, make_http_server
from pump_local.static_files import static_asset
from tests.support.browser import CHROMIUM_ARGS, CHROMIUM_CANDIDATES, no_browser
from tests.support.stack import SMALL_ORG, LocalStack, ignore_client_disconnects, no_api

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

_artifacts_written: list[Path] = []


@pytest.fixture(scope="session")
def chromium_path() -> str:
    configured = os.environ.get("PUMP_CHROMIUM")
    candidates = [configured] if configured else [*CHROMIUM_CANDIDATES, shutil.which("chromium") or ""]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    no_browser(f"No Chromium executable found (looked for {', '.join(c for c in candidates if c)})")
    raise AssertionError("unreachable")


@pytest.fixture
def browser(chromium_path: str) -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        no_browser("Playwright's Python package is not installed (it is in requirements-dev.txt)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def local_stack() -> Iterator[LocalStack]:
    """Simulator + embedded AWS + the HTTP shim with the dashboard's static files, on a free port."""
    with Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY) as simulator, LocalAws(simulator.url) as aws:
        server = make_http_server(LocalApi(), "127.0.0.1", 0, static=static_asset)
        server.daemon_threads = False  # so server_close() waits for requests in flight, before the embedded AWS stops
        ignore_client_disconnects(server)
        thread = threading.Thread(target=server.serve_forever, name="dashboard-http", daemon=True)
        thread.start()
        try:
            yield LocalStack(f"http://127.0.0.1:{server.server_address[1]}", simulator, aws)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


@pytest.fixture
def static_server() -> Iterator[str]:
    """Only the page's files (no AWS, no simulator): for tests that answer the API calls themselves."""
    server = make_http_server(LocalApi(routes=[("", "/__none__", no_api)]), "127.0.0.1", 0, static=static_asset)
    ignore_client_disconnects(server)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-static", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def artifact_path() -> Callable[[str], Path]:
    """Where a test keeps a file for people to look at (test-artifacts/, gitignored); listed after the run."""

    def make(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        _artifacts_written.append(path)
        return path

    return make


def pytest_terminal_summary(terminalreporter) -> None:
    written = [p for p in _artifacts_written if p.exists()]
    if written:
        terminalreporter.section("test artifacts")
        for path in written:
            terminalreporter.write_line(f"screenshot: {path}")


# Playwright's expect() polls the page's state until it holds; its default bound (5 s) is a guess about machine
# speed, and on a loaded 2-core CI machine the dashboard's first paint took longer. A generous bound keeps each
# assertion a wait on state, and costs nothing when the state arrives early.
STATE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session", autouse=True)
def _generous_state_waits() -> None:
    try:
        from playwright.sync_api import expect
    except ImportError:
        return
    expect.set_options(timeout=STATE_TIMEOUT_MS)
