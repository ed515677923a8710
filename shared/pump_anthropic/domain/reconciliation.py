"""A month's reconciliation: our stored total beside Anthropic's own cost report, every known difference named. Pure.

Per connection, the month's days (to today) each come from one source, as the connector stored them: `analytics`
(the Usage and Cost Analytics API's `/cost`, priority tier priced) or `legacy` (the legacy cost report, which leaves
priority-tier usage out). Anthropic's figure is that same source read fresh for the same days, so the two agree to
the digit once a month is settled and nothing was missed. What can still differ is named, one line per cause:

- `provisional_days`: days Anthropic may still revise (today, and the days within a source's restatement window:
  the sync's lookback for legacy days, the analytics re-read window for analytics days). Their whole difference is
  this line's amount; the line is listed even when that difference is 0, since the figures may still move.
- `code_execution_missing`: a settled run of days whose stored cost has no code execution while Anthropic's report
  has some (a source or an older connector that left it out); the amount is Anthropic's code execution cost.
- `priority_tier_unpriced`: priority-tier usage on legacy days. The legacy cost report prices it nowhere (it is
  billed under the priority commitment), so neither figure contains it: the line gives its token count, no amount.

Status (of a connection, and of the whole body):
- `matched`: the difference is exactly 0 and there is no line;
- `explained`: every cent of the difference is covered by the lines' amounts (lines with a token count only, such as
  priority-tier usage on legacy days, are listed beside them);
- `unexplained`: otherwise; `unexplained_usd` is the difference the lines' amounts leave. The body is `unexplained`
  when any of its connections is (their remainders could cancel out in the sum), else `explained` unless matched.
Credits, taxes and commitments are in no report an Admin key can read: both figures are before them (see `NOTES`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from pump_anthropic.domain.calendar import day_runs
from pump_anthropic.exceptions import InvalidQueryError

LEGACY, ANALYTICS = "legacy", "analytics"
PRIORITY_TIER_UNPRICED = "priority_tier_unpriced"
PROVISIONAL_DAYS = "provisional_days"
CODE_EXECUTION_MISSING = "code_execution_missing"
MATCHED, EXPLAINED, UNEXPLAINED = "matched", "explained", "unexplained"
# How far back a month may start: the connector's reach (the backfill's and the analytics API's 365 days).
REACH_DAYS = 365
MONTH_PATTERN = re.compile(r"(20[0-9]{2}|2100)-(0[1-9]|1[0-2])")  # the years GET /costs' dates may have
NOTES = (
    "Both figures are Anthropic's usage cost before credits, taxes and commitment adjustments, which no report an "
    "Admin key can read shows; an invoice's total can differ from them by those.",
)
_ZERO = Decimal(0)


def parse_month(value: str | None, *, today: date) -> tuple[date, date]:
    """The month's first and last day from `YYYY-MM`; a 400 `invalid_query` with a sentence for anything else, for a
    month after today's, or for one starting before the 365 days the connector reaches."""
    if value is None or value == "":
        raise InvalidQueryError("'month' is required: the month to reconcile, written YYYY-MM.")
    if not MONTH_PATTERN.fullmatch(value):
        raise InvalidQueryError("'month' must be a month written YYYY-MM (e.g. 2026-10).")
    first = date(int(value[:4]), int(value[5:7]), 1)
    if first > today:
        raise InvalidQueryError(f"'month' can't be in the future: the latest month is {today:%Y-%m}.")
    earliest = month_start_on_or_after(today - timedelta(days=REACH_DAYS - 1))
    if first < earliest:
        raise InvalidQueryError(
            f"'month' must start within the last {REACH_DAYS} days, which the connector reaches: the earliest "
            f"month is {earliest:%Y-%m}."
        )
    return first, month_end(first)


def month_start_on_or_after(day: date) -> date:
    if day.day == 1:
        return day
    return month_end(day) + timedelta(days=1)


def month_end(first: date) -> date:
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - timedelta(days=1)


@dataclass(frozen=True)
class SourceRun:
    """Consecutive days of one connection read from one source."""

    source: str
    first_day: date
    last_day: date

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]

    def as_dict(self) -> dict:
        return {"source": self.source, "from": self.first_day.isoformat(), "to": self.last_day.isoformat()}


def source_runs(day_sources: Mapping[date, str]) -> list[SourceRun]:
    """Each day's source folded into runs of consecutive days of one source, oldest first."""
    by_source: dict[str, list[date]] = {}
    for day, source in day_sources.items():
        by_source.setdefault(source, []).append(day)
    runs = [SourceRun(s, first, last) for s, days in by_source.items() for first, last in day_runs(days)]
    return sorted(runs, key=lambda r: r.first_day)


def provisional_days(day_sources: Mapping[date, str], today: date, windows: Mapping[str, int]) -> frozenset[date]:
    """The days Anthropic may still revise: today, and those within their source's restatement window of today."""
    widest = max(windows.values(), default=0)
    return frozenset(
        day for day, source in day_sources.items() if day >= today - timedelta(days=windows.get(source, widest))
    )


@dataclass
class Figures:
    """One side's cost of a connection, per UTC day: the whole cost, and its code execution part."""

    by_day: dict[date, Decimal] = field(default_factory=dict)
    code_execution: dict[date, Decimal] = field(default_factory=dict)

    def add(self, day: date, usd: Decimal, *, code_execution: bool = False) -> None:
        self.by_day[day] = self.by_day.get(day, _ZERO) + usd
        if code_execution:
            self.code_execution[day] = self.code_execution.get(day, _ZERO) + usd

    def total(self, days: Iterable[date] | None = None) -> Decimal:
        if days is None:
            return sum(self.by_day.values(), _ZERO)
        return sum((self.by_day.get(d, _ZERO) for d in days), _ZERO)

    def code_execution_total(self, days: Iterable[date]) -> Decimal:
        return sum((self.code_execution.get(d, _ZERO) for d in days), _ZERO)


