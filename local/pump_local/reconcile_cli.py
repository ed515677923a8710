"""`pump-anthropic report --reconcile --month YYYY-MM`: a month's reconciliation from a running `serve` (GET
/costs/reconciliation), as a few lines to read or as the JSON body."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pump_local.api_client import answer

STATUS_LABELS = {
    "matched": "matched: Anthropic's figure and ours agree to the cent, nothing to explain",
    "explained": "explained: every cent of the difference is named below",
    "unexplained": "UNEXPLAINED: part of the difference has no known cause",
}
KIND_LABELS = {
    "provisional_days": "provisional days",
    "code_execution_missing": "code execution missing",
    "priority_tier_unpriced": "priority tier, unpriced",
}


def add_arguments(report: argparse.ArgumentParser) -> None:
    """`report`'s reconciliation flags (with --json, the GET /costs/reconciliation body is printed)."""
    report.add_argument("--reconcile", action="store_true", help="reconcile --month against Anthropic's own figure")
    report.add_argument("--month", help="with --reconcile: the month, YYYY-MM")
    report.add_argument("--connection-id", help="with --reconcile: only this connection (default: every active one)")


def run(args: argparse.Namespace, session: Any) -> int:
    if not (args.reconcile and args.month):
        raise SystemExit("Reconciling needs both --reconcile and --month YYYY-MM.")
    if args.csv or args.focus:
        raise SystemExit("--reconcile prints the reconciliation (or with --json its body); it exports no file.")
    params = {"month": args.month, **({"connection_id": args.connection_id} if args.connection_id else {})}
    body = answer(session.get(f"{args.api_url}/costs/reconciliation", params=params, timeout=60))
    print(json.dumps(body, indent=2) if args.json else render(body))
    return 0


def render(body: dict) -> str:
    lines = [
        f"Reconciliation of {body['month']} (Anthropic read at {body['read_at']})",
        f"  ours (GET /costs)      ${body['stored_usd']:>14}",
        f"  Anthropic's report     ${body['anthropic_usd']:>14}",
        f"  difference             ${body['difference_usd']:>14}",
        f"  explained              ${body['explained_usd']:>14}",
        f"  unexplained            ${body['unexplained_usd']:>14}",
        f"  status: {STATUS_LABELS.get(body['status'], body['status'])}",
    ]
    if body["lines"]:
        lines.append("Known differences:")
    for line in body["lines"]:
        what = f"${line['amount_usd']}" if line["amount_usd"] is not None else f"{line['tokens']:,} tokens"
        label = KIND_LABELS.get(line["kind"], line["kind"])
        lines.append(f"  {line['from']}..{line['to']}  {label:<24} {what:>18}  {_printable(line['description'])}")
    if len(body["connections"]) > 1:
        lines.append("By connection:")
    for part in body["connections"] if len(body["connections"]) > 1 else ():
        name = _printable(part["organization_name"])
        lines.append(f"  {name} ({part['connection_id']}): {part['status']}, ours ${part['stored_usd']}, "
                     f"Anthropic's ${part['anthropic_usd']}, unexplained ${part['unexplained_usd']}")  # fmt: skip
    if not body["connections"]:
        lines.append("No active Anthropic connection.")
    lines += [f"Note: {note}" for note in body.get("notes", [])]
    return "\n".join(lines)


def _printable(text: str) -> str:
    """Names come from the customer's org: control characters never reach the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)
