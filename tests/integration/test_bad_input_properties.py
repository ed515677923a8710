"""Bad input and tenants, property-based (issue 5, items 3 and 5).

Hypothesis sends every endpoint of the HTTP API, through LocalApi (the real handlers behind an API Gateway HTTP API
v2 event) and as raw Lambda events, malformed JSON, wrong types, oversized bodies (a 1 MB key), unicode and control
characters, missing and extra fields, bad dates, bad and duplicated group_by values, unknown and foreign path ids,
odd query strings, odd methods, odd content types and odd authorizer claims. Every response keeps the invariants of
`bad_input_support.check_response` (never a 5xx, never a stack trace, errors exactly {"error": {"code", "message"}},
no submitted key echoed), no generated request makes an AWS write call, and what is stored (table, secrets,
executions, queue) is unchanged after each test. Tenant B, whoever it is, gets 404 for tenant A's connection on
every route and never sees A's costs; a request without valid claims makes no AWS call at all.

One stack serves the whole module: a tiny simulated org (two days of usage, one workspace, one model) keeps the
table at a few dozen items so every moto query stays fast, and tenant A connects and backfills once.
PUMP_BAD_INPUT_SCALE (default 1) multiplies the number of examples. The cases run per endpoint are printed in the
terminal summary and written to test-artifacts/bad-input-cases.json.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, quote

import pytest
from hypothesis import HealthCheck, assume, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from pump_anthropic import costs
from pump_anthropic.clock import utc_now
from pump_anthropic.local.api import LocalApi, LocalResponse, _event, make_http_server
from pump_anthropic.local.aws import FakeLambdaContext, LocalAws
from pump_anthropic.simulator import DEMO_ADMIN_KEY, OrgSpec, Simulator
from tests.integration.bad_input_support import (
    ROUTES,
    AwsCallRecorder,
    CaseReport,
    check_error,
    check_response,
    error_code,
    stored_state,
    writes,
)

pytestmark = [
    pytest.mark.network,
    # Powertools warns about multipart bodies that are not base64-encoded; LocalApi never encodes bodies.
    pytest.mark.filterwarnings("ignore:Received multipart/form-data without base64 encoding:UserWarning"),
]

TENANT_A = "tenant-a"
TINY_ORG = OrgSpec(seed=29, days=2, workspaces=1, api_keys=1, models=1, users=1)
FIXED_NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
SCALE = float(os.environ.get("PUMP_BAD_INPUT_SCALE", "1"))

DIMENSIONS = costs.GROUP_BY_DIMENSIONS
RANGE_DAYS = costs.DEFAULT_RANGE_DAYS
MAX_RANGE_DAYS = costs.MAX_RANGE_DAYS
ADMIN_KEY_SHAPE = re.compile(r"sk-ant-admin[0-9]{2}-[A-Za-z0-9_-]{20,300}")
MAX_KEY_LENGTH = 400
CONNECTION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
RESERVED_PARAMS = {"from", "to", "group_by", "format", "purge"}
EARLIEST_DATE, LATEST_DATE = costs.EARLIEST_DATE, costs.LATEST_DATE

ID_ALPHABET = string.ascii_letters + string.digits + "-_"
KEY_ALPHABET = ID_ALPHABET
CONTROL = "".join(map(chr, range(32))) + "\x7f\x85\xa0\u2028\u2029\u202e\u200b\ufeff"


def examples(n: int) -> settings:
    # Derandomized by default so CI is repeatable (same cases every run); PUMP_BAD_INPUT_RANDOM=1 explores anew.
    return settings(
        max_examples=max(1, round(n * SCALE)),
        derandomize=os.environ.get("PUMP_BAD_INPUT_RANDOM") != "1",
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ----------------------------------------------------------------------------------------------- the stack


@dataclass(repr=False)
class World:
    api: LocalApi
    aws: LocalAws
    connection_id: str
    today: date
    recorder: AwsCallRecorder
    report: CaseReport
    baseline: tuple
    openapi: str
    handlers: dict[str, Callable]
    last_calls: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"World(tenant A's connection {self.connection_id})"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # keeps Hypothesis' falsifying examples readable
        printer.text(repr(self))

    def send(
        self,
        method: str,
        path: str,
        *,
        query: str | None = None,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        tenant: str = "tenant-b",
        anonymous: bool = False,
        secrets: tuple[str, ...] = (),
    ) -> LocalResponse:
        """One generated request through LocalApi, checked against the invariants."""
        assert anonymous or tenant != TENANT_A, "generated requests never act as tenant A"
        target = path if query is None else f"{path}?{query}"
        with self.recorder.recording() as calls:
            response = self.api.request(method, target, body=body, headers=headers, tenant=tenant, anonymous=anonymous)
        self.last_calls = calls
        self.report.add(method, path)
        if currently_in_test_context():  # outcome mix, shown by --hypothesis-show-statistics
            event(f"{response.status} {error_code(response) or ''}".strip())
        check_response(response, secrets)
        assert not writes(calls), f"{method} {path} made AWS write calls: {writes(calls)}"
        if anonymous or not valid_tenant(tenant):
            assert not calls, f"{method} {path} without valid claims reached AWS: {calls}"
        return response

    def send_event(self, event: dict) -> tuple[LocalResponse, list[str]]:
        """One raw API Gateway v2 event straight to the function the template routes it to."""
        path = event["rawPath"]
        handler = self.handlers["connect" if path.startswith("/integrations/") else "costs"]
        with self.recorder.recording() as calls:
            result = handler(event, FakeLambdaContext("bad-input"))
        self.report.counts["raw events (claims, base64)"] += 1
        response = LocalResponse(int(result["statusCode"]), dict(result.get("headers") or {}), result.get("body") or "")
        check_response(response)
        assert not writes(calls), f"{path} made AWS write calls: {writes(calls)}"
        return response, calls


def valid_tenant(tenant: str) -> bool:
    # LocalApi sends the default tenant for an empty one; the handlers refuse blank and oversized claims.
    return tenant == "" or (bool(tenant.strip()) and len(tenant) <= 256)


def _connect_tenant_a(api: LocalApi, timeout: float = 120.0) -> str:
    response = api.request(
        "POST", "/integrations/anthropic", body=json.dumps({"admin_key": DEMO_ADMIN_KEY}), tenant=TENANT_A
    )
    assert response.status == 202, response.body
    connection_id = response.json()["id"]
    deadline = time.monotonic() + timeout
    while (
        status := api.request("GET", f"/integrations/anthropic/{connection_id}", tenant=TENANT_A).json()["status"]
    ) == ("backfilling"):
        assert time.monotonic() < deadline, "tenant A's backfill did not settle"
        time.sleep(0.2)
    assert status == "active"
    return connection_id


@pytest.fixture(scope="module")
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
            connection_id = _connect_tenant_a(api)
            today = utc_now().date()
            window = f"from={today - timedelta(days=RANGE_DAYS - 1)}&to={today}"
            a_costs = api.request("GET", f"/costs?{window}", tenant=TENANT_A).json()
            assert a_costs["rows"] and Decimal(a_costs["total"]["cost_usd"]) > 0, "tenant A needs costs to hide"
            a_export = api.request("GET", f"/costs/export?{window}", tenant=TENANT_A).body
            assert len(a_export.strip().splitlines()) > 1, "tenant A needs FOCUS rows to hide"
            openapi = api.request("GET", "/openapi.json").body

            from functions.connect import app as connect_app
            from functions.costs import app as costs_app

            recorder = AwsCallRecorder()
            recorder.install(resources.enter_context(pytest.MonkeyPatch.context()))
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


# ------------------------------------------------------------------------------------------------ strategies

text = st.text(max_size=40)
control_text = st.text(alphabet=st.sampled_from(CONTROL + "é€🔑'\"\\{}[],:%&=;+ "), max_size=20)
odd_text = st.one_of(text, control_text)

# Tenants other than A: look-alikes, strings that collide with the table's key layout, arbitrary unicode.
lookalike_tenants = st.sampled_from(
    [
        "tenant-b",
        "local",
        "",
        "tenant-a ",
        " tenant-a",
        "Tenant-A",
        "TENANT-A",
        "tenant-a\x00",
        "tenant-a\u200b",
        "tenant\u2010a",
        "tenant-",
        "tenant-aa",
        "tenant-a#ROLLUP",
        "tenant-a#CONN#",
        "TENANT#tenant-a",
        "#",
        "*",
        "%",
        "../tenant-a",
    ]
)
other_tenants = st.one_of(st.just("tenant-b"), lookalike_tenants, st.text(min_size=1, max_size=300)).filter(
    lambda t: t != TENANT_A
)
invalid_tenants = st.one_of(
    st.sampled_from([" ", "\t", "\n\r ", "\u2003", "\u3000"]),
    st.text(alphabet=" \t\n\r\x0b\x0c\u2003", min_size=1, max_size=5),
    st.builds(lambda c, n: c * n, st.sampled_from("aZ9-é🔑"), st.integers(257, 2_000)),
)

content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=latin-1",
        "APPLICATION/JSON",
        "Application/Json",
        "application/jsonx",
        "application/problem+json",
        "text/plain",
        "text/html",
        "application/xml",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data; boundary=",
        "",
        " ",
        "*/*",
        "\x00",
        "é/é",
    ]
)


def is_json_content_type(content_type: str | None) -> bool:
    value = (content_type or "").strip()
    return not value or value.startswith("application/json")


extra_headers = st.dictionaries(
    st.sampled_from(["authorization", "content-length", "transfer-encoding", "accept", "x-forwarded-for", "cookie"]),
    st.one_of(st.sampled_from(["-1", "0", "999999999", "chunked", "Bearer x", "*/*"]), odd_text),
    max_size=2,
)


def headers_for(content_type: str | None, extra: dict[str, str]) -> dict[str, str]:
    headers = dict(extra)
    if content_type is not None:
        headers["content-type"] = content_type
    return headers


# Key-like strings: every one of them is refused (none is the simulator's key, even once stripped).
key_prefixes = st.sampled_from(
    [
        "sk-ant-admin01-",
        "sk-ant-admin42-",
        "sk-ant-api03-",
        "sk-ant-api01-",
        "sk-ant-admin1-",
        "sk-ant-admin01",
        "SK-ANT-ADMIN01-",
        "sk-ant-",
        "sk-ant-oat01-",
        "sk_ant_admin01_",
        " sk-ant-admin01-",
        "Bearer sk-ant-admin01-",
        "",
    ]
)
key_tails = st.sampled_from(["", "AA", " ", "\n", "\t", "\x00", "é", "\u202e", "🔑", "\xa0", "'", '"', "\\", "%00"])
well_formed_unknown_keys = st.builds(
    lambda version, body, pad: f"{pad}sk-ant-admin{version:02d}-{body}{pad}",
    st.integers(0, 99),
    st.one_of(
        st.text(KEY_ALPHABET, min_size=20, max_size=60),
        st.builds(lambda seed, n: (seed * n)[:n], st.text(KEY_ALPHABET, min_size=1, max_size=12), st.integers(20, 300)),
    ),
    st.sampled_from(["", " ", "\n", "\t "]),
)
oversized_keys = st.builds(
    lambda prefix, chunk, n: prefix + chunk * n,
    key_prefixes,
    st.sampled_from(["a", "Z9", "-_", "é", "\x00", " ", "🔑"]),
    st.sampled_from([290, 301, 386, 1_000, 65_536, 1_000_000]),
)
malformed_keys = st.builds(
    lambda prefix, body, tail: prefix + body + tail, key_prefixes, st.text(KEY_ALPHABET, max_size=120), key_tails
)
key_like = st.one_of(well_formed_unknown_keys, malformed_keys, oversized_keys, odd_text, st.text(max_size=80)).filter(
    lambda k: k.strip() != DEMO_ADMIN_KEY
)


def expected_key_error(key: str) -> str:
    """What POST /integrations/anthropic answers for {"admin_key": key} (the shape check, then Anthropic)."""
    value = key.strip()
    if value.startswith("sk-ant-api"):
        return "standard_key_not_allowed"
    if len(value) > MAX_KEY_LENGTH or not ADMIN_KEY_SHAPE.fullmatch(value):
        return "invalid_key_format"
    return "key_rejected"


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
field_names = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["tenant_id", "tenant", "Admin_Key", "admin_key ", "adminKey", "connection_id", "__proto__", "id"]),
).filter(lambda name: name != "admin_key")


# Body templates are generated once and the key is put in afterwards (at KEY_MARK): building strategies per key
# made Hypothesis spend most of its time validating them.
KEY_MARK = "@@KEY@@"


def _documents(with_key_only: bool) -> st.SearchStrategy:
    """JSON documents that are not {"admin_key": <string>}, with the key somewhere in most of them."""
    without_key = [
        st.builds(lambda v: {"admin_key": v}, json_values.filter(lambda v: not isinstance(v, str))),
        st.dictionaries(field_names, json_values, max_size=3),
        json_scalars,
    ]
    with_key = [
        st.builds(
            lambda extra: {"admin_key": KEY_MARK, **extra},
            st.dictionaries(field_names, json_values, min_size=1, max_size=3),
        ),
        st.builds(lambda n: {"admin_key": [KEY_MARK] * n}, st.integers(1, 2)),
        st.builds(lambda name: {"admin_key": {name: KEY_MARK}}, field_names),
        st.builds(lambda name: {name: KEY_MARK}, field_names),
        st.just(KEY_MARK),
        st.builds(lambda n: [KEY_MARK] * n, st.integers(0, 2)),
        st.builds(lambda n: [{"admin_key": KEY_MARK}] * n, st.integers(1, 2)),
        st.just([{"admin_key": KEY_MARK}, 42]),
    ]
    return st.builds(json.dumps, st.one_of(*with_key, *([] if with_key_only else without_key)))


def _damage(text_: str, kind: str, position: int, junk: str, depth: int, close: int) -> str:
    """Syntax damage: truncated, trailing or leading junk, single quotes, deep or unbalanced nesting, comments."""
    if kind == "truncate" and len(text_) > 1:
        return text_[: position % len(text_)]
    if kind == "append":
        return text_ + junk
    if kind == "prepend":
        return junk + text_
    if kind == "quotes":
        return text_.replace('"', "'")
    if kind == "nest":
        return "[" * depth + text_ + "]" * (depth - close)
    if kind == "surrogate":
        return '{"admin_key": "\\ud800' + text_.replace('"', "") + '"}'
    return "// " + text_


def _broken(documents: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(
        _damage,
        documents,
        st.sampled_from(["truncate", "append", "prepend", "quotes", "nest", "surrogate", "comment"]),
        st.integers(0, 10_000),
        st.sampled_from([",", "}", "]", "\x00", "garbage", " {} ", '\n{"admin_key": 1}', "\ufeff", "[", ")]}'\n", "{"]),
        st.sampled_from([1, 64, 1_000, 5_000, 100_000]),
        st.sampled_from([0, 1]),
    )


key_bearing_templates = st.one_of(
    _documents(with_key_only=True),
    _broken(_documents(with_key_only=True)),
    st.builds(
        lambda junk: '{"admin_key": "' + KEY_MARK + '", "admin_key": ' + junk + "}",
        st.sampled_from(["1", "null", "[]", "{}", "true", "1e999", "NaN"]),
    ),
)
rejected_templates = st.one_of(
    key_bearing_templates,
    _documents(with_key_only=False),
    _broken(_documents(with_key_only=False)),
    st.binary(max_size=120),
    st.text(max_size=120),
    st.sampled_from(["", " ", "\n", "null", "{", "}", "[", '"', "{}", "[]", "0", "-", "NaN", "Infinity"]),
)


def render(template: str | bytes, key: str, ensure_ascii: bool = True) -> str | bytes:
    """A body template with the key in it, escaped as JSON would write it."""
    if isinstance(template, bytes):
        return template
    return template.replace(KEY_MARK, json.dumps(key, ensure_ascii=ensure_ascii)[1:-1])


# Dates: valid ones (near today, pairs, anywhere) and strings the API must refuse.
def is_strict_date(value: str) -> bool:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _mutate_date(day: date, how: str, char: str, position: int) -> str:
    text_ = day.isoformat()
    position %= len(text_) + 1
    mutations = {
        "insert": text_[:position] + char + text_[position:],
        "drop": text_[:position] + text_[position + 1 :],
        "replace": text_[:position] + char + text_[position + 1 :],
        "slashes": text_.replace("-", "/"),
        "dots": text_.replace("-", "."),
        "pad": f" {text_} ",
        "time": text_ + "T00:00:00Z",
        "compact": text_.replace("-", ""),
        "us": day.strftime("%m/%d/%Y"),
        "eu": day.strftime("%d-%m-%Y"),
    }
    return mutations[how]


bad_dates = st.one_of(
    st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99)),
    st.builds(
        _mutate_date,
        st.dates(),
        st.sampled_from(["insert", "drop", "replace", "slashes", "dots", "pad", "time", "compact", "us", "eu"]),
        st.sampled_from(list("0123456789-/ .T\x00éa٠１") + [""]),
        st.integers(0, 12),
    ),
    st.sampled_from(
        [
            "0000-01-01",
            "10000-01-01",
            "2026-1-1",
            "today",
            "yesterday",
            "now",
            "null",
            "NaN",
            "1e3",
            "-2026-01-01",
            "+2026-01-01",
            "２０２６-01-01",
            "2026-01-0١",
            "2026-02-29",
            "2025-02-29",
            "2026-04-31",
            "9999-99-99",
            "2026-01-01,2026-01-02",
            "2026-W01-1",
            "2026-W53-7",
            "2026-001",
        ]
    ),
    st.text(min_size=1, max_size=14),
).filter(lambda s: not is_strict_date(s))

# Any calendar day: those outside EARLIEST_DATE..LATEST_DATE are refused (they once overflowed date arithmetic).
any_day = st.dates()
# Days whose window of MAX_RANGE_DAYS either way stays inside the calendar (so the test's own arithmetic works).
roomy_day = st.dates(min_value=date(2, 1, 1), max_value=date(9998, 1, 1))


@dataclass(frozen=True)
class DateParam:
    kind: str  # absent | empty | valid | invalid
    value: str = ""

    def render(self, name: str) -> list[str]:
        if self.kind == "absent":
            return []
        return [f"{name}={quote(self.value, safe='')}"]


def date_params(today: date) -> st.SearchStrategy:
    near = st.integers(-(MAX_RANGE_DAYS + 40), 40).map(lambda d: today + timedelta(days=d))
    valid = st.one_of(near, any_day).map(lambda d: DateParam("valid", d.isoformat()))
    return st.one_of(
        st.just(DateParam("absent")),
        st.just(DateParam("empty")),
        valid,
        valid,
        bad_dates.map(lambda s: DateParam("invalid", s)),
    )


@st.composite
def date_windows(draw, today: date) -> tuple[DateParam, DateParam]:
    """A from/to pair: often a sensible window, sometimes independent (reversed, too long, invalid)."""
    params = date_params(today)
    if draw(st.booleans()):
        first = draw(
            st.one_of(
                st.integers(-(MAX_RANGE_DAYS + 40), 40).map(lambda d: today + timedelta(days=d)),
                st.dates(min_value=EARLIEST_DATE - timedelta(days=3), max_value=LATEST_DATE + timedelta(days=3)),
                roomy_day,
            )
        )
        span = draw(st.one_of(st.integers(0, MAX_RANGE_DAYS - 1), st.integers(-3, MAX_RANGE_DAYS + 3)))
        return DateParam("valid", first.isoformat()), DateParam("valid", (first + timedelta(days=span)).isoformat())
    return draw(params), draw(params)


def expected_range(first: DateParam, last: DateParam, today: date) -> tuple[date, date] | None:
    """The report's range, or None when the API must refuse the dates (400 invalid_query)."""
    if "invalid" in (first.kind, last.kind):
        return None
    given = [date.fromisoformat(p.value) for p in (first, last) if p.kind == "valid"]
    if not all(EARLIEST_DATE <= day <= LATEST_DATE for day in given):
        return None
    last_day = date.fromisoformat(last.value) if last.kind == "valid" else today
    first_day = (
        date.fromisoformat(first.value)
        if first.kind == "valid"
        else max(last_day - timedelta(days=RANGE_DAYS - 1), EARLIEST_DATE)
    )
    if first_day > last_day or (last_day - first_day).days + 1 > MAX_RANGE_DAYS:
        return None
    return first_day, last_day


