"""Where a deal stands: stage resolution, the columns a stage implies, and stage history.

``STAGE_SEMANTIC_ID``, ``CLOSED`` and ``IS_NEW`` are never written on their own: they
are derived here from the stage every time the stage is set, so they cannot drift.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.context import Context
from relatecrm.deals.fields import FIELDS
from relatecrm.errors import InvalidFieldValue
from relatecrm.pipelines import service as pipelines
from relatecrm.pipelines.history import (
    CATEGORY_CHANGED,
    CREATED,
    MOVED_FINAL,
    MOVED_INTERMEDIATE,
    stage_history,
)


def invalid_stage() -> InvalidFieldValue:
    return InvalidFieldValue("STAGE_ID", FIELDS["STAGE_ID"].title)


async def resolve(
    conn: AsyncConnection, stages: list[pipelines.Stage], wanted: str | None, *, fallback: bool
) -> pipelines.Stage | None:
    """The stage named ``wanted`` among one funnel's ``stages``.

    A stage that exists in no funnel is an error. A stage of another funnel (or none)
    gives the funnel's first stage when ``fallback`` is set (add), else None (update:
    "nothing changes", as Bitrix documents).
    """
    if wanted is not None:
        for stage in stages:
            if stage.status_id == wanted:
                return stage
        if not await pipelines.stage_exists_anywhere(conn, wanted):
            raise invalid_stage()
    if not fallback:
        return None
    if not stages:
        raise InvalidFieldValue("CATEGORY_ID", FIELDS["CATEGORY_ID"].title)
    return stages[0]


def columns(stage: pipelines.Stage, actor: Context) -> dict[str, Any]:
    return {
        "category_id": stage.category_id,
        "stage_id": stage.status_id,
        "stage_semantic_id": stage.semantics,
        "closed": "N" if stage.semantics == "P" else "Y",
        "is_new": "Y" if stage.is_first else "N",
        "moved_by_id": actor.user_id,
        "moved_time": actor.now,
    }


def move_type(stage: pipelines.Stage) -> int:
    return MOVED_INTERMEDIATE if stage.semantics == "P" else MOVED_FINAL


async def record(
    conn: AsyncConnection, actor: Context, deal_id: int, stage: pipelines.Stage, type_id: int
) -> None:
    """One stage-history row, in the same transaction as the move it describes."""
    await conn.execute(
        insert(stage_history).values(
            entity_type_id=2,
            type_id=type_id,
            owner_id=deal_id,
            created_time=actor.now,
            category_id=stage.category_id,
            stage_semantic_id=stage.semantics,
            stage_id=stage.status_id,
        )
    )


__all__ = ["CATEGORY_CHANGED", "CREATED", "columns", "move_type", "record", "resolve"]
