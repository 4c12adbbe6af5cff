"""``crm.item.productrow.*`` through the real app: deal rows in the engine-controller style.

Protocol spec §8.4 and the Bitrix docs of each method (``crm/universal/product-rows``):
camelCase fields, JSON numbers, ``productRow``/``productRows`` wrappers, ``total``/``next``
on list, ``null`` from delete, and the controller's error codes. Every refused call is
checked to write nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import RestClient, RestReply, count_rows
from tests.deals.test_rows import add_product

ROW_KEYS = [
    "id", "ownerId", "ownerType", "productId", "productName", "price", "priceAccount",
    "priceExclusive", "priceNetto", "priceBrutto", "quantity", "discountTypeId", "discountRate",
    "discountSum", "taxRate", "taxIncluded", "customized", "measureCode", "measureName", "sort",
    "xmlId", "type", "storeId",
]  # fmt: skip
DESCRIPTOR_KEYS = ["type", "isRequired", "isReadOnly", "isImmutable", "isMultiple", "isDynamic",
                   "title"]  # fmt: skip


async def new_deal(rest: RestClient) -> int:
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": "item rows"}})).result
    assert isinstance(deal_id, int)
    return deal_id


async def call(rest: RestClient, method: str, **params: Any) -> RestReply:
    return await rest.call(f"crm.item.productrow.{method}", params)


async def add_row(rest: RestClient, deal_id: int, **fields: Any) -> dict[str, Any]:
    reply = await call(rest, "add", fields={"ownerType": "D", "ownerId": deal_id, **fields})
    assert list(reply.result) == ["productRow"]
    row: dict[str, Any] = reply.result["productRow"]
    return row


async def amount(rest: RestClient, deal_id: int) -> tuple[str, str]:
    deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
    return deal["OPPORTUNITY"], deal["TAX_VALUE"]


async def state(db: AsyncEngine) -> tuple[int, int]:
    return await count_rows(db, "product_rows"), await count_rows(db, "outbox")


def refused(reply: RestReply, code: str, message: str) -> None:
    assert reply.status == 400, reply.body
    assert (reply.body["error"], reply.body["error_description"]) == (code, message)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- add / get / update / delete --------------------------------------------------------


async def test_add_returns_the_row_with_json_numbers(rest: RestClient, db: AsyncEngine) -> None:
    """The docs' add example: 80000 a piece incl. 20 % tax after a 20 % discount, 2 pieces."""
    product = await add_product(db, "iphone 14")
    deal_id = await new_deal(rest)
    row = await add_row(
        rest, deal_id, productId=product, price=80000, quantity=2, discountTypeId=2,
        discountRate=20, taxRate=20, taxIncluded="Y", measureCode=796, sort=10,
        priceNetto=1, xmlId="ignored", measureName="ignored", id=5,
    )  # fmt: skip
    assert list(row) == ROW_KEYS
    assert row == {
        "id": row["id"], "ownerId": deal_id, "ownerType": "D", "productId": product,
        "productName": "iphone 14", "price": 80000, "priceAccount": 80000,
        "priceExclusive": 66666.67, "priceNetto": 83333.33, "priceBrutto": 100000,
        "quantity": 2, "discountTypeId": 2, "discountRate": 20, "discountSum": 16666.67,
        "taxRate": 20, "taxIncluded": "Y", "customized": "Y", "measureCode": 796,
        "measureName": "pcs", "sort": 10, "xmlId": "", "type": 1, "storeId": None,
    }  # fmt: skip
    assert isinstance(row["id"], int) and row["id"] != 5
    assert all(is_number(row[k]) for k in ("price", "priceNetto", "quantity", "discountSum"))
    assert await amount(rest, deal_id) == ("160000.00", "26666.67")
    got = await call(rest, "get", id=row["id"])
    assert got.result == {"productRow": row}


