"""A readable terminal summary of a connection and its spend (the `run` and `report` output)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

TOP = 8


def _usd(value: Decimal) -> str:
    return f"${value:,.2f}"


def _table(title: str, totals: dict[str, Decimal], limit: int = TOP) -> list[str]:
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
    width = max((len(k) for k, _ in ranked[:limit]), default=10)
    lines = [title]
    lines += [f"  {name:<{width}}  {_usd(cost):>14}" for name, cost in ranked[:limit]]
    if len(ranked) > limit:
        rest = sum((c for _, c in ranked[limit:]), Decimal(0))
        lines.append(f"  {'(' + str(len(ranked) - limit) + ' more)':<{width}}  {_usd(rest):>14}")
    return lines


def render_summary(connection: dict, report: dict, *, seconds: float | None) -> str:
    """Spend by model, by workspace and the top days, from a GET /costs body grouped by date,workspace,model."""
    by_model: dict[str, Decimal] = defaultdict(Decimal)
    by_workspace: dict[str, Decimal] = defaultdict(Decimal)
    by_day: dict[str, Decimal] = defaultdict(Decimal)
    unpriced_tokens = 0
    for row in report["rows"]:
        cost = Decimal(row["cost_usd"]) if row.get("cost_usd") is not None else Decimal(0)
        by_model[row.get("model") or "(no model: code execution, other)"] += cost
        by_workspace[row.get("workspace_name") or row.get("workspace_id") or "Default workspace"] += cost
        by_day[row["date"]] += cost
        unpriced_tokens += (row.get("cost_unknown") or {}).get("tokens", 0)
    backfill = connection["backfill"]
    organization = connection["organization"]
    lines = [
        f"Anthropic organization {organization['name']} ({organization['id']}), key {connection['key_hint']}",
        f"Status: {connection['status']}; backfill {backfill['chunks_done']}/{backfill['chunks_total']} months"
        + f", {backfill['chunks_failed']} failed"
        + (f" in {seconds:.1f} s" if seconds is not None else ""),
        f"Spend {report['from']} → {report['to']}: {_usd(Decimal(report['total']['cost_usd'] or 0))} "
        f"(exact: {report['total']['cost_usd']} USD), {report['total']['tokens']:,} tokens",
    ]
    if unpriced_tokens:
        lines.append(
            f"Plus {unpriced_tokens:,} tokens Anthropic reports without a cost (priority tier): not in the total."
        )
    if connection.get("last_error"):
        lines.append(f"Last error: {connection['last_error']['message']}")
    lines += [""] + _table("By model", by_model) + [""] + _table("By workspace", by_workspace)
    lines += [""] + _table("Top days", by_day, limit=5)
    return "\n".join(lines)
