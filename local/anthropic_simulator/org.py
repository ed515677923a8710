"""A synthetic Anthropic organization: workspaces, API keys and a deterministic per-day usage/cost history.

Each day is generated independently from `random.Random(f"{seed}:{day}")` (plus a restatement generation), and
cached, so any window can be served without generating the whole history. Costs are derived from usage through
the price table, so the cost report always equals the usage report priced, exactly.
"""

from __future__ import annotations

import math
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, Inexact, localcontext
from functools import cache
from typing import Any, Protocol

from anthropic_simulator import prices

MINUTES_PER_DAY = 1440
MAX_MODELS = len(prices.MODEL_PRICES)
ID_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_WORKSPACE_NAMES = (
    "Production",
    "Research",
    "Data Science",
    "Support Bot",
    "Internal Tools",
    "Marketing",
    "Growth",
    "Platform",
    "Search",
    "Mobile",
    "Analytics",
    "Sandbox",
)
_KEY_NAMES = (
    "backend",
    "batch-jobs",
    "chat-widget",
    "etl",
    "evals",
    "notebook",
    "agents",
    "ci",
    "summarizer",
)
_COLORS = ("#6C5BB9", "#D97757", "#2F7D6D", "#C2410C", "#1D4ED8", "#B45309", "#7C3AED", "#0F766E")
_PEOPLE = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Edsger Dijkstra",
    "Barbara Liskov",
)
_ROLES = ("admin", "developer", "user", "billing")


@dataclass(frozen=True)
class OrgSpec:
    """Shape of the synthetic org; everything else is derived deterministically from `seed`.

    `models` is None (a default handful), a count (the first N of the price table) or explicit model ids.
    """

    seed: int = 7
    days: int = 400
    workspaces: int = 3
    api_keys: int = 6
    models: tuple[str, ...] | int | None = None
    tiers: tuple[str, ...] = prices.SERVICE_TIERS
    context_windows: tuple[str, ...] = prices.CONTEXT_WINDOWS
    geos: tuple[str, ...] = prices.INFERENCE_GEOS
    users: int = 3
    name: str = "Acme Labs (simulated)"
    org_keys: int = 0  # organization-scoped API keys, each used in two workspaces (the key list can't place them)

    def __post_init__(self) -> None:
        if self.days < 1 or self.workspaces < 1 or self.api_keys < 1 or self.users < 1:
            raise ValueError("days, workspaces, api_keys and users must be at least 1")
        unknown = [m for m in self.model_ids() if m not in prices.MODEL_PRICES]
        if unknown or not 1 <= len(self.model_ids()) <= MAX_MODELS:
            raise ValueError(f"models must be 1..{MAX_MODELS} ids of the price table; unknown: {unknown}")
        for values, allowed, label in (
            (self.tiers, prices.SERVICE_TIERS, "tiers"),
            (self.context_windows, prices.CONTEXT_WINDOWS, "context_windows"),
            (self.geos, prices.INFERENCE_GEOS, "geos"),
        ):
            if not values or not set(values) <= set(allowed):
                raise ValueError(f"{label} must be a non-empty subset of {allowed}")

    def model_ids(self) -> tuple[str, ...]:
        if self.models is None:
            return prices.DEFAULT_MODELS
        if isinstance(self.models, int):
            return tuple(prices.MODEL_PRICES)[: self.models]
        return tuple(self.models)


