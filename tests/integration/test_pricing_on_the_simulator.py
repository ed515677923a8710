"""GET /costs/rates and GET /costs/savings on the demo org (`OrgSpec()`, what `pump-local demo` serves, with exact
amounts as the other stack tests read them), connected and backfilled through the embedded stack, checked against
the simulator's own price table (anthropic_simulator.prices and analytics_settings), never against numbers copied here.

Two ranges: the last 30 days (all read from the analytics API) and, while the 365-day backfill still reaches before
2026-01-01, the legacy days it holds up to 2026-01-10 (legacy days, then analytics days).

1. Rate card: every row with a rate satisfies `net_usd_per_unit` × units (÷ 1,000,000 per "1M tokens") == `cost_usd`
   exactly; every row without one says why (`inexact`: a line blending the US and global geo prices, which the
   analytics API reports as one line; `no_usage`: code execution and session runtime; `cost_unknown`: priority tier
   on legacy days) and its cost (or its tokens, when the cost is unknown) still sums in: the rows add up to GET /costs'
   total exactly.
2. Discounts: on analytics days the simulator bills its price table and reports list = billed / (1 − discount)
   (analytics_settings: 20% on claude-opus-4-6 and claude-sonnet-4-6), so every token row of those models shows
   `discount_pct` 20 and the others 0 (web search and code execution are never discounted by the simulator); an exact
   rate equals the simulator's billed price, and `list_usd_per_unit` its list price, of that model, token type,
   tier, context window and speed (for a geo-priced model: of the one geo whose price the rate is). Legacy days carry
   no list price: their rows have none, and their rate is the legacy report's price for the row's geo.
3. Savings by hand: GET /costs by date, model, token type, tier, context window and speed gives each day's tokens
   per price class, except the inference geo, which GET /costs can't group by and the analytics API doesn't report.
   A model's hand computation is unambiguous when every priced line of a day's class costs its tokens × the table
   price of one single geo (always so for a model without geo pricing; for opus/sonnet 4.6 only if all their
   traffic in the range was one geo, since the US price is 1.1× the global one). For those models, per day and
   class: with uncached input priced that day, reads R save R × (input − read price), as-input R × input price,
   and the 5-minute / 1-hour writes W cost W × (write − input price) over plain input (billed, i.e. discounted,
   prices: the list price × (1 − discount)); without it they are unpriced. Summed, that must equal
   GET /costs/savings?group_by=model exactly. Models whose lines blend geos are checked against the bill instead:
   the same sums with each day's billed uncached rate (cost / tokens from GET /costs) as the code defines it."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Context, Decimal, Inexact, localcontext
from fractions import Fraction
from urllib.parse import urlencode

import pytest

from anthropic_simulator import OrgSpec, prices
from anthropic_simulator.analytics_settings import TOKEN_TYPES, list_multiplier, token_prices, web_search_prices
from tests.support.guard_stack import EXACT, build_stack, connected
from tests.support.stack import FIXED_NOW, Stack, costs

pytestmark = pytest.mark.network

DEMO_ORG = OrgSpec()
SETTINGS = EXACT
ANALYTICS_FROM = date(2026, 1, 1)
TODAY = FIXED_NOW.date()
MILLION = Decimal(1_000_000)
CENTS = Decimal(100)
UNCACHED, READ = "uncached_input_tokens", "cache_read_input_tokens"
WRITE_5M, WRITE_1H = "cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens"
COSTS_BY_CLASS = "date,model,cost_type,token_type,service_tier,context_window,speed"
SAVED_COUNTS = (
    "cache_read_tokens",
    "savings_known_tokens",
    "unpriced_cache_read_tokens",
    "cache_write_5m_tokens",
    "unpriced_cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "unpriced_cache_write_1h_tokens",
)
SAVED_AMOUNTS = (
    "cache_read_cost_usd",
    "cache_read_as_input_usd",
    "read_savings_usd",
    "cache_write_5m_premium_usd",
    "cache_write_1h_premium_usd",
    "net_savings_usd",
)


def exact():
    """Decimal arithmetic that is exact or raises."""
    return localcontext(Context(prec=100, traps=[Inexact]))


# ------------------------------------------------------------------------------------ the simulator's prices


def price_id(model: str) -> str:
    """The price table's id of a model as the rate card names it (claude-haiku-4-5 → claude-haiku-4-5-20251001)."""
    (model_id,) = [m for m in prices.MODEL_PRICES if canonical(m) == model]
    return model_id


