"""Bodies of GET /v1/organizations/analytics/{usage,cost}: aggregation, ranking, row pagination, fan-out.

Pure functions of (analytics data, parameters, settings, the org's clock), so they run without sockets. The
ranked base rows of a query are cached (per refresh watermark and restatement generation), so walking its pages
costs one aggregation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, localcontext

from anthropic_simulator.analytics_data import (
    CODE_SECONDS,
    COST_COMPONENTS,
    REQUESTS,
    SESSION_SECONDS,
    TOKEN_METRIC_INDEX,
    WEB_SEARCH,
    AnalyticsData,
    Dims,
)
from anthropic_simulator.analytics_params import (
    COST_DIMENSIONS,
    USAGE_DIMENSIONS,
    WIDTHS,
    AnalyticsQuery,
    ReportError,
    buckets,
    encode_cursor,
    parse_query,
)
from anthropic_simulator.analytics_settings import (
    CODE_EXECUTION_CENTS_PER_SECOND,
    SESSION_CENTS_PER_SECOND,
    TOKEN_TYPES,
    AnalyticsSettings,
    token_prices,
    web_search_prices,
)
from anthropic_simulator.org import MINUTES_PER_DAY
from anthropic_simulator.reports import Params

_MINUTE = timedelta(minutes=1)
_ALWAYS_NULL = frozenset(
    {"claude_tag_category", "claude_tag_user_id", "organization_id", "rbac_group_id", "slack_channel_id"}
    | {"user_profile_id"}
)
_USAGE_METRIC = {"total_tokens": None, "output_tokens": 4, "uncached_input_tokens": 0, "requests": REQUESTS}
_CACHE_SIZE = 8
_CACHE_ROWS = 200_000  # minute buckets can make large results; keep the cache's memory bounded


@dataclass
class _Acc:
    metrics: list[int] = field(default_factory=lambda: [0] * 9)
    classes: dict[tuple, list[int]] = field(default_factory=dict)  # (pricing class, price factor) -> 5 tokens, searches


@dataclass(frozen=True)
class BaseRow:
    """One (bucket, combination) row before fan-out: what `limit` counts."""

    start: datetime
    end: datetime
    key: tuple
    metrics: tuple[int, ...]
    components: dict[tuple[str, str | None], tuple[Decimal, Decimal]]
    amount: Decimal
    list_amount: Decimal


class AnalyticsReports:
    """The two analytics endpoints over one `AnalyticsData`."""

    def __init__(self, data: AnalyticsData) -> None:
        self.data = data
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, list[BaseRow]] = OrderedDict()

    def watermark(self, settings: AnalyticsSettings) -> datetime:
        """`data_refreshed_at`: everything before it is loaded; nothing after it is served."""
        moment = self.data.org.now().astimezone(UTC) - settings.refresh_lag
        return moment.replace(second=0, microsecond=0)

    def report(self, kind: str, params: Params, settings: AnalyticsSettings) -> dict:
        """Response body of the `kind` ("usage" or "cost") endpoint; raises reports.BadRequest."""
        now = self.data.org.now().astimezone(UTC)
        query = parse_query(kind, params, now, settings)
        watermark = self.watermark(settings)
        ranked = self.ranked(query, settings, watermark)
        if settings.max_report_groups is not None:
            self._check_groups(query, settings, watermark, ranked)
        page = ranked[query.offset : query.offset + query.limit]
        has_more = query.offset + query.limit < len(ranked)
        if query.exclude_deleted_users:
            position = query.group_by.index("actor")
            page = [row for row in page if not (row.key[position] is not None and row.key[position].deleted)]
        data = [item for row in page for item in _render(row, query, settings)]
        if settings.max_page_rows is not None and len(data) > settings.max_page_rows:
            raise ReportError(
                f"The requested page of the report has more usage than one page can hold ({len(data)} rows; at most "
                f"{settings.max_page_rows}). Send a lower `limit` and page through the rest.",
                "report_page_too_large",
            )
        body: dict = {
            "data": data,
            "has_more": has_more,
            "next_page": encode_cursor(query.offset + query.limit, kind, query.fingerprint) if has_more else None,
            "data_refreshed_at": _rfc3339(watermark),
        }
        if not has_more and settings.next_page_on_last_page == "absent":
            del body["next_page"]
        if settings.include_organization_id:
            body["organization_id"] = self.data.org.id
        return body

    def ranked(self, query: AnalyticsQuery, settings: AnalyticsSettings, watermark: datetime) -> list[BaseRow]:
        """Every base row of `query` (all pages) in response order."""
        periods = buckets(query, settings.bucket_alignment)
        days = _days(periods[0][0], periods[-1][1]) if periods else []
        generations = tuple(self.data.org.version(day) for day in days)
        key = (replace(query, offset=0, limit=0, fingerprint=""), watermark, generations, settings)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        rows = _rank(self._aggregate(query, settings, watermark, periods), query)
        with self._lock:
            self._cache[key] = rows
            while len(self._cache) > 1 and (
                len(self._cache) > _CACHE_SIZE or sum(map(len, self._cache.values())) > _CACHE_ROWS
            ):
                self._cache.popitem(last=False)
        return rows

    def _check_groups(
        self, query: AnalyticsQuery, settings: AnalyticsSettings, watermark: datetime, ranked: list[BaseRow]
    ) -> None:
        """400 too_many_report_groups when the query (or one UTC day of it) has more groups than the setting."""
        cap = settings.max_report_groups
        assert cap is not None
        if settings.report_groups_scope == "query":
            count = len({row.key for row in ranked})
            if count > cap:
                raise ReportError(
                    f"This report has usage in {count} groups; a report can return at most {cap}. Query a shorter "
                    "range or group by fewer dimensions.",
                    "too_many_report_groups",
                )
            return
        # Per UTC day: bucketed rows sit inside one day each; an unbucketed query is counted from its hours.
        rows = (
            ranked if query.width is not None else self.ranked(replace(query, width=WIDTHS["1h"]), settings, watermark)
        )
        per_day: dict = {}
        for row in rows:
            per_day.setdefault(row.start.date(), set()).add(row.key)
        crowded = sorted((day, len(keys)) for day, keys in per_day.items() if len(keys) > cap)
        if crowded:
            day, count = crowded[0]
            raise ReportError(
                f"A day in the report ({day}) has usage in {count} groups, more than the {cap} a report can return "
                "per day. Group by fewer dimensions, or narrow the query with filters.",
                "too_many_report_groups",
            )

    def _aggregate(
        self, query: AnalyticsQuery, settings: AnalyticsSettings, watermark: datetime, periods: list
    ) -> list[BaseRow]:
        memo: dict[int, tuple] = {}  # id(dims) -> (dims kept alive, (group key, pricing class) or None)
        out = []
        for start, end in periods:
            groups: dict[tuple, _Acc] = {}
            for day, day_rows in self._slices(start, min(end, watermark)):
                factors: dict[str, Decimal] = {}  # a price change's factor per model on this day
                for dims, metrics in day_rows:
                    seen = memo.get(id(dims))
                    if seen is None:
                        seen = memo[id(dims)] = (dims, _classify(dims, query, settings))
                    if seen[1] is None:
                        continue
                    group, pricing = seen[1]
                    acc = groups.get(group)
                    if acc is None:
                        acc = groups[group] = _Acc()
                    totals = acc.metrics
                    for i, value in enumerate(metrics):
                        totals[i] += value
                    if pricing is not None:
                        factor = factors.get(pricing[0])
                        if factor is None:
                            factor = factors[pricing[0]] = self.data.org.price_factor(pricing[0], day)
                        counts = acc.classes.get((pricing, factor))
                        if counts is None:
                            counts = acc.classes[(pricing, factor)] = [0] * 6
                        for i, index in enumerate(TOKEN_METRIC_INDEX):
                            counts[i] += metrics[index]
                        counts[5] += metrics[WEB_SEARCH]
            for group, acc in groups.items():
                row = _base_row(start, end, group, acc, query.kind, settings)
                if row is not None:
                    out.append(row)
        return out

    def _slices(self, start: datetime, end: datetime):
        day = start.date()
        while end > start and datetime.combine(day, time(), UTC) < end:
            midnight = datetime.combine(day, time(), UTC)
            first = max(0, (start - midnight) // _MINUTE)
            last = min(MINUTES_PER_DAY, (end - midnight) // _MINUTE)
            yield day, self.data.rows_between(day, first, last)
            day += timedelta(days=1)


def _classify(dims: Dims, query: AnalyticsQuery, settings: AnalyticsSettings) -> tuple | None:
    for dimension, allowed in query.filters:
        if dimension == "actor":
            actor = dims.actor
            if actor is None or actor.body is None or actor.id not in allowed:
                return None
        elif _value(dims, dimension, settings) not in allowed:
            return None
    group = tuple(_value(dims, dimension, settings) for dimension in query.group_by)
    pricing = None
    if dims.model is not None:
        pricing = (dims.model, dims.service_tier, dims.context_window, dims.inference_geo, dims.speed)
    return group, pricing


def _value(dims: Dims, dimension: str, settings: AnalyticsSettings):
    if dimension == "actor":
        return dims.actor
    if dimension == "actor_type":
        return dims.actor.type if dims.actor else None
    if dimension == "model":
        return settings.model_name(dims.model)
    if dimension in _ALWAYS_NULL:
        return None
    return getattr(dims, dimension)


def _base_row(
    start: datetime, end: datetime, group: tuple, acc: _Acc, kind: str, settings: AnalyticsSettings
) -> BaseRow | None:
    metrics = tuple(acc.metrics)
    if kind == "usage":
        if not any(metrics[: REQUESTS + 1]):
            return None
        return BaseRow(start, end, group, metrics, {}, Decimal(0), Decimal(0))
    components = _components(acc, settings)
    if not components:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        amount = sum((a for a, _ in components.values()), Decimal(0))
        listed = sum((li for _, li in components.values()), Decimal(0))
    return BaseRow(start, end, group, metrics, components, amount, listed)


def _components(acc: _Acc, settings: AnalyticsSettings) -> dict[tuple[str, str | None], tuple[Decimal, Decimal]]:
    totals = {component: [Decimal(0), Decimal(0)] for component in COST_COMPONENTS}
    with localcontext() as ctx:
        ctx.prec = 60
        for ((model, tier, context_window, geo, speed), factor), counts in acc.classes.items():
            units, lists = token_prices(settings, model, tier, context_window, geo, speed)
            for i, token_type in enumerate(TOKEN_TYPES):
                if counts[i]:
                    total = totals[("tokens", token_type)]
                    total[0] += counts[i] * units[i] * factor
                    total[1] += counts[i] * lists[i] * factor
            if counts[5]:
                unit, listed = web_search_prices(settings, tier)
                totals[("web_search", None)][0] += counts[5] * unit
                totals[("web_search", None)][1] += counts[5] * listed
        for component, seconds, price in (
            (("code_execution", None), acc.metrics[CODE_SECONDS], CODE_EXECUTION_CENTS_PER_SECOND),
            (("session_usage", None), acc.metrics[SESSION_SECONDS], SESSION_CENTS_PER_SECOND),
        ):
            totals[component][0] += seconds * price
            totals[component][1] += seconds * price
    return {component: (a, li) for component, (a, li) in totals.items() if a or li}


def _metric(row: BaseRow, order_by: str) -> int | Decimal:
    if order_by == "amount":
        return row.amount
    if order_by == "list_amount":
        return row.list_amount
    index = _USAGE_METRIC[order_by]
    return sum(row.metrics[:5]) if index is None else row.metrics[index]


def _rank(rows: list[BaseRow], query: AnalyticsQuery) -> list[BaseRow]:
    # Stable sorts, least significant first: the canonical key breaks every tie, so pages never shift.
    rows = sorted(rows, key=lambda r: (r.start, tuple((v is not None, _text(v)) for v in r.key)))
    default = "total_tokens" if query.kind == "usage" else "amount"
    if query.order_by == "time" and query.width is not None:
        rows.sort(key=lambda r: _metric(r, default), reverse=True)
        rows.sort(key=lambda r: r.start, reverse=query.order == "desc")
        return rows
    metric = default if query.order_by == "time" else query.order_by
    rows.sort(key=lambda r: _metric(r, metric), reverse=query.order == "desc")
    return rows


def _text(value: object) -> str:
    return getattr(value, "id", None) or str(value)


def _render(row: BaseRow, query: AnalyticsQuery, settings: AnalyticsSettings) -> list[dict]:
    names = USAGE_DIMENSIONS if query.kind == "usage" else COST_DIMENSIONS
    group: dict = dict.fromkeys(names)
    for dimension, value in zip(query.group_by, row.key, strict=True):
        group[dimension] = value.to_api() if dimension == "actor" and value is not None else value
    head = {"starting_at": _rfc3339(row.start), "ending_at": _rfc3339(row.end)}
    m = row.metrics
    if query.kind == "usage":
        usage = {
            "uncached_input_tokens": m[0],
            "cache_creation": {"ephemeral_1h_input_tokens": m[2], "ephemeral_5m_input_tokens": m[1]},
            "cache_read_input_tokens": m[3],
            "output_tokens": m[4],
            "server_tool_use": {"web_search_requests": m[WEB_SEARCH]},
            "total_tokens": sum(m[:5]),
            "requests": m[REQUESTS],
        }
        return [{**head, "group": group, "usage": usage}]
    if not (query.cost_type or query.token_type):
        return [{**head, "group": group, "cost": _cost(row.amount, row.list_amount, m[REQUESTS], settings)}]
    items = []
    for (cost_type, token_type), (amount, listed) in _fan_out(row, query, settings):
        fanned = {**group, "cost_type": cost_type, "token_type": token_type}
        items.append({**head, "group": fanned, "cost": _cost(amount, listed, None, settings)})
    return items


def _fan_out(row: BaseRow, query: AnalyticsQuery, settings: AnalyticsSettings) -> list[tuple]:
    components = dict(row.components)
    if not query.token_type:
        tokens = [components.pop(("tokens", t)) for t in TOKEN_TYPES if ("tokens", t) in components]
        if tokens:
            components[("tokens", None)] = (sum(a for a, _ in tokens), sum(li for _, li in tokens))
    elif not query.cost_type and settings.token_type_alone == "tokens_only":
        components = {c: v for c, v in components.items() if c[0] == "tokens"}
    order = [*COST_COMPONENTS, ("tokens", None)]
    return sorted(components.items(), key=lambda item: (-item[1][0], order.index(item[0])))


def _cost(amount: Decimal, listed: Decimal, requests: int | None, settings: AnalyticsSettings) -> dict:
    return {
        "amount": settings.format_amount(amount),
        "list_amount": settings.format_amount(listed),
        "currency": "USD",
        "requests": requests,
    }


def _days(start: datetime, end: datetime) -> list:
    first, last = start.date(), (end - _MINUTE).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
