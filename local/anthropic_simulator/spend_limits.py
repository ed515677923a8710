"""The Spend Limits API (beta) of a Claude Console organization: its read endpoints, settings and refusals.

Serves `GET /v1/organizations/spend_limits` (list; needs the beta header `spend-limit-reads-2026-09-26`) and
`GET /v1/organizations/spend_limits/{id}` (retrieve), with the shapes of the SDK's `BetaSpendLimit` and
`SyncPageCursor`. `GET …/spend_limits/effective` is Enterprise-only, so a Console org gets 400
`organization_type_not_supported`. Writes (set, delete) are not simulated. docs/anthropic-spend-limits-api.md is the
reference; every behaviour no source pins down is a field of `SpendLimitSettings`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from anthropic_simulator.analytics_params import Denial, RateLimiter
from anthropic_simulator.org import ID_ALPHABET, SimulatedOrg, Workspace, format_time
from anthropic_simulator.reports import (
    BadRequest,
    NotFound,
    Params,
    _decode_page,
    _encode_page,
    _fingerprint,
    _parse_limit,
    _single,
)

SPEND_LIMITS_BETA = "spend-limit-reads-2026-09-26"
SPEND_LIMITS_PATH = "/v1/organizations/spend_limits"
EFFECTIVE_PATH = f"{SPEND_LIMITS_PATH}/effective"
SCOPE_TYPES = ("organization", "organization_service", "rbac_group", "seat_tier", "usage_tier", "user", "workspace")
CONSOLE_SCOPE_TYPES = ("organization", "usage_tier", "workspace")
WRITES_NOT_ENABLED = "spend_limits_admin_api_writes_not_enabled"
_ITEM = re.compile(rf"^{SPEND_LIMITS_PATH}/([A-Za-z0-9_]+)$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LIST_REFUSALS = ("permission_error", "not_found")


@dataclass(frozen=True)
class SpendLimitSettings:
    """Knobs of the spend-limit endpoints; frozen, swap with `dataclasses.replace`.

    Amounts are integer cents (minor units of `currency`); `None` means the org has no such limit.
    `workspace_amounts` pairs a workspace, by index into `SimulatedOrg.workspaces` or by `wrkspc_` id, with its
    monthly limit. `api_access=False` is an org outside the early access preview: retrieve answers 403
    `spend_limits_admin_api_writes_not_enabled`, and list answers `list_refusal` ("permission_error": the same 403,
    or "not_found": 404), which no source confirms.
    """

    organization_amount: int | None = 200_000
    workspace_amounts: tuple[tuple[int | str, int], ...] = ((0, 50_000),)
    usage_tier_amount: int | None = 500_000
    currency: str = "USD"
    organization_limit_enabled: bool = True
    api_access: bool = True
    list_refusal: str = "permission_error"
    missing_beta_status: int = 400  # or 404
    max_page_size: int = 1000
    rate_limit_per_minute: int | None = None  # per organization, all spend-limit endpoints together

    def __post_init__(self) -> None:
        object.__setattr__(self, "workspace_amounts", tuple((ws, amount) for ws, amount in self.workspace_amounts))
        amounts = [self.organization_amount, self.usage_tier_amount, *(a for _, a in self.workspace_amounts)]
        for amount in amounts:
            if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount < 0):
                raise ValueError(f"spend-limit amounts must be non-negative integer cents; got {amount!r}")
        workspaces = [ws for ws, _ in self.workspace_amounts]
        if len(set(workspaces)) != len(workspaces):
            raise ValueError("workspace_amounts names a workspace twice")
        if not _CURRENCY.match(self.currency):
            raise ValueError("currency must be an ISO 4217 code, e.g. USD")
        if self.list_refusal not in _LIST_REFUSALS:
            raise ValueError(f"list_refusal must be one of {_LIST_REFUSALS}")
        if self.missing_beta_status not in (400, 404):
            raise ValueError("missing_beta_status must be 400 or 404")
        if self.max_page_size < 1:
            raise ValueError("max_page_size must be at least 1")
        if self.rate_limit_per_minute is not None and self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be at least 1 (or None)")


class Refused(Exception):
    """An error answer carrying its own status, type and `error.details` (e.g. the early-access 403)."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.message)
        self.denial = denial


def is_spend_limits_path(path: str) -> bool:
    return path == SPEND_LIMITS_PATH or _ITEM.match(path) is not None