group_by_junk = st.one_of(
    st.sampled_from(
        [
            "Date",
            "DATE",
            "dates",
            "workspace",
            "workspace_name",
            "day",
            "*",
            "date;model",
            "",
            " ",
            "cost_usd",
            "tenant_id",
            "sk-ant-admin01-" + "Q" * 93 + "AA",  # a key pasted into the wrong box is not echoed
        ]
    ),
    st.text(max_size=15),
    control_text,
).filter(lambda s: "," not in s and s.strip() not in DIMENSIONS)
group_by_entry = st.one_of(
    st.sampled_from(DIMENSIONS),
    st.sampled_from(DIMENSIONS).map(lambda d: f" {d} "),
    group_by_junk,
)
group_by_lists = st.one_of(
    st.none(),
    st.lists(st.sampled_from(DIMENSIONS), min_size=1, max_size=len(DIMENSIONS), unique=True),
    st.lists(group_by_entry, max_size=10),
    st.builds(
        lambda xs, i, at: xs[:at] + [xs[i % len(xs)]] + xs[at:],
        st.lists(st.sampled_from(DIMENSIONS), min_size=1, max_size=5),
        st.integers(0, 9),
        st.integers(0, 5),
    ),  # a dimension twice
)


def expected_group_by(entries: list[str] | None) -> tuple[str, ...] | None:
    """The report's dimensions, or None when the API must refuse group_by."""
    if entries is None:
        return costs.DEFAULT_GROUP_BY
    dims = tuple(e.strip() for e in (entries or [""]))
    if not all(d in DIMENSIONS for d in dims) or len(set(dims)) != len(dims):
        return None
    return dims


