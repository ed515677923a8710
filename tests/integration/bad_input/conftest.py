"""Bad input and tenants, property-based (issue 5, items 3 and 5).

Hypothesis sends every endpoint of the HTTP API, through LocalApi (the real handlers behind an API Gateway HTTP API
v2 event) and as raw Lambda events, malformed JSON, wrong types, oversized bodies (a 1 MB key), unicode and control
characters, missing and extra fields, bad dates, bad and duplicated group_by values, unknown and foreign path ids,
odd query strings, odd methods, odd content types and odd authorizer claims. Every response keeps the invariants of
`tests.support.bad_input.check_response` (never a 5xx, never a stack trace, errors exactly {"error": {"code",
"message"}}, no submitted key echoed), no generated request makes an AWS write call, and what is stored (table,
secrets, executions, queue) is unchanged after each test. Tenant B, whoever it is, gets 404 for tenant A's connection
on every route and never sees A's costs; a request without valid claims makes no AWS call at all.

One stack serves the whole package (one `world`, package-scoped): a tiny simulated org (two days of usage, one
workspace, one model) keeps the table at a few dozen items so every moto query stays fast, and tenant A connects and
backfills once. PUMP_BAD_INPUT_SCALE (default 1) multiplies the number of examples. The cases run per endpoint are
printed in the terminal summary and written to test-artifacts/bad-input-cases.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_anthropic.clock import utc_now
from pump_anthropic.logic import quotas
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi
from tests.support.bad_input import AwsCallRecorder, CaseReport, stored_state, wait_for_executions
from tests.support.bad_input_strategies import RANGE_DAYS
from tests.support.bad_input_world import FIXED_NOW, TENANT_A, TINY_ORG, World, connect_tenant_a


@pytest.fixture(scope="package")
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    report = CaseReport()
    plugins = request.config.pluginmanager
    if plugins.get_plugin(CaseReport.name) is None:
        plugins.register(report, CaseReport.name)
    try:
        with ExitStack() as resources:
            simulator = resources.enter_context(Simulator(TINY_ORG, admin_key=DEMO_ADMIN_KEY, now=lambda: FIXED_NOW))
            aws = resources.enter_context(
                LocalAws(simulator.url, max_concurrency=13, retry_interval_seconds=1, retry_max_attempts=2)
            )
            api = LocalApi()
            connection_id = connect_tenant_a(api)
            # The connection turns active before the execution's last step ends (it then sets the sync cursor):
            # the baseline is what is stored once the backfill is over.
            wait_for_executions(aws)
            today = utc_now().date()
            window = f"from={today - timedelta(days=RANGE_DAYS - 1)}&to={today}"
            a_costs = api.request("GET", f"/costs?{window}", tenant=TENANT_A).json()
            assert a_costs["rows"] and Decimal(a_costs["total"]["cost_usd"]) > 0, "tenant A needs costs to hide"
            a_export = api.request("GET", f"/costs/export?{window}", tenant=TENANT_A).body
            assert len(a_export.strip().splitlines()) > 1, "tenant A needs FOCUS rows to hide"
            openapi = api.request("GET", "/openapi.json").body

            from functions.connect import app as connect_app
            from functions.costs import app as costs_app

            patches = resources.enter_context(pytest.MonkeyPatch.context())
            # Thousands of generated requests a minute: the per-tenant quotas (tested on their own) would answer 429
            # to most of them, and these tests are about what every other answer looks like.
            for name in ("CONNECT", "SYNC_NOW", "EXPORT"):
                patches.setattr(quotas, name, replace(getattr(quotas, name), limit=10**9))
            recorder = AwsCallRecorder()
            recorder.install(patches)
            yield World(
                api=api,
                aws=aws,
                connection_id=connection_id,
                today=today,
                recorder=recorder,
                report=report,
                baseline=stored_state(aws),
                openapi=openapi,
                handlers={"connect": connect_app.lambda_handler, "costs": costs_app.lambda_handler},
            )
    finally:
        summary = report.finish()
        print(f"\nbad-input property cases: {json.dumps(summary)}")


@pytest.fixture(autouse=True)
def _nothing_stored(world: World) -> Iterator[None]:
    yield
    now = stored_state(world.aws)
    if now != world.baseline:
        changed = world.baseline
        world.baseline = now  # report it here, not again after every later test
        assert now == changed, "a generated request changed what is stored"
