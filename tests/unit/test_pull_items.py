"""Which requests one pull makes: three reports, plus the key list and the placement report only when needed."""

from __future__ import annotations

from datetime import date

from pydantic import SecretStr

from pump_anthropic.domain.allocation import KeyHomes
from pump_anthropic.logic.pull import pull_items
from tests.support.fake_anthropic import FakeAdminApi

HOME = {"id": "k1", "name": "one", "scope": {"type": "workspace", "workspace_id": "wrkspc_a"}}


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
