"""Bitrix's offline event queue (spec §6.1): records an application pulls itself.

An application bound with ``event_type=offline`` gets no POSTs; each change is written to
``offline_events`` in the change's own transaction (``outbox.fan_out``), and the
application pulls the queue with ``event.offline.get`` (``bitrix/offline.py``).

The queue keeps the **latest state per object**, not a history: there is at most one
unreserved record (``process_id`` NULL) per (application, ``MESSAGE_ID``), and a new change
of the same object refreshes that record's ``TIMESTAMP_X`` instead of adding one. A record
already reserved by a ``clear=0`` get is left alone, so the new change becomes a new
unreserved record: the application still learns of a change made while it was working.

Concurrency: a get picks its records with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
parallel gets receive disjoint sets; on SQLite every write transaction is ``BEGIN
IMMEDIATE`` and gets run one after the other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.errors import InvalidFilter
from relatecrm.events.models import offline_events
from relatecrm.events.payload import event_data
from relatecrm.listing import (
    CONTAINS,
    EQ,
    GE,
    GT,
    IN,
    LE,
    LT,
    Condition,
    Group,
    ListQuery,
    Page,
    Queryable,
    compile_order,
    compile_where,
    escape_like,
    fetch_page,
)

T = offline_events

# Bitrix deletes a reserved batch its application never cleared after 30 days.
PROCESS_LIFETIME = dt.timedelta(days=30)
MESSAGE_ID_LENGTH = 32  # an md5 in hex, as Bitrix's
PROCESS_ID_ALPHABET = string.ascii_lowercase + string.digits
CHUNK = 500  # ids per IN (...): far below SQLite's and asyncpg's bound-parameter limits

_PROCESS = func.coalesce(T.c.process_id, "")


def _process_clause(cond: Condition, tz: dt.tzinfo) -> ColumnElement[bool]:
    """PROCESS_ID compared as text, so that "" (not NULL) means "outside any batch"."""
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    if not all(value is None or isinstance(value, str | int) for value in values):
        raise InvalidFilter.bad_value(cond.label or cond.field)
    texts = ["" if value is None else str(value) for value in values]
    if cond.op in (EQ, IN):
        return _PROCESS.in_(texts)
    if len(texts) != 1:
        raise InvalidFilter.bad_value(cond.label or cond.field)
    text = texts[0]
    if cond.op == CONTAINS:
        return _PROCESS.like("%" + escape_like(text) + "%", escape="\\")
    compare = {GT: _PROCESS > text, GE: _PROCESS >= text, LT: _PROCESS < text, LE: _PROCESS <= text}
    if cond.op not in compare:
        raise InvalidFilter.bad_value(cond.label or cond.field)
    return compare[cond.op]


# Filterable and sortable fields: event.offline.get takes the first four, .list all six.
FIELDS: dict[str, Queryable] = {
    "ID": Queryable("ID", "integer", T.c.id, likeable=False, nullable=False),
    "TIMESTAMP_X": Queryable(
        "TIMESTAMP_X", "datetime", T.c.timestamp_x, likeable=False, nullable=False
    ),
    "EVENT_NAME": Queryable("EVENT_NAME", "string", T.c.event_name, likeable=True, nullable=False),
    "MESSAGE_ID": Queryable("MESSAGE_ID", "string", T.c.message_id, likeable=True, nullable=False),
    # Bitrix stores an unreserved record's PROCESS_ID as "", and filters and shows it so.
    "PROCESS_ID": Queryable(
        "PROCESS_ID",
        "string",
        _PROCESS,
        likeable=True,
        nullable=False,
        clause=_process_clause,
        order_column=_PROCESS,
    ),
    "ERROR": Queryable("ERROR", "integer", T.c.error, likeable=False, nullable=False),
}
GET_FIELDS = ("ID", "TIMESTAMP_X", "EVENT_NAME", "MESSAGE_ID")
LIST_FIELDS = (*GET_FIELDS, "PROCESS_ID", "ERROR")
# event.offline.list's columns, in Bitrix's order.
LIST_SELECT = ("ID", "TIMESTAMP_X", "EVENT_NAME", "EVENT_DATA", "EVENT_ADDITIONAL",
               "MESSAGE_ID", "PROCESS_ID", "ERROR")  # fmt: skip
_SELECTABLE: dict[str, Queryable] = {
    **FIELDS,
    "EVENT_DATA": Queryable("EVENT_DATA", "string", T.c.event_data, likeable=False),
    "EVENT_ADDITIONAL": Queryable(
        "EVENT_ADDITIONAL", "string", T.c.event_additional, likeable=False
    ),
}


@dataclass(frozen=True)
class Record:
    """One queue record as event.offline.get returns it (rendering is the dialect's)."""

    id: int
    timestamp_x: dt.datetime
    event_name: str
    event_data: Any
    event_additional: Any
    message_id: str
    process_id: str | None
    error: int


def message_id(event: str, data: Mapping[str, Any]) -> str:
    """The record key: ``md5(EVENT_NAME + "|" + JSON(EVENT_DATA))``.

    That is Bitrix's own ``EventOfflineTable::getMessageId``. For CRM events the data is
    ``{"FIELDS": {"ID": ...}}``, so the key names the event and the object: every update
    of deal 7 has one key, its deletion another, and another deal yet another. Hashing the
    data rather than ``entity_type:entity_id`` keeps Bitrix's meaning for events whose data
    says more (``ONCRMDEALMOVETOCATEGORY`` to another funnel is a new fact, not a repeat).
    JSON as PHP's ``Json::encode`` writes it: compact, ASCII only, ``/`` escaped.
    """
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")
    return hashlib.md5(f"{event.upper()}|{text}".encode(), usedforsecurity=False).hexdigest()


def new_process_id() -> str:
    """32 random lower-case letters and digits, like Bitrix's ``Random::getString(32)``."""
    return "".join(secrets.choice(PROCESS_ID_ALPHABET) for _ in range(32))


async def enqueue(
    conn: AsyncConnection,
    *,
    app_id: int,
    handler_id: int,
    event: str,
    outbox_row: Mapping[str, Any],
    now: dt.datetime,
) -> None:
    """Record (or refresh) the app's queue record of this object.

    ``EVENT_DATA`` is what an online handler gets as ``data``; ``EVENT_ADDITIONAL`` is
    ``{"user_id": "<who made the change>"}`` ("0" without a user), as Bitrix shows it.
    An UPDATE first: on PostgreSQL it waits for a get that holds the record, and finds
    nothing if that get reserved it, so the change then becomes a new record.
    """
    name = event.upper()
    data = event_data({**outbox_row, "event": name})
    additional = {"user_id": str(outbox_row.get("user_id") or 0)}
    key = message_id(name, data)
    refreshed = await conn.execute(
        update(T)
        .where(T.c.app_id == app_id, T.c.message_id == key, T.c.process_id.is_(None))
        .values(
            timestamp_x=now, event_data=data, event_additional=additional, handler_id=handler_id
        )
    )
    if refreshed.rowcount:
        return
    await conn.execute(
        insert(T).values(
            app_id=app_id,
            handler_id=handler_id,
            event_name=name,
            event_data=data,
            event_additional=additional,
            message_id=key,
            timestamp_x=now,
            process_id=None,
            error=0,
        )
    )


def _record(row: Any) -> Record:
    return Record(
        id=int(row.id),
        timestamp_x=row.timestamp_x,
        event_name=str(row.event_name),
        event_data=row.event_data,
        event_additional=row.event_additional,
        message_id=str(row.message_id),
        process_id=row.process_id,
        error=int(row.error),
    )


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


async def expire_reservations(conn: AsyncConnection, app_id: int, now: dt.datetime) -> None:
    """Forget batches reserved longer than :data:`PROCESS_LIFETIME` ago (Bitrix's agent)."""
    await conn.execute(
        delete(T).where(
            T.c.app_id == app_id,
            T.c.process_id.is_not(None),
            T.c.reserved_at < now - PROCESS_LIFETIME,
        )
    )


async def take(
    conn: AsyncConnection,
    *,
    app_id: int,
    conditions: Sequence[Condition | Group],
    order: Sequence[tuple[str, str]],
    limit: int,
    clear: bool,
    process_id: str | None,
    errors: bool,
    now: dt.datetime,
    tz: dt.tzinfo,
) -> tuple[str | None, list[Record]]:
    """event.offline.get: ``(process_id to report, records)``.

    Without ``process_id``: the first ``limit`` unreserved records matching the filter,
    locked with SKIP LOCKED so a parallel get takes others; ``clear`` deletes them,
    otherwise they are reserved under a new process id. With ``process_id``: that batch's
    records again, and ``clear`` then deletes the whole batch, as the docs say.
    ``errors`` picks the records marked by event.offline.error instead of the others.
    """
    where = and_(
        T.c.app_id == app_id,
        T.c.error == (1 if errors else 0),
        compile_where(FIELDS, conditions, tz),
    )
    terms = compile_order(FIELDS, order, "ID")
    if process_id is not None:
        stmt = select(T).where(where, T.c.process_id == process_id)
    else:
        await expire_reservations(conn, app_id, now)
        stmt = select(T).where(where, T.c.process_id.is_(None))
    stmt = stmt.order_by(*terms).limit(limit)
    if conn.dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=process_id is None)
    records = [_record(row) for row in await conn.execute(stmt)]
    ids = [record.id for record in records]
    if process_id is not None:
        if clear and records:
            await clear_batch(conn, app_id=app_id, process_id=process_id)
        return process_id, records
    if clear:
        for chunk in _chunks(ids):
            await conn.execute(delete(T).where(T.c.id.in_(chunk)))
        return None, records
    reserved = new_process_id()
    for chunk in _chunks(ids):
        await conn.execute(
            update(T).where(T.c.id.in_(chunk)).values(process_id=reserved, reserved_at=now)
        )
    return reserved, records


