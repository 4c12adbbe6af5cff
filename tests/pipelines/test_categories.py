"""pipelines.categories on a real database: funnels, their stage lists, the directories."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.db import transaction
from relatecrm.deals import service as deals
from relatecrm.errors import (
    CategoryNotEmpty,
    CategoryNotFound,
    CategoryRemovalDisabled,
    InvalidCategoryField,
    UnsupportedEntityType,
)
from relatecrm.pipelines import categories, service
from relatecrm.pipelines.models import statuses
from tests.conftest import count_rows

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
DEAL = 2


async def add(db: AsyncEngine, **fields: object) -> categories.Category:
    async with transaction(db) as conn:
        return await categories.add_category(conn, entity_type_id=DEAL, fields=fields, now=NOW)


async def stage_ids(db: AsyncEngine, entity_id: str) -> list[str]:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(statuses.c.status_id)
            .where(statuses.c.entity_id == entity_id)
            .order_by(statuses.c.sort)
        )
        return list(rows.scalars())


async def test_add_makes_a_funnel_deals_can_use(db: AsyncEngine) -> None:
    funnel = await add(db, name="Wholesale", sort="200", originatorId="erp")
    assert (funnel.name, funnel.sort, funnel.is_default) == ("Wholesale", 200, False)
    assert (funnel.origin_id, funnel.originator_id) == (None, "erp")
    n = funnel.id
    async with transaction(db, write=False) as conn:
        assert await service.category_exists(conn, n)
        stages = await service.stages_of(conn, n)
    assert [(s.status_id, s.semantics, s.is_first) for s in stages] == [
        (f"C{n}:NEW", "P", True), (f"C{n}:PREPARATION", "P", False),
        (f"C{n}:PREPAYMENT_INVOICE"[:21], "P", False), (f"C{n}:EXECUTING", "P", False),
        (f"C{n}:FINAL_INVOICE", "P", False), (f"C{n}:WON", "S", False),
        (f"C{n}:LOSE", "F", False), (f"C{n}:APOLOGY", "F", False),
    ]  # fmt: skip


async def test_funnel_and_stages_are_one_unit_of_work(db: AsyncEngine) -> None:
    before = (await count_rows(db, "categories"), await count_rows(db, "statuses"))
    with pytest.raises(RuntimeError):
        async with transaction(db) as conn:
            await categories.add_category(conn, entity_type_id=DEAL, fields={}, now=NOW)
            raise RuntimeError("the request failed later")
    assert (await count_rows(db, "categories"), await count_rows(db, "statuses")) == before


async def test_stage_ids_are_cut_at_21_characters_as_bitrix_does(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        await categories.create_stages(conn, category_id=10)
    ids = await stage_ids(db, "DEAL_STAGE_10")
    assert ids[2] == "C10:PREPAYMENT_INVOIC" and max(map(len, ids)) == 21
    assert ids[0] == "C10:NEW"


async def test_delete_drops_the_stage_list_and_keeps_others(db: AsyncEngine) -> None:
    first, second = await add(db, name="A"), await add(db, name="B")
    async with transaction(db) as conn:
        await categories.delete_category(conn, entity_type_id=DEAL, category_id=first.id)
    assert await stage_ids(db, f"DEAL_STAGE_{first.id}") == []
    assert len(await stage_ids(db, f"DEAL_STAGE_{second.id}")) == 8
    assert len(await stage_ids(db, "DEAL_STAGE")) == 8
    async with transaction(db) as conn:
        with pytest.raises(CategoryNotFound):
            await categories.get_category(conn, entity_type_id=DEAL, category_id=first.id)


async def test_delete_refusals(db: AsyncEngine) -> None:
    funnel = await add(db, name="Busy")
    ctx = deals.Context(user_id=1, now=NOW, tz=dt.UTC)
    async with transaction(db) as conn:
        await deals.add(conn, ctx, {"CATEGORY_ID": funnel.id})
    async with transaction(db) as conn:
        with pytest.raises(CategoryNotEmpty):
            await categories.delete_category(conn, entity_type_id=DEAL, category_id=funnel.id)
        with pytest.raises(CategoryRemovalDisabled):
            await categories.delete_category(conn, entity_type_id=DEAL, category_id=0)


@pytest.mark.parametrize(
    ("fields", "title"),
    [({"name": ""}, "NAME"), ({"NAME": "\t"}, "NAME"), ({"sort": 1.5}, "SORT"),
     ({"originId": ["a"]}, "ORIGIN_ID"), ({"Name": "a\x00b"}, "NAME")],
)  # fmt: skip
async def test_bad_values(db: AsyncEngine, fields: dict[str, object], title: str) -> None:
    with pytest.raises(InvalidCategoryField) as caught:
        await add(db, **fields)
    assert caught.value.message == f'Invalid value for field "{title}"'


async def test_only_deals_have_funnels(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        with pytest.raises(UnsupportedEntityType) as caught:
            await categories.list_categories(conn, entity_type_id=1)
    assert caught.value.message == "Entity type LEAD is not supported"
    with pytest.raises(UnsupportedEntityType) as caught:
        categories.describe_fields(entity_type_id=128)
    assert caught.value.message == "Entity type 128 is not supported"


async def test_directories_name_semantic_stages(db: AsyncEngine) -> None:
    funnel = await add(db, name="Second")
    n = funnel.id
    async with transaction(db) as conn:
        # Without its system failure stage, the funnel's first other F stage stands in.
        await conn.execute(statuses.delete().where(statuses.c.status_id == f"C{n}:LOSE"))
        directories = await categories.list_directories(conn)
        assert await categories.find_directory(conn, f"DEAL_STAGE_{n}") == categories.Directory(
            f"DEAL_STAGE_{n}", "Second deal stages", n
        )
        assert await categories.find_directory(conn, "DEAL_STAGE_007") is None
        assert await categories.find_directory(conn, "deal_type") is None
    assert [d.entity_id for d in directories] == ["DEAL_STAGE", f"DEAL_STAGE_{n}", "SOURCE",
                                                  "DEAL_TYPE"]  # fmt: skip
    general, second = directories[:2]
    assert (general.start, general.success, general.failure) == ("NEW", "WON", "LOSE")
    assert (second.start, second.success, second.failure) == (
        f"C{n}:NEW", f"C{n}:WON", f"C{n}:APOLOGY")  # fmt: skip
    assert directories[2] == categories.Directory("SOURCE", "Sources", None)


def test_stage_list_names() -> None:
    assert categories.funnel_of("DEAL_STAGE") == 0
    assert categories.funnel_of("DEAL_STAGE_12") == 12
    for name in ("DEAL_STAGE_0", "DEAL_STAGE_", "DEAL_STAGE_1a", "DEAL_TYPE", "SOURCE"):
        assert categories.funnel_of(name) is None, name
        assert not categories.is_stage(name)


async def test_deleted_funnel_ids_are_never_reused(db: AsyncEngine) -> None:
    """Old stage history keeps pointing at the funnel it names, on both backends."""
    first = await add(db, name="A")
    async with transaction(db) as conn:
        await categories.delete_category(conn, entity_type_id=DEAL, category_id=first.id)
    second = await add(db, name="B")
    assert second.id > first.id


async def test_a_deal_never_lands_in_a_funnel_deleted_under_it(db: AsyncEngine) -> None:
    """The delete holds the funnel; the racing add waits, then is refused: no orphan deal."""
    import asyncio

    from relatecrm.errors import InvalidFieldValue

    funnel = await add(db, name="Doomed")
    ctx = deals.Context(user_id=1, now=NOW, tz=dt.UTC)
    async with transaction(db) as deleting:
        await categories.delete_category(deleting, entity_type_id=DEAL, category_id=funnel.id)

        async def add_deal() -> int:
            async with transaction(db) as conn:
                return await deals.add(conn, ctx, {"CATEGORY_ID": funnel.id})

        racing = asyncio.create_task(add_deal())
        await asyncio.sleep(0.3)  # the add is now waiting for the funnel (or the write lock)
        assert not racing.done()
    with pytest.raises(InvalidFieldValue) as caught:
        await racing
    assert caught.value.field == "CATEGORY_ID"
    assert await count_rows(db, "deals") == 0
