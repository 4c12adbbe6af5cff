"""deals.rows on a real database: defaults, catalog look-ups, pricing, the deal amount.

Deals spec §2.7 (amount and manual mode), §4.1 (defaults, replace semantics), §4.3, §4.4
(the worked example); protocol §8.4 (single-row writes). Every test runs on SQLite and
PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.context import Context
from relatecrm.db import transaction
from relatecrm.deals import rows, service
from relatecrm.deals.models import product_rows
from relatecrm.deals.pricing import (
    DISCOUNT_RATE_REQUIRED,
    DISCOUNT_SUM_REQUIRED,
    PricingError,
)
from relatecrm.errors import (
    InvalidRowValue,
    NotFound,
    ProductRowNotFound,
    RowProductNotFound,
    RowsTotalOutOfRange,
)
from relatecrm.events.models import outbox
from relatecrm.products.models import products

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
CTX = Context(user_id=1, now=NOW, tz=dt.UTC)
D = Decimal
PIECE, KILOGRAM = 5, 4  # ids of the seeded measures 796 "pcs" and 166 "kg"
# The §4.1 request example; row 1 names a catalog product (see seed_rows).
SEED_ROWS: list[dict[str, Any]] = [
    {"PRODUCT_ID": 456, "PRICE": 1000, "QUANTITY": 10, "DISCOUNT_TYPE_ID": 1, "DISCOUNT_SUM": 100,
     "TAX_RATE": 13, "MEASURE_CODE": 796, "MEASURE_NAME": "pcs", "SORT": 10},
    {"PRODUCT_NAME": "Product #2", "PRICE": 500, "QUANTITY": 5, "DISCOUNT_TYPE_ID": 2,
     "DISCOUNT_RATE": 10, "TAX_RATE": 10, "MEASURE_CODE": 166, "MEASURE_NAME": "kg", "SORT": 20},
]  # fmt: skip


async def add_product(
    db: AsyncEngine, name: str = "Office chair", measure: int | None = PIECE
) -> int:
    """A catalog product, inserted directly (crm.product.* belongs to another module)."""
    async with transaction(db) as conn:
        result = await conn.execute(
            insert(products)
            .values(
                name=name,
                measure=measure,
                created_by=1,
                modified_by=1,
                date_create=NOW,
                timestamp_x=NOW,
            )  # fmt: skip
            .returning(products.c.id)
        )
        return int(result.scalar_one())


def seed_rows(product_id: int) -> list[dict[str, Any]]:
    return [{**SEED_ROWS[0], "PRODUCT_ID": product_id}, dict(SEED_ROWS[1])]


async def new_deal(db: AsyncEngine, **fields: Any) -> int:
    async with transaction(db) as conn:
        return await service.add(conn, CTX, fields)


async def deal_amount(db: AsyncEngine, deal_id: int) -> tuple[Decimal, Decimal]:
    async with transaction(db, write=False) as conn:
        deal = await service.get(conn, CTX, deal_id)
    return deal["OPPORTUNITY"], deal["TAX_VALUE"]


async def set_rows(
    db: AsyncEngine, deal_id: int, sent: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    async with transaction(db) as conn:
        return await rows.set_rows(conn, CTX, deal_id, sent)


async def stored(db: AsyncEngine, deal_id: int) -> list[dict[str, Any]]:
    async with transaction(db, write=False) as conn:
        return await rows.get_rows(conn, CTX, deal_id)


async def updates(db: AsyncEngine, deal_id: int) -> int:
    async with db.connect() as conn:
        count = select(func.count()).where(
            outbox.c.entity_id == deal_id, outbox.c.event == "onCrmDealUpdate"
        )
        return int((await conn.execute(count)).scalar_one())


async def test_seed_example_gives_the_documented_prices_and_amount(db: AsyncEngine) -> None:
    product = await add_product(db)
    deal_id = await new_deal(db)
    saved = await set_rows(db, deal_id, seed_rows(product))
    first, second = saved
    assert (first["PRICE"], first["PRICE_EXCLUSIVE"], first["PRICE_NETTO"]) == (
        D("1000.00"), D("884.96"), D("984.96"))  # fmt: skip
    assert (first["DISCOUNT_RATE"], first["PRICE_BRUTTO"], first["DISCOUNT_SUM"]) == (
        D("10.15"), D("1113.00"), D("100.00"))  # fmt: skip
    assert (second["PRICE_EXCLUSIVE"], second["PRICE_NETTO"], second["DISCOUNT_SUM"]) == (
        D("454.55"), D("505.05"), D("50.51"))  # fmt: skip
    assert second["PRICE_BRUTTO"] == D("555.56")
    assert await deal_amount(db, deal_id) == (D("12500.00"), D("1377.72"))
    assert await updates(db, deal_id) == 1


async def test_defaults_of_a_row_without_product(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    (row,) = await set_rows(db, deal_id, [{}])
    assert row["PRODUCT_ID"] == 0 and row["PRODUCT_NAME"] == f"[{row['ID']}]"
    assert (row["PRICE"], row["QUANTITY"], row["DISCOUNT_TYPE_ID"]) == (D("0.00"), D("1.0000"), 2)
    assert (row["DISCOUNT_RATE"], row["DISCOUNT_SUM"], row["TAX_RATE"]) == (
        D("0.00"),
        D("0.00"),
        None,
    )
    assert (row["TAX_INCLUDED"], row["MEASURE_CODE"], row["MEASURE_NAME"]) == ("N", 0, "")
    assert (row["SORT"], row["CUSTOMIZED"], row["TYPE"], row["OWNER_TYPE"]) == (0, "Y", 1, "D")
    assert (await stored(db, deal_id))[0]["ORIGINAL_PRODUCT_NAME"] is None


async def test_defaults_from_the_catalog_product(db: AsyncEngine) -> None:
    chair = await add_product(db, "Office chair", PIECE)
    cloth = await add_product(db, "Cloth", KILOGRAM)
    bare = await add_product(db, "Bare", None)
    deal_id = await new_deal(db)
    saved = await set_rows(db, deal_id, [
        {"PRODUCT_ID": chair, "SORT": 1},
        {"PRODUCT_ID": cloth, "PRODUCT_NAME": "Blue cloth", "MEASURE_CODE": 6, "SORT": 2},
        {"PRODUCT_ID": bare, "SORT": 3},
    ])  # fmt: skip
    names = [(r["PRODUCT_NAME"], r["MEASURE_CODE"], r["MEASURE_NAME"]) for r in saved]
    assert names == [("Office chair", 796, "pcs"), ("Blue cloth", 6, "m"), ("Bare", 0, "")]
    assert [r["ORIGINAL_PRODUCT_NAME"] for r in await stored(db, deal_id)] == [
        "Office chair", "Cloth", "Bare"]  # fmt: skip


async def test_a_measure_code_alone_brings_its_name(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    sent = [{"MEASURE_CODE": 166}, {"MEASURE_CODE": 12345},
            {"MEASURE_CODE": 796, "MEASURE_NAME": "piece"}]  # fmt: skip
    saved = await set_rows(db, deal_id, sent)
    assert [(r["MEASURE_CODE"], r["MEASURE_NAME"]) for r in saved] == [
        (166, "kg"), (12345, ""), (796, "piece")]  # fmt: skip


async def test_unknown_product_is_refused_and_nothing_written(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    await set_rows(db, deal_id, [{"PRICE": 10}])
    before = await stored(db, deal_id)
    with pytest.raises(RowProductNotFound) as caught:
        await set_rows(db, deal_id, [{"PRICE": 5}, {"PRODUCT_ID": 987654}])
    assert caught.value.message == "The product with ID 987654 was not found in the catalog.<br>"
    assert await stored(db, deal_id) == before
    assert await deal_amount(db, deal_id) == (D("10.00"), D("0.00"))
    assert await updates(db, deal_id) == 1


async def test_numbers_arrive_as_strings_or_json_numbers_never_as_floats(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    saved = await set_rows(db, deal_id, [
        {"PRICE": 0.1, "QUANTITY": 3},  # a float: 0.1 is read as "0.1", not 0.1000…0055
        {"PRICE": "12,5", "QUANTITY": "0.12345", "TAX_RATE": "7.005"},  # rounded before pricing
    ])  # fmt: skip
    assert (saved[0]["PRICE"], saved[1]["PRICE"]) == (D("0.10"), D("12.50"))
    assert (saved[1]["QUANTITY"], saved[1]["TAX_RATE"]) == (D("0.1235"), D("7.01"))
    # 0.30 + 12.50 × 0.1235 = 1.84375 → 1.84; the tax is 1.54375 × 7.01/107.01 = 0.1011… → 0.10
    assert await deal_amount(db, deal_id) == (D("1.84"), D("0.10"))


BAD_VALUES = [
    ("PRICE", "abc"), ("PRICE", {"a": 1}), ("PRICE", [1]), ("PRICE", True), ("PRICE", "NaN"),
    ("PRICE", "Infinity"), ("PRICE", "1e17"), ("QUANTITY", "1e14"), ("QUANTITY", "x"),
    ("DISCOUNT_TYPE_ID", "one"), ("DISCOUNT_RATE", "ten"), ("TAX_RATE", []),
    ("TAX_INCLUDED", "maybe"), ("PRODUCT_ID", -1), ("PRODUCT_ID", 1.5), ("SORT", "first"),
    ("MEASURE_CODE", "pcs"), ("PRODUCT_NAME", "x" * 256), ("PRODUCT_NAME", "a\x00b"),
    ("MEASURE_NAME", "m" * 51), ("XML_ID", {"x": 1}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
async def test_unreadable_values_are_refused(db: AsyncEngine, name: str, value: Any) -> None:
    deal_id = await new_deal(db)
    await set_rows(db, deal_id, [{"PRICE": 3}])
    before = await stored(db, deal_id)
    with pytest.raises(InvalidRowValue) as caught:
        await set_rows(db, deal_id, [{"PRICE": 1}, {name: value}])
    assert caught.value.field == name
    assert caught.value.message == f'Invalid value for the "{name}" field of a product row.<br>'
    assert await stored(db, deal_id) == before and await updates(db, deal_id) == 1


async def test_derived_values_and_totals_must_fit_their_columns(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    with pytest.raises(InvalidRowValue) as caught:  # 9e15 / (1 - 0.9999) overflows PRICE_NETTO
        await set_rows(
            db, deal_id, [{"PRICE": "9e15", "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 99.99}]
        )
    assert caught.value.field == "PRICE_NETTO"
    with pytest.raises(RowsTotalOutOfRange):
        await set_rows(db, deal_id, [{"PRICE": "9e15", "QUANTITY": "9e13"}])
    assert await stored(db, deal_id) == []


async def test_discount_checks_apply_only_when_a_type_is_sent(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    with pytest.raises(PricingError) as caught:
        await set_rows(db, deal_id, [{"PRICE": 5, "DISCOUNT_TYPE_ID": 2}])
    assert caught.value.message == DISCOUNT_RATE_REQUIRED
    (row,) = await set_rows(db, deal_id, [{"PRICE": 5, "DISCOUNT_RATE": 10}])  # no type: fine
    assert (row["DISCOUNT_TYPE_ID"], row["PRICE_NETTO"]) == (2, D("5.56"))


async def test_set_replaces_the_whole_set_and_orders_by_sort_then_id(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    first = await set_rows(db, deal_id, [{"PRICE": 1}, {"PRICE": 2}])
    saved = await set_rows(db, deal_id, [{"PRICE": 3, "SORT": 20}, {"PRICE": 4, "SORT": 10},
                                         {"PRICE": 5, "SORT": 20}])  # fmt: skip
    assert [r["PRICE"] for r in saved] == [D("4.00"), D("3.00"), D("5.00")]
    assert not {r["ID"] for r in first} & {r["ID"] for r in saved}
    assert saved[1]["ID"] < saved[2]["ID"]
    assert await stored(db, deal_id) == [{**r, "ORIGINAL_PRODUCT_NAME": None} for r in saved]


async def test_set_keeps_the_ids_of_its_own_rows_only(db: AsyncEngine) -> None:
    deal_id, other = await new_deal(db), await new_deal(db)
    mine = await set_rows(db, deal_id, [{"PRICE": 1}, {"PRICE": 2}])
    theirs = await set_rows(db, other, [{"PRICE": 9}])
    async with transaction(db) as conn:
        saved = await rows.set_rows(
            conn, CTX, deal_id, [{"PRICE": 7}, {"PRICE": 8}, {}],
            keep_ids=[mine[1]["ID"], theirs[0]["ID"], mine[1]["ID"]],
        )  # fmt: skip
    assert saved[0]["ID"] == mine[1]["ID"] and saved[0]["PRICE"] == D("7.00")
    assert mine[1]["ID"] < saved[1]["ID"] != theirs[0]["ID"]
    assert saved[2]["PRODUCT_NAME"] == f"[{saved[2]['ID']}]"
    assert await stored(db, other) == [{**theirs[0], "ORIGINAL_PRODUCT_NAME": None}]


async def test_manual_mode_leaves_the_amount_alone(db: AsyncEngine) -> None:
    deal_id = await new_deal(db, IS_MANUAL_OPPORTUNITY="Y", OPPORTUNITY=77, TAX_VALUE=7)
    await set_rows(db, deal_id, seed_rows(await add_product(db)))
    assert await deal_amount(db, deal_id) == (D("77.00"), D("7.00"))
    await set_rows(db, deal_id, [])
    assert await deal_amount(db, deal_id) == (D("77.00"), D("7.00"))
    assert await updates(db, deal_id) == 2  # the rows changed twice, the amount never


async def test_emptied_rows_zero_the_amount_in_automatic_mode(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    await set_rows(db, deal_id, [{"PRICE": 100, "TAX_RATE": 20}])
    assert await deal_amount(db, deal_id) == (D("100.00"), D("16.67"))
    await set_rows(db, deal_id, [])
    assert await deal_amount(db, deal_id) == (D("0.00"), D("0.00"))
    assert await updates(db, deal_id) == 2


async def test_a_deal_that_never_had_rows_keeps_its_client_amount(db: AsyncEngine) -> None:
    deal_id = await new_deal(db, OPPORTUNITY=500, TAX_VALUE=50)
    assert await set_rows(db, deal_id, []) == []
    assert await deal_amount(db, deal_id) == (D("500.00"), D("50.00"))
    assert await updates(db, deal_id) == 0
    async with transaction(db) as conn:
        await service.update(conn, CTX, deal_id, {"OPPORTUNITY": 600})
    assert await deal_amount(db, deal_id) == (D("600.00"), D("50.00"))


async def test_deal_update_cannot_move_the_amount_away_from_its_rows(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    await set_rows(db, deal_id, [{"PRICE": 110, "TAX_RATE": 10, "QUANTITY": 2}])
    async with transaction(db) as conn:
        await service.update(conn, CTX, deal_id, {"OPPORTUNITY": 5, "TAX_VALUE": 1, "TITLE": "t"})
    assert await deal_amount(db, deal_id) == (D("220.00"), D("20.00"))
    async with transaction(db) as conn:  # manual: the client's values are stored as sent
        await service.update(conn, CTX, deal_id, {"IS_MANUAL_OPPORTUNITY": "Y", "OPPORTUNITY": 5})
    assert await deal_amount(db, deal_id) == (D("5.00"), D("20.00"))
    async with transaction(db) as conn:  # back to automatic: recomputed from the rows
        await service.update(conn, CTX, deal_id, {"IS_MANUAL_OPPORTUNITY": "N"})
    assert await deal_amount(db, deal_id) == (D("220.00"), D("20.00"))


async def test_single_row_writes_follow_the_amount(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    async with transaction(db) as conn:
        row = await rows.add_row(conn, CTX, deal_id, {"PRICE": 50, "QUANTITY": 2})
    assert row["PRODUCT_NAME"] == f"[{row['ID']}]"
    assert await deal_amount(db, deal_id) == (D("100.00"), D("0.00"))
    async with transaction(db) as conn:
        row = await rows.update_row(conn, CTX, row["ID"], {"QUANTITY": 3, "TAX_RATE": 25})
    assert (row["PRICE"], row["PRICE_EXCLUSIVE"], row["QUANTITY"]) == (
        D("50.00"),
        D("40.00"),
        D("3.0000"),
    )
    assert await deal_amount(db, deal_id) == (D("150.00"), D("30.00"))
    async with transaction(db) as conn:
        await rows.delete_row(conn, CTX, row["ID"])
    assert await deal_amount(db, deal_id) == (D("0.00"), D("0.00"))
    assert await updates(db, deal_id) == 3
    async with transaction(db) as conn:
        with pytest.raises(ProductRowNotFound):
            await rows.update_row(conn, CTX, row["ID"], {"PRICE": 1})
    async with transaction(db) as conn:
        with pytest.raises(ProductRowNotFound):
            await rows.delete_row(conn, CTX, row["ID"])


async def test_an_update_reprices_the_merged_row(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    (row,) = await set_rows(db, deal_id, [dict(SEED_ROWS[1])])
    async with transaction(db) as conn:  # unchanged prices: the stored row reprices to itself
        same = await rows.update_row(conn, CTX, row["ID"], {"SORT": 30})
    assert {k: v for k, v in same.items() if k != "SORT"} == {
        k: v for k, v in row.items() if k not in ("SORT", "ORIGINAL_PRODUCT_NAME")}  # fmt: skip
    async with transaction(db) as conn:
        moved = await rows.update_row(conn, CTX, row["ID"], {"PRICE": 1100})
    assert (moved["PRICE_EXCLUSIVE"], moved["PRICE_NETTO"], moved["DISCOUNT_RATE"]) == (
        D("1000.00"), D("1111.11"), D("10.00"))  # fmt: skip
    async with transaction(db) as conn:  # switching to a monetary discount needs its sum
        with pytest.raises(PricingError) as caught:
            await rows.update_row(conn, CTX, row["ID"], {"DISCOUNT_TYPE_ID": 1})
    assert caught.value.message == DISCOUNT_SUM_REQUIRED


async def test_an_update_to_another_product_takes_its_name(db: AsyncEngine) -> None:
    chair, cloth = await add_product(db, "Chair"), await add_product(db, "Cloth", KILOGRAM)
    deal_id = await new_deal(db)
    (row,) = await set_rows(db, deal_id, [{"PRODUCT_ID": chair, "PRICE": 10}])
    async with transaction(db) as conn:
        row = await rows.update_row(conn, CTX, row["ID"], {"PRODUCT_ID": cloth})
    # Bitrix substitutes the new product's name, but not its measure.
    assert (row["PRODUCT_NAME"], row["MEASURE_CODE"], row["MEASURE_NAME"]) == ("Cloth", 796, "pcs")
    async with transaction(db) as conn:
        await conn.execute(delete(products).where(products.c.id == cloth))
    async with transaction(db) as conn:  # a row of a deleted product stays editable
        row = await rows.update_row(conn, CTX, row["ID"], {"QUANTITY": 4})
    assert (row["PRODUCT_ID"], row["PRODUCT_NAME"]) == (cloth, "Cloth")
    async with transaction(db) as conn:
        with pytest.raises(RowProductNotFound):
            await rows.update_row(conn, CTX, row["ID"], {"PRODUCT_ID": 987654})


async def test_rows_of_a_missing_deal(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        with pytest.raises(NotFound):
            await rows.set_rows(conn, CTX, 987654, [{}])
    async with transaction(db) as conn:
        with pytest.raises(NotFound):
            await rows.get_rows(conn, CTX, 987654)
    async with transaction(db) as conn:
        with pytest.raises(NotFound):
            await rows.add_row(conn, CTX, 987654, {})


async def test_deleting_a_deal_deletes_its_rows(db: AsyncEngine) -> None:
    deal_id, kept = await new_deal(db), await new_deal(db)
    await set_rows(db, deal_id, [{"PRICE": 1}, {"PRICE": 2}])
    await set_rows(db, kept, [{"PRICE": 3}])
    async with transaction(db) as conn:
        await service.delete(conn, CTX, deal_id)
    async with db.connect() as conn:
        owners = (await conn.execute(select(product_rows.c.owner_id))).scalars().all()
    assert list(owners) == [kept]


async def test_the_update_event_has_the_deal_payload(db: AsyncEngine) -> None:
    deal_id = await new_deal(db)
    await set_rows(db, deal_id, [{"PRICE": 1}])
    async with db.connect() as conn:
        row = (await conn.execute(
            select(outbox).where(outbox.c.entity_id == deal_id).order_by(outbox.c.id.desc())
        )).mappings().first()  # fmt: skip
    assert row is not None
    assert (row["event"], row["entity_type"], row["payload"]) == (
        "onCrmDealUpdate", "deal", {"FIELDS": {"ID": deal_id}})  # fmt: skip
    async with transaction(db, write=False) as conn:
        deal = await service.get(conn, CTX, deal_id)
    assert deal["DATE_MODIFY"] == NOW and deal["MODIFY_BY_ID"] == 1