async def list_page(
    conn: AsyncConnection,
    *,
    app_id: int,
    conditions: Sequence[Condition | Group],
    order: Sequence[tuple[str, str]],
    start: int,
    tz: dt.tzinfo,
) -> Page:
    """event.offline.list: one page of 50 in any state, changing nothing."""
    query = ListQuery(
        select=LIST_SELECT, conditions=conditions, order=order, start=start, round_start=False
    )
    return await fetch_page(
        conn, T, _SELECTABLE, query, tz, id_field="ID", restrict=T.c.app_id == app_id
    )


def _in_batch(app_id: int, process_id: str) -> ColumnElement[bool]:
    return and_(T.c.app_id == app_id, T.c.process_id == process_id)


async def clear_batch(
    conn: AsyncConnection,
    *,
    app_id: int,
    process_id: str,
    ids: Sequence[int] = (),
    message_ids: Sequence[str] = (),
) -> None:
    """Delete a batch's records: all, or those with these ids, or these MESSAGE_IDs."""
    if message_ids:
        for chunk in _chunks(list(message_ids)):
            await conn.execute(
                delete(T).where(_in_batch(app_id, process_id), T.c.message_id.in_(chunk))
            )
    elif ids:
        for chunk in _chunks(list(ids)):
            await conn.execute(delete(T).where(_in_batch(app_id, process_id), T.c.id.in_(chunk)))
    else:
        await conn.execute(delete(T).where(_in_batch(app_id, process_id)))