class SpendLimitsApi:
    """The spend-limit endpoints over one simulated org; the limits themselves come from the settings."""

    def __init__(self, org: SimulatedOrg) -> None:
        self.org = org
        self._rate_limiter = RateLimiter()

    def reset_rate_limit(self) -> None:
        self._rate_limiter.reset()

    def answer(self, path: str, params: Params, betas: list[str], settings: SpendLimitSettings) -> dict:
        """The 200 body of a GET on a spend-limit path; raises `Refused`, `BadRequest` or `NotFound` otherwise."""
        listing = path == SPEND_LIMITS_PATH
        if listing and SPEND_LIMITS_BETA not in betas:
            if settings.missing_beta_status == 404:
                raise Refused(Denial(404, "not_found_error", "The requested resource could not be found."))
            message = f"anthropic-beta: this endpoint is in beta; send the header value {SPEND_LIMITS_BETA}"
            raise Refused(Denial(400, "invalid_request_error", message))
        limited = self._rate_limiter.check(settings.rate_limit_per_minute)
        if limited is not None:
            raise Refused(limited)
        if path == EFFECTIVE_PATH:
            message = "This endpoint supports Claude Enterprise organizations only, not Claude Console organizations."
            details = {"error_code": "organization_type_not_supported"}
            raise Refused(Denial(400, "invalid_request_error", message, details))
        if not settings.api_access:
            raise Refused(_not_enabled(settings, listing))
        if listing:
            return self.list(params, settings)
        return self.retrieve(path.rsplit("/", 1)[1], settings)

    def list(self, params: Params, settings: SpendLimitSettings) -> dict:
        for key in params:
            if key.split("[", 1)[0] == "scope_type" and key != "scope_type[]":
                raise BadRequest(f"{key}: array parameters must be sent as repeated `scope_type[]=value` pairs")
        scope_types = params.get("scope_type[]", [])
        for value in scope_types:
            if value not in SCOPE_TYPES:
                raise BadRequest(f"scope_type[]: Input should be {', '.join(map(repr, SCOPE_TYPES))}; got {value!r}")
            if value not in CONSOLE_SCOPE_TYPES:
                raise BadRequest(f"scope_type[]: {value!r} does not apply to a Claude Console organization")
        limit = _parse_limit(params, 20, settings.max_page_size)
        fingerprint = _fingerprint("spend_limits", params)
        offset = _decode_page(_single(params, "page"), fingerprint)
        workspace_id = _single(params, "workspace_id")
        rows = [
            row
            for row in self.limits(settings)
            if (not scope_types or row["scope"]["type"] in scope_types)
            and (not workspace_id or row["scope"].get("workspace_id") == workspace_id)
        ]
        end = offset + limit
        return {"data": rows[offset:end], "next_page": _encode_page(end, fingerprint) if end < len(rows) else None}

    def retrieve(self, spend_limit_id: str, settings: SpendLimitSettings) -> dict:
        for row in self.limits(settings):
            if row["id"] == spend_limit_id:
                return row
        raise NotFound(f"Spend limit {spend_limit_id} not found.")

    def limits(self, settings: SpendLimitSettings) -> list[dict]:
        """Every limit of the org as the API lists it: newest first (`created_at`), ties by id."""
        created = self.org.default_workspace.created_at  # the org's creation: its Default workspace came with it
        limits: list[tuple[dict, int, datetime, datetime, bool]] = []
        if settings.usage_tier_amount is not None:
            limits.append(({"type": "usage_tier"}, settings.usage_tier_amount, created, created, True))
        if settings.organization_amount is not None:
            set_at = created + timedelta(days=7)
            scope, enabled = {"type": "organization"}, settings.organization_limit_enabled
            limits.append((scope, settings.organization_amount, set_at, set_at + timedelta(days=30), enabled))
        for workspace_ref, amount in settings.workspace_amounts:
            workspace = self._workspace(workspace_ref)
            set_at = workspace.created_at + timedelta(days=1)
            limits.append(({"type": "workspace", "workspace_id": workspace.id}, amount, set_at, set_at, True))
        limits.sort(key=lambda limit: (-limit[2].timestamp(), self._limit_id(limit[0])))
        return [self._row(settings, *limit) for limit in limits]

    def _workspace(self, ref: int | str) -> Workspace:
        workspaces = self.org.workspaces
        if isinstance(ref, int):
            if not 0 <= ref < len(workspaces):
                raise ValueError(f"workspace_amounts: no workspace at index {ref} (the org has {len(workspaces)})")
            return workspaces[ref]
        for workspace in (*workspaces, self.org.default_workspace):
            if workspace.id == ref:
                return workspace
        raise ValueError(f"workspace_amounts: the org has no workspace {ref!r}")

    def _row(
        self,
        settings: SpendLimitSettings,
        scope: dict,
        amount: int,
        created_at: datetime,
        updated_at: datetime,
        enabled: bool,
    ) -> dict:
        return {
            "type": "spend_limit",
            "id": self._limit_id(scope),
            "amount": str(amount),
            "currency": settings.currency,
            "is_enabled": enabled,
            "period": "monthly",
            "scope": scope,
            "created_at": format_time(created_at),
            "updated_at": format_time(updated_at),
        }

    def _limit_id(self, scope: dict) -> str:
        # Stable per (scope, period), as `set` upserts on that key.
        key = ":".join(str(v) for v in scope.values())
        rng = random.Random(f"{self.org.spec.seed}:spend-limit:{key}:monthly")
        return "spl_01" + "".join(rng.choice(ID_ALPHABET) for _ in range(22))


def _not_enabled(settings: SpendLimitSettings, listing: bool) -> Denial:
    if listing and settings.list_refusal == "not_found":
        return Denial(404, "not_found_error", "The requested resource could not be found.")
    message = "This organization cannot retrieve, set or delete spend limits with an Admin API credential."
    return Denial(403, "permission_error", message, {"error_code": WRITES_NOT_ENABLED})
