"""The local stand-in for API Gateway: HTTP requests become HTTP API (payload v2) events for the same handlers.

Locally the tenant comes from the `X-Pump-Tenant` header (default `local`) and is placed where the JWT
authorizer would put its verified claims. This path exists only in the local runtime.

It also serves what S3 would for a presigned URL: an export file, at `GET /costs/exports/{id}/download?token=…`
(the token, signed by the export store, stands in for the signature; no tenant header is needed, as with S3).
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from pump_local.embedded_aws import ACCOUNT_ID, FakeLambdaContext

TENANT_HEADER = "x-pump-tenant"
DEFAULT_TENANT = "local"
MAX_BODY_BYTES = 6 * 1024 * 1024  # API Gateway's and Lambda's payload limit
# A client that opens a connection and goes quiet must not hold a server thread forever.
SOCKET_TIMEOUT_SECONDS = 30
# Sent with every answer; the dashboard's policy also forbids framing it (a <meta> policy cannot say that).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
DASHBOARD_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' https: http://localhost:* http://127.0.0.1:*; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

Handler = Callable[[dict, Any], dict]
DOWNLOAD_PATH = re.compile(r"/costs/exports/([A-Za-z0-9_-]{1,64})/download")
DOWNLOAD_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LocalResponse:
    status: int
    headers: dict[str, str]
    body: str
    raw: bytes | None = field(default=None, repr=False)  # a download's bytes (the in-process API only)

    def json(self) -> Any:
        return json.loads(self.body)


def _error(status: int, code: str, message: str) -> LocalResponse:
    return LocalResponse(
        status, {"Content-Type": "application/json"}, json.dumps({"error": {"code": code, "message": message}})
    )


class LocalApi:
    """Routes a request to the function API Gateway would call, exactly as the template wires it."""

    def __init__(self, routes: list[tuple[str, str, Handler]] | None = None) -> None:
        self._routes = routes or _default_routes()
        # Routes of another function under a prefix (POST /costs/exports is the connect function's), and downloads.
        self._method_routes = {} if routes else _default_method_routes()
        self.serves_downloads = not routes

    def request(
        self,
        method: str,
        target: str,
        *,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        tenant: str | None = None,
        anonymous: bool = False,
    ) -> LocalResponse:
        """`tenant` overrides the X-Pump-Tenant header; `anonymous` sends no claims at all."""
        parts = _split_target(target)
        if parts is None:
            return _error(404, "not_found", "No such route.")
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        if tenant:
            headers[TENANT_HEADER] = tenant
        headers.setdefault(TENANT_HEADER, DEFAULT_TENANT)
        if anonymous:
            headers.pop(TENANT_HEADER)
        if self.is_download(method, parts.path):
            download = export_download(parts.path, parts.query)
            if isinstance(download, LocalResponse):
                return download
            status, download_headers, chunks = download
            raw = b"".join(chunks)
            return LocalResponse(status, download_headers, raw.decode("utf-8", errors="replace"), raw)
        handler = self._method_routes.get((method.upper(), parts.path)) or self._handler_for(parts.path)
        if handler is None:
            return _error(404, "not_found", "No such route.")
        event = _event(method.upper(), parts.path, parts.query, headers, body)
        result = handler(event, FakeLambdaContext(handler.__module__))
        body_text = result.get("body") or ""
        if result.get("isBase64Encoded"):
            body_text = base64.b64decode(body_text).decode()
        return LocalResponse(int(result.get("statusCode", 200)), dict(result.get("headers") or {}), body_text)

    def is_download(self, method: str, path: str) -> bool:
        return self.serves_downloads and method.upper() == "GET" and DOWNLOAD_PATH.fullmatch(path) is not None

    def _handler_for(self, path: str) -> Handler | None:
        for prefix, exact, handler in self._routes:
            if path == exact or (prefix and path.startswith(prefix)):
                return handler
        return None


def _split_target(target: str) -> SplitResult | None:
    """The request target's path and query; None for one that is not a URL at all (e.g. `//[`)."""
    try:
        return urlsplit(target)
    except ValueError:
        return None


def _default_routes() -> list[tuple[str, str, Handler]]:
    from functions.connect import app as connect_app
    from functions.costs import app as costs_app

    return [
        ("/integrations/", "/integrations/anthropic", connect_app.lambda_handler),
        ("/costs/", "/costs", costs_app.lambda_handler),
        ("", "/openapi.json", costs_app.lambda_handler),
    ]


def _default_method_routes() -> dict[tuple[str, str], Handler]:
    from functions.connect import app as connect_app

    return {("POST", "/costs/exports"): connect_app.lambda_handler}