def render_group_by(entries: list[str], comma: str) -> str:
    return "group_by=" + comma.join(quote(e, safe="") for e in entries)


# Query-string junk: parameters none of the routes read, in raw, encoded and malformed forms.
def _reads_no_reserved_param(query: str) -> bool:
    names = parse_qs(query, keep_blank_values=True).keys()
    return not any(name.strip() in RESERVED_PARAMS for name in names)


junk_queries = st.one_of(
    st.sampled_from(
        [
            "&",
            "=",
            "==",
            "&&&",
            "a",
            "a=",
            "=a",
            "%",
            "%zz",
            "%00",
            "%ff%fe",
            "a=%E2%80%AE",
            "a[]=1&a[]=2",
            "__proto__=1",
            ";",
            "a=1;b=2",
            "+",
            "%2B",
            "x=" + "y" * 10_000,
            "tenant_id=tenant-a",
            "x-pump-tenant=tenant-a",
        ]
    ),
    st.builds(lambda k, v: f"{quote(k, safe='')}={quote(v, safe='')}", text, text),
    st.text(st.characters(exclude_characters="#\t\r\n"), max_size=60),
).filter(_reads_no_reserved_param)


def join_query(*parts: str) -> str | None:
    present = [p for p in parts if p]
    return "&".join(present) if present else None


