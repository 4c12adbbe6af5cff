"""``crm.deal.productrows.set/get`` through the real app, as a client sees them.

Deals spec §4.1 (request example, defaults, errors), §4.2 (rendering, order), §4.4 (the
worked example), §1.6 (mixed value types), §2.7 and §3.2 (the amount on deal update).
Every error is checked to write nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import RestClient, RestReply, count_rows
from tests.deals.test_rows import KILOGRAM, SEED_ROWS, add_product, seed_rows

BAD_ID = "The parameter id is invalid or not defined."
CORE = "ERROR_CORE"


async def new_deal(rest: RestClient, **fields: Any) -> int:
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": "rows", **fields}})).result
    assert isinstance(deal_id, int)
    return deal_id


async def set_rows(rest: RestClient, deal_id: int, rows: Any) -> RestReply:
    return await rest.call("crm.deal.productrows.set", {"id": deal_id, "rows": rows})


async def get_rows(rest: RestClient, deal_id: int) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = (
        await rest.call("crm.deal.productrows.get", {"id": deal_id})
    ).result
    return result


async def amount(rest: RestClient, deal_id: int) -> tuple[str, str]:
    deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
    return deal["OPPORTUNITY"], deal["TAX_VALUE"]


async def state(db: AsyncEngine) -> tuple[int, int, int]:
    return (await count_rows(db, "product_rows"), await count_rows(db, "outbox"),
            await count_rows(db, "deals"))  # fmt: skip


def refused(reply: RestReply, code: str, message: str) -> None:
    assert reply.status == 400, reply.body
    assert reply.body == {"error": code, "error_description": message}


def form(deal_id: int, rows: list[dict[str, Any]]) -> str:
    pairs = [f"id={deal_id}"]
    for index, row in enumerate(rows):
        pairs += [f"rows[{index}][{key}]={quote(str(value))}" for key, value in row.items()]
    return "&".join(pairs)


# --- the worked example -----------------------------------------------------------------


async def test_seed_example_sets_the_documented_prices_and_amount(
    rest: RestClient, db: AsyncEngine
) -> None:
    product = await add_product(db, "Product #1")
    deal_id = await new_deal(rest)
    reply = await set_rows(rest, deal_id, seed_rows(product))
    assert reply.status == 200 and reply.body["result"] is True
    first, second = await get_rows(rest, deal_id)
    assert list(first) == [
        "ID", "OWNER_ID", "OWNER_TYPE", "PRODUCT_ID", "PRODUCT_NAME", "ORIGINAL_PRODUCT_NAME",
        "PRODUCT_DESCRIPTION", "PRICE", "PRICE_EXCLUSIVE", "PRICE_NETTO", "PRICE_BRUTTO",
        "PRICE_ACCOUNT", "QUANTITY", "DISCOUNT_TYPE_ID", "DISCOUNT_RATE", "DISCOUNT_SUM",
        "TAX_RATE", "TAX_INCLUDED", "CUSTOMIZED", "MEASURE_CODE", "MEASURE_NAME", "SORT",
        "XML_ID", "TYPE", "STORE_ID", "RESERVE_ID", "DATE_RESERVE_END", "RESERVE_QUANTITY",
    ]  # fmt: skip
    assert first == {
        "ID": first["ID"], "OWNER_ID": str(deal_id), "OWNER_TYPE": "D", "PRODUCT_ID": product,
        "PRODUCT_NAME": "Product #1", "ORIGINAL_PRODUCT_NAME": "Product #1",
        "PRODUCT_DESCRIPTION": None, "PRICE": 1000, "PRICE_EXCLUSIVE": 884.96,
        "PRICE_NETTO": 984.96, "PRICE_BRUTTO": 1113, "PRICE_ACCOUNT": "1000.00", "QUANTITY": 10,
        "DISCOUNT_TYPE_ID": 1, "DISCOUNT_RATE": 10.15, "DISCOUNT_SUM": 100, "TAX_RATE": 13,
        "TAX_INCLUDED": "N", "CUSTOMIZED": "Y", "MEASURE_CODE": 796, "MEASURE_NAME": "pcs",
        "SORT": 10, "XML_ID": "", "TYPE": 1, "STORE_ID": None, "RESERVE_ID": None,
        "DATE_RESERVE_END": None, "RESERVE_QUANTITY": None,
    }  # fmt: skip
    assert isinstance(first["ID"], str) and first["ID"].isdigit()
    assert (second["PRODUCT_NAME"], second["ORIGINAL_PRODUCT_NAME"]) == ("Product #2", None)
    assert (second["PRICE_EXCLUSIVE"], second["PRICE_NETTO"]) == (454.55, 505.05)
    assert (second["DISCOUNT_SUM"], second["PRICE_BRUTTO"]) == (50.51, 555.56)
    assert (second["MEASURE_CODE"], second["MEASURE_NAME"], second["SORT"]) == (166, "kg", 20)
    # Integral numbers are JSON integers, as Bitrix prints them ("PRICE": 100).
    assert type(first["PRICE"]) is int and type(first["QUANTITY"]) is int
    assert await amount(rest, deal_id) == ("12500.00", "1377.72")


async def test_seed_example_form_encoded_matches_json(rest: RestClient, db: AsyncEngine) -> None:
    product = await add_product(db, "Product #1")
    by_json, by_form = await new_deal(rest), await new_deal(rest)
    await set_rows(rest, by_json, seed_rows(product))
    reply = await rest.call("crm.deal.productrows.set", form=form(by_form, seed_rows(product)))
    assert reply.status == 200 and reply.body["result"] is True

    def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k not in ("ID", "OWNER_ID")} for row in rows]

    assert comparable(await get_rows(rest, by_form)) == comparable(await get_rows(rest, by_json))
    assert await amount(rest, by_form) == ("12500.00", "1377.72")
    # A GET query string works as well, and so do upper-case parameter names.
    query = form(by_form, [{"PRICE": 7}]).replace("id=", "ID=").replace("rows[", "ROWS[")
    assert (await rest.call("crm.deal.productrows.set", form=query, get=True)).result is True
    assert await amount(rest, by_form) == ("7.00", "0.00")


async def test_manual_amount_is_left_alone(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = await new_deal(rest, IS_MANUAL_OPPORTUNITY="Y", OPPORTUNITY=1000, TAX_VALUE=3)
    assert (await set_rows(rest, deal_id, seed_rows(await add_product(db)))).result is True
    assert await amount(rest, deal_id) == ("1000.00", "3.00")
    assert len(await get_rows(rest, deal_id)) == 2


async def test_the_seed_get_row_renders_as_documented(rest: RestClient) -> None:
    """§4.2's example row: PRICE_NETTO 999, 10 % off, no tax → 899.1 and "899.10"."""
    deal_id = await new_deal(rest)
    row = {"PRICE_NETTO": 999, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 10, "TAX_INCLUDED": "Y",
           "PRODUCT_NAME": "Product #2", "MEASURE_CODE": 796, "SORT": 10}  # fmt: skip
    await set_rows(rest, deal_id, [row])
    (got,) = await get_rows(rest, deal_id)
    assert (got["PRICE"], got["PRICE_EXCLUSIVE"], got["PRICE_NETTO"]) == (899.1, 899.1, 999)
    assert (got["PRICE_BRUTTO"], got["PRICE_ACCOUNT"], got["DISCOUNT_SUM"]) == (999, "899.10", 99.9)
    assert (got["TAX_RATE"], got["TAX_INCLUDED"], got["MEASURE_NAME"]) == (None, "Y", "pcs")
    assert await amount(rest, deal_id) == ("899.10", "0.00")


