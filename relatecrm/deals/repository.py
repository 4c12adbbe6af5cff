"""SQL for deals. Field names arrive here already allow-listed by ``deals.fields``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, insert, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.deals.fields import FIELDS, SYSTEM_FIELDS, FieldSpec
from relatecrm.deals.models import deal_contacts, deals
from relatecrm.listing import (
    CONTAINS,
    EQ,
    IN,
    LIKE,
    NE,
    NOT_CONTAINS,
    NOT_IN,
    NOT_LIKE,
    Condition,
    ListQuery,
    Page,
    Queryable,
    compile_condition,
    fetch_page,
)
from relatecrm.values import is_null

MAX_TEXT = 65535
ASSIGNED = deals.c.assigned_by_id  # whose deal it is: the column of "own" permissions

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


# "Not" operators on linked contacts mean "linked to none of them", not "to some other".
POSITIVE = {NE: EQ, NOT_IN: IN, NOT_LIKE: LIKE, NOT_CONTAINS: CONTAINS}
LINKED = Queryable("CONTACT_IDS", "crm_contact", deal_contacts.c.contact_id, likeable=False,
                   nullable=False)  # fmt: skip


def _linked_contacts(cond: Condition, tz: dt.tzinfo) -> ColumnElement[bool]:
    """CONTACT_IDS (``contactIds``): a semi-join on the links, as Bitrix's item list joins
    its contact bindings; an empty value asks for deals with no links at all."""
    negated = cond.op in POSITIVE
    linked = exists().where(deal_contacts.c.deal_id == deals.c.id)
    if cond.op in (EQ, NE) and not isinstance(cond.value, list | dict) and is_null(cond.value):
        return linked if negated else not_(linked)
    positive = Condition(cond.field, POSITIVE.get(cond.op, cond.op), cond.value, cond.label)
    found = linked.where(compile_condition(LINKED, positive, tz))
    return not_(found) if negated else found


# crm.item.list also filters by linked contacts; crm.deal.list refuses CONTACT_IDS.
ITEM_QUERYABLE = {**QUERYABLE, "CONTACT_IDS": replace(LINKED, clause=_linked_contacts)}


async def list_page(
    conn: AsyncConnection,
    query: ListQuery,
    tz: dt.tzinfo,
    *,
    linked_contacts: bool = False,
    custom: Mapping[str, Queryable] | None = None,
    restrict: ColumnElement[bool] | None = None,
) -> Page:
    """A page of deals; ``custom`` adds the custom fields' filters and order, ``restrict``
    the caller's permission predicate."""
    fields = ITEM_QUERYABLE if linked_contacts else QUERYABLE
    queryable = {**fields, **custom} if custom else fields
    return await fetch_page(conn, deals, queryable, query, tz, restrict=restrict)


# Contact links (the rules live in ``deals.links``).


async def links_of(conn: AsyncConnection, deal_id: int) -> list[dict[str, Any]]:
    """The deal's links by SORT (ties by contact id): what "the first remaining" means."""
    rows = await conn.execute(
        select(
            deal_contacts.c.contact_id,
            deal_contacts.c.sort,
            deal_contacts.c.role_id,
            deal_contacts.c.is_primary,
        )
        .where(deal_contacts.c.deal_id == deal_id)
        .order_by(deal_contacts.c.sort, deal_contacts.c.contact_id)
    )
    return [dict(row) for row in rows.mappings()]


async def replace_links(
    conn: AsyncConnection, deal_id: int, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Make ``rows`` (``contact_id``, ``sort``, ``role_id``, ``is_primary``) the deal's links."""
    await conn.execute(delete(deal_contacts).where(deal_contacts.c.deal_id == deal_id))
    if rows:
        await conn.execute(insert(deal_contacts), [{"deal_id": deal_id, **row} for row in rows])


async def lock_deals_naming_contact(
    conn: AsyncConnection, contact_id: int
) -> list[tuple[int, int | None]]:
    """Lock, in id order, every deal that links the contact or names it as CONTACT_ID;
    (id, CONTACT_ID) of each, as they are once locked."""
    linked = select(deal_contacts.c.deal_id).where(deal_contacts.c.contact_id == contact_id)
    stmt = (
        select(deals.c.id, deals.c.contact_id)
        .where(or_(deals.c.id.in_(linked), deals.c.contact_id == contact_id))
        .order_by(deals.c.id)
        .with_for_update()
    )
    return [(int(deal_id), named) for deal_id, named in await conn.execute(stmt)]


async def lock_deals_of_company(conn: AsyncConnection, company_id: int) -> list[int]:
    """Lock, in id order, every deal whose company this is."""
    stmt = (
        select(deals.c.id)
        .where(deals.c.company_id == company_id)
        .order_by(deals.c.id)
        .with_for_update()
    )
    return [int(value) for value in (await conn.execute(stmt)).scalars()]


async def clear_company(conn: AsyncConnection, company_id: int, values: Mapping[str, Any]) -> None:
    """Drop the company from its deals, also setting ``values`` on them."""
    await conn.execute(
        update(deals).where(deals.c.company_id == company_id).values(company_id=None, **values)
    )


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
