"""The local HTTP server (`pump-anthropic serve`) over raw sockets: idle clients time out, NUL bytes and chunked
bodies are refused cleanly, every answer carries the security headers (the dashboard's forbids framing) and is
JSON whatever the method (405 with Allow, OPTIONS, HEAD), and only requests addressed to an allowed host are served."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pump_local import http_api
from pump_local.cli import non_loopback_warning
from pump_local.http_api import LocalApi, make_http_server
from pump_local.static_files import static_asset

pytestmark = pytest.mark.network


def echo(event: dict, context: object) -> dict:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}


def serving(monkeypatch, **options) -> Iterator[tuple[str, int]]:
    monkeypatch.setattr(http_api, "SOCKET_TIMEOUT_SECONDS", 0.5)
    api = LocalApi(routes=[("", "/ping", echo)], methods={"/ping": ["GET", "POST"]})
    httpd = make_http_server(api, "127.0.0.1", 0, static=static_asset, **options)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server(monkeypatch) -> Iterator[tuple[str, int]]:
    yield from serving(monkeypatch)


def exchange(address, raw: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def status_and_headers(response: bytes) -> tuple[int, dict[str, str]]:
    head = response.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}


def host_of(address) -> bytes:
    return f"127.0.0.1:{address[1]}".encode()


def ask(address, method: str, target: str = "/ping", host: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request (the connection closed after it): status, headers (lowercase names) and the body bytes."""
    raw = b"%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (
        method.encode(),
        target.encode(),
        host if host is not None else host_of(address),
    )
    response = exchange(address, raw)
    status, headers = status_and_headers(response)
    return status, headers, response.split(b"\r\n\r\n", 1)[1]


def json_error(headers: dict[str, str], body: bytes) -> str:
    """The error's code, after checking the body is exactly our JSON error (never an HTML page)."""
    assert headers["content-type"] == "application/json", headers
    document = json.loads(body)
    assert set(document) == {"error"} and set(document["error"]) == {"code", "message"}, document
    assert document["error"]["message"].endswith("."), document
    return document["error"]["code"]


def test_a_nul_byte_in_the_target_is_refused_and_the_connection_closed(server):
    response = exchange(server, b"GET /ping%00x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, headers = status_and_headers(response)
    assert status == 400 and b'"code": "invalid_request"' in response and headers["connection"] == "close"


def test_a_chunked_body_is_refused_with_411(server):
    raw = b"POST /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    status, _ = status_and_headers(exchange(server, raw))
    assert status == 411


def test_every_answer_carries_nosniff_and_the_dashboard_forbids_framing(server):
    api_status, api_headers, _ = ask(server, "GET", "/ping")
    page_status, page_headers, _ = ask(server, "GET", "/")
    assert api_status == page_status == 200
    assert api_headers["x-content-type-options"] == page_headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page_headers["content-security-policy"]
    assert page_headers["x-frame-options"] == "DENY"


def test_an_idle_client_is_disconnected(server):
    started = time.monotonic()
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\n")  # and then nothing
        assert sock.recv(1024) == b""
    assert time.monotonic() - started < 5


# ------------------------------------------------------------------------------ methods: JSON, 405, HEAD, OPTIONS


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND"])
def test_a_method_a_route_does_not_take_is_a_json_405_with_allow(server, method):
    status, headers, body = ask(server, method, "/ping")
    assert status == 405 and json_error(headers, body) == "method_not_allowed"
    assert headers["allow"] == "GET, HEAD, OPTIONS, POST"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "PUT"])
def test_any_method_on_an_unknown_path_is_a_json_404(server, method):
    status, headers, body = ask(server, method, "/nowhere")
    assert status == 404 and json_error(headers, body) == "not_found"


def test_the_dashboard_and_favicon_take_get_head_and_options_only(server):
    for path in ("/", "/favicon.ico"):
        status, headers, body = ask(server, "POST", path)
        assert status == 405 and json_error(headers, body) == "method_not_allowed"
        assert headers["allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize(
    "request_line,status,code",
    [
        (b"GET /ping HTTP/9.0", 505, "http_version_not_supported"),
        (b"GET /ping HTTP/1.1 extra", 400, "invalid_request"),
        (b"G<T /ping HTTP/1.1", 400, "invalid_request"),
    ],
)
def test_a_request_the_stdlib_refuses_is_still_a_json_error(server, request_line, status, code):
    response = exchange(server, request_line + b"\r\nHost: " + host_of(server) + b"\r\n\r\n")
    answered, headers = status_and_headers(response)
    assert answered == status and json_error(headers, response.split(b"\r\n\r\n", 1)[1]) == code
    assert b"<html" not in response.lower() and b"<!doctype" not in response.lower()