async def test_add_errors(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = await new_deal(rest)
    before = await state(db)
    missing = await rest.call("crm.item.productrow.add", {})
    refused(missing, "ERROR_ARGUMENT", "Could not find value for parameter {fields}")
    assert missing.body["argument"] == "fields"
    refused(
        await call(rest, "add", fields="x"),
        "ERROR_ARGUMENT",
        "Invalid value {x} to match with parameter {fields}. Should be value of type array.",
    )
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"ownerId": deal_id}, "ENTITY_TYPE_NOT_SUPPORTED", "Entity type  is not supported"),
        ({"ownerType": "L", "ownerId": 1}, "ENTITY_TYPE_NOT_SUPPORTED",
         "Entity type LEAD is not supported"),
        ({"ownerType": "Tb3", "ownerId": 1}, "ENTITY_TYPE_NOT_SUPPORTED",
         "Entity type DYNAMIC_179 is not supported"),
        ({"ownerType": "Q", "ownerId": 1}, "ENTITY_TYPE_NOT_SUPPORTED",
         "Entity type QUOTE is not supported"),
        ({"ownerType": "D"}, "OWNER_NOT_FOUND", "Owner was not found"),
        ({"ownerType": "D", "ownerId": 987654}, "OWNER_NOT_FOUND", "Owner was not found"),
        ({"ownerType": "D", "ownerId": "abc"}, "OWNER_NOT_FOUND", "Owner was not found"),
        ({"ownerType": "D", "ownerId": deal_id, "productId": 987654}, "INVALID_ARG_VALUE",
         "The product with ID 987654 was not found in the catalog."),
        ({"ownerType": "D", "ownerId": deal_id, "price": "ten"}, "INVALID_ARG_VALUE",
         'Invalid value for field "price"'),
        ({"ownerType": "D", "ownerId": deal_id, "discountTypeId": 1}, "INVALID_ARG_VALUE",
         "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount Type "
         "(DISCOUNT_TYPE_ID) is defined."),
    ]  # fmt: skip
    for fields, code, message in cases:
        refused(await call(rest, "add", fields=fields), code, message)
    assert await state(db) == before


async def test_form_encoded_add(rest: RestClient) -> None:
    deal_id = await new_deal(rest)
    body = f"fields[ownerType]=D&fields[ownerId]={deal_id}&fields[price]=12.5&fields[quantity]=2"
    reply = await rest.call("crm.item.productrow.add", form=body)
    row = reply.result["productRow"]
    assert (row["price"], row["quantity"], row["productName"]) == (12.5, 2, f"[{row['id']}]")
    assert await amount(rest, deal_id) == ("25.00", "0.00")


