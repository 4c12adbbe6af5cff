"""``event.bind``, ``event.unbind``, ``event.get`` and ``events`` (protocol spec §6.1).

Scope ``basic``, and only in an application (OAuth) context: a webhook caller gets 403
``WRONG_AUTH_TYPE``, as in Bitrix. Administrators register outgoing webhooks with
``relatecrm hook create`` instead. Bitrix reads these methods' parameters after
upper-casing every key (``event``, ``EVENT``, ``Event``); event names are any letter case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relatecrm.accounts.oauth import AppPrincipal
from relatecrm.accounts.service import user_exists
from relatecrm.bitrix.call import Call
from relatecrm.bitrix.errors import (
    ArgumentError,
    EventAccessDenied,
    EventNotFound,
    HandlerAlreadyExists,
    WrongAuthType,
    WrongHandlerUrl,
)
from relatecrm.bitrix.filters import ascii_upper
from relatecrm.config import Settings
from relatecrm.events import handlers

BIND_AUTH_TYPE_DENIED = (
    "Access denied! Event binding with AUTH_TYPE requires administrator access rights"
)
BIND_OFFLINE_DENIED = "Access denied! Offline events binding requires administrator access rights"
UNBIND_AUTH_TYPE_DENIED = (
    "Access denied! Event unbinding with AUTH_TYPE requires administrator access rights"
)
UNBIND_OFFLINE_DENIED = (
    "Access denied! Offline events unbinding requires administrator access rights"
)
FALSE_WORDS = frozenset({"", "0", "false", "n", "no", "off"})


def _param(params: Mapping[str, Any], name: str) -> Any:
    """PHP ``array_change_key_case(CASE_UPPER)``: any spelling, the last one wins."""
    found = None
    for key, value in params.items():
        if isinstance(key, str) and ascii_upper(key) == name:
            found = value
    return found


def _app(call: Call) -> AppPrincipal:
    if not isinstance(call.principal, AppPrincipal):
        raise WrongAuthType()
    return call.principal


def _event(params: Mapping[str, Any]) -> str:
    name = _param(params, "EVENT")
    if not isinstance(name, str):
        raise EventNotFound()
    try:
        return handlers.known_event(name)
    except handlers.EventNotFound:
        raise EventNotFound() from None


def _event_type(params: Mapping[str, Any]) -> str:
    value = _param(params, "EVENT_TYPE")
    if value is None or value == "":
        return handlers.ONLINE
    if isinstance(value, str) and value.strip().lower() in (handlers.ONLINE, handlers.OFFLINE):
        return value.strip().lower()
    raise ArgumentError("EVENT_TYPE must be online or offline.", "EVENT_TYPE")


def _auth_type(params: Mapping[str, Any]) -> int | None:
    """A user id, or None for 0 / empty (act as whoever made the change)."""
    value = _param(params, "AUTH_TYPE")
    if value is None or value == "" or value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ArgumentError("AUTH_TYPE must be a user ID.", "AUTH_TYPE")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise ArgumentError("AUTH_TYPE must be a user ID.", "AUTH_TYPE")
    number = int(text)
    return number or None


def _handler(params: Mapping[str, Any]) -> str:
    value = _param(params, "HANDLER")
    if not isinstance(value, str) or not value.strip():
        raise ArgumentError("Argument 'HANDLER' is null or empty", "HANDLER")
    return value.strip()


async def bind(call: Call) -> bool:
    """Bind the app's handler to an event; ``true``. ``options`` is accepted and ignored
    (its ``minTimeout`` paces ONOFFLINEEVENT, which RelateCRM does not send).

    ``event_type=offline`` (administrators only) needs no ``handler``: as in Bitrix, the
    handler and ``auth_type`` are dropped, and the app's changes go to its queue
    (``event.offline.*``) instead of being posted.
    """
    principal = _app(call)
    params = call.params
    event = _event(params)
    event_type = _event_type(params)
    auth_type = _auth_type(params)
    if event_type == handlers.OFFLINE:
        if not principal.is_admin:
            raise EventAccessDenied(BIND_OFFLINE_DENIED)
        handler, auth_type = "", None
    else:
        if auth_type is not None and auth_type != principal.user_id and not principal.is_admin:
            raise EventAccessDenied(BIND_AUTH_TYPE_DENIED)
        handler = _handler(params)
        if auth_type is not None and not await user_exists(call.conn, auth_type):
            raise ArgumentError(f"User {auth_type} not found.", "AUTH_TYPE")
    by = handlers.Binding(user_id=principal.user_id, app_id=principal.app_id)
    try:
        await handlers.bind(
            call.conn,
            by,
            event=event,
            handler=handler,
            event_type=event_type,
            auth_type=auth_type,
            now=call.ctx.now,
            networks=(call.settings or Settings()).allowed_networks(),
        )
    except handlers.HandlerExists:
        raise HandlerAlreadyExists() from None
    except handlers.WrongHandlerUrl as error:
        raise WrongHandlerUrl(error.message) from None
    return True


async def unbind(call: Call) -> dict[str, int]:
    """Remove the app's bindings of ``event`` at ``handler``: ``{"count": n}``.

    ``auth_type`` left out matches any; 0 or empty matches bindings without one.
    Non-administrators remove only what they bound themselves.
    """
    principal = _app(call)
    params = call.params
    event = _event(params)
    event_type = _event_type(params)
    given = _param(params, "AUTH_TYPE") is not None
    auth_type = _auth_type(params)
    if not principal.is_admin:
        if event_type == handlers.OFFLINE:
            raise EventAccessDenied(UNBIND_OFFLINE_DENIED)
        if auth_type is not None and auth_type != principal.user_id:
            raise EventAccessDenied(UNBIND_AUTH_TYPE_DENIED)
    handler = _handler(params) if event_type == handlers.ONLINE else None
    count = await handlers.unbind(
        call.conn,
        app_id=principal.app_id,
        event=event,
        handler=handler,
        event_type=event_type,
        auth_type=auth_type if given else False,
        user_id=None if principal.is_admin else principal.user_id,
    )
    return {"count": count}


async def get(call: Call) -> list[dict[str, Any]]:
    """The app's bindings (a non-administrator's own only), in the docs' shape:
    ``auth_type`` a string ("0" for none), ``offline`` an int; an offline binding, as in
    Bitrix's ``eventGet``, shows ``connector_id`` instead of ``handler`` and ``auth_type``."""
    principal = _app(call)
    rows = await handlers.list_handlers(
        call.conn,
        app_id=principal.app_id,
        user_id=None if principal.is_admin else principal.user_id,
        apps=True,
    )
    return [
        {"event": row.event, "connector_id": "", "offline": 1}
        if row.event_type == handlers.OFFLINE
        else {
            "event": row.event,
            "handler": row.handler,
            "auth_type": str(row.auth_type or 0),
            "offline": 0,
        }
        for row in rows
    ]


def _switch(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


async def events(call: Call) -> list[str]:
    """Upper-case names of the events RelateCRM emits: those of ``SCOPE``, all with
    ``FULL``, else those of the caller's scopes (``SCOPE`` wins, as in Bitrix)."""
    _app(call)
    wanted = _param(call.params, "SCOPE")
    if wanted is not None:
        if not isinstance(wanted, str):
            return []
        code = wanted.strip().lower()
        return [name for name, scope in handlers.EVENT_SCOPES.items() if scope == code]
    if _switch(_param(call.params, "FULL")):
        return list(handlers.EVENT_SCOPES)
    granted = call.principal.scopes
    return [name for name, scope in handlers.EVENT_SCOPES.items() if scope in granted]
