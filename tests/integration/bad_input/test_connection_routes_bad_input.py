"""/integrations/anthropic/{id} (GET, DELETE, POST sync, POST backfill) with unknown, malformed and foreign ids, odd
purge values, query strings and bodies; and the listing, which shows no other tenant's connections."""

from __future__ import annotations

import re
from urllib.parse import quote

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.support.bad_input import error_code
from tests.support.bad_input_strategies import (
    CONNECTION_ROUTES,
    ID_ALPHABET,
    content_types,
    headers_for,
    invalid_tenants,
    join_query,
    junk_queries,
    other_tenants,
    purge_param,
    text,
    well_formed_ids,
)
from tests.support.bad_input_world import BAD_INPUT_MARKS, examples, valid_tenant

pytestmark = BAD_INPUT_MARKS


CONNECTION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# No lone surrogates: a URL is bytes on the wire, and a surrogate has no UTF-8 form to percent-encode.
outside_id_alphabet = st.characters(exclude_characters=ID_ALPHABET + "/?#\t\r\n", exclude_categories=("Cs",))
url_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
malformed_ids = st.one_of(
    st.text(ID_ALPHABET, min_size=65, max_size=300),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=20), outside_id_alphabet, st.text(max_size=20)),
    st.builds(lambda a, c, b: quote(a + c + b, safe=""), url_text, outside_id_alphabet, url_text),
    st.builds(lambda c, n: c * n, st.sampled_from("a-é🔑%.\x00"), st.sampled_from([65, 1_000, 100_000])),
    st.sampled_from(
        [".", "..", "%2F", "%2e%2e", "a%20b", "a b", "a;b", "a,b", "a:b", "(a)", "a*", "~", "$x", "[1]", "😀"]
    ),
).filter(lambda s: not CONNECTION_ID.fullmatch(s))
purge_values = st.one_of(
    st.none(),
    st.sampled_from(["true", "false", "1", "0"]),
    st.sampled_from(["", "maybe", "2", "-1", "truee", "null", "true,false", "[true]", "True ", "✓"]),
    text,
)


@examples(2_600)
@given(
    route=st.sampled_from(CONNECTION_ROUTES),
    data=st.data(),
    purge=purge_values,
    junk=st.one_of(st.none(), junk_queries),
    body=st.one_of(
        st.none(),
        st.text(max_size=100),
        st.binary(max_size=100),
        st.just('{"admin_key": 1}'),
        st.builds(lambda c, n: c * n, st.sampled_from(["[", "a", "é"]), st.sampled_from([100_000, 1_000_000])),
    ),
    content_type=content_types,
    tenant=st.one_of(st.just("tenant-b"), other_tenants, invalid_tenants),
)
def test_connection_routes_answer_404_or_400_for_unknown_and_malformed_ids(
    world, route, data, purge, junk, body, content_type, tenant
):
    method, suffix = route
    kind = data.draw(st.sampled_from(["unknown", "malformed", "tenant A's"]), label="id kind")
    connection_id = {
        "unknown": lambda: data.draw(well_formed_ids.filter(lambda i: i != world.connection_id), label="id"),
        "malformed": lambda: data.draw(malformed_ids, label="id"),
        "tenant A's": lambda: world.connection_id,
    }[kind]()
    query = join_query(purge_param(purge) if method == "DELETE" else "", junk or "")
    response = world.send(
        method,
        f"/integrations/anthropic/{connection_id}{suffix}",
        query=query,
        body=body,
        headers=headers_for(content_type, {}),
        tenant=tenant,
    )
    purge_ok = method != "DELETE" or purge in (None, "true", "false", "1", "0")
    if CONNECTION_ID.fullmatch(connection_id) and purge_ok:
        expected = ("not_found", 404) if valid_tenant(tenant) else ("unauthorized", 401)
        assert (error_code(response), response.status) == expected, response.body[:300]
    else:
        # 405: a malformed id can turn the path into another route's (e.g. a `#` cuts the rest off as a fragment).
        assert response.status in (400, 401, 404, 405), response.body[:300]
        codes = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
        assert error_code(response) == codes[response.status], response.body[:300]


@examples(300)
@given(junk=st.one_of(st.none(), junk_queries), body=st.one_of(st.none(), st.text(max_size=100)), tenant=other_tenants)
def test_listing_with_odd_query_strings_shows_no_other_tenants_connections(world, junk, body, tenant):
    assume(valid_tenant(tenant))
    response = world.send("GET", "/integrations/anthropic", query=junk, body=body, tenant=tenant)
    assert (response.status, response.json()) == (200, {"connections": []})
