"""The schema exists only through migrations, and the models agree with them."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

import relatecrm.models  # noqa: F401
from relatecrm.db import create_engine, metadata
from relatecrm.migrate import is_pending, upgrade
from relatecrm.pipelines.models import categories, currencies, statuses


def _diff(sync_conn: Any) -> list[Any]:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_models_match_migrations(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        assert await is_pending(engine)
        await upgrade(engine)
        assert not await is_pending(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_seed_data_resolves_documented_defaults(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            funnel = (await conn.execute(select(categories.c.id))).scalars().all()
            stages = (
                await conn.execute(
                    select(statuses.c.status_id, statuses.c.semantics)
                    .where(statuses.c.entity_id == "DEAL_STAGE")
                    .order_by(statuses.c.sort)
                )
            ).all()
            base = (
                (await conn.execute(select(currencies.c.currency).where(currencies.c.is_base)))
                .scalars()
                .all()
            )
        assert funnel == [0]
        assert [s.status_id for s in stages][:2] == ["NEW", "PREPARATION"]
        assert {s.semantics for s in stages} == {"P", "S", "F"}
        assert base == ["USD"]
    finally:
        await engine.dispose()


async def test_upgrade_is_idempotent(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)
        async with engine.connect() as conn:
            count = len((await conn.execute(select(statuses.c.id))).all())
        assert count == 8 + 5 + 12
    finally:
        await engine.dispose()