# Connection ids: well-formed but unknown, malformed, encoded, and tenant A's own (handled per test).
well_formed_ids = st.one_of(
    st.text(ID_ALPHABET, min_size=1, max_size=64),
    st.text("0123456789abcdef", min_size=20, max_size=20).map(lambda h: f"conn_{h}"),
)
# No lone surrogates: a URL is bytes on the wire, and a surrogate has no UTF-8 form to percent-encode.
outside_id_alphabet = st.characters(exclude_characters=ID_ALPHABET + "/?#\t\r\n", exclude_categories=("Cs",))
url_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
malformed_ids = st.one_of(
    st.text(ID_ALPHABET, min_size=65, max_size=300),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=20), outside_id_alphabet, st.text(max_size=20)),
    st.builds(lambda a, c, b: quote(a + c + b, safe=""), url_text, outside_id_alphabet, url_text),
    st.builds(lambda c, n: c * n, st.sampled_from("a-é🔑%.\x00"), st.sampled_from([65, 1_000, 100_000])),
    st.sampled_from(
        [".", "..", "%2F", "%2e%2e", "a%20b", "a b", "a;b", "a,b", "a:b", "(a)", "a*", "~", "$x", "[1]", "😀"]
    ),
).filter(lambda s: not CONNECTION_ID.fullmatch(s))
purge_values = st.one_of(
    st.none(),
    st.sampled_from(["true", "false", "1", "0"]),
    st.sampled_from(["", "maybe", "2", "-1", "truee", "null", "true,false", "[true]", "True ", "✓"]),
    text,
)


