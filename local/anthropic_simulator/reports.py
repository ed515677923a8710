"""The Admin API's request semantics over a `SimulatedOrg`: validation, time buckets, grouping, pagination.

Pure functions from (org, query parameters) to response bodies, so they can be exercised without sockets.
Parameters are the `urllib.parse.parse_qs(..., keep_blank_values=True)` form: name -> list of values.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

from anthropic_simulator import prices
from anthropic_simulator.org import MINUTES_PER_DAY, USAGE_DIMENSIONS, CostRow, SimulatedOrg, UsageRow

Params = dict[str, list[str]]

USAGE_GROUP_BY = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "account_id",
    "service_account_id",
)
COST_GROUP_BY = ("workspace_id", "description")
MAX_GROUP_BY = 5
FAST_MODE_BETA = "fast-mode-2026-02-01"
USAGE_FILTERS = {
    "api_key_ids[]": "api_key_id",
    "workspace_ids[]": "workspace_id",
    "models[]": "model",
    "service_tiers[]": "service_tier",
    "context_window[]": "context_window",
    "inference_geos[]": "inference_geo",
    "speeds[]": "speed",
    "account_ids[]": "account_id",
    "service_account_ids[]": "service_account_id",
}
_FILTER_VALUES = {
    "service_tiers[]": ("standard", "batch", "priority", "priority_on_demand", "flex", "flex_discount"),
    "context_window[]": prices.CONTEXT_WINDOWS,
    "inference_geos[]": prices.INFERENCE_GEOS,
    "speeds[]": ("standard", "fast"),
}
# bucket_width -> (width, default limit, max limit)
USAGE_WIDTHS = {
    "1m": (timedelta(minutes=1), 60, 1440),
    "1h": (timedelta(hours=1), 24, 168),
    "1d": (timedelta(days=1), 7, 31),
}
COST_WIDTHS = {"1d": (timedelta(days=1), 7, 31)}
INVALID_DATE_RANGE = "Invalid date range: ending date must be after starting date"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_USAGE_RESULT_FIELDS = USAGE_DIMENSIONS[:8]  # `speed` is echoed only when grouped by it
_COST_DETAIL_FIELDS = ("cost_type", "model", "token_type", "context_window", "service_tier", "inference_geo")


class BadRequest(Exception):
    """A request the real API answers with 400 invalid_request_error."""


class NotFound(Exception):
    """A request the real API answers with 404 not_found_error."""


@dataclass(frozen=True)
class _ReportQuery:
    starting_at: datetime
    ending_at: datetime
    width: timedelta
    limit: int
    offset: int
    group_by: frozenset[str]
    filters: dict[str, frozenset[str]]
    fingerprint: str


# -- reports -------------------------------------------------------------------------------------


def usage_report(org: SimulatedOrg, params: Params, betas: Iterable[str] = ()) -> dict:
    """Body of GET /v1/organizations/usage_report/messages. Omitted `ending_at` defaults to now."""
    now = org.now().astimezone(UTC)
    query = _parse_report_query("usage", params, USAGE_WIDTHS, USAGE_GROUP_BY, default_end=now)
    if ("speed" in query.group_by or "speeds[]" in params) and FAST_MODE_BETA not in set(betas):
        raise BadRequest(f"Grouping or filtering by speed requires the anthropic-beta header {FAST_MODE_BETA}.")

    def results(start: datetime) -> list[dict]:
        rows = _usage_slice(org, start, query.width)
        return _usage_results(_filtered(rows, query.filters), query.group_by)

    return _paged_buckets(query, now, results)


def cost_report(org: SimulatedOrg, params: Params) -> dict:
    """Body of GET /v1/organizations/cost_report; omitted `ending_at` = today 00:00 UTC (as observed)."""
    now = org.now().astimezone(UTC)
    today = _floor(now, timedelta(days=1))
    query = _parse_report_query("cost", params, COST_WIDTHS, COST_GROUP_BY, default_end=today)
    return _paged_buckets(query, now, lambda start: _cost_results(org.cost_rows(start.date()), query.group_by))


def _paged_buckets(query: _ReportQuery, now: datetime, results: Callable[[datetime], list[dict]]) -> dict:
    first, count = _bucket_window(query, now)
    page = range(query.offset, min(count, query.offset + query.limit))
    data = []
    for index in page:
        start = first + index * query.width
        data.append(
            {
                "starting_at": _rfc3339(start),
                "ending_at": _rfc3339(start + query.width),
                "results": results(start),
            }
        )
    has_more = query.offset + query.limit < count
    next_page = _encode_page(query.offset + query.limit, query.fingerprint) if has_more else None
    return {"data": data, "has_more": has_more, "next_page": next_page}


def _bucket_window(query: _ReportQuery, now: datetime) -> tuple[datetime, int]:
    # A bucket is in range when it starts at or after `starting_at` (snapped up to the width, in UTC) and
    # before `ending_at`; buckets never go past the one containing now, which holds the data so far.
    first = _ceil(query.starting_at, query.width)
    end = min(query.ending_at, _floor(now, query.width) + query.width)
    if end <= first:
        return first, 0
    return first, -((first - end) // query.width)


def _usage_slice(org: SimulatedOrg, start: datetime, width: timedelta) -> list[UsageRow]:
    minute = start.hour * 60 + start.minute
    return org.usage_rows(start.date(), minute, min(MINUTES_PER_DAY, minute + width // timedelta(minutes=1)))


def _filtered(rows: list[UsageRow], filters: dict[str, frozenset[str]]) -> list[UsageRow]:
    if not filters:
        return rows
    return [r for r in rows if all(getattr(r, name) in values for name, values in filters.items())]


def _usage_results(rows: Iterable[UsageRow], group_by: frozenset[str]) -> list[dict]:
    groups: dict[tuple, list[int]] = {}
    for row in rows:
        key = tuple(getattr(row, name) if name in group_by else None for name in USAGE_DIMENSIONS)
        total = groups.setdefault(key, [0] * 6)
        for i, value in enumerate(row.metrics()):
            total[i] += value
    results = []
    for key, m in sorted(groups.items(), key=lambda item: _sort_key(item[0])):
        if not any(m):
            continue
        result = {
            "uncached_input_tokens": m[0],
            "cache_creation": {"ephemeral_1h_input_tokens": m[2], "ephemeral_5m_input_tokens": m[1]},
            "cache_read_input_tokens": m[3],
            "output_tokens": m[4],
            "server_tool_use": {"web_search_requests": m[5]},
        }
        result.update(zip(_USAGE_RESULT_FIELDS, key, strict=False))
        if "speed" in group_by:
            result["speed"] = key[-1]
        results.append(result)
    return results


def _cost_results(rows: Iterable[CostRow], group_by: frozenset[str]) -> list[dict]:
    groups: dict[tuple, Decimal] = {}
    details: dict[tuple, tuple] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        for row in rows:
            key = (
                row.workspace_id if "workspace_id" in group_by else None,
                row.description if "description" in group_by else None,
            )
            groups[key] = groups.get(key, Decimal(0)) + row.amount
            if "description" in group_by:
                details[key] = tuple(getattr(row, name) for name in _COST_DETAIL_FIELDS)
    results = []
    for key, amount in sorted(groups.items(), key=lambda item: _sort_key(item[0])):
        if not amount:
            continue
        result = {
            "amount": format_amount(amount),
            "currency": "USD",
            "workspace_id": key[0],
            "description": key[1],
        }
        result.update(zip(_COST_DETAIL_FIELDS, details.get(key, (None,) * len(_COST_DETAIL_FIELDS)), strict=True))
        results.append(result)
    return results


def format_amount(amount: Decimal) -> str:
    """A Decimal as the API's plain decimal string: full precision, no exponent, no trailing zeros."""
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _sort_key(key: tuple) -> tuple:
    return tuple((value is not None, value or "") for value in key)


