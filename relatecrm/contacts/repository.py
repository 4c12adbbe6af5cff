"""SQL for contacts, companies and their multi-field values.

Field names arrive here already allow-listed by ``contacts.fields``; the list query is
the deals' one (``listing.fetch_page``), with the multi-field filters (``PHONE`` = ...)
turned into a semi-join on the multi-field table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Table,
    delete,
    insert,
    not_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.contacts.fields import COMPANY, CONTACT, MULTI_NAMES, Entity
from relatecrm.contacts.models import companies, contacts, multifields
from relatecrm.deals.fields import FieldSpec
from relatecrm.errors import InvalidFilter
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
    Group,
    ListQuery,
    Page,
    Queryable,
    compile_condition,
    fetch_page,
)
from relatecrm.pipelines.models import currencies, statuses
from relatecrm.values import MAX_INT

MAX_TEXT = 65535
LOCK_BATCH = 1000  # ids per statement: asyncpg binds at most 32767 parameters
TABLES: dict[str, Table] = {CONTACT.code: contacts, COMPANY.code: companies}


def _queryable(entity: Entity) -> dict[str, Queryable]:
    table = TABLES[entity.code]
    return {
        name: Queryable(
            name=name,
            type=spec.type,
            column=table.c[spec.column_name],
            likeable=spec.likeable,
            nullable=bool(table.c[spec.column_name].nullable),
        )
        for name, spec in entity.fields.items()
        if spec.column_name
    }


QUERYABLE: dict[str, dict[str, Queryable]] = {
    entity.code: _queryable(entity) for entity in (CONTACT, COMPANY)
}


def max_length(entity: Entity, spec: FieldSpec) -> int:
    """The longest string the field's column holds (PostgreSQL refuses longer ones)."""
    column = TABLES[entity.code].c[spec.column_name or ""]
    return int(getattr(column.type, "length", None) or MAX_TEXT)


async def insert_row(conn: AsyncConnection, entity: Entity, values: Mapping[str, Any]) -> int:
    table = TABLES[entity.code]
    result = await conn.execute(insert(table).values(**values).returning(table.c.id))
    return int(result.scalar_one())


async def update_row(
    conn: AsyncConnection, entity: Entity, row_id: int, values: Mapping[str, Any]
) -> None:
    table = TABLES[entity.code]
    if values:
        await conn.execute(update(table).where(table.c.id == row_id).values(**values))


async def delete_row(conn: AsyncConnection, entity: Entity, row_id: int) -> bool:
    """Delete the row and its multi-field values; False if there was no such row."""
    table = TABLES[entity.code]
    await conn.execute(
        delete(multifields).where(
            multifields.c.entity_type == entity.code, multifields.c.entity_id == row_id
        )
    )
    result = await conn.execute(delete(table).where(table.c.id == row_id))
    return bool(result.rowcount)


async def fetch(
    conn: AsyncConnection,
    entity: Entity,
    row_id: int,
    names: Sequence[str],
    *,
    lock: bool = False,
) -> dict[str, Any] | None:
    """The named fields of one row; ``lock`` holds it until commit (PostgreSQL)."""
    columns = QUERYABLE[entity.code]
    stmt = select(*(columns[name].column.label(name) for name in names)).where(
        TABLES[entity.code].c.id == row_id
    )
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row is not None else None


async def company_exists(conn: AsyncConnection, company_id: int) -> bool:
    """Whether the company exists, share-locked so that it cannot vanish before commit."""
    return company_id in await lock_existing(conn, COMPANY, [company_id])


async def lock_existing(conn: AsyncConnection, entity: Entity, row_ids: Iterable[int]) -> set[int]:
    """Those of the rows that exist, key-share-locked in id order until commit.

    Whoever refers to a client takes this lock, and deleting the client takes the row
    lock first (``deals.links`` relies on that order); a KEY SHARE lock still lets
    others update the client's other columns.
    """
    wanted = sorted({row_id for row_id in row_ids if 0 < row_id <= MAX_INT})
    table = TABLES[entity.code]
    found: set[int] = set()
    for start in range(0, len(wanted), LOCK_BATCH):
        stmt = (
            select(table.c.id)
            .where(table.c.id.in_(wanted[start : start + LOCK_BATCH]))
            .order_by(table.c.id)
            .with_for_update(read=True, key_share=True)
        )
        found.update(int(row_id) for row_id in (await conn.execute(stmt)).scalars())
    return found


async def reference_lists(conn: AsyncConnection, entity_ids: Iterable[str]) -> dict[str, list[str]]:
    """The STATUS_IDs of each named reference list, in sort order (one query)."""
    wanted = list(entity_ids)
    found: dict[str, list[str]] = {name: [] for name in wanted}
    if wanted:
        rows = await conn.execute(
            select(statuses.c.entity_id, statuses.c.status_id)
            .where(statuses.c.entity_id.in_(wanted))
            .order_by(statuses.c.sort, statuses.c.id)
        )
        for entity_id, status_id in rows:
            found[entity_id].append(status_id)
    return found


