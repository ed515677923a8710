"""The cost report as CSV: the columns of a grouping (each dimension, its display names, then the figures
flattened) and one row as a spreadsheet-safe CSV line. Shared by the CSV export and `pump-anthropic report --csv`.
Pure."""

from __future__ import annotations

from collections.abc import Iterable

from pump_anthropic.domain import export

# What a row of GET /costs carries beside each dimension of its grouping (its display names), in the row's order.
DIMENSION_NAME_COLUMNS = {
    "workspace_id": ("workspace_name",),
    "api_key_id": ("api_key_name", "api_key_hint", "allocation"),
    "actor": ("actor_type", "actor_id", "actor_name", "actor_email", "actor_note"),
    "model": ("model_ids",),
}
# The row's figures, flattened: `cost_unknown` and `list_priced` become one column per field.
FIGURE_COLUMNS = (
    "cost_usd",
    "list_cost_usd",
    "tokens",
    "cost_unknown_tokens",
    "cost_unknown_web_search_requests",
    "list_priced_days",
    "list_priced_of_days",
    "list_priced_list_cost_usd",
    "list_priced_cost_usd",
    "list_priced_discount_usd",
)
FLATTENED = {"cost_unknown": ("tokens", "web_search_requests"), "list_priced": ("days", "of_days", "list_cost_usd",
             "cost_usd", "discount_usd")}  # fmt: skip
MODEL_IDS_SEPARATOR = " "


def report_csv_columns(group_by: Iterable[str]) -> list[str]:
    """The cost report's columns as CSV: each dimension followed by its display names, then the figures."""
    columns: list[str] = []
    for dimension in group_by:
        columns += [dimension, *DIMENSION_NAME_COLUMNS.get(dimension, ())]
    return [*columns, *FIGURE_COLUMNS]


def csv_line(row: dict, columns: list[str]) -> str:
    """One cost report row as a CSV line (CRLF), the values GET /costs gives: nested figures flattened (`list_priced`
    → list_priced_days, …), a model row's raw ids joined by a space; text cells a spreadsheet would run as a formula
    are made safe (numbers, decimal strings included, are never touched)."""
    values = dict(row)
    for name, fields in FLATTENED.items():
        nested = row.get(name)
        for f in fields:
            column = f"{name}_{f}"
            if column not in values:
                values[column] = nested.get(f) if isinstance(nested, dict) else None
    if isinstance(ids := row.get("model_ids"), list):
        values["model_ids"] = MODEL_IDS_SEPARATOR.join(ids)
    cells = ["" if (v := values.get(c)) is None else export.safe_text(v) if isinstance(v, str) else v for c in columns]
    return export.csv_row(cells)