async def test_update_reprices_and_moves_the_amount(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = await new_deal(rest)
    row = await add_row(rest, deal_id, price=500, quantity=5, discountTypeId=2, discountRate=10,
                        taxRate=10)  # fmt: skip
    reply = await call(rest, "update", id=row["id"], fields={"quantity": 2, "ownerId": 1})
    updated = reply.result["productRow"]
    assert updated == {**row, "quantity": 2}  # the owner cannot move: ownerId is not retained
    assert await amount(rest, deal_id) == ("1000.00", "90.91")
    reply = await call(rest, "update", id=row["id"], fields={"price": 1100, "PRODUCT_NAME": "x"})
    updated = reply.result["productRow"]
    assert (updated["priceExclusive"], updated["priceNetto"], updated["discountSum"]) == (
        1000, 1111.11, 111.11)  # fmt: skip
    assert updated["productName"] == "x"
    assert await amount(rest, deal_id) == ("2200.00", "200.00")
    before = await state(db)
    empty = await call(rest, "update", id=row["id"], fields={})
    assert empty.status == 200 and empty.body["result"] is None
    refused(
        await call(rest, "update", id=row["id"], fields={"priceNetto": 1, "nope": 2}),
        "INVALID_ARG_VALUE",
        "Field 'priceNetto' not available for update",
    )
    refused(
        await call(rest, "update", id=row["id"], fields={"discountTypeId": 1}),
        "INVALID_ARG_VALUE",
        "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount Type "
        "(DISCOUNT_TYPE_ID) is defined.",
    )
    refused(await call(rest, "update", id=row["id"]), "ERROR_ARGUMENT",
            "Could not find value for parameter {fields}")  # fmt: skip
    assert await state(db) == before


async def test_delete_answers_null_and_zeroes_the_amount(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = await new_deal(rest)
    row = await add_row(rest, deal_id, price=5)
    reply = await call(rest, "delete", id=row["id"])
    assert reply.status == 200 and reply.body["result"] is None
    assert await amount(rest, deal_id) == ("0.00", "0.00")
    assert await count_rows(db, "product_rows") == 0


@pytest.mark.parametrize("method", ["get", "update", "delete"])
async def test_a_missing_row_is_not_found(rest: RestClient, db: AsyncEngine, method: str) -> None:
    deal_id = await new_deal(rest)
    row = await add_row(rest, deal_id, price=5)
    before = await state(db)
    for row_id in (row["id"] + 1000, 0, -1):
        reply = await call(rest, method, id=row_id, fields={"price": 1})
        refused(reply, "NOT_FOUND", "Item not found")
    refused(await call(rest, method, fields={"price": 1}), "ERROR_ARGUMENT",
            "Could not find value for parameter {id}")  # fmt: skip
    mistyped = "Invalid value {abc} to match with parameter {id}. Should be value of type int."
    refused(await call(rest, method, id="abc", fields={"price": 1}), "ERROR_ARGUMENT", mistyped)
    assert await state(db) == before


# --- set --------------------------------------------------------------------------------


async def test_set_replaces_the_rows_and_returns_them_all(
    rest: RestClient, db: AsyncEngine
) -> None:
    chair = await add_product(db, "Chair")
    deal_id = await new_deal(rest)
    kept = await add_row(rest, deal_id, price=1)
    gone = await add_row(rest, deal_id, price=2)
    reply = await call(
        rest, "set", ownerType="D", ownerId=deal_id,
        productRows=[{"id": kept["id"], "price": 7, "sort": 20},
                     {"productId": chair, "price": 15900, "quantity": 2, "sort": 10}],
    )  # fmt: skip
    assert list(reply.result) == ["productRows"]
    first, second = reply.result["productRows"]
    assert (first["productName"], first["measureName"], first["price"]) == ("Chair", "pcs", 15900)
    assert (second["id"], second["price"]) == (kept["id"], 7)
    assert gone["id"] not in {first["id"], second["id"]}
    assert await amount(rest, deal_id) == ("31807.00", "0.00")
    listed = await call(rest, "list", filter={"=ownerType": "D", "=ownerId": deal_id})
    assert listed.result["productRows"] == reply.result["productRows"]
    emptied = await call(rest, "set", ownerType="D", ownerId=deal_id, productRows=[])
    assert emptied.result == {"productRows": []}
    assert await amount(rest, deal_id) == ("0.00", "0.00")


async def test_set_errors_write_nothing(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = await new_deal(rest)
    await add_row(rest, deal_id, price=3)
    before = await state(db)
    rows = [{"price": 1}]
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"ownerId": deal_id, "productRows": rows}, "ERROR_ARGUMENT",
         "Could not find value for parameter {ownerType}"),
        ({"ownerType": "D", "productRows": rows}, "ERROR_ARGUMENT",
         "Could not find value for parameter {ownerId}"),
        ({"ownerType": "D", "ownerId": deal_id}, "ERROR_ARGUMENT",
         "Could not find value for parameter {productRows}"),
        ({"ownerType": "D", "ownerId": deal_id, "productRows": "x"}, "ERROR_ARGUMENT",
         "Invalid value {x} to match with parameter {productRows}. Should be value of type array."),
        ({"ownerType": "L", "ownerId": deal_id, "productRows": rows}, "ENTITY_TYPE_NOT_SUPPORTED",
         "Entity type LEAD is not supported"),
        ({"ownerType": "D", "ownerId": 987654, "productRows": rows}, "OWNER_NOT_FOUND",
         "Owner was not found"),
        ({"ownerType": "D", "ownerId": deal_id, "productRows": [{"price": 1}, 5]},
         "INVALID_ARG_VALUE", "The parameter productRows[1] must be array."),
        ({"ownerType": "D", "ownerId": deal_id, "productRows": [{"taxRate": "x"}]},
         "INVALID_ARG_VALUE", 'Invalid value for field "taxRate"'),
    ]  # fmt: skip
    for params, code, message in cases:
        refused(await call(rest, "set", **params), code, message)
    assert await state(db) == before
    assert await amount(rest, deal_id) == ("3.00", "0.00")


async def test_form_encoded_set(rest: RestClient) -> None:
    deal_id = await new_deal(rest)
    body = (f"ownerType=D&ownerId={deal_id}&productRows[0][price]=10&productRows[0][quantity]=3"
            "&productRows[1][price]=1.5")  # fmt: skip
    reply = await rest.call("crm.item.productrow.set", form=body)
    assert [row["price"] for row in reply.result["productRows"]] == [10, 1.5]
    assert await amount(rest, deal_id) == ("31.50", "0.00")


# --- list -------------------------------------------------------------------------------


