"""The GET /costs body's figures: `list_priced` (the discount over the days that have a list price) on a range stitched
from legacy and analytics days, and the same keys on every row and total whatever the grouping."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pump_anthropic.domain.analytics_days import WHO_LINE_DIMENSIONS
from pump_anthropic.domain.hourly import HOUR_DIMENSIONS
from pump_anthropic.domain.records import StoredRollup
from pump_anthropic.domain.report import GROUP_BY_DIMENSIONS, build_cost_report, parse_cost_query
from pump_anthropic.domain.rollups import KEY_LINE_DIMENSIONS, LINE_DIMENSIONS, RollupLine

TODAY = date(2026, 3, 20)
OPUS_DATED, OPUS, HAIKU = "claude-opus-4-1-20250805", "claude-opus-4-1", "claude-haiku-4-5"


def line(model: str | None, cost: str | None, listed: str | None = None, *, tokens: int = 10, ws="wrkspc_a"):
    """A cost line (LINE_DIMENSIONS); `cost` None is usage Anthropic reports without a cost."""
    dims = (ws, model, "tokens", "output_tokens", "standard" if cost else "priority", "0-200k", None)
    return RollupLine(
        dims,
        cost_usd=None if cost is None else Decimal(cost),
        tokens=tokens,
        unpriced_tokens=0 if cost is not None else tokens,
        list_cost_usd=None if listed is None else Decimal(listed),
    )


def legacy(day: date, *lines: RollupLine, connection: str = "conn_1") -> StoredRollup:
    return StoredRollup(day, connection, LINE_DIMENSIONS, list(lines), source="legacy")


def analytics(day: date, *lines: RollupLine, days: tuple[date, ...] = (), connection: str = "conn_1"):
    return StoredRollup(day, connection, LINE_DIMENSIONS, list(lines), source="analytics", days=days)


def report(group_by: str, rollups: list[StoredRollup], first="2025-12-01", last="2026-03-31", today=None) -> dict:
    query = parse_cost_query(first, last, group_by, today=TODAY)
    return build_cost_report(query, rollups, {"wrkspc_a": "Research"}, today=today)


def priced(days: int, of_days: int, list_cost: str, cost: str, discount: str) -> dict:
    return {"days": days, "of_days": of_days, "list_cost_usd": list_cost, "cost_usd": cost, "discount_usd": discount}


# Two legacy days (no list price; a priority-tier line with no cost on the second), three analytics days, and a
# February read from its month summary: one rollup covering three analytics days.
DEC_30, DEC_31 = date(2025, 12, 30), date(2025, 12, 31)
JAN_1, JAN_2, JAN_3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)
FEB = (date(2026, 2, 1), date(2026, 2, 2), date(2026, 2, 3))
STITCHED = [
    legacy(DEC_30, line(OPUS_DATED, "10")),
    legacy(DEC_31, line(OPUS_DATED, "5"), line(OPUS_DATED, None, tokens=7)),
    analytics(JAN_1, line(OPUS, "8", "10"), line(HAIKU, "1", "1")),
    analytics(JAN_2, line(OPUS, "4", "5")),
    analytics(JAN_3, line(HAIKU, "0.5", "0.5")),
    analytics(FEB[0], line(OPUS, "16", "20"), days=FEB),
]


def test_list_priced_gives_the_discount_over_the_days_that_have_a_list_price():
    body = report("model", STITCHED)

    total = body["total"]
    # 10 + 5 + 8 + 1 + 4 + 0.5 + 16; list price unknown as a whole (two legacy days), so null, never a guess.
    assert (total["cost_usd"], total["list_cost_usd"]) == ("44.5", None)
    # Days with a list price: Jan 1-3 and the three February days = 6 of 8. List 10+1+5+0.5+20 = 36.5, net
    # 8+1+4+0.5+16 = 29.5 over exactly those days: the legacy days' 15 is in neither.
    assert total["list_priced"] == priced(6, 8, "36.5", "29.5", "7")
    assert total["cost_unknown"] == {"tokens": 7, "web_search_requests": 0}

    opus, haiku = body["rows"][1], body["rows"][0]
    assert (opus["model"], opus["model_ids"]) == (OPUS, [OPUS, OPUS_DATED])
    # Opus: its lines with a list price are those of the analytics days (Jan 1, Jan 2, February); a row not by date
    # or month counts the range's days, so every row says "6 of 8" (the same whether days or summaries were read).
    assert (opus["cost_usd"], opus["list_cost_usd"]) == ("43", None)
    assert opus["list_priced"] == priced(6, 8, "35", "28", "7")
    # Haiku ran on analytics days only: its list price is known outright, and list_priced says the same.
    assert (haiku["model"], haiku["cost_usd"], haiku["list_cost_usd"]) == (HAIKU, "1.5", "1.5")
    assert haiku["list_priced"] == priced(6, 8, "1.5", "1.5", "0")
    # The rows' priced amounts add up to the total's.
    assert sum(Decimal(r["list_priced"]["list_cost_usd"]) for r in body["rows"]) == Decimal("36.5")


def test_list_priced_is_zero_not_null_on_days_without_a_list_price_and_exact_per_day():
    body = report("date", STITCHED)
    by_day = {row["date"]: row["list_priced"] for row in body["rows"]}
    assert by_day["2025-12-31"] == priced(0, 1, "0", "0", "0")
    assert by_day["2026-01-01"] == priced(1, 1, "11", "9", "2")
    # A row by date counts its own day (a month summary is never read for rows by date; here its lines land on the
    # month's first day).
    assert by_day["2026-02-01"] == priced(1, 1, "20", "16", "4")
    by_month = {row["month"]: row["list_priced"] for row in report("month", STITCHED)["rows"]}
    assert by_month["2026-02"] == priced(3, 3, "20", "16", "4") and by_month["2025-12"] == priced(0, 2, "0", "0", "0")
    assert body["total"]["list_priced"] == priced(6, 8, "36.5", "29.5", "7")


def test_a_day_with_spend_read_without_a_list_price_is_not_counted_as_priced():
    march = (date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3))
    rollups = [
        analytics(march[0], line(OPUS, "9", "12"), days=march, connection="conn_a"),
        legacy(date(2026, 3, 2), line(OPUS_DATED, "1"), connection="conn_b"),  # another org, still on legacy days
        analytics(date(2026, 3, 4), line(OPUS, "2", "3"), connection="conn_b"),
    ]
    total = report("", rollups)["total"]
    # March 2 also has legacy spend (no list price), so 3 of the 4 days are priced; the amounts are those of every
    # line that has both a list price and a net cost.
    assert total["list_priced"] == priced(3, 4, "15", "11", "4")
    assert (total["cost_usd"], total["list_cost_usd"]) == ("12", None)


def test_net_unknown_is_not_a_discount():
    day = date(2026, 3, 5)
    odd = RollupLine(line(OPUS, "1").dims, cost_usd=None, tokens=4, unpriced_tokens=4, list_cost_usd=Decimal("2"))
    total = report("", [analytics(day, line(OPUS, "1", "1.25"), odd)])["total"]
    # The line with a list price but no net cost is left out of both amounts: no discount is made up from it.
    assert total["list_priced"] == priced(1, 1, "1.25", "1", "0.25")


# ---------------------------------------------------------------- the same keys for every grouping

NAMES = {
    "workspace_id": ["workspace_name"],
    "model": ["model_ids"],
    "api_key_id": ["api_key_name", "api_key_hint", "allocation"],
    "actor": ["actor_type", "actor_id", "actor_name", "actor_email", "actor_note"],
}
WHO = {"api_key_id", "actor", "product"}
FIGURES = ["cost_usd", "list_cost_usd", "list_priced", "tokens", "cost_unknown"]  # the README's order
GROUPINGS = [
    *[(d,) for d in GROUP_BY_DIMENSIONS],
    (),
    ("date", "workspace_id", "model"),
    ("month", "api_key_id", "model"),
    ("actor", "product"),
    ("date", "actor"),
    ("api_key_id", "workspace_id", "date"),
    ("model_id", "token_type", "service_tier"),
    ("date", "token_type", "service_tier"),
    ("hour", "workspace_id"),
    ("date", "hour", "api_key_id"),
]


def hour_rollups() -> list[StoredRollup]:
    """Hourly rollups of two analytics days (cost only, by workspace and API key)."""
    return [
        StoredRollup(
            day,
            "conn_1",
            HOUR_DIMENSIONS,
            [
                RollupLine((f"{day.isoformat()}T0{h}:00:00Z", ws, key), Decimal(h), list_cost_usd=Decimal(h + 1))
                for h, ws, key in ((1, "wrkspc_a", "apikey_1"), (2, None, "console"))
            ],
            source="analytics",
            tokens_known=False,
        )
        for day in (JAN_1, JAN_2)
    ]


def who_rollups() -> list[StoredRollup]:
    """Per-key rollups: two legacy days (allocated; one line of usage without cost) and two analytics days (billed,
    by actor and product, without token counts)."""
    legacy_keys = [
        StoredRollup(
            day,
            "conn_1",
            KEY_LINE_DIMENSIONS,
            [
                RollupLine(
                    ("apikey_1", "wrkspc_a", OPUS_DATED, "tokens", "output_tokens", "standard", "0-200k"),
                    Decimal("2"),
                    10,
                ),
                RollupLine(
                    ("console", None, OPUS_DATED, "tokens", "output_tokens", "priority", "0-200k"),
                    None,
                    5,
                    unpriced_tokens=5,
                ),
            ],
            source="legacy",
        )
        for day in (DEC_30, DEC_31)
    ]
    actors = {"user_1": ["user_1", "user_actor", "user_1", "Ada", "ada@example.com", None]}
    analytics_keys = [
        StoredRollup(
            day,
            "conn_1",
            WHO_LINE_DIMENSIONS,
            [
                RollupLine(
                    ("apikey_1", "user_1", "claude_code", "wrkspc_a", OPUS, "tokens", "output_tokens"),
                    Decimal("3"),
                    list_cost_usd=Decimal("4"),
                ),
                RollupLine(
                    ("console", None, None, None, None, "code_execution", None),
                    Decimal("1"),
                    list_cost_usd=Decimal("1"),
                ),
            ],
            source="analytics",
            actors=actors,
            tokens_known=False,
        )
        for day in (JAN_1, JAN_2)
    ]
    return legacy_keys + analytics_keys


@pytest.mark.parametrize("group_by", GROUPINGS, ids=lambda g: ",".join(g) or "(none)")
def test_every_row_and_the_total_have_the_same_keys_for_every_grouping(group_by):
    who = bool(WHO & set(group_by)) or "hour" in group_by
    rollups = hour_rollups() if "hour" in group_by else who_rollups() if who else STITCHED
    body = report(",".join(group_by), rollups, today=TODAY)
    expected = [key for d in group_by for key in (d, *NAMES.get(d, ()))]
    expected += ["provisional"] if "date" in group_by else []
    expected += FIGURES

    assert list(body["total"]) == FIGURES
    assert body["rows"]
    for row in body["rows"]:
        assert list(row) == expected
        for figures in (row, body["total"]):
            assert set(figures["cost_unknown"]) == {"tokens", "web_search_requests"}
            assert set(figures["list_priced"]) == {"days", "of_days", "list_cost_usd", "cost_usd", "discount_usd"}
            assert all(isinstance(figures["list_priced"][k], int) for k in ("days", "of_days"))
            assert all(isinstance(v, str) for k, v in figures["list_priced"].items() if k.endswith("_usd"))
    # Null only where the value is unknown: tokens on who-groupings over analytics days (cost-only lines), cost on
    # usage Anthropic reports without one; the total's cost is known whenever some of it is.
    assert (body["total"]["tokens"] is None) == who
    assert body["total"]["cost_usd"] is not None
    for row in body["rows"]:
        if row["cost_usd"] is None:
            assert row["cost_unknown"]["tokens"] > 0 and row["list_priced"]["cost_usd"] == "0", row
