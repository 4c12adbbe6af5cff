"""SQL for products, units of measure and VAT rates.

Field names arrive here already allow-listed by ``products.fields``; lists go through the
shared ``listing.fetch_page``. Fields without a column (``CATALOG_ID``, the pictures) are
added by the service, except that ``CATALOG_ID`` is a constant lists may filter on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Integer, Table, delete, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.listing import ListQuery, Page, Queryable, fetch_page
from relatecrm.pipelines.models import currencies
from relatecrm.products import fields
from relatecrm.products.models import measures, products, vat_rates
from relatecrm.values import MAX_STRING


def _queryable(table: Table, spec_table: fields.Table) -> dict[str, Queryable]:
    out: dict[str, Queryable] = {}
    for name in spec_table.stored:
        spec = spec_table.fields[name]
        column = table.c[spec.column_name or name.lower()]
        out[name] = Queryable(name, spec.type, column, spec.likeable, bool(column.nullable))
    return out


PRODUCT_COLUMNS = _queryable(products, fields.PRODUCT)
# Lists may filter, sort and select on CATALOG_ID like on a column; it is the constant.
PRODUCT_QUERYABLE = {
    **PRODUCT_COLUMNS,
    "CATALOG_ID": Queryable(
        "CATALOG_ID", "integer", literal(fields.CATALOG_ID, Integer), False, False
    ),
}
MEASURE_QUERYABLE = _queryable(measures, fields.MEASURE)
VAT_QUERYABLE = _queryable(vat_rates, fields.VAT)


def max_length(name: str) -> int:
    """The longest string a product field's column holds (PostgreSQL refuses longer ones)."""
    column = PRODUCT_COLUMNS[name].column
    return int(getattr(column.type, "length", None) or MAX_STRING)


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """Field names to column names (every product column is its field's name in lower case)."""
    return {name.lower(): value for name, value in values.items()}


async def insert_product(conn: AsyncConnection, values: Mapping[str, Any]) -> int:
    result = await conn.execute(
        insert(products).values(**_columns(values)).returning(products.c.id)
    )
    return int(result.scalar_one())


async def update_product(conn: AsyncConnection, product_id: int, values: Mapping[str, Any]) -> None:
    if values:
        await conn.execute(
            update(products).where(products.c.id == product_id).values(**_columns(values))
        )


async def delete_product(conn: AsyncConnection, product_id: int) -> bool:
    """Delete the product; False if there was none. Product rows naming it keep their copy."""
    result = await conn.execute(delete(products).where(products.c.id == product_id))
    return bool(result.rowcount)


async def fetch_product(
    conn: AsyncConnection, product_id: int, names: Sequence[str], *, lock: bool = False
) -> dict[str, Any] | None:
    """The named stored fields of one product; ``lock`` holds it until commit (PostgreSQL)."""
    stmt = select(*(PRODUCT_COLUMNS[name].column.label(name) for name in names)).where(
        products.c.id == product_id
    )
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row is not None else None


async def list_products(conn: AsyncConnection, query: ListQuery, tz: dt.tzinfo) -> Page:
    return await fetch_page(conn, products, PRODUCT_QUERYABLE, query, tz)


# References a product write names: share-locked so that they cannot vanish before commit.


async def _exists(conn: AsyncConnection, table: Table, column: str, value: Any) -> bool:
    stmt = select(table.c[column]).where(table.c[column] == value)
    return (await conn.execute(stmt.with_for_update(read=True))).first() is not None


async def currency_exists(conn: AsyncConnection, code: str) -> bool:
    return await _exists(conn, currencies, "currency", code)


async def vat_rate_exists(conn: AsyncConnection, vat_id: int) -> bool:
    return await _exists(conn, vat_rates, "id", vat_id)


async def measure_exists(conn: AsyncConnection, measure_id: int) -> bool:
    return await _exists(conn, measures, "id", measure_id)


# Units of measure and VAT rates (read-only views of the seeded tables).


async def fetch_measure(conn: AsyncConnection, measure_id: int) -> dict[str, Any] | None:
    return await _fetch_one(conn, MEASURE_QUERYABLE, measures, measure_id)


async def fetch_vat_rate(conn: AsyncConnection, vat_id: int) -> dict[str, Any] | None:
    return await _fetch_one(conn, VAT_QUERYABLE, vat_rates, vat_id)


async def _fetch_one(
    conn: AsyncConnection, fields_: Mapping[str, Queryable], table: Table, row_id: int
) -> dict[str, Any] | None:
    stmt = select(*(q.column.label(name) for name, q in fields_.items())).where(
        table.c.id == row_id
    )
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row is not None else None


async def list_measures(conn: AsyncConnection, query: ListQuery, tz: dt.tzinfo) -> Page:
    return await fetch_page(conn, measures, MEASURE_QUERYABLE, query, tz)


async def list_vat_rates(conn: AsyncConnection, query: ListQuery, tz: dt.tzinfo) -> Page:
    return await fetch_page(conn, vat_rates, VAT_QUERYABLE, query, tz)
