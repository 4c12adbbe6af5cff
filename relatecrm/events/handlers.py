"""Event handlers: who wants which event at which URL (spec §6.1, §6.3).

Bindings come from two places: OAuth applications calling ``event.bind`` and
administrators registering outgoing webhooks with ``relatecrm hook create``. Both end up
as ``event_handlers`` rows; the delivery worker (``events.worker``) reads them. Handler
URLs pass the SSRF guard (``events.ssrf``) here, at registration, and again at delivery.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.errors import CrmError, NotFound
from relatecrm.events import signing, ssrf
from relatecrm.events.models import event_handlers

ONLINE = "online"
OFFLINE = "offline"

# Every event RelateCRM records in its outbox (grep ``outbox.record``), in Bitrix's
# camelCase; names are compared upper-cased. Each belongs to the ``crm`` scope.
EVENTS: tuple[str, ...] = (
    "onCrmDealAdd",
    "onCrmDealUpdate",
    "onCrmDealDelete",
    "onCrmDealMoveToCategory",
    "onCrmDealUserFieldAdd",
    "onCrmDealUserFieldUpdate",
    "onCrmDealUserFieldDelete",
    "onCrmDealUserFieldSetEnumValues",
    "onCrmContactAdd",
    "onCrmContactUpdate",
    "onCrmContactDelete",
    "onCrmCompanyAdd",
    "onCrmCompanyUpdate",
    "onCrmCompanyDelete",
    "onCrmProductAdd",
    "onCrmProductUpdate",
    "onCrmProductDelete",
)
EVENT_SCOPES: dict[str, str] = {name.upper(): "crm" for name in EVENTS}


class EventNotFound(CrmError):
    """Event not found"""


class HandlerExists(CrmError):
    """Handler already exists!"""


class WrongHandlerUrl(CrmError):
    """Wrong handler URL"""


@dataclass(frozen=True)
class Binding:
    """Who binds: the user, and the app or webhook the call came through."""

    user_id: int | None
    app_id: int | None = None
    webhook_id: int | None = None


@dataclass(frozen=True)
class Handler:
    id: int
    event: str
    handler: str
    event_type: str
    auth_type: int | None
    user_id: int | None
    app_id: int | None
    webhook_id: int | None
    application_token: str
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    secret: str | None
    failing_since: dt.datetime | None


def event_code(name: str) -> str:
    """The stored spelling of an event name: upper case, ASCII only (``ONCRMDEALADD``)."""
    return name.strip().upper() if name.isascii() else name


def known_event(name: str) -> str:
    """``name`` upper-cased if RelateCRM emits it; else ``EventNotFound``."""
    code = event_code(name)
    if code not in EVENT_SCOPES:
        raise EventNotFound()
    return code


async def check_handler(url: str, networks: Sequence[ssrf.IPNetwork]) -> None:
    try:
        await ssrf.check_url(url, networks)
    except ssrf.UnsafeUrl as error:
        raise WrongHandlerUrl(f"Wrong handler URL: {error}") from None


def new_token() -> str:
    return secrets.token_hex(16)


def _row(row: object) -> Handler:
    return Handler(**{name: getattr(row, name) for name in Handler.__dataclass_fields__})


async def _token_for(conn: AsyncConnection, by: Binding) -> str:
    """An app keeps one application_token for all its bindings, as a Bitrix app has one."""
    if by.app_id is not None:
        found = await conn.scalar(
            select(event_handlers.c.application_token)
            .where(event_handlers.c.app_id == by.app_id)
            .order_by(event_handlers.c.id)
            .limit(1)
        )
        if found:
            return str(found)
    return new_token()


async def bind(
    conn: AsyncConnection,
    by: Binding,
    *,
    event: str,
    handler: str,
    now: dt.datetime,
    networks: Sequence[ssrf.IPNetwork] = (),
    event_type: str = ONLINE,
    auth_type: int | None = None,
    application_token: str | None = None,
    secret: str | None = None,
) -> Handler:
    """Store a binding; the event must exist, the URL must be safe, and it must be new.

    Binding again what the worker disabled turns it back on instead of failing.
    """
    code = known_event(event)
    if event_type != OFFLINE:  # an offline binding has no URL (handler "")
        await check_handler(handler, networks)
    same = event_handlers.select().where(
        event_handlers.c.event == code,
        event_handlers.c.handler == handler,
        event_handlers.c.event_type == event_type,
        _is(event_handlers.c.app_id, by.app_id),
        _is(event_handlers.c.auth_type, auth_type),
    )
    if by.app_id is None:
        same = same.where(_is(event_handlers.c.webhook_id, by.webhook_id))
    existing = (await conn.execute(same)).first()
    if existing is not None:
        if existing.disabled_at is None:
            raise HandlerExists()
        await conn.execute(
            update(event_handlers)
            .where(event_handlers.c.id == existing.id)
            .values(disabled_at=None, disabled_reason=None, failing_since=None)
        )
        return await get(conn, int(existing.id))
    values = {
        "event": code,
        "handler": handler,
        "event_type": event_type,
        "auth_type": auth_type,
        "user_id": by.user_id,
        "app_id": by.app_id,
        "webhook_id": by.webhook_id,
        "application_token": application_token or await _token_for(conn, by),
        "secret": secret or signing.new_secret(),
        "created_at": now,
    }
    result = await conn.execute(event_handlers.insert().values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return await get(conn, int(key[0]))


def _is(column: ColumnElement[Any], value: object) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


async def get(conn: AsyncConnection, handler_id: int) -> Handler:
    row = (
        await conn.execute(event_handlers.select().where(event_handlers.c.id == handler_id))
    ).first()
    if row is None:
        raise NotFound(f"Handler {handler_id} not found.")
    return _row(row)


async def list_handlers(
    conn: AsyncConnection, *, app_id: int | None = None, user_id: int | None = None, apps: bool
) -> list[Handler]:
    """Handlers in id order: one app's (``apps`` true), or the outgoing webhooks (false);
    ``user_id`` narrows to what that user bound."""
    query = event_handlers.select().order_by(event_handlers.c.id)
    if apps:
        query = query.where(_is(event_handlers.c.app_id, app_id))
    else:
        query = query.where(event_handlers.c.app_id.is_(None))
    if user_id is not None:
        query = query.where(event_handlers.c.user_id == user_id)
    return [_row(row) for row in await conn.execute(query)]


async def unbind(
    conn: AsyncConnection,
    *,
    app_id: int,
    event: str,
    handler: str | None,
    event_type: str = ONLINE,
    auth_type: int | None | bool = False,
    user_id: int | None = None,
) -> int:
    """Remove an app's matching bindings; how many. ``auth_type`` False: any auth_type;
    ``handler`` None: any handler; ``user_id``: only that user's bindings."""
    query = delete(event_handlers).where(
        event_handlers.c.app_id == app_id,
        event_handlers.c.event == event_code(event),
        event_handlers.c.event_type == event_type,
    )
    if handler is not None:
        query = query.where(event_handlers.c.handler == handler)
    if auth_type is not False:
        query = query.where(_is(event_handlers.c.auth_type, auth_type))
    if user_id is not None:
        query = query.where(event_handlers.c.user_id == user_id)
    result = await conn.execute(query)
    return int(result.rowcount or 0)


async def delete_hook(conn: AsyncConnection, handler_id: int) -> None:
    """Delete an outgoing webhook (an app's bindings are the app's to remove)."""
    result = await conn.execute(
        delete(event_handlers).where(
            event_handlers.c.id == handler_id, event_handlers.c.app_id.is_(None)
        )
    )
    if not result.rowcount:
        raise NotFound(f"Outgoing webhook {handler_id} not found.")
