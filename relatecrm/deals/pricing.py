"""Exact price arithmetic of Bitrix24 deal product rows (spec §4.4, §2.7, decision A12).

Pure domain code: no I/O, no floats. ``price_row`` turns one row as sent into every
stored price; ``totals`` gives the deal's ``OPPORTUNITY`` and ``TAX_VALUE``.

Notation: ``t = TAX_RATE/100`` (null → 0), ``r = DISCOUNT_RATE/100``, ``q = QUANTITY``.
Money that is sent (the anchor price, ``DISCOUNT_SUM``) enters rounded to the cent, as
it is stored. Everything derived from it is computed exactly, as rationals, and rounded
once, half up (away from zero), to 2 places when stored. Rates and quantities stay exact.
Rationals, not Decimal division: at any finite precision a value that lands exactly on a
half cent can round the wrong way, e.g. PRICE 29.90, TAX_RATE 7, DISCOUNT_RATE 20 gives
PRICE_BRUTTO = 29.90 / 1.07 / 0.8 × 1.07 = 37.375 → 37.38, where 40 digits give 37.37.

Anchor: the first price given of PRICE, PRICE_EXCLUSIVE, PRICE_NETTO, PRICE_BRUTTO (none
given: PRICE = 0, the §4.1 default). The other three are derived from it; values sent
for them are overridden, so a stored row is always consistent. Then::

    backward, from PRICE or PRICE_EXCLUSIVE (§4.4 "deriving on input", the usual case):
        PRICE_EXCLUSIVE = PRICE / (1 + t)             A12: TAX_INCLUDED does not matter
        absolute (1):  PRICE_NETTO = PRICE_EXCLUSIVE + DISCOUNT_SUM
        percent (2):   PRICE_NETTO = PRICE_EXCLUSIVE / (1 − r)                  r ≠ 1
                       PRICE_EXCLUSIVE = 0, PRICE_NETTO = DISCOUNT_SUM          r = 1
    forward, from PRICE_NETTO (or PRICE_NETTO = PRICE_BRUTTO / (1 + t)):
        absolute (1):  PRICE_EXCLUSIVE = PRICE_NETTO − DISCOUNT_SUM
        percent (2):   PRICE_EXCLUSIVE = PRICE_NETTO × (1 − r)
    always:
        PRICE         = PRICE_EXCLUSIVE × (1 + t)     (the anchor itself if it is PRICE)
        PRICE_BRUTTO  = PRICE_NETTO × (1 + t)
        DISCOUNT_SUM  = PRICE_NETTO − PRICE_EXCLUSIVE         percent (= PRICE_NETTO × r)
        DISCOUNT_RATE = DISCOUNT_SUM / PRICE_NETTO × 100      absolute; 0 if PRICE_NETTO = 0
        PRICE_ACCOUNT = PRICE as a 2-decimal string (no report-currency conversion)
    line and deal (§2.7), PRICE being the stored, cent-rounded price:
        line total = PRICE × q             line tax = line total × t / (1 + t)
        OPPORTUNITY = round(Σ line total)  TAX_VALUE = round(Σ line tax)

The line tax is the spec's ``(PRICE − PRICE_EXCLUSIVE) × QUANTITY`` with the unrounded
PRICE_EXCLUSIVE. Both line values stay unrounded and the deal sums are rounded once:
of the three candidate rules only this gives the spec's TAX_VALUE 1377.72 (per line gives
1150.44 + 227.27 = 1377.71; using the stored 884.96 and 454.55 gives 1377.65), it is
what Concord does (shared core: ``money`` and round-once sums), and it depends only on
stored PRICE, QUANTITY and TAX_RATE, so it can be recomputed from stored rows.

Choices where the spec is unsure: with a 100 % percentage discount PRICE becomes 0 even
if another PRICE was sent (§4.4: PRICE_EXCLUSIVE = 0). A percentage DISCOUNT_RATE is
echoed exactly; a derived one is rounded to 2 places (the spec's 10.15).

Validation (§4.1 step 3, only when DISCOUNT_TYPE_ID is sent) raises ``PricingError``
with the exact ERROR_CORE texts plus ``<br>``. Added here, because the arithmetic is
undefined otherwise: DISCOUNT_TYPE_ID other than 1 or 2, and TAX_RATE = -100.
Deliberately not refused (no documented error): negative or zero quantities and
prices, discounts above 100 % or above the price. A float, bool or non-finite number
in a row is a caller bug (``TypeError``/``ValueError``); coerce with ``values.to_decimal``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation
from fractions import Fraction

from relatecrm.errors import CrmError

ABSOLUTE = 1  # DISCOUNT_TYPE_ID: monetary discount per unit
PERCENT = 2  # DISCOUNT_TYPE_ID: percentage discount (the default)
ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
# Multiplies decimals without ever rounding (an inexact result would raise).
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, InvalidOperation])

DISCOUNT_RATE_REQUIRED = (
    "Discount Rate (DISCOUNT_RATE) is required if Percentage Discount Type (DISCOUNT_TYPE_ID)"
    " is defined.<br>"
)
DISCOUNT_SUM_REQUIRED_FULL_RATE = (
    "Discount Sum (DISCOUNT_SUM) is required if Percentage Discount Type (DISCOUNT_TYPE_ID)"
    " is defined and Discount Rate (DISCOUNT_RATE) is 100%<br>"
)
DISCOUNT_SUM_REQUIRED = (
    "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount Type (DISCOUNT_TYPE_ID)"
    " is defined.<br>"
)
# Not Bitrix texts (see the module docstring), worded in the same style.
DISCOUNT_TYPE_UNKNOWN = (
    "Discount Type (DISCOUNT_TYPE_ID) must be 1 (Monetary) or 2 (Percentage).<br>"
)
TAX_RATE_INVALID = "Tax Rate (TAX_RATE) cannot be -100%.<br>"


class PricingError(CrmError):
    """Invalid product row."""


Number = Decimal | int | str
_NUMBERS = frozenset(
    {"price", "price_exclusive", "price_netto", "price_brutto", "quantity",
     "discount_rate", "discount_sum", "tax_rate"}
)  # fmt: skip


def exact(value: object, name: str = "value") -> Decimal:
    """``value`` as an exact, finite Decimal; ``str`` and ``int`` convert exactly."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | str) and not isinstance(value, bool):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{name}: not a number: {value!r}") from None
    else:
        raise TypeError(f"{name}: expected Decimal, int or str, not {type(value).__name__}")
    if not number.is_finite():
        raise ValueError(f"{name}: not a finite number: {value!r}")
    return number


