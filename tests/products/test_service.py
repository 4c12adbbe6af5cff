"""products.service on a real database: defaults, coercion, references, the price's
currency, lists, events, deletes that leave product rows alone, measures and VAT rates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.context import Context
from relatecrm.db import transaction
from relatecrm.deals import service as deals
from relatecrm.deals.models import product_rows
from relatecrm.errors import (
    InadmissibleSelect,
    InvalidFieldValue,
    InvalidFilter,
    InvalidOrder,
    MeasureNotFound,
    ProductNameMissing,
    ProductNotFound,
    VatRateNotFound,
)
from relatecrm.events.models import outbox
from relatecrm.listing import EQ, GE, IN, LIKE, NE, Condition, Group, ListQuery
from relatecrm.products import catalog, service
from relatecrm.products.fields import PRODUCT
from tests.conftest import count_rows

NOW = dt.datetime(2024, 8, 15, 8, 38, 21, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)
CTX = Context(user_id=1, now=NOW, tz=ZoneInfo("Europe/Berlin"))


async def add(db: AsyncEngine, **fields: Any) -> int:
    async with transaction(db) as conn:
        return await service.add(conn, CTX, fields)


async def update(db: AsyncEngine, product_id: int, ctx: Context = CTX, **fields: Any) -> None:
    async with transaction(db) as conn:
        await service.update(conn, ctx, product_id, fields)


async def get(db: AsyncEngine, product_id: int) -> dict[str, Any]:
    async with transaction(db, write=False) as conn:
        return await service.get(conn, CTX, product_id)


async def price(db: AsyncEngine, product_id: int) -> tuple[Any, Any]:
    product = await get(db, product_id)
    return product["PRICE"], product["CURRENCY_ID"]


async def rows(db: AsyncEngine, **query: Any) -> list[dict[str, Any]]:
    query.setdefault("select", ["ID"])
    async with transaction(db, write=False) as conn:
        return (await service.list_products(conn, CTX, ListQuery(**query))).rows


async def ids(db: AsyncEngine, **query: Any) -> list[int]:
    return [row["ID"] for row in await rows(db, **query)]


async def test_add_applies_the_defaults_and_get_returns_every_field(db: AsyncEngine) -> None:
    product = await get(db, await add(db, NAME="Chair"))
    assert list(product) == list(PRODUCT.fields)
    assert product["NAME"] == "Chair" and product["CATALOG_ID"] == 1
    assert (product["ACTIVE"], product["SORT"], product["VAT_INCLUDED"]) == ("Y", 100, "N")
    assert product["DESCRIPTION_TYPE"] == "text" and product["DESCRIPTION"] is None
    assert product["PRICE"] is None and product["CURRENCY_ID"] is None
    assert product["PREVIEW_PICTURE"] is None and product["DETAIL_PICTURE"] is None
    assert product["CREATED_BY"] == product["MODIFIED_BY"] == 1
    assert product["DATE_CREATE"] == product["TIMESTAMP_X"] == NOW


async def test_a_price_without_a_currency_is_in_the_base_currency(db: AsyncEngine) -> None:
    priced = await get(db, await add(db, NAME="a", PRICE="4900"))
    assert (priced["PRICE"], priced["CURRENCY_ID"]) == (Decimal("4900.00"), "USD")
    euro = await get(db, await add(db, NAME="b", PRICE=12.5, CURRENCY_ID="eur"))
    assert (euro["PRICE"], euro["CURRENCY_ID"]) == (Decimal("12.50"), "EUR")
    unpriced = await get(db, await add(db, NAME="c", CURRENCY_ID="RUB"))
    assert (unpriced["PRICE"], unpriced["CURRENCY_ID"]) == (None, "RUB")


async def test_update_keeps_the_currency_of_a_new_price_and_the_price_of_a_new_currency(
    db: AsyncEngine,
) -> None:
    product_id = await add(db, NAME="a", PRICE=10, CURRENCY_ID="EUR")
    await update(db, product_id, PRICE="11.5")
    assert await price(db, product_id) == (Decimal("11.50"), "EUR")
    await update(db, product_id, CURRENCY_ID="RUB")
    assert await price(db, product_id) == (Decimal("11.50"), "RUB")
    bare = await add(db, NAME="b")
    await update(db, bare, PRICE=3)
    assert await price(db, bare) == (Decimal("3.00"), "USD")


async def test_update_changes_only_the_given_fields(db: AsyncEngine) -> None:
    product_id = await add(db, NAME="a", SORT=5, XML_ID="x-1", DESCRIPTION="d")
    later = Context(user_id=7, now=LATER, tz=CTX.tz)
    await update(db, product_id, later, NAME="b", ACTIVE="N", DATE_CREATE="2001-01-01",
                 CREATED_BY=9, ID=99, CATALOG_ID=5)  # fmt: skip
    product = await get(db, product_id)
    assert (product["ID"], product["NAME"], product["ACTIVE"]) == (product_id, "b", "N")
    assert (product["SORT"], product["XML_ID"], product["DESCRIPTION"]) == (5, "x-1", "d")
    assert (product["CREATED_BY"], product["DATE_CREATE"]) == (1, NOW)
    assert (product["MODIFIED_BY"], product["TIMESTAMP_X"]) == (7, LATER)
    assert product["CATALOG_ID"] == 1


@pytest.mark.parametrize(
    ("name", "raw", "stored"),
    [
        ("NAME", 12345, "12345"),
        ("ACTIVE", "n", "N"),
        ("ACTIVE", False, "N"),
        ("ACTIVE", "true", "Y"),
        ("ACTIVE", None, "Y"),  # empty: the default
        ("SORT", "250", 250),
        ("SORT", "", 100),
        ("SECTION_ID", "12", 12),
        ("SECTION_ID", 0, None),
        ("XML_ID", "sale_basket_651", "sale_basket_651"),
        ("DESCRIPTION", "  <b>Soft</b>  ", "<b>Soft</b>"),
        ("DESCRIPTION_TYPE", "HTML", "html"),
        ("PRICE", "899,10", Decimal("899.10")),
        ("PRICE", 0.105, Decimal("0.11")),
        ("PRICE", "", None),
        ("CURRENCY_ID", " eur ", "EUR"),
        ("VAT_ID", "3", 3),
        ("VAT_ID", 0, None),
        ("VAT_INCLUDED", "Y", "Y"),
        ("VAT_INCLUDED", 1, "Y"),
        ("MEASURE", 5, 5),
        ("MEASURE", "", None),
    ],
)  # fmt: skip
async def test_each_field_is_coerced(db: AsyncEngine, name: str, raw: Any, stored: Any) -> None:
    product = await get(db, await add(db, **{"NAME": "n", name: raw}))
    assert product[name] == stored


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("SORT", "first"),
        ("SORT", 1.5),
        ("SORT", 2**40),
        ("SECTION_ID", -1),
        ("ACTIVE", "maybe"),
        ("PRICE", "ten"),
        ("PRICE", "1e30"),
        ("PRICE", "NaN"),
        ("PRICE", True),
        ("CURRENCY_ID", "XXX"),
        ("CURRENCY_ID", "USDOLLAR"),
        ("VAT_ID", 42),
        ("VAT_ID", -3),
        ("MEASURE", 796),  # a code, not an id
        ("DESCRIPTION_TYPE", "markdown"),
        ("XML_ID", "x" * 256),
        ("NAME", "n" * 256),
        ("DESCRIPTION", "d" * 70000),
        ("NAME", "nul\x00byte"),
        ("PRICE", {"VALUE": 1}),
        ("SORT", [1, 2]),
    ],
)  # fmt: skip
async def test_invalid_values_are_refused_and_nothing_is_written(
    db: AsyncEngine, name: str, raw: Any
) -> None:
    with pytest.raises(InvalidFieldValue) as caught:
        await add(db, **{"NAME": "n", name: raw} if name != "NAME" else {name: raw})
    assert caught.value.field == name
    assert caught.value.message == f'Invalid value for the "{PRODUCT.fields[name].title}" field.'
    assert [await count_rows(db, t) for t in ("products", "outbox")] == [0, 0]


@pytest.mark.parametrize("fields", [{}, {"NAME": ""}, {"NAME": "   "}, {"NAME": None}])
async def test_add_needs_a_name(db: AsyncEngine, fields: dict[str, Any]) -> None:
    with pytest.raises(ProductNameMissing) as caught:
        await add(db, PRICE=1, **fields)
    assert caught.value.message == "Name is not specified."
    assert await count_rows(db, "products") == 0


async def test_update_cannot_empty_the_name_but_may_omit_it(db: AsyncEngine) -> None:
    product_id = await add(db, NAME="keep")
    with pytest.raises(ProductNameMissing):
        await update(db, product_id, NAME="", SORT=1)
    await update(db, product_id, SORT=2)
    assert ((p := await get(db, product_id))["NAME"], p["SORT"]) == ("keep", 2)


async def test_unknown_fields_are_ignored(db: AsyncEngine) -> None:
    fields = {"NAME": "x", "PROPERTY_186": [{"valueId": 0}], "CODE": "x", "'; DROP TABLE": 1,
              "PREVIEW_PICTURE": {"fileData": ["a.png", "AAAA"]}}  # fmt: skip
    product = await get(db, await add(db, **fields))
    assert product["NAME"] == "x" and product["PREVIEW_PICTURE"] is None
    assert "CODE" not in product and "PROPERTY_186" not in product


async def test_missing_products(db: AsyncEngine) -> None:
    with pytest.raises(ProductNotFound) as caught:
        await get(db, 4242)
    assert caught.value.message == "Product is not found."
    with pytest.raises(ProductNotFound):
        await update(db, 4242, NAME="x")
    with pytest.raises(ProductNotFound):
        async with transaction(db) as conn:
            await service.delete(conn, CTX, 4242)
    assert await count_rows(db, "outbox") == 0


async def test_every_change_records_its_event(db: AsyncEngine) -> None:
    product_id = await add(db, NAME="x")
    await update(db, product_id, NAME="y")
    async with transaction(db) as conn:
        await service.delete(conn, CTX, product_id)
    async with db.connect() as conn:
        events = (await conn.execute(select(outbox).order_by(outbox.c.id))).mappings().all()
    assert [e["event"] for e in events] == ["onCrmProductAdd", "onCrmProductUpdate",
                                            "onCrmProductDelete"]  # fmt: skip
    assert {(e["entity_type"], e["entity_id"]) for e in events} == {("product", product_id)}
    assert all(e["payload"] == {"FIELDS": {"ID": product_id}} for e in events)
    assert all(e["created_at"] == NOW for e in events)


async def test_delete_leaves_the_product_rows_that_name_it(db: AsyncEngine) -> None:
    product_id = await add(db, NAME="Chair", PRICE=10, MEASURE=5)
    async with transaction(db) as conn:
        deal_id = await deals.add(conn, CTX, {"TITLE": "d"})
        money = dict.fromkeys(("price", "price_exclusive", "price_netto", "price_brutto"), 10)
        await conn.execute(
            insert(product_rows).values(owner_id=deal_id, product_id=product_id,
                                        product_name="Chair", quantity=1, **money)
        )  # fmt: skip
        await service.delete(conn, CTX, product_id)
    async with db.connect() as conn:
        kept = (await conn.execute(select(product_rows))).mappings().all()
    assert [(r["product_id"], r["product_name"]) for r in kept] == [(product_id, "Chair")]
    assert await count_rows(db, "products") == 0


async def test_the_catalog_read_of_product_rows_sees_added_products(db: AsyncEngine) -> None:
    product_id = await add(db, NAME="Cloth", PRICE=500, MEASURE=4, VAT_ID=3, VAT_INCLUDED="Y",
                           XML_ID="c-1")  # fmt: skip
    async with db.connect() as conn:
        found = await catalog.find(conn, [product_id, 4242])
    info = found[product_id]
    assert list(found) == [product_id]
    assert (info.name, info.price, info.currency_id) == ("Cloth", Decimal("500.00"), "USD")
    assert (info.vat_rate, info.vat_included) == (Decimal("20.00"), True)
    assert (info.measure_code, info.measure_name, info.xml_id) == (166, "kg", "c-1")


async def test_list_orders_by_sort_then_id_unless_asked(db: AsyncEngine) -> None:
    first = await add(db, NAME="b", SORT=200)
    second = await add(db, NAME="a", SORT=100)
    third = await add(db, NAME="c", SORT=100)
    assert await ids(db) == [second, third, first]
    assert await ids(db, order=[("NAME", "DESC")]) == [third, first, second]
    assert await ids(db, order=[("ID", "DESC")]) == [third, second, first]


async def test_list_filters(db: AsyncEngine) -> None:
    cheap = await add(db, NAME="Plastic chair", PRICE=49, ACTIVE="N")
    dear = await add(db, NAME="Oak table", PRICE="1200.50", CURRENCY_ID="EUR", MEASURE=5)
    bare = await add(db, NAME="Sample")
    assert await ids(db, conditions=[Condition("PRICE", GE, "100")]) == [dear]
    assert await ids(db, conditions=[Condition("NAME", LIKE, "%CHAIR")]) == [cheap]
    assert await ids(db, conditions=[Condition("ACTIVE", EQ, "Y")]) == [dear, bare]
    assert await ids(db, conditions=[Condition("CURRENCY_ID", NE, "USD")]) == [dear, bare]
    assert await ids(db, conditions=[Condition("MEASURE", IN, [5, 4])]) == [dear]
    assert await ids(db, conditions=[Condition("CATALOG_ID", EQ, 1)]) == [cheap, dear, bare]
    assert await ids(db, conditions=[Condition("CATALOG_ID", EQ, "2")]) == []
    either = Group([Condition("ID", EQ, cheap), Condition("PRICE", EQ, None)], "OR")
    assert await ids(db, conditions=[either]) == [cheap, bare]


async def test_list_select_puts_id_first_and_fills_what_has_no_column(db: AsyncEngine) -> None:
    product_id = await add(db, NAME="x", PRICE=1)
    selected = await rows(db, select=["PRICE", "DETAIL_PICTURE", "CATALOG_ID", "NAME"])
    assert selected == [{"ID": product_id, "PRICE": Decimal("1.00"), "DETAIL_PICTURE": None,
                         "CATALOG_ID": 1, "NAME": "x"}]  # fmt: skip
    assert await rows(db, select=["PREVIEW_PICTURE"]) == [
        {"ID": product_id, "PREVIEW_PICTURE": None}
    ]


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ({"conditions": [Condition("NOPE", EQ, 1)]}, InvalidFilter,
         "Invalid filter: field 'NOPE' is not allowed in filter"),
        ({"conditions": [Condition("PREVIEW_PICTURE", EQ, 1)]}, InvalidFilter,
         "Invalid filter: field 'PREVIEW_PICTURE' is not allowed in filter"),
        ({"conditions": [Condition("PRICE", GE, "cheap")]}, InvalidFilter,
         "Invalid filter: field 'PRICE' has invalid value"),
        ({"order": [("DETAIL_PICTURE", "ASC")]}, InvalidOrder,
         "Invalid order: field 'DETAIL_PICTURE' is not allowed in order"),
        ({"order": [("CATALOG_ID", "sideways")]}, InvalidOrder,
         "Invalid order: allowed sort directions are ASC, DESC. But got 'sideways' for field "
         "'CATALOG_ID'"),
    ],
)  # fmt: skip
async def test_list_refuses_unknown_fields(
    db: AsyncEngine, query: dict[str, Any], error: type[Exception], message: str
) -> None:
    await add(db, NAME="x")
    with pytest.raises(error) as caught:
        await rows(db, **query)
    assert str(caught.value) == message


async def test_list_may_sort_on_the_catalog_id(db: AsyncEngine) -> None:
    first, second = await add(db, NAME="a"), await add(db, NAME="b")
    assert await ids(db, order=[("CATALOG_ID", "DESC")]) == [first, second]


async def test_list_pages_by_fifty(db: AsyncEngine) -> None:
    created = [await add(db, NAME=f"p{i:02d}") for i in range(51)]
    async with db.connect() as conn:
        first = await service.list_products(conn, CTX, ListQuery(select=["ID"]))
        last = await service.list_products(conn, CTX, ListQuery(select=["ID"], start=50))
    assert (len(first.rows), first.total, first.next) == (50, 51, 50)
    assert ([r["ID"] for r in last.rows], last.next) == ([created[50]], None)


# Units of measure and VAT rates.


async def test_measures(db: AsyncEngine) -> None:
    async with db.connect() as conn:
        piece = await service.get_measure(conn, 5)
        page = await service.list_measures(
            conn, CTX, ListQuery(select=["ID", "CODE"], conditions=[Condition("CODE", GE, 100)])
        )
        with pytest.raises(MeasureNotFound) as caught:
            await service.get_measure(conn, 99)
    assert piece == {"ID": 5, "CODE": 796, "MEASURE_TITLE": "Piece", "SYMBOL_RUS": "pcs",
                     "SYMBOL_INTL": "pc. 1", "SYMBOL_LETTER_INTL": "PCE. NMB",
                     "IS_DEFAULT": "Y"}  # fmt: skip
    assert page.rows == [{"ID": 2, "CODE": 112}, {"ID": 3, "CODE": 163}, {"ID": 4, "CODE": 166},
                         {"ID": 5, "CODE": 796}]  # fmt: skip
    assert page.total == 4 and caught.value.message == "Not found"


async def test_vat_rates(db: AsyncEngine) -> None:
    async with db.connect() as conn:
        rate = await service.get_vat_rate(conn, 3)
        page = await service.list_vat_rates(
            conn, CTX, ListQuery(select=["ID", "RATE"], order=[("RATE", "DESC")])
        )
        with pytest.raises(VatRateNotFound) as missing:
            await service.get_vat_rate(conn, 99)
        with pytest.raises(InadmissibleSelect) as refused:
            await service.list_vat_rates(conn, CTX, ListQuery(select=[]))
    assert rate == {"ID": 3, "ACTIVE": "Y", "NAME": "VAT 20%", "RATE": Decimal("20.00"),
                    "C_SORT": 300}  # fmt: skip
    assert [r["ID"] for r in page.rows] == [3, 2, 1] and page.total == 3
    assert missing.value.message == "VAT rate not found."
    assert refused.value.message == "Inadmissible fields for selection"
