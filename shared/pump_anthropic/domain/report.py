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
from pump_anthropic.domain.records import StoredRollup
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
)
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
    return CostQuery(first_day, last_day, dims)


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

    def add(self, cost: Decimal | None, tokens: int, unpriced_tokens: int, unpriced_requests: int) -> None:
        if cost is not None:
            self.cost_usd = (self.cost_usd or Decimal(0)) + cost
        self.tokens += tokens
        self.unpriced_tokens += unpriced_tokens
        self.unpriced_requests += unpriced_requests

    def as_dict(self) -> dict:
        body: dict = {"cost_usd": format_usd(self.cost_usd), "tokens": self.tokens}
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
) -> dict:
    """The GET /costs body. Grouped by `api_key_id`, the rollups must be the per-key ones (allocated cost)."""
    groups: dict[tuple, _Totals] = defaultdict(_Totals)
    total = _Totals()
    for rollup in rollups:
        if not query.first_day <= rollup.date <= query.last_day:
            continue
        for line in rollup.lines:
            values = {
                "date": rollup.date.isoformat(),
                "month": rollup.date.strftime("%Y-%m"),
                **dict(zip(rollup.dimensions, line.dims, strict=True)),
            }
            key = tuple(values[d] for d in query.group_by)
            figures = (line.cost_usd, line.tokens, line.unpriced_tokens, line.unpriced_requests)
            groups[key].add(*figures)
            total.add(*figures)
    if total.cost_usd is None:
        total.cost_usd = Decimal(0) if not total.unpriced_tokens and not total.unpriced_requests else None
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
            row = _with_api_key_names(row, api_key_names or {})
        row.update(groups[key].as_dict())
        rows.append(row)
    return {
        "currency": "USD",
        "from": query.first_day.isoformat(),
        "to": query.last_day.isoformat(),
        "group_by": list(query.group_by),
        "total": total.as_dict(),
        "rows": rows,
    }


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


def _with_api_key_names(row: dict, names: Mapping[str, Mapping[str, str | None]]) -> dict:
    name, hint, method = api_key_label(row["api_key_id"], names)
    row = _insert_after(row, "api_key_id", "api_key_name", name)
    row = _insert_after(row, "api_key_name", "api_key_hint", hint)
    # Per-key cost is allocated (Anthropic reports cost per workspace, usage per key): say so on every row.
    return _insert_after(row, "api_key_hint", "allocation", method)


def _insert_after(row: dict, after: str, key: str, value: object) -> dict:
    out: dict = {}
    for k, v in row.items():
        out[k] = v
        if k == after:
            out[key] = value
    return out
