"""Property: whatever rows the service writes, the deal's amount is the rows' amount.

For any sequence of set / add / update / delete through ``deals.rows`` on a deal in
automatic mode, the stored OPPORTUNITY equals Σ PRICE × QUANTITY and TAX_VALUE equals
Σ PRICE × QUANTITY × t / (1 + t) over the rows read back, each sum rounded once, half
away from zero, to the cent (spec deals §2.7). The expectation is computed here from
the stored rows, independently of ``pricing.totals``. Each stored row also reprices to
itself, so the amount can always be recomputed from storage. Runs on both backends.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.context import Context
from relatecrm.db import transaction
from relatecrm.deals import rows, service
from relatecrm.deals.models import deals, product_rows
from relatecrm.deals.pricing import RowInput, price_row

CTX = Context(user_id=1, now=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), tz=dt.UTC)


def _decimal(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(low, high, places=places, allow_nan=False, allow_infinity=False)


def _spelled(value: Decimal) -> st.SearchStrategy[Any]:
    """The same number as a client may send it: a JSON number, a string, an integer."""
    choices: list[Any] = [str(value), float(value)]
    if value == value.to_integral_value():
        choices.append(int(value))
    return st.sampled_from(choices)


@st.composite
def row(draw: st.DrawFn) -> dict[str, Any]:
    sent: dict[str, Any] = {"PRICE": draw(_decimal(-1000, 10**6, 3).flatmap(_spelled))}
    if draw(st.booleans()):
        sent["QUANTITY"] = draw(_decimal(-20, 5000, 5).flatmap(_spelled))
    if draw(st.booleans()):
        sent["TAX_RATE"] = draw(_decimal(0, 40, 3).flatmap(_spelled))
    kind = draw(st.sampled_from([None, 1, 2]))
    if kind == 1:
        sent.update(DISCOUNT_TYPE_ID=1, DISCOUNT_SUM=draw(_decimal(0, 500, 2).flatmap(_spelled)))
    elif kind == 2:
        rate = draw(st.one_of(_decimal(0, 99, 2), st.just(Decimal(100))))
        sent.update(DISCOUNT_TYPE_ID=2, DISCOUNT_RATE=draw(_spelled(rate)))
        if rate == 100:
            sent["DISCOUNT_SUM"] = draw(_decimal(0, 500, 2).flatmap(_spelled))
    sent["SORT"] = draw(st.integers(0, 3))
    return sent


operation = st.one_of(
    st.tuples(st.just("set"), st.lists(row(), max_size=5)),
    st.tuples(st.just("add"), row()),
    st.tuples(st.just("update"), row()),
    st.tuples(st.just("delete"), st.none()),
)


def cents(value: Fraction) -> Decimal:
    """Half away from zero, as the spec rounds money."""
    units = math.floor(abs(value) * 100 + Fraction(1, 2))
    return (Decimal(units) / 100).copy_sign(Decimal(value.numerator)).quantize(Decimal("0.01"))


async def _apply(db: AsyncEngine, deal_id: int, op: str, payload: Any) -> None:
    async with transaction(db) as conn:
        current = [r["ID"] for r in await rows.get_rows(conn, CTX, deal_id)]
        if op == "set":
            await rows.set_rows(conn, CTX, deal_id, payload)
        elif op == "add":
            await rows.add_row(conn, CTX, deal_id, payload)
        elif op == "update" and current:
            await rows.update_row(conn, CTX, current[-1], payload)
        elif op == "delete" and current:
            await rows.delete_row(conn, CTX, current[0])


async def _check(db: AsyncEngine, deal_id: int) -> None:
    async with db.connect() as conn:
        stored = (
            (await conn.execute(select(product_rows).where(product_rows.c.owner_id == deal_id)))
            .mappings()
            .all()
        )
        deal = (
            await conn.execute(
                select(deals.c.opportunity, deals.c.tax_value).where(deals.c.id == deal_id)
            )
        ).one()
    total = tax = Fraction(0)
    for line in stored:
        amount = Fraction(line["price"]) * Fraction(line["quantity"])
        rate = Fraction(line["tax_rate"] or 0)
        total += amount
        tax += amount * rate / (100 + rate)
        again = price_row(
            RowInput(
                price=line["price"],
                quantity=line["quantity"],
                discount_type_id=line["discount_type_id"],
                discount_rate=line["discount_rate"],
                discount_sum=line["discount_sum"],
                tax_rate=line["tax_rate"],
            )
        )
        assert (again.price_exclusive, again.price_netto, again.price_brutto) == (
            line["price_exclusive"],
            line["price_netto"],
            line["price_brutto"],
        )
        assert (again.discount_rate, again.discount_sum) == (
            line["discount_rate"],
            line["discount_sum"],
        )
    assert (deal.opportunity, deal.tax_value) == (cents(total), cents(tax))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=5))
async def test_the_amount_is_always_the_stored_rows_amount(
    db: AsyncEngine, ops: list[tuple[str, Any]]
) -> None:
    async with transaction(db) as conn:
        deal_id = await service.add(conn, CTX, {"TITLE": "property"})
    for op, payload in ops:
        await _apply(db, deal_id, op, payload)
        await _check(db, deal_id)
