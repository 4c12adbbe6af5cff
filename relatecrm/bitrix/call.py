"""What a Bitrix method handler receives, and the method-table entry type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.service import Principal
from relatecrm.context import Context


@dataclass(frozen=True)
class Call:
    """One method call: its parameters, its transaction, its caller and its page start."""

    params: dict[str, Any]
    conn: AsyncConnection
    principal: Principal
    ctx: Context
    start: int


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    """A method-table entry: the handler, the scope it needs, and whether it writes."""

    handler: Handler
    scope: str = "crm"
    write: bool = False
