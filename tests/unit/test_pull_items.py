"""Which requests one pull makes: three reports, plus the key list and the placement report only when needed."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from pydantic import SecretStr

from pump_anthropic.allocation import KEY_USAGE_GROUP_BY, KEY_WORKSPACE_GROUP_BY, KeyHomes
from pump_anthropic.backfill import pull_items

DAY = "2026-03-01T00:00:00Z"
HOME = {"id": "k1", "name": "one", "scope": {"type": "workspace", "workspace_id": "wrkspc_a"}}


class FakeAdminApi:
    """Records what was asked for; the usage report by key shows the keys in `used`."""

    def __init__(self, used: list[str], listed: list[dict]) -> None:
        self.used, self.listed, self.asked = used, listed, []
        self.request_count = self.retry_count = 0

    def __enter__(self) -> FakeAdminApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def _answer(self, what: str, results: list) -> list:
        self.asked.append(what)
        self.request_count += 1
        return results

    def iter_cost_report(self, since, until, group_by):
        return self._answer("cost", [])

    def iter_usage_report(self, since, until, group_by):
        rows = []
        if tuple(group_by) == KEY_USAGE_GROUP_BY:
            rows = [{"api_key_id": k, "model": "m", "output_tokens": 10} for k in self.used]
        if tuple(group_by) == KEY_WORKSPACE_GROUP_BY:
            return self._answer("placement", [SimpleNamespace(starting_at=DAY, results=[])])
        name = "usage by key" if tuple(group_by) == KEY_USAGE_GROUP_BY else "usage"
        return self._answer(name, [SimpleNamespace(starting_at=DAY, results=rows)])

    def iter_workspaces(self):
        return self._answer("workspaces", [])

    def iter_api_keys(self):
        return self._answer("api keys", [SimpleNamespace(model_dump=lambda k=k: dict(k)) for k in self.listed])


def pull(api: FakeAdminApi, homes: KeyHomes, **refresh):
    return pull_items(
        SecretStr("x"), lambda key, deadline: api, None, date(2026, 3, 1), date(2026, 3, 2), key_homes=homes, **refresh
    )


def test_keys_the_list_places_cost_three_requests():
    api = FakeAdminApi(used=["k1"], listed=[HOME])
    pulled = pull(api, KeyHomes.from_api_keys([HOME]), refresh_api_keys_if_unlisted=True)
    assert api.asked == ["cost", "usage", "usage by key"]
    assert pulled.anthropic_requests == 3 and pulled.api_keys is None and pulled.workspaces is None


def test_an_unknown_key_reads_the_key_list_once_and_a_key_it_does_not_show_is_remembered():
    # k2 is used but the stored list doesn't know it, and the fresh list doesn't show it either (deleted)
    api = FakeAdminApi(used=["k1", "k2"], listed=[HOME])
    pulled = pull(api, KeyHomes.from_api_keys([HOME]), refresh_api_keys_if_unlisted=True)
    assert api.asked == ["cost", "usage", "usage by key", "api keys", "placement"]
    assert {k["id"] for k in pulled.api_keys} == {"k1", "k2"}

    # The next pull knows k2 is not in the list: no key-list read, the placement report places it
    api.asked.clear()
    pull(api, pulled.key_homes, refresh_api_keys_if_unlisted=True)
    assert api.asked == ["cost", "usage", "usage by key", "placement"]


def test_the_backfill_never_reads_the_key_list_for_an_unknown_key():
    api = FakeAdminApi(used=["k2"], listed=[HOME])
    pull(api, KeyHomes.from_api_keys([HOME]))
    assert api.asked == ["cost", "usage", "usage by key", "placement"]


def test_names_are_read_when_asked():
    api = FakeAdminApi(used=[], listed=[HOME])
    pulled = pull(api, KeyHomes(), refresh_workspaces=True, refresh_api_keys=True)
    assert api.asked == ["cost", "usage", "usage by key", "workspaces", "api keys"]
    assert pulled.workspaces == [] and pulled.api_keys == [HOME]
