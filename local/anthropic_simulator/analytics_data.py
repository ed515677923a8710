"""The analytics API's view of a `SimulatedOrg`: each legacy usage row split into attributed sub-rows.

The Usage and Cost Analytics API reports the same traffic as the legacy reports, with more dimensions: actor,
product, speed, the priority and flex tiers, Managed Agents sessions. Each legacy row of a day is split across
them deterministically (its own RNG streams, so legacy output is untouched), into integer parts that sum to it
exactly; code-execution seconds are split between code execution and Managed Agents session runtime. Priced with
the legacy unit prices, a day's non-priority cost per workspace therefore equals the legacy cost report's, and
priority-tier usage, which the legacy cost report leaves out, is priced on top.
"""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import NamedTuple

from anthropic_simulator.analytics_settings import (
    CODE_EXECUTION_CENTS_PER_SECOND,
    PRIORITY_TIERS,
    SESSION_CENTS_PER_SECOND,
    TOKEN_TYPES,
    AnalyticsSettings,
    token_prices,
    web_search_prices,
)
from anthropic_simulator.org import ID_ALPHABET, MINUTES_PER_DAY, SimulatedOrg, UsageRow
from anthropic_simulator.scenarios import window_part

# Metric vector of an analytics row: the legacy row's six metrics, then requests (execution spans for code
# execution), code-execution seconds and Managed Agents session seconds.
METRICS = (
    "uncached_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
    "requests",
    "code_execution_seconds",
    "session_seconds",
)
WEB_SEARCH, REQUESTS, CODE_SECONDS, SESSION_SECONDS = 5, 6, 7, 8
TOKEN_METRIC_INDEX = tuple(METRICS.index(t) for t in TOKEN_TYPES)  # METRICS position of each of TOKEN_TYPES
COST_COMPONENTS = (
    *(("tokens", t) for t in TOKEN_TYPES),
    ("web_search", None),
    ("code_execution", None),
    ("session_usage", None),
)
_PRIORITY_SPLIT = ((5, "priority", "standard"), (2, "priority_on_demand", "standard"), (2, "priority", "fast"))
_BATCH_SPLIT = ((6, "batch"), (3, "flex"), (1, "flex_discount"))
_SECONDS_PER_SPAN = 45


@dataclass(frozen=True, slots=True)
class Actor:
    """An identity usage is attributed to; `body` is its wire object as JSON, None when it renders as null."""

    type: str
    id: str
    body: str | None = field(default=None, compare=False)
    deleted: bool = field(default=False, compare=False)

    def to_api(self) -> dict | None:
        return json.loads(self.body) if self.body is not None else None


@dataclass(frozen=True, slots=True)
class Dims:
    """Dimension values of one analytics row; Console-org dimensions (RBAC, Slack, profiles) are always null."""

    workspace_id: str
    api_key_id: str | None
    actor: Actor | None
    model: str | None  # the legacy (dated) id; `AnalyticsSettings.model_name` gives the wire form
    service_tier: str | None
    context_window: str | None
    inference_geo: str | None
    speed: str | None
    product: str | None = None
    agent_id: str | None = None
    environment_id: str | None = None
    session_id: str | None = None
    deployment_id: str | None = None


class AnalyticsRow(NamedTuple):
    dims: Dims
    metrics: tuple[int, ...]


class Session(NamedTuple):
    session_id: str
    agent_id: str
    environment_id: str
    deployment_id: str | None


@dataclass(frozen=True)
class _Share:
    weight: int
    actor: Actor | None
    product: str


