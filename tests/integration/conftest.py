"""Integration fixtures: the bundled simulator over real HTTP, and the embedded AWS (moto running the real ASL)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from pump_anthropic.local.api import LocalApi, LocalResponse
from pump_anthropic.local.aws import LocalAws
from pump_anthropic.simulator import DEMO_ADMIN_KEY, OrgSpec, Simulator

SMALL_ORG = OrgSpec(seed=11, days=400, workspaces=2, api_keys=3, models=3)


# A fixed simulator clock keeps today's partial day stable between two backfills in one test.
FIXED_NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, slow_seconds=1.0, now=lambda: FIXED_NOW) as sim:
        yield sim


@dataclass
class Stack:
    aws: LocalAws
    api: LocalApi
    simulator: Simulator
    responses: list[LocalResponse]

    def call(self, method: str, target: str, body: object | None = None, **kwargs) -> LocalResponse:
        text = body if isinstance(body, str) or body is None else json.dumps(body)
        response = self.api.request(method, target, body=text, **kwargs)
        self.responses.append(response)
        return response

    def wait_settled(self, connection_id: str, timeout: float = 120.0) -> dict:
        """Follow the connection until its backfill run is over."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.call("GET", f"/integrations/anthropic/{connection_id}").json()
            if body["status"] != "backfilling":
                return body
            assert time.monotonic() < deadline, "backfill did not settle"
            time.sleep(0.5)

    def connect(self, admin_key: str = DEMO_ADMIN_KEY, **kwargs) -> LocalResponse:
        return self.call("POST", "/integrations/anthropic", {"admin_key": admin_key}, **kwargs)


@pytest.fixture
def make_stack(simulator: Simulator) -> Iterator[Callable[..., Stack]]:
    with ExitStack() as resources:

        def build(max_concurrency: int = 4) -> Stack:
            aws = resources.enter_context(
                LocalAws(simulator.url, max_concurrency=max_concurrency, retry_interval_seconds=1, retry_max_attempts=2)
            )
            return Stack(aws, LocalApi(), simulator, [])

        yield build


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()
