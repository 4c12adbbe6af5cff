"""Clients and goods through b24pysdk, unchanged: a company, contacts, products, a deal
linked to them, its product rows, and the amount and links read back.

b24pysdk has no ``crm.product`` scope (it models the newer ``catalog.product.*``), so
products are created with its generic ``call_method``, as its users would.
"""

from __future__ import annotations

from typing import Any

import pytest
from b24pysdk import Client

pytestmark = pytest.mark.acceptance

DEAL = 2


def _product(client: Client, fields: dict[str, Any]) -> int:
    reply = client.get_token().call_method("crm.product.add", {"fields": fields})
    product_id = reply["result"]
    assert isinstance(product_id, int) and product_id > 0
    return product_id


def test_deal_with_company_contacts_and_product_rows(client: Client) -> None:
    company = client.crm.company.add(fields={"TITLE": "Acme Ltd"}).result
    anna = client.crm.contact.add(fields={"NAME": "Anna", "LAST_NAME": "Smith"}).result
    boris = client.crm.contact.add(
        fields={"NAME": "Boris", "PHONE": [{"VALUE": "+15550100", "VALUE_TYPE": "WORK"}]}
    ).result
    chairs = _product(
        client, {"NAME": "Office chair", "PRICE": 1000, "CURRENCY_ID": "USD", "MEASURE": 5}
    )
    cloth = _product(client, {"NAME": "Upholstery cloth", "PRICE": 500, "MEASURE": 4})

    deal_id = client.crm.deal.add(
        fields={"TITLE": "Furnish the office", "COMPANY_ID": company, "CONTACT_IDS": [anna]}
    ).result
    assert client.crm.deal.contact.add(deal_id, {"CONTACT_ID": boris, "IS_PRIMARY": "Y"}).result
    # The seed's crm.deal.productrows.set example, naming our two catalog products.
    rows = [
        {"PRODUCT_ID": chairs, "PRICE": 1000, "QUANTITY": 10, "DISCOUNT_TYPE_ID": 1,
         "DISCOUNT_SUM": 100, "TAX_RATE": 13, "SORT": 10},
        {"PRODUCT_ID": cloth, "PRICE": 500, "QUANTITY": 5, "DISCOUNT_TYPE_ID": 2,
         "DISCOUNT_RATE": 10, "TAX_RATE": 10, "SORT": 20},
    ]  # fmt: skip
    assert client.crm.deal.productrows.set(deal_id, rows).result is True

    deal = client.crm.deal.get(deal_id).result
    assert (deal["OPPORTUNITY"], deal["TAX_VALUE"]) == ("12500.00", "1377.72")
    assert (deal["COMPANY_ID"], deal["CONTACT_ID"]) == (str(company), str(boris))

    links = client.crm.deal.contact.items.get(deal_id).result
    assert [(link["CONTACT_ID"], link["IS_PRIMARY"]) for link in links] == [
        (anna, "N"),
        (boris, "Y"),
    ]

    stored = client.crm.deal.productrows.get(deal_id).result
    assert [row["PRODUCT_NAME"] for row in stored] == ["Office chair", "Upholstery cloth"]
    assert [(row["MEASURE_CODE"], row["MEASURE_NAME"]) for row in stored] == [
        (796, "pcs"),
        (166, "kg"),
    ]
    assert [row["PRICE_EXCLUSIVE"] for row in stored] == [884.96, 454.55]
    assert [row["PRICE_NETTO"] for row in stored] == [984.96, 505.05]
    assert [row["OWNER_ID"] for row in stored] == [str(deal_id)] * 2

    item = client.crm.item.get(DEAL, deal_id).result["item"]
    assert (item["opportunity"], item["taxValue"]) == (12500, 1377.72)
    assert (item["companyId"], sorted(item["contactIds"])) == (company, sorted([anna, boris]))

    listed = client.crm.item.productrow.list(
        filter={"=ownerType": "D", "=ownerId": deal_id}
    ).result["productRows"]
    assert [row["productId"] for row in listed] == [chairs, cloth]

    found = client.crm.item.list(DEAL, filter={"contactIds": [anna]}).result["items"]
    assert [row["id"] for row in found] == [deal_id]