async def currency_codes(conn: AsyncConnection) -> list[str]:
    """Known currencies, the base one first."""
    rows = await conn.execute(
        select(currencies.c.currency).order_by(currencies.c.is_base.desc(), currencies.c.sort)
    )
    return list(rows.scalars())


# Multi-field values.


async def multifield_rows(
    conn: AsyncConnection, entity: Entity, row_ids: Sequence[int], types: Iterable[str]
) -> list[dict[str, Any]]:
    """The values of the given types of several rows, by owner, type and id."""
    wanted = list(types)
    if not row_ids or not wanted:
        return []
    rows = await conn.execute(
        select(
            multifields.c.entity_id,
            multifields.c.id,
            multifields.c.value_type,
            multifields.c.value,
            multifields.c.type_id,
        )
        .where(
            multifields.c.entity_type == entity.code,
            multifields.c.entity_id.in_(row_ids),
            multifields.c.type_id.in_(wanted),
        )
        .order_by(multifields.c.entity_id, multifields.c.type_id, multifields.c.id)
    )
    return [dict(row) for row in rows.mappings()]


async def insert_values(
    conn: AsyncConnection, entity: Entity, row_id: int, values: Sequence[Mapping[str, str]]
) -> None:
    """Add values, each ``{"type_id", "value_type", "value"}``."""
    if values:
        await conn.execute(
            insert(multifields),
            [{"entity_type": entity.code, "entity_id": row_id, **value} for value in values],
        )


async def update_value(conn: AsyncConnection, value_id: int, values: Mapping[str, str]) -> None:
    await conn.execute(update(multifields).where(multifields.c.id == value_id).values(**values))


async def delete_values(conn: AsyncConnection, value_ids: Sequence[int]) -> None:
    if value_ids:
        await conn.execute(delete(multifields).where(multifields.c.id.in_(value_ids)))


# Lists.

# Multi-fields filter by exact match only: LIKE means equality, as on reference fields.
POSITIVE = {EQ: EQ, NE: EQ, LIKE: EQ, NOT_LIKE: EQ, CONTAINS: EQ, NOT_CONTAINS: EQ,
            IN: IN, NOT_IN: IN}  # fmt: skip
NEGATED = frozenset({NE, NOT_LIKE, NOT_CONTAINS, NOT_IN})


def _multifield_clause(
    table: Table, entity: Entity, cond: Condition, tz: dt.tzinfo
) -> ColumnElement[bool]:
    """``id IN (owners of a matching value)``, negated for the "not" operators."""
    if cond.op not in POSITIVE:
        raise InvalidFilter.bad_value(cond.label or cond.field)
    spec = Queryable(cond.field, "string", multifields.c.value, likeable=False, nullable=False)
    matched = compile_condition(spec, Condition(cond.field, POSITIVE[cond.op], cond.value,
                                                cond.label or cond.field), tz)  # fmt: skip
    owners = select(multifields.c.entity_id).where(
        multifields.c.entity_type == entity.code, multifields.c.type_id == cond.field, matched
    )
    clause = table.c.id.in_(owners)
    return not_(clause) if cond.op in NEGATED else clause


def _source(entity: Entity, conditions: Sequence[Condition], tz: dt.tzinfo) -> FromClause:
    """The table, joined to the ids its multi-field conditions allow (if any)."""
    table = TABLES[entity.code]
    if not conditions:
        return table
    clauses = [_multifield_clause(table, entity, cond, tz) for cond in conditions]
    allowed = select(table.c.id.label("allowed_id")).where(*clauses).subquery("allowed")
    return table.join(allowed, table.c.id == allowed.c.allowed_id)


async def list_page(
    conn: AsyncConnection,
    entity: Entity,
    query: ListQuery,
    tz: dt.tzinfo,
    restrict: ColumnElement[bool] | None = None,
) -> Page:
    """One page of a list. Multi-field conditions apply at the top level of the filter
    (``crm.contact.list`` has no ``logic``); inside a sub-filter they are refused.
    ``restrict`` is the caller's permission predicate."""
    multi: list[Condition] = []
    rest: list[Condition | Group] = []
    for cond in query.conditions:
        if isinstance(cond, Condition) and cond.field in MULTI_NAMES:
            multi.append(cond)
        else:
            rest.append(cond)
    scoped = replace(query, conditions=rest)
    source = _source(entity, multi, tz)
    return await fetch_page(conn, source, QUERYABLE[entity.code], scoped, tz, restrict=restrict)
