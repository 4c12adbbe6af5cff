"""The only way domain code emits an event: a row in the caller's transaction.

The same transaction fans the event out: one ``deliveries`` row per enabled online
handler of that event, one offline-queue record per application with an offline
binding. So an event that committed is already queued for everyone subscribed at that
moment, and a crash at any later point loses nothing (reliability §1.3).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.events import offline
from relatecrm.events.models import deliveries, event_handlers, outbox

PENDING = "pending"


def entity_key(entity_type: str, entity_id: int) -> str:
    return f"{entity_type}:{entity_id}"


def lane(url: str, key: str) -> str:
    """What deliveries are ordered by: one receiver URL's events of one object. Per URL,
    not per binding: Bitrix makes one binding per event, and a receiver of a deal's add
    and update at one URL must not see the update first."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:16] + ":" + key


async def record(
    conn: AsyncConnection,
    event: str,
    *,
    entity_type: str,
    entity_id: int,
    payload: dict[str, Any],
    now: dt.datetime,
    user_id: int | None = None,
) -> int:
    """Queue ``event`` for delivery; it commits or rolls back with the change itself.
    Returns the outbox id."""
    result = await conn.execute(
        outbox.insert().values(
            event=event,
            entity_type=entity_type,
            entity_id=entity_id,
            payload=payload,
            created_at=now,
            user_id=user_id,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    event_id = int(key[0])
    await fan_out(
        conn,
        event_id,
        event,
        entity_type=entity_type,
        entity_id=entity_id,
        payload=payload,
        now=now,
        user_id=user_id,
    )
    return event_id


async def fan_out(
    conn: AsyncConnection,
    event_id: int,
    event: str,
    *,
    entity_type: str,
    entity_id: int,
    payload: dict[str, Any],
    now: dt.datetime,
    user_id: int | None = None,
) -> None:
    """Queue one event for the handlers bound to it now (one indexed read if none)."""
    bound = await conn.execute(
        select(
            event_handlers.c.id,
            event_handlers.c.event_type,
            event_handlers.c.app_id,
            event_handlers.c.handler,
        )
        .where(event_handlers.c.event == event.upper(), event_handlers.c.disabled_at.is_(None))
        .order_by(event_handlers.c.id)
    )
    online: list[dict[str, Any]] = []
    key = entity_key(entity_type, entity_id)
    for handler_id, event_type, app_id, url in bound:
        if event_type == "offline":
            if app_id is not None:
                await offline.enqueue(
                    conn,
                    app_id=int(app_id),
                    handler_id=int(handler_id),
                    event=event,
                    outbox_row={
                        "event": event,
                        "entity_id": entity_id,
                        "payload": payload,
                        "user_id": user_id,
                    },
                    now=now,
                )
            continue
        online.append(
            {
                "outbox_id": event_id,
                "handler_id": handler_id,
                "entity_key": key,
                "lane": lane(str(url), key),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if online:
        await conn.execute(insert(deliveries), online)