def purge_param(purge: str | None) -> str:
    return "" if purge is None else f"purge={quote(purge, safe='')}"


CONNECTION_ROUTES = (
    ("GET", ""),
    ("DELETE", ""),
    ("POST", "/sync"),
    ("POST", "/backfill"),
)


# --------------------------------------------------------------------------------------- POST /integrations


@examples(2_500)
@given(
    key=key_like,
    exact=st.booleans(),
    template=rejected_templates,
    ensure_ascii=st.booleans(),
    content_type=content_types,
    extra=extra_headers,
    tenant=st.one_of(st.just("tenant-b"), other_tenants, invalid_tenants),
    anonymous=st.sampled_from([False, False, False, True]),
)
def test_connect_refuses_bad_keys_and_bodies(
    world, key, exact, template, ensure_ascii, content_type, extra, tenant, anonymous
):
    """`exact` sends {"admin_key": key}; otherwise a body that is not that, with the key in most of them."""
    body = json.dumps({"admin_key": key}, ensure_ascii=ensure_ascii) if exact else render(template, key, ensure_ascii)
    response = world.send(
        "POST",
        "/integrations/anthropic",
        body=body,
        headers=headers_for(content_type, extra),
        tenant=tenant,
        anonymous=anonymous,
        secrets=(key,),
    )
    assert response.status in (400, 401, 415), response.body[:300]
    if exact and is_json_content_type(content_type):
        expected = expected_key_error(key) if valid_tenant(tenant) and not anonymous else "unauthorized"
        assert error_code(response) == expected
    if not is_json_content_type(content_type) and not content_type.strip().startswith(
        ("multipart/form-data", "application/x-www-form-urlencoded")
    ):
        assert (response.status, error_code(response)) == (415, "unsupported_media_type")


@examples(700)
@given(
    template=key_bearing_templates,
    pad=st.sampled_from(["", " ", "\n"]),
    content_type=st.sampled_from([None, "application/json", "text/plain", "application/octet-stream", "text/html"]),
    tenant=other_tenants,
)
def test_a_real_key_in_a_rejected_request_is_neither_stored_nor_echoed(world, template, pad, content_type, tenant):
    """The simulator's own key, in a JSON body of the wrong shape or a valid one with the wrong content type."""
    key = pad + DEMO_ADMIN_KEY + pad
    body = render(template, key) if is_json_content_type(content_type) else json.dumps({"admin_key": key})
    response = world.send(
        "POST",
        "/integrations/anthropic",
        body=body,
        headers=headers_for(content_type, {}),
        tenant=tenant,
        secrets=(key,),
    )
    assert response.status in (400, 401, 415), response.body[:300]


# ------------------------------------------------------------------------------- /integrations/anthropic/{id}


@examples(2_600)
@given(
    route=st.sampled_from(CONNECTION_ROUTES),
    data=st.data(),
    purge=purge_values,
    junk=st.one_of(st.none(), junk_queries),
    body=st.one_of(
        st.none(),
        st.text(max_size=100),
        st.binary(max_size=100),
        st.just('{"admin_key": 1}'),
        st.builds(lambda c, n: c * n, st.sampled_from(["[", "a", "é"]), st.sampled_from([100_000, 1_000_000])),
    ),
    content_type=content_types,
    tenant=st.one_of(st.just("tenant-b"), other_tenants, invalid_tenants),
)
def test_connection_routes_answer_404_or_400_for_unknown_and_malformed_ids(
    world, route, data, purge, junk, body, content_type, tenant
):
    method, suffix = route
    kind = data.draw(st.sampled_from(["unknown", "malformed", "tenant A's"]), label="id kind")
    connection_id = {
        "unknown": lambda: data.draw(well_formed_ids.filter(lambda i: i != world.connection_id), label="id"),
        "malformed": lambda: data.draw(malformed_ids, label="id"),
        "tenant A's": lambda: world.connection_id,
    }[kind]()
    query = join_query(purge_param(purge) if method == "DELETE" else "", junk or "")
    response = world.send(
        method,
        f"/integrations/anthropic/{connection_id}{suffix}",
        query=query,
        body=body,
        headers=headers_for(content_type, {}),
        tenant=tenant,
    )
    purge_ok = method != "DELETE" or purge in (None, "true", "false", "1", "0")
    if CONNECTION_ID.fullmatch(connection_id) and purge_ok:
        expected = ("not_found", 404) if valid_tenant(tenant) else ("unauthorized", 401)
        assert (error_code(response), response.status) == expected, response.body[:300]
    else:
        assert response.status in (400, 401, 404), response.body[:300]
        assert error_code(response) in ("invalid_request", "unauthorized", "not_found")


