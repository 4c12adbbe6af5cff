"""Deal ids are never reused: an integration or event receiver holding the id of a
deleted deal must never reach another deal with it (as on Bitrix24)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from relatecrm.accounts import service as accounts
from relatecrm.context import Context
from relatecrm.db import create_engine, transaction
from relatecrm.deals import service
from relatecrm.migrate import upgrade
from tests.conftest import RestClient


async def test_deleting_the_newest_deal_does_not_free_its_id(rest: RestClient) -> None:
    first = (await rest.call("crm.deal.add", {"fields": {"TITLE": "a"}})).result
    newest = (await rest.call("crm.deal.add", {"fields": {"TITLE": "b"}})).result
    assert (await rest.call("crm.deal.delete", {"id": newest})).result is True
    again = (await rest.call("crm.deal.add", {"fields": {"TITLE": "c"}})).result
    assert first < newest < again


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
async def test_migration_0013_gives_old_sqlite_databases_autoincrement(
    empty_database_url: str,
) -> None:
    """A database made before 0013 (deals without AUTOINCREMENT) keeps its deals and
    stops reusing ids; the highest id at upgrade time is not handed out again."""
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine, "0012")
        ctx = Context(user_id=1, now=dt.datetime.now(dt.UTC), tz=dt.UTC)
        async with transaction(engine) as conn:
            await accounts.ensure_admin(conn, now=ctx.now)
            made = [await service.add(conn, ctx, {"TITLE": f"d{n}"}) for n in range(3)]
        assert made == [1, 2, 3]
        await upgrade(engine)
        async with engine.connect() as conn:
            assert [r[0] for r in await conn.execute(text("SELECT id FROM deals"))] == [1, 2, 3]
        async with transaction(engine) as conn:
            await service.delete(conn, ctx, 3)
            assert await service.add(conn, ctx, {"TITLE": "d4"}) == 4
    finally:
        await engine.dispose()