def money(value: Decimal | Fraction) -> Decimal:
    """``value`` rounded half up (away from zero) to 2 places, exactly; never ``-0.00``."""
    rational = Fraction(value)
    cents = math.floor(abs(rational) * 100 + Fraction(1, 2))
    sign = "-" if rational < 0 and cents else ""
    return Decimal(f"{sign}{cents // 100}.{cents % 100:02d}")


@dataclass(frozen=True)
class RowInput:
    """The money fields of one product row as sent (§4.3); ``None`` means "not sent".

    Numbers may be given as Decimal, int or str; they are stored as Decimal.
    """

    price: Number | None = None
    price_exclusive: Number | None = None
    price_netto: Number | None = None
    price_brutto: Number | None = None
    quantity: Number = 1
    discount_type_id: int | None = None
    discount_rate: Number | None = None
    discount_sum: Number | None = None
    tax_rate: Number | None = None
    tax_included: bool = False

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in _NUMBERS and value is not None:
                object.__setattr__(self, item.name, exact(value, item.name.upper()))
        kind = self.discount_type_id
        if kind is not None and (isinstance(kind, bool) or not isinstance(kind, int)):
            raise TypeError(f"DISCOUNT_TYPE_ID: expected int, not {type(kind).__name__}")
        if not isinstance(self.tax_included, bool):
            raise TypeError("TAX_INCLUDED: expected bool")


