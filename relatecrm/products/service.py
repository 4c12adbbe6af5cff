"""Product catalog rules: defaults, references, the price's currency, events; and the
read-only units of measure and VAT rates.

Every dialect's product, measure and VAT methods end here. Functions take an open
connection inside the caller's transaction and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.context import Context
from relatecrm.deals.fields import FieldSpec
from relatecrm.errors import (
    InadmissibleSelect,
    InvalidFieldValue,
    MeasureNotFound,
    ProductNameMissing,
    ProductNotFound,
    VatRateNotFound,
)
from relatecrm.events import outbox
from relatecrm.listing import ListQuery, Page
from relatecrm.pipelines.service import base_currency
from relatecrm.products import repository
from relatecrm.products.fields import (
    CATALOG_ID,
    DESCRIPTION_TYPES,
    MEASURE,
    PRODUCT,
    VAT_GET_ORDER,
    describe_vat,
)
from relatecrm.values import Unconvertible, coerce, is_null

ENTITY = "product"
# Fields that always hold a value: an empty one keeps the current value (the default on add).
KEPT_WHEN_EMPTY = frozenset({"ACTIVE", "SORT", "VAT_INCLUDED", "DESCRIPTION_TYPE", "CURRENCY_ID"})
# References where 0 means "none", as in Bitrix (``!empty($arFields['VAT_ID'])``).
OPTIONAL_REFERENCES = ("SECTION_ID", "VAT_ID", "MEASURE")


def describe_fields() -> dict[str, dict[str, Any]]:
    return PRODUCT.describe()


def _invalid(name: str) -> InvalidFieldValue:
    return InvalidFieldValue(name, PRODUCT.fields[name].title)


def _normalized(name: str, value: Any) -> Any:
    """Rules of single fields beyond their type: codes in their canonical case, 0 for "no
    reference"; Unconvertible for a value the field cannot take."""
    if value is None:
        return None
    if name in OPTIONAL_REFERENCES:
        if value < 0:
            raise Unconvertible(value)
        return value or None
    if name == "CURRENCY_ID":
        return value.strip().upper()
    if name == "DESCRIPTION_TYPE":
        if value.strip().lower() not in DESCRIPTION_TYPES:
            raise Unconvertible(value)
        return value.strip().lower()
    if name == "DESCRIPTION":
        return value.strip()  # as Bitrix trims it
    return value


def _coerce(spec: FieldSpec, raw: Any, tz: dt.tzinfo) -> Any:
    """The field's Python value; InvalidFieldValue for anything that is not of its type."""
    try:
        if isinstance(raw, Mapping | list):
            raise Unconvertible(raw)
        value = _normalized(spec.name, coerce(spec.type, raw, tz))
        if isinstance(value, str) and len(value) > repository.max_length(spec.name):
            raise Unconvertible(raw)
    except Unconvertible:
        raise _invalid(spec.name) from None
    return value


def _writable(fields: Mapping[str, Any], tz: dt.tzinfo) -> dict[str, Any]:
    """Known writable fields as Python values. Unknown ones (``PROPERTY_*``, ``CODE`` ...)
    and read-only ones (pictures, ``CATALOG_ID``, authors, dates) are ignored, as Bitrix
    ignores what it does not know."""
    values: dict[str, Any] = {}
    for name, raw in fields.items():
        spec = PRODUCT.fields.get(name)
        if spec is None or spec.read_only:
            continue
        if name in KEPT_WHEN_EMPTY and is_null(raw):
            continue
        values[name] = _coerce(spec, raw, tz)
    return values


async def _check(conn: AsyncConnection, values: dict[str, Any], *, creating: bool) -> None:
    """NAME must not be empty; references must exist."""
    if (creating or "NAME" in values) and not str(values.get("NAME") or "").strip():
        raise ProductNameMissing()
    currency = values.get("CURRENCY_ID")
    if currency is not None and not await repository.currency_exists(conn, currency):
        raise _invalid("CURRENCY_ID")
    vat_id = values.get("VAT_ID")
    if vat_id is not None and not await repository.vat_rate_exists(conn, vat_id):
        raise _invalid("VAT_ID")
    measure = values.get("MEASURE")
    if measure is not None and not await repository.measure_exists(conn, measure):
        raise _invalid("MEASURE")