@examples(300)
@given(junk=st.one_of(st.none(), junk_queries), body=st.one_of(st.none(), st.text(max_size=100)), tenant=other_tenants)
def test_listing_with_odd_query_strings_shows_no_other_tenants_connections(world, junk, body, tenant):
    assume(valid_tenant(tenant))
    response = world.send("GET", "/integrations/anthropic", query=junk, body=body, tenant=tenant)
    assert (response.status, response.json()) == (200, {"connections": []})


# ---------------------------------------------------------------------------------------- /costs, /costs/export


@examples(1_600)
@given(
    data=st.data(),
    group_by=group_by_lists,
    comma=st.sampled_from([",", "%2C"]),
    junk=st.one_of(st.none(), junk_queries),
)
def test_costs_answers_a_report_or_a_400_for_any_query(world, data, group_by, comma, junk):
    first, last = data.draw(date_windows(world.today), label="from/to")
    query = join_query(
        *first.render("from"),
        *last.render("to"),
        render_group_by(group_by, comma) if group_by is not None else "",
        junk or "",
    )
    response = world.send("GET", "/costs", query=query)
    window, dims = expected_range(first, last, world.today), expected_group_by(group_by)
    if window is None or dims is None:
        assert response.status == 400 and error_code(response) in ("invalid_query", "invalid_request"), response.body
        return
    assert response.status == 200, response.body[:300]
    report = response.json()
    assert (report["from"], report["to"], tuple(report["group_by"])) == (
        window[0].isoformat(),
        window[1].isoformat(),
        dims,
    )
    assert report["rows"] == [] and report["total"] == {"cost_usd": "0", "tokens": 0}, "tenant B saw costs"


export_formats = st.one_of(
    st.none(),
    st.just("focus"),
    st.sampled_from(["", "FOCUS", "Focus", "focus ", "csv", "json", "focus,csv", "focus%00", "focus\x00"]),
    text,
)


@examples(900)
@given(data=st.data(), fmt=export_formats, group_by=group_by_lists, junk=st.one_of(st.none(), junk_queries))
def test_export_answers_a_csv_or_a_400_for_any_query(world, data, fmt, group_by, junk):
    first, last = data.draw(date_windows(world.today), label="from/to")
    query = join_query(
        *first.render("from"),
        *last.render("to"),
        "" if fmt is None else f"format={quote(fmt, safe='')}",
        render_group_by(group_by, ",") if group_by is not None else "",  # not a parameter of the export: ignored
        junk or "",
    )
    response = world.send("GET", "/costs/export", query=query)
    if expected_range(first, last, world.today) is None or fmt not in (None, "focus"):
        assert response.status == 400 and error_code(response) in ("invalid_query", "invalid_request"), response.body
        return
    assert response.status == 200, response.body[:300]
    assert response.headers.get("Content-Type", "").startswith("text/csv")
    assert len(response.body.strip().splitlines()) == 1, "tenant B's export holds rows"


@examples(150)
@given(data=st.data(), group_by=group_by_lists, fmt=st.sampled_from([None, "focus", "csv"]))
def test_tenant_a_own_reads_never_fail_on_odd_queries(world, data, group_by, fmt):
    """The same generated queries for the tenant that has data (read-only, so tenant A may send them)."""
    first, last = data.draw(date_windows(world.today), label="from/to")
    dates = [*first.render("from"), *last.render("to")]
    for path, extra in (
        ("/costs", render_group_by(group_by, ",") if group_by is not None else ""),
        ("/costs/export", "" if fmt is None else f"format={fmt}"),
    ):
        target = f"{path}?{join_query(*dates, extra) or ''}"
        with world.recorder.recording() as calls:
            response = world.api.request("GET", target, tenant=TENANT_A)
        world.report.add("GET", path)
        check_response(response)
        assert not writes(calls)
        assert response.status in (200, 400), response.body[:300]


# ------------------------------------------------------------------------- /openapi.json, methods, unknown routes


@examples(400)
@given(
    junk=st.one_of(st.none(), junk_queries),
    body=st.one_of(st.none(), st.text(max_size=100), st.binary(max_size=100)),
    content_type=content_types,
    tenant=st.one_of(other_tenants, invalid_tenants),
    anonymous=st.booleans(),
)
def test_openapi_document_is_served_unchanged_whatever_comes_with_the_request(
    world, junk, body, content_type, tenant, anonymous
):
    response = world.send(
        "GET",
        "/openapi.json",
        query=junk,
        body=body,
        headers=headers_for(content_type, {}),
        tenant=tenant,
        anonymous=anonymous,
    )
    assert response.status == 200 and response.body == world.openapi


odd_methods = st.one_of(
    st.sampled_from(
        ["PUT", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "PURGE", "", " ", "G\x00T", "ПОСТ", "GET "]
    ),
    st.sampled_from(["get", "Post", "delete", "dElEtE"]),
    st.text(string.ascii_uppercase, min_size=1, max_size=8),
)
route_paths = st.sampled_from(
    [
        "/integrations/anthropic",
        "/integrations/anthropic/{id}",
        "/integrations/anthropic/{id}/sync",
        "/integrations/anthropic/{id}/backfill",
        "/costs",
        "/costs/export",
        "/openapi.json",
    ]
)
unknown_paths = st.one_of(
    st.sampled_from(
        [
            "/",
            "",
            "//costs",
            "/costs/",
            "/Costs",
            "/costs/export/",
            "/costs/exportx",
            "/costs/export.csv",
            "/openapi.json/",
            "/openapi.JSON",
            "/openapi",
            "/integrations",
            "/integrations/",
            "/integrations/anthropic/",
            "/integrations/anthropic//sync",
            "/integrations/anthropic/x/sync/now",
            "/integrations/anthropic/x/y",
            "/integrations/openai",
            "/integrations/anthropic/x/backfill/",
            "/%2e%2e/costs",
            "/costs%00",
        ]
    ),
    st.lists(st.text(st.characters(exclude_characters="/?#\t\r\n"), max_size=12), min_size=1, max_size=4).map(
        lambda segments: "/" + "/".join(segments)
    ),
    st.lists(
        st.sampled_from(["integrations", "anthropic", "costs", "export", "x", "sync", "backfill", ""]), max_size=5
    ).map(lambda segments: "/" + "/".join(segments)),
)


