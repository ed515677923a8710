"""`pump-anthropic alerts`: the spend alerts of a running `serve` (GET /alerts), as a table or as JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pump_local.api_client import answer

KIND_LABELS = {
    "budget_threshold": "budget threshold",
    "budget_forecast": "budget forecast",
    "spend_anomaly": "spend anomaly",
    "new_key_spend": "new key spend",
    "inactive_key_spend": "inactive key spend",
    "spend_limit_headroom": "spend limit headroom",
}


def add_parser(commands: Any) -> None:
    alerts = commands.add_parser("alerts", help="print the spend alerts from a running `serve`")
    alerts.add_argument("--api-url", default="http://127.0.0.1:8080")
    alerts.add_argument("--tenant", default="local")
    alerts.add_argument("--from", dest="from_", help="first day detected, YYYY-MM-DD (default: 29 days before --to)")
    alerts.add_argument("--to", help="last day detected, YYYY-MM-DD (default: today)")
    alerts.add_argument("--connection-id", help="only this connection's alerts")
    alerts.add_argument("--json", action="store_true", help="print the GET /alerts body")
    alerts.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    import requests

    params = {k: v for k, v in {"from": args.from_, "to": args.to, "connection_id": args.connection_id}.items() if v}
    response = requests.get(f"{args.api_url}/alerts", params=params, headers={"X-Pump-Tenant": args.tenant},
                            timeout=60)  # fmt: skip
    body = answer(response)
    print(json.dumps(body, indent=2) if args.json else render(body))
    return 0


def render(body: dict) -> str:
    alerts = body["alerts"]
    if not alerts:
        return f"No spend alert from {body['from']} to {body['to']}."
    lines = [f"{len(alerts)} spend alert{'s' if len(alerts) != 1 else ''} from {body['from']} to {body['to']}:"]
    for alert in alerts:
        label = KIND_LABELS.get(alert["kind"], alert["kind"])
        amount = f"${alert['amount_usd']}"
        lines.append(f"  {alert['detected_at']}  {label:<20} {amount:>13}  {_printable(alert['message'])}")
    return "\n".join(lines)


def _printable(text: str) -> str:
    """Names in a message come from the customer's org: control characters never reach the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)
