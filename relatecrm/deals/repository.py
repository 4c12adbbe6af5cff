"""SQL for deals. Field names arrive here already allow-listed by ``deals.fields``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.deals.fields import FIELDS, SYSTEM_FIELDS, FieldSpec
from relatecrm.deals.models import deal_contacts, deals
from relatecrm.listing import ListQuery, Page, Queryable, fetch_page

MAX_TEXT = 65535

QUERYABLE: dict[str, Queryable] = {
    spec.name: Queryable(
        name=spec.name,
        type=spec.type,
        column=deals.c[spec.column_name],
        likeable=spec.likeable,
        nullable=bool(deals.c[spec.column_name].nullable),
    )
    for spec in SYSTEM_FIELDS
    if spec.column_name
}


def max_length(spec: FieldSpec) -> int:
    """The longest string the field's column holds (PostgreSQL refuses longer ones)."""
    length = getattr(deals.c[spec.column_name].type, "length", None) if spec.column_name else None
    return int(length) if length else MAX_TEXT


def _columns(names: Iterable[str]) -> list[Any]:
    return [deals.c[FIELDS[name].column_name or ""].label(name) for name in names]


async def insert_deal(conn: AsyncConnection, values: Mapping[str, Any]) -> int | None:
    """The new deal's id, or None if its funnel was deleted under it (a lost race)."""
    try:
        result = await conn.execute(insert(deals).values(**values).returning(deals.c.id))
    except IntegrityError:
        return None
    return int(result.scalar_one())


async def update_deal(conn: AsyncConnection, deal_id: int, values: Mapping[str, Any]) -> None:
    if values:
        await conn.execute(update(deals).where(deals.c.id == deal_id).values(**values))


async def delete_deal(conn: AsyncConnection, deal_id: int) -> bool:
    await conn.execute(delete(deal_contacts).where(deal_contacts.c.deal_id == deal_id))
    result = await conn.execute(delete(deals).where(deals.c.id == deal_id))
    return bool(result.rowcount)


async def fetch(
    conn: AsyncConnection, deal_id: int, names: Sequence[str], *, for_update: bool = False
) -> dict[str, Any] | None:
    """The named fields of one deal; ``for_update`` locks the row until commit (PostgreSQL)."""
    stmt = select(*_columns(names)).where(deals.c.id == deal_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row is not None else None


async def list_page(conn: AsyncConnection, query: ListQuery, tz: dt.tzinfo) -> Page:
    return await fetch_page(conn, deals, QUERYABLE, query, tz)


async def set_contacts(conn: AsyncConnection, deal_id: int, contact_ids: Sequence[int]) -> None:
    """Replace the deal's contact links; the first one is primary, SORT is 10, 20, ..."""
    await conn.execute(delete(deal_contacts).where(deal_contacts.c.deal_id == deal_id))
    if contact_ids:
        await conn.execute(
            insert(deal_contacts),
            [
                {
                    "deal_id": deal_id,
                    "contact_id": contact_id,
                    "sort": (index + 1) * 10,
                    "role_id": 0,
                    "is_primary": "Y" if index == 0 else "N",
                }
                for index, contact_id in enumerate(contact_ids)
            ],
        )


async def contact_ids(conn: AsyncConnection, deal_id: int) -> list[int]:
    """Linked contacts, primary first, then by SORT."""
    rows = await conn.execute(
        select(deal_contacts.c.contact_id)
        .where(deal_contacts.c.deal_id == deal_id)
        .order_by(
            deal_contacts.c.is_primary.desc(), deal_contacts.c.sort, deal_contacts.c.contact_id
        )
    )
    return [int(value) for value in rows.scalars()]


async def contacts_of(conn: AsyncConnection, deal_ids: Sequence[int]) -> dict[int, list[int]]:
    """Contact ids of several deals in one query, primary first."""
    found: dict[int, list[int]] = {deal_id: [] for deal_id in deal_ids}
    if not deal_ids:
        return found
    rows = await conn.execute(
        select(deal_contacts.c.deal_id, deal_contacts.c.contact_id)
        .where(deal_contacts.c.deal_id.in_(deal_ids))
        .order_by(
            deal_contacts.c.deal_id,
            deal_contacts.c.is_primary.desc(),
            deal_contacts.c.sort,
            deal_contacts.c.contact_id,
        )
    )
    for deal_id, contact_id in rows:
        found[int(deal_id)].append(int(contact_id))
    return found
