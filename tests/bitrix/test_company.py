"""crm.company.* through the real app: what differs from contacts (public crm.company.* docs).

The handlers are the contact ones (``bitrix/contact.py``); tests/bitrix/test_contact.py
covers what both share (multi-field rules, list machinery, the error envelope).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import RestClient

# The crm.company.add example of the docs (without LOGO). COMPANY_TYPE, INDUSTRY and
# EMPLOYEES are codes of lists RelateCRM holds no rows of yet, so any code is kept.
DOCS_COMPANY = {
    "TITLE": "John Doe LLC", "COMPANY_TYPE": "CUSTOMER", "INDUSTRY": "MANUFACTURING",
    "EMPLOYEES": "EMPLOYEES_2", "CURRENCY_ID": "EUR", "REVENUE": 3000000, "OPENED": "Y",
    "ASSIGNED_BY_ID": 1, "PHONE": [{"VALUE": "555888", "VALUE_TYPE": "WORK"}],
}  # fmt: skip


async def add_company(rest: RestClient, **fields: Any) -> int:
    reply = await rest.call("crm.company.add", {"fields": fields, "params": {"IMPORT": "N"}})
    company_id = reply.result
    assert isinstance(company_id, int)
    return company_id


async def test_fields_describe_the_company(rest: RestClient) -> None:
    fields = (await rest.call("crm.company.fields")).result
    assert list(fields)[:8] == ["ID", "TITLE", "COMPANY_TYPE", "INDUSTRY", "EMPLOYEES",
                                "CURRENCY_ID", "REVENUE", "OPENED"]  # fmt: skip
    assert list(fields)[-4:] == ["PHONE", "EMAIL", "WEB", "IM"]
    assert fields["TITLE"] == {
        "type": "string", "isRequired": True, "isReadOnly": False, "isImmutable": False,
        "isMultiple": False, "isDynamic": False, "title": "Company Name",
    }  # fmt: skip
    assert fields["EMPLOYEES"]["statusType"] == "EMPLOYEES"
    assert fields["REVENUE"]["type"] == "double" and fields["CURRENCY_ID"]["type"] == "crm_currency"
    assert fields["IS_MY_COMPANY"]["isReadOnly"] is False
    assert fields["HAS_EMAIL"]["isReadOnly"] is True
    assert fields["LEAD_ID"]["settings"] == {"parentEntityTypeId": 1}
    assert not {"LOGO", "ADDRESS", "CONTACT_ID", "LINK"} & set(fields)


async def test_add_get_renders_values_as_bitrix(rest: RestClient) -> None:
    company_id = await add_company(rest, **DOCS_COMPANY)
    company = (await rest.call("crm.company.get", {"id": company_id})).result
    assert list(company)[:4] == ["ID", "COMPANY_TYPE", "TITLE", "LEAD_ID"]
    assert list(company)[-3:] == ["LAST_ACTIVITY_BY", "LAST_ACTIVITY_TIME", "PHONE"]
    assert company["TITLE"] == "John Doe LLC" and company["COMPANY_TYPE"] == "CUSTOMER"
    assert company["REVENUE"] == "3000000.00" and company["CURRENCY_ID"] == "EUR"
    assert (company["HAS_PHONE"], company["HAS_EMAIL"], company["IS_MY_COMPANY"]) == ("Y", "N", "N")
    assert [(p["VALUE_TYPE"], p["VALUE"], p["TYPE_ID"]) for p in company["PHONE"]] == [
        ("WORK", "555888", "PHONE")
    ]


async def test_defaults_and_required_title(rest: RestClient) -> None:
    company = (
        await rest.call("crm.company.get", {"id": await add_company(rest, TITLE="A")})
    ).result
    assert (company["CURRENCY_ID"], company["OPENED"], company["REVENUE"]) == ("USD", "Y", None)
    assert company["ASSIGNED_BY_ID"] == company["CREATED_BY_ID"] == "1"
    for method, params in (
        ("crm.company.add", {"fields": {"COMMENTS": "no title"}}),
        ("crm.company.update", {"id": company["ID"], "fields": {"TITLE": ""}}),
    ):
        reply = await rest.call(method, params)
        assert (reply.status, reply.body) == (
            400, {"error": "", "error_description": 'Invalid value for the "Company Name" field.'}
        )  # fmt: skip
    reply = await rest.call("crm.company.add", {"fields": {"TITLE": "B", "CURRENCY_ID": "XYZ"}})
    assert reply.body["error_description"] == 'Invalid value for the "Currency" field.'


async def test_contacts_refer_to_companies(rest: RestClient) -> None:
    company_id = await add_company(rest, TITLE="Acme")
    reply = await rest.call("crm.contact.add", {"fields": {"NAME": "x", "COMPANY_ID": 4242}})
    assert reply.body["error_description"] == 'Invalid value for the "Company" field.'
    contact = {"fields": {"NAME": "Ann", "COMPANY_ID": str(company_id)}}
    contact_id = (await rest.call("crm.contact.add", contact)).result
    listed = await rest.call(
        "crm.contact.list", {"filter": {"COMPANY_ID": company_id}, "select": ["ID", "COMPANY_ID"]}
    )
    assert listed.result == [{"ID": str(contact_id), "COMPANY_ID": str(company_id)}]
    assert (await rest.call("crm.company.delete", {"id": company_id})).result is True
    assert (await rest.call("crm.contact.get", {"id": contact_id})).result["COMPANY_ID"] is None
    reply = await rest.call("crm.company.get", {"id": company_id})
    assert reply.body == {"error": "", "error_description": "Not found."}


async def test_list_filters_companies_by_email(rest: RestClient) -> None:
    first = await add_company(rest, TITLE="Alpha", EMAIL=[{"VALUE": "sales@alpha.io"}])
    await add_company(rest, TITLE="Beta", EMAIL=[{"VALUE": "sales@beta.io"}], IS_MY_COMPANY="Y")
    reply = await rest.call(
        "crm.company.list",
        {"filter": {"@EMAIL": ["sales@alpha.io", "x@y.io"]}, "select": ["TITLE", "EMAIL"]},
    )
    assert [(row["TITLE"], row["EMAIL"][0]["VALUE"]) for row in reply.result] == [
        ("Alpha", "sales@alpha.io")
    ]
    reply = await rest.call("crm.company.list", {"filter": {"IS_MY_COMPANY": "N"}})
    assert [row["ID"] for row in reply.result] == [str(first)] and reply.body["total"] == 1
    assert "EMAIL" not in reply.result[0] and reply.result[0]["TITLE"] == "Alpha"


async def test_update_changes_only_given_fields(rest: RestClient) -> None:
    company_id = await add_company(rest, **DOCS_COMPANY)
    update = {"REVENUE": "12.345", "EMAIL": [{"VALUE": "b@c.io", "VALUE_TYPE": "HOME"}]}
    reply = await rest.call("crm.company.update", {"ID": company_id, "FIELDS": update})
    assert reply.result is True
    company = (await rest.call("crm.company.get", {"id": company_id})).result
    assert company["REVENUE"] == "12.35" and company["TITLE"] == "John Doe LLC"
    assert [p["VALUE"] for p in company["PHONE"]] == ["555888"]
    assert [(e["VALUE_TYPE"], e["VALUE"]) for e in company["EMAIL"]] == [("HOME", "b@c.io")]
