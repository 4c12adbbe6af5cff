"""The event-handler service (events/handlers.py) on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.db import transaction
from relatecrm.errors import NotFound
from relatecrm.events import handlers
from relatecrm.events.handlers import Binding
from relatecrm.events.models import event_handlers
from relatecrm.events.ssrf import parse_networks

URL = "https://93.184.215.14/h"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


async def test_outgoing_webhook_lifecycle(db: AsyncEngine) -> None:
    now = _now()
    async with transaction(db) as conn:
        first = await handlers.bind(
            conn, Binding(user_id=None), event="onCrmDealAdd", handler=URL, now=now
        )
        second = await handlers.bind(
            conn, Binding(user_id=None), event="ONCRMDEALUPDATE", handler=URL, now=now,
            application_token=first.application_token,
        )  # fmt: skip
    assert first.event == "ONCRMDEALADD" and first.event_type == handlers.ONLINE
    assert first.app_id is None and first.auth_type is None and first.disabled_at is None
    assert first.created_at == now and len(first.application_token) == 32
    assert second.application_token == first.application_token
    async with transaction(db) as conn:
        listed = await handlers.list_handlers(conn, apps=False)
        assert [h.id for h in listed] == [first.id, second.id]
        assert await handlers.list_handlers(conn, app_id=None, apps=True) == listed
        await handlers.delete_hook(conn, first.id)
        with pytest.raises(NotFound):
            await handlers.delete_hook(conn, first.id)
        assert [h.id for h in await handlers.list_handlers(conn, apps=False)] == [second.id]


async def test_separate_registrations_get_separate_tokens(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        a = await handlers.bind(conn, Binding(None), event="onCrmDealAdd", handler=URL, now=_now())
        b = await handlers.bind(
            conn, Binding(None), event="onCrmDealAdd", handler=URL + "2", now=_now()
        )
    assert a.application_token != b.application_token


async def test_refusals(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        with pytest.raises(handlers.EventNotFound):
            await handlers.bind(conn, Binding(None), event="onCrmLeadAdd", handler=URL, now=_now())
        with pytest.raises(handlers.WrongHandlerUrl):
            await handlers.bind(
                conn, Binding(None), event="onCrmDealAdd", handler="http://10.0.0.1/", now=_now()
            )
        allowed = await handlers.bind(
            conn, Binding(None), event="onCrmDealAdd", handler="http://10.0.0.1/", now=_now(),
            networks=parse_networks("10.0.0.0/8"),
        )  # fmt: skip
        assert allowed.handler == "http://10.0.0.1/"
        await handlers.bind(conn, Binding(None), event="onCrmDealAdd", handler=URL, now=_now())
        with pytest.raises(handlers.HandlerExists):
            await handlers.bind(conn, Binding(None), event="oncrmdealadd", handler=URL, now=_now())


async def test_binding_a_disabled_handler_again_enables_it(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        made = await handlers.bind(
            conn, Binding(None), event="onCrmDealAdd", handler=URL, now=_now()
        )
        await conn.execute(
            update(event_handlers)
            .where(event_handlers.c.id == made.id)
            .values(disabled_at=_now(), disabled_reason="410 Gone")
        )
        again = await handlers.bind(
            conn, Binding(None), event="onCrmDealAdd", handler=URL, now=_now()
        )
    assert again.id == made.id and again.disabled_at is None and again.disabled_reason is None


def test_event_names() -> None:
    assert handlers.event_code(" onCrmDealAdd ") == "ONCRMDEALADD"
    assert handlers.known_event("oncrmdealmovetocategory") == "ONCRMDEALMOVETOCATEGORY"
    with pytest.raises(handlers.EventNotFound):
        handlers.known_event("onCrmDeal\u0131dd")  # dotless i must not fold to I
    assert all(name == name.upper() for name in handlers.EVENT_SCOPES)
