"""Spend scenario knobs: a runaway key, a new key that spends at once, spend on an archived key, spend limits.

`SpendScenario` is passed to `Simulator(..., scenario=...)` like the other settings (`pump-anthropic simulate`
has a flag per knob). With no knob set nothing changes: no key, row or RNG draw is added. Traffic knobs are
resolved once, when the simulator is built, into a `ScenarioTraffic` (`sim.org.scenario`) that holds the ids
it chose, the exact dollars it added per UTC day (`added_usd`) and its usage pieces. That usage is ordinary
usage: a standard-tier, 0-200k, uncached input + output row on one model, so the legacy usage and cost reports
and the analytics usage and cost reports (per API key, workspace, actor, product) all show it, and cost = usage
priced. The model is the first of the org's models whose input and output cost a whole number of tokens per cent
(else the first such model of the price table), so every piece costs exactly its whole cents: half of a piece's
cents (rounded down) buys input tokens, the rest output tokens. A piece is spread evenly over its minutes (not
along the day's curve), so hour buckets hold exact cents.

Clock and reporting lag. The simulator's clock is `SimulatedOrg.now`. The legacy reports have no lag: they show
usage up to the current minute (the current day and bucket are partial). The analytics endpoints lag by
`AnalyticsSettings.refresh_lag` (4 h by default): their watermark `data_refreshed_at` is now - lag, floored to the
minute, and nothing after it is served. A scenario is anchored at the moment the simulator is built (`now`,
floored to the minute) and does not move as the clock runs on:

- runaway key: `usd_per_hour` in each of the `hours` whole UTC hours ending at `reported_until`, the start of the
  UTC hour holding the analytics watermark at start-up (now - refresh_lag; the start of the current hour when the
  lag is 0), so both APIs report the whole burst at once. It is spent on the first active key of the first
  workspace (`runaway_key_id`); a burst crossing midnight adds to two days.
- new key: a workspace key of the first workspace created 45 min before start-up (listed as active with that
  `created_at`) spends `usd` evenly over the 30 minutes before start-up (clipped at midnight) of `today`.
- archived key: an extra key of the first workspace, listed as `archived`, spends `usd` evenly over the elapsed
  part of `today` and, optionally, `usd_yesterday` over the whole of the day before.

`today` is the UTC day of the last minute elapsed at start-up (the start-up day, except at 00:00 exactly). The
new and archived keys' spend is in the legacy reports at once and in the analytics reports once the watermark
passes it (with the default lag, 4 h later). The spend-limit knobs only adjust `SpendLimitSettings`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from anthropic_simulator import prices
from anthropic_simulator.org import (
    MINUTES_PER_DAY,
    ApiKey,
    PriceChange,
    SimulatedOrg,
    UsageRow,
    _make_id,
    _random_chars,
)
from anthropic_simulator.spend_limits import SpendLimitSettings

DEFAULT_RUNAWAY_HOURS = 3
MAX_RUNAWAY_HOURS = 168
DEFAULT_REPORT_LAG = timedelta(hours=4)  # AnalyticsSettings.refresh_lag's default
NEW_KEY_AGE = timedelta(minutes=45)
NEW_KEY_SPEND_MINUTES = 30
MAX_USD = Decimal(10) ** 9
_CENT = Decimal("0.01")
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_USD_FIELDS = (
    "runaway_usd_per_hour",
    "new_key_usd",
    "archived_key_usd",
    "archived_key_usd_yesterday",
    "spend_limit_usd",
    "workspace_spend_limit_usd",
)


def parse_usd(value: object) -> Decimal:
    """A positive dollar amount in whole cents (a Decimal, int or string; never a float), as a 2-place Decimal."""
    if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
        raise ValueError(f"a dollar amount must be a Decimal, int or string, not {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip().removeprefix("$"))
    except InvalidOperation:
        raise ValueError(f"not a dollar amount: {value!r}") from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_USD:
        raise ValueError(f"a dollar amount must be above 0 and at most {MAX_USD}: {value!r}")
    if amount != amount.quantize(_CENT):
        raise ValueError(f"a dollar amount must be whole cents (at most 2 decimals): {value!r}")
    return amount.quantize(_CENT)


def parse_price_change(text: str) -> tuple[str, Decimal, date | int]:
    """`MODEL:PCT:DAY` (e.g. `claude-haiku-4-5-20251001:10:-3`, `...:-20:2025-06-01`): the `price_change` knob.
    DAY is an ISO date or a whole number of days before today (0: today; a leading minus is allowed)."""
    model, _, rest = text.strip().partition(":")
    pct, _, day = rest.partition(":")
    if not model or not pct or not day:
        raise ValueError(f"a price change is MODEL:PCT:DAY, not {text!r}")
    when: date | int
    try:
        when = date.fromisoformat(day)
    except ValueError:
        try:
            when = abs(int(day))
        except ValueError:
            raise ValueError(f"a price change's DAY is an ISO date or a number of days ago, not {day!r}") from None
    return _checked_price_change(model, pct, when)


def _checked_price_change(model: object, pct: object, day: object) -> tuple[str, Decimal, date | int]:
    if model not in prices.MODEL_PRICES:
        raise ValueError(f"unknown model for a price change: {model!r}")
    if isinstance(pct, float | bool) or not isinstance(pct, Decimal | int | str):
        raise ValueError("a price change's percentage must be a Decimal, int or string")
    try:
        change = Decimal(str(pct).strip().removesuffix("%"))
    except InvalidOperation:
        raise ValueError(f"not a percentage: {pct!r}") from None
    if not change.is_finite() or not -100 < change <= 1000 or change == 0 or change != change.quantize(_CENT):
        raise ValueError(f"a price change is a non-zero percentage above -100 and at most 1000, 2 decimals: {pct!r}")
    if isinstance(day, bool) or not isinstance(day, date | int) or (isinstance(day, int) and day < 0):
        raise ValueError(f"a price change's day is a date or a whole number of days ago: {day!r}")
    return str(model), change, day


def cents(usd: Decimal) -> int:
    return int(usd * 100)


@dataclass(frozen=True)
class SpendScenario:
    """Spend scenario knobs (dollars as exact `Decimal` cents; None: off). The module docstring has the timing."""

    runaway_usd_per_hour: Decimal | None = None
    runaway_hours: int = DEFAULT_RUNAWAY_HOURS
    new_key_usd: Decimal | None = None
    archived_key_usd: Decimal | None = None
    archived_key_usd_yesterday: Decimal | None = None
    spend_limit_usd: Decimal | None = None  # the organization's monthly limit
    workspace_spend_limit_usd: Decimal | None = None  # the first workspace's monthly limit
    spend_limits_refused: bool = False  # the Spend Limits endpoints answer "not enabled for this organization"
    # Anthropic changes a model's prices: every token price of the model × (1 + pct/100) from the day on (a date, or
    # an int: that many days before the simulator's today). `parse_price_change("MODEL:PCT:DAY")` reads the flag.
    price_change: tuple[str, Decimal, date | int] | None = None

    def __post_init__(self) -> None:
        if self.price_change is not None:
            object.__setattr__(self, "price_change", _checked_price_change(*self.price_change))
        for name in _USD_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, parse_usd(value))
        hours = self.runaway_hours
        if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_RUNAWAY_HOURS:
            raise ValueError(f"runaway_hours must be a whole number of hours in 1..{MAX_RUNAWAY_HOURS}")

    @property
    def adds_traffic(self) -> bool:
        return any(
            getattr(self, name) is not None
            for name in ("runaway_usd_per_hour", "new_key_usd", "archived_key_usd", "archived_key_usd_yesterday")
        )

    def spend_limit_settings(self, base: SpendLimitSettings) -> SpendLimitSettings:
        """`base` with this scenario's limits (integer cents) and refusal; `base` itself when no such knob is set."""
        changes: dict = {}
        if self.spend_limit_usd is not None:
            changes.update(organization_amount=cents(self.spend_limit_usd), organization_limit_enabled=True)
        if self.workspace_spend_limit_usd is not None:
            changes["workspace_amounts"] = ((0, cents(self.workspace_spend_limit_usd)),)
        if self.spend_limits_refused:
            changes["api_access"] = False
        return replace(base, **changes) if changes else base


