"""``crm.deal.list`` paging (start/next/total, start=-1, ID keyset walk) and parameter shapes.

Deals spec §3.4 "Pagination"; protocol spec §5.1-§5.3.
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
from tests.conftest import RestClient, RestReply

STAGES = ("NEW", "PREPARATION", "WON")


async def create_deals(db: AsyncEngine, count: int) -> list[int]:
    """``count`` deals in one transaction; deal i is in stage STAGES[i % 3]."""
    ctx = Context(user_id=1, now=dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC), tz=ZoneInfo("UTC"))
    ids = []
    async with transaction(db) as conn:
        for i in range(count):
            fields = {"TITLE": f"Deal {i:04d}", "STAGE_ID": STAGES[i % 3], "OPPORTUNITY": i}
            ids.append(await service.add(conn, ctx, fields))
    assert ids == sorted(ids)
    return ids


@pytest.fixture
async def deals120(db: AsyncEngine) -> list[int]:
    return await create_deals(db, 120)


async def page(rest: RestClient, **params: Any) -> RestReply:
    reply = await rest.call("crm.deal.list", {"select": ["ID"], **params})
    assert reply.status == 200, reply.body
    return reply


def ids_of(reply: RestReply) -> list[int]:
    return [int(row["ID"]) for row in reply.result]


async def test_first_page(rest: RestClient, deals120: list[int]) -> None:
    for params in ({}, {"start": 0}, {"start": "0"}):
        reply = await page(rest, **params)
        assert ids_of(reply) == deals120[:50]
        assert list(reply.body) == ["result", "next", "total", "time"]
        assert reply.body["next"] == 50
        assert reply.body["total"] == 120


async def test_middle_and_last_page(rest: RestClient, deals120: list[int]) -> None:
    reply = await page(rest, start=50)
    assert ids_of(reply) == deals120[50:100]
    assert (reply.body["next"], reply.body["total"]) == (100, 120)
    assert list(reply.body) == ["result", "next", "total", "time"]
    reply = await page(rest, start=100)
    assert ids_of(reply) == deals120[100:]
    assert len(reply.result) == 20
    assert "next" not in reply.body
    assert reply.body["total"] == 120
    assert list(reply.body) == ["result", "total", "time"]


@pytest.mark.parametrize(
    ("start", "offset"), [(30, 0), (49, 0), (51, 50), ("99", 50), (120, 100), (149, 100)]
)
async def test_start_rounds_down(
    rest: RestClient, deals120: list[int], start: Any, offset: int
) -> None:
    reply = await page(rest, start=start)
    assert ids_of(reply) == deals120[offset : offset + 50]
    assert reply.body["total"] == 120
    assert reply.body.get("next") == (offset + 50 if offset + 50 < 120 else None)


@pytest.mark.parametrize("start", [-1, "-1", -50])
async def test_start_minus_one(rest: RestClient, deals120: list[int], start: Any) -> None:
    reply = await page(rest, start=start)
    assert ids_of(reply) == deals120[:50]
    assert "next" not in reply.body
    assert reply.body["total"] == 0
    assert list(reply.body) == ["result", "total", "time"]
    reply = await page(rest, start=start, filter={">ID": deals120[99]})
    assert ids_of(reply) == deals120[100:]
    assert "next" not in reply.body
    assert reply.body["total"] == 0


@pytest.mark.parametrize("start", [150, 151, 500, 100000, 3_000_000_000])
async def test_start_beyond_end(rest: RestClient, deals120: list[int], start: int) -> None:
    reply = await page(rest, start=start)
    assert reply.result == []
    assert "next" not in reply.body
    assert reply.body["total"] == 120
    assert list(reply.body) == ["result", "total", "time"]


async def test_start_in_form_and_query(rest: RestClient, deals120: list[int]) -> None:
    reply = await rest.call("crm.deal.list", form="start=50&select[]=ID")
    assert ids_of(reply) == deals120[50:100]
    assert (reply.body["next"], reply.body["total"]) == (100, 120)
    reply = await rest.call("crm.deal.list", form="start=100&select[]=ID", get=True)
    assert ids_of(reply) == deals120[100:]
    assert "next" not in reply.body


async def test_total_follows_filter(rest: RestClient, deals120: list[int]) -> None:
    new = deals120[0::3]
    reply = await page(rest, filter={"STAGE_ID": "NEW"})
    assert ids_of(reply) == new
    assert reply.body["total"] == 40
    assert "next" not in reply.body
    reply = await page(rest, filter={"<=ID": deals120[49]})
    assert ids_of(reply) == deals120[:50]
    assert reply.body["total"] == 50
    assert "next" not in reply.body
    reply = await page(rest, filter={"<=ID": deals120[50]})
    assert (reply.body["next"], reply.body["total"]) == (50, 51)
    reply = await page(rest, filter={"<=ID": deals120[50]}, start=50)
    assert ids_of(reply) == [deals120[50]]
    assert reply.body["total"] == 51
    assert "next" not in reply.body


async def test_empty_result(rest: RestClient, db: AsyncEngine) -> None:
    reply = await page(rest)
    assert reply.result == []
    assert reply.body["total"] == 0
    assert list(reply.body) == ["result", "total", "time"]
    reply = await page(rest, start=50)
    assert (reply.result, reply.body["total"]) == ([], 0)


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_tie_breaker_is_stable(rest: RestClient, deals120: list[int], direction: str) -> None:
    """120 deals share 3 stage values: paging by STAGE_ID loses and repeats nothing."""
    seen: list[int] = []
    start: int | None = 0
    while start is not None:
        reply = await page(rest, order={"STAGE_ID": direction}, start=start)
        assert reply.body["total"] == 120
        seen.extend(ids_of(reply))
        start = reply.body.get("next")
    assert len(seen) == 120
    assert sorted(seen) == deals120
    stage = {deal_id: STAGES[i % 3] for i, deal_id in enumerate(deals120)}
    expected = sorted(deals120, key=lambda d: (stage[d], d))
    if direction == "DESC":
        expected = sorted(deals120, key=lambda d: (-STAGES.index(stage[d]), d))
    assert seen == expected


async def test_order_desc_pages(rest: RestClient, deals120: list[int]) -> None:
    first = await page(rest, order={"ID": "DESC"})
    second = await page(rest, order={"ID": "DESC"}, start=50)
    third = await page(rest, order={"ID": "DESC"}, start=100)
    assert ids_of(first) + ids_of(second) + ids_of(third) == deals120[::-1]
    first = await page(rest, order={"OPPORTUNITY": "DESC"}, start=-1)
    assert ids_of(first) == deals120[::-1][:50]


async def test_keyset_walk_1050(rest: RestClient, db: AsyncEngine) -> None:
    """The documented fast export (protocol spec §5.3) and the start/next walk."""
    created = await create_deals(db, 1050)
    seen: list[int] = []
    last = 0
    pages = 0
    while True:
        reply = await page(rest, order={"ID": "ASC"}, filter={">ID": last}, start=-1)
        rows = ids_of(reply)
        pages += 1
        assert "next" not in reply.body
        assert reply.body["total"] == 0
        seen.extend(rows)
        if len(rows) < 50:
            break
        assert rows[-1] > last
        last = rows[-1]
    assert pages == 22
    assert seen == created
    assert len(set(seen)) == 1050

    seen = []
    start: int | None = 0
    pages = 0
    while start is not None:
        reply = await page(rest, start=start)
        assert reply.body["total"] == 1050
        rows = ids_of(reply)
        assert len(rows) == 50
        seen.extend(rows)
        pages += 1
        next_start = reply.body.get("next")
        assert next_start == (start + 50 if start + 50 < 1050 else None)
        start = next_start
    assert pages == 21
    assert seen == created


# --- parameter shape errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter": "abc"}, "Parameter 'filter' must be array."),
        ({"filter": 5}, "Parameter 'filter' must be array."),
        ({"order": "ID"}, "Parameter 'order' must be array."),
        ({"order": "ID ASC", "filter": {}}, "Parameter 'order' must be array."),
    ],
)
async def test_not_an_array(
    rest: RestClient, db: AsyncEngine, params: dict[str, Any], message: str
) -> None:
    reply = await rest.call("crm.deal.list", params)
    assert reply.status == 400
    assert reply.body == {"error": "", "error_description": message}


async def test_not_an_array_form(rest: RestClient, db: AsyncEngine) -> None:
    reply = await rest.call("crm.deal.list", form="filter=abc")
    assert (reply.status, reply.body) == (
        400,
        {"error": "", "error_description": "Parameter 'filter' must be array."},
    )
    reply = await rest.call("crm.deal.list", form="order=ID", get=True)
    assert (reply.status, reply.body) == (
        400,
        {"error": "", "error_description": "Parameter 'order' must be array."},
    )
