"""The local HTTP server (`pump-anthropic serve`) over raw sockets: idle clients time out, NUL bytes and chunked
bodies are refused cleanly, and every answer carries the security headers (the dashboard's forbids framing)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pump_local import http_api
from pump_local.http_api import LocalApi, make_http_server
from pump_local.static_files import static_asset

pytestmark = pytest.mark.network


def echo(event: dict, context: object) -> dict:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}


@pytest.fixture
def server(monkeypatch) -> Iterator[tuple[str, int]]:
    monkeypatch.setattr(http_api, "SOCKET_TIMEOUT_SECONDS", 0.5)
    httpd = make_http_server(LocalApi(routes=[("", "/ping", echo)]), "127.0.0.1", 0, static=static_asset)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address
    httpd.shutdown()
    httpd.server_close()


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


def test_a_nul_byte_in_the_target_is_refused_and_the_connection_closed(server):
    response = exchange(server, b"GET /ping%00x HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers = status_and_headers(response)
    assert status == 400 and b'"code": "invalid_request"' in response and headers["connection"] == "close"


def test_a_chunked_body_is_refused_with_411(server):
    raw = b"POST /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    status, _ = status_and_headers(exchange(server, raw))
    assert status == 411


def test_every_answer_carries_nosniff_and_the_dashboard_forbids_framing(server):
    api_status, api_headers = status_and_headers(
        exchange(server, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    )
    page_status, page_headers = status_and_headers(
        exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    )
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
