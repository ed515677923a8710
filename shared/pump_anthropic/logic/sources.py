"""Which Anthropic API a day's cost is read from, and the pull of a window across both.

`auto` reads the days the Usage and Cost Analytics API covers (from 2026-01-01, within its last 365 days) from it,
and earlier days from the legacy reports. If the analytics API refuses the key or the beta (a 4xx other than 429),
those days are read from the legacy reports instead and the day says why, so no day is ever left out. `analytics`
treats that refusal as an error; `legacy` never asks the analytics API.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pydantic import SecretStr

from pump_anthropic.clock import utc_now
from pump_anthropic.domain import analytics_days, day_docs
from pump_anthropic.domain.allocation import KeyHomes, unlisted_key
from pump_anthropic.domain.analytics_plan import HISTORY_FLOOR, RETENTION, AnalyticsPlan, Endpoint, plan
from pump_anthropic.domain.calendar import day_runs, day_start
from pump_anthropic.exceptions import AdminApiError
from pump_anthropic.logic.pull import ClientFactory, fetch_api_keys, fetch_workspaces, pull_items
from pump_anthropic.logic.storage import Storage

logger = logging.getLogger(__name__)

AUTO, LEGACY, ANALYTICS = "auto", "legacy", "analytics"


@dataclass(frozen=True)
class SourceRange:
    source: str
    first_day: date
    last_day: date
    reason: str | None = None  # why legacy days the analytics API should have served came from the legacy reports

    def as_dict(self) -> dict:
        body = {"source": self.source, "from": self.first_day.isoformat(), "to": self.last_day.isoformat()}
        return {**body, "reason": self.reason} if self.reason else body


@dataclass
class PulledDays:
    days: dict[date, dict[str, list]]
    sources: list[SourceRange]
    key_homes: KeyHomes
    workspaces: list[tuple[str, str, bool]] | None = None
    api_keys: list[dict] | None = None
    default_workspace_id: str | None = None
    data_refreshed_at: datetime | None = None
    anthropic_requests: int = 0
    anthropic_retries: int = 0
    requests_by_query_set: dict[str, int] = field(default_factory=dict)


def analytics_first_day(now: datetime) -> date:
    """The first whole UTC day the analytics API serves: its history floor, or its 365-day reach."""
    reach = (now - RETENTION).date() + timedelta(days=1)
    return max(HISTORY_FLOOR.date(), reach)


def pull_days(
    key: SecretStr,
    client_factory: ClientFactory,
    deadline: float | None,
    start: date,
    end: date,
    *,
    source: str,
    now: datetime,
    key_homes: KeyHomes,
    known_workspace_ids: set[str] | None = None,
    default_workspace_id: str | None = None,
    refresh_workspaces: bool = False,
    refresh_api_keys: bool = False,
    refresh_api_keys_if_unlisted: bool = False,
) -> PulledDays:
    """Every day of [start, end) with spend, as its stored projections, each read from the source the setting and
    the analytics API's reach pick (end may be tomorrow: today is then read as far as Anthropic has it)."""
    if source not in (AUTO, LEGACY, ANALYTICS):
        raise ValueError(f"unknown cost source {source!r}")
    pulled = PulledDays({}, [], key_homes, default_workspace_id=default_workspace_id)
    names = _NamesDue(refresh_workspaces, refresh_api_keys, refresh_api_keys_if_unlisted)
    legacy_end = end if source == LEGACY else min(max(start, analytics_first_day(now)), end)
    fallback_from, reason = legacy_end, None
    if legacy_end < end:
        try:
            _pull_analytics(pulled, key, client_factory, deadline, legacy_end, end, now, known_workspace_ids, names)
        except AdminApiError as exc:
            if source != AUTO or not refuses_analytics(exc):
                raise
            logger.warning("analytics API refused; reading the legacy reports", extra={"status": exc.status})
            what = (
                "could not report these days at our query's grain"
                if exc.code in REPORT_LIMIT_CODES
                else "refused this key or its beta"
            )
            reason = (
                f"The analytics API {what} (HTTP {exc.status}, {exc.code}), so these days were read from the legacy "
                "reports."
            )
            pulled.days, pulled.sources, legacy_end = {}, [], end
    if start < legacy_end:
        _pull_legacy(pulled, key, client_factory, deadline, start, legacy_end, names)
        if fallback_from > start:
            pulled.sources.append(SourceRange(LEGACY, start, min(fallback_from, legacy_end) - timedelta(days=1)))
        if legacy_end > fallback_from:
            pulled.sources.append(SourceRange(LEGACY, fallback_from, legacy_end - timedelta(days=1), reason))
            for day, projections in pulled.days.items():
                if day >= fallback_from:
                    projections[day_docs.SOURCE] = [[day_docs.LEGACY, reason]]
    pulled.sources.sort(key=lambda r: r.first_day)
    return pulled