def geos_of(model: str, day: date) -> tuple[str | None, ...]:
    """The geos a model's line may be priced at on a day: analytics days name none for a model without geo pricing."""
    if not prices.MODEL_PRICES[price_id(model)].supports_inference_geo:
        return ("not_available",) if day < ANALYTICS_FROM else (None,)
    return ("global", "us")


def billed_usd_per_token(model: str, token_type: str, tier: str, window: str, geo: str | None, speed, day: date):
    """What the simulator bills a token of this line that day (USD), None where it bills nothing (legacy priority)."""
    if day < ANALYTICS_FROM:
        if tier == "priority":
            return None
        return prices.token_unit_price_cents(price_id(model), token_type, tier, window, geo or "not_available") / CENTS
    amounts, lists = token_prices(SETTINGS, price_id(model), tier, window, geo, speed)
    index = TOKEN_TYPES.index(token_type)
    with exact():
        # By hand: the list price less the negotiated discount is what the simulator bills.
        net = lists[index] * (1 - SETTINGS.discount(price_id(model))) / CENTS
    assert net == amounts[index] / CENTS, (model, token_type, tier, window, geo, speed)
    return net


def list_usd_per_token(model: str, token_type: str, tier: str, window: str, geo: str | None, speed) -> Decimal:
    _, lists = token_prices(SETTINGS, price_id(model), tier, window, geo, speed)
    return lists[TOKEN_TYPES.index(token_type)] / CENTS


# ------------------------------------------------------------------------------------------ the stack


@dataclass
class Range:
    name: str
    first: date
    last: date
    rates: dict
    savings: dict
    total: dict
    by_class: list[dict]


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[Stack, dict]]:
    with ExitStack() as resources:
        stack = build_stack(resources, spec=DEMO_ORG, analytics=SETTINGS)
        connection_id = connected(stack)
        yield stack, stack.call("GET", f"/integrations/anthropic/{connection_id}").json()


def read(stack: Stack, route: str, first: date, last: date, **params: str) -> dict:
    response = stack.call("GET", f"{route}?" + urlencode({"from": first, "to": last, **params}))
    assert response.status == 200, response.body
    return response.json()


@pytest.fixture(scope="module", params=["last_30_days", "legacy_days"])
def span(request, demo) -> Range:
    stack, connection = demo
    if request.param == "last_30_days":
        first, last = TODAY - timedelta(days=29), TODAY
    else:
        legacy = [c for c in connection["cost_source"]["coverage"] if c["source"] == "legacy"]
        if not legacy:
            pytest.skip(f"the backfill from {connection['backfill']['from']} reaches no day before 2026-01-01")
        first, last = date.fromisoformat(legacy[0]["from"]), ANALYTICS_FROM + timedelta(days=9)
    return Range(
        request.param,
        first,
        last,
        read(stack, "/costs/rates", first, last),
        read(stack, "/costs/savings", first, last, group_by="model"),
        costs(stack, first.isoformat(), last.isoformat(), "")["total"],
        costs(stack, first.isoformat(), last.isoformat(), COSTS_BY_CLASS)["rows"],
    )


def units(row: dict) -> int | None:
    return row["tokens"] if row["unit"] == "tokens" else row["requests"]


# ----------------------------------------------------------------------------------------- 1. rate card


