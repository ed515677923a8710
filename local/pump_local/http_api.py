"""The local stand-in for API Gateway: HTTP requests become HTTP API (payload v2) events for the same handlers.

Locally the tenant comes from the `X-Pump-Tenant` header (default `local`) and is placed where the JWT
authorizer would put its verified claims. This path exists only in the local runtime.

Every answer is JSON (errors are `{"error": {"code", "message"}}`), whatever the method: a route asked with a method
it does not take answers 405 with `Allow`, `OPTIONS` 204 with `Allow`. Over HTTP (`make_http_server`), `HEAD` is
answered as `GET` without the body, and only requests addressed to an allowed host (loopback names by default) are
served: a web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) gets 421, not the API.

It also serves what S3 would for a presigned URL: an export file, at `GET /costs/exports/{id}/download?token=…`
(the token, signed by the export store, stands in for the signature; no tenant header is needed, as with S3).
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from pump_local.embedded_aws import ACCOUNT_ID, FakeLambdaContext
from pump_local.local_openapi import local_document

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
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
# A method is an HTTP token (RFC 9110); anything else is not a request this server reads.
METHOD_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Names the server answers to unless told more (with the server's port): the DNS-rebinding defence.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")
STATIC_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FAVICON_PATH = "/favicon.ico"
FAVICON_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    b'<rect width="16" height="16" rx="3" fill="#1f2937"/><path d="M4 12V4h5a2.5 2.5 0 0 1 0 5H4" fill="none" '
    b'stroke="#f59e0b" stroke-width="2"/></svg>'
)
FAVICON_HEADERS = {
    "Content-Type": "image/svg+xml",
    "Cache-Control": "public, max-age=86400",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}
# What the stdlib's own refusals (before a request reaches us) become: a code and a sentence, never its HTML page.
STDLIB_ERRORS = {
    400: ("invalid_request", "The request could not be read as HTTP."),
    408: ("request_timeout", "The request did not arrive in time."),
    414: ("uri_too_long", "The request target is too long."),
    431: ("headers_too_large", "The request headers are too large."),
    501: ("method_not_implemented", "This server does not implement that method."),
    505: ("http_version_not_supported", "Only HTTP/1.0 and HTTP/1.1 are served."),
}


@dataclass(frozen=True)
class LocalResponse:
    status: int
    headers: dict[str, str]
    body: str
    raw: bytes | None = field(default=None, repr=False)  # a download's bytes (the in-process API only)

    def json(self) -> Any:
        return json.loads(self.body)


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> LocalResponse:
    return LocalResponse(
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps({"error": {"code": code, "message": message}}),
    )


def allow_header(methods: Iterable[str], *, head: bool = False) -> str:
    """The `Allow` value of a route: its methods and OPTIONS (and HEAD wherever GET is, when served over HTTP)."""
    allowed = set(methods) | {"OPTIONS"}
    if head and "GET" in allowed:
        allowed.add("HEAD")
    return ", ".join(sorted(allowed))


def method_not_allowed(methods: Iterable[str], *, head: bool = False) -> LocalResponse:
    allow = allow_header(methods, head=head)
    return _error(405, "method_not_allowed", f"This route answers only {allow}.", {"Allow": allow})


MethodTable = tuple[tuple[re.Pattern[str], frozenset[str]], ...]


def compile_methods(methods: Mapping[str, Iterable[str]]) -> MethodTable:
    """{"/integrations/anthropic/{id}": {"GET", "DELETE"}, …} → (path pattern, methods) pairs."""
    table = []
    for template, allowed in methods.items():
        pattern = re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(template))
        table.append((re.compile(pattern), frozenset(m.upper() for m in allowed)))
    return tuple(table)


@lru_cache(maxsize=1)
def _default_methods() -> MethodTable:
    """Every route of the API and its methods, from the OpenAPI document (generated from the routers served)."""
    from pump_anthropic.api.openapi import openapi_document

    methods: dict[str, set[str]] = {"/openapi.json": {"GET"}}
    for template, operations in openapi_document()["paths"].items():
        methods.setdefault(template, set()).update(m.upper() for m in operations if m.upper() in HTTP_METHODS)
    return compile_methods(methods) + ((DOWNLOAD_PATH, frozenset({"GET"})),)


class LocalApi:
    """Routes a request to the function API Gateway would call, exactly as the template wires it.

    `methods` ({path template: methods}) says which methods each route takes, for the 405 and OPTIONS answers; by
    default the API's own routes (from the OpenAPI document), and none with custom `routes` unless given.
    """

    def __init__(
        self,
        routes: list[tuple[str, str, Handler]] | None = None,
        methods: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._routes = routes or _default_routes()
        # Routes of another function under a prefix (POST /costs/exports is the connect function's), and downloads.
        self._method_routes = {} if routes else _default_method_routes()
        self.serves_downloads = not routes
        self._methods: MethodTable | None = compile_methods(methods) if methods is not None else None
        self._default_methods = methods is None and not routes

    def allowed_methods(self, path: str) -> frozenset[str] | None:
        """The methods the route at `path` takes; None for a path that is no route (it answers 404)."""
        table = _default_methods() if self._default_methods else self._methods
        matched = [methods for pattern, methods in table or () if pattern.fullmatch(path)]
        return frozenset().union(*matched) if matched else None

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
        method = method.upper()
        allowed = self.allowed_methods(parts.path)
        if allowed is not None and method not in allowed:
            if method == "OPTIONS":
                return LocalResponse(204, {"Allow": allow_header(allowed)}, "")
            return method_not_allowed(allowed)
        if self.is_download(method, parts.path):
            download = export_download(parts.path, parts.query)
            if isinstance(download, LocalResponse):
                return download
            status, download_headers, chunks = download
            raw = b"".join(chunks)
            return LocalResponse(status, download_headers, raw.decode("utf-8", errors="replace"), raw)
        handler = self._method_routes.get((method, parts.path)) or self._handler_for(parts.path)
        if handler is None:
            return _error(404, "not_found", "No such route.")
        event = _event(method, parts.path, parts.query, headers, body)
        # One invocation at a time per function, as one Lambda container runs them: a handler's resolver keeps the
        # current event on its module-level app, so two threads in it at once would answer with each other's event.
        with _invocation_lock(handler):
            result = handler(event, FakeLambdaContext(handler.__module__))
        body_text = result.get("body") or ""
        if result.get("isBase64Encoded"):
            body_text = base64.b64decode(body_text).decode()
        if parts.path == "/openapi.json" and result.get("statusCode") == 200:
            body_text = local_document(body_text)  # the local server's own security: the tenant header
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
        if target.startswith("//"):
            # An origin-form target whose path starts with two slashes, not a network-path reference: the whole of
            # it is the path (urlsplit would read "//integrations/costs" as host "integrations", path "/costs").
            return urlsplit("http://local" + target)._replace(scheme="", netloc="")
        return urlsplit(target)
    except ValueError:
        return None


_INVOCATION_LOCKS: dict[Handler, threading.Lock] = {}
_INVOCATION_LOCKS_GUARD = threading.Lock()


def _invocation_lock(handler: Handler) -> threading.Lock:
    with _INVOCATION_LOCKS_GUARD:
        return _INVOCATION_LOCKS.setdefault(handler, threading.Lock())


def _default_routes() -> list[tuple[str, str, Handler]]:
    from functions.connect import app as connect_app
    from functions.costs import app as costs_app
    from functions.guard import app as guard_app
    from functions.reconcile import app as reconcile_app

    return [
        ("/integrations/", "/integrations/anthropic", connect_app.lambda_handler),
        ("", "/costs/reconciliation", reconcile_app.lambda_handler),  # before /costs/: its own function
        ("/costs/", "/costs", costs_app.lambda_handler),
        ("/budgets/", "/budgets", guard_app.lambda_handler),
        ("", "/alerts", guard_app.lambda_handler),
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


def authority(value: str, default_port: int, *, bare_ipv6: bool = False) -> str | None:
    """`name[:port]` normalized to `name:port` (lowercase; IPv6 in brackets); None when it is no authority.

    `bare_ipv6` accepts `::1` for `[::1]` (a command-line value; a Host header must bracket it).
    """
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        name = f"[{name}]" if bracket else ""
    elif bare_ipv6 and value.count(":") > 1:
        name, rest = f"[{value}]", ""
    else:
        name, colon, port_text = value.partition(":")
        rest = colon + port_text
    if not name or name == "[]" or re.search(r"[\s/@?#\\]", name):
        return None
    if not rest:
        return f"{name}:{default_port}"
    port = re.fullmatch(r":([0-9]{1,5})", rest)
    return f"{name}:{int(port.group(1))}" if port else None


def allowed_authorities(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The `Host` values served: the loopback names and the address the server is bound to (unless a wildcard),
    with its port, and each `extra` name (`name` means with the server's port; `name:port` exactly)."""
    names = list(LOOPBACK_HOSTS)
    if host not in WILDCARD_HOSTS:
        names.append(host)
    allowed = {authority(name, port, bare_ipv6=True) for name in [*names, *extra]}
    return frozenset(a for a in allowed if a)


