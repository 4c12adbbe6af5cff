"""Property: replaying a deal's stage history always lands on its current stage and funnel."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.db import transaction
from relatecrm.deals import service
from relatecrm.errors import InvalidFieldValue
from relatecrm.pipelines.history import stage_history
from relatecrm.pipelines.models import categories, statuses

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CODES = [("NEW", "P"), ("PREPARATION", "P"), ("EXECUTING", "P"), ("WON", "S"), ("LOSE", "F")]
FUNNELS = [0, 1, 2]


def stage_id(funnel: int, code: str) -> str:
    return code if funnel == 0 else f"C{funnel}:{code}"


SEMANTICS = {stage_id(f, code): sem for f in FUNNELS for code, sem in CODES}
SEMANTICS.update({"PREPAYMENT_INVOICE": "P", "FINAL_INVOICE": "P", "APOLOGY": "F"})


async def _add_funnels(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        existing = (await conn.execute(select(categories.c.id))).scalars().all()
        if 1 in existing:
            return
        for funnel in FUNNELS[1:]:
            await conn.execute(
                insert(categories).values(id=funnel, name=f"F{funnel}", sort=10, created_at=NOW)
            )
            await conn.execute(
                insert(statuses),
                [
                    {"entity_id": f"DEAL_STAGE_{funnel}", "status_id": stage_id(funnel, code),
                     "name": code, "sort": (i + 1) * 10, "semantics": sem, "category_id": funnel}
                    for i, (code, sem) in enumerate(CODES)
                ],
            )  # fmt: skip


stage_moves = st.tuples(st.just("stage"), st.sampled_from(FUNNELS), st.sampled_from(CODES))
funnel_moves = st.tuples(
    st.just("move"), st.sampled_from(FUNNELS), st.one_of(st.none(), st.sampled_from(CODES))
)
operations = st.lists(st.one_of(stage_moves, funnel_moves), max_size=12)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, start=st.sampled_from(FUNNELS))
async def test_history_replays_to_the_current_stage(
    db: AsyncEngine, ops: list[tuple[Any, ...]], start: int
) -> None:
    await _add_funnels(db)
    ctx = service.Context(user_id=1, now=NOW, tz=dt.UTC)
    async with transaction(db) as conn:
        deal_id = await service.add(conn, ctx, {"CATEGORY_ID": start})
    for kind, funnel, code in ops:
        fields: dict[str, Any] = {}
        if code is not None:
            fields["STAGE_ID"] = stage_id(funnel, code[0])
        if kind == "move":
            fields["CATEGORY_ID"] = funnel
        try:
            async with transaction(db) as conn:
                await service.update(conn, ctx, deal_id, fields, move_category=kind == "move")
        except InvalidFieldValue:
            pass  # an explicit stage outside the target funnel is refused, changing nothing
    async with transaction(db, write=False) as conn:
        deal = await service.get(conn, ctx, deal_id)
        rows = (
            await conn.execute(
                select(stage_history)
                .where(stage_history.c.owner_id == deal_id)
                .order_by(stage_history.c.id)
            )
        ).all()
    assert rows[0].type_id == 1
    category, stage = rows[0].category_id, rows[0].stage_id
    for row in rows:
        assert row.stage_semantic_id == SEMANTICS[row.stage_id]
        assert row.stage_id in {stage_id(row.category_id, code) for code, _ in CODES} | (
            {"PREPAYMENT_INVOICE", "FINAL_INVOICE", "APOLOGY"} if row.category_id == 0 else set()
        )
        if row.type_id == 5:
            assert row.category_id != category
        elif row.type_id in (2, 3):
            assert row.category_id == category and row.stage_id != stage
            assert row.type_id == (2 if row.stage_semantic_id == "P" else 3)
        category, stage = row.category_id, row.stage_id
    assert (deal["CATEGORY_ID"], deal["STAGE_ID"]) == (category, stage)
    assert deal["STAGE_SEMANTIC_ID"] == SEMANTICS[stage]
    assert deal["CLOSED"] == ("N" if SEMANTICS[stage] == "P" else "Y")
