"""A first end-to-end check: a deal change reaches an outgoing webhook, signed."""

from __future__ import annotations

import asyncio
import datetime as dt
import urllib.parse

from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.config import Settings
from relatecrm.db import transaction
from relatecrm.events import handlers, signing
from relatecrm.events.ssrf import parse_networks
from relatecrm.delivery.worker import Worker
from tests.conftest import RestClient
from tests.events.receiver import Receiver


async def test_deal_add_is_delivered_signed(db: AsyncEngine, rest: RestClient) -> None:
    async with Receiver() as receiver:
        async with transaction(db) as conn:
            hook = await handlers.bind(
                conn, handlers.Binding(user_id=None), event="onCrmDealAdd",
                handler=receiver.url, now=dt.datetime.now(dt.UTC),
                networks=parse_networks("127.0.0.1/32"),
            )  # fmt: skip
        deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": "x"}})).result
        settings = Settings(
            database_url=db.url.render_as_string(hide_password=False),
            webhook_allowed_networks="127.0.0.1/32",
            delivery_poll_interval=0.05,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(db, settings).run(stop))
        got = await receiver.wait_for(1)
        stop.set()
        await task
    assert len(got) == 1
    fields = dict(urllib.parse.parse_qsl(got[0].body.decode()))
    assert fields["event"] == "ONCRMDEALADD"
    assert fields["data[FIELDS][ID]"] == str(deal_id)
    assert fields["event_handler_id"] == str(hook.id)
    assert hook.secret
    signing.verify(hook.secret, got[0].body, got[0].headers)