def host_refusal(values: list[str], allowed: frozenset[str]) -> LocalResponse | None:
    """None when the request names exactly one allowed host; otherwise the JSON refusal (400 or 421)."""
    if len(values) != 1:
        return _error(400, "invalid_request", "Send exactly one Host header.")
    if authority(values[0], 80) in allowed:
        return None
    return _error(
        421,
        "host_not_allowed",
        "This local server answers only requests addressed to localhost, 127.0.0.1 or [::1] on its port (a defence "
        "against DNS rebinding); to reach it by another name, start it with --allowed-host NAME.",
    )


def _local_asset(path: str, static: Callable[[str], tuple[str, bytes] | None] | None) -> LocalResponse | None:
    """The favicon or a dashboard file at `path` (as a GET would get it), or None when the path is not one."""
    if path == FAVICON_PATH:
        return LocalResponse(200, dict(FAVICON_HEADERS), "", FAVICON_SVG)
    asset = static(path) if static is not None else None
    if asset is None:
        return None
    headers = {"Content-Type": asset[0], "Content-Security-Policy": DASHBOARD_POLICY}
    return LocalResponse(200, headers, "", asset[1])


def _served_over_http(response: LocalResponse) -> LocalResponse:
    """The API's answer as this server gives it: HEAD is served wherever GET is, so `Allow` says so."""
    allow = response.headers.get("Allow")
    if allow is None or "GET" not in allow.split(", "):
        return response
    return LocalResponse(
        response.status, {**response.headers, "Allow": allow_header(allow.split(", "), head=True)}, response.body
    )