# -- report query parsing ------------------------------------------------------------------------


def _parse_report_query(
    kind: str,
    params: Params,
    widths: dict[str, tuple[timedelta, int, int]],
    allowed_group_by: Sequence[str],
    *,
    default_end: datetime,
) -> _ReportQuery:
    _reject_malformed_arrays(params, ["group_by", *(name[:-2] for name in USAGE_FILTERS)])
    starting_at = _parse_time(params, "starting_at", required=True)
    ending_at = _parse_time(params, "ending_at", required=False) or default_end
    width_name = _single(params, "bucket_width") or "1d"
    if width_name not in widths:
        allowed = " or ".join(repr(w) for w in widths)
        raise BadRequest(f"bucket_width: Input should be {allowed}")
    width, default_limit, max_limit = widths[width_name]
    # A range must hold at least one bucket start: the real cost report answers 400 for starting_at = 24 h ago
    # (or today 00:00) with the default end of today 00:00.
    if ending_at <= _ceil(starting_at, width):
        raise BadRequest(INVALID_DATE_RANGE)
    limit = _parse_limit(params, default_limit, max_limit)
    group_by = _parse_group_by(params, allowed_group_by)
    filters = _parse_filters(params) if kind == "usage" else {}
    fingerprint = _fingerprint(kind, params)
    offset = _decode_page(_single(params, "page"), fingerprint)
    return _ReportQuery(starting_at, ending_at, width, limit, offset, group_by, filters, fingerprint)