@examples(900)
@given(
    method=odd_methods,
    path=st.one_of(route_paths, unknown_paths),
    connection_id=st.one_of(well_formed_ids, st.just("TENANT_A")),
    body=st.one_of(st.none(), st.text(max_size=100)),
    tenant=other_tenants,
)
def test_odd_methods_and_unknown_routes_get_a_json_404(world, method, path, connection_id, body, tenant):
    connection_id = world.connection_id if connection_id == "TENANT_A" else connection_id
    path = path.replace("{id}", connection_id)
    known = any(pattern.fullmatch(path) for _, pattern, _ in ROUTES)
    response = world.send(method, path, body=body, tenant=tenant)
    if not known:
        assert (response.status, error_code(response)) == (404, "not_found"), response.body[:300]
    elif response.status >= 400:
        check_error(response)
        if method.upper() not in ("GET", "POST", "DELETE"):
            assert (response.status, error_code(response)) in ((404, "not_found"), (405, "method_not_allowed"))
    assert response.status not in (200, 202) or method.upper() == "GET", response.body[:300]


# ------------------------------------------------------------------------------------------------------ tenants


@examples(320)
@given(
    tenant=st.one_of(other_tenants, st.sampled_from(["#CONN#", "#ROLLUP", "#CONN#{id}", "#CONN#{id}#SYNC"])),
    purge=st.sampled_from([None, "true", "false", "1", "0"]),
    group_by=st.lists(st.sampled_from(DIMENSIONS), min_size=1, max_size=4, unique=True),
    back=st.integers(0, MAX_RANGE_DAYS - 1),
)
def test_other_tenants_get_404_for_tenant_a_connection_and_none_of_its_costs(world, tenant, purge, group_by, back):
    tenant = TENANT_A + tenant.replace("{id}", world.connection_id) if tenant.startswith("#") else tenant
    assume(valid_tenant(tenant) and tenant != TENANT_A)
    base = f"/integrations/anthropic/{world.connection_id}"
    for method, suffix in CONNECTION_ROUTES:
        query = purge_param(purge) if method == "DELETE" else None
        response = world.send(method, base + suffix, query=query, tenant=tenant)
        assert (response.status, error_code(response)) == (404, "not_found"), f"{method} {suffix}: {response.body}"
    assert world.send("GET", "/integrations/anthropic", tenant=tenant).json() == {"connections": []}
    window = f"from={world.today - timedelta(days=back)}&to={world.today}"
    report = world.send("GET", "/costs", query=f"{window}&group_by={','.join(group_by)}", tenant=tenant).json()
    assert "Query" in world.last_calls, "the report did not read the table (is the AWS call recorder working?)"
    assert report["rows"] == [] and report["total"] == {"cost_usd": "0", "tokens": 0}, "tenant B saw A's costs"
    export = world.send("GET", "/costs/export", query=window, tenant=tenant)
    assert export.status == 200 and len(export.body.strip().splitlines()) == 1, "tenant B's export holds A's rows"


@examples(700)
@given(
    route=st.sampled_from(
        [
            ("POST", "/integrations/anthropic"),
            ("GET", "/integrations/anthropic"),
            ("GET", "/integrations/anthropic/{id}"),
            ("DELETE", "/integrations/anthropic/{id}"),
            ("POST", "/integrations/anthropic/{id}/sync"),
            ("POST", "/integrations/anthropic/{id}/backfill"),
            ("GET", "/costs"),
            ("GET", "/costs/export"),
            ("GET", "/openapi.json"),
        ]
    ),
    own_id=st.booleans(),
    key=st.one_of(st.just(DEMO_ADMIN_KEY), key_like),
    junk=st.one_of(st.none(), junk_queries),
    claims=st.one_of(st.none(), invalid_tenants),
)
def test_requests_without_valid_claims_never_reach_aws(world, route, own_id, key, junk, claims):
    method, template = route
    connection_id = world.connection_id if own_id else "conn_00000000000000000000"
    path = template.replace("{id}", connection_id)
    body = json.dumps({"admin_key": key}) if method == "POST" and template.endswith("anthropic") else None
    # world.send asserts that no AWS call at all was made
    if claims is None:
        response = world.send(method, path, query=junk, body=body, anonymous=True, secrets=(key,))
    else:
        response = world.send(method, path, query=junk, body=body, tenant=claims, secrets=(key,))
    expected = (200, None) if path == "/openapi.json" else (401, "unauthorized")
    assert (response.status, error_code(response)) == expected, response.body[:300]


# ------------------------------------------------------------------------ raw events: claims, base64 bodies

claim_shapes = st.one_of(
    st.sampled_from(["no authorizer", "authorizer null", "jwt null", "claims null"]),
    st.builds(lambda v: ("claims", v), st.one_of(st.integers(), st.text(max_size=10), st.lists(st.text(max_size=5)))),
    st.builds(
        lambda v: ("tenant", v),
        st.one_of(
            st.none(),
            st.integers(),
            st.booleans(),
            st.lists(st.text(max_size=5)),
            st.dictionaries(text, text),
            invalid_tenants,
        ),
    ),
    st.builds(lambda name: ("other claim", name), st.text(max_size=10).filter(lambda n: n != "tenant_id")),
)