async def mark_error(
    conn: AsyncConnection, *, app_id: int, process_id: str, message_ids: Sequence[str]
) -> None:
    """Take these records out of the batch, back into the queue, marked ERROR=1.

    As in Bitrix, an erroneous record leaves its batch and waits for an ``error=1`` get.
    A change of the same object made meanwhile (an unreserved record with the same key)
    is folded into it, keeping the later TIMESTAMP_X: one unreserved record per key.
    """
    for chunk in _chunks(sorted(set(message_ids))):
        failed = (
            await conn.execute(
                select(T.c.id, T.c.message_id, T.c.timestamp_x).where(
                    _in_batch(app_id, process_id), T.c.message_id.in_(chunk), T.c.error == 0
                )
            )
        ).all()
        if not failed:
            continue
        keys = [row.message_id for row in failed]
        newer = {
            row.message_id: row.timestamp_x
            for row in await conn.execute(
                select(T.c.message_id, T.c.timestamp_x).where(
                    T.c.app_id == app_id, T.c.process_id.is_(None), T.c.message_id.in_(keys)
                )
            )
        }
        if newer:
            await conn.execute(
                delete(T).where(
                    T.c.app_id == app_id, T.c.process_id.is_(None), T.c.message_id.in_(keys)
                )
            )
        for row in failed:
            stamp = max(row.timestamp_x, newer.get(row.message_id, row.timestamp_x))
            await conn.execute(
                update(T)
                .where(T.c.id == row.id)
                .values(error=1, process_id=None, reserved_at=None, timestamp_x=stamp)
            )
