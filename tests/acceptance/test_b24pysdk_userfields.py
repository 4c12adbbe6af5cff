"""Custom fields through b24pysdk, unchanged: an enumeration field and a string field
are created, deals carry their values, and lists filter and sort on them."""

from __future__ import annotations

import pytest
from b24pysdk import Client

pytestmark = pytest.mark.acceptance

DEAL = 2


def test_enumeration_and_string_fields(client: Client) -> None:
    priority_id = client.crm.deal.userfield.add(
        {
            "FIELD_NAME": "PRIORITY",
            "USER_TYPE_ID": "enumeration",
            "LABEL": "Priority",
            "LIST": [
                {"VALUE": "High", "SORT": 10, "XML_ID": "high"},
                {"VALUE": "Low", "SORT": 20, "XML_ID": "low"},
            ],
        }
    ).result
    code_id = client.crm.deal.userfield.add(
        {"FIELD_NAME": "uf_crm_contract", "USER_TYPE_ID": "string", "LABEL": "Contract"}
    ).result
    assert isinstance(priority_id, int) and isinstance(code_id, int)

    priority = client.crm.deal.userfield.get(priority_id).result
    assert priority["FIELD_NAME"] == "UF_CRM_PRIORITY"
    items = {item["VALUE"]: int(item["ID"]) for item in priority["LIST"]}
    assert set(items) == {"High", "Low"}
    names = {row["FIELD_NAME"] for row in client.crm.deal.userfield.list().result}
    assert {"UF_CRM_PRIORITY", "UF_CRM_CONTRACT"} <= names

    deals = {
        title: client.crm.deal.add(
            fields={"TITLE": title, "UF_CRM_PRIORITY": items[level], "UF_CRM_CONTRACT": code}
        ).result
        for title, level, code in [
            ("Alpha", "High", "C-100"),
            ("Beta", "Low", "C-200"),
            ("Gamma", "High", "C-300"),
        ]
    }

    described = client.crm.deal.fields().result
    assert described["UF_CRM_PRIORITY"]["type"] == "enumeration"
    assert described["UF_CRM_PRIORITY"]["isDynamic"] is True
    assert {item["VALUE"] for item in described["UF_CRM_PRIORITY"]["items"]} == {"High", "Low"}

    deal = client.crm.deal.get(deals["Beta"]).result
    assert deal["UF_CRM_CONTRACT"] == "C-200"
    assert str(deal["UF_CRM_PRIORITY"]) == str(items["Low"])

    high = client.crm.deal.list(
        select=["ID", "TITLE", "UF_*"],
        filter={"UF_CRM_PRIORITY": items["High"]},
        order={"UF_CRM_CONTRACT": "DESC"},
    ).result
    assert [row["TITLE"] for row in high] == ["Gamma", "Alpha"]
    assert [row["UF_CRM_CONTRACT"] for row in high] == ["C-300", "C-100"]

    found = client.crm.deal.list(select=["ID"], filter={"%UF_CRM_CONTRACT": "200"}).result
    assert [int(row["ID"]) for row in found] == [deals["Beta"]]

    item = client.crm.item.get(DEAL, deals["Alpha"], use_original_uf_names=True).result["item"]
    assert item["UF_CRM_CONTRACT"] == "C-100"
