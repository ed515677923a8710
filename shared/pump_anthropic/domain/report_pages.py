"""Pages of the cost report: `limit` and the opaque cursor (bound to the query, refused when foreign), the read
quota's weight of a request, and a page cut from sorted rows by key, so a row added or removed between two requests
never shifts a page boundary."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date

from pump_anthropic.domain.month_summary import GRAIN_LINES
from pump_anthropic.domain.report import CostQuery, order_key, read_grain
from pump_anthropic.exceptions import InvalidQueryError

DEFAULT_PAGE_ROWS = 1000
MAX_PAGE_ROWS = 10_000
# A synchronous Lambda response may not exceed 6 MB, counted on the runtime's JSON envelope, where the body is one
# string; the rows of a page stay within 5 MB measured that way, whatever `limit` asks for.
MAX_PAGE_BYTES = 5 * 1024 * 1024
SIZED_TOGETHER = 256  # rows measured in one encoding while a page fills (page_of_report)
MAX_CURSOR_CHARS = 16_384
MAX_CURSOR_BRACKETS = 4
CURSOR_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
LIMIT_PATTERN = re.compile(r"[0-9]{1,6}")
FOREIGN_CURSOR = (
    "The page cursor is not one this query returned; pass the previous answer's next_page unchanged, with the same "
    "from, to and group_by, or leave 'page' out for the first page."
)


@dataclass(frozen=True)
class PageQuery:
    limit: int
    after: tuple[str | None, ...] | None  # the group key of the previous page's last row; None: the first page
    tenant: str = ""  # whose cursor it is: a cursor answers only the tenant it was given to


def parse_page_query(limit: str | None, page: str | None, query: CostQuery, *, tenant: str = "") -> PageQuery:
    """Validate `limit` and `page`; a cursor is accepted only from an answer to the same tenant, from, to and
    group_by."""
    if limit is None:
        rows = DEFAULT_PAGE_ROWS
    elif LIMIT_PATTERN.fullmatch(limit) and 1 <= int(limit) <= MAX_PAGE_ROWS:
        rows = int(limit)
    else:
        raise InvalidQueryError(f"'limit' must be a whole number from 1 to {MAX_PAGE_ROWS}.")
    return PageQuery(rows, None if page is None else decode_cursor(page, query, tenant=tenant), tenant)


def encode_cursor(query: CostQuery, key: tuple[str | None, ...], *, tenant: str = "") -> str:
    text = json.dumps({"q": _fingerprint(query, tenant), "after": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, query: CostQuery, *, tenant: str = "") -> tuple[str | None, ...]:
    """The group key a cursor points after. Anything else is refused, and the cursor is never echoed."""
    try:
        if not cursor or len(cursor) > MAX_CURSOR_CHARS or not CURSOR_PATTERN.fullmatch(cursor):
            raise ValueError
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        # Ours nest one level; deeper nesting is refused before parsing (CPython 3.13's json raises RecursionError
        # on deep nesting, which is not a ValueError).
        if text.count(b"[") + text.count(b"{") > MAX_CURSOR_BRACKETS:
            raise ValueError
        data = json.loads(text)
    except (ValueError, binascii.Error, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidQueryError(FOREIGN_CURSOR) from None
    if not isinstance(data, dict) or set(data) != {"q", "after"} or data["q"] != _fingerprint(query, tenant):
        raise InvalidQueryError(FOREIGN_CURSOR)
    after = data["after"]
    if (
        not isinstance(after, list)
        or len(after) != len(query.group_by)
        or not all(v is None or isinstance(v, str) for v in after)
    ):
        raise InvalidQueryError(FOREIGN_CURSOR)
    return tuple(after)


def _fingerprint(query: CostQuery, tenant: str) -> str:
    text = json.dumps([tenant, query.first_day.isoformat(), query.last_day.isoformat(), list(query.group_by)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_weight(query: CostQuery, page: PageQuery) -> int:
    """The units of the tenant's read quota a request takes, after the work it asks for: a month of summaries or a
    week of day documents is a unit; a later page of a report led by date reads about `limit` rows' worth of days."""
    days = (query.last_day - query.first_day).days + 1
    if read_grain(query) != GRAIN_LINES:
        return 1 + days // 30
    if query.group_by[0] == "date":
        return 2 + page.limit // 1000
    return 1 + days // 7


def cursor_day(page: PageQuery, query: CostQuery) -> date:
    """The day a date-led cursor points after (its rows may continue on that day)."""
    try:
        day = date.fromisoformat(page.after[0]) if page.after and page.after[0] else None
    except ValueError:
        day = None
    if day is None or not query.first_day <= day <= query.last_day:
        raise InvalidQueryError(FOREIGN_CURSOR)
    return day


def rows_after(rows: list[dict], query: CostQuery, after: tuple[str | None, ...] | None) -> list[dict]:
    """The rows (sorted by group key) whose key sorts after `after`; all of them without a cursor."""
    if after is None:
        return rows
    start = bisect_right(rows, order_key(after), key=lambda r: order_key(tuple(r[d] for d in query.group_by)))
    return rows[start:]


def _enveloped_size(text: str) -> int:
    """len(json.dumps(text)) of ASCII JSON text (json.dumps escapes everything else): each quote and backslash
    doubles, and the string is quoted."""
    return len(text) + text.count('"') + text.count("\\") + 2


def page_of_report(report: dict, query: CostQuery, page: PageQuery) -> dict:
    """One page of a whole-range report: the rows whose group key sorts after the cursor's, at most `limit` of them
    and within MAX_PAGE_BYTES (at least one), with the whole range's total. Keyed, not counted, so a row added or
    removed between two requests never shifts a page boundary."""
    rows = report["rows"]

    def key_of(row: dict) -> tuple[str | None, ...]:
        return tuple(row[d] for d in query.group_by)

    start = 0 if page.after is None else bisect_right(rows, order_key(page.after), key=lambda r: order_key(key_of(r)))
    end, size, stop = start, 0, min(len(rows), start + page.limit)
    while end < stop:
        # Rows are measured a run at a time (one encoding: a run's size is 2 less than its enveloped list's), and
        # one by one only in the run that reaches the budget.
        run = rows[end : min(stop, end + SIZED_TOGETHER)]
        run_size = _enveloped_size(json.dumps(run)) - 2
        if size + run_size <= MAX_PAGE_BYTES:
            end, size = end + len(run), size + run_size
            continue
        for row in run:
            size += _enveloped_size(json.dumps(row))
            if size > MAX_PAGE_BYTES and end > start:
                break
            end += 1
        break
    has_more = end < len(rows)
    return {
        **report,
        "rows": rows[start:end],
        "has_more": has_more,
        "next_page": encode_cursor(query, key_of(rows[end - 1]), tenant=page.tenant) if has_more else None,
    }
