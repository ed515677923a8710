"""A client generated from the OpenAPI document reads real answers of every route (issue 24, item 6).

At test time datamodel-code-generator (pinned in requirements-dev.txt) turns the committed `docs/openapi.json` into
pydantic v2 models in pytest's tmp_path; they are imported, and then every answer the embedded `serve` stack gives
over HTTP (moto, the simulator, a connected and backfilled org, the real handlers behind the local HTTP server) is
parsed into the model the document declares for that operation and status: the mapping is read from the document
(path + method + status -> the response's media type -> its `$ref`), never written down here. Parsing is strict
(pydantic's strict mode: no coercion of a number into a string or back), schemas the document closes
(`additionalProperties: false`: the rows, the connection's last sync) forbid extra fields, and each parsed answer must
dump back to exactly the JSON that came over the wire, so a field the document does not declare fails even where the
schema is open. An undeclared status or media type fails too, and so does an operation of the document this test never
drove to its success answer: a route added later fails here until it is covered.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from pydantic import BaseModel

from anthropic_simulator import DEMO_ADMIN_KEY
from pump_anthropic import wiring
from pump_anthropic.dal.models import ConnectionModel
from pump_local.http_api import DEFAULT_TENANT, make_http_server
from tests.support.guard_stack import build_stack
from tests.support.stack import FIXED_NOW, Stack

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch")
MODULE = "pump_generated_models"
TODAY = FIXED_NOW.date()
WEEK = {"from": (TODAY - timedelta(days=6)).isoformat(), "to": TODAY.isoformat()}


# ------------------------------------------------------------------------------------------------ the generated code


def generate_models(document: Path, into: Path) -> ModuleType:
    """datamodel-code-generator's CLI, as a developer would run it, then the module imported from `into`."""
    target = into / f"{MODULE}.py"
    command = [
        sys.executable,
        "-m",
        "datamodel_code_generator",
        "--input",
        str(document),
        "--input-file-type",
        "openapi",
        "--output-model-type",
        "pydantic_v2.BaseModel",
        "--target-python-version",
        f"{sys.version_info.major}.{sys.version_info.minor}",
        "--use-annotated",
        "--disable-timestamp",
        # The generator's own formatter: black and isort (its current default) are not needed to import the code.
        "--formatters",
        "builtin",
        "--output",
        str(target),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-5000:]
    spec = importlib.util.spec_from_file_location(MODULE, target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # pydantic resolves the models' postponed annotations through sys.modules[model.__module__].
    sys.modules[MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[MODULE]
        raise
    return module


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(DOCUMENT.read_text())


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    module = generate_models(DOCUMENT, tmp_path_factory.mktemp("generated"))
    try:
        yield module
    finally:
        sys.modules.pop(MODULE, None)


def model_of(models: ModuleType, schema: dict) -> type[BaseModel]:
    """The generated class of a `$ref` to a component (the generator names each class after its component)."""
    name = schema["$ref"].removeprefix("#/components/schemas/")
    model = getattr(models, name, None)
    assert isinstance(model, type) and issubclass(model, BaseModel), f"no generated model for {name}"
    return model


# ------------------------------------------------------------------------------------------- the client over HTTP


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict
    pattern: re.Pattern[str]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"


def operations_of(document: dict) -> list[Operation]:
    found = []
    for path, item in document["paths"].items():
        pattern = re.compile(
            "".join(re.escape(p) if i % 2 == 0 else "[^/]+" for i, p in enumerate(re.split(r"(\{[^}]+\})", path)))
        )
        for method in METHODS:
            if method in item:
                found.append(Operation(method, path, item[method], pattern))
    return found


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    parsed: Any

    @property
    def error_code(self) -> str:
        return self.parsed.error.code


@dataclass
class GeneratedClient:
    """Sends a request to the served API and reads the answer only through the document and the generated models."""

    url: str
    document: dict
    models: ModuleType
    operations: list[Operation] = field(init=False)
    seen: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def __post_init__(self) -> None:
        self.operations = operations_of(self.document)

    def operation(self, method: str, path: str) -> Operation:
        matching = [o for o in self.operations if o.method == method.lower() and o.pattern.fullmatch(path)]
        assert len(matching) == 1, f"{method} {path}: the document declares {[o.name for o in matching]}"
        return matching[0]

    def send(self, method: str, target: str, body: object = None, headers: dict[str, str] | None = None):
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
        data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json"} if data is not None else {}
        try:
            connection.request(method, target, body=data, headers={**sent, **(headers or {})})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def call(self, method: str, target: str, body: object = None, *, expect: int, **kwargs) -> Answer:
        operation = self.operation(method, urlsplit(target).path)
        status, headers, raw = self.send(method, target, body, **kwargs)
        where = f"{method} {target} -> {status}: {raw[:2000]!r}"
        assert status == expect, where
        declared = operation.spec["responses"].get(str(status))
        assert declared is not None, f"undeclared status: {where}"
        for name, header in declared.get("headers", {}).items():
            assert not header.get("required") or name.lower() in headers, f"no {name} header: {where}"
        self.seen[operation.name].add(status)
        content = declared.get("content")
        if not content:
            assert raw == b"", f"a body where the document declares none: {where}"
            return Answer(status, headers, raw, None)
        media = headers.get("content-type", "").split(";")[0].strip()
        assert media in content, f"{media!r} where the document declares {sorted(content)}: {where}"
        schema = content[media]["schema"]
        if "$ref" not in schema:
            # The CSV download (`text/csv`, a plain string schema) has no model to parse into: its media type and
            # declared headers are what the document says of it.
            assert schema == {"type": "string"}, (where, schema)
            return Answer(status, headers, raw, raw.decode())
        model = model_of(self.models, schema)
        parsed = model.model_validate_json(raw, strict=True)
        # Nothing dropped, renamed or coerced: what pydantic read dumps back to what came over the wire.
        dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
        assert dumped == json.loads(raw), f"{model.__name__} did not read the whole answer: {where}"
        return Answer(status, headers, raw, parsed)


# ------------------------------------------------------------------------------------------------- the served stack


class LostLauncher:
    """A launcher whose execution never runs (as when Step Functions lost it): the connection stays `backfilling`,
    the one state in which `POST …/backfill` answers 202 on a connection whose months all succeed."""

    def start(self, **payload) -> str:
        return "arn:aws:states:us-east-1:123456789012:execution:lost:lost"


def age_backfill(connection_id: str, minutes: int) -> None:
    record = ConnectionModel.get(f"TENANT#{DEFAULT_TENANT}", f"CONN#{connection_id}")
    record.update(
        actions=[ConnectionModel.backfill_started_at.set(record.backfill_started_at - timedelta(minutes=minutes))]
    )


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Stack, str]]:
    with ExitStack() as resources:
        stack = build_stack(resources)
        httpd = make_http_server(stack.api, "127.0.0.1", 0)
        thread = threading.Thread(target=httpd.serve_forever, name="generated-client-http", daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        stack.aws.serve_downloads_from(url)
        try:
            yield stack, url
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)


