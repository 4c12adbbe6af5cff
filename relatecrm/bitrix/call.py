"""What a Bitrix method handler receives, and the method-table entry type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.service import Principal
from relatecrm.config import Settings
from relatecrm.context import Context


@dataclass(frozen=True)
class Call:
    """One method call: its parameters, its transaction, its caller and its page start."""

    params: dict[str, Any]
    conn: AsyncConnection
    principal: Principal
    ctx: Context
    start: int
    # The server's settings, for the few methods that depend on them (event.bind's
    # allowed networks); None only where a handler is called outside a server.
    settings: Settings | None = None


Handler = Callable[[Call], Awaitable[Any]]


# Bitrix's global scope (``_global`` in its source, ``basic`` in its docs): batch, scope,
# methods, profile, server.time ... Any authenticated caller may call these (spec §7.1).
BASIC = "basic"


@dataclass(frozen=True)
class Method:
    """A method-table entry: the handler, the scope it needs, and whether it writes.

    ``also`` names further scopes that grant the method as well: Bitrix registers
    ``user.get`` under ``user``, ``user_brief`` and ``user_basic`` alike.
    """

    handler: Handler
    scope: str = "crm"
    write: bool = False
    also: tuple[str, ...] = ()

    @property
    def scopes(self) -> tuple[str, ...]:
        return (self.scope, *self.also)

    def available_to(self, granted: Collection[str]) -> bool:
        """Whether a caller holding ``granted`` may call it: the one scope check of the table.

        Bitrix skips the check for its global scope, so ``basic`` methods need no grant.
        """
        return self.scope == BASIC or any(scope in granted for scope in self.scopes)