def export_download(path: str, query: str) -> LocalResponse | tuple[int, dict[str, str], Iterator[bytes]]:
    """An export file as S3 would serve it for a presigned GET: the object, streamed, or S3's refusal (403)."""
    from pump_anthropic import wiring

    match = DOWNLOAD_PATH.fullmatch(path)
    token = (parse_qs(query).get("token") or [""])[0]
    store = wiring.export_store()
    key = store.verify_download_token(match.group(1), token) if match else None
    if key is None:
        return _error(403, "download_expired", "This download link is invalid or has expired; ask for a new one.")
    try:
        stored = store.open_object(key)
    except Exception:  # gone (the lifecycle rule) or never written
        return _error(404, "not_found", "This export file no longer exists.")
    headers = {
        "Content-Type": stored.get("ContentType") or "application/octet-stream",
        "Content-Length": str(stored["ContentLength"]),
        "Content-Disposition": stored.get("ContentDisposition") or "attachment",
        "Cache-Control": "private, no-store",
    }
    body = stored["Body"]
    return 200, headers, iter(lambda: body.read(DOWNLOAD_CHUNK_BYTES), b"")


def _event(method: str, path: str, query: str, headers: dict[str, str], body: str | bytes | None) -> dict:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    tenant = headers.get(TENANT_HEADER)
    parsed = parse_qs(query, keep_blank_values=True)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": {k: ",".join(v) for k, v in parsed.items()} or None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
            "authorizer": {"jwt": {"claims": {"tenant_id": tenant} if tenant else {}, "scopes": []}},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def refusal_of(path: str, headers: Any) -> LocalResponse | None:
    """A request this server will not pass on, answered cleanly (the caller then closes the connection)."""
    if "\x00" in path or "%00" in path or any("\x00" in v for v in headers.values()):
        return _error(400, "invalid_request", "The request contains a NUL byte.")
    if headers.get("transfer-encoding"):
        return _error(411, "length_required", "Send the body with a Content-Length, not chunked.")
    try:
        length = int(headers.get("content-length") or 0)
    except ValueError:
        length = -1
    if length < 0:
        return _error(400, "invalid_request", "The Content-Length header is not a number of bytes.")
    if length > MAX_BODY_BYTES:
        return _error(413, "payload_too_large", "The request body is larger than 6 MB.")
    return None


def _stream_download(
    handler: BaseHTTPRequestHandler, parts: SplitResult, send: Callable[[LocalResponse], None]
) -> None:
    try:
        download = export_download(parts.path, parts.query)
    except Exception:
        download = _error(500, "internal_error", "Something went wrong on our side; please try again.")
    if isinstance(download, LocalResponse):
        send(download)
        return
    status, headers, chunks = download
    handler.send_response(status)
    for name, value in {**SECURITY_HEADERS, **headers}.items():
        handler.send_header(name, value)
    handler.end_headers()
    for chunk in chunks:  # the file is never held whole
        handler.wfile.write(chunk)


def make_http_server(
    api: LocalApi, host: str, port: int, static: Callable[[str], tuple[str, bytes] | None] | None = None
) -> ThreadingHTTPServer:
    """A threaded HTTP server in front of LocalApi (and, when given, static files for GET requests)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        timeout = SOCKET_TIMEOUT_SECONDS

        def _handle(self) -> None:
            refusal = refusal_of(self.path, self.headers)
            if refusal is not None:  # the body's end is unknown or unwanted: answer, then close the connection
                self.close_connection = True
                self._send(refusal)
                return
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            parts = _split_target(self.path)
            if parts is not None and api.is_download(self.command, parts.path):
                _stream_download(self, parts, self._send)
                return
            if self.command == "GET" and static is not None and parts is not None:
                asset = static(parts.path)
                if asset is not None:
                    headers = {"Content-Type": asset[0], "Content-Security-Policy": DASHBOARD_POLICY}
                    self._send(LocalResponse(200, headers, ""), raw=asset[1])
                    return
            try:
                response = api.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
            except Exception:  # the shim itself must never hand a stack trace to the browser
                response = _error(500, "internal_error", "Something went wrong on our side; please try again.")
            self._send(response)

        def _send(self, response: LocalResponse, raw: bytes | None = None) -> None:
            payload = raw if raw is not None else response.body.encode()
            self.send_response(response.status)
            for name, value in {**SECURITY_HEADERS, **response.headers}.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
            return

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            # A browser that gives up on a poll mid-response is normal; anything else is still reported.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    server = Server((host, port), Handler)
    server.daemon_threads = True
    return server
