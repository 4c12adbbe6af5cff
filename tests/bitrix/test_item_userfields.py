"""Custom field values through crm.item.* (entityTypeId=2) on the real app, both backends.

Protocol spec §8.1-§8.3: ``ufCrm…`` names (Bitrix's conversion, or the original names with
``useOriginalUfNames=Y``), JSON-typed values, engine-controller error codes.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.bitrix.test_deal_userfields import make_field, value_rows
from tests.conftest import RestClient, RestReply, count_rows


async def call_item(rest: RestClient, method: str, **params: Any) -> RestReply:
    return await rest.call(f"crm.item.{method}", {"entityTypeId": 2, **params})


async def add_item(rest: RestClient, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = (await call_item(rest, "add", fields=fields)).result["item"]
    return item


async def listed(rest: RestClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await call_item(rest, "list", **params)).result["items"]
    return items


async def test_names_follow_bitrix_conversion(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_1721244482250", "string")
    await make_field(db, "UF_CRM_HELLO_WORLD", "integer")
    await make_field(db, "UF_CRM_A_B", "string", sort=10)
    await make_field(db, "UF_CRM_A__B", "string", sort=20)  # would also be ufCrmAB
    item = await add_item(
        rest, ufCrm_1721244482250="digits", ufCrmHelloWorld=5, ufCrmAB="one", UF_CRM_A__B="two"
    )
    assert (item["ufCrm_1721244482250"], item["ufCrmHelloWorld"]) == ("digits", 5)
    assert (item["ufCrmAB"], item["UF_CRM_A__B"]) == ("one", "two")
    # any form is accepted on input, whatever the flag
    await call_item(rest, "update", id=item["id"], fields={"UF_CRM_HELLO_WORLD": 6})
    await call_item(rest, "update", id=item["id"], fields={"ufCrm_HELLO_WORLD": 7})
    original = (await call_item(rest, "get", id=item["id"], useOriginalUfNames="Y")).result
    assert original["item"]["UF_CRM_HELLO_WORLD"] == 7
    assert original["item"]["UF_CRM_1721244482250"] == "digits"
    assert "ufCrmHelloWorld" not in original["item"] and "title" in original["item"]
    deal = (await rest.call("crm.deal.get", {"id": item["id"]})).result
    assert (deal["UF_CRM_HELLO_WORLD"], deal["UF_CRM_A_B"]) == ("7", "one")


async def test_values_are_json_typed(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_INT", "integer")
    await make_field(db, "UF_CRM_DBL", "double")
    await make_field(db, "UF_CRM_BOOL", "boolean")
    _, items = await make_field(db, "UF_CRM_ENUM", "enumeration", items=[("a", False)])
    await make_field(db, "UF_CRM_WHO", "employee")
    await make_field(db, "UF_CRM_DAY", "date")
    await make_field(db, "UF_CRM_CASH", "money")
    await make_field(db, "UF_CRM_NUMS", "integer", multiple=True)
    await make_field(db, "UF_CRM_EMPTY", "string")
    item = await add_item(
        rest, ufCrmInt="12", ufCrmDbl=2.5, ufCrmBool=True, ufCrmEnum=str(items[0]), ufCrmWho=1,
        ufCrmDay="2024-06-18", ufCrmCash="10|USD", ufCrmNums=["1", 2],
    )  # fmt: skip
    expected = {"ufCrmInt": 12, "ufCrmDbl": 2.5, "ufCrmBool": "Y", "ufCrmEnum": items[0],
                "ufCrmWho": 1, "ufCrmDay": "2024-06-18T00:00:00+00:00", "ufCrmCash": "10.00|USD",
                "ufCrmNums": [1, 2], "ufCrmEmpty": None}  # fmt: skip
    assert {key: item[key] for key in expected} == expected
    again = (await call_item(rest, "get", id=item["id"])).result["item"]
    assert {key: again[key] for key in expected} == expected
    updated = (
        await call_item(rest, "update", id=item["id"], fields={"ufCrmBool": "N", "ufCrmNums": []})
    ).result["item"]
    assert (updated["ufCrmBool"], updated["ufCrmNums"], updated["ufCrmInt"]) == ("N", [], 12)


async def test_errors_use_engine_codes(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_HELLO_WORLD", "integer", label="Hello")
    await make_field(db, "UF_CRM_NUMS", "integer", multiple=True)
    await make_field(db, "UF_CRM_BUDGET", "integer", mandatory=True, label="Budget")
    before = (await count_rows(db, "deals"), await value_rows(db))
    reply = await call_item(rest, "add", fields={"ufCrmHelloWorld": "x", "ufCrmBudget": 1})
    assert (reply.status, reply.body) == (400, {
        "error": "CRM_FIELD_ERROR_VALUE_NOT_VALID",
        "error_description": 'Invalid value for field "ufCrmHelloWorld"',
    })  # fmt: skip
    reply = await call_item(rest, "add", fields={"ufCrmNums": 5, "ufCrmBudget": 1})
    assert (reply.status, reply.body["error"]) == (400, "100")
    assert reply.body["error_description"] == (
        "Expected iterable value for multiple field, but got `int` instead"
    )
    reply = await call_item(rest, "add", fields={"title": "no budget"})
    assert (reply.status, reply.body) == (400, {
        "error": "CRM_FIELD_ERROR_REQUIRED",
        "error_description": 'The field "Budget" is required.',
    })  # fmt: skip
    reply = await call_item(
        rest, "add", useOriginalUfNames="Y", fields={"UF_CRM_HELLO_WORLD": "x", "ufCrmBudget": 1}
    )
    assert reply.body["error_description"] == 'Invalid value for field "UF_CRM_HELLO_WORLD"'
    assert (await count_rows(db, "deals"), await value_rows(db)) == before


async def test_list_selects_filters_and_orders(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_SCORE", "integer")
    await make_field(db, "UF_CRM_VIP", "boolean")
    await make_field(db, "UF_CRM_TAGS", "string", multiple=True)
    low = (await add_item(rest, ufCrmScore=1, ufCrmVip="N", ufCrmTags=["a"]))["id"]
    high = (await add_item(rest, ufCrmScore=10, ufCrmVip="Y", ufCrmTags=["b", "c"]))["id"]
    bare = (await add_item(rest, title="bare"))["id"]

    every = await listed(rest, order={"id": "ASC"})
    assert [row["ufCrmTags"] for row in every] == [["a"], ["b", "c"], []]  # * includes all
    chosen = await listed(rest, select=["id", "ufCrmScore"], order={"ufCrmScore": "DESC"})
    assert chosen == [{"id": bare, "ufCrmScore": None}, {"id": high, "ufCrmScore": 10},
                      {"id": low, "ufCrmScore": 1}]  # fmt: skip
    only_uf = await listed(rest, select=["UF_*"], filter={">ufCrmScore": 1})
    assert only_uf == [{"ufCrmScore": 10, "ufCrmVip": "Y", "ufCrmTags": ["b", "c"]}]
    # boolean filters take 1/0, as Bitrix documents, and Y/N
    for vip in (1, "1", "Y"):
        assert [r["id"] for r in await listed(rest, select=["id"], filter={"ufCrmVip": vip})] == [
            high
        ]
    assert [r["id"] for r in await listed(rest, select=["id"], filter={"ufCrmVip": 0})] == [low]
    by_upper = await listed(
        rest, useOriginalUfNames="Y", select=["ID", "UF_CRM_TAGS"], filter={"UF_CRM_TAGS": "c"},
        order={"UF_CRM_SCORE": "ASC"},
    )  # fmt: skip
    assert by_upper == [{"id": high, "UF_CRM_TAGS": ["b", "c"]}]
    contacts = await listed(rest, select=["contactIds", "ufCrmScore"], filter={"id": low})
    assert contacts == [{"ufCrmScore": 1, "contactIds": []}]
    reply = await call_item(rest, "list", order={"ufCrmTags": "ASC"})
    assert (reply.status, reply.body["error"]) == (400, "INVALID_ARG_VALUE")


async def test_fields_describe_custom_fields(rest: RestClient, db: AsyncEngine) -> None:
    settings = {"DEFAULT_VALUE": "", "ROWS": 1}
    await make_field(db, "UF_CRM_1721244482250", "string", settings=settings, label="My field")
    _, items = await make_field(
        db, "UF_CRM_KIND", "enumeration", multiple=True, items=[("x", False)], label="Kind"
    )
    described = (await call_item(rest, "fields")).result["fields"]
    assert list(described)[-2:] == ["ufCrm_1721244482250", "ufCrmKind"]
    assert described["ufCrm_1721244482250"] == {
        "type": "string", "isRequired": False, "isReadOnly": False, "isImmutable": False,
        "isMultiple": False, "isDynamic": True, "title": "My field", "listLabel": "My field",
        "formLabel": "My field", "filterLabel": "My field", "settings": settings,
        "upperName": "UF_CRM_1721244482250",
    }  # fmt: skip
    kind = described["ufCrmKind"]
    assert kind["items"] == [{"ID": str(items[0]), "VALUE": "x"}] and kind["isMultiple"] is True
    assert list(kind)[-1] == "upperName"
    original = (await call_item(rest, "fields", useOriginalUfNames="Y")).result["fields"]
    assert "UF_CRM_KIND" in original and "ufCrmKind" not in original
    assert original["stageId"]["upperName"] == "STAGE_ID"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_file_values(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_DOCS", "file", multiple=True)
    await make_field(db, "UF_CRM_PHOTO", "file")
    item = await add_item(
        rest,
        ufCrmDocs=[{"fileData": ["a.txt", _b64(b"alpha")]}, ["b.txt", _b64(b"beta")]],
        ufCrmPhoto={"fileData": ["p.png", _b64(b"png")]},
    )
    docs, photo = item["ufCrmDocs"], item["ufCrmPhoto"]
    assert [set(d) for d in docs] == [{"id", "url", "urlMachine"}] * 2
    assert set(photo) == {"id", "url", "urlMachine"}
    download = await rest.http.get(docs[0]["urlMachine"])
    assert (download.status_code, download.content) == (200, b"alpha")
    deal = (await rest.call("crm.deal.get", {"id": item["id"]})).result
    assert [d["id"] for d in deal["UF_CRM_DOCS"]] == [d["id"] for d in docs]
    assert set(deal["UF_CRM_PHOTO"]) == {"id", "showUrl", "downloadUrl"}
    assert await count_rows(db, "uf_files") == 3

    # keep the first document, drop the second, add a third; a new photo replaces the old
    fields = {"ufCrmDocs": [{"id": docs[0]["id"]}, {"fileData": ["c.txt", _b64(b"gamma")]}],
              "ufCrmPhoto": ["q.png", _b64(b"png2")]}  # fmt: skip
    updated = (await call_item(rest, "update", id=item["id"], fields=fields)).result["item"]
    assert updated["ufCrmDocs"][0]["id"] == docs[0]["id"] and len(updated["ufCrmDocs"]) == 2
    assert updated["ufCrmPhoto"]["id"] != photo["id"]
    assert await count_rows(db, "uf_files") == 3
    assert (await rest.http.get(docs[1]["urlMachine"])).status_code == 404

    # another deal cannot claim these files by id
    other = await add_item(rest, title="other")
    claim = {"ufCrmPhoto": {"id": updated["ufCrmPhoto"]["id"]}}
    reply = await call_item(rest, "update", id=other["id"], fields=claim)
    assert reply.body["error"] == "CRM_FIELD_ERROR_VALUE_NOT_VALID"
    removed = {"ufCrmPhoto": {"id": updated["ufCrmPhoto"]["id"], "remove": "Y"}}
    cleared = (await call_item(rest, "update", id=item["id"], fields=removed)).result["item"]
    assert cleared["ufCrmPhoto"] is None and await count_rows(db, "uf_files") == 2
    reply = await call_item(rest, "add", fields={"ufCrmPhoto": ["x.txt", "not base64!"]})
    assert reply.status == 400 and await count_rows(db, "uf_files") == 2

    await call_item(rest, "delete", id=item["id"])
    assert await count_rows(db, "uf_files") == 0 and await value_rows(db) == 0