def test_head_is_answered_as_get_without_the_body(server):
    get_status, get_headers, get_body = ask(server, "GET", "/ping")
    status, headers, body = ask(server, "HEAD", "/ping")
    assert (status, body) == (get_status, b"") and get_body
    assert headers["content-length"] == get_headers["content-length"] == str(len(get_body))
    page_status, page_headers, page_body = ask(server, "HEAD", "/")
    assert (page_status, page_body) == (200, b"") and int(page_headers["content-length"]) > 0
    missing_status, missing_headers, missing_body = ask(server, "HEAD", "/nowhere")
    assert (missing_status, missing_body) == (404, b"") and missing_headers["content-type"] == "application/json"


def test_options_answers_204_with_allow_and_no_body(server):
    for path, allow in (("/ping", "GET, HEAD, OPTIONS, POST"), ("/", "GET, HEAD, OPTIONS")):
        status, headers, body = ask(server, "OPTIONS", path)
        assert (status, headers["allow"], body) == (204, allow, b"")
        assert "content-length" not in headers


def test_the_favicon_is_a_small_svg(server):
    status, headers, body = ask(server, "GET", "/favicon.ico")
    assert status == 200 and headers["content-type"] == "image/svg+xml"
    assert body.startswith(b"<svg") and len(body) < 1024 and int(headers["content-length"]) == len(body)


def test_the_real_api_routes_say_which_methods_they_take():
    api = LocalApi()
    assert api.allowed_methods("/integrations/anthropic") == {"GET", "POST"}
    assert api.allowed_methods("/integrations/anthropic/conn_0123") == {"GET", "DELETE"}
    assert api.allowed_methods("/integrations/anthropic/conn_0123/backfill") == {"POST"}
    assert api.allowed_methods("/costs/exports/exp_1/download") == {"GET"}
    assert api.allowed_methods("/openapi.json") == {"GET"}
    assert api.allowed_methods("/integrations/anthropic/conn_0123/nothing") is None
    # A 405 is answered before any function (or AWS) is reached
    response = api.request("PUT", "/integrations/anthropic/conn_0123")
    assert response.status == 405 and response.headers["Allow"] == "DELETE, GET, OPTIONS"
    assert response.json()["error"]["code"] == "method_not_allowed"


# ----------------------------------------------------------------------------- the Host allow-list (DNS rebinding)


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST"])
def test_loopback_names_with_the_port_are_served(server, name):
    status, _, _ = ask(server, "GET", "/ping", host=f"{name}:{server[1]}".encode())
    assert status == 200


@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "evil.example", "localhost", "localhost:1", "127.0.0.1.nip.io:{port}", "[::1", ""],
)
def test_other_hosts_get_a_json_421(server, host):
    status, headers, body = ask(server, "GET", "/ping", host=host.format(port=server[1]).encode())
    assert status == 421 and json_error(headers, body) == "host_not_allowed"
    assert headers["connection"] == "close"


def test_a_request_without_exactly_one_host_is_refused(server):
    for hosts in (b"", b"Host: %s\r\n" % host_of(server) * 2):
        response = exchange(server, b"GET /ping HTTP/1.1\r\n" + hosts + b"Connection: close\r\n\r\n")
        status, headers = status_and_headers(response)
        assert status == 400 and json_error(headers, response.split(b"\r\n\r\n", 1)[1]) == "invalid_request"


def test_allowed_hosts_add_names(monkeypatch):
    for address in serving(monkeypatch, allowed_hosts=["pump.lan", "proxy.lan:443"]):
        assert ask(address, "GET", "/ping", host=f"pump.lan:{address[1]}".encode())[0] == 200
        assert ask(address, "GET", "/ping", host=b"proxy.lan:443")[0] == 200
        assert ask(address, "GET", "/ping", host=b"pump.lan:443")[0] == 421


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_serve_on_loopback_prints_no_warning(host):
    assert non_loopback_warning(host, 8080) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.168.1.5", "pump.lan"])
def test_serve_on_another_address_prints_a_warning(host):
    warning = non_loopback_warning(host, 8080)
    assert warning is not None and warning.startswith("WARNING") and "8080" in warning and "--allowed-host" in warning


def test_concurrent_requests_to_one_function_each_get_their_own_answer():
    # A handler that keeps the current event in module state, as Powertools' resolver keeps it on its app: two
    # threads in it at once would answer with each other's event. One invocation at a time per function, as a
    # Lambda container runs them, keeps every answer its own.
    current: dict = {}
    inside = threading.Event()

    def handler(event: dict, context: object) -> dict:
        current["event"] = event
        inside.set()
        time.sleep(0.05)  # hold the state long enough for another thread to arrive (it waits on the lock)
        return {"statusCode": 200, "headers": {}, "body": json.dumps({"query": current["event"]["rawQueryString"]})}

    api = LocalApi(routes=[("", "/x", handler)])
    answers: dict[str, str] = {}

    def ask(n: int) -> None:
        answers[f"n={n}"] = json.loads(api.request("GET", f"/x?n={n}").body)["query"]

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert inside.is_set()
    assert answers == {query: query for query in answers} and len(answers) == 6