async def add(conn: AsyncConnection, ctx: Context, fields: Mapping[str, Any]) -> int:
    """Create a product. A price without a currency is in the base currency, which is what
    Bitrix does (``CCrmProduct::setPrice`` falls back to the base currency)."""
    values = _writable(fields, ctx.tz)
    await _check(conn, values, creating=True)
    if values.get("PRICE") is not None and values.get("CURRENCY_ID") is None:
        values["CURRENCY_ID"] = await base_currency(conn)
    values.update(CREATED_BY=ctx.user_id, MODIFIED_BY=ctx.user_id)
    values.update(DATE_CREATE=ctx.now, TIMESTAMP_X=ctx.now)
    product_id = await repository.insert_product(conn, values)
    await _record(conn, ctx, "Add", product_id)
    return product_id


async def update(
    conn: AsyncConnection, ctx: Context, product_id: int, fields: Mapping[str, Any]
) -> None:
    """Change the fields given. A new price without a currency keeps the product's
    currency (the base one if it had none); a new currency alone keeps the price."""
    current = await repository.fetch_product(conn, product_id, ["CURRENCY_ID"], lock=True)
    if current is None:
        raise ProductNotFound()
    values = _writable(fields, ctx.tz)
    await _check(conn, values, creating=False)
    if values.get("PRICE") is not None and current["CURRENCY_ID"] is None:
        values.setdefault("CURRENCY_ID", await base_currency(conn))
    values.update(MODIFIED_BY=ctx.user_id, TIMESTAMP_X=ctx.now)
    await repository.update_product(conn, product_id, values)
    await _record(conn, ctx, "Update", product_id)


def _with_virtual(row: Mapping[str, Any], names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``row`` in the order of ``names``, with the constant catalog id and empty pictures."""
    out: dict[str, Any] = {}
    for name in names:
        if name == "CATALOG_ID":
            out[name] = CATALOG_ID
        else:
            out[name] = row.get(name)
    return out


async def get(conn: AsyncConnection, ctx: Context, product_id: int) -> dict[str, Any]:
    """Every field in descriptor order; pictures are always empty (not supported)."""
    row = await repository.fetch_product(conn, product_id, PRODUCT.stored)
    if row is None:
        raise ProductNotFound()
    return _with_virtual(row, tuple(PRODUCT.fields))


async def list_products(conn: AsyncConnection, ctx: Context, query: ListQuery) -> Page:
    """One page. Bitrix sorts by SORT, then ID, when no order is given, and always returns
    ID first when a ``select`` is given."""
    names = ["ID", *(name for name in query.select if name != "ID")]
    stored = [name for name in names if name not in PRODUCT.virtual]
    scoped = replace(query, select=stored, order=query.order or [("SORT", "ASC")])
    page = await repository.list_products(conn, scoped, ctx.tz)
    page.rows = [_with_virtual(row, names) for row in page.rows]
    return page


async def delete(conn: AsyncConnection, ctx: Context, product_id: int) -> None:
    """Delete the product. Product rows that name it keep their copied name and values."""
    if not await repository.delete_product(conn, product_id):
        raise ProductNotFound()
    await _record(conn, ctx, "Delete", product_id)


async def _record(conn: AsyncConnection, ctx: Context, action: str, product_id: int) -> None:
    await outbox.record(
        conn,
        f"onCrmProduct{action}",
        entity_type=ENTITY,
        entity_id=product_id,
        payload={"FIELDS": {"ID": product_id}},
        now=ctx.now,
        user_id=ctx.user_id,
    )


# Units of measure (crm.measure.*) and VAT rates (crm.vat.*): read-only.


def describe_measure_fields() -> dict[str, dict[str, Any]]:
    return MEASURE.describe()


async def get_measure(conn: AsyncConnection, measure_id: int) -> dict[str, Any]:
    row = await repository.fetch_measure(conn, measure_id)
    if row is None:
        raise MeasureNotFound()
    return row


async def list_measures(conn: AsyncConnection, ctx: Context, query: ListQuery) -> Page:
    return await repository.list_measures(conn, query, ctx.tz)


def describe_vat_fields() -> dict[str, dict[str, Any]]:
    return describe_vat()


async def get_vat_rate(conn: AsyncConnection, vat_id: int) -> dict[str, Any]:
    """The rate with the keys of the crm.vat.get example."""
    row = await repository.fetch_vat_rate(conn, vat_id)
    if row is None:
        raise VatRateNotFound()
    return {name: row[name] for name in VAT_GET_ORDER}


async def list_vat_rates(conn: AsyncConnection, ctx: Context, query: ListQuery) -> Page:
    """One page; a ``select`` naming no VAT field is refused, as Bitrix refuses it."""
    if not query.select:
        raise InadmissibleSelect()
    return await repository.list_vat_rates(conn, query, ctx.tz)