def wait_export(client: GeneratedClient, job: Any, timeout: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout
    while job.status in ("queued", "running"):
        assert time.monotonic() < deadline, f"export still {job.status}: {job.progress}"
        time.sleep(0.2)
        job = client.call("GET", f"/costs/exports/{job.id}", expect=200).parsed
    assert job.status == "ready", job.error
    return job


# --------------------------------------------------------------------------------------------------------- the test


def test_the_closed_schemas_forbid_extra_fields_in_the_generated_models(document: dict, models: ModuleType):
    closed = {n for n, s in document["components"]["schemas"].items() if s.get("additionalProperties") is False}
    assert closed >= {"CostRow", "RateRow", "SavingsRow", "LastSync"}
    for name in document["components"]["schemas"]:
        model = model_of(models, {"$ref": f"#/components/schemas/{name}"})
        assert (model.model_config.get("extra") == "forbid") == (name in closed), name


def test_a_generated_client_reads_every_route(served, document: dict, models: ModuleType, monkeypatch):
    stack, url = served
    client = GeneratedClient(url, document, models)
    call = client.call
    # The models come from the committed document; the server describes itself with the same paths and schemas (the
    # local server changes only the security and the description).
    status, _, raw = client.send("GET", "/openapi.json")
    assert status == 200
    served_document = json.loads(raw)
    assert (served_document["paths"], served_document["components"]) == (document["paths"], document["components"])

    # Connect: the launcher loses the run, so the connection stays backfilling until the in-flight window passes.
    with monkeypatch.context() as lost:
        lost.setattr(wiring, "backfill_launcher", LostLauncher)
        connection = call("POST", "/integrations/anthropic", {"admin_key": DEMO_ADMIN_KEY}, expect=202)
    connection_id = connection.parsed.id
    base = f"/integrations/anthropic/{connection_id}"
    assert call("POST", f"{base}/backfill", expect=409).error_code == "backfill_in_progress"
    assert call("POST", f"{base}/sync", expect=409).error_code == "connection_not_active"
    age_backfill(connection_id, 16)
    assert call("POST", f"{base}/backfill", expect=202).parsed.id == connection_id
    settled = stack.wait_settled(connection_id, timeout=300)
    assert settled["status"] == "active", settled

    # Budgets, then a sync that raises their alerts.
    organization = {"type": "organization", "id": None}
    tiny = {"name": "Tiny", "connection_id": connection_id, "scope": organization, "monthly_usd": "0.01"}
    assert call("PUT", "/budgets/tiny", tiny, expect=200).parsed.status == "exceeded"
    default_workspace = {**tiny, "name": "Default workspace", "scope": {"type": "workspace", "id": None},
                         "monthly_usd": "100000.00", "thresholds": [10, 90], "enforced": True}  # fmt: skip
    call("PUT", "/budgets/default", default_workspace, expect=200)
    call("POST", f"{base}/sync", expect=202)
    stack.aws.drain_sync_queue()
    assert call("POST", f"{base}/sync", expect=429).error_code == "sync_rate_limited"

    listed = call("GET", "/integrations/anthropic", expect=200).parsed
    assert [c.id for c in listed.connections] == [connection_id]
    shown = call("GET", base, expect=200).parsed
    assert shown.last_sync is not None and shown.spend_limits is not None
    assert call("POST", f"{base}/backfill", expect=409).error_code == "nothing_to_retry"

    assert {b.id for b in call("GET", "/budgets", expect=200).parsed.budgets} == {"tiny", "default"}
    assert all(c.at for c in call("GET", "/budgets/tiny", expect=200).parsed.crossed)
    alerts = call("GET", "/alerts", expect=200).parsed
    assert {a.kind for a in alerts.alerts} >= {"budget_threshold"}
    first = call("GET", f"/alerts?{urlencode({'limit': 1, 'connection_id': connection_id})}", expect=200).parsed
    assert first.has_more and first.next_page
    call("GET", f"/alerts?{urlencode({'limit': 1, 'connection_id': connection_id, 'page': first.next_page})}",
         expect=200)  # fmt: skip

    # The cost report in several groupings, today's hours, and a paged answer.
    year = {"from": (TODAY - timedelta(days=364)).isoformat(), "to": TODAY.isoformat()}
    for query in (
        {},
        {"group_by": ""},
        {**year, "group_by": "month,workspace_id,model,service_tier,context_window,speed"},
        {**WEEK, "group_by": "date,workspace_id,model,model_id,api_key_id,cost_type,token_type"},
        {**WEEK, "group_by": "actor,product"},
        {**WEEK, "group_by": "api_key_id"},
    ):
        report = call("GET", f"/costs?{urlencode(query)}", expect=200).parsed
        assert report.rows, query
    today = {"from": TODAY.isoformat(), "to": TODAY.isoformat()}
    hours = call("GET", f"/costs?{urlencode({**today, 'group_by': 'hour,api_key_id'})}", expect=200).parsed
    assert hours.rows and all(row.hour.startswith(TODAY.isoformat()) for row in hours.rows)
    paged = {**WEEK, "group_by": "date,workspace_id,model", "limit": 5}
    page = call("GET", f"/costs?{urlencode(paged)}", expect=200).parsed
    assert page.has_more and len(page.rows) == 5
    page = call("GET", f"/costs?{urlencode({**paged, 'page': page.next_page})}", expect=200).parsed
    assert page.rows

    rates = call("GET", f"/costs/rates?{urlencode({**WEEK, 'group_by': 'workspace_id,month,date'})}", expect=200)
    assert rates.parsed.rows
    call("GET", f"/costs/rates?{urlencode(year)}", expect=200)
    savings_groups = "date,month,workspace_id,model,model_id,service_tier,context_window,speed"
    assert call("GET", f"/costs/savings?{urlencode({**WEEK, 'group_by': savings_groups})}", expect=200).parsed.rows
    call("GET", f"/costs/savings?{urlencode(year)}", expect=200)
    for month in (TODAY.strftime("%Y-%m"), (TODAY.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")):
        reconciled = call("GET", f"/costs/reconciliation?month={month}", expect=200).parsed
        assert reconciled.month == month and reconciled.connections

    # The FOCUS CSV: its declared media type and headers; an export job to its file.
    focus = call("GET", f"/costs/export?{urlencode({**WEEK, 'format': 'focus'})}", expect=200)
    assert "attachment" in focus.headers["content-disposition"] and "BilledCost" in focus.parsed.splitlines()[0]
    created = call("POST", "/costs/exports", {**WEEK, "format": "csv", "group_by": "actor,product"}, expect=202)
    assert created.headers["location"] == f"/costs/exports/{created.parsed.id}"
    job = wait_export(client, created.parsed)
    # The download link is the export store's signed URL (an S3 URL when deployed), not an operation of the API:
    # the document does not declare it, so the client follows it as it is.
    link = urlsplit(job.download_url)
    status, headers, raw = client.send("GET", f"{link.path}?{link.query}")
    assert status == 200 and raw.decode().splitlines()[0].startswith("actor"), raw[:200]

    # Error answers, parsed into the error type the document declares for each status.
    assert call("GET", "/costs?group_by=no_such_dimension", expect=400).error_code == "invalid_query"
    assert call("GET", f"/costs?{urlencode({**today, 'group_by': 'hour,model'})}", expect=400).error_code
    assert call("POST", "/costs/exports", b"format=csv", headers={"Content-Type": "text/plain"}, expect=415).error_code
    assert call("GET", "/integrations/anthropic/conn_no_such", expect=404).error_code
    assert call("GET", "/budgets/no-such-budget", expect=404).error_code
    assert call("GET", "/costs/exports/no-such-export", expect=404).error_code
    call("DELETE", "/budgets/default", expect=204)
    assert call("GET", "/budgets/default", expect=404).error_code

    # Disconnect, then purge.
    assert call("DELETE", base, expect=200).parsed.status == "disconnected"
    assert call("POST", f"{base}/backfill", expect=409).error_code == "connection_disconnected"
    purged = call("DELETE", f"{base}?purge=true", expect=200).parsed
    assert purged.status == "purged" and purged.purge is not None
    assert call("GET", base, expect=404).error_code

    # Every operation of the document was read, each in its success answer.
    unread = [o.name for o in client.operations if not any(200 <= s < 300 for s in client.seen.get(o.name, ()))]
    assert not unread, f"operations of the document this test never read a success answer of: {unread}"
    print({name: sorted(statuses) for name, statuses in sorted(client.seen.items())})
