"""The read API's cost report: rollups summed exactly by the requested dimensions (the GET /costs body), and its
pages: a stable cursor over the rows, which are sorted by their group key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from pump_anthropic.domain.allocation import CONSOLE, METHOD_PROPORTIONAL, UNATTRIBUTED
from pump_anthropic.domain.calendar import day_runs
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.rollups import RollupLine
from pump_anthropic.exceptions import InvalidQueryError

GROUP_BY_DIMENSIONS = (
    "date",
    "month",
    "api_key_id",
    "workspace_id",
    "model",
    "cost_type",
    "token_type",
    "service_tier",
    "context_window",
    "actor",
    "product",
    "speed",
)
# Reported by the analytics API only: on days from the legacy reports their value is UNKNOWN.
ANALYTICS_ONLY_DIMENSIONS = frozenset({"actor", "product", "speed"})
UNKNOWN = "unknown"
# Anthropic's analytics API serves who (API key, actor, product) and the price grain (tier, context window, speed) in
# separate queries (five dimensions per query), so days from it can't break spend down by both at once.
WHO_DIMENSIONS = frozenset({"api_key_id", "actor", "product"})
PRICE_DIMENSIONS = frozenset({"service_tier", "context_window", "speed"})
# How many trailing days each source may still revise: the legacy reports settle within the sync's lookback, the
# analytics API restates up to about a month after the fact.
DEFAULT_RESTATEMENT_DAYS = {"legacy": 3, "analytics": 30}
ALLOCATION_BILLED = "billed"
ALLOCATION_MIXED = "mixed"
UNKNOWN_ACTOR_NOTE = "Before the analytics API covered it: Anthropic's legacy reports don't say who spent it."
NO_ACTOR_NOTE = "Anthropic attributes this spend to no identity."
DEFAULT_GROUP_BY = ("date", "workspace_id", "model")
DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 400
DEFAULT_WORKSPACE_NAME = "Default workspace"
SPECIAL_KEY_BUCKETS = {
    CONSOLE: "Console / Workbench (no API key)",
    UNATTRIBUTED: "Unattributed (code execution and other cost without per-key usage)",
}


@dataclass(frozen=True)
class CostQuery:
    first_day: date
    last_day: date
    group_by: tuple[str, ...]


DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Far outside any real Anthropic data, and far from date arithmetic's limits (year 1 and 9999).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)
GROUP_BY_NAME = re.compile(r"[a-z_]{1,30}")

DEFAULT_PAGE_ROWS = 1000
MAX_PAGE_ROWS = 10_000
# A synchronous Lambda response may not exceed 6 MB, counted on the runtime's JSON envelope, where the body is one
# string; the rows of a page stay within 5 MB measured that way, whatever `limit` asks for.
MAX_PAGE_BYTES = 5 * 1024 * 1024
MAX_CURSOR_CHARS = 16_384
LIMIT_PATTERN = re.compile(r"[0-9]{1,6}")
FOREIGN_CURSOR = (
    "The page cursor is not one this query returned; pass the previous answer's next_page unchanged, with the same "
    "from, to and group_by, or leave 'page' out for the first page."
)


def parse_cost_query(from_: str | None, to: str | None, group_by: str | None, *, today: date) -> CostQuery:
    """Validate the query string; every problem is a 400 with a sentence naming the parameter."""
    last_day = _parse_date("to", to) if to else today
    first_day = (
        _parse_date("from", from_) if from_ else max(last_day - timedelta(days=DEFAULT_RANGE_DAYS - 1), EARLIEST_DATE)
    )
    if first_day > last_day:
        raise InvalidQueryError("'from' must be on or before 'to'.")
    if (last_day - first_day).days + 1 > MAX_RANGE_DAYS:
        raise InvalidQueryError(f"The date range may cover at most {MAX_RANGE_DAYS} days.")
    dims = DEFAULT_GROUP_BY if group_by is None else tuple(d.strip() for d in group_by.split(","))
    unknown = [d for d in dims if d not in GROUP_BY_DIMENSIONS]
    if unknown or not all(dims):
        raise InvalidQueryError(
            f"Unknown group_by value {_quote(unknown[0] if unknown else '')}; "
            f"allowed: {', '.join(GROUP_BY_DIMENSIONS)}."
        )
    if len(set(dims)) != len(dims):
        raise InvalidQueryError("Each group_by value may appear only once.")
    if set(dims) & {"actor", "product"} and set(dims) & PRICE_DIMENSIONS:
        raise InvalidQueryError(_NOT_COMBINABLE)
    return CostQuery(first_day, last_day, dims)


_NOT_COMBINABLE = (
    "group_by can't combine api_key_id, actor or product with service_tier, context_window or speed for days read "
    "from Anthropic's analytics API, which reports them in separate breakdowns; ask for them in two requests."
)


def _quote(value: str) -> str:
    # Echo only what is plainly a dimension name: anything else may be something pasted by mistake (a key).
    return f"'{value}'" if GROUP_BY_NAME.fullmatch(value) else "(not a dimension name)"


def _parse_date(name: str, value: str) -> date:
    try:
        if not DATE_PATTERN.fullmatch(value):
            raise ValueError
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidQueryError(f"'{name}' must be a date written YYYY-MM-DD.") from None
    if not EARLIEST_DATE <= parsed <= LATEST_DATE:
        raise InvalidQueryError(f"'{name}' must be between {EARLIEST_DATE} and {LATEST_DATE}.")
    return parsed


@dataclass
class _Totals:
    cost_usd: Decimal | None = None
    tokens: int = 0
    unpriced_tokens: int = 0
    unpriced_requests: int = 0
    list_cost_usd: Decimal = Decimal(0)
    list_complete: bool = True  # False once any contributing line has no list price
    tokens_complete: bool = True  # False once any contributing line carries no token counts
    allocations: set[str] | None = None

    def add(self, line: RollupLine, *, tokens_known: bool = True, allocation: str | None = None) -> None:
        if line.cost_usd is not None:
            self.cost_usd = (self.cost_usd or Decimal(0)) + line.cost_usd
        if line.list_cost_usd is None:
            self.list_complete = False
        else:
            self.list_cost_usd += line.list_cost_usd
        self.tokens_complete = self.tokens_complete and tokens_known
        self.tokens += line.tokens
        self.unpriced_tokens += line.unpriced_tokens
        self.unpriced_requests += line.unpriced_requests
        if allocation is not None:
            self.allocations = (self.allocations or set()) | {allocation}

    @property
    def allocation(self) -> str | None:
        if not self.allocations:
            return None
        return next(iter(self.allocations)) if len(self.allocations) == 1 else ALLOCATION_MIXED

    def as_dict(self) -> dict:
        body: dict = {
            "cost_usd": format_usd(self.cost_usd),
            "list_cost_usd": format_usd(self.list_cost_usd) if self.list_complete else None,
            "tokens": self.tokens if self.tokens_complete else None,
        }
        if self.unpriced_tokens or self.unpriced_requests:
            # Usage Anthropic reports without a cost (priority tier): shown, never counted as $0.
            body["cost_unknown"] = {"tokens": self.unpriced_tokens, "web_search_requests": self.unpriced_requests}
        return body


def format_usd(value: Decimal | None) -> str | None:
    """Exact decimal string, no exponent, no rounding."""
    if value is None:
        return None
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def build_cost_report(
    query: CostQuery,
    rollups: Iterable[StoredRollup],
    workspace_names: Mapping[str, str],
    api_key_names: Mapping[str, Mapping[str, str | None]] | None = None,
    *,
    today: date | None = None,
    restatement_days: Mapping[str, int] | None = None,
) -> dict:
    """The GET /costs body. Grouped by `api_key_id`, `actor` or `product`, the rollups must be the per-key ones.

    With `today`, a day Anthropic may still revise (within `restatement_days` of today, by the day's source) is
    provisional: `settled_through` is the day before the first such day, and rows by date say which they are.
    """
    groups: dict[tuple, _Totals] = defaultdict(_Totals)
    total = _Totals()
    actors: dict[str, list] = {}
    days_by_source: dict[str, set[date]] = defaultdict(set)
    key_names = api_key_names or {}
    for rollup in rollups:
        if not query.first_day <= rollup.date <= query.last_day:
            continue
        days_by_source[rollup.source].add(rollup.date)
        actors.update(rollup.actors)
        analytics = rollup.source == "analytics"
        missing = [d for d in query.group_by if d not in rollup.dimensions and d not in ("date", "month")]
        if analytics and missing:
            raise InvalidQueryError(_NOT_COMBINABLE)
        fixed = {
            "date": rollup.date.isoformat(),
            "month": rollup.date.strftime("%Y-%m"),
            **({} if analytics else dict.fromkeys(ANALYTICS_ONLY_DIMENSIONS, UNKNOWN)),
        }
        for line in rollup.lines:
            values = {**dict(zip(rollup.dimensions, line.dims, strict=True)), **fixed}
            key = tuple(values[d] for d in query.group_by)
            allocation = None
            if "api_key_id" in query.group_by:
                allocation = ALLOCATION_BILLED if analytics else api_key_label(values["api_key_id"], key_names)[2]
            groups[key].add(line, tokens_known=rollup.tokens_known, allocation=allocation)
            total.add(line, tokens_known=rollup.tokens_known)
    if total.cost_usd is None:
        total.cost_usd = Decimal(0) if not total.unpriced_tokens and not total.unpriced_requests else None
    provisional, settled_through = _provisional_days(days_by_source, today, restatement_days)
    rows = []
    for key in sorted(groups, key=_order):
        row: dict = dict(zip(query.group_by, key, strict=True))
        if "workspace_id" in row:
            ws = row["workspace_id"]
            row = _insert_after(
                row,
                "workspace_id",
                "workspace_name",
                DEFAULT_WORKSPACE_NAME if ws is None else workspace_names.get(ws, ws),
            )
        if "api_key_id" in row:
            row = _with_api_key_names(row, key_names, groups[key].allocation)
        if "actor" in row:
            row = _with_actor(row, actors, key_names)
        if today is not None and "date" in row:
            row["provisional"] = date.fromisoformat(row["date"]) in provisional
        row.update(groups[key].as_dict())
        rows.append(row)
    return {
        "currency": "USD",
        "from": query.first_day.isoformat(),
        "to": query.last_day.isoformat(),
        "group_by": list(query.group_by),
        "settled_through": settled_through.isoformat() if settled_through else None,
        "sources": _source_ranges(days_by_source),
        "total": total.as_dict(),
        "rows": rows,
    }


def _provisional_days(
    days_by_source: Mapping[str, set[date]], today: date | None, restatement_days: Mapping[str, int] | None
) -> tuple[set[date], date | None]:
    """The range's days Anthropic may still revise (those it re-reads: within its window of today, by source), and
    the last settled day: the day before the widest window of the sources in the range."""
    present = [source for source, days in days_by_source.items() if days]
    if today is None or not present:
        return set(), None
    windows = {**DEFAULT_RESTATEMENT_DAYS, **(restatement_days or {})}

    def window(source: str) -> int:
        return windows.get(source, max(windows.values()))

    provisional = {
        day for source in present for day in days_by_source[source] if day >= today - timedelta(days=window(source))
    }
    return provisional, today - timedelta(days=max(window(source) for source in present) + 1)


def _source_ranges(days_by_source: Mapping[str, set[date]]) -> list[dict]:
    """Consecutive days of each source, oldest first: which API the range's figures came from."""
    ranges = [
        {"source": source, "from": first.isoformat(), "to": last.isoformat()}
        for source, days in days_by_source.items()
        for first, last in day_runs(days)
    ]
    return sorted(ranges, key=lambda r: (r["from"], r["source"]))


def _with_actor(row: dict, actors: Mapping[str, list], key_names: Mapping[str, Mapping[str, str | None]]) -> dict:
    key = row["actor"]
    if key == UNKNOWN:
        described = [key, UNKNOWN, None, None, None, UNKNOWN_ACTOR_NOTE]
    elif key is None:
        described = [None, None, None, None, None, NO_ACTOR_NOTE]
    else:
        described = actors.get(key) or [key, None, key, None, None, None]
    _, actor_type, actor_id, name, email, note = described
    if actor_type == "api_actor" and name is None:
        name = (key_names.get(actor_id or "") or {}).get("name")
    fields = {
        "actor_type": actor_type,
        "actor_id": actor_id,
        "actor_name": name,
        "actor_email": email,
        **({"actor_note": note} if note else {}),
    }
    out: dict = {}
    for k, v in row.items():
        out[k] = v
        if k == "actor":
            out.update(fields)
    return out


def _order(key: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    # None (e.g. the default workspace) sorts first in each position.
    return tuple((v is not None, v or "") for v in key)


@dataclass(frozen=True)
class PageQuery:
    limit: int
    after: tuple[str | None, ...] | None  # the group key of the previous page's last row; None: the first page


def parse_page_query(limit: str | None, page: str | None, query: CostQuery) -> PageQuery:
    """Validate `limit` and `page`; a cursor is accepted only from an answer to the same from, to and group_by."""
    if limit is None:
        rows = DEFAULT_PAGE_ROWS
    elif LIMIT_PATTERN.fullmatch(limit) and 1 <= int(limit) <= MAX_PAGE_ROWS:
        rows = int(limit)
    else:
        raise InvalidQueryError(f"'limit' must be a whole number from 1 to {MAX_PAGE_ROWS}.")
    return PageQuery(rows, None if page is None else decode_cursor(page, query))


def encode_cursor(query: CostQuery, key: tuple[str | None, ...]) -> str:
    text = json.dumps({"q": _fingerprint(query), "after": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, query: CostQuery) -> tuple[str | None, ...]:
    """The group key a cursor points after. Anything else is refused, and the cursor is never echoed."""
    try:
        if not cursor or len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidQueryError(FOREIGN_CURSOR) from None
    if not isinstance(data, dict) or set(data) != {"q", "after"} or data["q"] != _fingerprint(query):
        raise InvalidQueryError(FOREIGN_CURSOR)
    after = data["after"]
    if (
        not isinstance(after, list)
        or len(after) != len(query.group_by)
        or not all(v is None or isinstance(v, str) for v in after)
    ):
        raise InvalidQueryError(FOREIGN_CURSOR)
    return tuple(after)


def _fingerprint(query: CostQuery) -> str:
    text = json.dumps([query.first_day.isoformat(), query.last_day.isoformat(), list(query.group_by)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def page_of_report(report: dict, query: CostQuery, page: PageQuery) -> dict:
    """One page of a whole-range report: the rows whose group key sorts after the cursor's, at most `limit` of them
    and within MAX_PAGE_BYTES (at least one), with the whole range's total. Keyed, not counted, so a row added or
    removed between two requests never shifts a page boundary."""
    rows = report["rows"]

    def key_of(row: dict) -> tuple[str | None, ...]:
        return tuple(row[d] for d in query.group_by)

    start = 0 if page.after is None else bisect_right(rows, _order(page.after), key=lambda r: _order(key_of(r)))
    end, size = start, 0
    while end < len(rows) and end - start < page.limit:
        size += len(json.dumps(json.dumps(rows[end])))
        if size > MAX_PAGE_BYTES and end > start:
            break
        end += 1
    has_more = end < len(rows)
    return {
        **report,
        "rows": rows[start:end],
        "has_more": has_more,
        "next_page": encode_cursor(query, key_of(rows[end - 1])) if has_more else None,
    }


def api_key_label(key: str, names: Mapping[str, Mapping[str, str | None]]) -> tuple[str, str | None, str]:
    """(name, hint, allocation method) of an allocation bucket: a key id, CONSOLE or UNATTRIBUTED."""
    if key in SPECIAL_KEY_BUCKETS:
        return SPECIAL_KEY_BUCKETS[key], None, key if key == UNATTRIBUTED else METHOD_PROPORTIONAL
    known = names.get(key) or {}
    return known.get("name") or key, known.get("hint"), METHOD_PROPORTIONAL


def _with_api_key_names(
    row: dict, names: Mapping[str, Mapping[str, str | None]], allocation: str | None = None
) -> dict:
    name, hint, method = api_key_label(row["api_key_id"], names)
    row = _insert_after(row, "api_key_id", "api_key_name", name)
    row = _insert_after(row, "api_key_name", "api_key_hint", hint)
    # How the row's cost was attributed to the key: billed by Anthropic (analytics days) or allocated by us from
    # per-key usage (legacy days); said on every row.
    return _insert_after(row, "api_key_hint", "allocation", allocation or method)


def _insert_after(row: dict, after: str, key: str, value: object) -> dict:
    out: dict = {}
    for k, v in row.items():
        out[k] = v
        if k == after:
            out[key] = value
    return out
