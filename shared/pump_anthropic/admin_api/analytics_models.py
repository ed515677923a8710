"""Pydantic models of the usage and cost analytics responses (beta), after the official SDK's types.

Strict about what the numbers need (row bounds, token counts, amounts), permissive about the rest: every enum
is an open set kept as a string, unknown fields pass through (`model_extra`), an unknown actor kind is kept.
Amounts are `Decimal` fractional US cents, never floats. Datetimes are aware and converted to UTC.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda value: value.astimezone(UTC))]


def _exact_decimal(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("amounts must be decimal strings, not floats")
    return value


Cents = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(allow_inf_nan=False)]


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


# --- actor ---------------------------------------------------------------------------------------------------


class UserActor(_Open):
    type: Literal["user_actor"] = "user_actor"
    user_id: str
    # The SDK names it email_address; an older documented example showed `email`.
    email_address: str | None = Field(default=None, validation_alias=AliasChoices("email_address", "email"))
    name: str | None = None
    deleted: bool = False


class ServiceAccountActor(_Open):
    type: Literal["service_account_actor"] = "service_account_actor"
    service_account_id: str


class FederatedProvider(_Open):
    """The identity provider behind a federated actor: `aws`, `azure`, `gcp` or `oidc` (open set)."""

    type: str
    account_id: str | None = None  # aws
    signed_principal: str | None = None  # aws
    subscription_id: str | None = None  # azure
    project_number: str | None = None  # gcp
    issuer: str | None = None  # oidc


class FederatedActor(_Open):
    type: Literal["federated_actor"] = "federated_actor"
    provider: FederatedProvider
    subject: str | None = None


class ApiActor(_Open):
    type: Literal["api_actor"] = "api_actor"
    api_key_id: str


class OtherActor(_Open):
    """An actor kind this code does not know yet; its fields are in `model_extra`."""

    type: str


_ACTOR_KINDS = ("user_actor", "service_account_actor", "federated_actor", "api_actor")


def _actor_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in _ACTOR_KINDS else "other"


Actor = Annotated[
    Annotated[UserActor, Tag("user_actor")]
    | Annotated[ServiceAccountActor, Tag("service_account_actor")]
    | Annotated[FederatedActor, Tag("federated_actor")]
    | Annotated[ApiActor, Tag("api_actor")]
    | Annotated[OtherActor, Tag("other")],
    Discriminator(_actor_kind),
]


# --- group ---------------------------------------------------------------------------------------------------


class UsageGroup(_Open):
    """The dimension values of one row. A key is null unless grouped by, and some stay null even then."""

    actor: Actor | None = None
    actor_type: str | None = None
    agent_id: str | None = None
    api_key_id: str | None = None
    claude_tag_category: str | None = None
    claude_tag_user_id: str | None = None
    context_window: str | None = None
    deployment_id: str | None = None
    environment_id: str | None = None
    inference_geo: str | None = None
    model: str | None = None
    organization_id: str | None = None
    product: str | None = None
    rbac_group_id: str | None = None
    service_tier: str | None = None
    session_id: str | None = None
    slack_channel_id: str | None = None
    speed: str | None = None
    user_profile_id: str | None = None
    workspace_id: str | None = None


class CostGroup(UsageGroup):
    cost_type: str | None = None  # null: the combined total of every component
    token_type: str | None = None  # set only on `tokens` rows


# --- metrics -------------------------------------------------------------------------------------------------


class CacheCreation(_Open):
    ephemeral_5m_input_tokens: int
    ephemeral_1h_input_tokens: int


class ServerToolUse(_Open):
    web_search_requests: int


class UsageMetrics(_Open):
    uncached_input_tokens: int
    cache_creation: CacheCreation
    cache_read_input_tokens: int
    output_tokens: int
    server_tool_use: ServerToolUse
    total_tokens: int
    requests: int | None = None  # for code execution: execution spans


class CostMetrics(_Open):
    """Amounts are post-discount (`amount`) and list price (`list_amount`), before credits, in US cents."""

    amount: Cents
    list_amount: Cents
    currency: str
    requests: int | None = None  # null whenever the row is fanned out by cost_type/token_type

    @property
    def amount_usd(self) -> Decimal:
        return self.amount / 100

    @property
    def list_amount_usd(self) -> Decimal:
        return self.list_amount / 100


# --- rows and pages ------------------------------------------------------------------------------------------


class UsageRow(_Envelope):
    """One combination (and time bucket, if bucketed) with usage, over [starting_at, ending_at)."""

    starting_at: UtcDatetime
    ending_at: UtcDatetime
    group: UsageGroup
    usage: UsageMetrics


class CostRow(_Envelope):
    """One combination (and time bucket, if bucketed) with cost, over [starting_at, ending_at)."""

    starting_at: UtcDatetime
    ending_at: UtcDatetime
    group: CostGroup
    cost: CostMetrics


class _AnalyticsPage(_Envelope):
    has_more: bool
    next_page: str | None = None
    # Read as: data up to this moment has been loaded (the API does not define it further).
    data_refreshed_at: UtcDatetime | None = None
    organization_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _has_more_from_cursor(cls, value: Any) -> Any:
        # A missing or null has_more means "more if there is a cursor", as the official SDK reads it.
        if isinstance(value, dict) and value.get("has_more") is None:
            return {**value, "has_more": bool(value.get("next_page"))}
        return value


class UsagePage(_AnalyticsPage):
    """One page of `GET /v1/organizations/analytics/usage`."""

    data: list[UsageRow]


class CostPage(_AnalyticsPage):
    """One page of `GET /v1/organizations/analytics/cost`."""

    data: list[CostRow]
