"""``crm.stagehistory.list`` for deals (entityTypeId=2): rows on create, stage and funnel moves.

Protocol spec §9.3 (fields, TYPE_ID 1/2/3/5, errors), §5.1-§5.2 (paging);
deals spec §2.5 (crm.deal.update never leaves the funnel).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.db import transaction
from relatecrm.deals import service
from relatecrm.deals.service import Context
from tests.bitrix.test_item import add_funnel, add_item, call_item, error
from tests.conftest import RestClient, RestReply, count_rows

COLUMNS = ["ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME", "CATEGORY_ID", "STAGE_SEMANTIC_ID",
           "STAGE_ID"]  # fmt: skip


@pytest.fixture
async def funnel(db: AsyncEngine) -> None:
    await add_funnel(db)


async def history(rest: RestClient, **params: Any) -> RestReply:
    reply = await rest.call("crm.stagehistory.list", {"entityTypeId": 2, **params})
    assert reply.status == 200, reply.body
    assert list(reply.result) == ["items"]
    assert "total" in reply.body
    return reply


def rows(reply: RestReply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = reply.result["items"]
    return items


async def moves_of(rest: RestClient, deal_id: int) -> list[tuple[int, int, str, str]]:
    """(TYPE_ID, CATEGORY_ID, STAGE_ID, STAGE_SEMANTIC_ID) of the deal's rows, oldest first."""
    reply = await history(rest, filter={"OWNER_ID": deal_id}, order={"ID": "ASC"})
    return [
        (r["TYPE_ID"], r["CATEGORY_ID"], r["STAGE_ID"], r["STAGE_SEMANTIC_ID"]) for r in rows(reply)
    ]


async def test_a_created_deal_has_one_row(rest: RestClient) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    item = await add_item(rest, title="fresh")
    reply = await history(rest)
    assert list(reply.body) == ["result", "total", "time"] and reply.body["total"] == 1
    (row,) = rows(reply)
    assert list(row) == COLUMNS
    assert isinstance(row["ID"], int) and row["ID"] > 0
    assert (row["TYPE_ID"], row["OWNER_ID"], row["CATEGORY_ID"]) == (1, item["id"], 0)
    assert (row["STAGE_ID"], row["STAGE_SEMANTIC_ID"]) == ("NEW", "P")
    created = dt.datetime.fromisoformat(row["CREATED_TIME"])
    assert created.utcoffset() == dt.timedelta(0)
    assert before <= created <= dt.datetime.now(dt.UTC)
    assert row["CREATED_TIME"] == item["createdTime"]


async def test_created_in_a_final_stage_and_in_another_funnel(
    rest: RestClient, funnel: None
) -> None:
    won = await add_item(rest, stageId="WON")
    assert await moves_of(rest, won["id"]) == [(1, 0, "WON", "S")]
    other = await add_item(rest, categoryId=1, stageId="C1:LOSE")
    assert await moves_of(rest, other["id"]) == [(1, 1, "C1:LOSE", "F")]
    classic = (await rest.call("crm.deal.add", {"fields": {"STAGE_ID": "EXECUTING"}})).result
    assert await moves_of(rest, classic) == [(1, 0, "EXECUTING", "P")]


