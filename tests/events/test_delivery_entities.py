"""Every event the earlier issues record is delivered, not only the deal ones: contacts,
companies, products and deal custom fields, each with its own ``data``."""

from __future__ import annotations

import urllib.parse

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import RestClient
from tests.events.conftest import add_hook, delivery_settings, running_worker
from tests.events.receiver import Receiver

EVENTS = ("onCrmContactAdd", "onCrmCompanyUpdate", "onCrmProductDelete",
          "onCrmDealUserFieldAdd", "onCrmDealMoveToCategory")  # fmt: skip


async def test_every_recorded_entity_event_reaches_its_handler(
    db: AsyncEngine, rest: RestClient
) -> None:
    async with Receiver() as receiver:
        await add_hook(db, receiver.url, EVENTS)
        contact = (await rest.call("crm.contact.add", {"fields": {"NAME": "Ann"}})).result
        company = (await rest.call("crm.company.add", {"fields": {"TITLE": "Acme"}})).result
        await rest.call("crm.company.update", {"id": company, "fields": {"TITLE": "Acme 2"}})
        product = (await rest.call("crm.product.add", {"fields": {"NAME": "Pen"}})).result
        await rest.call("crm.product.delete", {"id": product})
        field = (
            await rest.call(
                "crm.deal.userfield.add",
                {"fields": {"FIELD_NAME": "COLOR", "USER_TYPE_ID": "string"}},
            )
        ).result
        async with running_worker(db, delivery_settings(db)):
            got = await receiver.wait_for(4)
    bodies = {}
    for request in got:
        fields = dict(urllib.parse.parse_qsl(request.body.decode()))
        bodies[fields["event"]] = fields
    assert sorted(bodies) == ["ONCRMCOMPANYUPDATE", "ONCRMCONTACTADD",
                              "ONCRMDEALUSERFIELDADD", "ONCRMPRODUCTDELETE"]  # fmt: skip
    assert len(got) == 4  # no deal moved: no onCrmDealMoveToCategory
    assert bodies["ONCRMCONTACTADD"]["data[FIELDS][ID]"] == str(contact)
    assert bodies["ONCRMCOMPANYUPDATE"]["data[FIELDS][ID]"] == str(company)
    assert bodies["ONCRMPRODUCTDELETE"]["data[FIELDS][ID]"] == str(product)
    userfield = bodies["ONCRMDEALUSERFIELDADD"]
    assert userfield["data[FIELDS][ID]"] == str(field)
    assert userfield["data[FIELDS][ENTITY_ID]"] == "CRM_DEAL"
    assert userfield["data[FIELDS][FIELD_NAME]"] == "UF_CRM_COLOR"