def test_every_rate_times_its_units_is_its_cost_and_the_rows_add_up_to_the_total(span: Range):
    statuses: dict[str, int] = defaultdict(int)
    reasons: dict[str, int] = defaultdict(int)
    cost_sum, tokens_sum, unknown_tokens = Decimal(0), 0, 0
    for row in span.rates["rows"]:
        statuses[row["rate_status"]] += 1
        tokens_sum += row["tokens"] or 0
        if row["cost_usd"] is not None:
            with exact():
                cost_sum += Decimal(row["cost_usd"])
        if row["net_usd_per_unit"] is not None:
            assert row["rate_status"] == "exact" and row["rate_exact"], row
            per = MILLION if row["per"] == "1M tokens" else 1
            assert row["per"] == {"tokens": "1M tokens", "requests": "request"}[row["unit"]], row
            with exact():
                assert Decimal(row["net_usd_per_unit"]) * units(row) / per == Decimal(row["cost_usd"]), row
            continue
        assert not row["rate_exact"], row
        if row["rate_status"] == "inexact":
            # Cost and units are known, the quotient doesn't terminate: the rounded rate is the exact one, rounded.
            assert row["cost_usd"] is not None and units(row), row
            per = MILLION if row["per"] == "1M tokens" else 1
            rate = Fraction(Decimal(row["cost_usd"])) * int(per) / units(row)
            assert abs(Fraction(Decimal(row["net_usd_per_unit_rounded"])) - rate) <= Fraction(1, 2 * 10**6), row
            # Why: with exact amounts, only a line blending the global and US prices (one analytics line) has a
            # rate that doesn't terminate; it lies strictly between the two geos' prices.
            assert row["first_seen"] >= ANALYTICS_FROM.isoformat() and row["cost_type"] == "tokens", row
            line = (row["model"], row["token_type"], row["service_tier"], row["context_window"])
            day = date.fromisoformat(row["first_seen"])
            low, high = (
                Fraction(billed_usd_per_token(*line, geo, row["speed"], day) * MILLION) for geo in ("global", "us")
            )
            assert low < rate < high, row
            reasons["inexact: blends the global and US prices"] += 1
        elif row["rate_status"] == "no_usage":
            reasons[f"no_usage: {row['cost_type']}, cost without units"] += 1
            assert row["cost_type"] in {"code_execution", "session_usage"}, row
            assert row["tokens"] is None and row["requests"] is None and row["cost_usd"] is not None, row
        else:
            assert row["rate_status"] == "cost_unknown", row
            assert row["cost_usd"] is None and row["tokens"] > 0, row
            assert row["service_tier"] == "priority" and row["last_seen"] < ANALYTICS_FROM.isoformat(), row
            unknown_tokens += row["tokens"]
            reasons["cost_unknown: priority tier on legacy days"] += 1
    assert statuses["exact"] > 0, statuses
    print(f"\n{span.name} {span.first}..{span.last}: {dict(statuses)} rows, {dict(reasons)}; cost {cost_sum}")
    assert cost_sum == Decimal(span.total["cost_usd"])
    assert tokens_sum == span.total["tokens"]
    assert unknown_tokens == span.total["cost_unknown"]["tokens"]


# ----------------------------------------------------------------------------------------- 2. discounts


def test_discounted_models_show_the_simulators_discount_and_list_prices(span: Range):
    seen: dict[tuple, set] = defaultdict(set)
    for row in span.rates["rows"]:
        model, last = row["model"], date.fromisoformat(row["last_seen"])
        if row["list_cost_usd"] is None:
            # Any legacy day in the row: no list price, no discount; the rate is the legacy report's for its geo.
            assert date.fromisoformat(row["first_seen"]) < ANALYTICS_FROM and row["discount_pct"] is None, row
            assert row["list_usd_per_unit"] is None, row
            if row["rate_status"] == "exact" and row["cost_type"] == "tokens":
                per_token = billed_usd_per_token(
                    model,
                    row["token_type"],
                    row["service_tier"],
                    row["context_window"],
                    row["inference_geo"],
                    None,
                    last,
                )
                assert Decimal(row["net_usd_per_unit"]) == per_token * MILLION, row
                seen[("legacy", model)].add(row["net_usd_per_unit"])
            continue
        assert row["first_seen"] >= ANALYTICS_FROM.isoformat(), row
        if row["cost_type"] != "tokens":
            # The simulator lists web search, code execution and session runtime at what it bills.
            assert Decimal(row["discount_pct"]) == 0, row
            if row["cost_type"] == "web_search":
                assert Decimal(row["net_usd_per_unit"]) == web_search_prices(SETTINGS, row["service_tier"])[1] / CENTS
            continue
        discount = SETTINGS.discount(price_id(model))
        with exact():
            assert Decimal(row["discount_pct"]) == discount * 100, row
            assert Decimal(row["list_cost_usd"]) == Decimal(row["cost_usd"]) * list_multiplier(discount), row
        seen[("discount", model)].add(Decimal(row["discount_pct"]))
        if row["rate_status"] != "exact":
            continue
        net = Decimal(row["net_usd_per_unit"])
        line = (model, row["token_type"], row["service_tier"], row["context_window"])
        matching = [
            geo for geo in geos_of(model, last) if billed_usd_per_token(*line, geo, row["speed"], last) * MILLION == net
        ]
        assert len(matching) == 1, (row, "an exact rate that is no geo's price: a blend that happens to terminate")
        assert Decimal(row["list_usd_per_unit"]) == list_usd_per_token(*line, matching[0], row["speed"]) * MILLION
        if discount:
            seen[("net → list per 1M", model)].add(
                f"{row['token_type']}/{row['service_tier']}/{row['context_window']}/"
                f"{row['speed']}: {net} → {row['list_usd_per_unit']}"
            )
    for (kind, model), values in sorted(seen.items()):
        print(f"\n{span.name} {kind} {model}: {', '.join(sorted(map(str, values)))}")
    for model_id, discount in SETTINGS.discounts:
        if model_id in DEMO_ORG.model_ids():
            assert seen[("discount", model_id)] == {discount * 100}, seen
    others = {canonical(m) for m in DEMO_ORG.model_ids()} - {m for m, _ in SETTINGS.discounts}
    assert all(seen[("discount", m)] <= {0} for m in others), seen
    assert any(seen[("discount", m)] == {0} for m in others), seen