class LocalHandler(BaseHTTPRequestHandler):
    """One connection of the local server; `make_http_server` binds `api` and `static` in a subclass."""

    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_SECONDS
    api: LocalApi
    static: Callable[[str], tuple[str, bytes] | None] | None = None

    def __getattr__(self, name: str) -> Any:
        # Every method reaches _handle (which answers in JSON), not the stdlib's 501 HTML page.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        refusal = self._refusal()
        if refusal is not None:  # the body's end is unknown or unwanted: answer, then close the connection
            self.close_connection = True
            self._send(refusal)
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        method = self.command.upper()
        head = method == "HEAD"
        parts = _split_target(self.path)
        if parts is not None and self._answer_asset(method, parts.path):
            return
        if parts is not None and not head and self.api.is_download(method, parts.path):
            _stream_download(self, parts, self._send)
            return
        try:
            response = self.api.request(
                "GET" if head else method, self.path, body=body, headers=dict(self.headers.items())
            )
        except Exception:  # the shim itself must never hand a stack trace to the browser
            response = _error(500, "internal_error", "Something went wrong on our side; please try again.")
        self._send(_served_over_http(response), body=not head)

    def _refusal(self) -> LocalResponse | None:
        refusal = refusal_of(self.path, self.headers)
        if refusal is None and not METHOD_TOKEN.fullmatch(self.command):
            refusal = _error(400, "invalid_request", "The request method is not an HTTP method name.")
        if refusal is None:
            refusal = host_refusal(self.headers.get_all("host") or [], self.server.allowed_authorities)
        return refusal

    def _answer_asset(self, method: str, path: str) -> bool:
        """Answers a request for the favicon or a dashboard file; False when `path` is neither."""
        asset = _local_asset(path, self.static)
        if asset is None:
            return False
        if method in ("GET", "HEAD"):
            self._send(asset, body=method == "GET")
        elif method == "OPTIONS":
            self._send(LocalResponse(204, {"Allow": allow_header(STATIC_METHODS)}, ""))
        else:
            self._send(method_not_allowed(STATIC_METHODS, head=True))
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib's refusals (a malformed request line, an unknown HTTP version, …) as our JSON error; its
        # message can quote the request line, so it is not repeated.
        error_code, sentence = STDLIB_ERRORS.get(code, ("invalid_request", "The request could not be served."))
        self.close_connection = True
        self._send(_error(code, error_code, sentence), body=getattr(self, "command", None) != "HEAD")

    def _send(self, response: LocalResponse, raw: bytes | None = None, *, body: bool = True) -> None:
        raw = raw if raw is not None else response.raw
        payload = raw if raw is not None else response.body.encode()
        bodiless = response.status in (204, 304) or response.status < 200
        # The stdlib answers a request line it could not read (or an HTTP/0.9 one) with a bare body; ours has a
        # status line and headers, so a client can tell the error from data.
        if self.request_version == "HTTP/0.9":
            self.request_version = self.protocol_version
        self.send_response(response.status)
        for name, value in {**SECURITY_HEADERS, **response.headers}.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        if not bodiless:  # a HEAD answer still says how long the GET body is
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and not bodiless:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        return


class LocalHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allowed_authorities: frozenset[str] = frozenset()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that gives up on a poll mid-response is normal; anything else is still reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_http_server(
    api: LocalApi,
    host: str,
    port: int,
    static: Callable[[str], tuple[str, bytes] | None] | None = None,
    allowed_hosts: Iterable[str] = (),
) -> ThreadingHTTPServer:
    """A threaded HTTP server in front of LocalApi (and, when given, static files for GET requests).

    It serves only requests whose `Host` is a loopback name or the bound address with its port, or one of
    `allowed_hosts` (`name` or `name:port`); others get 421.
    """
    bound = {"api": api, "static": staticmethod(static) if static else None, "timeout": SOCKET_TIMEOUT_SECONDS}
    handler = type("Handler", (LocalHandler,), bound)
    server = LocalHttpServer((host, port), handler)
    server.allowed_authorities = allowed_authorities(host, server.server_address[1], allowed_hosts)
    return server
