"""The method table: every Bitrix method RelateCRM answers, in one literal dict.

Look-ups are case-insensitive (b24pysdk sends ``crm.deal.List``); ``docs/compatibility.md``
is kept in step with this table by a test.
"""

from __future__ import annotations

from relatecrm.bitrix import category, company, contact, currency, deal, item, stagehistory, status
from relatecrm.bitrix.call import Method

METHODS: dict[str, Method] = {
    "crm.deal.add": Method(deal.add, write=True),
    "crm.deal.update": Method(deal.update, write=True),
    "crm.deal.get": Method(deal.get),
    "crm.deal.list": Method(deal.list_),
    "crm.deal.delete": Method(deal.delete, write=True),
    "crm.deal.fields": Method(deal.fields),
    "crm.contact.add": Method(contact.CONTACTS.add, write=True),
    "crm.contact.update": Method(contact.CONTACTS.update, write=True),
    "crm.contact.get": Method(contact.CONTACTS.get),
    "crm.contact.list": Method(contact.CONTACTS.list_),
    "crm.contact.delete": Method(contact.CONTACTS.delete, write=True),
    "crm.contact.fields": Method(contact.CONTACTS.fields),
    "crm.company.add": Method(company.COMPANIES.add, write=True),
    "crm.company.update": Method(company.COMPANIES.update, write=True),
    "crm.company.get": Method(company.COMPANIES.get),
    "crm.company.list": Method(company.COMPANIES.list_),
    "crm.company.delete": Method(company.COMPANIES.delete, write=True),
    "crm.company.fields": Method(company.COMPANIES.fields),
    "crm.item.add": Method(item.add, write=True),
    "crm.item.update": Method(item.update, write=True),
    "crm.item.get": Method(item.get),
    "crm.item.list": Method(item.list_),
    "crm.item.delete": Method(item.delete, write=True),
    "crm.item.fields": Method(item.fields),
    "crm.stagehistory.list": Method(stagehistory.list_),
    "crm.category.add": Method(category.add, write=True),
    "crm.category.update": Method(category.update, write=True),
    "crm.category.get": Method(category.get),
    "crm.category.list": Method(category.list_),
    "crm.category.delete": Method(category.delete, write=True),
    "crm.category.fields": Method(category.fields),
    "crm.status.add": Method(status.add, write=True),
    "crm.status.update": Method(status.update, write=True),
    "crm.status.get": Method(status.get),
    "crm.status.list": Method(status.list_),
    "crm.status.delete": Method(status.delete, write=True),
    "crm.status.fields": Method(status.fields),
    "crm.status.entity.types": Method(status.entity_types),
    "crm.status.entity.items": Method(status.entity_items),
    "crm.currency.list": Method(currency.list_),
    "crm.currency.get": Method(currency.get),
    "crm.currency.base.get": Method(currency.base_get),
}


def find_method(name: str) -> Method | None:
    return METHODS.get(name.strip().lower())
