"""Integration fixtures: the bundled simulator over real HTTP, and the embedded AWS (moto running the real ASL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from tests.support.stack import FIXED_NOW, SMALL_ORG, Stack


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, slow_seconds=1.0, now=lambda: FIXED_NOW) as sim:
        yield sim


@pytest.fixture
def make_stack(simulator: Simulator) -> Iterator[Callable[..., Stack]]:
    with ExitStack() as resources:

        def build(max_concurrency: int = 4, cost_source: str = "legacy") -> Stack:
            # These tests hold the legacy pipeline to the legacy reports (still the source of every day before
            # 2026-01-01); test_analytics_source.py runs the default, auto, against both APIs.
            aws = resources.enter_context(
                LocalAws(
                    simulator.url,
                    max_concurrency=max_concurrency,
                    retry_interval_seconds=1,
                    retry_max_attempts=2,
                    cost_source=cost_source,
                )
            )
            return Stack(aws, LocalApi(), simulator, [])

        yield build


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


@pytest.fixture(autouse=True)
def _generous_read_quota(request, monkeypatch):
    """These tests read GET /costs far more often a minute than a dashboard does; the read quota is tested where it
    is the subject (marked `read_quota`), and lifted elsewhere so it never decides another test's outcome."""
    if request.node.get_closest_marker("read_quota"):
        return
    from pump_anthropic.logic import quotas

    monkeypatch.setattr(quotas, "READ", quotas.Quota("read", 10**9, quotas.READ.window, quotas.READ.what))
