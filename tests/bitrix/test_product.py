"""crm.product.*, crm.measure.* and crm.vat.* through the real app, as a client sees them.

Sources: the public crm.product.* / crm.measure.* / crm.vat.* pages (b24restdocs,
api-reference/crm/outdated/) and, where they show no example, the crm module's
``CCrmProduct::GetFieldsInfo`` and ``CCrmProductRestProxy``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.db import transaction
from relatecrm.deals.models import product_rows
from relatecrm.events.models import outbox
from tests.bitrix.test_deal_methods import expected_descriptor
from tests.conftest import RestClient, count_rows

# name, type, flags (R read-only, I immutable, Q required), title
EXPECTED_FIELDS = """
ID integer R ID
CATALOG_ID integer R Catalog
PRICE double - Price
CURRENCY_ID string - Currency
NAME string Q Name
DESCRIPTION string - Description
DESCRIPTION_TYPE string - Description_type
ACTIVE char - Active
SECTION_ID integer - Section
SORT integer - Sort
VAT_ID integer - Tax_rate
VAT_INCLUDED char - Tax_included
MEASURE integer - Unit_of_measurement
XML_ID string - External_ID
PREVIEW_PICTURE product_file R Preview_image
DETAIL_PICTURE product_file R Full_image
DATE_CREATE datetime R Created_on
TIMESTAMP_X datetime RI Modified_on
MODIFIED_BY integer R Modified_by
CREATED_BY integer R Created_by
"""
ORDER = [line.split()[0] for line in EXPECTED_FIELDS.strip().splitlines()]
# The crm.product.add example of the docs.
DOCS_PRODUCT = {"NAME": "Plastic Chair", "CURRENCY_ID": "USD", "PRICE": 4900, "SORT": 500}
PIECE = {"ID": "5", "CODE": "796", "MEASURE_TITLE": "Piece", "SYMBOL_RUS": "pcs",
         "SYMBOL_INTL": "pc. 1", "SYMBOL_LETTER_INTL": "PCE. NMB", "IS_DEFAULT": "Y"}  # fmt: skip


async def add(rest: RestClient, **fields: Any) -> int:
    product_id = (await rest.call("crm.product.add", {"fields": fields})).result
    assert isinstance(product_id, int) and product_id > 0
    return product_id


async def get(rest: RestClient, product_id: int) -> dict[str, Any]:
    product: dict[str, Any] = (await rest.call("crm.product.get", {"id": product_id})).result
    return product


async def events(db: AsyncEngine) -> list[tuple[str, int, Any]]:
    async with db.connect() as conn:
        rows = await conn.execute(select(outbox).order_by(outbox.c.id))
        return [(row.event, row.entity_id, row.payload) for row in rows]


async def test_fields_describe_the_product(rest: RestClient) -> None:
    expected = {}
    for line in EXPECTED_FIELDS.strip().splitlines():
        name, descriptor = expected_descriptor(line)
        descriptor["isRequired"] = line.split()[2] == "Q"
        expected[name] = descriptor
    reply = (await rest.call("crm.product.fields")).result
    assert reply == expected
    assert list(reply) == list(expected)
    assert all(list(reply[n]) == list(d) for n, d in expected.items()), "key order"


async def test_add_and_get_render_as_bitrix(rest: RestClient) -> None:
    product_id = (await rest.call("crm.product.add", {"fields": DOCS_PRODUCT})).result
    assert isinstance(product_id, int)
    product = await get(rest, product_id)
    assert list(product) == ORDER
    assert product["ID"] == str(product_id) and product["CATALOG_ID"] == "1"
    assert (product["NAME"], product["PRICE"], product["CURRENCY_ID"]) == (
        "Plastic Chair", "4900.00", "USD")  # fmt: skip
    assert (product["SORT"], product["ACTIVE"], product["VAT_INCLUDED"]) == ("500", "Y", "N")
    assert product["DESCRIPTION_TYPE"] == "text" and product["DESCRIPTION"] is None
    assert product["VAT_ID"] is None and product["MEASURE"] is None
    assert product["PREVIEW_PICTURE"] is None and product["DETAIL_PICTURE"] is None
    assert product["CREATED_BY"] == product["MODIFIED_BY"] == "1"
    created = dt.datetime.fromisoformat(product["DATE_CREATE"])
    assert product["TIMESTAMP_X"] == product["DATE_CREATE"]
    assert created.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(minutes=1)


async def test_add_from_a_php_form_body(rest: RestClient) -> None:
    form = ("FIELDS[NAME]=Oak+table&FIELDS[PRICE]=1200.5&FIELDS[VAT_ID]=3&FIELDS[VAT_INCLUDED]=Y"
            "&FIELDS[MEASURE]=5&FIELDS[DESCRIPTION]=%3Cb%3Esolid%3C%2Fb%3E"
            "&FIELDS[DESCRIPTION_TYPE]=html&FIELDS[PROPERTY_12][0]=ignored")  # fmt: skip
    product_id = (await rest.call("crm.product.add", form=form)).result
    assert isinstance(product_id, int)
    product = (await rest.call("crm.product.get", form=f"ID={product_id}", get=True)).result
    assert (product["NAME"], product["PRICE"], product["CURRENCY_ID"]) == (
        "Oak table", "1200.50", "USD")  # fmt: skip
    assert (product["VAT_ID"], product["VAT_INCLUDED"], product["MEASURE"]) == ("3", "Y", "5")
    assert (product["DESCRIPTION"], product["DESCRIPTION_TYPE"]) == ("<b>solid</b>", "html")
    assert "PROPERTY_12" not in product


async def test_update_follows_the_docs_example(rest: RestClient, db: AsyncEngine) -> None:
    product_id = await add(rest, **DOCS_PRODUCT)
    params = {"id": product_id, "fields": {"CURRENCY_ID": "EUR", "PRICE": 5000}}
    assert (await rest.call("crm.product.update", params)).result is True
    product = await get(rest, product_id)
    assert (product["PRICE"], product["CURRENCY_ID"], product["NAME"]) == (
        "5000.00", "EUR", "Plastic Chair")  # fmt: skip
    form = f"id={product_id}&fields[PRICE]=12.3&fields[ACTIVE]=N"
    assert (await rest.call("crm.product.update", form=form)).result is True
    product = await get(rest, product_id)
    assert (product["PRICE"], product["CURRENCY_ID"], product["ACTIVE"]) == ("12.30", "EUR", "N")
    assert [e[:2] for e in await events(db)] == [("onCrmProductAdd", product_id),
        ("onCrmProductUpdate", product_id), ("onCrmProductUpdate", product_id)]  # fmt: skip


async def test_delete_records_its_event_and_leaves_product_rows(
    rest: RestClient, db: AsyncEngine
) -> None:
    product_id = await add(rest, NAME="Chair", PRICE=10)
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": "d"}})).result
    money = dict.fromkeys(("price", "price_exclusive", "price_netto", "price_brutto"), 10)
    async with transaction(db) as conn:
        await conn.execute(
            insert(product_rows).values(owner_id=deal_id, product_id=product_id,
                                        product_name="Chair", quantity=1, **money)
        )  # fmt: skip
    assert (await rest.call("crm.product.delete", {"id": product_id})).result is True
    reply = await rest.call("crm.product.get", {"id": product_id})
    assert (reply.status, reply.body) == (
        400, {"error": "", "error_description": "Product is not found."})  # fmt: skip
    assert await count_rows(db, "product_rows") == 1
    deleted = ("onCrmProductDelete", product_id, {"FIELDS": {"ID": product_id}})
    assert (await events(db))[-1] == deleted


async def test_list_selects_filters_orders_and_pages(rest: RestClient) -> None:
    chair = await add(rest, NAME="Plastic chair", PRICE=49, SORT=300)
    table = await add(rest, NAME="Oak table", PRICE=1200, CURRENCY_ID="EUR", SORT=200)
    lamp = await add(rest, NAME="Lamp", ACTIVE="N", SORT=200)
    reply = await rest.call("crm.product.list", {})
    assert [row["ID"] for row in reply.result] == [str(table), str(lamp), str(chair)]
    assert reply.body["total"] == 3 and "next" not in reply.body
    assert list(reply.result[0]) == ORDER
    # The docs' list example: order by NAME, filter on the catalog, four fields.
    params = {"order": {"NAME": "ASC"}, "filter": {"CATALOG_ID": "1"},
              "select": ["ID", "NAME", "CURRENCY_ID", "PRICE"]}  # fmt: skip
    reply = await rest.call("crm.product.list", params)
    assert reply.result == [
        {"ID": str(lamp), "PRICE": None, "CURRENCY_ID": None, "NAME": "Lamp"},
        {"ID": str(table), "PRICE": "1200.00", "CURRENCY_ID": "EUR", "NAME": "Oak table"},
        {"ID": str(chair), "PRICE": "49.00", "CURRENCY_ID": "USD", "NAME": "Plastic chair"},
    ]
    params = {"filter": {">=PRICE": 49, "%NAME": "CHAIR", "ACTIVE": "Y"}, "select": ["NAME"]}
    assert (await rest.call("crm.product.list", params)).result == [
        {"ID": str(chair), "NAME": "Plastic chair"}
    ]
    params = {"filter": {"!CATALOG_ID": 1}, "select": ["PROPERTY_*", "*"]}
    assert (await rest.call("crm.product.list", params)).result == []
    reply = await rest.call("crm.product.list", {"order": {"ID": "desc"}, "select": ["ID"],
                                                 "start": -1})  # fmt: skip
    assert reply.result == [{"ID": str(i)} for i in (lamp, table, chair)]
    assert reply.body["total"] == 0


async def test_list_pages_by_fifty(rest: RestClient) -> None:
    created = [await add(rest, NAME=f"p{i:02d}") for i in range(51)]
    first = await rest.call("crm.product.list", {"select": ["ID"]})
    assert (first.body["next"], first.body["total"], len(first.result)) == (50, 51, 50)
    last = await rest.call("crm.product.list", {"select": ["ID"], "start": 50})
    assert last.result == [{"ID": str(created[50])}] and "next" not in last.body


# --- measures and VAT rates ----------------------------------------------------------------


async def test_measure_fields_get_and_list(rest: RestClient) -> None:
    fields = (await rest.call("crm.measure.fields")).result
    assert list(fields) == ["ID", "CODE", "MEASURE_TITLE", "SYMBOL_RUS", "SYMBOL_INTL",
                            "SYMBOL_LETTER_INTL", "IS_DEFAULT"]  # fmt: skip
    assert fields["CODE"] == {"type": "integer", "isRequired": True, "isReadOnly": False,
                              "isImmutable": False, "isMultiple": False, "isDynamic": False,
                              "title": "Code"}  # fmt: skip
    assert fields["ID"]["isReadOnly"] is True and fields["MEASURE_TITLE"]["isRequired"] is True
    assert (await rest.call("crm.measure.get", {"id": 5})).result == PIECE
    reply = await rest.call("crm.measure.list", {})
    assert [row["CODE"] for row in reply.result] == ["6", "112", "163", "166", "796"]
    assert reply.result[4] == PIECE and reply.body["total"] == 5
    # The docs' list example (STAGE_ID is no measure field: dropped from the select).
    params = {"order": {"ID": "ASC"}, "filter": {"IS_DEFAULT": "Y"},
              "select": ["ID", "CODE", "STAGE_ID", "SYMBOL_INTL", "SYMBOL_INTL"]}  # fmt: skip
    reply = await rest.call("crm.measure.list", params)
    assert reply.result == [{"ID": "5", "CODE": "796", "SYMBOL_INTL": "pc. 1"}]


async def test_vat_fields_get_and_list(rest: RestClient) -> None:
    fields = (await rest.call("crm.vat.fields")).result
    assert fields == {
        "ID": {"type": "integer", "size": "11", "isRequired": False, "isReadOnly": True,
               "title": "ID"},
        "TIMESTAMP_X": {"type": "datetime", "isRequired": False, "isReadOnly": True,
                        "title": "Modification Date"},
        "ACTIVE": {"type": "string", "size": "1", "isRequired": False, "isReadOnly": False,
                   "title": "Activity"},
        "C_SORT": {"type": "integer", "size": "18", "isRequired": False, "isReadOnly": False,
                   "title": "Sorting"},
        "NAME": {"type": "string", "size": "50", "isRequired": False, "isReadOnly": False,
                 "title": "Name"},
        "RATE": {"type": "double", "size": "18,2", "isRequired": False, "isReadOnly": False,
                 "title": "Rate"},
    }  # fmt: skip
    assert all(list(d)[-1] == "title" for d in fields.values())
    rate = (await rest.call("crm.vat.get", {"id": 3})).result
    assert rate == {"ID": "3", "ACTIVE": "Y", "NAME": "VAT 20%", "RATE": "20.00", "C_SORT": "300"}
    assert list(rate) == ["ID", "ACTIVE", "NAME", "RATE", "C_SORT"]
    # The docs' list example.
    params = {"order": {"ID": "ASC"}, "filter": {"ACTIVE": "Y"}, "select": ["ID", "NAME", "RATE"]}
    reply = await rest.call("crm.vat.list", params)
    assert reply.result == [{"ID": "1", "NAME": "VAT 0%", "RATE": "0.00"},
                            {"ID": "2", "NAME": "VAT 10%", "RATE": "10.00"},
                            {"ID": "3", "NAME": "VAT 20%", "RATE": "20.00"}]  # fmt: skip
    assert reply.body["total"] == 3
    everything = (await rest.call("crm.vat.list", {"filter": {">RATE": 5}})).result
    assert [list(row) for row in everything] == [list(fields)] * 2
    assert everything[0]["TIMESTAMP_X"] == "2026-11-23T00:00:00+00:00"


# --- errors and bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params", "code", "message"),
    [
        ("crm.product.get", {}, "", "ID is not defined or invalid."),
        ("crm.product.get", {"id": "abc"}, "", "ID is not defined or invalid."),
        ("crm.product.get", {"id": -5}, "", "ID is not defined or invalid."),
        ("crm.product.get", {"id": {"a": 1}}, "", "ID is not defined or invalid."),
        ("crm.product.get", {"id": 4242}, "", "Product is not found."),
        ("crm.product.update", {"id": 4242, "fields": {"NAME": "x"}}, "", "Product is not found."),
        ("crm.product.update", {"id": 0, "fields": {}}, "", "ID is not defined or invalid."),
        ("crm.product.delete", {"id": 4242}, "", "Product is not found."),
        ("crm.product.delete", {"id": "1; DROP TABLE products"}, "",
         "ID is not defined or invalid."),
        ("crm.product.add", {}, "", "Parameter 'fields' must be array."),
        ("crm.product.add", {"fields": "NAME=x"}, "", "Parameter 'fields' must be array."),
        ("crm.product.add", {"fields": ["x"]}, "", "Parameter 'fields' must be array."),
        ("crm.product.add", {"fields": {"NAME": "x"}, "params": 1}, "",
         "Parameter 'params' must be array."),
        ("crm.product.add", {"fields": {"PRICE": 10}}, "", "Name is not specified."),
        ("crm.product.add", {"fields": {"NAME": "x", "VAT_ID": 9}}, "",
         'Invalid value for the "Tax rate" field.'),
        ("crm.product.add", {"fields": {"NAME": "x", "MEASURE": "kg"}}, "",
         'Invalid value for the "Unit of measurement" field.'),
        ("crm.product.add", {"fields": {"NAME": "x", "CURRENCY_ID": "ZZZ"}}, "",
         'Invalid value for the "Currency" field.'),
        ("crm.product.add", {"fields": {"NAME": "x", "PRICE": [1]}}, "",
         'Invalid value for the "Price" field.'),
        ("crm.product.list", {"filter": "x"}, "", "Parameter 'filter' must be array."),
        ("crm.product.list", {"filter": {"NOPE": 1}}, "INVALID_ARG_VALUE",
         "Invalid filter: field 'NOPE' is not allowed in filter"),
        ("crm.product.list", {"filter": {"PROPERTY_186": 1}}, "INVALID_ARG_VALUE",
         "Invalid filter: field 'PROPERTY_186' is not allowed in filter"),
        ("crm.product.list", {"filter": {"<PRICE": "cheap"}}, "INVALID_ARG_VALUE",
         "Invalid filter: field 'PRICE' has invalid value"),
        ("crm.product.list", {"order": {"name; --": "ASC"}}, "INVALID_ARG_VALUE",
         "Invalid order: field 'NAME; --' is not allowed in order"),
        ("crm.measure.get", {"id": 99}, "", "Not found"),
        ("crm.measure.get", {"id": "x"}, "", "ID is not defined or invalid."),
        ("crm.measure.list", {"filter": {"SYMBOL": "kg"}}, "INVALID_ARG_VALUE",
         "Invalid filter: field 'SYMBOL' is not allowed in filter"),
        ("crm.vat.get", {"id": 99}, "", "VAT rate not found."),
        ("crm.vat.get", {"id": "abc"}, "", "VAT rate not found."),
        ("crm.vat.get", {}, "", "VAT rate not found."),
        ("crm.vat.list", {"select": ["NOPE"]}, "", "Inadmissible fields for selection"),
        ("crm.vat.list", {"order": {"RATE": "up"}}, "INVALID_ARG_VALUE",
         "Invalid order: allowed sort directions are ASC, DESC. But got 'up' for field 'RATE'"),
    ],
)  # fmt: skip
async def test_errors(
    rest: RestClient, db: AsyncEngine, method: str, params: dict[str, Any], code: str, message: str
) -> None:
    reply = await rest.call(method, params)
    assert (reply.status, reply.body) == (400, {"error": code, "error_description": message})
    assert [await count_rows(db, t) for t in ("products", "outbox")] == [0, 0]


@pytest.mark.parametrize(
    "fields",
    [
        {"NAME": "x" * 256},
        {"NAME": "ok", "DESCRIPTION": "d" * 70_000},
        {"NAME": "ok", "XML_ID": {"nested": {"deeper": 1}}},
        {"NAME": ["a", "b"]},
        {"NAME": "ok", "SORT": 10**12},
        {"NAME": "ok", "PRICE": "1e400"},
        {"NAME": "ok", "SECTION_ID": -1},
        {"NAME": "ok", "DESCRIPTION_TYPE": "<script>"},
        {"NAME": "ok", "ACTIVE": "perhaps"},
    ],
    ids=lambda fields: ",".join(f"{k}={str(v)[:12]}" for k, v in fields.items()),
)
async def test_bad_values_are_refused_and_change_nothing(
    rest: RestClient, db: AsyncEngine, fields: dict[str, Any]
) -> None:
    product_id = await add(rest, NAME="base")
    before = await get(rest, product_id)
    calls = [("crm.product.add", {"fields": fields}),
             ("crm.product.update", {"id": product_id, "fields": fields})]  # fmt: skip
    for method, params in calls:
        reply = await rest.call(method, params)
        assert reply.status == 400 and reply.body["error"] == ""
        assert reply.body["error_description"].startswith('Invalid value for the "')
    assert await get(rest, product_id) == before
    assert [await count_rows(db, t) for t in ("products", "outbox")] == [1, 1]


async def test_hostile_field_names_are_ignored(rest: RestClient, db: AsyncEngine) -> None:
    hostile = {"NAME": "real", "NAME; DROP TABLE products; --": "x", "' OR '1'='1": "x",
               "A" * 10_000: "x", "ИМЯ": "x", "n\u0131me": "evil", "": "x",
               "PROPERTY_186": [{"valueId": 0, "fileData": ["1.jpg", "AAAA"]}],
               "DETAIL_PICTURE": {"fileData": ["1.jpg", "AAAA"]}, "CATALOG_ID": 77}  # fmt: skip
    product = await get(rest, await add(rest, **hostile))
    plain = await get(rest, await add(rest, NAME="real"))
    volatile = {"ID", "DATE_CREATE", "TIMESTAMP_X"}
    assert {k: v for k, v in product.items() if k not in volatile} == {
        k: v for k, v in plain.items() if k not in volatile
    }
    assert await count_rows(db, "products") == 2