def canonical(model_id: str) -> str:
    return re.sub(r"-\d{8}$", "", model_id)


# ----------------------------------------------------------------------------------------- 3. savings


@dataclass
class Sums:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    amounts: dict[str, Fraction] = field(default_factory=lambda: defaultdict(Fraction))
    parts: int = 0

    def price(self, lines: dict[str, tuple[int, Decimal | None]], rates: dict[str, Fraction] | None) -> None:
        """One day and price class: `lines` its token type → (tokens, cost); `rates` USD per token (None: no rate)."""
        reads, read_cost = lines.get(READ, (0, Decimal(0)))
        self.counts["cache_read_tokens"] += reads
        self.amounts["cache_read_cost_usd"] += Fraction(read_cost or 0)
        for token_type, window in ((WRITE_5M, "5m"), (WRITE_1H, "1h")):
            self.counts[f"cache_write_{window}_tokens"] += lines.get(token_type, (0, None))[0]
        if rates is None:
            self.counts["unpriced_cache_read_tokens"] += reads
            for token_type, window in ((WRITE_5M, "5m"), (WRITE_1H, "1h")):
                self.counts[f"unpriced_cache_write_{window}_tokens"] += lines.get(token_type, (0, None))[0]
            return
        self.parts += 3
        self.counts["savings_known_tokens"] += reads
        self.amounts["cache_read_as_input_usd"] += reads * rates[UNCACHED]
        self.amounts["read_savings_usd"] += reads * (rates[UNCACHED] - rates[READ])
        for token_type, window in ((WRITE_5M, "5m"), (WRITE_1H, "1h")):
            tokens = lines.get(token_type, (0, None))[0]
            self.amounts[f"cache_write_{window}_premium_usd"] += tokens * (rates[token_type] - rates[UNCACHED])

    def figures(self) -> dict:
        amounts = dict(self.amounts)
        amounts["net_savings_usd"] = (
            amounts.get("read_savings_usd", Fraction(0))
            - amounts.get("cache_write_5m_premium_usd", Fraction(0))
            - amounts.get("cache_write_1h_premium_usd", Fraction(0))
        )
        return {**{k: self.counts[k] for k in SAVED_COUNTS}, **{k: amounts.get(k, Fraction(0)) for k in SAVED_AMOUNTS}}