# --- replace semantics and order --------------------------------------------------------


async def test_set_replaces_and_get_orders_by_sort_then_id(rest: RestClient) -> None:
    deal_id = await new_deal(rest)
    assert await get_rows(rest, deal_id) == []
    await set_rows(rest, deal_id, [{"PRICE": 1}])
    await set_rows(rest, deal_id, [{"PRICE": 2, "SORT": 20}, {"PRICE": 3, "SORT": 10},
                                   {"PRICE": 4, "SORT": 20}])  # fmt: skip
    got = await get_rows(rest, deal_id)
    assert [row["PRICE"] for row in got] == [3, 2, 4]
    assert int(got[1]["ID"]) < int(got[2]["ID"])
    assert await amount(rest, deal_id) == ("9.00", "0.00")
    # Rows sent back with their IDs keep them; other rows get new ones.
    sent = [{"ID": got[0]["ID"], "PRICE": 5}, {"ID": "999999", "PRICE": 6}]
    await set_rows(rest, deal_id, sent)
    again = await get_rows(rest, deal_id)
    assert again[0]["ID"] == got[0]["ID"] and again[1]["ID"] not in {r["ID"] for r in got}


@pytest.mark.parametrize("params", [{}, {"rows": []}, {"rows": {}}, {"rows": None}])
async def test_no_rows_removes_all_rows(rest: RestClient, params: dict[str, Any]) -> None:
    deal_id = await new_deal(rest)
    await set_rows(rest, deal_id, [{"PRICE": 100, "TAX_RATE": 10}])
    assert await amount(rest, deal_id) == ("100.00", "9.09")
    reply = await rest.call("crm.deal.productrows.set", {"id": deal_id, **params})
    assert reply.result is True
    assert await get_rows(rest, deal_id) == []
    assert await amount(rest, deal_id) == ("0.00", "0.00")


