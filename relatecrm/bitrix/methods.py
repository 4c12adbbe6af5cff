"""The method table: every Bitrix method RelateCRM answers, in one literal dict.

Look-ups are case-insensitive (b24pysdk sends ``crm.deal.List``); ``docs/compatibility.md``
is kept in step with this table by a test.
"""

from __future__ import annotations

from relatecrm.bitrix import deal, item, stagehistory
from relatecrm.bitrix.call import Method

METHODS: dict[str, Method] = {
    "crm.deal.add": Method(deal.add, write=True),
    "crm.deal.update": Method(deal.update, write=True),
    "crm.deal.get": Method(deal.get),
    "crm.deal.list": Method(deal.list_),
    "crm.deal.delete": Method(deal.delete, write=True),
    "crm.deal.fields": Method(deal.fields),
    "crm.item.add": Method(item.add, write=True),
    "crm.item.update": Method(item.update, write=True),
    "crm.item.get": Method(item.get),
    "crm.item.list": Method(item.list_),
    "crm.item.delete": Method(item.delete, write=True),
    "crm.item.fields": Method(item.fields),
    "crm.stagehistory.list": Method(stagehistory.list_),
}


def find_method(name: str) -> Method | None:
    return METHODS.get(name.strip().lower())
