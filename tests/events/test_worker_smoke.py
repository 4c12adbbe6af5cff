"""A first end-to-end check: a deal change reaches an outgoing webhook, signed."""

from __future__ import annotations

import urllib.parse

from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.events import signing
from tests.conftest import RestClient
from tests.events.conftest import add_hook, delivery_settings, running_worker
from tests.events.receiver import Receiver


async def test_deal_add_is_delivered_signed(db: AsyncEngine, rest: RestClient) -> None:
    async with Receiver() as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": "x"}})).result
        async with running_worker(db, delivery_settings(db)):
            got = await receiver.wait_for(1)
    assert len(got) == 1
    fields = dict(urllib.parse.parse_qsl(got[0].body.decode()))
    assert fields["event"] == "ONCRMDEALADD"
    assert fields["data[FIELDS][ID]"] == str(deal_id)
    assert fields["event_handler_id"] == str(hook.id)
    assert hook.secret
    signing.verify(hook.secret, got[0].body, got[0].headers)