async def test_moves_and_funnel_changes(rest: RestClient, funnel: None) -> None:
    deal_id = (await add_item(rest, title="journey"))["id"]

    async def item_update(**fields: Any) -> None:
        reply = await call_item(rest, "update", id=deal_id, fields=fields)
        assert reply.status == 200, reply.body

    async def deal_update(**fields: Any) -> None:
        reply = await rest.call("crm.deal.update", {"id": deal_id, "fields": fields})
        assert reply.body["result"] is True, reply.body

    await item_update(stageId="PREPARATION")
    await item_update(title="renamed")  # no stage change: no row
    await item_update(stageId="PREPARATION", opportunity=5)  # same stage: no row
    await deal_update(STAGE_ID="EXECUTING")
    await deal_update(STAGE_ID="EXECUTING", TITLE="again")  # same stage: no row
    await item_update(stageId="WON")
    await deal_update(STAGE_ID="LOSE")
    await item_update(categoryId=1, stageId="C1:EXECUTING")
    await deal_update(STAGE_ID="WON")  # a stage of another funnel: nothing changes
    await deal_update(CATEGORY_ID=0)  # crm.deal.update never moves funnels
    await item_update(categoryId=1)  # the current funnel: not a move
    await deal_update(STAGE_ID="C1:WON")
    await item_update(categoryId=0)
    assert await moves_of(rest, deal_id) == [
        (1, 0, "NEW", "P"),
        (2, 0, "PREPARATION", "P"),
        (2, 0, "EXECUTING", "P"),
        (3, 0, "WON", "S"),
        (3, 0, "LOSE", "F"),
        (5, 1, "C1:EXECUTING", "P"),
        (3, 1, "C1:WON", "S"),
        (5, 0, "NEW", "P"),
    ]
    item = (await call_item(rest, "get", id=deal_id)).result["item"]
    assert (item["categoryId"], item["stageId"]) == (0, "NEW")


async def test_failed_moves_add_no_rows(rest: RestClient, db: AsyncEngine, funnel: None) -> None:
    deal_id = (await add_item(rest, title="x"))["id"]
    for fields in ({"categoryId": 1, "stageId": "WON"}, {"stageId": "NOPE"},
                   {"stageId": "WON", "currencyId": "XXX"}):  # fmt: skip
        reply = await call_item(rest, "update", id=deal_id, fields=fields)
        assert error(reply)[:2] == (400, "CRM_FIELD_ERROR_VALUE_NOT_VALID"), fields
    assert await count_rows(db, "stage_history") == 1
    assert await moves_of(rest, deal_id) == [(1, 0, "NEW", "P")]


async def test_filter_order_select(rest: RestClient) -> None:
    first = (await add_item(rest, title="a"))["id"]
    second = (await add_item(rest, title="b"))["id"]
    await call_item(rest, "update", id=first, fields={"stageId": "EXECUTING"})
    await call_item(rest, "update", id=second, fields={"stageId": "WON"})
    every = rows(await history(rest, order={"ID": "ASC"}))
    ids = [r["ID"] for r in every]
    assert ids == sorted(ids) and len(ids) == 4
    assert [r["OWNER_ID"] for r in every] == [first, second, first, second]
    mine = await history(rest, filter={"OWNER_ID": first})
    assert [r["ID"] for r in rows(mine)] == [ids[0], ids[2]] and mine.body["total"] == 2
    later = await history(rest, filter={">ID": ids[1]}, order={"ID": "DESC"})
    assert [r["ID"] for r in rows(later)] == [ids[3], ids[2]]
    lower = await history(rest, filter={">id": ids[1]}, order={"id": "desc"})
    assert rows(lower) == rows(later)
    picked = await history(rest, select=["STAGE_ID", "ID", "TYPE_ID"], filter={"=TYPE_ID": 3})
    assert rows(picked) == [{"ID": ids[3], "TYPE_ID": 3, "STAGE_ID": "WON"}]
    assert list(rows(picked)[0]) == ["ID", "TYPE_ID", "STAGE_ID"]
    final = await history(rest, filter={"STAGE_SEMANTIC_ID": "S", "@OWNER_ID": [first, second]})
    assert [r["OWNER_ID"] for r in rows(final)] == [second]
    star = await history(rest, select=["*"], filter={"OWNER_ID": second})
    assert [list(r) for r in rows(star)] == [COLUMNS, COLUMNS]
    recent = await history(rest, filter={">=CREATED_TIME": every[0]["CREATED_TIME"]})
    assert recent.body["total"] == 4