@dataclass
class _NamesDue:
    """Which name lists this pull still has to read (the first client that can read them does)."""

    workspaces: bool
    api_keys: bool
    api_keys_if_unlisted: bool


def _pull_legacy(
    pulled: PulledDays,
    key: SecretStr,
    client_factory: ClientFactory,
    deadline: float | None,
    start: date,
    end: date,
    names: _NamesDue,
) -> None:
    legacy = pull_items(
        key,
        client_factory,
        deadline,
        start,
        end,
        key_homes=pulled.key_homes,
        refresh_workspaces=names.workspaces,
        refresh_api_keys=names.api_keys,
        refresh_api_keys_if_unlisted=names.api_keys_if_unlisted,
    )
    items, shares = defaultdict(list), defaultdict(list)
    for item in legacy.items:
        items[item.date].append(item)
    for share in legacy.key_shares:
        shares[share.item.date].append(share)
    for day in set(items) | set(shares):
        if start <= day < end:
            pulled.days[day] = day_docs.legacy_day(items[day], shares[day])
    pulled.key_homes = legacy.key_homes
    pulled.workspaces = legacy.workspaces if legacy.workspaces is not None else pulled.workspaces
    pulled.api_keys = legacy.api_keys if legacy.api_keys is not None else pulled.api_keys
    pulled.anthropic_requests += legacy.anthropic_requests
    pulled.anthropic_retries += legacy.anthropic_retries
    pulled.requests_by_query_set["legacy"] = pulled.requests_by_query_set.get("legacy", 0) + legacy.anthropic_requests


def _pull_analytics(
    pulled: PulledDays,
    key: SecretStr,
    client_factory: ClientFactory,
    deadline: float | None,
    start: date,
    end: date,
    now: datetime,
    known_workspace_ids: set[str] | None,
    names: _NamesDue,
) -> None:
    counts = pulled.requests_by_query_set
    rows: dict[str, list] = defaultdict(list)
    with client_factory(key, deadline) as client:
        try:
            if pulled.default_workspace_id is None:
                pulled.default_workspace_id = discover_default_workspace(client, known_workspace_ids)
                counts["names"] = counts.get("names", 0) + client.request_count
            for planned in analytics_plan(start, end, now).queries:
                before = client.request_count
                pages = (
                    client.iter_cost_pages(planned.query)
                    if planned.endpoint is Endpoint.COST
                    else client.iter_usage_pages(planned.query)
                )
                for page in pages:
                    for served in planned.serves:
                        rows[served] += page.data
                    pulled.data_refreshed_at = _earliest(pulled.data_refreshed_at, page.data_refreshed_at)
                name = ",".join(planned.serves)
                counts[name] = counts.get(name, 0) + client.request_count - before
            before = client.request_count
            _refresh_names(pulled, client, names, rows[analytics_days.WHO.name])
            if client.request_count > before:
                counts["names"] = counts.get("names", 0) + client.request_count - before
        finally:
            pulled.anthropic_requests += client.request_count
            pulled.anthropic_retries += client.retry_count
    default = pulled.default_workspace_id
    items = analytics_days.price_items(rows[analytics_days.PRICE.name], rows[analytics_days.PRICE_USAGE.name], default)
    who = analytics_days.who_projections(rows[analytics_days.WHO.name], default, items)
    by_day = defaultdict(list)
    for item in items:
        by_day[item.date].append(item)
    for day in set(by_day) | set(who):
        if start <= day < end:
            pulled.days[day] = day_docs.analytics_day(by_day[day], who.get(day))
    pulled.sources.append(SourceRange(ANALYTICS, start, end - timedelta(days=1)))


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def analytics_plan(start: date, end: date, now: datetime) -> AnalyticsPlan:
    """The analytics queries serving the connector's query sets over [start, end), daily buckets."""
    return plan(day_start(start), day_start(end), analytics_days.QUERY_SETS, now=now)