@dataclass(frozen=True, slots=True)
class Piece:
    """Usage of one scenario key spread evenly over [start_minute, end_minute) of `day`; it costs exactly `usd`."""

    day: date
    start_minute: int
    end_minute: int
    row: UsageRow
    usd: Decimal


def window_part(metrics: tuple[int, ...], low: int, high: int, start: int, end: int) -> tuple[int, ...]:
    """The integer part of `metrics` (spread evenly over minutes [low, high)) within [start, end); parts add up."""
    span = high - low
    first = min(max(start, low), high) - low
    last = min(max(end, low), high) - low
    return tuple(v * last // span - v * first // span for v in metrics)


class ScenarioTraffic:
    """A `SpendScenario`'s traffic resolved against one org at one moment: added keys, usage pieces, chosen ids."""

    def __init__(self, scenario: SpendScenario, org: SimulatedOrg, *, now: datetime, report_lag: timedelta) -> None:
        self.scenario = scenario
        self.now = now.astimezone(UTC).replace(second=0, microsecond=0)
        self.today = (self.now - _MINUTE).date()
        self.reported_until = _floor_hour(self.now - max(report_lag, timedelta(0)))
        self.model = exact_model(org.spec.model_ids())
        self.keys: list[ApiKey] = []
        self.pieces: list[Piece] = []
        self.runaway_key_id: str | None = None
        self.new_key_id: str | None = None
        self.archived_key_id: str | None = None
        self.burst_start: datetime | None = None
        self.burst_end: datetime | None = None
        self._seed = org.spec.seed
        self._workspace_id = org.workspaces[0].id
        self._creator = org.users[0].id
        elapsed = (self.now - datetime.combine(self.today, time(), UTC)) // _MINUTE  # 1..1440
        self.runaway_usd_per_hour = scenario.runaway_usd_per_hour
        if scenario.runaway_usd_per_hour is not None:
            self.burst_end = self.reported_until
            self.burst_start = self.burst_end - scenario.runaway_hours * _HOUR
            key = _runaway_key(org, self.burst_start)
            self.runaway_key_id = key.id
            self._runaway_key = key
            self._add_burst(scenario.runaway_usd_per_hour)
        if scenario.new_key_usd is not None:
            key = self._new_key("new-key", self.now - NEW_KEY_AGE, "active")
            self.new_key_id = key.id
            self._add(key, self.today, max(0, elapsed - NEW_KEY_SPEND_MINUTES), elapsed, scenario.new_key_usd)
        if scenario.archived_key_usd is not None or scenario.archived_key_usd_yesterday is not None:
            created = datetime.combine(self.today - timedelta(days=60), time(10, 17, 41), UTC)
            key = self._new_key("retired-key", created, "archived")
            self.archived_key_id = key.id
            if scenario.archived_key_usd is not None:
                self._add(key, self.today, 0, elapsed, scenario.archived_key_usd)
            if scenario.archived_key_usd_yesterday is not None:
                yesterday = self.today - timedelta(days=1)
                self._add(key, yesterday, 0, MINUTES_PER_DAY, scenario.archived_key_usd_yesterday)
        self._index()

    def _add_burst(self, usd_per_hour: Decimal) -> None:
        assert self.burst_start is not None
        for hour in range(self.scenario.runaway_hours):
            start = self.burst_start + hour * _HOUR
            minute = start.hour * 60
            self._add(self._runaway_key, start.date(), minute, minute + 60, usd_per_hour)

    def _index(self) -> None:
        by_day: dict[date, list[Piece]] = defaultdict(list)
        for piece in self.pieces:
            by_day[piece.day].append(piece)
        self._by_day = by_day

    def restate_runaway(self, usd_per_hour: object) -> list[date]:
        """Anthropic restates the burst's hours: each now costs `usd_per_hour` (None: the burst is gone, the key's
        own traffic stays). Returns the days that changed; the org must serve them anew (`Simulator` does)."""
        if self.runaway_key_id is None or self.burst_start is None:
            raise ValueError("no runaway key to restate: the scenario has no runaway_usd_per_hour")
        usd = None if usd_per_hour is None else parse_usd(usd_per_hour)
        burst = [p for p in self.pieces if p.row.api_key_id == self.runaway_key_id]
        self.pieces = [p for p in self.pieces if p.row.api_key_id != self.runaway_key_id]
        if usd is not None:
            self._add_burst(usd)
        self.runaway_usd_per_hour = usd
        self._index()
        burst += [p for p in self.pieces if p.row.api_key_id == self.runaway_key_id]
        return sorted({p.day for p in burst})

    def _new_key(self, name: str, created_at: datetime, status: str) -> ApiKey:
        rng = random.Random(f"{self._seed}:scenario:{name}")
        key_id = _make_id(rng, "apikey_")
        hint = "sk-ant-api03-" + _random_chars(rng, 3) + "..." + _random_chars(rng, 2) + "AA"
        created_at += timedelta(seconds=rng.randrange(60))
        key = ApiKey(key_id, name, self._workspace_id, created_at, self._creator, status, None, hint)
        self.keys.append(key)
        return key

    def _add(self, key: ApiKey, day: date, start_minute: int, end_minute: int, usd: Decimal) -> None:
        uncached, output = tokens_for(cents(usd), self.model)
        geo = "global" if prices.MODEL_PRICES[self.model].supports_inference_geo else "not_available"
        dims = (key.id, key.workspace_id, self.model, "standard", "0-200k", geo, None, None, "standard")
        row = UsageRow(*dims, uncached, 0, 0, 0, output, 0)
        self.pieces.append(Piece(day, start_minute, end_minute, row, usd))

    # -- ground truth -----------------------------------------------------------------------------

    @property
    def key_ids(self) -> frozenset[str]:
        """The ids of the keys the scenario added to the key list (not the runaway key, which existed)."""
        return frozenset(key.id for key in self.keys)

    @property
    def added_usd(self) -> dict[date, Decimal]:
        """Exact dollars the scenario adds per UTC day (every key together)."""
        totals: dict[date, Decimal] = defaultdict(Decimal)
        for piece in self.pieces:
            totals[piece.day] += piece.usd
        return dict(sorted(totals.items()))

    @property
    def added_usd_by_key(self) -> dict[str, dict[date, Decimal]]:
        """Exact dollars the scenario adds per API key id and UTC day."""
        totals: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for piece in self.pieces:
            totals[piece.row.api_key_id or ""][piece.day] += piece.usd
        return {key: dict(sorted(days.items())) for key, days in totals.items()}

    def pieces_on(self, day: date) -> list[Piece]:
        return list(self._by_day.get(day, ()))

    def usage_rows(self, day: date, start_minute: int, end_minute: int) -> list[UsageRow]:
        """The scenario's usage of `day` within [start_minute, end_minute) (the caller applies the clock)."""
        rows = []
        for piece in self._by_day.get(day, ()):
            part = window_part(piece.row.metrics(), piece.start_minute, piece.end_minute, start_minute, end_minute)
            if any(part):
                rows.append(UsageRow(*piece.row.dims(), *part))
        return rows

    def describe(self) -> list[str]:
        """Lines for the simulator's start-up banner."""
        lines = []
        if self.runaway_usd_per_hour is not None and self.burst_start is not None and self.burst_end is not None:
            lines.append(
                f"runaway key {self.runaway_key_id}: ${self.runaway_usd_per_hour}/h on {self.model}, "
                f"{_hhmm(self.burst_start)} to {_hhmm(self.burst_end)} UTC"
            )
        if self.new_key_id is not None:
            created = self.keys_by_id[self.new_key_id].created_at
            usd = self.scenario.new_key_usd
            lines.append(f"new key {self.new_key_id}: created {_hhmm(created)} UTC, spends ${usd} on {self.today}")
        if self.archived_key_id is not None:
            spent = self.added_usd_by_key[self.archived_key_id]
            lines.append(f"archived key {self.archived_key_id}: " + ", ".join(f"${v} on {d}" for d, v in spent.items()))
        lines.append("added per day: " + ", ".join(f"{day} ${usd}" for day, usd in self.added_usd.items()))
        return lines

    @property
    def keys_by_id(self) -> dict[str, ApiKey]:
        return {key.id: key for key in self.keys}


def apply_scenario(
    org: SimulatedOrg, scenario: SpendScenario, *, report_lag: timedelta = DEFAULT_REPORT_LAG
) -> ScenarioTraffic | None:
    """Resolve `scenario`'s traffic against `org` on its clock and attach it (before any `AnalyticsData` is built)."""
    if scenario.price_change is not None:
        model, pct, day = scenario.price_change
        when = day if isinstance(day, date) else org.today() - timedelta(days=day)
        org.set_price_changes([PriceChange(model, 1 + pct / 100, when)])
    if not scenario.adds_traffic:
        return None
    traffic = ScenarioTraffic(scenario, org, now=org.now(), report_lag=report_lag)
    org.attach_scenario(traffic)
    return traffic


def banner_lines(scenario: SpendScenario, org: SimulatedOrg, limits: SpendLimitSettings) -> list[str]:
    """The scenario's lines of the start-up banner (none when no knob is set)."""
    lines = org.scenario.describe() if org.scenario is not None else []
    if scenario.price_change is not None:
        model, pct, day = scenario.price_change
        when = day if isinstance(day, date) else org.today() - timedelta(days=day)
        lines.append(f"price change: every token price of {model} {pct:+}% from {when}")
    if scenario.spend_limits_refused:
        lines.append("spend limits: the endpoints refuse (not enabled for this organization)")
    elif scenario.spend_limit_usd is not None or scenario.workspace_spend_limit_usd is not None:
        amount = limits.organization_amount
        parts = [f"organization ${Decimal(amount) / 100:.2f}/month" if amount is not None else "no organization limit"]
        for ref, amount in limits.workspace_amounts:
            workspace = org.workspaces[ref].id if isinstance(ref, int) and 0 <= ref < len(org.workspaces) else ref
            parts.append(f"workspace {workspace} ${Decimal(amount) / 100:.2f}/month")
        lines.append("spend limits: " + ", ".join(parts))
    return lines


def exact_model(models: tuple[str, ...]) -> str:
    """The first of `models` (else of the price table) whose input and output cost whole tokens per cent."""
    for model in (*models, *prices.MODEL_PRICES):
        if all(_tokens_per_cent(model, token_type) for token_type in ("uncached_input_tokens", "output_tokens")):
            return model
    raise ValueError("no model of the price table costs whole tokens per cent")  # pragma: no cover


def tokens_for(amount_cents: int, model: str) -> tuple[int, int]:
    """(uncached input, output) tokens of `model` that cost exactly `amount_cents` (half, rounded down, on input)."""
    input_cents = amount_cents // 2
    uncached = input_cents * _tokens_per_cent(model, "uncached_input_tokens")
    output = (amount_cents - input_cents) * _tokens_per_cent(model, "output_tokens")
    return uncached, output


def _tokens_per_cent(model: str, token_type: str) -> int:
    geo = "global" if prices.MODEL_PRICES[model].supports_inference_geo else "not_available"
    per_cent = 1 / prices.token_unit_price_cents(model, token_type, "standard", "0-200k", geo)
    return int(per_cent) if per_cent == per_cent.to_integral_value() else 0


def _runaway_key(org: SimulatedOrg, burst_start: datetime) -> ApiKey:
    active = [
        key
        for key in org.api_keys
        if key.status == "active" and key.scope_type == "workspace" and key.created_at <= burst_start
    ]
    first = [key for key in active if key.workspace_id == org.workspaces[0].id]
    if not (first or active):
        raise ValueError("the runaway-key scenario needs an active workspace API key; the org has none")
    return (first or active)[0]


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _hhmm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
