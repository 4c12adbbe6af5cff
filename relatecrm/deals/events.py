"""The deal events (spec deals §7.1): one outbox row each, in the change's own transaction.

Shared by ``deals.service`` and ``deals.links`` so that a link change and a field change
tell subscribers the same thing in the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.context import Context
from relatecrm.events import outbox

ENTITY = "deal"


async def record(
    conn: AsyncConnection,
    ctx: Context,
    event: str,
    deal_id: int,
    extra: Mapping[str, Any] | None = None,
) -> None:
    await outbox.record(
        conn,
        event,
        entity_type=ENTITY,
        entity_id=deal_id,
        payload={"FIELDS": {"ID": deal_id, **(extra or {})}},
        now=ctx.now,
        user_id=ctx.user_id,
    )
