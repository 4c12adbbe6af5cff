"""The operating budget: seconds spent in one method by one credential, per window.

As Bitrix24 counts it: the window (10 minutes) is cut into slots (one minute each); a
slot expires one window after the first call recorded in it, and ``reset_at`` is when
the oldest live slot expires. Checking is a plain read, because the limit is soft by
design: the call that crosses it still runs, and only the next one is refused. Adding
is an atomic ``INSERT ... ON CONFLICT DO UPDATE SET seconds = seconds + ...``, so that
concurrent calls from several processes never lose each other's time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.limits.bucket import upsert
from relatecrm.limits.models import operating_usage

SLOTS_PER_WINDOW = 10


@dataclass(frozen=True)
class Usage:
    """What one method of one credential has used, as the ``time`` block reports it.

    ``seconds`` is the total over the live slots; ``reset_at`` is the Unix second at
    which the oldest of them expires (one window from now when there is none).
    """

    seconds: float
    reset_at: int


def idle(now: float, window: float) -> Usage:
    """The usage of a method nobody has called within the window."""
    return Usage(0.0, math.ceil(now + window))


async def usage(
    conn: AsyncConnection, credential: str, method: str, *, now: float, window: float
) -> Usage:
    u = operating_usage.c
    row = (
        await conn.execute(
            select(func.coalesce(func.sum(u.seconds), 0.0), func.min(u.first_at)).where(
                u.credential == credential, u.method == method, u.first_at > now - window
            )
        )
    ).one()
    total, oldest = row
    if oldest is None:
        return idle(now, window)
    return Usage(float(total), math.ceil(float(oldest) + window))


async def charge(
    conn: AsyncConnection,
    credential: str,
    method: str,
    seconds: float,
    *,
    now: float,
    window: float,
) -> None:
    """Add ``seconds`` of execution to the current slot, and drop the expired slots."""
    u = operating_usage.c
    await conn.execute(
        delete(operating_usage).where(
            u.credential == credential, u.method == method, u.first_at <= now - window
        )
    )
    slot = math.floor(now / (window / SLOTS_PER_WINDOW))
    insert = upsert(conn, operating_usage).values(
        credential=credential, method=method, slot=slot, first_at=now, seconds=seconds
    )
    await conn.execute(
        insert.on_conflict_do_update(
            index_elements=[u.credential, u.method, u.slot],
            set_={"seconds": u.seconds + insert.excluded.seconds},
        )
    )
