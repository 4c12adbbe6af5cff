"""Bitrix's offline event queue (spec §6.1): records an application pulls itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


async def enqueue(
    conn: AsyncConnection,
    *,
    app_id: int,
    handler_id: int,
    event: str,
    outbox_row: Mapping[str, Any],
    now: dt.datetime,
) -> None:
    """Record (or refresh) the app's queue record of this object; built in issue 7."""
    raise NotImplementedError
