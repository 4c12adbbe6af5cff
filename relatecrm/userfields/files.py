"""Files of ``file`` custom fields: stored in the database, served by a download link.

Placeholder signatures; the implementation is in progress.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


async def store(conn: AsyncConnection, *, name: str, content: bytes, now: dt.datetime) -> int:
    """Keep an uploaded file; its id is what the deal value stores."""
    raise NotImplementedError


async def links(conn: AsyncConnection, file_ids: list[int]) -> dict[int, dict[str, Any]]:
    """``{id: {"id": id, "showUrl": path, "downloadUrl": path}}`` for the files that exist."""
    raise NotImplementedError


async def delete(conn: AsyncConnection, file_ids: list[int]) -> None:
    """Forget files no value refers to any more."""
    raise NotImplementedError
