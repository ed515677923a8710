"""Tenants: whoever tenant B is, tenant A's connection is not found on any route and none of A's costs show; a
request without valid claims never reaches AWS."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from anthropic_simulator import DEMO_ADMIN_KEY
from tests.support.bad_input import error_code
from tests.support.bad_input_strategies import (
    CONNECTION_ROUTES,
    DIMENSIONS,
    EMPTY_TOTAL,
    MAX_RANGE_DAYS,
    combinable,
    invalid_tenants,
    junk_queries,
    key_like,
    other_tenants,
    purge_param,
)
from tests.support.bad_input_world import BAD_INPUT_MARKS, TENANT_A, examples, valid_tenant

pytestmark = BAD_INPUT_MARKS


@examples(320)
@given(
    tenant=st.one_of(other_tenants, st.sampled_from(["#CONN#", "#ROLLUP", "#CONN#{id}", "#CONN#{id}#SYNC"])),
    purge=st.sampled_from([None, "true", "false", "1", "0"]),
    # Not by hour: a tenant without hours gets 400 no_hourly_data, whoever else has some (test_hourly_cost.py).
    group_by=st.lists(
        st.sampled_from([d for d in DIMENSIONS if d != "hour"]), min_size=1, max_size=4, unique=True
    ).filter(combinable),
    back=st.integers(0, MAX_RANGE_DAYS - 1),
)
def test_other_tenants_get_404_for_tenant_a_connection_and_none_of_its_costs(world, tenant, purge, group_by, back):
    tenant = TENANT_A + tenant.replace("{id}", world.connection_id) if tenant.startswith("#") else tenant
    assume(valid_tenant(tenant) and tenant != TENANT_A)
    base = f"/integrations/anthropic/{world.connection_id}"
    for method, suffix in CONNECTION_ROUTES:
        query = purge_param(purge) if method == "DELETE" else None
        response = world.send(method, base + suffix, query=query, tenant=tenant)
        assert (response.status, error_code(response)) == (404, "not_found"), f"{method} {suffix}: {response.body}"
    assert world.send("GET", "/integrations/anthropic", tenant=tenant).json() == {"connections": []}
    window = f"from={world.today - timedelta(days=back)}&to={world.today}"
    report = world.send("GET", "/costs", query=f"{window}&group_by={','.join(group_by)}", tenant=tenant).json()
    assert "Query" in world.last_calls, "the report did not read the table (is the AWS call recorder working?)"
    assert report["rows"] == [] and report["total"] == EMPTY_TOTAL, "tenant B saw A's costs"
    export = world.send("GET", "/costs/export", query=window, tenant=tenant)
    assert export.status == 200 and len(export.body.strip().splitlines()) == 1, "tenant B's export holds A's rows"


@examples(700)
@given(
    route=st.sampled_from(
        [
            ("POST", "/integrations/anthropic"),
            ("GET", "/integrations/anthropic"),
            ("GET", "/integrations/anthropic/{id}"),
            ("DELETE", "/integrations/anthropic/{id}"),
            ("POST", "/integrations/anthropic/{id}/sync"),
            ("POST", "/integrations/anthropic/{id}/backfill"),
            ("GET", "/costs"),
            ("GET", "/costs/export"),
            ("GET", "/openapi.json"),
        ]
    ),
    own_id=st.booleans(),
    key=st.one_of(st.just(DEMO_ADMIN_KEY), key_like),
    junk=st.one_of(st.none(), junk_queries),
    claims=st.one_of(st.none(), invalid_tenants),
)
def test_requests_without_valid_claims_never_reach_aws(world, route, own_id, key, junk, claims):
    method, template = route
    connection_id = world.connection_id if own_id else "conn_00000000000000000000"
    path = template.replace("{id}", connection_id)
    body = json.dumps({"admin_key": key}) if method == "POST" and template.endswith("anthropic") else None
    # world.send asserts that no AWS call at all was made
    if claims is None:
        response = world.send(method, path, query=junk, body=body, anonymous=True, secrets=(key,))
    else:
        response = world.send(method, path, query=junk, body=body, tenant=claims, secrets=(key,))
    expected = (200, None) if path == "/openapi.json" else (401, "unauthorized")
    assert (response.status, error_code(response)) == expected, response.body[:300]
