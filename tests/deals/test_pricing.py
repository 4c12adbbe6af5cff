"""Product-row price arithmetic (spec §4.4, §2.7, A12): seeds, hand-computed cases, errors,
properties. Expected values are worked out by hand in the comments, never by the code."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, localcontext
from fractions import Fraction
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relatecrm.bitrix.envelope import error_body
from relatecrm.deals.pricing import PricedRow, PricingError, RowInput, money, price_row, totals
from relatecrm.errors import CrmError

D = Decimal


def fields_of(row: PricedRow) -> tuple[Decimal, ...]:
    """PRICE, PRICE_EXCLUSIVE, PRICE_NETTO, PRICE_BRUTTO, DISCOUNT_SUM, DISCOUNT_RATE,
    line total and line tax in cents."""
    prices = (row.price, row.price_exclusive, row.price_netto, row.price_brutto)
    return (
        *prices,
        row.discount_sum,
        row.discount_rate,
        money(row.line_total),
        money(row.line_tax),
    )


# ---------------------------------------------------------------- the seeds' worked examples


def test_seed_get_example_rows() -> None:
    # productrows.get: PRICE 899.1, 10 % off, no tax → NETTO 899.1/0.9 = 999, SUM 99.9.
    first = price_row(
        RowInput(price=D("899.1"), discount_type_id=2, discount_rate=D(10), tax_included=True)
    )
    assert fields_of(first)[:6] == (D("899.10"), D("899.10"), D(999), D(999), D("99.9"), D(10))
    assert first.price_account == "899.10"
    assert first.tax_rate is None and first.tax_included is True
    # The same row anchored on its PRICE_NETTO gives the same prices.
    again = price_row(RowInput(price_netto=999, discount_type_id=2, discount_rate=10))
    assert fields_of(again) == fields_of(first)
    # Row 2: PRICE 100, no discount, no tax: every price 100, PRICE_ACCOUNT "100.00".
    second = price_row(RowInput(price=100, discount_type_id=2, discount_rate=0, discount_sum=0))
    assert fields_of(second)[:6] == (D(100), D(100), D(100), D(100), D(0), D(0))
    assert second.price_account == "100.00"


def test_seed_set_example_and_deal_totals() -> None:
    # Row 1: EXCL = 1000/1.13 = 884.9557…; NETTO = 984.9557…; RATE = 100/984.9557×100 =
    # 10.1527…; BRUTTO = 984.9557×1.13 = 1000 + 113 = 1113.
    one = price_row(RowInput(price=1000, quantity=10, discount_type_id=1, discount_sum=100,
                             tax_rate=13))  # fmt: skip
    assert fields_of(one)[:6] == (D(1000), D("884.96"), D("984.96"), D(1113), D(100), D("10.15"))
    # Row 2: EXCL = 500/1.1 = 454.5454…; NETTO = 454.5454/0.9 = 505.0505…;
    # SUM = 50.5050… → 50.51 (from rounded figures it would be 50.50); BRUTTO = 555.5555….
    two = price_row(RowInput(price=500, quantity=5, discount_type_id=2, discount_rate=10,
                             tax_rate=10))  # fmt: skip
    assert fields_of(two)[:6] == (D(500), D("454.55"), D("505.05"), D("555.56"), D("50.51"), D(10))
    # OPPORTUNITY = 10000 + 2500; TAX = 10000×13/113 + 2500×10/110 = 1150.4424… + 227.2727…
    # = 1377.7152… → 1377.72 (rounding per line would give 1150.44 + 227.27 = 1377.71).
    assert totals([one, two]) == (D("12500.00"), D("1377.72"))
    assert money(one.line_tax) + money(two.line_tax) == D("1377.71")


# ---------------------------------------------------------------- hand-computed table

# (PRICE, EXCL, NETTO, BRUTTO, DISCOUNT_SUM, DISCOUNT_RATE, line total, line tax)
CASES = [
    # 100, nothing else: every price 100, line 100, no tax.
    pytest.param(dict(price="100"), ("100", "100", "100", "100", "0", "0", "100", "0"), id="plain"),
    # 120 at 20 %: EXCL 120/1.2 = 100; BRUTTO 100×1.2 = 120; tax 120×0.2/1.2 = 20.
    pytest.param(dict(price="120", tax_rate="20", tax_included=False),
                 ("120", "100", "100", "120", "0", "0", "120", "20"), id="tax-excluded-flag"),
    # A12: TAX_INCLUDED changes nothing; same numbers as above.
    pytest.param(dict(price="120", tax_rate="20", tax_included=True),
                 ("120", "100", "100", "120", "0", "0", "120", "20"), id="tax-included-flag"),
    # 108 at 20 %, 10 % off, q 2: EXCL 90; NETTO 90/0.9 = 100; SUM 10; BRUTTO 120;
    # line 216; tax 216×0.2/1.2 = 36.
    pytest.param(dict(price="108", quantity="2", tax_rate="20", discount_type_id=2,
                      discount_rate="10"),
                 ("108", "90", "100", "120", "10", "10", "216", "36"), id="percent-tax"),
    # 102 at 20 %, 15 off, q 3: EXCL 85; NETTO 100; RATE 15/100 = 15 %; BRUTTO 120;
    # line 306; tax 306/6 = 51.
    pytest.param(dict(price="102", quantity="3", tax_rate="20", discount_type_id=1,
                      discount_sum="15"),
                 ("102", "85", "100", "120", "15", "15", "306", "51"), id="absolute-tax"),
    # Tax 0, 20 % off 50: NETTO 50/0.8 = 62.5; SUM 12.5; BRUTTO 62.5.
    pytest.param(dict(price="50", tax_rate="0", discount_type_id=2, discount_rate="20"),
                 ("50", "50", "62.5", "62.5", "12.5", "20", "50", "0"), id="zero-tax"),
    # Tax null, 10 off 40: NETTO 50; RATE 10/50 = 20 %.
    pytest.param(dict(price="40", discount_type_id=1, discount_sum="10"),
                 ("40", "40", "50", "50", "10", "20", "40", "0"), id="null-tax-absolute"),
    # 19.99 at 19 %, q 2.5: EXCL 19.99/1.19 = 16.7983… → 16.80; BRUTTO 19.99;
    # line 49.975 → 49.98 (half up); tax 49.975×19/119 = 7.9792… → 7.98.
    pytest.param(dict(price="19.99", quantity="2.5", tax_rate="19"),
                 ("19.99", "16.80", "16.80", "19.99", "0", "0", "49.98", "7.98"), id="q-2.5"),
    # 3.33 × 0.333 = 1.10889 → 1.11.
    pytest.param(dict(price="3.33", quantity="0.333"),
                 ("3.33", "3.33", "3.33", "3.33", "0", "0", "1.11", "0"), id="q-0.333"),
    # 99.99 at 10 %, 5 % off, q 0.333: EXCL 99.99/1.1 = 90.9; NETTO 90.9/0.95 = 95.6842…;
    # SUM 4.7842… → 4.78; BRUTTO 95.6842×1.1 = 105.2526… → 105.25;
    # line 99.99×0.333 = 33.29667 → 33.30; tax 33.29667/11 = 3.02697 → 3.03.
    pytest.param(dict(price="99.99", quantity="0.333", tax_rate="10", discount_type_id=2,
                      discount_rate="5"),
                 ("99.99", "90.90", "95.68", "105.25", "4.78", "5", "33.30", "3.03"),
                 id="q-0.333-tax-percent"),
    # 10.005 enters at cents half up: 10.01 (a float 10.005 would round to 10.00).
    pytest.param(dict(price="10.005"),
                 ("10.01", "10.01", "10.01", "10.01", "0", "0", "10.01", "0"), id="half-up-price"),
    # 19.994999 → 19.99.
    pytest.param(dict(price="19.994999"),
                 ("19.99", "19.99", "19.99", "19.99", "0", "0", "19.99", "0"), id="many-decimals"),
    # 33.333333 → 33.33 at 18 %: EXCL 33.33/1.18 = 28.2457… → 28.25; BRUTTO 33.33;
    # tax 33.33 − 28.2457… = 5.0842… → 5.08.
    pytest.param(dict(price="33.333333", tax_rate="18"),
                 ("33.33", "28.25", "28.25", "33.33", "0", "0", "33.33", "5.08"),
                 id="many-decimals-tax"),
    # 100 % off with SUM 250, 10 %, q 2: EXCL 0, PRICE 0; NETTO = SUM = 250; BRUTTO 275.
    pytest.param(dict(price="0", quantity="2", tax_rate="10", discount_type_id=2,
                      discount_rate="100", discount_sum="250"),
                 ("0", "0", "250", "275", "250", "100", "0", "0"), id="full-discount-sum"),
    # 100 % off with SUM 80 and PRICE 99 sent: PRICE becomes 0; NETTO = BRUTTO = 80.
    pytest.param(dict(price="99", discount_type_id=2, discount_rate="100", discount_sum="80"),
                 ("0", "0", "80", "80", "80", "100", "0", "0"), id="full-discount-overrides"),
    # 100 % without SUM and without DISCOUNT_TYPE_ID (no check): SUM defaults to 0 → all 0.
    pytest.param(dict(price="50", discount_rate="100"),
                 ("0", "0", "0", "0", "0", "100", "0", "0"), id="full-discount-no-sum"),
    # Absolute on a zero NETTO: RATE 0 (no division by zero).
    pytest.param(dict(price="0", discount_type_id=1, discount_sum="0"),
                 ("0", "0", "0", "0", "0", "0", "0", "0"), id="absolute-zero-netto"),
    # Free item, 5 off: NETTO 0 + 5 = 5; RATE 5/5 = 100 %.
    pytest.param(dict(price="0", discount_type_id=1, discount_sum="5"),
                 ("0", "0", "5", "5", "5", "100", "0", "0"), id="absolute-free"),
    # Anchor NETTO 200, 25 % off, 7 %, q 4: EXCL 150; SUM 50; BRUTTO 214; PRICE 160.5;
    # line 642; tax 4×(160.5 − 150) = 42.
    pytest.param(dict(price_netto="200", quantity="4", tax_rate="7", discount_type_id=2,
                      discount_rate="25"),
                 ("160.5", "150", "200", "214", "50", "25", "642", "42"), id="anchor-netto"),
    # Anchor BRUTTO 119 at 19 %, 10 off: NETTO 100; EXCL 90; PRICE 107.1; RATE 10 %;
    # tax 107.1 − 90 = 17.1.
    pytest.param(dict(price_brutto="119", tax_rate="19", discount_type_id=1, discount_sum="10"),
                 ("107.1", "90", "100", "119", "10", "10", "107.1", "17.1"), id="anchor-brutto"),
    # Anchor EXCL 80 at 25 %, 20 % off: NETTO 100; SUM 20; PRICE 100; BRUTTO 125; tax 20.
    pytest.param(dict(price_exclusive="80", tax_rate="25", discount_type_id=2,
                      discount_rate="20"),
                 ("100", "80", "100", "125", "20", "20", "100", "20"), id="anchor-exclusive"),
    # PRICE wins over inconsistent EXCL/NETTO/BRUTTO: 110 at 10 % → EXCL = NETTO = 100.
    pytest.param(dict(price="110", price_exclusive="1", price_netto="2", price_brutto="3",
                      tax_rate="10"),
                 ("110", "100", "100", "110", "0", "0", "110", "10"), id="price-wins"),
    # 33.333 % off 100: NETTO 100/0.66667 = 149.99925… → 150.00; SUM 49.99925… → 50.00;
    # the rate is echoed exactly.
    pytest.param(dict(price="100", discount_type_id=2, discount_rate="33.333"),
                 ("100", "100", "150", "150", "50", "33.333", "100", "0"), id="rate-decimals"),
    # SUM 0.125 enters as 0.13: NETTO 10.13; RATE 0.13/10.13 = 1.2833… % → 1.28.
    pytest.param(dict(price="10", discount_type_id=1, discount_sum="0.125"),
                 ("10", "10", "10.13", "10.13", "0.13", "1.28", "10", "0"), id="sum-decimals"),
    # Return line, q -2 at 20 %: EXCL 10/1.2 = 8.333… → 8.33; line -20; tax -20/6 → -3.33.
    pytest.param(dict(price="10", quantity="-2", tax_rate="20"),
                 ("10", "8.33", "8.33", "10", "0", "0", "-20", "-3.33"), id="negative-quantity"),
    # 0.01 × -0.5 = -0.005 → -0.01 (half away from zero).
    pytest.param(dict(price="0.01", quantity="-0.5"),
                 ("0.01", "0.01", "0.01", "0.01", "0", "0", "-0.01", "0"), id="half-away"),
    # 10.75 at 7.5 %: EXCL 10.75/1.075 = 10; tax 0.75.
    pytest.param(dict(price="10.75", tax_rate="7.5"),
                 ("10.75", "10", "10", "10.75", "0", "0", "10.75", "0.75"), id="tax-7.5"),
    # 60.50 at 21 %, 50 % off, q 1.5: EXCL 60.5/1.21 = 50; NETTO 100; SUM 50; BRUTTO 121;
    # line 90.75; tax 1.5×10.5 = 15.75.
    pytest.param(dict(price="60.50", quantity="1.5", tax_rate="21", discount_type_id=2,
                      discount_rate="50"),
                 ("60.5", "50", "100", "121", "50", "50", "90.75", "15.75"), id="q-1.5-half-off"),
    # Exactly a half cent: 29.90 at 7 %, 20 % off: BRUTTO = 29.90/0.8 = 37.375 → 37.38;
    # EXCL 29.90/1.07 = 27.9439… → 27.94; NETTO 27.9439/0.8 = 34.9299… → 34.93;
    # SUM 6.9859… → 6.99; tax 29.90 − 27.9439… = 1.9560… → 1.96.
    pytest.param(dict(price="29.90", tax_rate="7", discount_type_id=2, discount_rate="20"),
                 ("29.9", "27.94", "34.93", "37.38", "6.99", "20", "29.9", "1.96"),
                 id="half-cent-brutto"),
    # Percentage type ignores a sent SUM (999): 90 at 10 % off → NETTO 100, SUM 10.
    pytest.param(dict(price="90", discount_type_id=2, discount_rate="10", discount_sum="999"),
                 ("90", "90", "100", "100", "10", "10", "90", "0"), id="percent-ignores-sum"),
    # Absolute type ignores a sent RATE (50): 90 with 10 off → NETTO 100, RATE 10 %.
    pytest.param(dict(price="90", discount_type_id=1, discount_sum="10", discount_rate="50"),
                 ("90", "90", "100", "100", "10", "10", "90", "0"), id="absolute-ignores-rate"),
    # Nothing sent: PRICE defaults to 0, QUANTITY to 1.
    pytest.param(dict(), ("0", "0", "0", "0", "0", "0", "0", "0"), id="defaults"),
]  # fmt: skip


@pytest.mark.parametrize(("given", "expected"), CASES)
def test_hand_computed(given: dict[str, Any], expected: tuple[str, ...]) -> None:
    priced = price_row(RowInput(**given))
    assert fields_of(priced) == tuple(D(value) for value in expected)
    # Money is stored at exactly 2 places, and PRICE_ACCOUNT is PRICE as that string.
    money_fields = fields_of(priced)[:5]
    assert all(value.as_tuple().exponent == -2 for value in money_fields)
    assert priced.price_account == f"{priced.price:.2f}"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # No rows: 0.00 / 0.00.
        pytest.param([], ("0.00", "0.00"), id="empty"),
        # 3 × (0.01 × 0.5) = 0.015 → 0.02; per line it would be 3 × 0.01 = 0.03.
        pytest.param([dict(price="0.01", quantity="0.5")] * 3, ("0.02", "0"), id="round-once"),
        # 3 × 0.01 at 50 %: tax 3 × 0.01/3 = 0.01; per line it would be 3 × 0.00 = 0.
        pytest.param([dict(price="0.01", tax_rate="50")] * 3, ("0.03", "0.01"), id="tax-once"),
        # 100 at 20 % plus a return of 2 × 10 at 20 %: 100 − 20 = 80; tax 16.67 − 3.33… →
        # 100/6 − 20/6 = 80/6 = 13.333… → 13.33.
        pytest.param([dict(price="100", tax_rate="20"),
                      dict(price="10", quantity="-2", tax_rate="20")],
                     ("80", "13.33"), id="with-return"),
    ],
)  # fmt: skip
def test_totals_hand_computed(rows: list[dict[str, Any]], expected: tuple[str, str]) -> None:
    assert totals(price_row(RowInput(**row)) for row in rows) == (D(expected[0]), D(expected[1]))


# ---------------------------------------------------------------- errors

RATE_REQUIRED = (
    "Discount Rate (DISCOUNT_RATE) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) "
    "is defined.<br>"
)
SUM_REQUIRED_100 = (
    "Discount Sum (DISCOUNT_SUM) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) "
    "is defined and Discount Rate (DISCOUNT_RATE) is 100%<br>"
)
SUM_REQUIRED = (
    "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount Type (DISCOUNT_TYPE_ID) "
    "is defined.<br>"
)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (dict(price=10, discount_type_id=2), RATE_REQUIRED),
        (dict(price=10, discount_type_id=2, discount_sum=5), RATE_REQUIRED),
        (dict(price=10, discount_type_id=2, discount_rate=100), SUM_REQUIRED_100),
        (dict(price=10, discount_type_id=2, discount_rate="100.00"), SUM_REQUIRED_100),
        (dict(price=10, discount_type_id=1), SUM_REQUIRED),
        (dict(price=10, discount_type_id=1, discount_rate=10), SUM_REQUIRED),
        # Ours: the arithmetic is undefined for these.
        (dict(price=10, discount_type_id=3, discount_sum=1), "Discount Type (DISCOUNT_TYPE_ID) "
         "must be 1 (Monetary) or 2 (Percentage).<br>"),
        (dict(price=10, discount_type_id=0), "Discount Type (DISCOUNT_TYPE_ID) "
         "must be 1 (Monetary) or 2 (Percentage).<br>"),
        (dict(price=10, tax_rate="-100.0"), "Tax Rate (TAX_RATE) cannot be -100%.<br>"),
    ],
)  # fmt: skip
def test_documented_errors(given: dict[str, Any], message: str) -> None:
    with pytest.raises(PricingError) as caught:
        price_row(RowInput(**given))
    assert caught.value.message == message
    assert isinstance(caught.value, CrmError)
    status, body = error_body(caught.value)
    assert (status, orjson.loads(body)) == (400, {"error": "ERROR_CORE",
                                                  "error_description": message})  # fmt: skip


@pytest.mark.parametrize(
    "given",
    [
        dict(price=10, discount_rate=100),  # no DISCOUNT_TYPE_ID: no check
        dict(price=10, discount_sum=5),
        dict(price=10, discount_type_id=2, discount_rate=100, discount_sum=0),
        dict(price=10, discount_type_id=2, discount_rate="99.99"),
        dict(price=10, discount_type_id=1, discount_sum=0),
        dict(price=10, discount_type_id=2, discount_rate=150),  # not refused, no documented error
        dict(price=-10, quantity=0, tax_rate="-50"),
    ],
)
def test_accepted_rows(given: dict[str, Any]) -> None:
    price_row(RowInput(**given))


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (dict(price=10.5), TypeError),
        (dict(quantity=True), TypeError),
        (dict(discount_type_id="2"), TypeError),
        (dict(discount_type_id=2.0), TypeError),
        (dict(tax_included="Y"), TypeError),
        (dict(price="abc"), ValueError),
        (dict(price="1,5"), ValueError),
        (dict(tax_rate=D("NaN")), ValueError),
        (dict(discount_sum="Infinity"), ValueError),
    ],
)
def test_caller_bugs_are_refused(given: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        RowInput(**given)


# ---------------------------------------------------------------- properties

ANCHORS = ("price", "price_exclusive", "price_netto", "price_brutto")


def amounts(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(D(low), D(high), places=places, allow_nan=False, allow_infinity=False)


@st.composite
def valid_rows(draw: st.DrawFn, anchor: str | None = None, signed: bool = False) -> RowInput:
    """Rows that price without error; non-negative prices, tax 0..100 %, discount 0..100 %."""
    anchor = anchor or draw(st.sampled_from(ANCHORS))
    given: dict[str, Any] = {anchor: draw(amounts("0", "1000000", draw(st.sampled_from([2, 4]))))}
    given["quantity"] = draw(amounts("-1000" if signed else "0", "1000", 3))
    given["tax_rate"] = draw(st.none() | amounts("0", "100", 2))
    given["tax_included"] = draw(st.booleans())
    kind = given["discount_type_id"] = draw(st.sampled_from([None, 1, 2]))
    if kind == 1 or draw(st.booleans()):
        given["discount_sum"] = draw(amounts("0", "100000", draw(st.sampled_from([2, 3]))))
    if kind == 2 or (kind is None and draw(st.booleans())):
        given["discount_rate"] = draw(st.sampled_from([D(0), D(100)]) | amounts("0", "100", 3))
        if kind == 2 and given["discount_rate"] == 100:
            given.setdefault("discount_sum", draw(amounts("0", "100000", 2)))
    return RowInput(**given)


def grow(row: PricedRow) -> Fraction:
    return 1 + Fraction(row.tax_rate or 0) / 100


@given(valid_rows())
def test_prices_are_ordered_and_non_negative(row: RowInput) -> None:
    priced = price_row(row)
    assert priced.price_brutto >= priced.price_netto >= 0
    assert priced.price_netto >= priced.price_exclusive
    assert priced.price_brutto >= priced.price
    if row.price_netto is None and row.price_brutto is None:  # backward: nothing negative
        assert priced.price >= 0 and priced.price_exclusive >= 0 and priced.discount_sum >= 0


@given(valid_rows())
def test_price_is_exclusive_times_tax_within_a_cent(row: RowInput) -> None:
    priced = price_row(row)
    g = grow(priced)
    off = abs(Fraction(priced.price) - Fraction(priced.price_exclusive) * g)
    # PRICE sent: only EXCL is rounded (≤ 0.005 × g ≤ 1 cent); else PRICE is rounded too.
    assert off <= (Fraction(1, 100) if row.price is not None else Fraction(5, 1000) * (1 + g))
    brutto_off = abs(Fraction(priced.price_brutto) - Fraction(priced.price_netto) * g)
    assert brutto_off <= Fraction(5, 1000) * (1 + g)


@given(st.lists(valid_rows(signed=True), max_size=8))
def test_totals_are_the_sum_of_the_lines(rows: list[RowInput]) -> None:
    priced = [price_row(row) for row in rows]
    opportunity, tax_value = totals(priced)
    # §2.7 from the stored fields: Σ PRICE × QUANTITY and Σ (PRICE − PRICE/(1+t)) × QUANTITY.
    zero = Fraction(0)
    assert opportunity == money(
        sum((Fraction(p.price) * Fraction(p.quantity) for p in priced), zero)
    )
    assert tax_value == money(
        sum(((Fraction(p.price) - Fraction(p.price) / grow(p)) * Fraction(p.quantity)
             for p in priced), zero)
    )  # fmt: skip
    # Against the per-line cents: at most half a cent per line apart, and to the cent for one.
    for total, per_line in ((opportunity, [money(p.line_total) for p in priced]),
                            (tax_value, [money(p.line_tax) for p in priced])):  # fmt: skip
        assert abs(total - sum(per_line, D(0))) <= D("0.005") * len(priced)
    if len(priced) == 1:
        assert (opportunity, tax_value) == (money(priced[0].line_total), money(priced[0].line_tax))


NUMBER_FIELDS = ("price", "price_exclusive", "price_netto", "price_brutto", "quantity",
                 "discount_rate", "discount_sum", "tax_rate")  # fmt: skip


@given(valid_rows())
def test_strings_and_decimals_agree(row: RowInput) -> None:
    as_text: dict[str, Any] = {name: None if getattr(row, name) is None else str(getattr(row, name))
                               for name in NUMBER_FIELDS}  # fmt: skip
    text_row = RowInput(**as_text, discount_type_id=row.discount_type_id,
                        tax_included=row.tax_included)  # fmt: skip
    assert price_row(text_row) == price_row(row)
    # Nor on the caller's decimal context.
    with localcontext(prec=3, rounding=ROUND_DOWN):
        assert price_row(text_row) == price_row(row)


@given(valid_rows(anchor="price"))
def test_repricing_a_stored_row_changes_nothing(row: RowInput) -> None:
    priced = price_row(row)
    stored = RowInput(price=priced.price, quantity=priced.quantity,
                      discount_type_id=priced.discount_type_id,
                      discount_rate=priced.discount_rate, discount_sum=priced.discount_sum,
                      tax_rate=priced.tax_rate, tax_included=priced.tax_included)  # fmt: skip
    assert price_row(stored) == priced


@given(valid_rows())
def test_tax_included_flag_changes_no_number(row: RowInput) -> None:
    flipped = price_row(RowInput(**{**vars(row), "tax_included": not row.tax_included}))
    assert fields_of(flipped) == fields_of(price_row(row))
    assert flipped.tax_included is not row.tax_included


@given(st.floats(allow_nan=False))
def test_floats_are_never_accepted(value: float) -> None:
    with pytest.raises(TypeError):
        RowInput(price=value)  # type: ignore[arg-type]