@dataclass(frozen=True)
class PriceChange:
    """From `day` on, every token price of `model` is `factor` times the price table's (e.g. 1.1: +10%)."""

    model: str
    factor: Decimal
    day: date


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    created_at: datetime
    archived_at: datetime | None
    display_color: str

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "type": "workspace",
            "name": self.name,
            "created_at": format_time(self.created_at),
            "archived_at": format_time(self.archived_at) if self.archived_at else None,
            "display_color": self.display_color,
            "data_residency": {
                "allowed_inference_geos": "unrestricted",
                "default_inference_geo": "global",
                "workspace_geo": "us",
            },
            "tags": {},
        }


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    role: str
    added_at: datetime

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "type": "user",
            "name": self.name,
            "email": self.email,
            "role": self.role,
            "added_at": format_time(self.added_at),
        }


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    workspace_id: str | None
    created_at: datetime
    created_by: str
    status: str
    expires_at: datetime | None
    partial_key_hint: str
    scope_type: str = "workspace"

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "type": "api_key",
            "name": self.name,
            "created_at": format_time(self.created_at),
            "created_by": {"id": self.created_by, "type": "user"},
            "expires_at": format_time(self.expires_at) if self.expires_at else None,
            "partial_key_hint": self.partial_key_hint,
            "status": self.status,
            "workspace_id": self.workspace_id,
            "scope": (
                {"type": "workspace", "workspace_id": self.workspace_id}
                if self.scope_type == "workspace"
                else {"type": self.scope_type}
            ),
            "principal": None,
        }


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One finest-grain usage row of a day (or of a slice of it)."""

    api_key_id: str | None
    workspace_id: str | None
    model: str
    service_tier: str
    context_window: str
    inference_geo: str
    account_id: str | None
    service_account_id: str | None
    speed: str
    uncached_input_tokens: int
    cache_creation_5m_input_tokens: int
    cache_creation_1h_input_tokens: int
    cache_read_input_tokens: int
    output_tokens: int
    web_search_requests: int

    def dims(self) -> tuple:
        return (
            self.api_key_id,
            self.workspace_id,
            self.model,
            self.service_tier,
            self.context_window,
            self.inference_geo,
            self.account_id,
            self.service_account_id,
            self.speed,
        )

    def metrics(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.uncached_input_tokens,
            self.cache_creation_5m_input_tokens,
            self.cache_creation_1h_input_tokens,
            self.cache_read_input_tokens,
            self.output_tokens,
            self.web_search_requests,
        )

    def tokens_by_type(self) -> tuple[tuple[str, int], ...]:
        return (
            ("uncached_input_tokens", self.uncached_input_tokens),
            ("output_tokens", self.output_tokens),
            ("cache_read_input_tokens", self.cache_read_input_tokens),
            ("cache_creation.ephemeral_5m_input_tokens", self.cache_creation_5m_input_tokens),
            ("cache_creation.ephemeral_1h_input_tokens", self.cache_creation_1h_input_tokens),
        )


USAGE_DIMENSIONS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "account_id",
    "service_account_id",
    "speed",
)


def _usage_row(dims: tuple, metrics: Iterable[int]) -> UsageRow:
    return UsageRow(*dims, *metrics)


@dataclass(frozen=True, slots=True)
class CostRow:
    """One finest-grain cost row of a day: a (workspace, description) pair and its amount in cents."""

    workspace_id: str | None
    description: str
    cost_type: str
    model: str | None
    token_type: str | None
    service_tier: str | None
    context_window: str | None
    inference_geo: str | None
    amount: Decimal


@dataclass(frozen=True)
class _Profile:
    models: tuple[str, ...]
    model_weights: tuple[float, ...]
    tiers: tuple[str, ...]
    tier_weights: tuple[float, ...]
    long_context_share: float
    us_share: float
    volume: float
    cache_read_ratio: float
    uses_1h_cache: bool
    web_search: bool
    activity: float
    max_rows: int


@dataclass(frozen=True)
class _Source:
    # Something that produces usage: an API key, the Console (no key) or a federated service account.

    api_key_id: str | None
    workspace_id: str | None
    account_id: str | None
    service_account_id: str | None
    active_from: date
    active_until: date | None
    profile: _Profile

    def active_on(self, day: date) -> bool:
        return self.active_from <= day and (self.active_until is None or day < self.active_until)


class ScenarioUsage(Protocol):
    """What the org serves of a spend scenario's traffic; `scenarios.ScenarioTraffic` is one. (The org depends on
    this shape only, so `scenarios`, which builds on the org, is never imported back.)"""

    keys: list[ApiKey]

    @property
    def key_ids(self) -> frozenset[str]: ...

    def usage_rows(self, day: date, start_minute: int, end_minute: int) -> list[UsageRow]: ...

    def pieces_on(self, day: date) -> list[Any]: ...


@dataclass
class _Day:
    usage: list[UsageRow]
    code_execution_seconds: dict[str | None, int] = field(default_factory=dict)


class SimulatedOrg:
    """Ground truth of the simulator: entities plus per-day finest-grain usage and cost rows."""

    def __init__(self, spec: OrgSpec | None = None, *, now: Callable[[], datetime] | None = None) -> None:
        self.spec = spec or OrgSpec()
        self.now = now or (lambda: datetime.now(UTC))
        self.first_day = self.today() - timedelta(days=self.spec.days)
        self._lock = threading.RLock()
        self._days: dict[tuple[date, int], _Day] = {}
        self._costs: dict[tuple[date, tuple[int, int]], list[CostRow]] = {}
        self._curves: dict[date, list[int]] = {}
        self._generations: dict[date, int] = {}
        self._revisions: dict[date, int] = {}  # a spend scenario's restatements, per day
        self._price_changes: tuple[PriceChange, ...] = ()
        rng = random.Random(f"{self.spec.seed}:entities")
        self.id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.name = self.spec.name
        self.users = self._make_users(rng)
        self.workspaces = self._make_workspaces(rng)
        self.api_keys: list[ApiKey] = []
        self.service_account_id = _make_id(rng, "svac_")
        self._sources = self._make_sources(rng)
        self._workspace_windows = {
            ws.id: (ws.created_at.date(), ws.archived_at.date() if ws.archived_at else None) for ws in self.workspaces
        }
        # The Default workspace: null in the legacy reports, a tagged id in the analytics API and the workspaces
        # list (include_default=true). Its own RNG stream keeps every other entity identical.
        self.default_workspace = self._make_default_workspace()
        self.scenario: Any = None  # a ScenarioUsage: spend scenario traffic (`scenarios.apply_scenario`)

    # -- clock ------------------------------------------------------------------------------------

    def today(self) -> date:
        return self.now().astimezone(UTC).date()

    def _minutes_elapsed(self, day: date) -> int:
        now = self.now().astimezone(UTC)
        if day < now.date():
            return MINUTES_PER_DAY
        if day > now.date():
            return 0
        return now.hour * 60 + now.minute

    # -- entities ---------------------------------------------------------------------------------

    def _day_at(self, offset_days: int, rng: random.Random) -> datetime:
        start = datetime.combine(self.first_day, time(), UTC) + timedelta(days=offset_days)
        return start + timedelta(seconds=rng.randrange(8 * 3600, 20 * 3600), microseconds=rng.randrange(10**6))

    def _make_users(self, rng: random.Random) -> list[User]:
        users = []
        for i in range(self.spec.users):
            name = _PEOPLE[i % len(_PEOPLE)] + (f" {i // len(_PEOPLE) + 1}" if i >= len(_PEOPLE) else "")
            email = name.lower().replace(" ", ".") + "@acme.example"
            role = _ROLES[i % len(_ROLES)]
            users.append(User(_make_id(rng, "user_"), name, email, role, self._day_at(-60 + i, rng)))
        return users

    def _make_workspaces(self, rng: random.Random) -> list[Workspace]:
        count = self.spec.workspaces
        workspaces = []
        for i in range(count):
            name = _WORKSPACE_NAMES[i % len(_WORKSPACE_NAMES)]
            if i >= len(_WORKSPACE_NAMES):
                name = f"{name} {i // len(_WORKSPACE_NAMES) + 1}"
            created = -90 + i if i < 3 else _between(rng, 0, self.spec.days // 2)
            archived = None
            # The last workspace (and every tenth) is archived part-way through, keeping its earlier history.
            if count >= 2 and (i == count - 1 or i % 10 == 9):
                archived = self._day_at(max(created + 1, int(self.spec.days * 0.6)), rng)
            color = _COLORS[i % len(_COLORS)]
            workspaces.append(Workspace(_make_id(rng, "wrkspc_"), name, self._day_at(created, rng), archived, color))
        return workspaces

    def _make_default_workspace(self) -> Workspace:
        rng = random.Random(f"{self.spec.seed}:default-workspace")
        created = self._day_at(-120, rng)
        return Workspace(_make_id(rng, "wrkspc_"), "Default Workspace", created, None, _COLORS[0])

    def _make_sources(self, rng: random.Random) -> list[_Source]:
        slots: list[Workspace | None] = [*self.workspaces, None]
        sources = []
        for i in range(self.spec.api_keys):
            workspace = slots[i % len(slots)]
            key, source = self._make_key(i, workspace, rng)
            self.api_keys.append(key)
            sources.append(source)
        console_from = self.first_day
        sources.append(_Source(None, None, self.users[0].id, None, console_from, None, self._profile(rng, 0.3)))
        federated_ws = self.workspaces[0]
        sources.append(
            _Source(
                None,
                federated_ws.id,
                None,
                self.service_account_id,
                self.first_day + timedelta(days=self.spec.days // 3),
                None,
                self._profile(rng, 0.5),
            )
        )
        for i in range(self.spec.org_keys):
            sources += self._make_org_key(i, rng)
        return sources

    def _make_org_key(self, i: int, rng: random.Random) -> list[_Source]:
        created_at = self._day_at(-60 - i, rng)
        hint = "sk-ant-api03-" + _random_chars(rng, 3) + "..." + _random_chars(rng, 2) + "AA"
        creator = self.users[i % len(self.users)].id
        key = ApiKey(
            _make_id(rng, "apikey_"),
            f"org-wide-{i + 1}",
            None,
            created_at,
            creator,
            "active",
            None,
            hint,
            "organization",
        )
        self.api_keys.append(key)
        workspace = self.workspaces[i % len(self.workspaces)]
        active_from = max(workspace.created_at.date(), self.first_day)
        until = workspace.archived_at.date() if workspace.archived_at else None
        return [
            _Source(key.id, workspace.id, None, None, active_from, until, self._profile(rng, 0.5)),
            _Source(key.id, None, None, None, self.first_day, None, self._profile(rng, 0.5)),
        ]

    def _make_key(self, i: int, workspace: Workspace | None, rng: random.Random) -> tuple[ApiKey, _Source]:
        days = self.spec.days
        created_offset = -30 - i if i % 7 != 5 else _between(rng, days // 4, days // 2 + 1)
        created_at = self._day_at(created_offset, rng)
        if workspace is not None and workspace.created_at > created_at:
            created_at = workspace.created_at + timedelta(hours=1)
        status, until, expires_at = "active", None, None
        if workspace is not None and workspace.archived_at is not None:
            status, until = "archived", workspace.archived_at.date()
        elif i % 5 == 3:
            stopped = _between(rng, days // 3, days * 3 // 4)
            status, until = "inactive", self.first_day + timedelta(days=stopped)
        elif i % 11 == 9:
            expires_at = self._day_at(_between(rng, days // 2, days - 1), rng)
            status, until = "expired", expires_at.date()
        hint = "sk-ant-api03-" + _random_chars(rng, 3) + "..." + _random_chars(rng, 2) + "AA"
        name = f"{_KEY_NAMES[i % len(_KEY_NAMES)]}-{i + 1}"
        creator = self.users[i % len(self.users)].id
        workspace_id = workspace.id if workspace else None
        key = ApiKey(_make_id(rng, "apikey_"), name, workspace_id, created_at, creator, status, expires_at, hint)
        active_from = max(created_at.date(), self.first_day)
        # The first keys always use batch and priority, so every org exercises both billing paths.
        forced_tier = {1: "batch", 2: "priority"}.get(i)
        source = _Source(key.id, workspace_id, None, None, active_from, until, self._profile(rng, 1.0, forced_tier))
        return key, source

    def _profile(self, rng: random.Random, scale: float, forced_tier: str | None = None) -> _Profile:
        spec = self.spec
        models = tuple(rng.sample(spec.model_ids(), k=min(len(spec.model_ids()), rng.randint(1, 3))))
        tier_weights = {
            "standard": 1.0,
            "batch": rng.choice((0.0, 0.0, 0.4)),
            "priority": rng.choice((0.0, 0.0, 0.3)),
        }
        if forced_tier:
            tier_weights[forced_tier] = 0.5
        tiers = tuple(t for t in spec.tiers if tier_weights[t] > 0) or spec.tiers[:1]
        return _Profile(
            models=models,
            model_weights=tuple(rng.uniform(0.2, 1.0) for _ in models),
            tiers=tiers,
            tier_weights=tuple(tier_weights.get(t, 1.0) for t in tiers),
            long_context_share=rng.choice((0.0, 0.05, 0.15)),
            us_share=rng.choice((0.0, 0.2, 0.5)),
            volume=scale * math.exp(rng.uniform(math.log(2e5), math.log(2e7))),
            cache_read_ratio=rng.choice((0.0, 0.5, 2.0, 4.0)),
            uses_1h_cache=rng.random() < 0.3,
            web_search=rng.random() < 0.4,
            activity=rng.uniform(0.6, 0.98),
            max_rows=rng.randint(1, 4),
        )

    # -- per-day generation --------------------------------------------------------------------------------

    def generation(self, day: date) -> int:
        with self._lock:
            return self._generations.get(day, 0)

    def version(self, day: date) -> tuple[int, int]:
        """What a day's cached rows depend on: its restatement generation and its scenario revision."""
        with self._lock:
            return self._generations.get(day, 0), self._revisions.get(day, 0)

    def scenario_restated(self, days: Iterable[date]) -> None:
        """The spend scenario's usage of `days` changed (`ScenarioTraffic.restate_runaway`): serve it anew."""
        with self._lock:
            for day in days:
                self._revisions[day] = self._revisions.get(day, 0) + 1

    def set_price_changes(self, changes: Iterable[PriceChange]) -> None:
        """Anthropic changes list prices: each change scales a model's every token price from its day on."""
        with self._lock:
            self._price_changes = tuple(changes)
            self._costs.clear()

    def price_factor(self, model: str, day: date) -> Decimal:
        """The factor of every token price of `model` on `day` (1 without a price change)."""
        factor = Decimal(1)
        for change in self._price_changes:
            if change.model == model and day >= change.day:
                factor *= change.factor
        return factor

    def restate(self, days: int) -> list[date]:
        """Late data settles: the last `days` days (today included) get new numbers; returns those days."""
        today = self.today()
        changed = [today - timedelta(days=i) for i in range(max(0, days))]
        with self._lock:
            for day in changed:
                self._generations[day] = self._generations.get(day, 0) + 1
        return changed

    def _day(self, day: date) -> _Day:
        key = (day, self.generation(day))
        with self._lock:
            cached = self._days.get(key)
        if cached is None:
            cached = self._generate_day(day, key[1])
            with self._lock:
                self._days[key] = cached
        return cached

    def _generate_day(self, day: date, generation: int) -> _Day:
        if day < self.first_day:
            return _Day([])
        rng = random.Random(f"{self.spec.seed}:{day.isoformat()}")
        age = (day - self.first_day).days / self.spec.days
        intensity = (0.6 + 0.8 * age) * (1.0 if day.weekday() < 5 else 0.45)
        rows: dict[tuple, list[int]] = {}
        for source in self._sources:
            if not source.active_on(day) or rng.random() > source.profile.activity:
                continue
            for _ in range(rng.randint(1, source.profile.max_rows)):
                dims = self._pick_dims(source, rng)
                metrics = _metrics(source.profile, intensity, dims[2], rng)
                total = rows.setdefault(dims, [0] * 6)
                for i, value in enumerate(metrics):
                    total[i] += value
        code_execution = self._code_execution(day, intensity, rng)
        result = _Day([_usage_row(d, m) for d, m in rows.items()], code_execution)
        if generation:
            result = self._restated(day, generation, result)
        return result

    def _pick_dims(self, source: _Source, rng: random.Random) -> tuple:
        profile = source.profile
        model = rng.choices(profile.models, profile.model_weights)[0]
        price = prices.MODEL_PRICES[model]
        tier = rng.choices(profile.tiers, profile.tier_weights)[0]
        long_context = (
            price.supports_long_context
            and "200k-1M" in self.spec.context_windows
            and (rng.random() < profile.long_context_share or "0-200k" not in self.spec.context_windows)
        )
        context_window = "200k-1M" if long_context else "0-200k"
        geo = "not_available"
        if price.supports_inference_geo:
            geo = "us" if "us" in self.spec.geos and rng.random() < profile.us_share else "global"
        return (
            source.api_key_id,
            source.workspace_id,
            model,
            tier,
            context_window,
            geo,
            source.account_id,
            source.service_account_id,
            "standard",
        )

    def _code_execution(self, day: date, intensity: float, rng: random.Random) -> dict[str | None, int]:
        seconds: dict[str | None, int] = {}
        for index, workspace_id in enumerate([None, *(ws.id for ws in self.workspaces)]):
            if index % 2 or not self._workspace_alive(workspace_id, day) or rng.random() > 0.5:
                continue
            seconds[workspace_id] = int(rng.uniform(300, 20000) * intensity)
        return seconds

    def _workspace_alive(self, workspace_id: str | None, day: date) -> bool:
        if workspace_id is None:
            return True
        created, archived = self._workspace_windows[workspace_id]
        return created <= day and (archived is None or day < archived)

    def _restated(self, day: date, generation: int, base: _Day) -> _Day:
        rng = random.Random(f"{self.spec.seed}:{day.isoformat()}:restated:{generation}")
        rows = []
        for row in base.usage:
            if rng.random() < 0.04:
                continue
            rows.append(_usage_row(row.dims(), (int(v * rng.uniform(0.9, 1.12)) for v in row.metrics())))
        active = [s for s in self._sources if s.active_on(day)]
        if active and rng.random() < 0.5:
            source = rng.choice(active)
            dims = self._pick_dims(source, rng)
            if all(r.dims() != dims for r in rows):
                rows.append(_usage_row(dims, _metrics(source.profile, 0.5, dims[2], rng)))
        code = {ws: int(s * rng.uniform(0.9, 1.12)) for ws, s in base.code_execution_seconds.items()}
        return _Day(rows, code)

    # -- distribution within a day ----------------------------------------------------------------

    def _curve(self, day: date) -> list[int]:
        # Cumulative integer weights per minute: curve[m] / curve[-1] is the share of the day before minute m.
        # Slicing with floor(v * curve[m] // total) differences keeps hourly and minute sums equal to the day.
        with self._lock:
            curve = self._curves.get(day)
        if curve is None:
            rng = random.Random(f"{self.spec.seed}:{day.isoformat()}:curve")
            curve = [0]
            for hour in range(24):
                weight = int(100 * (1 + 3 * math.exp(-(((hour - 16) / 4) ** 2))) * rng.uniform(0.7, 1.3))
                for _ in range(60):
                    curve.append(curve[-1] + rng.randint(1, 2 * weight))
            with self._lock:
                self._curves[day] = curve
        return curve

    # -- public ground truth ----------------------------------------------------------------------

    def attach_scenario(self, traffic: ScenarioUsage) -> None:
        """Add a spend scenario's traffic: its keys join the key list, its usage every report."""
        with self._lock:
            if self.scenario is not None:
                raise ValueError("the org already has a spend scenario")
            self.scenario = traffic
            self.api_keys.extend(traffic.keys)
            self._costs.clear()

    def usage_rows(self, day: date, start_minute: int = 0, end_minute: int = MINUTES_PER_DAY) -> list[UsageRow]:
        """Finest-grain usage of `day` within [start_minute, end_minute), as visible now (today: so far)."""
        end_minute = min(end_minute, self._minutes_elapsed(day))
        if end_minute <= start_minute:
            return []
        rows = self._curve_rows(day, start_minute, end_minute)
        if self.scenario is not None:
            rows += self.scenario.usage_rows(day, start_minute, end_minute)
        return rows

    def _curve_rows(self, day: date, start_minute: int, end_minute: int) -> list[UsageRow]:
        rows = self._day(day).usage
        if start_minute == 0 and end_minute == MINUTES_PER_DAY:
            return list(rows)
        curve = self._curve(day)
        low, high, total = curve[start_minute], curve[end_minute], curve[-1]
        sliced = []
        for row in rows:
            metrics = [v * high // total - v * low // total for v in row.metrics()]
            if any(metrics):
                sliced.append(_usage_row(row.dims(), metrics))
        return sliced

    def full_day_usage(self, day: date) -> list[UsageRow]:
        """The whole of `day`'s finest-grain usage along its curve, ignoring the clock (today's and future rows
        included); a spend scenario's usage is apart, in `scenario.pieces_on(day)`."""
        return list(self._day(day).usage)

    def full_day_code_execution_seconds(self, day: date) -> dict[str | None, int]:
        """The whole of `day`'s code-execution seconds per workspace, ignoring the clock."""
        return dict(self._day(day).code_execution_seconds)

    def minute_curve(self, day: date) -> list[int]:
        """Cumulative per-minute weights of `day` (1441 values): `v * c[m] // c[-1]` is the share before minute m."""
        return self._curve(day)

    def code_execution_seconds(self, day: date) -> dict[str | None, int]:
        """Code-execution container seconds per workspace on `day` (today: so far); not in usage reports."""
        elapsed = self._minutes_elapsed(day)
        seconds = self._day(day).code_execution_seconds
        if elapsed == MINUTES_PER_DAY:
            return dict(seconds)
        curve = self._curve(day)
        return {ws: s * curve[elapsed] // curve[-1] for ws, s in seconds.items() if s * curve[elapsed] // curve[-1]}

    def cost_rows(self, day: date) -> list[CostRow]:
        """Finest-grain cost rows (one per workspace and description) of `day`, as visible now."""
        complete = self._minutes_elapsed(day) == MINUTES_PER_DAY
        key = (day, self.version(day))
        if complete:
            with self._lock:
                cached = self._costs.get(key)
            if cached is not None:
                return list(cached)
        factors = {model: self.price_factor(model, day) for model in {c.model for c in self._price_changes}}
        rows = price_usage(self.usage_rows(day), self.code_execution_seconds(day), factors)
        if complete:
            with self._lock:
                self._costs[key] = rows
        return list(rows)


def price_usage(
    usage: Iterable[UsageRow],
    code_execution_seconds: dict[str | None, int],
    price_factors: dict[str, Decimal] | None = None,
) -> list[CostRow]:
    """Price usage rows into cost rows per (workspace, description); priority tier is not billed here.
    `price_factors` scales the token prices of the models it names (a price change)."""
    factors = price_factors or {}
    totals: dict[tuple[str | None, str], Decimal] = {}
    fields: dict[str, tuple] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        ctx.traps[Inexact] = True
        for row in usage:
            if row.service_tier == "priority":
                continue
            for token_type, tokens in row.tokens_by_type():
                if tokens:
                    description, unit, parsed = _token_price(
                        row.model, token_type, row.service_tier, row.context_window, row.inference_geo
                    )
                    _add(totals, fields, row.workspace_id, description, parsed,
                         tokens * unit * factors.get(row.model, 1))  # fmt: skip
            if row.web_search_requests:
                description = prices.web_search_description(row.model)
                parsed = ("web_search", row.model, None, None, None, None)
                amount = row.web_search_requests * prices.WEB_SEARCH_CENTS_PER_REQUEST
                _add(totals, fields, row.workspace_id, description, parsed, amount)
        for workspace_id, seconds in code_execution_seconds.items():
            parsed = ("code_execution", None, None, None, None, None)
            amount = seconds * prices.CODE_EXECUTION_CENTS_PER_SECOND
            _add(totals, fields, workspace_id, prices.CODE_EXECUTION_DESCRIPTION, parsed, amount)
    return [
        CostRow(workspace_id, description, *fields[description], amount)
        for (workspace_id, description), amount in totals.items()
        if amount
    ]


def _add(totals: dict, fields: dict, workspace_id: str | None, description: str, parsed: tuple, amount) -> None:
    fields[description] = parsed
    key = (workspace_id, description)
    totals[key] = totals.get(key, Decimal(0)) + amount


@cache
def _token_price(model: str, token_type: str, tier: str, context_window: str, geo: str) -> tuple[str, Decimal, tuple]:
    description = prices.token_description(model, token_type, tier, context_window, geo)
    unit = prices.token_unit_price_cents(model, token_type, tier, context_window, geo)
    return description, unit, ("tokens", model, token_type, tier, context_window, geo)


def _metrics(profile: _Profile, intensity: float, model: str, rng: random.Random) -> tuple[int, ...]:
    base = profile.volume * intensity * rng.lognormvariate(0, 0.5) / profile.max_rows
    uncached = int(base)
    cache_5m = int(base * rng.uniform(0.0, 0.3)) if profile.cache_read_ratio else 0
    cache_1h = int(base * rng.uniform(0.0, 0.15)) if profile.uses_1h_cache else 0
    cache_read = int(base * profile.cache_read_ratio * rng.uniform(0.5, 1.5))
    output = int(base * rng.uniform(0.05, 0.4))
    searches = rng.randint(0, int(2 + base / 1e5)) if profile.web_search and "haiku-3" not in model else 0
    return uncached, cache_5m, cache_1h, cache_read, output, searches


def _between(rng: random.Random, low: int, high: int) -> int:
    return rng.randrange(low, high) if high > low else low


def _random_chars(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ID_ALPHABET) for _ in range(n))


def _make_id(rng: random.Random, prefix: str) -> str:
    return prefix + "01" + _random_chars(rng, 22)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix, as the Admin API writes timestamps."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
