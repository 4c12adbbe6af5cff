"""``crm.item.*`` for deals (entityTypeId=2) through the real app, as a client sees them.

Protocol spec §8.1-§8.3 (wrappers, camelCase names, JSON-typed values), §5 (paging),
§2.4 (error codes); deals spec §2.5 (funnel moves) and §7.3 (events).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.db import transaction
from relatecrm.deals import service
from relatecrm.deals.service import Context
from relatecrm.events.models import outbox
from relatecrm.pipelines.models import categories, statuses
from tests.conftest import RestClient, RestReply, count_rows

FUNNEL_1 = [("NEW", "P"), ("PREPARATION", "P"), ("PREPAYMENT_INVOICE", "P"), ("EXECUTING", "P"),
            ("FINAL_INVOICE", "P"), ("WON", "S"), ("LOSE", "F"), ("APOLOGY", "F")]  # fmt: skip


async def add_funnel(db: AsyncEngine) -> None:
    """Funnel 1 with stages C1:NEW ... C1:APOLOGY, as crm.category.add would create it."""
    now = dt.datetime.now(dt.UTC)
    stages = [{"entity_id": "DEAL_STAGE_1", "status_id": f"C1:{code}", "name": code.title(),
               "sort": (i + 1) * 10, "semantics": semantics, "category_id": 1}
              for i, (code, semantics) in enumerate(FUNNEL_1)]  # fmt: skip
    async with transaction(db) as conn:
        await conn.execute(insert(categories).values(id=1, name="Second", sort=200, created_at=now))
        await conn.execute(insert(statuses), stages)


@pytest.fixture
async def funnel(db: AsyncEngine) -> None:
    await add_funnel(db)


async def call_item(rest: RestClient, method: str, **params: Any) -> RestReply:
    return await rest.call(f"crm.item.{method}", {"entityTypeId": 2, **params})


def the_item(reply: RestReply) -> dict[str, Any]:
    assert list(reply.result) == ["item"]
    item: dict[str, Any] = reply.result["item"]
    return item


async def add_item(rest: RestClient, **fields: Any) -> dict[str, Any]:
    return the_item(await call_item(rest, "add", fields=fields))


async def get_item(rest: RestClient, item_id: int) -> dict[str, Any]:
    return the_item(await call_item(rest, "get", id=item_id))


async def events(db: AsyncEngine, deal_id: int) -> list[tuple[str, Any]]:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.event, outbox.c.payload)
            .where(outbox.c.entity_id == deal_id)
            .order_by(outbox.c.id)
        )
        return [(row.event, row.payload) for row in rows]


async def counts(db: AsyncEngine) -> tuple[int, ...]:
    return tuple([await count_rows(db, t) for t in ("deals", "outbox", "stage_history")])


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def error(reply: RestReply) -> tuple[int, str, str]:
    return reply.status, reply.body.get("error"), reply.body.get("error_description")


NOT_VALID = "CRM_FIELD_ERROR_VALUE_NOT_VALID"


# add / get / update / delete


async def new_contacts(rest: RestClient, count: int) -> list[int]:
    replies = [
        await rest.call("crm.contact.add", {"fields": {"NAME": f"c{i}"}}) for i in range(count)
    ]
    return [reply.result for reply in replies]


async def new_company(rest: RestClient) -> int:
    company_id: int = (await rest.call("crm.company.add", {"fields": {"TITLE": "Acme"}})).result
    return company_id


async def test_add_returns_the_item_with_json_types(rest: RestClient) -> None:
    company = await new_company(rest)
    first, second = await new_contacts(rest, 2)
    item = await add_item(
        rest, title="Item deal", typeId="COMPLEX", stageId="PREPARATION", probability=50,
        currencyId="EUR", opportunity=999.99, isManualOpportunity="Y", taxValue=0,
        companyId=company, contactIds=[first, second], begindate="2024-06-18",
        closedate="2024-06-25T10:00:00+02:00", opened="N", comments="[B]x[/B]",
        sourceId="CALLBACK", assignedById=1, fooBar="ignored", UF_NOPE=1,
    )  # fmt: skip
    assert isinstance(item["id"], int) and item["id"] > 0
    assert item["assignedById"] == 1 and isinstance(item["assignedById"], int)
    assert item["categoryId"] == 0 and isinstance(item["categoryId"], int)
    assert item["probability"] == 50 and isinstance(item["probability"], int)
    assert item["companyId"] == company and item["contactId"] == first
    assert item["contactIds"] == [first, second]
    assert item["opportunity"] == 999.99 and is_number(item["opportunity"])
    assert item["taxValue"] == 0 and is_number(item["taxValue"])
    assert (item["stageId"], item["stageSemanticId"], item["closed"]) == ("PREPARATION", "P", "N")
    assert (item["isNew"], item["opened"], item["isManualOpportunity"]) == ("N", "N", "Y")
    assert (item["typeId"], item["sourceId"], item["currencyId"]) == ("COMPLEX", "CALLBACK", "EUR")
    assert item["begindate"] == "2024-06-18T00:00:00+00:00"
    assert item["closedate"] == "2024-06-25T00:00:00+00:00"
    assert item["leadId"] is None and item["utmSource"] is None and item["quoteId"] is None
    assert item["createdBy"] == 1 and item["updatedBy"] == 1 and item["movedBy"] == 1
    for name in ("createdTime", "updatedTime", "movedTime", "lastActivityTime"):
        assert dt.datetime.fromisoformat(item[name]).utcoffset() == dt.timedelta(0), name
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", key) for key in item), list(item)
    assert "fooBar" not in item and "UF_NOPE" not in item and "CONTACT_IDS" not in item
    assert list(item)[:2] == ["id", "title"]
    assert await get_item(rest, item["id"]) == item


async def test_add_accepts_upper_names_and_form_encoding(rest: RestClient) -> None:
    item = await add_item(rest, TITLE="Upper", STAGE_ID="WON", OPPORTUNITY="10.5")
    assert (item["title"], item["stageId"], item["stageSemanticId"]) == ("Upper", "WON", "S")
    assert item["closed"] == "Y" and item["opportunity"] == 10.5
    assert item["contactIds"] == []
    first, second = await new_contacts(rest, 2)
    form = f"entityTypeId=2&fields[title]=Form&fields[contactIds][]={first}"
    reply = await rest.call("crm.item.add", form=f"{form}&fields[contactIds][]={second}")
    assert reply.result["item"]["contactIds"] == [first, second]
    assert reply.result["item"]["title"] == "Form"
    untitled = await add_item(rest)
    assert untitled["title"] == f"Deal #{untitled['id']}" and untitled["stageId"] == "NEW"


async def test_scalar_for_a_multiple_field_is_error_100(rest: RestClient, db: AsyncEngine) -> None:
    before = await counts(db)
    reply = await call_item(rest, "add", fields={"title": "x", "contactIds": 5})
    status, code, message = error(reply)
    assert (status, code) == (400, "100")
    # Spec §8.1: "Expected iterable value for multiple field, but got `type` instead".
    assert re.fullmatch(
        r"Expected iterable value for multiple field, but got `\w+` instead", message
    )
    assert await counts(db) == before


async def test_invalid_value_writes_nothing(rest: RestClient, db: AsyncEngine) -> None:
    before = await counts(db)
    reply = await call_item(rest, "add", fields={"title": "x", "currencyId": "XXX"})
    assert error(reply) == (400, NOT_VALID, 'Invalid value for field "currencyId"')
    assert list(reply.body) == ["error", "error_description"]
    assert await counts(db) == before
    item = await add_item(rest, title="kept")
    before = await counts(db)
    reply = await call_item(
        rest, "update", id=item["id"], fields={"title": "changed", "currencyId": "XXX"}
    )
    assert error(reply) == (400, NOT_VALID, 'Invalid value for field "currencyId"')
    assert await counts(db) == before
    assert await get_item(rest, item["id"]) == item


async def test_update_returns_the_full_item(rest: RestClient) -> None:
    item = await add_item(
        rest, title="before", opportunity=5, contactIds=await new_contacts(rest, 1)
    )
    reply = await call_item(
        rest, "update", id=item["id"], fields={"title": "after", "OPPORTUNITY": 7.25}
    )
    updated = reply.result["item"]
    assert list(reply.result) == ["item"]
    assert updated["title"] == "after" and updated["opportunity"] == 7.25
    assert list(updated) == list(item)
    assert updated == await get_item(rest, item["id"])
    assert updated["createdTime"] == item["createdTime"]
    cleared = await call_item(
        rest, "update", id=str(item["id"]), useOriginalUfNames="N",
        fields={"contactIds": [], "begindate": None, "comments": ""},
    )  # fmt: skip
    after = cleared.result["item"]
    assert after["contactIds"] == [] and after["contactId"] is None
    assert after["begindate"] is None and after["comments"] is None
    assert after["title"] == "after"


async def test_delete_returns_an_empty_array(rest: RestClient, db: AsyncEngine) -> None:
    item = await add_item(rest, title="gone")
    reply = await call_item(rest, "delete", id=item["id"])
    assert reply.status == 200 and reply.body["result"] == []
    assert await count_rows(db, "deals") == 0
    assert [event for event, _ in await events(db, item["id"])][-1] == "onCrmDealDelete"


@pytest.mark.parametrize("method", ["get", "update", "delete"])
async def test_missing_item_is_not_found(rest: RestClient, method: str) -> None:
    item = await add_item(rest, title="x")
    await call_item(rest, "delete", id=item["id"])
    for item_id in (item["id"], 999999):
        reply = await call_item(rest, method, id=item_id, fields={"title": "y"})
        assert reply.status == 400
        assert reply.body == {"error": "NOT_FOUND", "error_description": "Item not found"}


@pytest.mark.parametrize("method", ["add", "update", "get", "list", "delete", "fields"])
async def test_entity_type_id(rest: RestClient, method: str) -> None:
    base = {"id": 1, "fields": {"title": "x"}}
    reply = await rest.call(f"crm.item.{method}", {**base, "entityTypeId": 999})
    assert reply.status == 400
    assert reply.body == {"error": "NOT_FOUND", "error_description": "Smart process not found"}
    # Missing or mistyped, the parameter is refused as Bitrix's parameter binder does.
    reply = await rest.call(f"crm.item.{method}", base)
    assert error(reply) == (
        400, "ERROR_ARGUMENT", "Could not find value for parameter {entityTypeId}"
    )  # fmt: skip
    reply = await rest.call(f"crm.item.{method}", {**base, "entityTypeId": "abc"})
    assert error(reply)[:2] == (400, "ERROR_ARGUMENT")
    for type_id, name in ((3, "CONTACT"), (5, "INVOICE")):
        reply = await rest.call(f"crm.item.{method}", {**base, "entityTypeId": type_id})
        assert error(reply) == (
            400,
            "ENTITY_TYPE_NOT_SUPPORTED",
            f"Entity type {name} is not supported",
        )


# Funnel moves (deals spec §2.5, §7.3)


async def test_move_to_another_funnel(rest: RestClient, db: AsyncEngine, funnel: None) -> None:
    item = await add_item(rest, title="mover", stageId="EXECUTING")
    reply = await call_item(
        rest, "update", id=item["id"], fields={"categoryId": 1, "stageId": "C1:PREPARATION"}
    )
    moved = reply.result["item"]
    assert moved["categoryId"] == 1 and moved["stageId"] == "C1:PREPARATION"
    assert (moved["stageSemanticId"], moved["closed"], moved["isNew"]) == ("P", "N", "N")
    assert moved == await get_item(rest, item["id"])
    deal = (await rest.call("crm.deal.get", {"id": item["id"]})).result
    assert (deal["CATEGORY_ID"], deal["STAGE_ID"]) == ("1", "C1:PREPARATION")
    assert await events(db, item["id"]) == [
        ("onCrmDealAdd", {"FIELDS": {"ID": item["id"]}}),
        ("onCrmDealUpdate", {"FIELDS": {"ID": item["id"]}}),
        (
            "onCrmDealMoveToCategory",
            {"FIELDS": {"ID": item["id"], "CATEGORY_ID": 1, "STAGE_ID": "C1:PREPARATION"}},
        ),
    ]


async def test_documented_move_form(rest: RestClient, db: AsyncEngine, funnel: None) -> None:
    item = await add_item(rest, title="doc")
    reply = await call_item(
        rest, "update", id=item["id"], fields={"STAGE_ID": "C1:WON", "categoryId": 1}
    )
    moved = reply.result["item"]
    assert (moved["categoryId"], moved["stageId"], moved["stageSemanticId"]) == (1, "C1:WON", "S")
    assert moved["closed"] == "Y"
    # The spec's own example: back to the general funnel at EXECUTING.
    reply = await call_item(
        rest, "update", id=item["id"], fields={"STAGE_ID": "EXECUTING", "categoryId": 0}
    )
    back = reply.result["item"]
    assert (back["categoryId"], back["stageId"], back["closed"]) == (0, "EXECUTING", "N")
    moves = [p for e, p in await events(db, item["id"]) if e == "onCrmDealMoveToCategory"]
    assert [m["FIELDS"]["CATEGORY_ID"] for m in moves] == [1, 0]
    assert moves[-1]["FIELDS"]["STAGE_ID"] == "EXECUTING"


async def test_move_without_a_stage_lands_on_the_first(rest: RestClient, funnel: None) -> None:
    item = await add_item(rest, title="x", stageId="PREPARATION")
    moved = the_item(await call_item(rest, "update", id=item["id"], fields={"categoryId": 1}))
    assert (moved["categoryId"], moved["stageId"], moved["isNew"]) == (1, "C1:NEW", "Y")
    created = await add_item(rest, categoryId=1)
    assert (created["categoryId"], created["stageId"]) == (1, "C1:NEW")


async def test_bad_moves_change_nothing(rest: RestClient, db: AsyncEngine, funnel: None) -> None:
    item = await add_item(rest, title="stay", stageId="PREPARATION")
    before = await counts(db)
    bad = [
        ({"categoryId": 1, "stageId": "WON", "title": "no"}, "stageId"),
        ({"categoryId": 1, "STAGE_ID": "NOPE"}, "stageId"),
        ({"categoryId": 999, "title": "no"}, "categoryId"),
        ({"categoryId": -1}, "categoryId"),
    ]
    for fields, name in bad:
        reply = await call_item(rest, "update", id=item["id"], fields=fields)
        assert error(reply) == (400, NOT_VALID, f'Invalid value for field "{name}"'), fields
    assert await counts(db) == before
    assert await get_item(rest, item["id"]) == item


async def test_deal_update_does_not_move(rest: RestClient, db: AsyncEngine, funnel: None) -> None:
    item = await add_item(rest, title="classic")
    reply = await rest.call(
        "crm.deal.update",
        {"id": item["id"], "fields": {"CATEGORY_ID": 1, "STAGE_ID": "C1:PREPARATION"}},
    )
    assert reply.body["result"] is True
    after = await get_item(rest, item["id"])
    assert (after["categoryId"], after["stageId"]) == (0, "NEW")
    assert [e for e, _ in await events(db, item["id"])] == ["onCrmDealAdd", "onCrmDealUpdate"]
    # Naming the current funnel is not a move either.
    await call_item(rest, "update", id=item["id"], fields={"categoryId": 0, "title": "t"})
    assert [e for e, _ in await events(db, item["id"])][-1] == "onCrmDealUpdate"
    assert "onCrmDealMoveToCategory" not in [e for e, _ in await events(db, item["id"])]


# crm.item.list


@pytest.fixture
async def deals120(db: AsyncEngine) -> list[int]:
    """120 deals; deal i has OPPORTUNITY i and stage NEW, PREPARATION or WON by i % 3."""
    ctx = Context(user_id=1, now=dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC), tz=ZoneInfo("UTC"))
    ids = []
    async with transaction(db) as conn:
        for i in range(120):
            stage = ("NEW", "PREPARATION", "WON")[i % 3]
            fields = {"TITLE": f"Deal {i:03d}", "STAGE_ID": stage, "OPPORTUNITY": i}
            ids.append(await service.add(conn, ctx, fields))
    return ids


async def list_items(rest: RestClient, **params: Any) -> RestReply:
    reply = await call_item(rest, "list", **params)
    assert reply.status == 200, reply.body
    assert list(reply.result) == ["items"]
    return reply


def ids_of(reply: RestReply) -> list[int]:
    return [row["id"] for row in reply.result["items"]]


async def test_list_pages_with_exact_offsets(rest: RestClient, deals120: list[int]) -> None:
    reply = await list_items(rest, select=["id"])
    assert list(reply.body) == ["result", "next", "total", "time"]
    assert ids_of(reply) == deals120[:50] and all(isinstance(i, int) for i in ids_of(reply))
    assert (reply.body["next"], reply.body["total"]) == (50, 120)
    reply = await list_items(rest, select=["id"], start=10)
    assert ids_of(reply) == deals120[10:60]
    assert (reply.body["next"], reply.body["total"]) == (60, 120)
    reply = await list_items(rest, select=["id"], start=100)
    assert ids_of(reply) == deals120[100:]
    assert "next" not in reply.body and reply.body["total"] == 120


async def test_list_id_cursor_as_the_sdks_send_it(rest: RestClient, deals120: list[int]) -> None:
    params = {"select": ["id"], "order": {"ID": "ASC"}, "start": -1}
    reply = await list_items(rest, **params, filter={">ID": 0})
    assert ids_of(reply) == deals120[:50]
    assert "next" not in reply.body and reply.body["total"] == 0
    reply = await list_items(rest, **params, filter={">ID": deals120[49]})
    assert ids_of(reply) == deals120[50:100]
    reply = await list_items(rest, **params, filter={">id": deals120[99]})
    assert ids_of(reply) == deals120[100:]
    reply = await list_items(rest, select=["id"], order={"ID": "DESC"})
    assert ids_of(reply) == deals120[::-1][:50]
    reply = await list_items(rest, select=["id"], order={"opportunity": "desc"})
    assert ids_of(reply) == deals120[::-1][:50]


async def test_list_select(rest: RestClient, deals120: list[int]) -> None:
    reply = await list_items(rest, select=["id", "title", "stageId", "opportunity"], start=-1)
    first = reply.result["items"][1]
    assert set(first) == {"id", "title", "stageId", "opportunity"}
    assert first == {"id": deals120[1], "title": "Deal 001", "stageId": "PREPARATION",
                     "opportunity": 1}  # fmt: skip
    assert is_number(first["opportunity"])
    upper = (await list_items(rest, select=["ID", "STAGE_ID"], start=-1)).result["items"]
    assert set(upper[0]) == {"id", "stageId"}
    star = (await list_items(rest, select=["*"], start=-1)).result["items"][0]
    assert star == await get_item(rest, deals120[0])
    default = (await list_items(rest, start=-1)).result["items"][0]
    assert set(default) == set(star)


async def test_list_camel_filters(rest: RestClient, deals120: list[int]) -> None:
    reply = await list_items(rest, select=["id"], filter={">opportunity": 100})
    assert ids_of(reply) == deals120[101:] and reply.body["total"] == 19
    reply = await list_items(rest, select=["id"], filter={"=stageId": "WON"})
    assert ids_of(reply) == deals120[2::3] and reply.body["total"] == 40
    reply = await list_items(rest, select=["id"], filter={"@id": deals120[5:8]})
    assert ids_of(reply) == deals120[5:8]
    reply = await list_items(
        rest, select=["id"], filter={"STAGE_ID": "NEW", "<=opportunity": 9, "!id": deals120[3]}
    )
    assert ids_of(reply) == [deals120[0], deals120[6], deals120[9]]
    reply = await list_items(rest, select=["id"], filter={"%title": "Deal 11"})
    assert ids_of(reply) == deals120[110:120]


async def test_list_unknown_filter_or_order_field(rest: RestClient, deals120: list[int]) -> None:
    reply = await call_item(rest, "list", filter={">fooBar": 1})
    assert error(reply) == (
        400, "INVALID_ARG_VALUE", "Invalid filter: field 'fooBar' is not allowed in filter"
    )  # fmt: skip
    reply = await call_item(rest, "list", order={"fooBar": "ASC"})
    assert error(reply) == (
        400, "INVALID_ARG_VALUE", "Invalid order: field 'fooBar' is not allowed in order"
    )  # fmt: skip
    reply = await call_item(rest, "list", order={"id": "UP"})
    assert error(reply)[:2] == (400, "INVALID_ARG_VALUE")
    reply = await call_item(rest, "list", filter={">id": "many"})
    assert error(reply)[:2] == (400, "INVALID_ARG_VALUE")


async def test_list_contact_ids_without_id(rest: RestClient) -> None:
    contacts = await new_contacts(rest, 2)
    await add_item(rest, title="c", contactIds=contacts)
    reply = await list_items(rest, select=["title", "contactIds"])
    assert [row["contactIds"] for row in reply.result["items"]] == [contacts]


async def test_list_nested_logic_filter(rest: RestClient, deals120: list[int]) -> None:
    # Protocol spec §5.4: crm.item.list takes {"logic": "OR", ...} sub-filters.
    either = {"logic": "OR", "0": {"=stageId": "WON"}, "1": {"<opportunity": 3}}
    reply = await list_items(rest, select=["id"], filter={"0": either, "<id": deals120[9]})
    assert ids_of(reply) == [deals120[i] for i in (0, 1, 2, 5, 8)]


async def test_list_filter_errors_name_the_field_as_sent(
    rest: RestClient, deals120: list[int]
) -> None:
    reply = await call_item(rest, "list", filter={">opportunity": "lots"})
    assert error(reply) == (
        400, "INVALID_ARG_VALUE", "Invalid filter: field 'opportunity' has invalid value"
    )  # fmt: skip


# crm.item.fields


async def test_fields_by_camel_name_with_upper_name(rest: RestClient) -> None:
    reply = await call_item(rest, "fields")
    assert list(reply.result) == ["fields"]
    fields = reply.result["fields"]
    stage = fields["stageId"]
    assert stage["upperName"] == "STAGE_ID" and stage["statusType"] == "DEAL_STAGE"
    assert stage["type"] == "crm_status" and stage["title"] == "Deal Stage"
    expected_upper = {
        "id": "ID", "createdTime": "DATE_CREATE", "updatedTime": "DATE_MODIFY",
        "createdBy": "CREATED_BY_ID", "updatedBy": "MODIFY_BY_ID", "assignedById": "ASSIGNED_BY_ID",
        "categoryId": "CATEGORY_ID", "contactIds": "CONTACT_IDS", "begindate": "BEGINDATE",
        "utmSource": "UTM_SOURCE", "stageSemanticId": "STAGE_SEMANTIC_ID", "movedBy": "MOVED_BY_ID",
    }  # fmt: skip
    for camel, upper in expected_upper.items():
        assert fields[camel]["upperName"] == upper, camel
    assert fields["contactIds"]["isMultiple"] is True
    assert (
        fields["createdTime"]["isReadOnly"] is True and fields["createdTime"]["type"] == "datetime"
    )
    assert "DATE_CREATE" not in fields and "dateCreate" not in fields
    uppers = [descriptor["upperName"] for descriptor in fields.values()]
    assert len(set(uppers)) == len(uppers) == len(fields)
    deal_fields = (await rest.call("crm.deal.fields")).result
    assert set(uppers) == set(deal_fields)
    item = await add_item(rest, title="keys")
    assert set(item) <= set(fields)


# Client references: they must exist; crm.item.list filters by linked contacts.


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("companyId", 10**6),
        ("contactId", 10**6),
        ("contactIds", [10**6]),
        ("COMPANY_ID", 10**6),
        ("CONTACT_IDS", ["1", 10**6]),
    ],  # fmt: skip
)
async def test_clients_that_do_not_exist_are_refused(
    rest: RestClient, db: AsyncEngine, field: str, value: Any
) -> None:
    (contact,) = await new_contacts(rest, 1)
    item = await add_item(rest, title="kept", contactIds=[contact])
    value = [contact if v == "1" else v for v in value] if isinstance(value, list) else value
    camel = {"COMPANY_ID": "companyId", "CONTACT_IDS": "contactIds"}.get(field, field)
    expected = (400, NOT_VALID, f'Invalid value for field "{camel}"')
    before = await counts(db), await count_rows(db, "deal_contacts")
    assert error(await call_item(rest, "add", fields={"title": "x", field: value})) == expected
    reply = await call_item(rest, "update", id=item["id"], fields={"title": "y", field: value})
    assert error(reply) == expected
    assert (await counts(db), await count_rows(db, "deal_contacts")) == before
    assert await get_item(rest, item["id"]) == item


async def test_zero_or_empty_clients_mean_none(rest: RestClient) -> None:
    (contact,) = await new_contacts(rest, 1)
    company = await new_company(rest)
    item = await add_item(rest, companyId=company, contactIds=[contact])
    reply = await call_item(rest, "update", id=item["id"], fields={"companyId": 0, "contactId": 0})
    updated = the_item(reply)
    assert (updated["companyId"], updated["contactId"], updated["contactIds"]) == (None, None, [])


@pytest.fixture
async def linked(rest: RestClient) -> dict[str, int]:
    """Contacts a, b, c and deals linked to: a and b (a primary), b, none, c."""
    a, b, c = await new_contacts(rest, 3)
    found = {"a": a, "b": b, "c": c}
    for name, contacts in (("ab", [a, b]), ("b", [b]), ("none", []), ("c", [c])):
        found[f"deal_{name}"] = (await add_item(rest, title=name, contactIds=contacts))["id"]
    return found


async def filtered(rest: RestClient, flt: dict[str, Any]) -> list[int]:
    reply = await list_items(rest, select=["id"], filter=flt)
    assert reply.body["total"] == len(reply.result["items"])
    return ids_of(reply)


async def test_list_filters_by_any_linked_contact(rest: RestClient, linked: dict[str, int]) -> None:
    a, b, c = linked["a"], linked["b"], linked["c"]
    ab, only_b, none, only_c = (linked[f"deal_{n}"] for n in ("ab", "b", "none", "c"))
    # contactIds: deals linked to any of the contacts, primary or not (Bitrix joins its
    # contact bindings); the UPPER name works as well.
    assert await filtered(rest, {"contactIds": [b]}) == [ab, only_b]
    assert await filtered(rest, {"contactIds": b}) == [ab, only_b]
    assert await filtered(rest, {"@contactIds": [a, c]}) == [ab, only_c]
    assert await filtered(rest, {"CONTACT_IDS": [str(a)]}) == [ab]
    assert await filtered(rest, {"contactIds": [10**6]}) == []
    # The "not" operators: linked to none of them.
    assert await filtered(rest, {"!@contactIds": [b]}) == [none, only_c]
    assert await filtered(rest, {"!contactIds": a}) == [only_b, none, only_c]
    # Empty: deals without links; "not empty": deals with some.
    assert await filtered(rest, {"contactIds": ""}) == [none]
    assert await filtered(rest, {"!contactIds": None}) == [ab, only_b, only_c]
    # Inside a logic group and next to other conditions.
    either = {"logic": "OR", "0": {"contactIds": [c]}, "1": {"=id": none}}
    assert await filtered(rest, {"0": either}) == [none, only_c]
    assert await filtered(rest, {"contactIds": [b], "!id": ab}) == [only_b]


async def test_list_contact_id_is_the_primary_contact(
    rest: RestClient, linked: dict[str, int]
) -> None:
    # contactId is the deal's own CONTACT_ID column: the primary contact only.
    assert await filtered(rest, {"contactId": linked["b"]}) == [linked["deal_b"]]
    assert await filtered(rest, {"CONTACT_ID": linked["a"]}) == [linked["deal_ab"]]


async def test_list_contact_ids_cannot_sort_and_need_ids(
    rest: RestClient, linked: dict[str, int]
) -> None:
    reply = await call_item(rest, "list", order={"contactIds": "ASC"})
    status, code, message = error(reply)
    assert (status, code) == (400, "INVALID_ARG_VALUE") and "not allowed in order" in message
    for flt in ({"contactIds": ["abc"]}, {">contactIds": [[1]]}, {"contactIds": {"a": [1]}}):
        reply = await call_item(rest, "list", filter=flt)
        assert error(reply) == (
            400, "INVALID_ARG_VALUE", "Invalid filter: field 'contactIds' has invalid value"
        ), flt  # fmt: skip


async def test_deal_list_still_refuses_contact_ids(
    rest: RestClient, linked: dict[str, int]
) -> None:
    reply = await rest.call("crm.deal.list", {"filter": {"CONTACT_IDS": [linked["a"]]}})
    assert error(reply) == (
        400, "INVALID_ARG_VALUE", "Invalid filter: field 'CONTACT_IDS' is not allowed in filter"
    )  # fmt: skip
    reply = await rest.call("crm.deal.list", {"filter": {"CONTACT_ID": linked["b"]}})
    assert [row["ID"] for row in reply.result] == [str(linked["deal_b"])]