async def test_defaults_and_lower_case_row_keys(rest: RestClient, db: AsyncEngine) -> None:
    cloth = await add_product(db, "Cloth", KILOGRAM)
    deal_id = await new_deal(rest)
    await set_rows(rest, deal_id, [{}, {"product_id": cloth, "price": "2.5"}])
    bare, named = await get_rows(rest, deal_id)
    assert bare["PRODUCT_NAME"] == f"[{bare['ID']}]" and bare["PRODUCT_ID"] == 0
    assert (bare["PRICE"], bare["QUANTITY"], bare["DISCOUNT_TYPE_ID"], bare["SORT"]) == (0, 1, 2, 0)
    assert (bare["MEASURE_CODE"], bare["MEASURE_NAME"], bare["TAX_RATE"]) == (0, "", None)
    assert (named["PRODUCT_NAME"], named["MEASURE_NAME"], named["PRICE"]) == ("Cloth", "kg", 2.5)


# --- the amount on deal update ----------------------------------------------------------


async def test_deal_update_keeps_the_rows_amount(rest: RestClient) -> None:
    deal_id = await new_deal(rest)
    await set_rows(rest, deal_id, [{"PRICE": 50, "QUANTITY": 4, "TAX_RATE": 25}])
    assert await amount(rest, deal_id) == ("200.00", "40.00")
    update = {"id": deal_id, "fields": {"OPPORTUNITY": 1, "TAX_VALUE": 1}}
    assert (await rest.call("crm.deal.update", update)).result is True
    assert await amount(rest, deal_id) == ("200.00", "40.00")
    item = {"entityTypeId": 2, "id": deal_id, "fields": {"opportunity": 2}}
    assert (await rest.call("crm.item.update", item)).result["item"]["opportunity"] == 200
    manual = {"id": deal_id, "fields": {"IS_MANUAL_OPPORTUNITY": "Y", "OPPORTUNITY": 3}}
    await rest.call("crm.deal.update", manual)
    assert await amount(rest, deal_id) == ("3.00", "40.00")
    auto = {"id": deal_id, "fields": {"IS_MANUAL_OPPORTUNITY": "N"}}
    await rest.call("crm.deal.update", auto)
    assert await amount(rest, deal_id) == ("200.00", "40.00")


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["set", "get"])
@pytest.mark.parametrize("deal_id", [None, 0, -3, "abc", "", [1], {"a": 1}, 1.5])
async def test_invalid_id(rest: RestClient, db: AsyncEngine, method: str, deal_id: Any) -> None:
    before = await state(db)
    params = {} if deal_id is None else {"id": deal_id}
    reply = await rest.call(f"crm.deal.productrows.{method}", {**params, "rows": [{}]})
    refused(reply, "", BAD_ID)
    assert await state(db) == before


@pytest.mark.parametrize("method", ["set", "get"])
async def test_missing_deal_is_not_found(rest: RestClient, db: AsyncEngine, method: str) -> None:
    before = await state(db)
    reply = await rest.call(f"crm.deal.productrows.{method}", {"id": 987654, "rows": [{}]})
    refused(reply, "", "Not found")
    assert await state(db) == before


