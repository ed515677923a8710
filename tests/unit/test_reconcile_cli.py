"""`pump-anthropic report --reconcile`: the flags, the printed reconciliation, and no import circle among the CLI
modules (the HTTP answer helper lives in api_client, which imports none of them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pump_local import cli, reconcile_cli

LOCAL = Path(__file__).resolve().parents[2] / "local" / "pump_local"
BODY = {
    "month": "2026-10", "connection_id": None, "status": "explained", "stored_usd": "12.50", "anthropic_usd": "12.50",
    "difference_usd": "0.00", "explained_usd": "0.00", "unexplained_usd": "0.00",
    "lines": [{"kind": "priority_tier_unpriced", "connection_id": "conn_a", "description": "Priority\x1b[2J tier.",
               "amount_usd": None, "tokens": 1234567, "from": "2026-10-01", "to": "2026-10-31"}],
    "connections": [{"connection_id": "conn_a", "organization_name": "Org\x07", "status": "explained",
                     "stored_usd": "12.50", "anthropic_usd": "12.50", "difference_usd": "0.00",
                     "unexplained_usd": "0.00", "sources": []}],
    "notes": ["Before credits and taxes."], "read_at": "2026-12-07T21:00:00Z",
}  # fmt: skip


def _imports(module: str) -> set[str]:
    tree = ast.parse((LOCAL / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("module", ["alerts_cli", "reconcile_cli", "api_client"])
def test_no_cli_module_imports_the_cli_back(module):
    assert not {name for name in _imports(module) if name == "pump_local.cli" or name.startswith("pump_local.cli.")}


def test_report_takes_the_reconcile_flags():
    args = cli._parser().parse_args(["report", "--reconcile", "--month", "2026-10", "--json"])
    assert (args.reconcile, args.month, args.json, args.connection_id) == (True, "2026-10", True, None)


def test_the_reconciliation_prints_its_figures_lines_and_status_without_control_characters():
    text = reconcile_cli.render(BODY)
    assert "Reconciliation of 2026-10" in text and "explained:" in text
    assert "1,234,567 tokens" in text and "priority tier, unpriced" in text
    assert "$         12.50" in text
    assert "\x1b" not in text and "\x07" not in text
    assert "Note: Before credits and taxes." in text


def test_reconcile_without_a_month_exits_with_a_sentence():
    args = cli._parser().parse_args(["report", "--reconcile"])
    with pytest.raises(SystemExit, match="--month"):
        reconcile_cli.run(args, session=None)
