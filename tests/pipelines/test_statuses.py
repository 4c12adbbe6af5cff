"""pipelines.statuses on a real database: values of the lists and the deal rules on them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.db import transaction
from relatecrm.deals import service as deals
from relatecrm.errors import (
    InvalidStatusCode,
    InvalidStatusId,
    StageAfterFinal,
    StatusInUse,
    StatusNotFound,
    SystemStatusProtected,
)
from relatecrm.listing import EQ, GE, IN, Condition
from relatecrm.pipelines import categories, service, statuses

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
CTX = deals.Context(user_id=1, now=NOW, tz=dt.UTC)


async def add(db: AsyncEngine, **fields: Any) -> statuses.Status:
    async with transaction(db) as conn:
        status_id = await statuses.add_status(conn, fields=fields)
        return await statuses.get_status(conn, status_id=status_id)


async def find(db: AsyncEngine, entity_id: str, code: str) -> statuses.Status:
    async with transaction(db, write=False) as conn:
        found = await statuses.list_statuses(
            conn,
            conditions=[Condition("ENTITY_ID", EQ, entity_id), Condition("STATUS_ID", EQ, code)],
            order=[],
            tz=dt.UTC,
        )
    assert len(found) == 1
    return found[0]


async def test_added_stages_are_deal_stages(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        n = (await categories.add_category(conn, entity_type_id=2, fields={}, now=NOW)).id
    won_twice = await add(db, ENTITY_ID=f"DEAL_STAGE_{n}", STATUS_ID="PAID", NAME="Paid",
                          SORT=65, SEMANTICS="s")  # fmt: skip
    assert (won_twice.status_id, won_twice.semantics, won_twice.role) == (
        f"C{n}:PAID",
        "S",
        "success",
    )
    assert (won_twice.category_id, won_twice.color, won_twice.system) == (n, "#DBF199", False)
    async with transaction(db, write=False) as conn:
        found = await service.find_stage(conn, n, f"C{n}:PAID")
        assert found is not None and found.semantics == "S" and not found.is_first
        assert await service.find_stage(conn, 0, f"C{n}:PAID") is None


async def test_list_conditions_and_default_order(db: AsyncEngine) -> None:
    async with transaction(db, write=False) as conn:
        rows = await statuses.list_statuses(
            conn,
            conditions=[Condition("ENTITY_ID", IN, ["DEAL_STAGE", "SOURCE"]),
                        Condition("SORT", GE, 60)],
            order=[],
            tz=dt.UTC,
        )  # fmt: skip
    # By SORT, then by ID: the seed inserts the stages before the sources.
    assert [(r.entity_id, r.status_id) for r in rows][:4] == [
        ("DEAL_STAGE", "WON"), ("SOURCE", "RECOMMENDATION"), ("DEAL_STAGE", "LOSE"),
        ("SOURCE", "TRADE_SHOW")]  # fmt: skip
    assert [r.role for r in rows if r.entity_id == "DEAL_STAGE"] == [
        "success",
        "failure",
        "apology",
    ]
    assert {r.role for r in rows if r.entity_id == "SOURCE"} == {None}


async def test_the_final_stage_rule_spares_final_stages(db: AsyncEngine) -> None:
    with pytest.raises(StageAfterFinal):
        await add(db, ENTITY_ID="DEAL_STAGE", STATUS_ID="LATE", NAME="Late", SORT=61)
    lost = await add(db, ENTITY_ID="DEAL_STAGE", STATUS_ID="GHOSTED", NAME="Ghosted", SORT=65,
                     SEMANTICS="F")  # fmt: skip
    assert (lost.semantics, lost.role) == ("F", "apology")
    early = await add(db, ENTITY_ID="DEAL_STAGE", STATUS_ID="MEETING", NAME="Meeting", SORT=59)
    assert (early.semantics, early.role, early.color) == (None, "process", "#ACE9FB")


@pytest.mark.parametrize("code", ["A" * 22, "Ä", "A B", "A:B", "C1:A"])
async def test_general_funnel_codes(db: AsyncEngine, code: str) -> None:
    with pytest.raises(InvalidStatusCode):
        await add(db, ENTITY_ID="DEAL_STAGE", STATUS_ID=code, NAME="x", SORT=1)
    longest = await add(db, ENTITY_ID="DEAL_STAGE", STATUS_ID="A" * 21, NAME="x", SORT=1)
    assert longest.status_id == "A" * 21


async def test_plain_list_codes_allow_any_text_up_to_50(db: AsyncEngine) -> None:
    row = await add(db, ENTITY_ID="source", STATUS_ID="Ярмарка 2026", NAME="Fair")
    assert (row.entity_id, row.status_id, row.semantics, row.color) == (
        "SOURCE", "Ярмарка 2026", None, None)  # fmt: skip
    with pytest.raises(InvalidStatusCode):
        await add(db, ENTITY_ID="SOURCE", STATUS_ID="x" * 51, NAME="x")


async def test_delete_rules(db: AsyncEngine) -> None:
    new = await find(db, "DEAL_STAGE", "NEW")
    async with transaction(db) as conn:
        with pytest.raises(SystemStatusProtected):
            await statuses.delete_status(conn, status_id=new.id, forced=False)
        await deals.add(conn, CTX, {"TITLE": "holds NEW"})
    async with transaction(db) as conn:
        with pytest.raises(StatusInUse):
            await statuses.delete_status(conn, status_id=new.id, forced=True)
        with pytest.raises(StatusNotFound):
            await statuses.delete_status(conn, status_id=10**6, forced=True)


async def test_update_keeps_what_is_not_given(db: AsyncEngine) -> None:
    won = await find(db, "DEAL_STAGE", "WON")
    async with transaction(db) as conn:
        await statuses.update_status(conn, status_id=won.id, fields={"SORT": None, "NAME": "Won!"})
        after = await statuses.get_status(conn, status_id=won.id)
    assert (after.name, after.sort, after.color, after.name_init) == (
        "Won!",
        60,
        "#7BD500",
        "Deal won",
    )


@pytest.mark.parametrize("value", [0, -1, "x", None, 2**40, True])
def test_check_status_id(value: object) -> None:
    with pytest.raises(InvalidStatusId):
        statuses.check_status_id(value)
    assert statuses.check_status_id(" 7 ") == 7