@dataclass(frozen=True)
class ConnectionFigures:
    """Everything a connection's reconciliation is computed from (read by the use case, computed here)."""

    connection_id: str
    organization_name: str
    status: str
    runs: tuple[SourceRun, ...]
    stored_usd: Decimal  # GET /costs' total of the month for this connection
    stored: Figures
    anthropic: Figures
    priority_tokens: Mapping[date, int]  # priority-tier tokens of legacy days, from the legacy usage report
    provisional: frozenset[date]


def connection_lines(figures: ConnectionFigures) -> list[dict]:
    """The known differences of one connection, each a line with its amount or its token count."""
    cid = figures.connection_id
    lines: list[dict] = []
    if figures.provisional:
        days = sorted(figures.provisional)
        amount = figures.anthropic.total(days) - figures.stored.total(days)
        lines.append(_line(PROVISIONAL_DAYS, cid, days[0], days[-1], amount=amount, description=(
            f"{len(days)} day{'s' if len(days) != 1 else ''} Anthropic may still revise (today, and the days within "
            "their source's restatement window); the sync re-reads them, so their difference is expected to go."
        )))  # fmt: skip
    for run in figures.runs:
        settled = [d for d in run.days() if d not in figures.provisional]
        theirs = figures.anthropic.code_execution_total(settled)
        if settled and theirs != 0 and figures.stored.code_execution_total(settled) == 0:
            lines.append(_line(CODE_EXECUTION_MISSING, cid, settled[0], settled[-1], amount=theirs, description=(
                f"Anthropic's {run.source} report has code execution cost on these days and the stored days have "
                "none."
            )))  # fmt: skip
    for run in figures.runs:
        if run.source != LEGACY:
            continue
        tokens = sum(figures.priority_tokens.get(d, 0) for d in run.days())
        if tokens:
            lines.append(_line(PRIORITY_TIER_UNPRICED, cid, run.first_day, run.last_day, tokens=tokens, description=(
                "Priority-tier usage on days read from the legacy reports: the legacy cost report prices it nowhere "
                "(it is billed under the priority commitment), so neither figure includes its cost."
            )))  # fmt: skip
    return lines


def _line(
    kind: str,
    connection_id: str,
    first: date,
    last: date,
    *,
    description: str,
    amount: Decimal | None = None,
    tokens: int | None = None,
) -> dict:
    return {
        "kind": kind,
        "connection_id": connection_id,
        "description": description,
        "amount_usd": usd(amount) if amount is not None else None,
        "tokens": tokens,
        "from": first.isoformat(),
        "to": last.isoformat(),
    }


def status_of(difference: Decimal, explained: Decimal, lines: list[dict]) -> str:
    if difference == 0 and not lines:
        return MATCHED
    return EXPLAINED if difference - explained == 0 else UNEXPLAINED


def explained_by(lines: Iterable[dict]) -> Decimal:
    return sum((Decimal(line["amount_usd"]) for line in lines if line["amount_usd"] is not None), _ZERO)


def reconciliation_body(
    month: str, connection_id: str | None, connections: list[ConnectionFigures], read_at: datetime
) -> dict:
    """The GET /costs/reconciliation body: the sums, the lines, the status, and each connection's own."""
    lines: list[dict] = []
    parts: list[dict] = []
    statuses: list[str] = []
    stored, anthropic = _ZERO, _ZERO
    for figures in connections:
        own = connection_lines(figures)
        theirs = figures.anthropic.total()
        difference = theirs - figures.stored_usd
        explained = explained_by(own)
        statuses.append(status_of(difference, explained, own))
        parts.append({
            "connection_id": figures.connection_id,
            "organization_name": figures.organization_name,
            "status": statuses[-1],
            "stored_usd": usd(figures.stored_usd),
            "anthropic_usd": usd(theirs),
            "difference_usd": usd(difference),
            "unexplained_usd": usd(difference - explained),
            "sources": [run.as_dict() for run in figures.runs],
        })  # fmt: skip
        lines += own
        stored, anthropic = stored + figures.stored_usd, anthropic + theirs
    difference = anthropic - stored
    explained = explained_by(lines)
    status = status_of(difference, explained, lines)
    if UNEXPLAINED in statuses:
        status = UNEXPLAINED
    return {
        "month": month,
        "connection_id": connection_id,
        "status": status,
        "stored_usd": usd(stored),
        "anthropic_usd": usd(anthropic),
        "difference_usd": usd(difference),
        "explained_usd": usd(explained),
        "unexplained_usd": usd(difference - explained),
        "lines": lines,
        "connections": parts,
        "notes": list(NOTES),
        "read_at": read_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def usd(value: Decimal) -> str:
    """An exact decimal string with at least two decimals ("0.00", "12.30", "0.000125"): nothing rounded."""
    if value == 0:
        return "0.00"
    text = format(value, "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def day_sources_of(
    days: Iterable[date], *layers: Mapping[date, str], default: Callable[[date], str]
) -> dict[date, str]:
    """Each day's source: from the first layer that knows it (what is stored, then what was recorded), else the
    default (the source the connector would read the day from now)."""
    out = {}
    for day in days:
        out[day] = next((layer[day] for layer in layers if day in layer), None) or default(day)
    return out
