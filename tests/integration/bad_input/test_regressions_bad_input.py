"""Regressions the bad-input properties found (all fixed), kept as plain examples."""

from __future__ import annotations

import json

import pytest

from anthropic_simulator import DEMO_ADMIN_KEY
from tests.support.bad_input import check_response, error_code, writes
from tests.support.bad_input_world import BAD_INPUT_MARKS, TENANT_A

pytestmark = BAD_INPUT_MARKS


@pytest.mark.parametrize(
    "method,target,body,code",
    [
        pytest.param(
            "POST",
            "/integrations/anthropic",
            json.dumps({"admin_key": "sk-ant-admin٠١-" + "a" * 93 + "AA"}),
            "invalid_key_format",
            id="non-ASCII version digits passed the key shape check, then broke the header encoding (500)",
        ),
        pytest.param(
            "POST",
            "/integrations/anthropic",
            json.dumps([{"admin_key": DEMO_ADMIN_KEY}]),
            "invalid_request",
            id="a JSON array holding the body connected (Powertools validates its first element)",
        ),
        pytest.param(
            "GET", "/costs?to=0001-01-15", None, "invalid_query", id="a 'to' near year 1 overflowed the range (500)"
        ),
        pytest.param(
            "GET",
            "/costs/export?from=9999-12-01&to=9999-12-31",
            None,
            "invalid_query",
            id="an export reaching 9999-12 overflowed the month walk for a tenant with a connection (500)",
        ),
        pytest.param(
            "GET", "/costs?from=2026-W01-1&to=2026-W02-1", None, "invalid_query", id="ISO week dates were accepted"
        ),
    ],
)
def test_regressions_found_by_the_properties(world, method, target, body, code):
    # As tenant A on purpose (the export case needs a tenant with a connection): none of these may store anything.
    with world.recorder.recording() as calls:
        response = world.api.request(method, target, body=body, tenant=TENANT_A)
    check_response(response, (DEMO_ADMIN_KEY,))
    assert (response.status, error_code(response)) == (400, code), response.body
    assert not writes(calls)


def test_regression_group_by_never_echoes_a_pasted_key(world):
    key = "sk-ant-admin01-" + "Q" * 93 + "AA"
    response = world.send("GET", "/costs", query=f"group_by=date,{key}", secrets=(key,))
    assert (response.status, error_code(response)) == (400, "invalid_query")
