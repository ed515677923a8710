"""The `price_change` rule: a line's rate on a day against its established rate, beyond what rounding the bill to
the cent can explain; only exact, meaningful, established (single-price) lines; once per line and day."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from pump_anthropic.domain import price_alerts
from tests.support.builders import cost_item

DAY = date(2026, 3, 1)
DETECTED = "2026-03-10T12:00:00Z"
MTOK = 1_000_000


def output_days(rates_per_mtok: list[str], tokens: int = 2 * MTOK, **changes) -> list:
    """One output-token item a day from DAY, at each rate (USD per MTok), split over two workspaces."""
    items = []
    for offset, rate in enumerate(rates_per_mtok):
        cost = Decimal(rate) * tokens / MTOK
        for workspace, share in (("wrkspc_a", Decimal("0.25")), ("wrkspc_b", Decimal("0.75"))):
            items.append(
                cost_item(
                    date=DAY + timedelta(days=offset),
                    workspace_id=workspace,
                    cost_usd=cost * share,
                    quantity=int(tokens * share),
                    **changes,
                )  # fmt: skip
            )
    return items


def changes(items: list, first: date = DAY, last: date = DAY + timedelta(days=30)) -> list:
    return price_alerts.price_changes("conn-1", items, first, last, DETECTED)


def test_a_price_change_alerts_once_on_its_day_with_both_rates():
    items = output_days(["25", "25", "25", "27.5", "27.5", "27.5"])
    (alert,) = changes(items)
    assert alert.kind == "price_change" and alert.window_from == alert.window_to == "2026-03-04"
    assert (alert.amount_usd, alert.baseline_usd) == (Decimal("27.5"), Decimal("25"))
    assert (alert.scope.type, alert.scope.id) == ("model", "claude-opus-4-6")
    assert "output_tokens" in (alert.scope.name or "")
    assert "$27.5 per MTok" in alert.message and "$25 per MTok on 2026-03-03" in alert.message
    # Judged again (a later sync, a restatement): the same id, so it is stored once.
    assert [a.id for a in changes(items)] == [alert.id]
    assert [a.id for a in changes(items, DAY + timedelta(days=3), DAY + timedelta(days=3))] == [alert.id]


def test_each_line_and_connection_has_its_own_id():
    items = output_days(["25", "25", "25", "27.5"])
    batch = output_days(["12.5", "12.5", "12.5", "13.75"], service_tier="batch")
    found = changes(items + batch)
    assert len({a.id for a in found}) == 2
    other = price_alerts.price_changes("conn-2", items, DAY, DAY + timedelta(days=9), DETECTED)
    assert other[0].id not in {a.id for a in found}


def test_what_rounding_to_the_cent_explains_is_no_change():
    # 2M tokens: half a cent on each day's amount moves its rate by up to $0.0025 per MTok.
    assert changes(output_days(["25", "25", "25", "25.004"])) == []
    assert len(changes(output_days(["25", "25", "25", "25.006"]))) == 1


def test_a_rate_not_established_by_two_equal_days_is_not_compared():
    # A line blending two prices (the analytics API's geos): its rate moves with the mix, even when exact.
    assert changes(output_days(["25", "25.5", "26", "25.25", "27.5"])) == []
    # Too few days, or the previous ones too far back.
    assert changes(output_days(["25", "27.5"])) == []
    gap = output_days(["25", "25"]) + [
        i for i in output_days(["0"] * 9 + ["27.5"]) if i.date >= DAY + timedelta(days=9)
    ]
    assert changes(gap) == []


def test_small_inexact_or_unknown_lines_are_not_compared():
    assert changes(output_days(["25", "25", "25", "30"], tokens=90_000)) == []
    inexact = output_days(["25", "25", "25"]) + [
        cost_item(date=DAY + timedelta(days=3), cost_usd=Decimal("100"), quantity=3 * MTOK)
    ]
    assert changes(inexact) == []  # $33.333… per MTok: not a single price
    unknown = output_days(["25", "25", "25"]) + [cost_item(date=DAY + timedelta(days=3), cost_usd=None)]
    assert changes(unknown) == []


def test_only_the_asked_days_are_judged():
    items = output_days(["25", "25", "25", "27.5"])
    assert changes(items, DAY + timedelta(days=4), DAY + timedelta(days=9)) == []


def test_a_line_without_its_geo_counts_a_change_only_past_the_us_premium():
    # The analytics API's lines: inference_geo null, so a day all in the US costs 1.1× a day all global.
    geo_unknown = {"inference_geo": None}
    assert changes(output_days(["25", "25", "25", "27.5"], **geo_unknown)) == []
    assert changes(output_days(["27.5", "27.5", "27.5", "25"], **geo_unknown)) == []
    assert changes(output_days(["25", "25", "25", "26"], **geo_unknown)) == []
    (up,) = changes(output_days(["25", "25", "25", "31.25"], **geo_unknown))
    assert (up.amount_usd, up.baseline_usd) == (Decimal("31.25"), Decimal("25"))
    assert len(changes(output_days(["25", "25", "25", "20"], **geo_unknown))) == 1
    # Requests have no geo price.
    searches = output_days(["10", "10", "10", "10.5"], tokens=200_000, inference_geo=None,
                           cost_type="web_search", token_type=None, unit="requests")  # fmt: skip
    assert len(changes(searches)) == 1