async def test_list_needs_the_owner_in_its_filter(rest: RestClient) -> None:
    deal_id = await new_deal(rest)
    await add_row(rest, deal_id, price=1)
    missing_type = "Argument '=ownerType' is required"
    missing_id = "Argument '=ownerId' is required"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({}, "REQUIRED_ARG_MISSING", missing_type),
        ({"filter": {"=ownerId": deal_id}}, "REQUIRED_ARG_MISSING", missing_type),
        ({"filter": {"ownerType": "D", "=ownerId": deal_id}}, "REQUIRED_ARG_MISSING", missing_type),
        ({"filter": {"=ownerType": "D"}}, "REQUIRED_ARG_MISSING", missing_id),
        ({"filter": {">id": [1]}}, "REQUIRED_ARG_MISSING", missing_type),  # the owner first
        ({"filter": {"=ownerType": "D", "=ownerId": 0}}, "REQUIRED_ARG_MISSING", missing_id),
        ({"filter": {"=ownerType": "L", "=ownerId": deal_id}}, "ACCESS_DENIED", "Access denied"),
        ({"filter": {"=ownerType": "D", "=ownerId": 987654}}, "ACCESS_DENIED", "Access denied"),
        ({"filter": {"=ownerType": "D", "=ownerId": deal_id, ">id": [1]}}, "INVALID_ARG_VALUE",
         "Value for filter key '>ID' should be either string or number"),
        ({"filter": "x"}, "ERROR_ARGUMENT",
         "Invalid value {x} to match with parameter {filter}. Should be value of type array."),
        ({"filter": {"=ownerType": "D", "=ownerId": deal_id}, "order": {"id": "up"}},
         "INVALID_ARG_VALUE",
         "Invalid order: allowed sort directions are ASC, DESC. But got 'up' for field 'id'"),
    ]  # fmt: skip
    for params, code, message in cases:
        refused(await call(rest, "list", **params), code, message)


async def test_list_filters_orders_and_pages(rest: RestClient, db: AsyncEngine) -> None:
    chair = await add_product(db, "Chair")
    deal_id, other = await new_deal(rest), await new_deal(rest)
    rows = [{"price": i + 1, "sort": (i % 3) * 10} for i in range(60)]
    rows[5]["productId"] = chair
    reply = await call(rest, "set", ownerType="D", ownerId=deal_id, productRows=rows)
    stored = reply.result["productRows"]
    await add_row(rest, other, price=99)
    owner = {"=ownerType": "D", "=ownerId": deal_id}
    page = await call(rest, "list", filter=owner)
    assert (page.body["total"], page.body["next"]) == (60, 50)
    assert page.result["productRows"] == stored[:50]  # default order: sort, then id
    last = await rest.call("crm.item.productrow.list", {"filter": owner, "start": 50})
    assert last.result["productRows"] == stored[50:] and "next" not in last.body
    ids = sorted(row["id"] for row in stored)
    by_id = await call(rest, "list", filter={**owner, ">=id": ids[57]}, order={"id": "desc"})
    assert [row["id"] for row in by_id.result["productRows"]] == ids[57:][::-1]
    assert by_id.body["total"] == 3
    picked = await call(rest, "list", filter={**owner, "@id": [ids[0], ids[3], 10**6]})
    assert sorted(row["id"] for row in picked.result["productRows"]) == [ids[0], ids[3]]
    product = await call(rest, "list", filter={**owner, "=productId": chair, "price": 5})
    assert [row["productId"] for row in product.result["productRows"]] == [chair]
    uncounted = await rest.call("crm.item.productrow.list", {"filter": owner, "start": -1})
    assert "total" not in uncounted.body and len(uncounted.result["productRows"]) == 50


# --- fields -----------------------------------------------------------------------------


async def test_fields_describe_the_row(rest: RestClient) -> None:
    reply = await rest.call("crm.item.productrow.fields")
    fields = reply.result["fields"]
    assert list(reply.result) == ["fields"]
    assert list(fields) == [k for k in ROW_KEYS if k not in ("priceAccount", "xmlId")]
    assert all(list(descriptor) == DESCRIPTOR_KEYS for descriptor in fields.values())
    assert fields["ownerId"] == {"type": "integer", "isRequired": True, "isReadOnly": False,
                                 "isImmutable": True, "isMultiple": False, "isDynamic": False,
                                 "title": "Owner ID"}  # fmt: skip
    read_only = {name for name, d in fields.items() if d["isReadOnly"]}
    assert read_only == {"id", "priceExclusive", "priceNetto", "priceBrutto", "type", "storeId"}
    assert fields["taxIncluded"]["type"] == "char" and fields["price"]["type"] == "double"
