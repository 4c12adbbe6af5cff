"""``crm.status.*``: funnel stages, deal types and sources through the real app.

Protocol spec §9.2 (fields, rows, methods, the exact error messages), §2.3-§2.4 (classic
errors: empty code, status 400; ``ERROR_CORE`` for a duplicate); deals spec §2.5.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.bitrix.test_category import add_funnel, error
from tests.conftest import RestClient, count_rows

NOT_FOUND = "Status is not found."
BAD_ID = "Invalid identifier."
NOT_SUPPORTED = "Specified entity type is not supported."
FORCED = 'CRM System Status can be deleted only if parameter FORCED is specified and equal to "Y".'
IN_USE = "There are active items in this status."
BAD_ENTITY = "The parameter entityId is not defined or invalid."
NEW_ROW = {
    "ENTITY_ID": "DEAL_STAGE",
    "STATUS_ID": "NEW",
    "NAME": "New",
    "NAME_INIT": "New",
    "SORT": "10",
    "SYSTEM": "Y",
    "CATEGORY_ID": None,
    "COLOR": "#39A8EF",
    "SEMANTICS": None,
    "EXTRA": {"SEMANTICS": "process", "COLOR": "#39A8EF"},
}


async def rows(rest: RestClient, **params: Any) -> list[dict[str, Any]]:
    reply = await rest.call("crm.status.list", params)
    result: list[dict[str, Any]] = reply.result
    assert reply.body["total"] == len(result) and "next" not in reply.body
    return result


async def stage(rest: RestClient, entity_id: str, status_id: str) -> dict[str, Any]:
    found = await rows(rest, filter={"ENTITY_ID": entity_id, "STATUS_ID": status_id})
    assert len(found) == 1, found
    return found[0]


async def add_status(rest: RestClient, **fields: Any) -> int:
    reply = await rest.call("crm.status.add", {"fields": fields})
    assert reply.status == 200, reply.body
    assert isinstance(reply.result, int)
    return reply.result


async def get(rest: RestClient, status_id: int | str) -> dict[str, Any]:
    row: dict[str, Any] = (await rest.call("crm.status.get", {"id": status_id})).result
    return row


def classic(reply: Any, message: str) -> None:
    assert error(reply) == (400, "", message)


# reading


async def test_list_of_the_general_funnel_matches_the_docs_example(rest: RestClient) -> None:
    found = await rows(rest, filter={"ENTITY_ID": "DEAL_STAGE"}, order={"SORT": "ASC"})
    assert len(found) == 8
    assert {k: v for k, v in found[0].items() if k != "ID"} == NEW_ROW
    assert list(found[0]) == ["ID", *NEW_ROW]
    assert found[0]["ID"].isdigit()
    by_code = {row["STATUS_ID"]: row for row in found}
    assert by_code["PREPARATION"]["NAME_INIT"] == "" and by_code["PREPARATION"]["SYSTEM"] == "N"
    won, lose, apology = by_code["WON"], by_code["LOSE"], by_code["APOLOGY"]
    assert (won["SEMANTICS"], won["EXTRA"]) == ("S", {"SEMANTICS": "success", "COLOR": "#7BD500"})
    assert (lose["SEMANTICS"], lose["EXTRA"]["SEMANTICS"]) == ("F", "failure")
    assert (apology["SEMANTICS"], apology["EXTRA"]["SEMANTICS"]) == ("F", "apology")
    assert [row["SORT"] for row in found] == [str(s) for s in range(10, 90, 10)]


async def test_sources_and_deal_types_have_no_stage_extras(rest: RestClient) -> None:
    sources = await rows(rest, filter={"ENTITY_ID": "SOURCE"})
    assert len(sources) == 12 and sources[0]["STATUS_ID"] == "CALL"
    assert sources[0] == {
        "ID": sources[0]["ID"],
        "ENTITY_ID": "SOURCE",
        "STATUS_ID": "CALL",
        "NAME": "Call",
        "NAME_INIT": "Call",
        "SORT": "10",
        "SYSTEM": "Y",
        "CATEGORY_ID": None,
        "COLOR": None,
        "SEMANTICS": None,
    }
    types = await rows(rest, filter={"ENTITY_ID": "DEAL_TYPE"})
    assert [row["STATUS_ID"] for row in types] == [
        "SALE",
        "COMPLEX",
        "GOODS",
        "SERVICES",
        "SERVICE",
    ]


async def test_list_without_filter_returns_every_row(rest: RestClient, db: AsyncEngine) -> None:
    found = await rows(rest)
    assert len(found) == await count_rows(db, "statuses") == 25


async def test_list_filter_prefixes_and_order(rest: RestClient) -> None:
    late = await rows(rest, filter={"ENTITY_ID": "DEAL_STAGE", ">SORT": 50}, order={"SORT": "desc"})
    assert [row["STATUS_ID"] for row in late] == ["APOLOGY", "LOSE", "WON"]
    picked = await rows(rest, filter={"ENTITY_ID": "DEAL_STAGE", "@STATUS_ID": ["WON", "LOSE"]})
    assert [row["STATUS_ID"] for row in picked] == ["WON", "LOSE"]
    invoices = await rows(rest, filter={"%NAME": "INVOICE", "=ENTITY_ID": "DEAL_STAGE"})
    assert [row["STATUS_ID"] for row in invoices] == ["PREPAYMENT_INVOICE", "FINAL_INVOICE"]
    by_id = await rows(rest, filter={"ID": invoices[0]["ID"]})
    assert by_id == [invoices[0]]
    named = await rows(rest, filter={"ENTITY_ID": "DEAL_TYPE"}, order={"NAME": "ASC"})
    assert [row["NAME"] for row in named][:2] == ["After-sales service", "Complex sale"]


async def test_list_filters_by_category_id(rest: RestClient) -> None:
    n = (await add_funnel(rest, name="Second"))["id"]
    found = await rows(rest, filter={"CATEGORY_ID": n})
    assert len(found) == 8 and {row["ENTITY_ID"] for row in found} == {f"DEAL_STAGE_{n}"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter": {"TITLE": "x"}}, "Invalid filter: field 'TITLE' is not allowed in filter"),
        ({"filter": {"SORT": "abc"}}, "Invalid filter: field 'SORT' has invalid value"),
        ({"order": {"EXTRA": "ASC"}}, "Invalid order: field 'EXTRA' is not allowed in order"),
        (
            {"order": {"SORT": "UP"}},
            "Invalid order: allowed sort directions are ASC, DESC. But got 'UP' for field 'SORT'",
        ),
    ],
)
async def test_list_refuses_unknown_fields_and_directions(
    rest: RestClient, params: dict[str, Any], message: str
) -> None:
    assert error(await rest.call("crm.status.list", params)) == (400, "INVALID_ARG_VALUE", message)


async def test_list_refuses_a_filter_that_is_not_a_map(rest: RestClient) -> None:
    reply = await rest.call("crm.status.list", {"filter": "DEAL_STAGE"})
    classic(reply, "Parameter 'filter' must be array.")


async def test_get_by_id_and_errors(rest: RestClient) -> None:
    new = await stage(rest, "DEAL_STAGE", "NEW")
    assert await get(rest, new["ID"]) == new
    assert (await rest.call("crm.status.GET", {"ID": int(new["ID"])})).result == new
    classic(await rest.call("crm.status.get", {"id": 987654}), NOT_FOUND)
    for bad in ({}, {"id": 0}, {"id": -3}, {"id": "abc"}):
        classic(await rest.call("crm.status.get", bad), BAD_ID)


async def test_fields_match_the_docs(rest: RestClient) -> None:
    fields = (await rest.call("crm.status.fields")).result
    assert list(fields) == [
        "ID",
        "ENTITY_ID",
        "STATUS_ID",
        "SORT",
        "NAME",
        "NAME_INIT",
        "SYSTEM",
        "CATEGORY_ID",
        "COLOR",
        "SEMANTICS",
        "EXTRA",
    ]
    assert fields["ENTITY_ID"] == {
        "type": "string",
        "isRequired": True,
        "isReadOnly": False,
        "isImmutable": True,
        "isMultiple": False,
        "isDynamic": False,
        "title": "Entity ID",
    }
    assert {name for name, spec in fields.items() if spec["isReadOnly"]} == {
        "ID",
        "NAME_INIT",
        "SYSTEM",
    }
    assert fields["EXTRA"]["type"] == "crm_status_extra"


async def test_entity_types_list_every_funnel_then_sources_and_types(rest: RestClient) -> None:
    n = (await add_funnel(rest, name="Newest"))["id"]
    types = (await rest.call("crm.status.entity.types")).result
    assert [t["ID"] for t in types] == ["DEAL_STAGE", f"DEAL_STAGE_{n}", "SOURCE", "DEAL_TYPE"]
    assert types[0] == {
        "ID": "DEAL_STAGE",
        "NAME": "General deal stages",
        "SEMANTIC_INFO": {
            "START_FIELD": "NEW",
            "FINAL_SUCCESS_FIELD": "WON",
            "FINAL_UNSUCCESS_FIELD": "LOSE",
            "FINAL_SORT": 0,
        },
        "FIELD_ATTRIBUTE_SCOPE": "",
        "ENTITY_TYPE_ID": 2,
        "CATEGORY_ID": 0,
    }
    assert types[1] == {
        "ID": f"DEAL_STAGE_{n}",
        "NAME": "Newest deal stages",
        "PARENT_ID": "DEAL_STAGE",
        "SEMANTIC_INFO": {
            "START_FIELD": f"C{n}:NEW",
            "FINAL_SUCCESS_FIELD": f"C{n}:WON",
            "FINAL_UNSUCCESS_FIELD": f"C{n}:LOSE",
            "FINAL_SORT": 0,
        },
        "PREFIX": f"C{n}",
        "FIELD_ATTRIBUTE_SCOPE": f"category_{n}",
        "ENTITY_TYPE_ID": 2,
        "CATEGORY_ID": str(n),
    }
    assert types[2:] == [
        {"ID": "SOURCE", "NAME": "Sources"},
        {"ID": "DEAL_TYPE", "NAME": "Deal type"},
    ]


async def test_entity_items_are_sorted_with_int_sort(rest: RestClient) -> None:
    items = (await rest.call("crm.status.entity.items", {"entityId": "DEAL_STAGE"})).result
    assert items[0] == {"NAME": "New", "SORT": 10, "STATUS_ID": "NEW"}
    assert [i["SORT"] for i in items] == list(range(10, 90, 10))
    sources = (await rest.call("crm.status.entity.items", {"ENTITYID": "SOURCE"})).result
    assert len(sources) == 12 and sources[-1] == {
        "NAME": "Other",
        "SORT": 120,
        "STATUS_ID": "OTHER",
    }


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"entityId": ""},
        {"entityId": "LEAD_STATUS"},
        {"entityId": "DEAL_STAGE_4242"},
        {"entityId": ["SOURCE"]},
    ],
)
async def test_entity_items_of_an_unknown_list(rest: RestClient, params: dict[str, Any]) -> None:
    classic(await rest.call("crm.status.entity.items", params), BAD_ENTITY)


# add


async def test_add_a_stage_to_a_funnel_prefixes_it(rest: RestClient) -> None:
    n = (await add_funnel(rest, name="Second"))["id"]
    new_id = await add_status(
        rest,
        ENTITY_ID=f"DEAL_STAGE_{n}",
        STATUS_ID="DECISION",
        NAME="Decision making",
        SORT=45,
        COLOR="#FFA900",
    )
    assert await get(rest, new_id) == {
        "ID": str(new_id),
        "ENTITY_ID": f"DEAL_STAGE_{n}",
        "STATUS_ID": f"C{n}:DECISION",
        "NAME": "Decision making",
        "NAME_INIT": "",
        "SORT": "45",
        "SYSTEM": "N",
        "CATEGORY_ID": str(n),
        "COLOR": "#FFA900",
        "SEMANTICS": None,
        "EXTRA": {"SEMANTICS": "process", "COLOR": "#FFA900"},
    }
    kept = await add_status(rest, ENTITY_ID=f"DEAL_STAGE_{n}", STATUS_ID=f"C{n}:REVIEW", NAME="R")
    assert (await get(rest, kept))["STATUS_ID"] == f"C{n}:REVIEW"
    assert (await get(rest, kept))["SORT"] == "10"
    deal_id = (
        await rest.call(
            "crm.deal.add", {"fields": {"CATEGORY_ID": n, "STAGE_ID": f"C{n}:DECISION"}}
        )
    ).result
    deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
    assert (deal["STAGE_ID"], deal["STAGE_SEMANTIC_ID"]) == (f"C{n}:DECISION", "P")


async def test_a_stage_sorted_first_is_where_new_deals_start(rest: RestClient) -> None:
    await add_status(rest, ENTITY_ID="DEAL_STAGE", STATUS_ID="INBOX", NAME="Inbox", SORT=5)
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": "t"}})).result
    deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
    assert (deal["STAGE_ID"], deal["IS_NEW"]) == ("INBOX", "Y")
    types = (await rest.call("crm.status.entity.types")).result
    assert types[0]["SEMANTIC_INFO"]["START_FIELD"] == "INBOX"


async def test_add_final_stages_with_semantics_and_default_colours(rest: RestClient) -> None:
    lost = await add_status(
        rest,
        ENTITY_ID="DEAL_STAGE",
        STATUS_ID="NO_BUDGET",
        NAME="No budget",
        SORT=90,
        SEMANTICS="F",
    )
    row = await get(rest, lost)
    assert (row["SEMANTICS"], row["COLOR"], row["EXTRA"]["SEMANTICS"]) == (
        "F",
        "#FFBEBD",
        "apology",
    )
    deal_id = (await rest.call("crm.deal.add", {"fields": {"STAGE_ID": "NO_BUDGET"}})).result
    deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
    assert (deal["STAGE_SEMANTIC_ID"], deal["CLOSED"]) == ("F", "Y")
    plain = await get(
        rest,
        await add_status(
            rest, ENTITY_ID="DEAL_STAGE", STATUS_ID="CALLED", NAME="Called", SORT=15, SEMANTICS=""
        ),
    )
    assert (plain["SEMANTICS"], plain["COLOR"]) == (None, "#ACE9FB")


async def test_add_deal_types_and_sources_used_by_deals(rest: RestClient) -> None:
    type_id = await add_status(rest, ENTITY_ID="DEAL_TYPE", STATUS_ID="Rent 2.0", NAME="Rent")
    source_id = await add_status(
        rest, entity_id="SOURCE", status_id="AVITO", name="Avito", sort=130
    )
    assert (await get(rest, type_id))["CATEGORY_ID"] is None
    assert "EXTRA" not in await get(rest, source_id)
    fields = {"TYPE_ID": "Rent 2.0", "SOURCE_ID": "AVITO"}
    deal_id = (await rest.call("crm.deal.add", {"fields": fields})).result
    deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
    assert (deal["TYPE_ID"], deal["SOURCE_ID"]) == ("Rent 2.0", "AVITO")


REQUIRED = "The field {} is required."
DUPLICATE = ("ERROR_CORE", "The specified status ID already exists.")
AFTER_FINAL = "Cannot create more stages after the final stage."
INVALID = 'Invalid value for the "{}" field.'
STAGE = {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "X", "NAME": "x"}
SOURCE = {"ENTITY_ID": "SOURCE", "STATUS_ID": "X", "NAME": "x"}
ADD_ERRORS = [  # (fields, code, message)
    ({"STATUS_ID": "X", "NAME": "x"}, "", REQUIRED.format("ENTITY_ID")),
    ({**SOURCE, "ENTITY_ID": " "}, "", REQUIRED.format("ENTITY_ID")),
    ({**SOURCE, "ENTITY_ID": "STATUS"}, "", NOT_SUPPORTED),
    ({**SOURCE, "ENTITY_ID": "DEAL_STAGE_4242"}, "", NOT_SUPPORTED),
    ({**SOURCE, "ENTITY_ID": "DEAL_STAGE_0"}, "", NOT_SUPPORTED),
    ({**SOURCE, "STATUS_ID": None}, "", REQUIRED.format("STATUS_ID")),
    ({**SOURCE, "NAME": None}, "", REQUIRED.format("NAME")),
    ({**SOURCE, "NAME": "  "}, "", REQUIRED.format("NAME")),
    ({**SOURCE, "STATUS_ID": "CALL"}, *DUPLICATE),
    ({**STAGE, "STATUS_ID": "WON", "SEMANTICS": "S"}, *DUPLICATE),
    ({**STAGE, "SORT": 60}, "", AFTER_FINAL),
    ({**STAGE, "SORT": 75}, "", AFTER_FINAL),
    ({**STAGE, "SEMANTICS": "Q"}, "", INVALID.format("SEMANTICS")),
    ({**STAGE, "COLOR": "red"}, "", INVALID.format("COLOR")),
    ({**SOURCE, "SORT": "first"}, "", INVALID.format("Sorting")),
    ({**SOURCE, "NAME": "n" * 256}, "", INVALID.format("Name")),
]


@pytest.mark.parametrize(("fields", "code", "message"), ADD_ERRORS)
async def test_add_errors_write_nothing(
    rest: RestClient, db: AsyncEngine, fields: dict[str, Any], code: str, message: str
) -> None:
    before = await count_rows(db, "statuses")
    reply = await rest.call("crm.status.add", {"fields": fields})
    assert error(reply) == (400, code, message)
    assert await count_rows(db, "statuses") == before


@pytest.mark.parametrize("code", ["TWO WORDS", "ÜBER", "C{other}:X", "A" * 19, "bad.dot", "x:y"])
async def test_stage_codes_are_latin_and_at_most_21_characters(
    rest: RestClient, db: AsyncEngine, code: str
) -> None:
    n = (await add_funnel(rest, name="Second"))["id"]
    before = await count_rows(db, "statuses")
    prefix_room = 21 - len(f"C{n}:")
    # Another funnel's prefix is not this funnel's: "C{n}:C{other}:X" is refused.
    fields = {"ENTITY_ID": f"DEAL_STAGE_{n}", "STATUS_ID": code.format(other=n + 1), "NAME": "x"}
    if code == "A" * 19:
        fields["STATUS_ID"] = "A" * (prefix_room + 1)
    reply = await rest.call("crm.status.add", {"fields": fields})
    assert reply.status == 400 and reply.body["error"] == ""
    assert "21 characters" in reply.body["error_description"]
    assert await count_rows(db, "statuses") == before
    fields["STATUS_ID"] = "Ok-9_" + "A" * (prefix_room - 5)
    assert len(f"C{n}:" + fields["STATUS_ID"]) == 21
    assert (await get(rest, await add_status(rest, **fields)))[
        "STATUS_ID"
    ] == f"C{n}:{fields['STATUS_ID']}"


async def test_add_needs_fields_as_a_map(rest: RestClient) -> None:
    classic(await rest.call("crm.status.add", {}), "Parameter 'fields' must be array.")
    classic(await rest.call("crm.status.add", {"fields": "x"}), "Parameter 'fields' must be array.")


# update


async def test_update_changes_name_sort_colour_only(rest: RestClient) -> None:
    prep = await stage(rest, "DEAL_STAGE", "PREPARATION")
    reply = await rest.call(
        "crm.status.update",
        {
            "id": prep["ID"],
            "fields": {
                "NAME": "Paperwork",
                "SORT": 25,
                "COLOR": "#112233",
                "STATUS_ID": "HACK",
                "ENTITY_ID": "SOURCE",
                "SEMANTICS": "S",
                "SYSTEM": "Y",
                "NAME_INIT": "z",
            },
        },
    )
    assert reply.status == 200 and reply.body["result"] is True
    assert await get(rest, prep["ID"]) == {
        **prep,
        "NAME": "Paperwork",
        "SORT": "25",
        "COLOR": "#112233",
        "EXTRA": {"SEMANTICS": "process", "COLOR": "#112233"},
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"id": 987654, "fields": {"NAME": "x"}}, NOT_FOUND),
        ({"id": "zero", "fields": {"NAME": "x"}}, BAD_ID),
        ({"fields": {"NAME": "x"}}, BAD_ID),
        ({"id": "ANY", "fields": {"NAME": ""}}, "The field NAME is required."),
        ({"id": "ANY", "fields": {"COLOR": "#12"}}, 'Invalid value for the "COLOR" field.'),
        ({"id": "ANY"}, "Parameter 'fields' must be array."),
    ],
)
async def test_update_errors_change_nothing(
    rest: RestClient, params: dict[str, Any], message: str
) -> None:
    prep = await stage(rest, "DEAL_STAGE", "PREPARATION")
    if params.get("id") == "ANY":
        params = {**params, "id": prep["ID"]}
    classic(await rest.call("crm.status.update", params), message)
    assert await get(rest, prep["ID"]) == prep


# delete


async def test_delete_a_plain_stage_then_it_is_gone(rest: RestClient, db: AsyncEngine) -> None:
    prep = await stage(rest, "DEAL_STAGE", "PREPARATION")
    reply = await rest.call("crm.status.delete", {"id": prep["ID"]})
    assert reply.status == 200 and reply.body["result"] is True
    classic(await rest.call("crm.status.get", {"id": prep["ID"]}), NOT_FOUND)
    classic(await rest.call("crm.status.delete", {"id": prep["ID"]}), NOT_FOUND)
    refused = await rest.call("crm.deal.add", {"fields": {"STAGE_ID": "PREPARATION"}})
    assert error(refused) == (400, "", 'Invalid value for the "Deal Stage" field.')


async def test_system_rows_need_forced(rest: RestClient, db: AsyncEngine) -> None:
    new = await stage(rest, "DEAL_STAGE", "NEW")
    for params in ({}, {"params": {"FORCED": "N"}}, {"params": []}, {"PARAMS": {"forced": "x"}}):
        classic(await rest.call("crm.status.delete", {"id": new["ID"], **params}), FORCED)
    assert await get(rest, new["ID"]) == new
    reply = await rest.call("crm.status.delete", {"id": new["ID"], "params": {"FORCED": "Y"}})
    assert reply.body["result"] is True
    classic(await rest.call("crm.status.get", {"id": new["ID"]}), NOT_FOUND)


async def test_a_stage_used_by_a_deal_cannot_be_deleted(rest: RestClient, db: AsyncEngine) -> None:
    n = (await add_funnel(rest, name="Second"))["id"]
    fields = {"CATEGORY_ID": n, "STAGE_ID": f"C{n}:PREPARATION"}
    deal_id = (await rest.call("crm.deal.add", {"fields": fields})).result
    used = await stage(rest, f"DEAL_STAGE_{n}", f"C{n}:PREPARATION")
    reply = await rest.call("crm.status.delete", {"id": used["ID"], "params": {"FORCED": "Y"}})
    classic(reply, IN_USE)
    assert await get(rest, used["ID"]) == used
    # The general funnel's PREPARATION holds no deal of funnel n: it can go.
    general = await stage(rest, "DEAL_STAGE", "PREPARATION")
    assert (await rest.call("crm.status.delete", {"id": general["ID"]})).body["result"] is True
    await rest.call("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": f"C{n}:EXECUTING"}})
    assert (await rest.call("crm.status.delete", {"id": used["ID"]})).body["result"] is True


@pytest.mark.parametrize(
    ("entity_id", "field", "value"),
    [("DEAL_TYPE", "TYPE_ID", "GOODS"), ("SOURCE", "SOURCE_ID", "WEB")],
)
async def test_types_and_sources_used_by_deals_cannot_be_deleted(
    rest: RestClient, entity_id: str, field: str, value: str
) -> None:
    row = await stage(rest, entity_id, value)
    await rest.call("crm.deal.add", {"fields": {field: value}})
    forced = {"id": row["ID"], "params": {"FORCED": "Y"}}
    classic(await rest.call("crm.status.delete", forced), IN_USE)
    unused = await stage(rest, entity_id, "COMPLEX" if entity_id == "DEAL_TYPE" else "EMAIL")
    forced["id"] = unused["ID"]
    assert (await rest.call("crm.status.delete", forced)).body["result"] is True


async def test_delete_with_a_bad_id(rest: RestClient) -> None:
    classic(await rest.call("crm.status.delete", {}), BAD_ID)
    classic(await rest.call("crm.status.delete", {"id": "1x"}), BAD_ID)


async def test_concurrent_adds_of_one_code_never_fail_with_500(
    rest: RestClient, db: AsyncEngine
) -> None:
    """Two writers race for the same STATUS_ID: one wins, the other gets the duplicate error."""
    import asyncio

    fields = {"ENTITY_ID": "SOURCE", "STATUS_ID": "RACE", "NAME": "Race"}
    before = await count_rows(db, "statuses")
    replies = await asyncio.gather(
        *(rest.call("crm.status.add", {"fields": fields}) for _ in range(4))
    )
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200, 400, 400, 400], [reply.body for reply in replies]
    for reply in replies:
        if reply.status == 400:
            assert reply.body == {
                "error": "ERROR_CORE",
                "error_description": "The specified status ID already exists.",
            }
    assert await count_rows(db, "statuses") == before + 1