def classes(rows: list[dict]) -> dict[str, dict[tuple, dict[str, tuple[int, Decimal | None]]]]:
    """model → (day, tier, context window, speed) → token type → (tokens, cost or None) from GET /costs' rows."""
    found: dict[str, dict[tuple, dict]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row["cost_type"] != "tokens" or not row["tokens"]:
            continue
        key = (date.fromisoformat(row["date"]), row["service_tier"], row["context_window"], row["speed"])
        cost = None if row["cost_usd"] is None else Decimal(row["cost_usd"])
        found[row["model"]][key][row["token_type"]] = (row["tokens"], cost)
    return found


def single_geo(model: str, key: tuple, lines: dict) -> str | None | bool:
    """The one geo whose table prices give every priced line of this day and class its cost; False if there is none."""
    day, tier, window, speed = key
    speed = None if speed == "unknown" else speed
    for geo in geos_of(model, day):
        priced = [
            (tokens, cost, billed_usd_per_token(model, token_type, tier, window, geo, speed, day))
            for token_type, (tokens, cost) in lines.items()
            if cost is not None
        ]
        if all(per_token is not None and tokens * per_token == cost for tokens, cost, per_token in priced):
            return geo
    return False


def test_savings_of_a_model_equal_a_hand_computation_from_the_simulators_prices(span: Range):
    by_model = classes(span.by_class)
    savings = {row["model"]: row for row in span.savings["rows"]}
    by_hand, by_bill = [], []
    for model, model_classes in sorted(by_model.items()):
        if not any(t in lines for lines in model_classes.values() for t in (READ, WRITE_5M, WRITE_1H)):
            continue
        table_sums, bill_sums = Sums(), Sums()
        geos = {key: single_geo(model, key, lines) for key, lines in model_classes.items()}
        unambiguous = all(geo is not False for geo in geos.values())
        on_legacy_days = any(day < ANALYTICS_FROM for day, *_ in model_classes)
        geo_priced = prices.MODEL_PRICES[price_id(model)].supports_inference_geo
        for key, lines in sorted(model_classes.items()):
            day, tier, window, speed = key
            speed = None if speed == "unknown" else speed
            uncached = lines.get(UNCACHED)
            has_rate = uncached is not None and uncached[0] > 0 and uncached[1] is not None
            if unambiguous:
                table_rates = None
                if has_rate:
                    table_rates = {
                        t: Fraction(billed_usd_per_token(model, t, tier, window, geos[key], speed, day))
                        for t in (UNCACHED, READ, WRITE_5M, WRITE_1H)
                    }
                table_sums.price(lines, table_rates)
            # The bill's own rate, per day and class, as the code defines it.
            bill_rates = None
            if has_rate:
                rate = Fraction(uncached[1]) / uncached[0]
                bill_rates = {UNCACHED: rate}
                for t in (READ, WRITE_5M, WRITE_1H):
                    tokens, cost = lines.get(t, (0, Decimal(0)))
                    bill_rates[t] = Fraction(cost) / tokens if tokens else rate
            bill_sums.price(lines, bill_rates)
        row = savings[model]
        if unambiguous:
            assert_figures(f"{model} by the price table", row, table_sums, exactly=True)
            by_hand.append(model)
        if not (geo_priced and on_legacy_days):  # else GET /costs merges the legacy days' per-geo classes
            assert_figures(
                f"{model} by the bill (savings_exact {row['savings_exact']})",
                row,
                bill_sums,
                exactly=row["savings_exact"],
            )
            by_bill.append(model)
    print(f"\n{span.name}: by the price table {by_hand}; by the bill {by_bill}")
    assert by_hand, by_model.keys()
    assert any(not prices.MODEL_PRICES[price_id(m)].supports_inference_geo for m in by_hand)


def assert_figures(model: str, row: dict, sums: Sums, *, exactly: bool) -> None:
    expected = sums.figures()
    print(f"\n  {model}: " + ", ".join(f"{k}={as_text(v)}" for k, v in expected.items()))
    for name in SAVED_COUNTS:
        assert row[name] == expected[name], (model, name, row[name], expected[name])
    tolerance = Fraction(0) if exactly else Fraction(sums.parts, 2 * 10**12)
    for name in SAVED_AMOUNTS:
        gap = abs(Fraction(Decimal(row[name])) - expected[name])
        assert gap <= tolerance, (model, name, row[name], as_text(expected[name]))
    assert row["cache_loses_money"] == (expected["net_savings_usd"] < 0)


def as_text(value: int | Fraction) -> str:
    if isinstance(value, int) or value.denominator == 1:
        return str(int(value))
    with exact():
        try:
            return format(Decimal(value.numerator) / Decimal(value.denominator), "f")
        except Inexact:
            return f"~{float(value)!r}"