async def test_pages_of_fifty_with_exact_offsets(rest: RestClient, db: AsyncEngine) -> None:
    ctx = Context(user_id=1, now=dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC), tz=ZoneInfo("UTC"))
    async with transaction(db) as conn:
        deals = [await service.add(conn, ctx, {"TITLE": f"d{i}"}) for i in range(60)]
    reply = await history(rest, select=["OWNER_ID"])
    assert [r["OWNER_ID"] for r in rows(reply)] == deals[:50]
    assert list(reply.body) == ["result", "next", "total", "time"]
    assert (reply.body["next"], reply.body["total"]) == (50, 60)
    reply = await history(rest, select=["OWNER_ID"], start=10)
    assert [r["OWNER_ID"] for r in rows(reply)] == deals[10:60]
    assert "next" not in reply.body and reply.body["total"] == 60
    reply = await history(rest, select=["OWNER_ID"], start=50)
    assert [r["OWNER_ID"] for r in rows(reply)] == deals[50:]
    assert "next" not in reply.body and reply.body["total"] == 60
    reply = await history(rest, select=["OWNER_ID"], start=-1, order={"ID": "DESC"})
    assert [r["OWNER_ID"] for r in rows(reply)] == deals[::-1][:50]
    assert "next" not in reply.body and reply.body["total"] == 0
    row = rows(await history(rest, start=-1))[0]
    assert row["CREATED_TIME"] == "2024-05-01T12:00:00+00:00"


@pytest.mark.parametrize("method", ["crm.item.delete", "crm.deal.delete"])
async def test_deleting_the_deal_removes_its_rows(
    rest: RestClient, db: AsyncEngine, method: str
) -> None:
    gone = (await add_item(rest, title="gone"))["id"]
    kept = (await add_item(rest, title="kept"))["id"]
    await call_item(rest, "update", id=gone, fields={"stageId": "WON"})
    assert (await history(rest)).body["total"] == 3
    reply = await rest.call(method, {"entityTypeId": 2, "id": gone})
    assert reply.status == 200, reply.body
    empty = await history(rest, filter={"OWNER_ID": gone})
    assert rows(empty) == [] and empty.body["total"] == 0
    remaining = await history(rest)
    assert [r["OWNER_ID"] for r in rows(remaining)] == [kept]
    assert await count_rows(db, "stage_history") == 1


async def test_errors(rest: RestClient) -> None:
    await add_item(rest, title="x")
    reply = await rest.call("crm.stagehistory.list", {"entityTypeId": 2, "filter": {"FOO": 1}})
    assert reply.body == {
        "error": "INVALID_ARG_VALUE",
        "error_description": "Invalid filter: field 'FOO' is not allowed in filter",
    }
    assert reply.status == 400
    reply = await rest.call("crm.stagehistory.list", {"entityTypeId": 2, "order": {"FOO": "ASC"}})
    assert error(reply) == (
        400, "INVALID_ARG_VALUE", "Invalid order: field 'FOO' is not allowed in order"
    )  # fmt: skip
    reply = await rest.call("crm.stagehistory.list", {"entityTypeId": 2, "order": {"ID": "UP"}})
    assert error(reply)[:2] == (400, "INVALID_ARG_VALUE")
    reply = await rest.call("crm.stagehistory.list", {"entityTypeId": 2, "filter": {">ID": "many"}})
    assert error(reply) == (
        400,
        "INVALID_ARG_VALUE",
        "Invalid filter: field 'ID' has invalid value",
    )
    reply = await rest.call("crm.stagehistory.list", {"entityTypeId": 1})
    assert error(reply) == (400, "ENTITY_TYPE_NOT_SUPPORTED", "Entity type LEAD is not supported")
    reply = await rest.call("crm.stagehistory.list", {})
    assert error(reply) == (
        400, "ERROR_ARGUMENT", "Could not find value for parameter {entityTypeId}"
    )  # fmt: skip
    reply = await rest.call("crm.stagehistory.list", {"entityTypeId": 1000})
    assert error(reply) == (400, "NOT_FOUND", "Smart process not found")
