"""GET /costs/reconciliation with any month, connection id and query-string junk: a 400 `invalid_query` with a
sentence for a month that is missing, malformed, in the future or before the connector's 365 days; 404 for a
connection that is not the tenant's (tenant A's own included); otherwise an answer. Never a 5xx, never a write.

Generated requests act as tenant B, who has no connection: a valid month without a connection id is the matched
zero of no connection (no Anthropic request), so hundreds of cases stay cheap. Tenant A's own reading of Anthropic is
tests/integration/test_reconciliation.py's."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from urllib.parse import parse_qs, quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pump_anthropic.logic import reconciliation
from tests.support.bad_input import error_code
from tests.support.bad_input_strategies import join_query, junk_queries, odd_text, well_formed_ids
from tests.support.bad_input_world import BAD_INPUT_MARKS, examples

pytestmark = BAD_INPUT_MARKS
PATH = "/costs/reconciliation"


@pytest.fixture(autouse=True)
def _reconcile_quota_out_of_the_way(monkeypatch):
    # Hundreds of generated requests a minute; the quota is tested on its own.
    monkeypatch.setattr(reconciliation, "RECONCILE", replace(reconciliation.RECONCILE, limit=10**9))


def expected_month(value: str | None, today: date) -> bool:
    """An independent oracle: YYYY-MM (years 2000 to 2100), not after today's month, starting within 365 days."""
    if value is None or not re.fullmatch(r"(20\d\d|2100)-(0[1-9]|1[0-2])", value):
        return False
    first = date(int(value[:4]), int(value[5:]), 1)
    reach = today - timedelta(days=364)
    return reach <= first <= today


def months_around(today: date) -> st.SearchStrategy[str]:
    return st.integers(-30, 30).map(lambda n: _month_plus(today, n))


def _month_plus(today: date, n: int) -> str:
    index = today.year * 12 + today.month - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


odd_months = st.one_of(
    st.sampled_from(["", "2026", "2026-1", "2026-00", "2026-13", "26-10", "2026/10", "2026-10-01", " 2026-10",
                     "2026-10 ", "0000-01", "9999-12", "1999-12", "2101-01", "２０２６-１０", "2026-1O", "%00"]),
    odd_text,
)  # fmt: skip
junk = junk_queries.filter(lambda q: not {"month", "connection_id"} & set(parse_qs(q, keep_blank_values=True)))


@examples(300)
@given(
    data=st.data(),
    month=st.one_of(st.none(), odd_months),
    connection=st.one_of(st.none(), well_formed_ids, odd_text, st.just("A")),
    extra=st.one_of(st.none(), junk),
)
def test_reconciliation_answers_or_refuses_any_query(world, data, month, connection, extra):
    month = (
        month
        if month is not None or data.draw(st.booleans(), "no month")
        else data.draw(months_around(world.today), "month")
    )
    connection = world.connection_id if connection == "A" else connection
    query = join_query(
        f"month={quote(month, safe='')}" if month is not None else "",
        f"connection_id={quote(connection, safe='')}" if connection is not None else "",
        extra or "",
    )
    response = world.send("GET", PATH, query=query)
    if not expected_month(month, world.today):
        assert response.status == 400, response.body
        assert error_code(response) == "invalid_query" and response.json()["error"]["message"]
    elif connection is not None:
        # Tenant B has no connection: any id, tenant A's own included, is none of its own.
        assert response.status == 404 and error_code(response) == "not_found", response.body
    else:
        assert response.status == 200, response.body
        body = response.json()
        assert (body["status"], body["stored_usd"], body["lines"], body["connections"]) == ("matched", "0.00", [], [])
        assert body["month"] == month
