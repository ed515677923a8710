"""POST /integrations/anthropic with bad keys and bad bodies: refused (400, 401 or 415), nothing stored, no key
echoed, whatever the key, body, content type, headers or claims."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from anthropic_simulator import DEMO_ADMIN_KEY
from tests.support.bad_input import error_code
from tests.support.bad_input_strategies import (
    content_types,
    headers_for,
    invalid_tenants,
    key_like,
    odd_text,
    other_tenants,
)
from tests.support.bad_input_world import BAD_INPUT_MARKS, examples, valid_tenant

pytestmark = BAD_INPUT_MARKS


ADMIN_KEY_SHAPE = re.compile(r"sk-ant-admin[0-9]{2}-[A-Za-z0-9_-]{20,300}")
MAX_KEY_LENGTH = 400


def is_json_content_type(content_type: str | None) -> bool:
    value = (content_type or "").strip()
    return not value or value.startswith("application/json")


extra_headers = st.dictionaries(
    st.sampled_from(["authorization", "content-length", "transfer-encoding", "accept", "x-forwarded-for", "cookie"]),
    st.one_of(st.sampled_from(["-1", "0", "999999999", "chunked", "Bearer x", "*/*"]), odd_text),
    max_size=2,
)


def expected_key_error(key: str) -> str:
    """What POST /integrations/anthropic answers for {"admin_key": key} (the shape check, then Anthropic)."""
    value = key.strip()
    if value.startswith("sk-ant-api"):
        return "standard_key_not_allowed"
    if len(value) > MAX_KEY_LENGTH or not ADMIN_KEY_SHAPE.fullmatch(value):
        return "invalid_key_format"
    return "key_rejected"


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
field_names = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["tenant_id", "tenant", "Admin_Key", "admin_key ", "adminKey", "connection_id", "__proto__", "id"]),
).filter(lambda name: name != "admin_key")


# Body templates are generated once and the key is put in afterwards (at KEY_MARK): building strategies per key
# made Hypothesis spend most of its time validating them.
KEY_MARK = "@@KEY@@"


def _documents(with_key_only: bool) -> st.SearchStrategy:
    """JSON documents that are not {"admin_key": <string>}, with the key somewhere in most of them."""
    without_key = [
        st.builds(lambda v: {"admin_key": v}, json_values.filter(lambda v: not isinstance(v, str))),
        st.dictionaries(field_names, json_values, max_size=3),
        json_scalars,
    ]
    with_key = [
        st.builds(
            lambda extra: {"admin_key": KEY_MARK, **extra},
            st.dictionaries(field_names, json_values, min_size=1, max_size=3),
        ),
        st.builds(lambda n: {"admin_key": [KEY_MARK] * n}, st.integers(1, 2)),
        st.builds(lambda name: {"admin_key": {name: KEY_MARK}}, field_names),
        st.builds(lambda name: {name: KEY_MARK}, field_names),
        st.just(KEY_MARK),
        st.builds(lambda n: [KEY_MARK] * n, st.integers(0, 2)),
        st.builds(lambda n: [{"admin_key": KEY_MARK}] * n, st.integers(1, 2)),
        st.just([{"admin_key": KEY_MARK}, 42]),
    ]
    return st.builds(json.dumps, st.one_of(*with_key, *([] if with_key_only else without_key)))


def _damage(text_: str, kind: str, position: int, junk: str, depth: int, close: int) -> str:
    """Syntax damage: truncated, trailing or leading junk, single quotes, deep or unbalanced nesting, comments."""
    if kind == "truncate" and len(text_) > 1:
        return text_[: position % len(text_)]
    if kind == "append":
        return text_ + junk
    if kind == "prepend":
        return junk + text_
    if kind == "quotes":
        return text_.replace('"', "'")
    if kind == "nest":
        return "[" * depth + text_ + "]" * (depth - close)
    if kind == "surrogate":
        return '{"admin_key": "\\ud800' + text_.replace('"', "") + '"}'
    return "// " + text_


def _broken(documents: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(
        _damage,
        documents,
        st.sampled_from(["truncate", "append", "prepend", "quotes", "nest", "surrogate", "comment"]),
        st.integers(0, 10_000),
        st.sampled_from([",", "}", "]", "\x00", "garbage", " {} ", '\n{"admin_key": 1}', "\ufeff", "[", ")]}'\n", "{"]),
        st.sampled_from([1, 64, 1_000, 5_000, 100_000]),
        st.sampled_from([0, 1]),
    )


key_bearing_templates = st.one_of(
    _documents(with_key_only=True),
    _broken(_documents(with_key_only=True)),
    st.builds(
        lambda junk: '{"admin_key": "' + KEY_MARK + '", "admin_key": ' + junk + "}",
        st.sampled_from(["1", "null", "[]", "{}", "true", "1e999", "NaN"]),
    ),
)
rejected_templates = st.one_of(
    key_bearing_templates,
    _documents(with_key_only=False),
    _broken(_documents(with_key_only=False)),
    st.binary(max_size=120),
    st.text(max_size=120),
    st.sampled_from(["", " ", "\n", "null", "{", "}", "[", '"', "{}", "[]", "0", "-", "NaN", "Infinity"]),
)


def render(template: str | bytes, key: str, ensure_ascii: bool = True) -> str | bytes:
    """A body template with the key in it, escaped as JSON would write it."""
    if isinstance(template, bytes):
        return template
    return template.replace(KEY_MARK, json.dumps(key, ensure_ascii=ensure_ascii)[1:-1])


@examples(2_500)
@given(
    key=key_like,
    exact=st.booleans(),
    template=rejected_templates,
    ensure_ascii=st.booleans(),
    content_type=content_types,
    extra=extra_headers,
    tenant=st.one_of(st.just("tenant-b"), other_tenants, invalid_tenants),
    anonymous=st.sampled_from([False, False, False, True]),
)
def test_connect_refuses_bad_keys_and_bodies(
    world, key, exact, template, ensure_ascii, content_type, extra, tenant, anonymous
):
    """`exact` sends {"admin_key": key}; otherwise a body that is not that, with the key in most of them."""
    body = json.dumps({"admin_key": key}, ensure_ascii=ensure_ascii) if exact else render(template, key, ensure_ascii)
    response = world.send(
        "POST",
        "/integrations/anthropic",
        body=body,
        headers=headers_for(content_type, extra),
        tenant=tenant,
        anonymous=anonymous,
        secrets=(key,),
    )
    assert response.status in (400, 401, 415), response.body[:300]
    if exact and is_json_content_type(content_type):
        expected = expected_key_error(key) if valid_tenant(tenant) and not anonymous else "unauthorized"
        assert error_code(response) == expected
    if not is_json_content_type(content_type) and not content_type.strip().startswith(
        ("multipart/form-data", "application/x-www-form-urlencoded")
    ):
        assert (response.status, error_code(response)) == (415, "unsupported_media_type")


@examples(700)
@given(
    template=key_bearing_templates,
    pad=st.sampled_from(["", " ", "\n"]),
    content_type=st.sampled_from([None, "application/json", "text/plain", "application/octet-stream", "text/html"]),
    tenant=other_tenants,
)
def test_a_real_key_in_a_rejected_request_is_neither_stored_nor_echoed(world, template, pad, content_type, tenant):
    """The simulator's own key, in a JSON body of the wrong shape or a valid one with the wrong content type."""
    key = pad + DEMO_ADMIN_KEY + pad
    body = render(template, key) if is_json_content_type(content_type) else json.dumps({"admin_key": key})
    response = world.send(
        "POST",
        "/integrations/anthropic",
        body=body,
        headers=headers_for(content_type, {}),
        tenant=tenant,
        secrets=(key,),
    )
    assert response.status in (400, 401, 415), response.body[:300]
