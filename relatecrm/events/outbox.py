"""The only way domain code emits an event: a row in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.events.models import outbox


async def record(
    conn: AsyncConnection,
    event: str,
    *,
    entity_type: str,
    entity_id: int,
    payload: dict[str, Any],
    now: dt.datetime,
) -> None:
    """Queue ``event`` for delivery; it commits or rolls back with the change itself."""
    await conn.execute(
        outbox.insert().values(
            event=event,
            entity_type=entity_type,
            entity_id=entity_id,
            payload=payload,
            created_at=now,
        )
    )
