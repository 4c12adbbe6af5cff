"""SQL for deal product rows. Names arrive here as the UPPER_SNAKE keys of ``COLUMNS``.

Every query names ``owner_type`` so that it reads the ``(owner_type, owner_id, sort, id)``
index; only deals (``D``) own rows today.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.deals.models import product_rows
from relatecrm.listing import EQ, GE, GT, IN, LE, LT, NE, PAGE_SIZE, Condition, Page, finish_page
from relatecrm.values import Unconvertible, to_int

DEAL = "D"
_c = product_rows.c
# The stored fields of a row, in the order crm.deal.productrows.get shows them.
COLUMNS = {
    "ID": _c.id,
    "OWNER_ID": _c.owner_id,
    "OWNER_TYPE": _c.owner_type,
    "PRODUCT_ID": _c.product_id,
    "PRODUCT_NAME": _c.product_name,
    "PRODUCT_DESCRIPTION": _c.product_description,
    "PRICE": _c.price,
    "PRICE_EXCLUSIVE": _c.price_exclusive,
    "PRICE_NETTO": _c.price_netto,
    "PRICE_BRUTTO": _c.price_brutto,
    "QUANTITY": _c.quantity,
    "DISCOUNT_TYPE_ID": _c.discount_type_id,
    "DISCOUNT_RATE": _c.discount_rate,
    "DISCOUNT_SUM": _c.discount_sum,
    "TAX_RATE": _c.tax_rate,
    "TAX_INCLUDED": _c.tax_included,
    "CUSTOMIZED": _c.customized,
    "MEASURE_CODE": _c.measure_code,
    "MEASURE_NAME": _c.measure_name,
    "SORT": _c.sort,
    "XML_ID": _c.xml_id,
    "TYPE": _c.type,
}
# What a list filter may compare: the two indexed identifiers, as crm.item.productrow.list.
FILTERABLE = {"ID": _c.id, "PRODUCT_ID": _c.product_id}
SORTABLE = {"ID": _c.id, "SORT": _c.sort}
_SELECT = [column.label(name) for name, column in COLUMNS.items()]


def _owned(deal_id: int) -> ColumnElement[bool]:
    return and_(_c.owner_type == DEAL, _c.owner_id == deal_id)


def _values(row: Mapping[str, Any]) -> dict[str, Any]:
    return {COLUMNS[name].key: value for name, value in row.items()}


async def load(conn: AsyncConnection, deal_id: int) -> list[dict[str, Any]]:
    """A deal's rows in display order: SORT, then ID."""
    stmt = select(*_SELECT).where(_owned(deal_id)).order_by(_c.sort, _c.id)
    return [dict(row) for row in (await conn.execute(stmt)).mappings()]


async def load_one(conn: AsyncConnection, row_id: int) -> dict[str, Any] | None:
    stmt = select(*_SELECT).where(_c.id == row_id, _c.owner_type == DEAL)
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row is not None else None


async def ids_of(conn: AsyncConnection, deal_id: int) -> list[int]:
    stmt = select(_c.id).where(_owned(deal_id)).order_by(_c.id)
    return [int(value) for value in (await conn.execute(stmt)).scalars()]


async def amounts(
    conn: AsyncConnection, deal_id: int
) -> list[tuple[Decimal, Decimal, Decimal | None]]:
    """(PRICE, QUANTITY, TAX_RATE) of every row: all that the deal totals depend on."""
    stmt = select(_c.price, _c.quantity, _c.tax_rate).where(_owned(deal_id))
    return [(row.price, row.quantity, row.tax_rate) for row in await conn.execute(stmt)]


async def insert_rows(
    conn: AsyncConnection, deal_id: int, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Insert ``rows`` (UPPER keys, without ID); their new ids, in the given order."""
    if not rows:
        return []
    values = [{**_values(row), "owner_type": DEAL, "owner_id": deal_id} for row in rows]
    stmt = insert(product_rows).returning(_c.id, sort_by_parameter_order=True)
    result = await conn.execute(stmt, values)
    return [int(value) for value in result.scalars()]


async def insert_with_ids(
    conn: AsyncConnection, deal_id: int, rows: Mapping[int, Mapping[str, Any]]
) -> None:
    """Insert rows under ids they had before (a ``set`` that keeps row identities)."""
    if rows:
        await conn.execute(
            insert(product_rows),
            [
                {**_values(row), "id": row_id, "owner_type": DEAL, "owner_id": deal_id}
                for row_id, row in rows.items()
            ],
        )


async def name_after_ids(conn: AsyncConnection, row_ids: Iterable[int]) -> None:
    """Rows saved without any name are called ``[{id}]``, as Bitrix names them."""
    wanted = sorted(set(row_ids))
    if wanted:
        name = literal("[") + cast(_c.id, String) + literal("]")
        await conn.execute(update(product_rows).where(_c.id.in_(wanted)).values(product_name=name))


async def update_row(conn: AsyncConnection, row_id: int, values: Mapping[str, Any]) -> None:
    if values:
        await conn.execute(update(product_rows).where(_c.id == row_id).values(**_values(values)))


async def delete_all(conn: AsyncConnection, deal_id: int) -> None:
    await conn.execute(delete(product_rows).where(_owned(deal_id)))


async def delete_row(conn: AsyncConnection, row_id: int) -> None:
    await conn.execute(delete(product_rows).where(_c.id == row_id))


def _condition(cond: Condition) -> ColumnElement[bool]:
    """One filter condition on an integer column; a value that is no integer matches nothing."""
    column = FILTERABLE[cond.field]
    raw = cond.value if cond.op == IN else [cond.value]
    values: list[int] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            values.append(to_int(item))
        except Unconvertible:
            return false() if cond.op != NE else true()
    if cond.op == IN:
        return column.in_(values) if values else false()
    value = values[0]
    compare = {EQ: column == value, NE: column != value, GT: column > value,
               GE: column >= value, LT: column < value, LE: column <= value}  # fmt: skip
    return compare[cond.op]


async def page(
    conn: AsyncConnection,
    deal_id: int,
    conditions: Sequence[Condition],
    order: Sequence[tuple[str, str]],
    start: int,
) -> Page:
    """One page of 50 rows from the exact offset ``start``; no count when ``start`` < 0."""
    where = and_(_owned(deal_id), *(_condition(cond) for cond in conditions))
    terms = [
        SORTABLE[name].asc() if direction == "ASC" else SORTABLE[name].desc()
        for name, direction in order
    ]
    if not any(name == "ID" for name, _ in order):
        terms.append(_c.id.asc())
    offset = max(start, 0)
    stmt = select(*_SELECT).where(where).order_by(*terms).limit(PAGE_SIZE).offset(offset)
    rows = [dict(row) for row in (await conn.execute(stmt)).mappings()]
    total: int | None = None
    if start >= 0:
        if len(rows) < PAGE_SIZE and (offset == 0 or rows):
            total = offset + len(rows)
        else:
            count = select(func.count()).select_from(product_rows).where(where)
            total = int((await conn.execute(count)).scalar_one())
    return finish_page(rows, offset, total)
