"""The OpenAPI document is a contract the server keeps (issue 24, item 6).

Schemathesis (`st run --checks all`, bounded examples, a fixed seed) runs against the embedded `serve` stack (moto,
the simulator, the real handlers behind the local HTTP server) over every operation `/openapi.json` lists when the
test runs, so routes added later are covered as they land; it must find nothing. The only failures the hooks accept
are the refusals no schema can express (tests/support/contract_hooks.py). Then every route's real answer is checked
against the document's own schemas with jsonschema, the way a generated client would read it.

PUMP_CONTRACT_EXAMPLES (default 20) sets the examples per operation and phase.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import jsonschema
import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_anthropic.logic import quotas, reconciliation
from pump_local.embedded_aws import LocalAws
from pump_local.http_api import LocalApi, make_http_server
from tests.support.bad_input import wait_for_executions
from tests.support.bad_input_world import FIXED_NOW, TINY_ORG

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[2]
TENANT = "contract"
EXAMPLES = int(os.environ.get("PUMP_CONTRACT_EXAMPLES", "20"))
SEED = 24
# Bounds the whole run well within CI's budget even if an operation gets slow.
TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Served:
    url: str
    api: LocalApi
    connection_id: str


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with ExitStack() as resources:
        simulator = resources.enter_context(Simulator(TINY_ORG, admin_key=DEMO_ADMIN_KEY, now=lambda: FIXED_NOW))
        aws = resources.enter_context(LocalAws(simulator.url, retry_interval_seconds=1, retry_max_attempts=2))
        patches = resources.enter_context(pytest.MonkeyPatch.context())
        # Hundreds of generated requests a minute: the per-tenant quotas (tested on their own) would answer most of
        # them with 429, a documented answer that tests nothing else.
        for name in ("CONNECT", "SYNC_NOW", "EXPORT", "READ"):
            patches.setattr(quotas, name, replace(getattr(quotas, name), limit=10**9))
        patches.setattr(reconciliation, "RECONCILE", replace(reconciliation.RECONCILE, limit=10**9))
        api = LocalApi()
        connected = api.request(
            "POST", "/integrations/anthropic", body=json.dumps({"admin_key": DEMO_ADMIN_KEY}), tenant=TENANT
        )
        assert connected.status == 202, connected.body
        wait_for_executions(aws)
        httpd = make_http_server(api, "127.0.0.1", 0)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        aws.serve_downloads_from(url)
        try:
            yield Served(url, api, connected.json()["id"])
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)


def test_every_route_answers_in_the_documented_shape(served: Served):
    document = served.api.request("GET", "/openapi.json").json()
    validator = jsonschema.Draft202012Validator
    connection = f"/integrations/anthropic/{served.connection_id}"
    export = served.api.request(
        "POST", "/costs/exports", body=json.dumps({"format": "csv", "group_by": "actor,product"}), tenant=TENANT
    )
    calls = {
        ("/integrations/anthropic", "get"): "/integrations/anthropic",
        ("/integrations/anthropic/{connection_id}", "get"): connection,
        ("/costs", "get"): "/costs?group_by=date,workspace_id,model,model_id,api_key_id,cost_type,token_type",
        ("/costs/rates", "get"): "/costs/rates?group_by=workspace_id,month,date",
        ("/costs/savings", "get"): "/costs/savings?group_by=date,month,workspace_id,model,model_id,speed",
        ("/costs/exports/{export_id}", "get"): f"/costs/exports/{export.json()['id']}",
    }
    answers = {key: served.api.request(key[1].upper(), target, tenant=TENANT) for key, target in calls.items()}
    answers[("/costs/exports", "post")] = export
    answers[("/integrations/anthropic/{connection_id}/sync", "post")] = served.api.request(
        "POST", f"{connection}/sync", tenant=TENANT
    )
    answers[("/costs", "get", "actor")] = served.api.request("GET", "/costs?group_by=actor,product", tenant=TENANT)
    for key, response in answers.items():
        path, method = key[:2]
        documented = document["paths"][path][method]["responses"][str(response.status)]
        assert 200 <= response.status < 300, (key, response.body)
        schema = {**documented["content"]["application/json"]["schema"], "components": document["components"]}
        validator(schema).validate(response.json())
        for name, header in documented.get("headers", {}).items():
            assert not header.get("required") or name in response.headers, (key, name)


def schemathesis_command(url: str, config: Path, report: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-deterministic",
        "--header",
        f"X-Pump-Tenant: {TENANT}",
        "--workers",
        "1",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        "--no-color",
    ]


def test_schemathesis_finds_nothing(served: Served, tmp_path: Path):
    report = ROOT / "test-artifacts" / "schemathesis-junit.xml"
    report.parent.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.support.contract_hooks",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    # The connection routes reach a real connection (as well as the 404s of generated ids); this test runs last in
    # the module, as a generated DELETE ...?purge=true may purge it.
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.connection_id" = "{served.connection_id}"\n')
    run = subprocess.run(
        schemathesis_command(served.url, config, report),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    print(run.stdout[-20000:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