@dataclass(frozen=True)
class PricedRow:
    """Every stored value of a priced row: money at 2 places, line values exact."""

    price: Decimal
    price_exclusive: Decimal
    price_netto: Decimal
    price_brutto: Decimal
    price_account: str
    quantity: Decimal
    discount_type_id: int
    discount_rate: Decimal
    discount_sum: Decimal
    tax_rate: Decimal | None
    tax_included: bool
    line_total: Decimal  # PRICE × QUANTITY, exact
    line_tax: Fraction  # the tax inside line_total, exact (t/(1+t) rarely terminates)


def _num(value: Number | None, default: Decimal = ZERO) -> Decimal:
    return default if value is None else exact(value)


def _discount_type(row: RowInput) -> int:
    """The row's discount type, after the §4.1 step 3 checks."""
    kind = row.discount_type_id
    if kind is None:
        return PERCENT
    if kind == PERCENT:
        if row.discount_rate is None:
            raise PricingError(DISCOUNT_RATE_REQUIRED)
        if _num(row.discount_rate) == HUNDRED and row.discount_sum is None:
            raise PricingError(DISCOUNT_SUM_REQUIRED_FULL_RATE)
    elif kind == ABSOLUTE:
        if row.discount_sum is None:
            raise PricingError(DISCOUNT_SUM_REQUIRED)
    else:
        raise PricingError(DISCOUNT_TYPE_UNKNOWN)
    return kind


def price_row(row: RowInput) -> PricedRow:
    """Validate ``row`` and derive every price (see the module docstring)."""
    kind = _discount_type(row)
    tax = None if row.tax_rate is None else _num(row.tax_rate)
    grow = 1 + Fraction(tax or ZERO) / 100  # 1 + t
    if grow == 0:
        raise PricingError(TAX_RATE_INVALID)
    rate = _num(row.discount_rate)
    r = Fraction(rate) / 100
    sent_sum = Fraction(money(_num(row.discount_sum)))
    stated: Decimal | None = None  # PRICE, when PRICE is the anchor
    if (
        row.price is None
        and row.price_exclusive is None
        and (row.price_netto is not None or row.price_brutto is not None)
    ):  # forward
        if row.price_netto is not None:
            netto = Fraction(money(_num(row.price_netto)))
        else:
            netto = Fraction(money(_num(row.price_brutto))) / grow
        exclusive = netto - sent_sum if kind == ABSOLUTE else netto * (1 - r)
    else:  # backward
        if row.price is not None or row.price_exclusive is None:
            stated = money(_num(row.price))
            exclusive = Fraction(stated) / grow
        else:
            exclusive = Fraction(money(_num(row.price_exclusive)))
        if kind == ABSOLUTE:
            netto = exclusive + sent_sum
        elif r == 1:
            exclusive, netto, stated = Fraction(0), sent_sum, None
        else:
            netto = exclusive / (1 - r)
    if kind == ABSOLUTE:
        rate = money(sent_sum / netto * 100) if netto else ZERO
    price = stated if stated is not None else money(exclusive * grow)
    quantity = _num(row.quantity, ONE)
    line_total = _EXACT.multiply(price, quantity)
    return PricedRow(
        price=price,
        price_exclusive=money(exclusive),
        price_netto=money(netto),
        price_brutto=money(netto * grow),
        price_account=str(price),
        quantity=quantity,
        discount_type_id=kind,
        discount_rate=rate,
        discount_sum=money(netto - exclusive),  # = DISCOUNT_SUM sent, for absolute
        tax_rate=tax,
        tax_included=row.tax_included,
        line_total=line_total,
        line_tax=Fraction(line_total) * (grow - 1) / grow,
    )


def totals(rows: Iterable[PricedRow]) -> tuple[Decimal, Decimal]:
    """``(OPPORTUNITY, TAX_VALUE)``: the exact line sums, each rounded once to cents."""
    opportunity = tax_value = Fraction(0)
    for row in rows:
        opportunity += Fraction(row.line_total)
        tax_value += row.line_tax
    return money(opportunity), money(tax_value)
