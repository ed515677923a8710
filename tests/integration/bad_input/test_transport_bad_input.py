"""What every route shares: /openapi.json whatever comes with the request, odd methods and unknown routes, raw
Lambda events with missing or malformed claims and base64 bodies of any bytes, and malformed requests on the wire to
the local HTTP server."""

from __future__ import annotations

import base64
import json
import re
import socket
import string
import threading
from collections.abc import Iterator

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from anthropic_simulator import DEMO_ADMIN_KEY
from pump_local.http_api import LocalResponse, _event, make_http_server
from tests.support.bad_input import ROUTES, check_error, check_response, error_code
from tests.support.bad_input_strategies import (
    CONNECTION_ROUTES,
    content_types,
    headers_for,
    invalid_tenants,
    junk_queries,
    key_like,
    other_tenants,
    text,
    well_formed_ids,
)
from tests.support.bad_input_world import BAD_INPUT_MARKS, World, examples

pytestmark = BAD_INPUT_MARKS


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
    # The server answers only the Host names it serves (a DNS-rebinding guard): name it as a browser would.
    request = request.replace(b"\r\nHost: x\r\n", f"\r\nHost: {address[0]}:{address[1]}\r\n".encode())
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
        (b"PUT /costs HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    ],
    ids=["negative length", "non-numeric length", "over 6 MB", "unparsable target", "bad escape", "PUT"],
)
def test_local_http_server_answers_malformed_requests_with_a_json_error(world, http_server, request_bytes, status):
    answered, body = _raw_http(http_server, request_bytes)
    world.report.counts["local HTTP server (raw requests)"] += 1
    assert answered == status, body
    check_response(LocalResponse(answered, {"Content-Type": "application/json"}, body))