def _apply_claims(event: dict, shape: object) -> None:
    context = event["requestContext"]
    if shape == "no authorizer":
        del context["authorizer"]
    elif shape == "authorizer null":
        context["authorizer"] = None
    elif shape == "jwt null":
        context["authorizer"]["jwt"] = None
    elif shape == "claims null":
        context["authorizer"]["jwt"]["claims"] = None
    elif shape[0] == "claims":
        context["authorizer"]["jwt"]["claims"] = shape[1]
    elif shape[0] == "tenant":
        context["authorizer"]["jwt"]["claims"] = {"tenant_id": shape[1]}
    else:
        context["authorizer"]["jwt"]["claims"] = {shape[1]: "tenant-b"}


@examples(350)
@given(
    route=st.sampled_from(
        [
            ("POST", "/integrations/anthropic"),
            ("GET", "/integrations/anthropic"),
            ("GET", "/costs"),
            ("GET", "/costs/export"),
        ]
        + [(m, "/integrations/anthropic/conn_x" + s) for m, s in CONNECTION_ROUTES]
    ),
    shape=claim_shapes,
)
def test_events_with_missing_or_malformed_claims_get_401_and_reach_no_data(world, route, shape):
    method, path = route
    body = json.dumps({"admin_key": DEMO_ADMIN_KEY}) if method == "POST" and path.endswith("anthropic") else None
    event = _event(method, path, "", {"content-type": "application/json"}, body)
    _apply_claims(event, shape)
    response, calls = world.send_event(event)
    assert (response.status, error_code(response)) == (401, "unauthorized"), response.body[:300]
    assert not calls, f"reached AWS without valid claims: {calls}"


@examples(400)
@given(
    payload=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda key, codec: json.dumps({"admin_key": key}).encode(codec, errors="replace"),
            key_like.filter(lambda k: len(k) < 5_000),
            st.sampled_from(["utf-8", "utf-16", "utf-32", "latin-1", "cp1252"]),
        ),
        st.builds(lambda n: b"[" * n, st.sampled_from([10, 100_000])),
    ),
    valid_base64=st.booleans(),
    content_type=content_types,
)
def test_base64_bodies_of_any_bytes_are_refused_cleanly(world, payload, valid_base64, content_type):
    """API Gateway base64-encodes binary bodies; the bytes inside can be anything."""
    assume(DEMO_ADMIN_KEY.encode() not in payload)
    encoded = base64.b64encode(payload).decode() if valid_base64 else payload.decode("latin-1") + "="
    headers = {"x-pump-tenant": "tenant-b"} | ({} if content_type is None else {"content-type": content_type})
    event = _event("POST", "/integrations/anthropic", "", headers, encoded)
    event["isBase64Encoded"] = True
    response, _ = world.send_event(event)
    assert response.status in (400, 415), response.body[:300]


# ---------------------------------------------------------------- regressions these properties found (fixed)


@pytest.mark.parametrize(
    "method,target,body,code",
    [
        pytest.param(
            "POST",
            "/integrations/anthropic",
            json.dumps({"admin_key": "sk-ant-admin٠١-" + "a" * 93 + "AA"}),
            "invalid_key_format",
            id="non-ASCII version digits passed the key shape check, then broke the header encoding (500)",
        ),
        pytest.param(
            "POST",
            "/integrations/anthropic",
            json.dumps([{"admin_key": DEMO_ADMIN_KEY}]),
            "invalid_request",
            id="a JSON array holding the body connected (Powertools validates its first element)",
        ),
        pytest.param(
            "GET", "/costs?to=0001-01-15", None, "invalid_query", id="a 'to' near year 1 overflowed the range (500)"
        ),
        pytest.param(
            "GET",
            "/costs/export?from=9999-12-01&to=9999-12-31",
            None,
            "invalid_query",
            id="an export reaching 9999-12 overflowed the month walk for a tenant with a connection (500)",
        ),
        pytest.param(
            "GET", "/costs?from=2026-W01-1&to=2026-W02-1", None, "invalid_query", id="ISO week dates were accepted"
        ),
    ],
)
def test_regressions_found_by_the_properties(world, method, target, body, code):
    # As tenant A on purpose (the export case needs a tenant with a connection): none of these may store anything.
    with world.recorder.recording() as calls:
        response = world.api.request(method, target, body=body, tenant=TENANT_A)
    check_response(response, (DEMO_ADMIN_KEY,))
    assert (response.status, error_code(response)) == (400, code), response.body
    assert not writes(calls)


def test_regression_group_by_never_echoes_a_pasted_key(world):
    key = "sk-ant-admin01-" + "Q" * 93 + "AA"
    response = world.send("GET", "/costs", query=f"group_by=date,{key}", secrets=(key,))
    assert (response.status, error_code(response)) == (400, "invalid_query")


# ------------------------------------------------------------------------------------ the local HTTP server


@pytest.fixture(scope="module")
def http_server(world: World) -> Iterator[tuple[str, int]]:
    server = make_http_server(world.api, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[:2]
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _raw_http(address: tuple[str, int], request: bytes) -> tuple[int, str]:
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received or len(received) < _expected_length(received):
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def _expected_length(received: bytes) -> int:
    head, _, _ = received.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    return len(head) + 4 + int(match.group(1)) if match else 0


@pytest.mark.parametrize(
    "request_bytes,status",
    [
        (b"GET /costs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /integrations/anthropic HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}", 400),
        (b"POST /integrations/anthropic HTTP/1.1\r\nHost: x\r\nContent-Length: 7000000\r\n\r\n{", 413),
        (b"GET //[x HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /integrations/anthropic/%ZZ HTTP/1.1\r\nHost: x\r\nX-Pump-Tenant: tenant-b\r\n\r\n", 400),
        (b"PUT /costs HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 404),
    ],
    ids=["negative length", "non-numeric length", "over 6 MB", "unparsable target", "bad escape", "PUT"],
)
def test_local_http_server_answers_malformed_requests_with_a_json_error(world, http_server, request_bytes, status):
    answered, body = _raw_http(http_server, request_bytes)
    world.report.counts["local HTTP server (raw requests)"] += 1
    assert answered == status, body
    check_response(LocalResponse(answered, {"Content-Type": "application/json"}, body))
