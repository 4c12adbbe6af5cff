"""crm.contact.* through the real app, as a client sees them (public crm.contact.* docs)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.bitrix.test_deal_methods import expected_descriptor
from tests.conftest import RestClient, count_rows

# name, type, flags (R read-only, M multiple, D deprecated, Q required), title, extra
EXPECTED_FIELDS = """
ID integer R ID
HONORIFIC crm_status - Salutation statusType=HONORIFIC
NAME string Q First_Name
SECOND_NAME string Q Middle_Name
LAST_NAME string Q Last_Name
BIRTHDATE date - Birthdate
TYPE_ID crm_status - Contact_Type statusType=CONTACT_TYPE
SOURCE_ID crm_status - Source statusType=SOURCE
SOURCE_DESCRIPTION string - Additional_Source_Info
POST string - Position
COMMENTS string - Comment
OPENED char - Available_to_all
EXPORT char - Participates_in_contact_export
HAS_PHONE char R Phone_set
HAS_EMAIL char R E-mail_set
HAS_IMOL char R Open_channel_set
ASSIGNED_BY_ID user - Responsible
CREATED_BY_ID user R Created_by
MODIFY_BY_ID user R Modified_by
DATE_CREATE datetime R Creation_Date
DATE_MODIFY datetime R Modification_Date
COMPANY_ID crm_company D Company
LEAD_ID crm_lead R Lead parent=1
ORIGINATOR_ID string - External_Source
ORIGIN_ID string - Identifier_in_External_Source
ORIGIN_VERSION string - Original_Version
UTM_SOURCE string - Advertising_System
UTM_MEDIUM string - Traffic_Type
UTM_CAMPAIGN string - Campaign_Identifier
UTM_CONTENT string - Campaign_Content
UTM_TERM string - Campaign_Search_Condition
LAST_ACTIVITY_TIME datetime R Last_Activity
LAST_ACTIVITY_BY user R Last_Activity_Author
PHONE crm_multifield M Phone
EMAIL crm_multifield M E-mail
WEB crm_multifield M Website
IM crm_multifield M Messenger
"""

# The crm.contact.add example of the docs, without PHOTO and COMPANY_ID(S); TYPE_ID and
# HONORIFIC are codes of lists RelateCRM does not hold rows of, so any code is kept.
DOCS_CONTACT = {
    "HONORIFIC": "HNR_RU_1", "NAME": "John", "SECOND_NAME": "Doe", "LAST_NAME": "Smith",
    "BIRTHDATE": "2001-11-11", "TYPE_ID": "PARTNER", "SOURCE_ID": "WEB",
    "SOURCE_DESCRIPTION": "*Additional information about the source*", "POST": "Administrator",
    "COMMENTS": "[B]Bold text[/B]", "OPENED": "Y", "EXPORT": "N", "ASSIGNED_BY_ID": 1,
    "UTM_SOURCE": "google", "UTM_MEDIUM": "CPC", "UTM_CAMPAIGN": "summer_sale",
    "UTM_CONTENT": "header_banner", "UTM_TERM": "discount",
    "PHONE": [{"VALUE": "+1333333555", "VALUE_TYPE": "WORK"},
              {"VALUE": "+15599888666", "VALUE_TYPE": "HOME"}],
    "EMAIL": [{"VALUE": "john.smith@example.mailing", "VALUE_TYPE": "MAILING"},
              {"VALUE": "john.smith@example.work", "VALUE_TYPE": "WORK"}],
    "UF_CRM_1720697698689": "ignored", "PARENT_ID_1224": 12,
}  # fmt: skip


async def test_fields_describe_the_contact(rest: RestClient) -> None:
    reply = await rest.call("crm.contact.fields")
    expected = {}
    for line in EXPECTED_FIELDS.strip().splitlines():
        name, descriptor = expected_descriptor(line)
        descriptor["isRequired"] = line.split()[2] == "Q"
        expected[name] = descriptor
    assert reply.result == expected
    assert list(reply.result) == list(expected)
    assert all(list(reply.result[n]) == list(d) for n, d in expected.items()), "key order"


async def test_add_get_renders_values_as_bitrix(rest: RestClient) -> None:
    contact_id = (await rest.call("crm.contact.add", {"FIELDS": DOCS_CONTACT})).result
    assert isinstance(contact_id, int)
    contact = (await rest.call("crm.contact.get", {"ID": contact_id})).result
    assert list(contact)[:8] == ["ID", "POST", "COMMENTS", "HONORIFIC", "NAME", "SECOND_NAME",
                                 "LAST_NAME", "LEAD_ID"]  # fmt: skip
    assert list(contact)[-3:] == ["LAST_ACTIVITY_BY", "PHONE", "EMAIL"]
    assert contact["ID"] == str(contact_id) and contact["ASSIGNED_BY_ID"] == "1"
    assert contact["HONORIFIC"] == "HNR_RU_1" and contact["TYPE_ID"] == "PARTNER"
    assert contact["BIRTHDATE"] == "2001-11-11T00:00:00+00:00"
    assert (contact["EXPORT"], contact["HAS_PHONE"], contact["HAS_EMAIL"]) == ("N", "Y", "Y")
    assert contact["LEAD_ID"] is None and contact["COMPANY_ID"] is None
    phone = contact["PHONE"][0]
    assert phone == {"ID": phone["ID"], "VALUE_TYPE": "WORK", "VALUE": "+1333333555",
                     "TYPE_ID": "PHONE"}  # fmt: skip
    assert isinstance(phone["ID"], str) and phone["ID"].isdigit()
    assert [e["VALUE_TYPE"] for e in contact["EMAIL"]] == ["MAILING", "WORK"]


async def test_form_encoded_multi_fields(rest: RestClient) -> None:
    form = (
        "fields[NAME]=Ann&fields[PHONE][0][VALUE]=%2B7+900&fields[PHONE][0][VALUE_TYPE]=MOBILE"
        "&fields[EMAIL][0][VALUE]=ann%40example.com"
    )
    contact_id = (await rest.call("crm.contact.add", form=form)).result
    contact = (await rest.call("crm.contact.get", form=f"id={contact_id}", get=True)).result
    assert [(p["VALUE_TYPE"], p["VALUE"]) for p in contact["PHONE"]] == [("MOBILE", "+7 900")]
    assert [(e["VALUE_TYPE"], e["VALUE"]) for e in contact["EMAIL"]] == [
        ("WORK", "ann@example.com")
    ]
    phone_id = contact["PHONE"][0]["ID"]
    form = f"id={contact_id}&fields[PHONE][0][ID]={phone_id}&fields[PHONE][0][VALUE]="
    assert (await rest.call("crm.contact.update", form=form)).result is True
    assert "PHONE" not in (await rest.call("crm.contact.get", {"id": contact_id})).result


async def test_update_follows_the_documented_multi_field_rules(rest: RestClient) -> None:
    phones = [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in ("111111", "222222", "333333", "44444")]
    contact_id = (await rest.call("crm.contact.add", {"fields": {"PHONE": phones}})).result
    ids = [
        p["ID"] for p in (await rest.call("crm.contact.get", {"id": contact_id})).result["PHONE"]
    ]
    changes = [{"ID": int(ids[0]), "DELETE": "Y"}, {"ID": int(ids[1]), "VALUE": ""},
               {"ID": int(ids[2])}, {"VALUE": "55555", "VALUE_TYPE": "WORK"}]  # fmt: skip
    reply = await rest.call("crm.contact.update", {"id": contact_id, "fields": {"PHONE": changes}})
    assert reply.result is True
    contact = (await rest.call("crm.contact.get", {"id": contact_id})).result
    assert [p["VALUE"] for p in contact["PHONE"]] == ["44444", "55555"]
    assert contact["PHONE"][0]["ID"] == ids[3]
    change = {"PHONE": [{"ID": ids[3], "VALUE": "444444", "VALUE_TYPE": "MOBILE"}]}
    await rest.call("crm.contact.update", {"id": contact_id, "fields": change})
    contact = (await rest.call("crm.contact.get", {"id": contact_id})).result
    assert contact["PHONE"][0] == {"ID": ids[3], "VALUE_TYPE": "MOBILE", "VALUE": "444444",
                                   "TYPE_ID": "PHONE"}  # fmt: skip


async def make_contacts(rest: RestClient, count: int) -> list[int]:
    ids = []
    for i in range(count):
        fields = {"NAME": f"N{i:03d}", "EMAIL": [{"VALUE": f"c{i % 2}@example.com"}]}
        ids.append((await rest.call("crm.contact.add", {"fields": fields})).result)
    return ids


async def test_list_selects_filters_and_orders(rest: RestClient) -> None:
    ids = await make_contacts(rest, 4)
    reply = await rest.call("crm.contact.List", {})
    assert reply.body["total"] == 4 and "next" not in reply.body
    assert [row["ID"] for row in reply.result] == [str(i) for i in ids]
    assert "EMAIL" not in reply.result[0] and list(reply.result[0])[:3] == [
        "ID",
        "POST",
        "COMMENTS",
    ]
    params = {"filter": {"EMAIL": "c1@example.com", "%NAME": "n0"}, "order": {"NAME": "desc"},
              "select": ["EMAIL", "NAME", "ID", "UF_*", "NOPE"]}  # fmt: skip
    reply = await rest.call("crm.contact.list", params)
    assert [list(row) for row in reply.result] == [["ID", "NAME", "EMAIL"]] * 2
    assert [row["NAME"] for row in reply.result] == ["N003", "N001"]
    assert reply.result[0]["EMAIL"][0]["VALUE"] == "c1@example.com"
    reply = await rest.call("crm.contact.list", {"filter": {"!EMAIL": "c1@example.com"},
                                                 "select": ["ID"], "start": -1})  # fmt: skip
    assert reply.result == [{"ID": str(ids[0])}, {"ID": str(ids[2])}]
    assert reply.body["total"] == 0 and "next" not in reply.body


async def test_list_pages_by_fifty(rest: RestClient) -> None:
    ids = await make_contacts(rest, 51)
    first = await rest.call("crm.contact.list", {"select": ["ID"], "order": {"ID": "ASC"}})
    assert (first.body["next"], first.body["total"], len(first.result)) == (50, 51, 50)
    last = await rest.call("crm.contact.list", {"select": ["ID"], "start": 50})
    assert last.result == [{"ID": str(ids[50])}] and "next" not in last.body


@pytest.mark.parametrize(
    ("method", "params", "status", "code", "message"),
    [
        ("crm.contact.get", {}, 400, "", "ID is not defined or invalid."),
        ("crm.contact.get", {"id": "abc"}, 400, "", "ID is not defined or invalid."),
        ("crm.contact.get", {"id": 4242}, 400, "", "Not found."),
        ("crm.contact.update", {"id": 4242, "fields": {"NAME": "x"}}, 400, "", "Not found."),
        ("crm.contact.update", {"id": 0, "fields": {}}, 400, "", "ID is not defined or invalid."),
        ("crm.contact.delete", {"id": 4242}, 400, "", "Not found."),
        ("crm.contact.add", {}, 400, "", "Parameter 'fields' must be array."),
        ("crm.contact.add", {"fields": "x"}, 400, "", "Parameter 'fields' must be array."),
        ("crm.contact.add", {"fields": {}, "params": 1}, 400, "",
         "Parameter 'params' must be array."),
        ("crm.contact.add", {"fields": {"BIRTHDATE": "someday"}}, 400, "",
         'Invalid value for the "Birthdate" field.'),
        ("crm.contact.add", {"fields": {"EMAIL": [{"VALUE": "nope"}]}}, 400, "",
         'Invalid value for the "E-mail" field.'),
        ("crm.contact.add", {"fields": {"PHONE": "+1 555"}}, 400, "",
         'Invalid value for the "Phone" field.'),
        ("crm.contact.list", {"filter": "x"}, 400, "", "Parameter 'filter' must be array."),
        ("crm.contact.list", {"filter": {"NOPE": 1}}, 400, "INVALID_ARG_VALUE",
         "Invalid filter: field 'NOPE' is not allowed in filter"),
        ("crm.contact.list", {"filter": {">PHONE": 1}}, 400, "INVALID_ARG_VALUE",
         "Invalid filter: field 'PHONE' has invalid value"),
        ("crm.contact.list", {"order": {"EMAIL": "ASC"}}, 400, "INVALID_ARG_VALUE",
         "Invalid order: field 'EMAIL' is not allowed in order"),
    ],
)  # fmt: skip
async def test_errors(
    rest: RestClient, method: str, params: dict[str, Any], status: int, code: str, message: str
) -> None:
    reply = await rest.call(method, params)
    assert (reply.status, reply.body) == (status, {"error": code, "error_description": message})


async def test_a_refused_write_changes_nothing(rest: RestClient, db: AsyncEngine) -> None:
    fields = {"NAME": "x", "PHONE": [{"VALUE": "1"}], "ASSIGNED_BY_ID": 999}
    reply = await rest.call("crm.contact.add", {"fields": fields})
    assert reply.body["error_description"] == 'Invalid value for the "Responsible" field.'
    assert [await count_rows(db, t) for t in ("contacts", "multifields", "outbox")] == [0, 0, 0]


async def test_delete(rest: RestClient) -> None:
    contact_id = (await make_contacts(rest, 1))[0]
    assert (await rest.call("crm.contact.delete", {"id": contact_id})).result is True
    reply = await rest.call("crm.contact.get", {"id": contact_id})
    assert reply.body["error_description"] == "Not found."
