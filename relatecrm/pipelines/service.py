"""Look-ups deals need from funnels, reference lists and currencies."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.pipelines.models import categories, currencies, statuses


@dataclass(frozen=True)
class Stage:
    """A deal stage: its id, its funnel and its semantic group (P, S or F)."""

    status_id: str
    category_id: int
    semantics: str
    is_first: bool


def stage_entity_id(category_id: int) -> str:
    """The reference-list name of a funnel's stages: DEAL_STAGE or DEAL_STAGE_{n}."""
    return "DEAL_STAGE" if category_id == 0 else f"DEAL_STAGE_{category_id}"


async def category_exists(conn: AsyncConnection, category_id: int) -> bool:
    row = await conn.execute(
        select(categories.c.id).where(
            categories.c.id == category_id, categories.c.entity_type_id == 2
        )
    )
    return row.first() is not None


async def stages_of(conn: AsyncConnection, category_id: int) -> list[Stage]:
    """The funnel's stages in sort order; the first is where new deals start."""
    rows = (
        await conn.execute(
            select(statuses.c.status_id, statuses.c.semantics)
            .where(statuses.c.entity_id == stage_entity_id(category_id))
            .order_by(statuses.c.sort, statuses.c.id)
        )
    ).all()
    return [
        Stage(row.status_id, category_id, row.semantics or "P", index == 0)
        for index, row in enumerate(rows)
    ]


async def find_stage(conn: AsyncConnection, category_id: int, status_id: str) -> Stage | None:
    for stage in await stages_of(conn, category_id):
        if stage.status_id == status_id:
            return stage
    return None


async def stage_exists_anywhere(conn: AsyncConnection, status_id: str) -> bool:
    row = await conn.execute(
        select(statuses.c.id).where(
            statuses.c.status_id == status_id, statuses.c.entity_id.like("DEAL\\_STAGE%", "\\")
        )
    )
    return row.first() is not None


async def base_currency(conn: AsyncConnection) -> str | None:
    row = await conn.execute(
        select(currencies.c.currency).order_by(currencies.c.is_base.desc(), currencies.c.sort)
    )
    return row.scalars().first()


@dataclass(frozen=True)
class References:
    """Everything a deal write checks against, read in two queries instead of eight."""

    stages: list[Stage]
    type_ids: list[str]
    source_ids: list[str]
    currencies: frozenset[str]
    base_currency: str | None


async def references(conn: AsyncConnection, category_id: int) -> References:
    """The funnel's stages (empty if there is no such funnel), types, sources, currencies."""
    stage_list = stage_entity_id(category_id)
    rows = await conn.execute(
        select(statuses.c.entity_id, statuses.c.status_id, statuses.c.semantics)
        .where(statuses.c.entity_id.in_([stage_list, "DEAL_TYPE", "SOURCE"]))
        .order_by(statuses.c.sort, statuses.c.id)
    )
    found: dict[str, list[tuple[str, str | None]]] = {stage_list: [], "DEAL_TYPE": [], "SOURCE": []}
    for row in rows:
        found[row.entity_id].append((row.status_id, row.semantics))
    money = (
        await conn.execute(
            select(currencies.c.currency, currencies.c.is_base).order_by(
                currencies.c.is_base.desc(), currencies.c.sort
            )
        )
    ).all()
    stages = [
        Stage(status_id, category_id, semantics or "P", index == 0)
        for index, (status_id, semantics) in enumerate(found[stage_list])
    ]
    return References(
        stages=stages,
        type_ids=[code for code, _ in found["DEAL_TYPE"]],
        source_ids=[code for code, _ in found["SOURCE"]],
        currencies=frozenset(row.currency for row in money),
        base_currency=money[0].currency if money else None,
    )