class AnalyticsData:
    """Finest-grain analytics rows per day (cached per restatement generation) plus ground-truth helpers."""

    def __init__(self, org: SimulatedOrg) -> None:
        self.org = org
        seed = org.spec.seed
        rng = random.Random(f"{seed}:analytics")
        self.default_workspace_id = org.default_workspace.id
        self.user_actors = {u.id: _user_actor(u.id, u.email, u.name, False) for u in org.users}
        self.deleted_user = _user_actor(_make_id(rng, "user_"), None, "Deleted User", True)
        # The deleted account's usage stops a week before the simulator's start-up day.
        self.deleted_on = org.first_day + timedelta(days=max(1, org.spec.days - 7))
        self.service_account = _actor("service_account_actor", org.service_account_id, service_account_id=True)
        account, project = _digits(rng, 12), _digits(rng, 12)
        role = f"arn:aws:iam::{account}:role/pump-etl"
        signed = f"arn:aws:sts::{account}:assumed-role/pump-etl/run"
        aws = {"type": "aws", "account_id": account, "signed_principal": signed}
        gcp = {"type": "gcp", "project_number": project}
        self.federated_actors = (
            _federated(role, aws),
            _federated("serviceAccount:reporting@acme-analytics.iam.gserviceaccount.com", gcp),
        )
        # Identities the server cannot render: each reads `actor: null` on its own row.
        self.hidden_actors = (Actor("federated_actor", "hidden-1"), Actor("federated_actor", "hidden-2"))
        self.key_actors = {key.id: _actor("api_actor", key.id) for key in org.api_keys}
        # A spend scenario's keys draw from their own streams, so every other entity stays identical.
        added = org.scenario.key_ids if org.scenario is not None else frozenset()
        base_keys = [key for key in org.api_keys if key.id not in added]
        self._key_shares = {key.id: self._draw_key_shares(i, rng) for i, key in enumerate(base_keys)}
        for i, key in enumerate(org.api_keys):
            if key.id in added:
                own = random.Random(f"{seed}:scenario-shares:{key.id}")
                self._key_shares[key.id] = self._draw_key_shares(i, own)
        self.agents: dict[str, tuple[tuple[str, str], str, str]] = {}
        self.agents_keys: dict[str, str | None] = {}
        for legacy_id in [None, *(ws.id for ws in org.workspaces)]:
            workspace_id = legacy_id or self.default_workspace_id
            agents = (_make_id(rng, "agent_"), _make_id(rng, "agent_"))
            self.agents[workspace_id] = (agents, _make_id(rng, "env_"), _make_id(rng, "depl_"))
            keys = [k.id for k in base_keys if k.scope_type == "workspace" and k.workspace_id == legacy_id]
            self.agents_keys[workspace_id] = keys[0] if keys else None
        self._lock = threading.RLock()
        self._days: dict[tuple[date, tuple[int, int]], list[AnalyticsRow]] = {}
        self._scenario_days: dict[tuple[date, tuple[int, int]], list[tuple[AnalyticsRow, int, int]]] = {}
        self._tokens_per_request: dict[tuple, int] = {}

    # -- entities ---------------------------------------------------------------------------------

    def _draw_key_shares(self, index: int, rng: random.Random) -> tuple[tuple[str, int], ...]:
        users = self.org.users
        principal = users[index % len(users)].id
        return (
            ("api", rng.randint(6, 10)),
            (principal, rng.randint(2, 4)),
            ("deleted", rng.randint(1, 2)),
            ("service_account", rng.randint(1, 2)),
            ("hidden-1", 1),
            ("hidden-2", 1),
        )

    def actors(self) -> list[Actor]:
        """Every identity that can appear (hidden ones render as null)."""
        return [
            *self.user_actors.values(),
            self.deleted_user,
            self.service_account,
            *self.federated_actors,
            *self.hidden_actors,
            *self.key_actors.values(),
        ]

    def sessions(self, workspace_id: str, day: date) -> list[Session]:
        """Managed Agents sessions run in `workspace_id` (tagged) on `day`."""
        agents, environment, deployment = self.agents[workspace_id]
        rng = random.Random(f"{self.org.spec.seed}:sessions:{workspace_id}:{day.isoformat()}")
        count = rng.randint(1, 3)
        return [
            Session(_make_id(rng, "sesn_"), agents[i % 2], environment, deployment if i % 2 == 0 else None)
            for i in range(count)
        ]

    # -- rows -------------------------------------------------------------------------------------

    def rows(self, day: date) -> list[AnalyticsRow]:
        """All of `day`'s finest-grain analytics rows, ignoring the clock and the refresh watermark."""
        key = (day, self.org.version(day))
        with self._lock:
            cached = self._days.get(key)
        if cached is None:
            cached = self._attribute_day(day)
            extra = self._scenario_rows(day)
            if extra:
                cached = cached + [row for row, _, _ in extra]
            with self._lock:
                self._days[key] = cached
        return cached

    def rows_between(self, day: date, start_minute: int, end_minute: int) -> list[AnalyticsRow]:
        """`day`'s rows within [start_minute, end_minute), sliced with the legacy minute curve.

        A spend scenario's rows (last in `rows(day)`) are spread evenly over their own minutes instead.
        """
        if end_minute <= start_minute:
            return []
        rows = self.rows(day)
        if start_minute == 0 and end_minute >= MINUTES_PER_DAY:
            return rows
        extra = self._scenario_rows(day)
        if extra:
            rows = rows[: len(rows) - len(extra)]
        curve = self.org.minute_curve(day)
        low, high, total = curve[start_minute], curve[min(end_minute, MINUTES_PER_DAY)], curve[-1]
        sliced = []
        for dims, metrics in rows:
            part = tuple(v * high // total - v * low // total for v in metrics)
            if any(part):
                sliced.append(AnalyticsRow(dims, part))
        for (dims, metrics), first, last in extra:
            part = window_part(metrics, first, last, start_minute, end_minute)
            if any(part):
                sliced.append(AnalyticsRow(dims, part))
        return sliced

    def _scenario_rows(self, day: date) -> list[tuple[AnalyticsRow, int, int]]:
        # A spend scenario's usage of `day`, attributed like any other, each row with its piece's minutes.
        traffic = self.org.scenario
        if traffic is None:
            return []
        with self._lock:
            cached = self._scenario_days.get((day, self.org.version(day)))
        if cached is None:
            cached = [
                (row, piece.start_minute, piece.end_minute)
                for piece in traffic.pieces_on(day)
                for row in self._attribute_usage(day, piece.row)
            ]
            with self._lock:
                self._scenario_days[(day, self.org.version(day))] = cached
        return cached

    def _attribute_day(self, day: date) -> list[AnalyticsRow]:
        usage = self.org.full_day_usage(day)
        active_keys = {row.api_key_id for row in usage if row.api_key_id}
        out: list[AnalyticsRow] = []
        for row in usage:
            out.extend(self._attribute_usage(day, row))
        for legacy_id, seconds in sorted(
            self.org.full_day_code_execution_seconds(day).items(), key=lambda item: item[0] or ""
        ):
            out.extend(self._attribute_code_execution(day, legacy_id, seconds, active_keys))
        return out

    def _attribute_usage(self, day: date, row: UsageRow) -> Iterable[AnalyticsRow]:
        workspace_id = row.workspace_id or self.default_workspace_id
        tokens = sum(row.metrics()[:5])
        requests = tokens // self._request_size(row) + 1 if tokens else row.web_search_requests
        metrics = (*row.metrics(), requests, 0, 0)
        shares = self._shares(row, day)
        geo = None if row.inference_geo == "not_available" else row.inference_geo
        for index, (share, part) in enumerate(zip(shares, split(metrics, [s.weight for s in shares]), strict=True)):
            variants = self._variants(row, share, workspace_id, day, primary=index == 0)
            for (_, tier, speed, product, session), sub in zip(
                variants, split(part, [v[0] for v in variants]), strict=True
            ):
                if not any(sub):
                    continue
                dims = Dims(workspace_id, row.api_key_id, share.actor, row.model, tier, row.context_window, geo, speed)
                yield AnalyticsRow(_in_session(dims, product, session), sub)

    def _shares(self, row: UsageRow, day: date) -> list[_Share]:
        if row.api_key_id is not None:
            shares = []
            for who, weight in self._key_shares[row.api_key_id]:
                actor = {
                    "api": self.key_actors[row.api_key_id],
                    "deleted": self.deleted_user,
                    "service_account": self.service_account,
                    "hidden-1": self.hidden_actors[0],
                    "hidden-2": self.hidden_actors[1],
                }.get(who) or self.user_actors[who]
                if actor is self.deleted_user and day >= self.deleted_on:
                    continue
                product = "claude_code" if actor.type == "user_actor" else "messages_api"
                shares.append(_Share(weight, actor, product))
            return shares
        if row.account_id is not None:
            actor = self.user_actors.get(row.account_id) or _user_actor(row.account_id, None, None, False)
            return [_Share(1, actor, "claude_console")]
        if row.service_account_id is not None:
            aws, gcp = self.federated_actors
            return [
                _Share(6, self.service_account, "messages_api"),
                _Share(2, aws, "messages_api"),
                _Share(1, gcp, "messages_api"),
            ]
        return [_Share(1, None, "messages_api")]

    def _variants(
        self, row: UsageRow, share: _Share, workspace_id: str, day: date, *, primary: bool
    ) -> list[tuple[int, str, str, str, Session | None]]:
        # (weight, service tier, speed, product, session) parts of one share of a legacy row.
        tier, product = row.service_tier, share.product
        if tier == "batch":
            if not primary:
                return [(1, "batch", "standard", "message_batches_api", None)]
            # flex is synchronous Messages API traffic; only the batch part went through the Batches API.
            return [
                (w, t, "standard", product if t != "batch" else "message_batches_api", None) for w, t in _BATCH_SPLIT
            ]
        if tier == "priority" and primary:
            return [(w, t, s, product, None) for w, t, s in _PRIORITY_SPLIT]
        if tier == "standard" and primary and row.api_key_id == self.agents_keys.get(workspace_id):
            sessions = self.sessions(workspace_id, day)
            return [
                (3, tier, "standard", product, None),
                *((2, tier, "standard", "managed_agents_api", s) for s in sessions),
            ]
        return [(1, tier, "standard", product, None)]

    def _attribute_code_execution(
        self, day: date, legacy_id: str | None, seconds: int, active_keys: set[str]
    ) -> Iterable[AnalyticsRow]:
        workspace_id = legacy_id or self.default_workspace_id
        sessions = self.sessions(workspace_id, day)
        parts = split((seconds,), [3] + [1] * len(sessions))
        code = parts[0][0]
        if code:
            dims = Dims(workspace_id, None, None, None, None, None, None, None)
            yield AnalyticsRow(dims, (0, 0, 0, 0, 0, 0, code // _SECONDS_PER_SPAN + 1, code, 0))
        key = self.agents_keys.get(workspace_id)
        key = key if key in active_keys else None
        actor = self.key_actors[key] if key else None
        for session, (part,) in zip(sessions, parts[1:], strict=True):
            if part:
                dims = Dims(workspace_id, key, actor, None, None, None, None, None)
                yield AnalyticsRow(_in_session(dims, "managed_agents_api", session), (0, 0, 0, 0, 0, 0, 0, 0, part))

    def _request_size(self, row: UsageRow) -> int:
        source = (row.api_key_id, row.workspace_id, row.account_id, row.service_account_id)
        with self._lock:
            size = self._tokens_per_request.get(source)
            if size is None:
                size = random.Random(f"{self.org.spec.seed}:request-size:{source}").randint(2000, 30000)
                self._tokens_per_request[source] = size
        return size

    # -- ground truth -----------------------------------------------------------------------------

    def expected_cost(
        self,
        day: date,
        by: Sequence[str] = ("workspace_id", "api_key_id", "actor", "product"),
        settings: AnalyticsSettings | None = None,
    ) -> dict[tuple, tuple[Decimal, Decimal]]:
        """Exact (amount, list_amount) in cents of the whole `day` per combination of `Dims` fields in `by`."""
        settings = settings or AnalyticsSettings()
        totals: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for row in self.rows(day):
            key = tuple(getattr(row.dims, name) for name in by)
            for amount, listed in row_cost(row, settings).values():
                totals[key][0] += amount
                totals[key][1] += listed
        return {key: (amount, listed) for key, (amount, listed) in totals.items() if amount or listed}

    def priority_cost(self, day: date, settings: AnalyticsSettings | None = None) -> dict[str, Decimal]:
        """Exact cost (cents) per tagged workspace of `day`'s priority-tier usage, which the legacy report omits."""
        settings = settings or AnalyticsSettings()
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for row in self.rows(day):
            if row.dims.service_tier in PRIORITY_TIERS:
                totals[row.dims.workspace_id] += sum((a for a, _ in row_cost(row, settings).values()), Decimal(0))
        return dict(totals)

    def legacy_cost(self, day: date) -> dict[str, Decimal]:
        """The legacy cost report's cents per tagged workspace of `day` (as visible on the org's clock)."""
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for row in self.org.cost_rows(day):
            totals[row.workspace_id or self.default_workspace_id] += row.amount
        return dict(totals)


def row_cost(row: AnalyticsRow, settings: AnalyticsSettings) -> dict[tuple[str, str | None], tuple[Decimal, Decimal]]:
    """Exact (amount, list_amount) cents of one row per cost component (`COST_COMPONENTS`), zero ones left out."""
    dims, metrics = row.dims, row.metrics
    costs: dict[tuple[str, str | None], tuple[Decimal, Decimal]] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        if dims.model is not None:
            units, lists = token_prices(
                settings, dims.model, dims.service_tier, dims.context_window, dims.inference_geo, dims.speed
            )
            for i, token_type in enumerate(TOKEN_TYPES):
                tokens = metrics[TOKEN_METRIC_INDEX[i]]
                if tokens:
                    costs[("tokens", token_type)] = (tokens * units[i], tokens * lists[i])
            if metrics[WEB_SEARCH]:
                unit, listed = web_search_prices(settings, dims.service_tier)
                costs[("web_search", None)] = (metrics[WEB_SEARCH] * unit, metrics[WEB_SEARCH] * listed)
        if metrics[CODE_SECONDS]:
            amount = metrics[CODE_SECONDS] * CODE_EXECUTION_CENTS_PER_SECOND
            costs[("code_execution", None)] = (amount, amount)
        if metrics[SESSION_SECONDS]:
            amount = metrics[SESSION_SECONDS] * SESSION_CENTS_PER_SECOND
            costs[("session_usage", None)] = (amount, amount)
    return costs


def _in_session(dims: Dims, product: str | None, session: Session | None) -> Dims:
    if session is None:
        return replace(dims, product=product)
    return replace(
        dims,
        product=product,
        agent_id=session.agent_id,
        environment_id=session.environment_id,
        session_id=session.session_id,
        deployment_id=session.deployment_id,
    )


def split(metrics: tuple[int, ...], weights: Sequence[int]) -> list[tuple[int, ...]]:
    """Integer parts of `metrics` proportional to `weights` that sum back to `metrics` exactly."""
    if len(weights) == 1:
        return [tuple(metrics)]
    total, running = sum(weights), 0
    previous = [0] * len(metrics)
    parts = []
    for weight in weights:
        running += weight
        current = [v * running // total for v in metrics]
        parts.append(tuple(c - p for c, p in zip(current, previous, strict=True)))
        previous = current
    return parts


def _user_actor(user_id: str, email: str | None, name: str | None, deleted: bool) -> Actor:
    body = {"type": "user_actor", "user_id": user_id, "email_address": email, "name": name, "deleted": deleted}
    return Actor("user_actor", user_id, json.dumps(body), deleted)


def _actor(actor_type: str, actor_id: str, *, service_account_id: bool = False) -> Actor:
    id_field = "service_account_id" if service_account_id else "api_key_id"
    return Actor(actor_type, actor_id, json.dumps({"type": actor_type, id_field: actor_id}))


def _federated(subject: str, provider: dict) -> Actor:
    body = {"type": "federated_actor", "provider": provider, "subject": subject}
    return Actor("federated_actor", f"federated:{subject}", json.dumps(body))


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def _make_id(rng: random.Random, prefix: str) -> str:
    return prefix + "01" + "".join(rng.choice(ID_ALPHABET) for _ in range(22))
