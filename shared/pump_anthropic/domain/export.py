"""The FOCUS export as CSV text, one line at a time. Pure: cost items and names in, lines out (no I/O).

A generator so a caller can stream it (a Lambda response stream, an S3 multipart upload) without holding the file.
Behind API Gateway the route joins it instead; see `join_within`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pump_anthropic.domain.focus import COLUMNS, BillingContext, to_focus_row
from pump_anthropic.domain.normalize import UNIT_REQUESTS, UNIT_TOKENS, CostItem
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.rollups import RollupLine
from pump_anthropic.exceptions import ExportTooLargeError

CONTENT_TYPE = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class ConnectionItems:
    """One connection's cost items with the organization they bill to."""

    organization_id: str
    organization_name: str
    items: Iterable[CostItem]


def format_decimal(value: Decimal) -> str:
    """Exact, positional, always with a decimal point: 0 → "0.0", 1E+1 → "10.0", 1E-7 → "0.0000001".

    The point matters: focus-validator infers CSV column types from the text, and "0" would read as an integer.
    """
    text = format(value, "f")
    if "." not in text:
        return text + ".0"
    whole, fraction = text.split(".")
    return f"{whole}.{fraction.rstrip('0') or '0'}"


# A spreadsheet treats a cell starting with one of these as a formula (OWASP's list for CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_text(text: str) -> str:
    """A text cell a spreadsheet shows as text: one that would start a formula gets a leading apostrophe.

    Names come from inside the customer's Anthropic organization (workspaces, API keys, the organization), so a key
    named =HYPERLINK(...) must reach the finance user as that text, not as a live link. Numbers are left alone.
    """
    # Spreadsheets skip leading spaces before reading a formula, and some read full-width signs as ASCII ones.
    if text.lstrip(" ").startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, float):
        raise TypeError("money and quantities must be Decimal, never float")
    if isinstance(value, int):
        return str(value)
    return safe_text(str(value))


def csv_row(cells: Iterable[object]) -> str:
    """One RFC 4180 CSV line, CRLF-terminated: the one CSV writer of the FOCUS and report exports."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def focus_csv_lines(connections: Iterable[ConnectionItems], workspace_names: Mapping[str, str]) -> Iterator[str]:
    """The header, then one CSV line (CRLF-terminated, RFC 4180) per cost item of every connection."""
    yield csv_row(COLUMNS)
    for connection in connections:
        for item in connection.items:
            context = BillingContext(
                connection.organization_id,
                connection.organization_name,
                workspace_names.get(item.workspace_id) if item.workspace_id else None,
            )
            row = to_focus_row(item, context)
            yield csv_row(_cell(row[column]) for column in COLUMNS)


@dataclass(frozen=True)
class ConnectionKeyLines:
    """One connection's per-API-key rollups (allocation) with the organization they bill to."""

    organization_id: str
    organization_name: str
    rollups: Iterable[StoredRollup]


def allocated_focus_csv_lines(
    connections: Iterable[ConnectionKeyLines],
    workspace_names: Mapping[str, str],
    key_label: Callable[[str], tuple[str, str]],
) -> Iterator[str]:
    """The FOCUS CSV with cost allocated to API keys: one row per (day, key, workspace, model, cost type, token
    type, tier, context window), x_ApiKeyId/x_ApiKeyName/x_AllocationMethod filled. Inference geo is folded in
    (the per-key rollups don't keep it), so SkuPriceId has no geo part here."""
    yield csv_row(COLUMNS)
    for connection in connections:
        for rollup in connection.rollups:
            for line in rollup.lines:
                values = dict(zip(rollup.dimensions, line.dims, strict=True))
                item = _item_of(rollup.date, values, line, tokens_known=rollup.tokens_known)
                name, method = key_label(values["api_key_id"])
                actor = rollup.actors.get(values.get("actor") or "") or [None] * 6
                context = BillingContext(
                    connection.organization_id,
                    connection.organization_name,
                    workspace_names.get(item.workspace_id) if item.workspace_id else None,
                    values["api_key_id"],
                    name,
                    "billed" if rollup.source == "analytics" else method,
                    actor_type=actor[1],
                    actor_id=actor[2],
                    actor_name=actor[3] or actor[4],
                    product=values.get("product"),
                )
                row = to_focus_row(item, context)
                yield csv_row(_cell(row[column]) for column in COLUMNS)


def _item_of(day: date, values: Mapping[str, str | None], line: RollupLine, *, tokens_known: bool = True) -> CostItem:
    quantity, unit = (line.requests, UNIT_REQUESTS) if values["cost_type"] == "web_search" else (line.tokens, None)
    if unit is None:
        unit = UNIT_TOKENS if values["token_type"] else None
        quantity = line.tokens if unit else None
    if not tokens_known:
        quantity, unit = None, None  # per-key lines of analytics days carry cost only
    return CostItem(
        date=day,
        workspace_id=values["workspace_id"],
        model=values["model"],
        cost_type=values["cost_type"],
        token_type=values["token_type"],
        service_tier=values.get("service_tier"),
        context_window=values.get("context_window"),
        inference_geo=None,
        cost_usd=line.cost_usd,
        amount_cents=line.cost_usd * 100 if line.cost_usd is not None else None,
        quantity=quantity,
        unit=unit,
        description=None,
        list_cost_usd=line.list_cost_usd,
    )


def join_within(lines: Iterable[str], max_bytes: int) -> str:
    """The lines as one text, or ExportTooLargeError as soon as they pass `max_bytes` (UTF-8).

    Stops reading at the limit, so an oversized export costs at most `max_bytes` of reads and memory.
    """
    parts: list[str] = []
    size = 0
    for line in lines:
        size += len(line.encode())
        if size > max_bytes:
            raise ExportTooLargeError(
                "The export of this date range is larger than one API response can carry; export a shorter range."
            )
        parts.append(line)
    return "".join(parts)