DISCOUNT_ERRORS = [
    ({"DISCOUNT_TYPE_ID": 2}, "Discount Rate (DISCOUNT_RATE) is required if Percentage Discount "
     "Type (DISCOUNT_TYPE_ID) is defined.<br>"),
    ({"DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 100}, "Discount Sum (DISCOUNT_SUM) is required if "
     "Percentage Discount Type (DISCOUNT_TYPE_ID) is defined and Discount Rate (DISCOUNT_RATE) "
     "is 100%<br>"),
    ({"DISCOUNT_TYPE_ID": 1}, "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount "
     "Type (DISCOUNT_TYPE_ID) is defined.<br>"),
]  # fmt: skip
BAD_ROWS = [
    *DISCOUNT_ERRORS,
    ({"PRICE": "ten"}, 'Invalid value for the "PRICE" field of a product row.<br>'),
    ({"QUANTITY": {"x": 1}}, 'Invalid value for the "QUANTITY" field of a product row.<br>'),
    ({"PRICE": "1e400"}, 'Invalid value for the "PRICE" field of a product row.<br>'),
    ({"PRODUCT_ID": 987654}, "The product with ID 987654 was not found in the catalog.<br>"),
    ({"TAX_RATE": -100}, "Tax Rate (TAX_RATE) cannot be -100%.<br>"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS)
async def test_bad_rows_are_error_core_and_write_nothing(
    rest: RestClient, db: AsyncEngine, row: dict[str, Any], message: str
) -> None:
    deal_id = await new_deal(rest)
    await set_rows(rest, deal_id, [{"PRICE": 9}])
    before, rows = await state(db), await get_rows(rest, deal_id)
    refused(await set_rows(rest, deal_id, [{"PRICE": 1}, {"PRICE": 2, **row}]), CORE, message)
    assert await state(db) == before and await get_rows(rest, deal_id) == rows
    assert await amount(rest, deal_id) == ("9.00", "0.00")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("x", "The parameter rows must be array."),
        (5, "The parameter rows must be array."),
        ("", "The parameter rows must be array."),
        ([{"PRICE": 1}, "x"], "The parameter rows[1] must be array."),
        ([[1, 2]], "The parameter rows[0] must be array."),
        ([None], "The parameter rows[0] must be array."),
    ],
)
async def test_rows_of_the_wrong_shape(
    rest: RestClient, db: AsyncEngine, rows: Any, message: str
) -> None:
    deal_id = await new_deal(rest)
    await set_rows(rest, deal_id, [{"PRICE": 9}])
    before = await state(db)
    refused(await set_rows(rest, deal_id, rows), "", message)
    assert await state(db) == before and await amount(rest, deal_id) == ("9.00", "0.00")


async def test_hostile_keys_are_ignored(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = await new_deal(rest)
    row = {"PRICE'; DROP TABLE deals; --": 1, "__proto__": {"PRICE": 5}, "K" * 10000: 1,
           "OWNER_ID": 999, "OWNER_TYPE": "L", "ID\x00": 3, "PRICE_ACCOUNT": 7,
           "PRICE": 4}  # fmt: skip
    assert (await set_rows(rest, deal_id, [row])).result is True
    (got,) = await get_rows(rest, deal_id)
    assert (got["PRICE"], got["PRICE_ACCOUNT"], got["OWNER_ID"]) == (4, "4.00", str(deal_id))
    assert await count_rows(db, "deals") == 1


async def test_a_huge_row_array_is_refused_before_anything_runs(
    rest: RestClient, db: AsyncEngine
) -> None:
    deal_id = await new_deal(rest)
    before = await state(db)
    reply = await set_rows(rest, deal_id, [{"PRICE": 1}] * 6000)
    assert reply.status == 400 and reply.body["error"] == "ERROR_ARGUMENT"
    assert reply.body["error_description"] == "Too many parameters: more than 5000 keys."
    assert await state(db) == before


async def test_a_set_records_one_update_event(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = await new_deal(rest)
    before = await count_rows(db, "outbox")
    await set_rows(rest, deal_id, [{"PRICE": 1}])
    await set_rows(rest, deal_id, [])
    await set_rows(rest, deal_id, [])  # nothing to remove: no change, no event
    assert await count_rows(db, "outbox") == before + 2


async def test_seed_request_example_names_a_product_that_must_exist(
    rest: RestClient, db: AsyncEngine
) -> None:
    """The seed sends PRODUCT_ID 456; on an empty catalog that is refused, not invented."""
    deal_id = await new_deal(rest)
    before = await state(db)
    reply = await set_rows(rest, deal_id, SEED_ROWS)
    refused(reply, CORE, "The product with ID 456 was not found in the catalog.<br>")
    assert await state(db) == before
