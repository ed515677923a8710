"""The simulator's HTTP face: a threaded stdlib server speaking the Admin API's headers, errors and faults."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from anthropic_simulator import reports
from anthropic_simulator.analytics_data import AnalyticsData
from anthropic_simulator.analytics_params import RateLimiter, ReportError, check_headers, check_organization
from anthropic_simulator.analytics_reports import AnalyticsReports
from anthropic_simulator.analytics_settings import ANALYTICS_BETA, AnalyticsSettings
from anthropic_simulator.faults import (
    BAD_GATEWAY_HTML,
    ERROR_BODIES,
    ERROR_FAULTS,
    FAULT_KINDS,
    INVALID_JSON_BODY,
    Fault,
    FaultPlan,
)
from anthropic_simulator.org import ID_ALPHABET, OrgSpec, SimulatedOrg
from anthropic_simulator.scenarios import SpendScenario, apply_scenario, banner_lines
from anthropic_simulator.spend_limits import Refused, SpendLimitsApi, SpendLimitSettings, is_spend_limits_path

logger = logging.getLogger(__name__)

# The simulator's demo Admin key: well-formed (sk-ant-admin01- + 93 chars + AA) but not a real credential.
DEMO_ADMIN_KEY = (
    "sk-ant-admin01-pumpsimulatorDEMOkey_not-a-real-key_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234AA"
)
DEFAULT_SLOW_SECONDS = 5.0
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ORG = "/v1/organizations"
_WORKSPACE_ITEM = re.compile(rf"^{_ORG}/workspaces/([A-Za-z0-9_]+)$")
_API_KEY_ITEM = re.compile(rf"^{_ORG}/api_keys/([A-Za-z0-9_]+)$")
ANALYTICS_PATHS = {f"{_ORG}/analytics/usage": "usage", f"{_ORG}/analytics/cost": "cost"}
_BEARER = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)


class _Reply:
    # A body is JSON-able, a str sent as HTML (the CDN's 502 page) or raw bytes labelled as JSON.
    def __init__(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/html; charset=utf-8"
        return json.dumps(self.body, separators=(",", ":")).encode(), "application/json"


def _error(
    status: int, error_type: str, message: str, request_id: str, details: dict | None = None, **headers: str
) -> _Reply:
    error: dict = {"type": error_type, "message": message}
    if details is not None:
        error["details"] = details
    return _Reply(status, {"type": "error", "error": error, "request_id": request_id}, headers)


def _request_id() -> str:
    return "req_011C" + "".join(secrets.choice(ID_ALPHABET) for _ in range(20))


class Simulator:
    """A local, faithful Anthropic Admin API (usage, cost, org, workspaces, API keys) over a synthetic org.

    `now` is the simulator's clock (a callable returning an aware UTC datetime); it decides "today".
    `analytics` holds the knobs of the Usage and Cost Analytics endpoints (`sim.analytics` can be swapped later);
    `spend_limits` those of the Spend Limits API (`sim.spend_limits`, likewise). `scenario` adds spend scenarios
    (a runaway key, a new or an archived key spending, spend limits set or refused), fixed at construction on the
    clock and `analytics.refresh_lag`; `sim.org.scenario` holds the ids it chose and the dollars it added.
    """

    def __init__(
        self,
        spec: OrgSpec | None = None,
        *,
        admin_key: str = DEMO_ADMIN_KEY,
        latency_s: float = 0.0,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        restate_days: int = 0,
        now: Callable[[], datetime] | None = None,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        analytics: AnalyticsSettings | None = None,
        spend_limits: SpendLimitSettings | None = None,
        scenario: SpendScenario | None = None,
    ) -> None:
        self.org = SimulatedOrg(spec, now=now)
        self.analytics = analytics or AnalyticsSettings()
        self.scenario = scenario or SpendScenario()
        apply_scenario(self.org, self.scenario, report_lag=self.analytics.refresh_lag)
        self.analytics_data = AnalyticsData(self.org)
        self._analytics_reports = AnalyticsReports(self.analytics_data)
        self._rate_limiter = RateLimiter()
        self.spend_limits = self.scenario.spend_limit_settings(spend_limits or SpendLimitSettings())
        self._spend_limits_api = SpendLimitsApi(self.org)
        self._admin_key = admin_key
        self.latency_s = latency_s
        self.slow_seconds = slow_seconds
        self.restate_days = restate_days
        self._faults = FaultPlan(rate=fault_rate, seed=fault_seed)
        self._counts: dict[str, int] = {}
        self._grouped_counts: dict[tuple[str, tuple[str, ...]], int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    def __repr__(self) -> str:
        return f"Simulator(url={self.url!r}, seed={self.org.spec.seed})"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL (port 0 picks a free port)."""
        if self._server is not None:
            return self.url
        server = _Server((host, port), _Handler)
        server.simulator = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.name = f"anthropic-simulator-{server.server_address[1]}"
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str | None:
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- knobs ------------------------------------------------------------------------------------

    def inject(self, kind: str, times: int = 1, retry_after: int = 0, path: str | None = None) -> None:
        """Answer the next `times` requests (any endpoint, or those under `path`) with fault `kind`."""
        self._faults.inject(kind, times, retry_after, path)

    @property
    def fault_rate(self) -> float:
        return self._faults.rate

    @fault_rate.setter
    def fault_rate(self, rate: float) -> None:
        self._faults.rate = rate

    @property
    def fault_kinds(self) -> tuple[str, ...]:
        """Kinds drawn for random faults (default: all of `FAULT_KINDS`)."""
        return self._faults.kinds

    @fault_kinds.setter
    def fault_kinds(self, kinds: tuple[str, ...]) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        self._faults.kinds = tuple(kinds)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests received per path, faulted ones included."""
        with self._lock:
            return dict(self._counts)

    @property
    def grouped_request_counts(self) -> dict[tuple[str, tuple[str, ...]], int]:
        """Requests received per (path, its `group_by[]` values in order): which report was asked for."""
        with self._lock:
            return dict(self._grouped_counts)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
            self._grouped_counts.clear()

    def restate(self, days: int | None = None) -> list[date]:
        """Late data settles: the last `days` (default `restate_days`) days, today included, change."""
        days = self.restate_days if days is None else days
        if days <= 0:
            raise ValueError("restate needs days > 0 (pass days or set restate_days)")
        return self.org.restate(days)

    def restate_runaway(self, usd_per_hour: object) -> list[date]:
        """Anthropic restates the runaway key's burst: each of its hours now costs `usd_per_hour` (None: the burst
        is gone). Both APIs serve the changed days anew; returns them."""
        if self.org.scenario is None:
            raise ValueError("no runaway key to restate: the simulator has no spend scenario")
        days = self.org.scenario.restate_runaway(usd_per_hour)
        self.org.scenario_restated(days)
        return days

    def replace_admin_key(self, admin_key: str) -> None:
        """The organization deletes its Admin key and creates another: the old one now gets 401."""
        self._admin_key = admin_key

    # -- request handling -------------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _handle(self, handler: _Handler) -> None:
        request_id = _request_id()
        path, _, query = handler.path.partition("?")
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1
            grouped = (path, tuple(parse_qs(query).get("group_by[]", ())))
            self._grouped_counts[grouped] = self._grouped_counts.get(grouped, 0) + 1
        fault = self._faults.next(path)
        kind = fault.kind if fault else None
        if kind == "drop":
            handler.close_connection = True
            return
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        if kind == "slow":
            time.sleep(self.slow_seconds)
        if fault is not None and kind in ERROR_FAULTS:
            handler.send_reply(_fault_reply(fault, request_id), request_id)
            return
        reply = self._dispatch(handler, path, query, request_id)
        if kind == "truncated":
            handler.send_truncated(reply, request_id)
        elif kind == "invalid_json":
            handler.send_reply(_Reply(200, INVALID_JSON_BODY), request_id)
        else:
            handler.send_reply(reply, request_id)

    def _dispatch(self, handler: _Handler, path: str, query: str, request_id: str) -> _Reply:
        kind, settings = ANALYTICS_PATHS.get(path), self.analytics  # read once: tests may swap the settings
        styles = settings.auth_styles if kind else ("x-api-key", "bearer")
        denied = self._authenticate(handler, request_id, styles)
        if denied is not None:
            return denied
        if handler.command != "GET":
            return _error(405, "invalid_request_error", f"Method {handler.command} not allowed.", request_id)
        params = parse_qs(query, keep_blank_values=True)
        betas = [b.strip() for value in handler.headers.get_all("anthropic-beta", []) for b in value.split(",")]
        if kind:
            denied = self._analytics_gate(handler, betas, request_id, settings)
            if denied is not None:
                return denied
        try:
            if is_spend_limits_path(path):
                body = self._spend_limits_api.answer(path, params, betas, self.spend_limits)
            elif kind:
                body = self._analytics_reports.report(kind, params, settings)
            else:
                body = self._route(path, params, betas)
        except Refused as exc:
            d = exc.denial
            return _error(d.status, d.error_type, d.message, request_id, d.details, **d.headers)
        except reports.BadRequest as exc:
            details = {"error_code": exc.error_code} if isinstance(exc, ReportError) else None
            return _error(400, "invalid_request_error", str(exc), request_id, details)
        except reports.NotFound as exc:
            return _error(404, "not_found_error", str(exc), request_id)
        except Exception:
            logger.exception("simulator failed on %s", path)
            return _error(500, "api_error", "Internal server error", request_id)
        if body is None:
            return _error(404, "not_found_error", "The requested resource could not be found.", request_id)
        return _Reply(200, body, {"anthropic-organization-id": self.org.id})

    def _authenticate(self, handler: _Handler, request_id: str, styles: tuple[str, ...]) -> _Reply | None:
        # The SDK sends `Authorization: Bearer <key>`; the docs and curl examples use `x-api-key`.
        key, style = handler.headers.get("x-api-key"), "x-api-key"
        bearer = _BEARER.match(handler.headers.get("authorization") or "")
        if not key and bearer:
            key, style = bearer.group(1), "bearer"
        if not key:
            return _error(401, "authentication_error", "x-api-key header is required", request_id)
        if style not in styles:
            return _error(401, "authentication_error", f"{style} authentication is not accepted here", request_id)
        if not hmac.compare_digest(key.encode(), self._admin_key.encode()):
            if key.startswith("sk-ant-api"):
                message = "This endpoint requires an Admin API key (sk-ant-admin...); a standard API key was given."
                return _error(403, "permission_error", message, request_id)
            return _error(401, "authentication_error", f"invalid {style}", request_id)
        version = handler.headers.get("anthropic-version")
        if not version:
            return _error(400, "invalid_request_error", "anthropic-version: header is required", request_id)
        if not _API_VERSION.match(version):
            return _error(400, "invalid_request_error", "anthropic-version: invalid version", request_id)
        return None

    def _analytics_gate(
        self, handler: _Handler, betas: list[str], request_id: str, settings: AnalyticsSettings
    ) -> _Reply | None:
        # Header, rate-limit and organization checks of the analytics endpoints, before their parameters.
        version = handler.headers.get("anthropic-version")
        denied = check_headers(settings, version, betas) or self._rate_limiter.check(settings.rate_limit_per_minute)
        denied = denied or check_organization(settings)
        if denied is None:
            return None
        return _error(denied.status, denied.error_type, denied.message, request_id, denied.details, **denied.headers)

    def reset_rate_limit(self) -> None:
        """Forget the analytics and spend-limit calls of the current rate-limit windows."""
        self._rate_limiter.reset()
        self._spend_limits_api.reset_rate_limit()

    def _route(self, path: str, params: reports.Params, betas: list[str]) -> dict | None:
        org = self.org
        routes: dict[str, Callable[[], dict]] = {
            f"{_ORG}/me": lambda: reports.organization(org),
            f"{_ORG}/workspaces": lambda: reports.list_workspaces(org, params),
            f"{_ORG}/api_keys": lambda: reports.list_api_keys(org, params),
            f"{_ORG}/users": lambda: reports.list_users(org, params),
            f"{_ORG}/usage_report/messages": lambda: reports.usage_report(org, params, betas),
            f"{_ORG}/cost_report": lambda: reports.cost_report(org, params),
        }
        if path in routes:
            return routes[path]()
        if match := _WORKSPACE_ITEM.match(path):
            return reports.get_workspace(org, match.group(1))
        if match := _API_KEY_ITEM.match(path):
            return reports.get_api_key(org, match.group(1))
        return None


def _fault_reply(fault: Fault, request_id: str) -> _Reply:
    status = int(fault.kind)
    if status == 502:
        return _Reply(502, BAD_GATEWAY_HTML)
    error_type, message = ERROR_BODIES[status]
    headers = {"retry-after": str(fault.retry_after)} if status == 429 else {}
    return _error(status, error_type, message, request_id, **headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    simulator: Simulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def version_string(self) -> str:
        return "anthropic-admin-simulator"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.simulator._track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.simulator._track(self.connection, open_=False)
        with contextlib.suppress(OSError):
            super().finish()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (bad request line, unsupported method) get the API's JSON shape too.
        request_id = _request_id()
        if code == HTTPStatus.NOT_IMPLEMENTED:  # http.server's answer to an unknown method
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"Method {self.command} not allowed."
        error_type = "api_error" if code >= 500 else "invalid_request_error"
        reply = _error(code, error_type, message or HTTPStatus(code).phrase, request_id)
        self.close_connection = True
        if self.command == "HEAD":
            self._send_head(reply, request_id, "application/json", 0)
        else:
            self.send_reply(reply, request_id)

    def do_GET(self) -> None:
        self.server.simulator._handle(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def send_reply(self, reply: _Reply, request_id: str) -> None:
        body, content_type = reply.encoded()
        self._send_head(reply, request_id, content_type, len(body))
        self._write(body)

    def send_truncated(self, reply: _Reply, request_id: str) -> None:
        body, content_type = reply.encoded()
        self._send_head(reply, request_id, content_type, len(body))
        self._write(body[: len(body) // 2])
        self.close_connection = True

    def _send_head(self, reply: _Reply, request_id: str, content_type: str, length: int) -> None:
        self.send_response(reply.status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(length))
        self.send_header("request-id", request_id)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            # The client gave up (e.g. after a "slow" fault); nothing left to answer.
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("simulator %s %s", self.address_string(), format % args)


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    seed: int = 7,
    admin_key: str = DEMO_ADMIN_KEY,
    latency_s: float = 0.0,
    fault_rate: float = 0.0,
    restate_days: int = 0,
    days: int = 400,
    workspaces: int = 3,
    api_keys: int = 6,
    models: tuple[str, ...] | int | None = None,
    restate_interval_s: float = 600.0,
    scenario: SpendScenario | None = None,
) -> None:
    """Run the simulator in the foreground until interrupted (for `pump-anthropic simulate`).

    With `restate_days`, the last days are restated every `restate_interval_s` seconds, as late data settles.
    """
    spec = OrgSpec(seed=seed, days=days, workspaces=workspaces, api_keys=api_keys, models=models)
    sim = Simulator(
        spec,
        admin_key=admin_key,
        latency_s=latency_s,
        fault_rate=fault_rate,
        restate_days=restate_days,
        scenario=scenario,
    )
    url = sim.start(host, port)
    print(_banner(sim, url, admin_key), flush=True)
    try:
        while True:
            time.sleep(restate_interval_s if restate_days > 0 else 3600)
            if restate_days > 0:
                sim.restate()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


def _banner(sim: Simulator, url: str, admin_key: str) -> str:
    spec = sim.org.spec
    scenario = [f"  Scenario:   {line}" for line in banner_lines(sim.scenario, sim.org, sim.spend_limits)]
    return "\n".join(
        (
            "Anthropic Admin API simulator",
            f"  URL:        {url}",
            f"  Admin key:  {admin_key}",
            f"  Org:        {sim.org.name} ({sim.org.id})",
            f"  Data:       {spec.days} days, {spec.workspaces} workspaces, {spec.api_keys} API keys, seed {spec.seed}",
            f"  Try:        curl -H 'x-api-key: {admin_key}' -H 'anthropic-version: 2023-06-01' {url}{_ORG}/me",
            f"  Analytics:  {url}{_ORG}/analytics/usage and /cost (header anthropic-beta: {ANALYTICS_BETA})",
            *scenario,
            "Press Ctrl+C to stop.",
        )
    )
