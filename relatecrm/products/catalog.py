"""What a product row takes from the catalog: its product, or its unit (spec deals §4.1).

Kept apart from the catalog's own service so that the deals domain depends on this one
read and nothing else of the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.products.models import measures, products, vat_rates


@dataclass(frozen=True)
class ProductInfo:
    """A catalog product as product rows see it."""

    id: int
    name: str
    price: Decimal | None
    currency_id: str | None
    vat_rate: Decimal | None  # percent; None when the product has no VAT rate
    vat_included: bool
    measure_code: int  # 0 when the product has no measure
    measure_name: str  # "" when the product has no measure
    xml_id: str | None


async def find(conn: AsyncConnection, product_ids: list[int]) -> dict[int, ProductInfo]:
    """The named products that exist, by id (one query for a whole row set)."""
    wanted = sorted({pid for pid in product_ids if pid > 0})
    if not wanted:
        return {}
    stmt = (
        select(
            products.c.id,
            products.c.name,
            products.c.price,
            products.c.currency_id,
            vat_rates.c.rate,
            products.c.vat_included,
            measures.c.code,
            measures.c.symbol,
            products.c.xml_id,
        )
        .select_from(
            products.outerjoin(vat_rates, vat_rates.c.id == products.c.vat_id).outerjoin(
                measures, measures.c.id == products.c.measure
            )
        )
        .where(products.c.id.in_(wanted))
    )
    found: dict[int, ProductInfo] = {}
    for row in await conn.execute(stmt):
        found[int(row.id)] = ProductInfo(
            id=int(row.id),
            name=row.name,
            price=row.price,
            currency_id=row.currency_id,
            vat_rate=row.rate,
            vat_included=row.vat_included == "Y",
            measure_code=int(row.code) if row.code is not None else 0,
            measure_name=row.symbol or "",
            xml_id=row.xml_id,
        )
    return found


async def measure_names(conn: AsyncConnection, codes: Iterable[int]) -> dict[int, str]:
    """Catalog measure symbols by code (``796`` → ``pcs``), for rows that name only a code."""
    wanted = sorted({code for code in codes if code > 0})
    if not wanted:
        return {}
    stmt = select(measures.c.code, measures.c.symbol).where(measures.c.code.in_(wanted))
    return {int(row.code): row.symbol or "" for row in await conn.execute(stmt)}
