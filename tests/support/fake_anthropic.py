"""A scriptable stand-in for the Admin API client: no sockets, answers shaped like the client's typed pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from types import SimpleNamespace

from pump_anthropic.domain.allocation import KEY_USAGE_GROUP_BY, KEY_WORKSPACE_GROUP_BY
from pump_anthropic.domain.calendar import day_start

DEFAULT_DAY = "2026-03-01T00:00:00Z"


def cost_row(
    amount_cents: str,
    *,
    workspace_id: str | None = "wrkspc_a",
    model: str = "claude-opus-4-6",
    token_type: str = "output_tokens",
) -> dict:
    return {
        "amount": amount_cents,
        "currency": "USD",
        "workspace_id": workspace_id,
        "description": None,
        "cost_type": "tokens",
        "model": model,
        "token_type": token_type,
        "context_window": "0-200k",
        "service_tier": "standard",
        "inference_geo": "global",
    }


class FakeAdminApi:
    """Records what was asked for. `costs` maps a day to its cost rows (one bucket per day); the usage report by key
    shows the keys in `used`; `failure` (an exception) is raised by every report request, `analytics_failure` by
    the analytics endpoints only (which otherwise answer with no rows)."""

    def __init__(
        self,
        used: Sequence[str] = (),
        listed: Sequence[dict] = (),
        *,
        costs: dict[date, list[dict]] | None = None,
        failure: Exception | None = None,
        organization: tuple[str, str] = ("org_1", "Acme"),
        workspaces: Sequence[tuple[str, str]] = (),
        analytics_failure: Exception | None = None,
    ) -> None:
        self.analytics_failure = analytics_failure
        self.used, self.listed, self.costs, self.failure = list(used), list(listed), costs or {}, failure
        self.organization, self.workspaces = organization, list(workspaces)
        self.asked: list[str] = []
        self.request_count = self.retry_count = 0

    def __enter__(self) -> FakeAdminApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def _answer(self, what: str, results: list) -> list:
        self.asked.append(what)
        self.request_count += 1
        if self.failure is not None:
            raise self.failure
        return results

    def get_organization(self):
        return self._answer("organization", [SimpleNamespace(id=self.organization[0], name=self.organization[1])])[0]

    def _days(self, since, until) -> list[date]:
        days, day = [], since.date()
        while day < until.date():
            days.append(day)
            day += timedelta(days=1)
        return days

    def iter_cost_report(self, since, until, group_by):
        buckets = (
            [
                SimpleNamespace(starting_at=day_start(d).strftime("%Y-%m-%dT%H:%M:%SZ"), results=self.costs.get(d, []))
                for d in self._days(since, until)
            ]
            if self.costs
            else []
        )
        return self._answer("cost", buckets)

    def iter_usage_report(self, since, until, group_by):
        rows = []
        if tuple(group_by) == KEY_USAGE_GROUP_BY:
            rows = [{"api_key_id": k, "model": "m", "output_tokens": 10} for k in self.used]
        if tuple(group_by) == KEY_WORKSPACE_GROUP_BY:
            return self._answer("placement", [SimpleNamespace(starting_at=DEFAULT_DAY, results=[])])
        name = "usage by key" if tuple(group_by) == KEY_USAGE_GROUP_BY else "usage"
        return self._answer(name, [SimpleNamespace(starting_at=DEFAULT_DAY, results=rows)])

    def iter_workspaces(self, include_archived: bool = True, include_default: bool = False):
        listed = [SimpleNamespace(id=ws_id, name=name, archived_at=None) for ws_id, name in self.workspaces]
        if include_default:
            return self._answer("workspaces with default", [SimpleNamespace(id="wrkspc_default"), *listed])
        return self._answer("workspaces", listed)

    def iter_cost_pages(self, query):
        return self._analytics("analytics cost")

    def iter_usage_pages(self, query):
        return self._analytics("analytics usage")

    def _analytics(self, what: str) -> list:
        if self.analytics_failure is not None:
            self.asked.append(what)
            self.request_count += 1
            raise self.analytics_failure
        return self._answer(what, [])

    def list_spend_limits(self):
        return self._answer("spend limits", [])

    def iter_api_keys(self):
        return self._answer("api keys", [SimpleNamespace(model_dump=lambda k=k: dict(k)) for k in self.listed])


class FakeSecrets:
    def __init__(self) -> None:
        self.stored: dict[str, str] = {}
        self.deleted: list[str] = []

    def secret_name(self, connection_id: str) -> str:
        return f"pump/{connection_id}"

    def put(self, connection_id: str, key, *, tags: dict[str, str]) -> str:
        self.stored[self.secret_name(connection_id)] = key.get_secret_value()
        return self.secret_name(connection_id)

    def get(self, name: str):
        from pydantic import SecretStr

        from pump_anthropic.exceptions import SecretNotFoundError

        if name not in self.stored:
            raise SecretNotFoundError("The connection's key is no longer stored; reconnect it.")
        return SecretStr(self.stored[name])

    def delete(self, name: str, **_: object) -> None:
        self.stored.pop(name, None)
        self.deleted.append(name)


class FakeLauncher:
    def __init__(self) -> None:
        self.started: list[dict] = []

    def start(self, **payload) -> str:
        self.started.append(payload)
        return "arn:execution"
