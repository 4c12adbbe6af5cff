"""crm.deal.add/update/get/delete/fields through the real app, as a client sees them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.app import create_app
from relatecrm.config import Settings
from tests.conftest import RestClient, count_rows

# name, type, flags (R read-only, I immutable, M multiple, D deprecated), title, extra
EXPECTED_FIELDS = """
ID integer R ID
TITLE string - Title
TYPE_ID crm_status - Type statusType=DEAL_TYPE
CATEGORY_ID crm_category I Sales_Funnel
STAGE_ID crm_status - Deal_Stage statusType=DEAL_STAGE
STAGE_SEMANTIC_ID string R Stage_Group
IS_NEW char R New_Deal
IS_RECURRING char - Recurring_Deal
IS_RETURN_CUSTOMER char - Repeat_Deal
IS_REPEATED_APPROACH char - Repeated_Approach
PROBABILITY integer - Probability
CURRENCY_ID crm_currency - Currency
OPPORTUNITY double - Amount
IS_MANUAL_OPPORTUNITY char - IS_MANUAL_OPPORTUNITY
TAX_VALUE double - Tax_Rate
COMPANY_ID crm_company - Company parent=4
CONTACT_ID crm_contact D Contact
CONTACT_IDS crm_contact M Contacts
QUOTE_ID crm_quote R Estimate parent=7
BEGINDATE date - Start_Date
CLOSEDATE date - Close_Date
OPENED char - Available_to_All
CLOSED char - Closed
COMMENTS string - Comment
ASSIGNED_BY_ID user - Assignee
CREATED_BY_ID user R Created_By
MODIFY_BY_ID user R Modified_By
MOVED_BY_ID user R MOVED_BY_ID
DATE_CREATE datetime R Creation_Date
DATE_MODIFY datetime R Modification_Date
MOVED_TIME datetime R MOVED_TIME
SOURCE_ID crm_status - Source statusType=SOURCE
SOURCE_DESCRIPTION string - Additional_Info_about_Source
LEAD_ID crm_lead R Lead parent=1
ADDITIONAL_INFO string - Additional_Information
LOCATION_ID location - Location
ORIGINATOR_ID string - External_Source
ORIGIN_ID string - Identifier_in_External_Source
UTM_SOURCE string - Advertising_System
UTM_MEDIUM string - Traffic_Type
UTM_CAMPAIGN string - Campaign_Identifier
UTM_CONTENT string - Campaign_Content
UTM_TERM string - Campaign_Search_Condition
LAST_ACTIVITY_TIME datetime R LAST_ACTIVITY_TIME
LAST_ACTIVITY_BY user R LAST_ACTIVITY_BY
"""


def expected_descriptor(line: str) -> tuple[str, dict[str, object]]:
    name, type_, flags, title, *extra = line.split()
    out: dict[str, object] = {
        "type": type_,
        "isRequired": False,
        "isReadOnly": "R" in flags,
        "isImmutable": "I" in flags,
        "isMultiple": "M" in flags,
        "isDynamic": False,
    }
    for item in extra:
        key, value = item.split("=")
        if key == "statusType":
            out["statusType"] = value
    if "D" in flags:
        out["isDeprecated"] = True
    out["title"] = title.replace("_", " ") if title != name else title
    for item in extra:
        key, value = item.split("=")
        if key == "parent":
            out["settings"] = {"parentEntityTypeId": int(value)}
    return name, out


async def test_fields_match_the_seed_descriptors(rest: RestClient) -> None:
    reply = await rest.call("crm.deal.fields")
    expected = dict(expected_descriptor(line) for line in EXPECTED_FIELDS.strip().splitlines())
    assert len(expected) == 45
    assert list(reply.result) == list(expected)
    for name, descriptor in expected.items():
        assert reply.result[name] == descriptor, name
        assert list(reply.result[name]) == list(descriptor), f"key order of {name}"


async def new_client(rest: RestClient, method: str, fields: dict[str, Any]) -> int:
    client_id: int = (await rest.call(method, {"fields": fields})).result
    return client_id


async def test_add_get_renders_values_as_bitrix(rest: RestClient) -> None:
    company = await new_client(rest, "crm.company.add", {"TITLE": "Acme"})
    first = await new_client(rest, "crm.contact.add", {"NAME": "Ann"})
    second = await new_client(rest, "crm.contact.add", {"NAME": "Bob"})
    fields = {
        "TITLE": "New Deal #1", "TYPE_ID": "COMPLEX", "STAGE_ID": "PREPARATION",
        "PROBABILITY": 99, "CURRENCY_ID": "EUR", "OPPORTUNITY": 1000000,
        "IS_MANUAL_OPPORTUNITY": "Y", "TAX_VALUE": 0.10, "COMPANY_ID": company,
        "CONTACT_IDS": [first, second],
        "BEGINDATE": "2024-08-30T12:19:57+02:00", "CLOSEDATE": "2024-09-09T12:19:57+02:00",
        "OPENED": "Y", "COMMENTS": "[B]Example comment[/B]", "SOURCE_ID": "CALLBACK",
        "UTM_SOURCE": "google", "PARENT_ID_1220": 22, "UF_CRM_1721244482250": "Hello world!",
    }  # fmt: skip
    added = await rest.call(
        "crm.deal.add", {"FIELDS": fields, "PARAMS": {"REGISTER_SONET_EVENT": "N"}}
    )
    deal_id = added.result
    assert isinstance(deal_id, int)
    deal = (await rest.call("crm.deal.get", {"ID": deal_id})).result
    assert deal["ID"] == str(deal_id)
    assert deal["OPPORTUNITY"] == "1000000.00" and deal["TAX_VALUE"] == "0.10"
    assert deal["PROBABILITY"] == "99" and deal["COMPANY_ID"] == str(company)
    assert deal["CONTACT_ID"] == str(first)
    assert deal["CATEGORY_ID"] == "0" and deal["STAGE_SEMANTIC_ID"] == "P" and deal["IS_NEW"] == "N"
    assert deal["BEGINDATE"] == "2024-08-30T00:00:00+00:00"
    assert deal["CLOSEDATE"] == "2024-09-09T00:00:00+00:00"
    assert deal["COMMENTS"] == "[B]Example comment[/B]"
    assert deal["LEAD_ID"] is None and deal["UTM_CAMPAIGN"] is None
    assert "CONTACT_IDS" not in deal and "TRACE" not in deal
    created = dt.datetime.fromisoformat(deal["DATE_CREATE"])
    assert created.utcoffset() == dt.timedelta(0) and created.microsecond == 0
    assert list(deal)[:4] == ["ID", "TITLE", "TYPE_ID", "STAGE_ID"]
    assert list(deal)[-1] == "LAST_ACTIVITY_BY" and len(deal) == 44


async def test_dates_render_in_the_portal_zone(db: AsyncEngine, rest: RestClient) -> None:
    settings = Settings(
        database_url=db.url.render_as_string(hide_password=False), timezone="Europe/Berlin"
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://t") as c:
        berlin = RestClient(c, rest.prefix)
        deal_id = (
            await berlin.call("crm.deal.add", {"fields": {"BEGINDATE": "2024-08-30"}})
        ).result
        reply = await berlin.call("crm.deal.get", {"id": deal_id})
    await app.state.engine.dispose()
    assert reply.result["BEGINDATE"] == "2024-08-30T02:00:00+02:00"
    assert reply.body["time"]["date_start"].endswith(("+01:00", "+02:00"))


async def test_update_returns_true_and_keeps_stage_consistent(rest: RestClient) -> None:
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": "a"}})).result
    reply = await rest.call(
        "crm.deal.update",
        {"ID": deal_id, "FIELDS": {"STAGE_ID": "LOSE", "IS_RECCURING": "Y", "CLOSED": "N"}},
    )
    assert reply.body["result"] is True
    deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
    assert (deal["STAGE_ID"], deal["STAGE_SEMANTIC_ID"], deal["CLOSED"]) == ("LOSE", "F", "Y")
    assert deal["IS_RECURRING"] == "N"


async def test_form_encoded_add_with_bracket_arrays(rest: RestClient, db: AsyncEngine) -> None:
    first = await new_client(rest, "crm.contact.add", {"NAME": "Ann"})
    second = await new_client(rest, "crm.contact.add", {"NAME": "Bob"})
    form = (
        f"fields%5BTITLE%5D=Form+deal&fields[OPPORTUNITY]=19999.99&fields[CONTACT_IDS][]={first}"
        f"&fields[CONTACT_IDS][]={second}&fields[IS_MANUAL_OPPORTUNITY]=True&fields[OPENED]=0"
    )
    deal_id = (await rest.call("crm.deal.add", form=form)).result
    deal = (await rest.call("crm.deal.get", form=f"id={deal_id}", get=True)).result
    assert deal["TITLE"] == "Form deal" and deal["OPPORTUNITY"] == "19999.99"
    assert deal["CONTACT_ID"] == str(first) and deal["IS_MANUAL_OPPORTUNITY"] == "Y"
    assert deal["OPENED"] == "N"


async def test_delete_then_get_is_not_found(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = (await rest.call("crm.deal.add", {"fields": {}})).result
    assert (await rest.call("crm.deal.delete", {"id": deal_id})).body["result"] is True
    reply = await rest.call("crm.deal.get", {"id": deal_id})
    assert reply.status == 400
    assert reply.body == {"error": "", "error_description": "Not found."}
    again = await rest.call("crm.deal.delete", {"id": deal_id})
    assert again.status == 400 and again.body["error_description"] == "Not found."
    assert await count_rows(db, "deals") == 0


# The client (deals spec §2.6): references must exist; CONTACT_IDS/CONTACT_ID follow the
# link rules of crm.deal.contact.* (§5).


async def link_rows(rest: RestClient, deal_id: int) -> list[tuple[int, int, str]]:
    reply = await rest.call("crm.deal.contact.items.get", {"id": deal_id})
    return [(row["CONTACT_ID"], row["SORT"], row["IS_PRIMARY"]) for row in reply.result]


@pytest.mark.parametrize(
    ("name", "value", "title"),
    [
        ("COMPANY_ID", 10**6, "Company"),
        ("CONTACT_ID", 10**6, "Contact"),
        ("CONTACT_IDS", [10**6], "Contacts"),
        ("CONTACT_IDS", ["mine", 10**6], "Contacts"),
        ("CONTACT_IDS", ["mine", -1], "Contacts"),
    ],  # fmt: skip
)
async def test_clients_must_exist(
    rest: RestClient, db: AsyncEngine, name: str, value: Any, title: str
) -> None:
    mine = await new_client(rest, "crm.contact.add", {"NAME": "Ann"})
    deal_id = (await rest.call("crm.deal.add", {"fields": {"CONTACT_IDS": [mine]}})).result
    value = [mine if v == "mine" else v for v in value] if isinstance(value, list) else value
    before = [await count_rows(db, t) for t in ("deals", "deal_contacts", "outbox")]
    expected = {"error": "", "error_description": f'Invalid value for the "{title}" field.'}
    reply = await rest.call("crm.deal.add", {"fields": {"TITLE": "x", name: value}})
    assert (reply.status, reply.body) == (400, expected)
    reply = await rest.call("crm.deal.update", {"id": deal_id, "fields": {name: value}})
    assert (reply.status, reply.body) == (400, expected)
    assert [await count_rows(db, t) for t in ("deals", "deal_contacts", "outbox")] == before
    assert await link_rows(rest, deal_id) == [(mine, 10, "Y")]


async def test_zero_and_empty_clients_mean_none(rest: RestClient) -> None:
    company = await new_client(rest, "crm.company.add", {"TITLE": "Acme"})
    ann = await new_client(rest, "crm.contact.add", {"NAME": "Ann"})
    fields = {"COMPANY_ID": company, "CONTACT_IDS": [ann]}
    deal_id = (await rest.call("crm.deal.add", {"fields": fields})).result
    for empty in (0, "0", "", None):
        await rest.call("crm.deal.update", {"id": deal_id, "fields": {"COMPANY_ID": empty}})
        assert (await rest.call("crm.deal.get", {"id": deal_id})).result["COMPANY_ID"] is None
    added = await rest.call("crm.deal.add", {"fields": {"COMPANY_ID": 0, "CONTACT_ID": 0}})
    deal = (await rest.call("crm.deal.get", {"id": added.result})).result
    assert (deal["COMPANY_ID"], deal["CONTACT_ID"]) == (None, None)


async def test_contact_fields_of_a_deal_follow_the_link_rules(rest: RestClient) -> None:
    ann, bob, cid = [await new_client(rest, "crm.contact.add", {"NAME": n}) for n in "abc"]
    deal_id = (await rest.call("crm.deal.add", {"fields": {"CONTACT_ID": ann}})).result
    assert await link_rows(rest, deal_id) == [(ann, 10, "Y")]
    update = "crm.deal.update"
    # CONTACT_ID adds a missing contact (SORT max + 10) and makes it primary ...
    await rest.call(update, {"id": deal_id, "fields": {"CONTACT_ID": bob}})
    assert await link_rows(rest, deal_id) == [(ann, 10, "N"), (bob, 20, "Y")]
    # ... or makes a linked one primary, keeping every SORT.
    await rest.call(update, {"id": deal_id, "fields": {"CONTACT_ID": ann}})
    assert await link_rows(rest, deal_id) == [(ann, 10, "Y"), (bob, 20, "N")]
    # An empty CONTACT_ID unlinks the primary contact; the next one by SORT steps up.
    await rest.call(update, {"id": deal_id, "fields": {"CONTACT_ID": 0}})
    assert await link_rows(rest, deal_id) == [(bob, 20, "Y")]
    # CONTACT_IDS replaces the set: the first is primary, SORT (i + 1) * 10.
    await rest.call(update, {"id": deal_id, "fields": {"CONTACT_IDS": [cid, ann, cid]}})
    assert await link_rows(rest, deal_id) == [(cid, 10, "Y"), (ann, 20, "N")]
    deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
    assert deal["CONTACT_ID"] == str(cid)
