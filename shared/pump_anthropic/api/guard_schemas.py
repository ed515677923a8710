"""The bodies of the spend guard's routes (budgets and alerts), as models for the OpenAPI document. Amounts are exact
decimal strings in USD."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from pump_anthropic.domain.alerts import KINDS
from pump_anthropic.domain.budgets import (
    DEFAULT_THRESHOLDS,
    MAX_NAME_LENGTH,
    MAX_THRESHOLDS,
    MONTHLY_USD_PATTERN,
    SCOPE_ID_PATTERNS,
)

ScopeType = Literal["organization", "workspace", "api_key", "actor", "product"]


class _ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OrganizationScopeIn(_ScopeIn):
    type: Literal["organization"]
    id: None = None


class WorkspaceScopeIn(_ScopeIn):
    type: Literal["workspace"]
    id: str | None = Field(
        default=None, pattern=SCOPE_ID_PATTERNS["workspace"], description="null: the Default workspace"
    )


class ApiKeyScopeIn(_ScopeIn):
    type: Literal["api_key"]
    id: str = Field(pattern=SCOPE_ID_PATTERNS["api_key"])


class ActorScopeIn(_ScopeIn):
    type: Literal["actor"]
    id: str = Field(pattern=SCOPE_ID_PATTERNS["actor"], description="An actor id (user_…) or an email")


class ProductScopeIn(_ScopeIn):
    type: Literal["product"]
    id: str = Field(pattern=SCOPE_ID_PATTERNS["product"], description="claude_code, messages_api, …")


ScopeIn = Annotated[
    OrganizationScopeIn | WorkspaceScopeIn | ApiKeyScopeIn | ActorScopeIn | ProductScopeIn,
    Field(discriminator="type"),
]


class BudgetIn(BaseModel):
    """PUT /budgets/{id}."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"\S", description="Not only spaces")
    connection_id: str = Field(min_length=1, max_length=64, description="The connection whose spend it watches")
    scope: ScopeIn
    monthly_usd: str = Field(pattern=MONTHLY_USD_PATTERN, description='Dollars a UTC month, e.g. "1000.00"')
    # Not strict: JSON Schema counts 50.0 as an integer, and so does the server.
    thresholds: list[Annotated[int, Field(ge=1, le=1000, strict=False)]] = Field(
        default=list(DEFAULT_THRESHOLDS),
        min_length=1,
        max_length=MAX_THRESHOLDS,
        description="Percentages of monthly_usd that alert (each once a month)",
    )
    enforced: bool = Field(
        default=False,
        description="Stands in for an Anthropic spend limit the key can't read (spend_limit_headroom watches it)",
    )


class BudgetScope(BaseModel):
    type: ScopeType
    id: str | None


class Crossed(BaseModel):
    threshold: int
    at: str | None = Field(description="When the alert was raised; null until the next sync raises it")


class Budget(BaseModel):
    id: str
    name: str
    connection_id: str
    scope: BudgetScope
    monthly_usd: str
    thresholds: list[int]
    enforced: bool
    month: str = Field(description="YYYY-MM, the current UTC month")
    month_to_date_usd: str = Field(description="Exact; what GET /costs gives for the scope, connection and month")
    forecast_month_end_usd: str = Field(
        description="The month's complete days, then today at the run-rate (the mean of the last 7 complete UTC days) "
        "or at what it has spent so far if more, then the run-rate for each day after today; never below "
        "month_to_date_usd"
    )
    status: Literal["ok", "forecast_over", "warning", "exceeded"] = Field(
        description="exceeded: month-to-date ≥ the budget; warning: a threshold reached; forecast_over: the forecast "
        "passes the budget; checked in that order"
    )
    crossed: list[Crossed]


class BudgetList(BaseModel):
    budgets: list[Budget]


class AlertScope(BaseModel):
    type: Literal["organization", "workspace", "api_key", "actor", "product", "budget", "model"] = Field(
        description="`model` for `price_change` (its name then says the price line: token type, tier, window...)"
    )
    id: str | None
    name: str | None


class AlertWindow(BaseModel):
    from_: str = Field(alias="from")
    to: str


class Alert(BaseModel):
    id: str = Field(description="Derived from what the alert is about: the same alert is never raised twice")
    kind: Literal[KINDS]  # type: ignore[valid-type]  # the rules' kinds, one list
    connection_id: str
    budget_id: str | None = Field(description="The budget, for budget alerts; null otherwise")
    scope: AlertScope
    detected_at: str
    window: AlertWindow
    amount_usd: str = Field(
        description="What the rule saw (for `price_change`: the day's rate, USD per MTok or per request)"
    )
    baseline_usd: str | None = Field(
        description="The budget, the usual daily spend or the floor the rule used (for "
        "`price_change`: the previous rate)"
    )
    threshold: int | None
    message: str


class AlertList(BaseModel):
    from_: str = Field(alias="from")
    to: str
    alerts: list[Alert] = Field(description="This page's alerts, newest first")
    has_more: bool = Field(description="Whether alerts follow this page")
    next_page: str | None = Field(
        description="Opaque cursor: pass it as `page`, with the same from, to and connection_id, for the next "
        "alerts; null on the last page"
    )