def _refresh_names(pulled: PulledDays, client: object, names: _NamesDue, who_rows: list) -> None:
    if names.workspaces:
        pulled.workspaces = fetch_workspaces(client)
        names.workspaces = False
    used = {row.group.api_key_id for row in who_rows if row.group.api_key_id}
    if names.api_keys or (names.api_keys_if_unlisted and pulled.key_homes.unlisted(used)):
        api_keys = fetch_api_keys(client)
        api_keys += [unlisted_key(k) for k in sorted(KeyHomes.from_api_keys(api_keys).unlisted(used))]
        pulled.api_keys = api_keys
        pulled.key_homes = KeyHomes.from_api_keys(api_keys)
        names.api_keys = names.api_keys_if_unlisted = False


def discover_default_workspace(client: object, known_workspace_ids: set[str] | None) -> str | None:
    """The Default workspace's tagged id: the one the list shows only with `include_default` (None: the org has none
    there, as on Enterprise orgs, whose default workspace the analytics API reports as null)."""
    with_default = [w.id for w in client.iter_workspaces(include_default=True)]
    extra = [w for w in with_default if w not in (known_workspace_ids or set())]
    if len(extra) != 1 or known_workspace_ids is None:
        listed = {w.id for w in client.iter_workspaces()}
        extra = [w for w in with_default if w not in listed]
    return extra[0] if len(extra) == 1 else None


def pull_connection_days(
    storage: Storage,
    tenant_id: str,
    connection_id: str,
    key: SecretStr,
    client_factory: ClientFactory,
    deadline: float | None,
    start: date,
    end: date,
    *,
    source: str,
    refresh_workspaces: bool = False,
    refresh_api_keys: bool = False,
    refresh_api_keys_if_unlisted: bool = False,
) -> PulledDays:
    """`pull_days` for a stored connection: what the directory knows goes in, what the pull learned is kept."""
    default_workspace = storage.directory.default_workspace(tenant_id, connection_id)
    pulled = pull_days(
        key,
        client_factory,
        deadline,
        start,
        end,
        source=source,
        now=utc_now(),
        key_homes=KeyHomes.from_api_keys(storage.directory.api_keys(tenant_id, connection_id)),
        known_workspace_ids=set(storage.directory.workspace_names(tenant_id, [connection_id])),
        default_workspace_id=default_workspace,
        refresh_workspaces=refresh_workspaces,
        refresh_api_keys=refresh_api_keys,
        refresh_api_keys_if_unlisted=refresh_api_keys_if_unlisted,
    )
    if pulled.default_workspace_id and pulled.default_workspace_id != default_workspace:
        storage.directory.put_default_workspace(tenant_id, connection_id, pulled.default_workspace_id)
    if pulled.workspaces is not None:
        storage.directory.put_workspaces(tenant_id, connection_id, pulled.workspaces)
    if pulled.api_keys is not None:
        storage.directory.put_api_keys(tenant_id, connection_id, pulled.api_keys)
    return pulled


def coverage_of(pulled: PulledDays) -> dict:
    """What a chunk or sync records of its sources: the day ranges per API and the analytics data watermark."""
    refreshed = pulled.data_refreshed_at
    return {
        "sources": [r.as_dict() for r in pulled.sources],
        "data_refreshed_at": refreshed.strftime("%Y-%m-%dT%H:%M:%SZ") if refreshed else None,
    }


def source_coverage(ranges: list[dict]) -> list[dict]:
    """Recorded source ranges (oldest record first; a later record of a day wins) merged into consecutive runs of
    one source and reason, oldest first."""
    by_day: dict[date, tuple[str, str | None]] = {}
    for entry in ranges:
        day, last = date.fromisoformat(entry["from"]), date.fromisoformat(entry["to"])
        while day <= last:
            by_day[day] = (entry["source"], entry.get("reason"))
            day += timedelta(days=1)
    days_of: dict[tuple[str, str | None], list[date]] = defaultdict(list)
    for day, kind in by_day.items():
        days_of[kind].append(day)
    runs = [SourceRange(source, *run, reason) for (source, reason), days in days_of.items() for run in day_runs(days)]
    return [r.as_dict() for r in sorted(runs, key=lambda r: r.first_day)]


# The analytics report's own limits (a page or a day too large even after the client lowered its limit and split its
# range): the days still come from the legacy reports, and the reason says why.
REPORT_LIMIT_CODES = frozenset({"anthropic_report_page_too_large", "anthropic_too_many_report_groups"})


def refuses_analytics(exc: AdminApiError) -> bool:
    """A refusal of the key or the beta: any 4xx but 429 (rate limits are waited out, never fallen back from)."""
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429 and not exc.retriable