def _single(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def _reject_malformed_arrays(params: Params, array_names: Iterable[str]) -> None:
    names = set(array_names)
    for key in params:
        base = key.split("[", 1)[0]
        if base in names and key != f"{base}[]":
            raise BadRequest(f"{key}: array parameters must be sent as repeated `{base}[]=value` pairs")


def _parse_time(params: Params, name: str, *, required: bool) -> datetime | None:
    value = _single(params, name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{name}: Field required")
        return None
    if not _RFC3339.match(value):
        raise BadRequest(f"{name}: Input should be a valid RFC 3339 datetime, e.g. 2025-08-01T00:00:00Z")
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except ValueError as exc:
        raise BadRequest(f"{name}: Input should be a valid RFC 3339 datetime") from exc


def _parse_limit(params: Params, default: int, maximum: int, minimum: int = 1) -> int:
    raw = _single(params, "limit")
    if raw is None:
        return default
    if not re.fullmatch(r"[+-]?\d+", raw.strip()):
        raise BadRequest("limit: Input should be a valid integer")
    limit = int(raw)
    if limit < minimum:
        raise BadRequest(f"limit: Input should be greater than or equal to {minimum}")
    if limit > maximum:
        raise BadRequest(f"limit: Input should be less than or equal to {maximum}")
    return limit


def _parse_group_by(params: Params, allowed: Sequence[str]) -> frozenset[str]:
    values = params.get("group_by[]", [])
    if len(values) > MAX_GROUP_BY:
        raise BadRequest(f"Cannot specify more than {MAX_GROUP_BY} group_by[] dimensions.")
    for value in values:
        if value not in allowed:
            raise BadRequest(f"group_by[]: Input should be {', '.join(repr(a) for a in allowed)}; got {value!r}")
    return frozenset(values)


def _parse_filters(params: Params) -> dict[str, frozenset[str]]:
    filters = {}
    for param, field_name in USAGE_FILTERS.items():
        values = params.get(param)
        if not values:
            continue
        allowed = _FILTER_VALUES.get(param)
        for value in values:
            if allowed is not None and value not in allowed:
                raise BadRequest(f"{param}: Input should be {', '.join(repr(a) for a in allowed)}; got {value!r}")
        filters[field_name] = frozenset(values)
    return filters


def _fingerprint(kind: str, params: Params) -> str:
    pairs = sorted((name, value) for name, values in params.items() if name != "page" for value in values)
    return hashlib.sha256(json.dumps([kind, pairs]).encode()).hexdigest()[:16]


def _encode_page(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"offset": offset, "query": fingerprint}, separators=(",", ":")).encode()
    return "page_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page(token: str | None, fingerprint: str) -> int:
    if token is None:
        return 0
    try:
        if not token.startswith("page_"):
            raise ValueError("missing prefix")
        body = token[len("page_") :]
        decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        offset, query = decoded["offset"], decoded["query"]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0 or not isinstance(query, str):
            raise ValueError("bad fields")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BadRequest("page: Invalid page token") from exc
    if query != fingerprint:
        raise BadRequest("page: The page token was issued for a different query")
    return offset


def _floor(moment: datetime, width: timedelta) -> datetime:
    return _EPOCH + ((moment - _EPOCH) // width) * width


def _ceil(moment: datetime, width: timedelta) -> datetime:
    floor = _floor(moment, width)
    return floor if floor == moment else floor + width


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- directory endpoints -------------------------------------------------------------------------


def organization(org: SimulatedOrg) -> dict:
    """Body of GET /v1/organizations/me."""
    return {"id": org.id, "name": org.name, "type": "organization"}


def list_workspaces(org: SimulatedOrg, params: Params) -> dict:
    """Body of GET /v1/organizations/workspaces (archived ones only with include_archived=true).

    `include_default=true` puts the Default workspace (its tagged id, null in the legacy reports) first.
    """
    include_archived = _parse_bool(params, "include_archived")
    items = [ws for ws in org.workspaces if include_archived or ws.archived_at is None]
    if _parse_bool(params, "include_default"):
        items.insert(0, org.default_workspace)
    return _id_page([(ws.id, ws.to_api()) for ws in items], params)


def list_api_keys(org: SimulatedOrg, params: Params) -> dict:
    """Body of GET /v1/organizations/api_keys (filters `status`, `workspace_id`, `created_by_user_id`)."""
    status = _single(params, "status")
    if status is not None and status not in ("active", "inactive", "archived", "expired"):
        raise BadRequest("status: Input should be 'active', 'inactive', 'archived' or 'expired'")
    workspace_id = _single(params, "workspace_id")
    creator = _single(params, "created_by_user_id")
    items = [
        key
        for key in org.api_keys
        if (status is None or key.status == status)
        and (workspace_id is None or key.workspace_id == workspace_id)
        and (creator is None or key.created_by == creator)
    ]
    return _id_page([(key.id, key.to_api()) for key in items], params)


def list_users(org: SimulatedOrg, params: Params) -> dict:
    """Body of GET /v1/organizations/users (optional `email` filter)."""
    email = _single(params, "email")
    return _id_page([(u.id, u.to_api()) for u in org.users if email is None or u.email == email], params)


def get_workspace(org: SimulatedOrg, workspace_id: str) -> dict:
    for ws in [*org.workspaces, org.default_workspace]:
        if ws.id == workspace_id:
            return ws.to_api()
    raise NotFound(f"Workspace {workspace_id} not found.")


def get_api_key(org: SimulatedOrg, api_key_id: str) -> dict:
    for key in org.api_keys:
        if key.id == api_key_id:
            return key.to_api()
    raise NotFound(f"API key {api_key_id} not found.")


def _parse_bool(params: Params, name: str) -> bool:
    raw = _single(params, name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise BadRequest(f"{name}: Input should be a valid boolean")
    return raw.lower() == "true"


def _id_page(items: list[tuple[str, dict]], params: Params) -> dict:
    limit = _parse_limit(params, 20, 1000)
    after_id, before_id = _single(params, "after_id"), _single(params, "before_id")
    if after_id and before_id:
        raise BadRequest("Specify at most one of after_id and before_id.")
    ids = [item_id for item_id, _ in items]
    for name, cursor in (("after_id", after_id), ("before_id", before_id)):
        if cursor and cursor not in ids:
            raise BadRequest(f"{name}: no object with this id in the list")
    if before_id:
        end = ids.index(before_id)
        start = max(0, end - limit)
        has_more = start > 0
    else:
        start = ids.index(after_id) + 1 if after_id else 0
        end = start + limit
        has_more = end < len(items)
    page = items[start:end]
    return {
        "data": [body for _, body in page],
        "first_id": page[0][0] if page else None,
        "last_id": page[-1][0] if page else None,
        "has_more": has_more,
    }
