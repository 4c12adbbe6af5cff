"""The one gate of single-deal methods: the deal exists and the caller may act on it.

Deal methods, product rows and contact links all reach a deal by id through here, so
the permission rule (accounts/permissions.py) is applied the same way everywhere: no
right for the action at all is "Access denied" before anything is looked up; a deal
that does not exist is "Not found"; a deal outside the caller's "own" is "Access
denied" (Bitrix's answer for a record the user may not touch, deals spec §1.7).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.permissions import DEAL
from relatecrm.context import Context
from relatecrm.deals import repository
from relatecrm.errors import NotFound

ASSIGNED = "ASSIGNED_BY_ID"


async def deal(
    conn: AsyncConnection,
    ctx: Context,
    deal_id: int,
    action: str,
    names: Sequence[str] = ("ID",),
    *,
    for_update: bool = False,
) -> dict[str, Any]:
    """The deal's ``names`` (and ASSIGNED_BY_ID) once ``action`` on it is allowed."""
    ctx.rights.require(DEAL, action)
    wanted = list(names) if ASSIGNED in names else [*names, ASSIGNED]
    found = await repository.fetch(conn, deal_id, wanted, for_update=for_update)
    if found is None:
        raise NotFound()
    ctx.rights.check(DEAL, action, found[ASSIGNED])
    return found
