"""Hypothesis strategies more than one family of bad-input properties draws from: text, tenants, content types,
key-like strings, query-string junk, connection ids and the connection routes."""

from __future__ import annotations

import string
from urllib.parse import parse_qs, quote

from hypothesis import strategies as st

from anthropic_simulator import DEMO_ADMIN_KEY
from pump_anthropic.domain import report
from tests.support.bad_input_world import TENANT_A

DIMENSIONS = report.GROUP_BY_DIMENSIONS
EMPTY_TOTAL = {
    "cost_usd": "0",
    "list_cost_usd": "0",
    "list_priced": {"days": 0, "of_days": 0, "list_cost_usd": "0", "cost_usd": "0", "discount_usd": "0"},
    "tokens": 0,
    "cost_unknown": {"tokens": 0, "web_search_requests": 0},
}


def combinable(dims) -> bool:
    """Whether GET /costs takes these dimensions together: actor and product never combine with the price grain
    (the analytics API reports them in separate breakdowns)."""
    if "hour" in dims and not set(dims) <= report.HOURLY_GROUP_BY:
        return False  # hours are read by workspace and API key only
    return not (set(dims) & {"actor", "product"} and set(dims) & report.PRICE_DIMENSIONS)


RANGE_DAYS = report.DEFAULT_RANGE_DAYS
MAX_RANGE_DAYS = report.MAX_RANGE_DAYS
RESERVED_PARAMS = {"from", "to", "group_by", "format", "purge", "limit", "page", "allocation"}

ID_ALPHABET = string.ascii_letters + string.digits + "-_"
KEY_ALPHABET = ID_ALPHABET
CONTROL = "".join(map(chr, range(32))) + "\x7f\x85\xa0\u2028\u2029\u202e\u200b\ufeff"

text = st.text(max_size=40)
control_text = st.text(alphabet=st.sampled_from(CONTROL + "é€🔑'\"\\{}[],:%&=;+ "), max_size=20)
odd_text = st.one_of(text, control_text)

# Tenants other than A: look-alikes, strings that collide with the table's key layout, arbitrary unicode.
lookalike_tenants = st.sampled_from(
    [
        "tenant-b",
        "local",
        "",
        "tenant-a ",
        " tenant-a",
        "Tenant-A",
        "TENANT-A",
        "tenant-a\x00",
        "tenant-a\u200b",
        "tenant\u2010a",
        "tenant-",
        "tenant-aa",
        "tenant-a#ROLLUP",
        "tenant-a#CONN#",
        "TENANT#tenant-a",
        "#",
        "*",
        "%",
        "../tenant-a",
    ]
)
other_tenants = st.one_of(st.just("tenant-b"), lookalike_tenants, st.text(min_size=1, max_size=300)).filter(
    lambda t: t != TENANT_A
)
invalid_tenants = st.one_of(
    st.sampled_from([" ", "\t", "\n\r ", "\u2003", "\u3000"]),
    st.text(alphabet=" \t\n\r\x0b\x0c\u2003", min_size=1, max_size=5),
    st.builds(lambda c, n: c * n, st.sampled_from("aZ9-é🔑"), st.integers(257, 2_000)),
)

content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=latin-1",
        "APPLICATION/JSON",
        "Application/Json",
        "application/jsonx",
        "application/problem+json",
        "text/plain",
        "text/html",
        "application/xml",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data; boundary=",
        "",
        " ",
        "*/*",
        "\x00",
        "é/é",
    ]
)


def headers_for(content_type: str | None, extra: dict[str, str]) -> dict[str, str]:
    headers = dict(extra)
    if content_type is not None:
        headers["content-type"] = content_type
    return headers


# Key-like strings: every one of them is refused (none is the simulator's key, even once stripped).
key_prefixes = st.sampled_from(
    [
        "sk-ant-admin01-",
        "sk-ant-admin42-",
        "sk-ant-api03-",
        "sk-ant-api01-",
        "sk-ant-admin1-",
        "sk-ant-admin01",
        "SK-ANT-ADMIN01-",
        "sk-ant-",
        "sk-ant-oat01-",
        "sk_ant_admin01_",
        " sk-ant-admin01-",
        "Bearer sk-ant-admin01-",
        "",
    ]
)
key_tails = st.sampled_from(["", "AA", " ", "\n", "\t", "\x00", "é", "\u202e", "🔑", "\xa0", "'", '"', "\\", "%00"])
well_formed_unknown_keys = st.builds(
    lambda version, body, pad: f"{pad}sk-ant-admin{version:02d}-{body}{pad}",
    st.integers(0, 99),
    st.one_of(
        st.text(KEY_ALPHABET, min_size=20, max_size=60),
        st.builds(lambda seed, n: (seed * n)[:n], st.text(KEY_ALPHABET, min_size=1, max_size=12), st.integers(20, 300)),
    ),
    st.sampled_from(["", " ", "\n", "\t "]),
)
oversized_keys = st.builds(
    lambda prefix, chunk, n: prefix + chunk * n,
    key_prefixes,
    st.sampled_from(["a", "Z9", "-_", "é", "\x00", " ", "🔑"]),
    st.sampled_from([290, 301, 386, 1_000, 65_536, 1_000_000]),
)
malformed_keys = st.builds(
    lambda prefix, body, tail: prefix + body + tail, key_prefixes, st.text(KEY_ALPHABET, max_size=120), key_tails
)
key_like = st.one_of(well_formed_unknown_keys, malformed_keys, oversized_keys, odd_text, st.text(max_size=80)).filter(
    lambda k: k.strip() != DEMO_ADMIN_KEY
)


# Query-string junk: parameters none of the routes read, in raw, encoded and malformed forms.
def _reads_no_reserved_param(query: str) -> bool:
    names = parse_qs(query, keep_blank_values=True).keys()
    return not any(name.strip() in RESERVED_PARAMS for name in names)


junk_queries = st.one_of(
    st.sampled_from(
        [
            "&",
            "=",
            "==",
            "&&&",
            "a",
            "a=",
            "=a",
            "%",
            "%zz",
            "%00",
            "%ff%fe",
            "a=%E2%80%AE",
            "a[]=1&a[]=2",
            "__proto__=1",
            ";",
            "a=1;b=2",
            "+",
            "%2B",
            "x=" + "y" * 10_000,
            "tenant_id=tenant-a",
            "x-pump-tenant=tenant-a",
        ]
    ),
    st.builds(lambda k, v: f"{quote(k, safe='')}={quote(v, safe='')}", text, text),
    st.text(st.characters(exclude_characters="#\t\r\n"), max_size=60),
).filter(_reads_no_reserved_param)


def join_query(*parts: str) -> str | None:
    present = [p for p in parts if p]
    return "&".join(present) if present else None


# Connection ids: well-formed but unknown, malformed, encoded, and tenant A's own (handled per test).
well_formed_ids = st.one_of(
    st.text(ID_ALPHABET, min_size=1, max_size=64),
    st.text("0123456789abcdef", min_size=20, max_size=20).map(lambda h: f"conn_{h}"),
)


def purge_param(purge: str | None) -> str:
    return "" if purge is None else f"purge={quote(purge, safe='')}"


CONNECTION_ROUTES = (
    ("GET", ""),
    ("DELETE", ""),
    ("POST", "/sync"),
    ("POST", "/backfill"),
)
