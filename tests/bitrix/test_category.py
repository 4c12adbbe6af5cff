"""``crm.category.*`` for deal funnels through the real app.

Protocol spec §9.1 (wrappers, the category object, defaults, errors), §2.4 (codes and
statuses) and §8.1 (engine-controller conventions); deals spec §2.5 (funnels and stages).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import RestClient, RestReply, count_rows

DEAL = 2
GENERAL = {"id": 0, "name": "General", "sort": 0, "entityTypeId": 2, "isDefault": "Y"}
STAGES = [  # (code, sort, SYSTEM, SEMANTICS, COLOR) of every new funnel
    ("NEW", "10", "Y", None, "#39A8EF"),
    ("PREPARATION", "20", "N", None, "#2FC6F6"),
    ("PREPAYMENT_INVOICE", "30", "N", None, "#55D0E0"),
    ("EXECUTING", "40", "N", None, "#47E4C2"),
    ("FINAL_INVOICE", "50", "N", None, "#FFA900"),
    ("WON", "60", "Y", "S", "#7BD500"),
    ("LOSE", "70", "Y", "F", "#FF5752"),
    ("APOLOGY", "80", "N", "F", "#FF5752"),
]


def error(reply: RestReply) -> tuple[int, str, str]:
    assert "result" not in reply.body and "time" not in reply.body, reply.body
    return reply.status, reply.body.get("error"), reply.body.get("error_description")


async def add_funnel(rest: RestClient, **fields: Any) -> dict[str, Any]:
    reply = await rest.call("crm.category.add", {"entityTypeId": DEAL, "fields": fields})
    assert list(reply.result) == ["category"], reply.body
    category: dict[str, Any] = reply.result["category"]
    return category


async def funnel_stages(rest: RestClient, category_id: int) -> list[dict[str, Any]]:
    reply = await rest.call(
        "crm.status.list",
        {"filter": {"ENTITY_ID": f"DEAL_STAGE_{category_id}"}, "order": {"SORT": "ASC"}},
    )
    rows: list[dict[str, Any]] = reply.result
    return rows


async def counts(db: AsyncEngine) -> tuple[int, int]:
    return await count_rows(db, "categories"), await count_rows(db, "statuses")


# list / get / fields


async def test_list_holds_the_general_funnel_without_origin_keys(rest: RestClient) -> None:
    reply = await rest.call("crm.category.list", {"entityTypeId": DEAL})
    assert reply.result == {"categories": [GENERAL]}
    assert reply.body["total"] == 1 and "next" not in reply.body
    assert list(reply.body) == ["result", "total", "time"]


async def test_get_the_general_funnel(rest: RestClient) -> None:
    reply = await rest.call("crm.category.get", {"entityTypeId": DEAL, "id": 0})
    assert reply.result == {"category": GENERAL}
    assert "total" not in reply.body


async def test_list_is_ordered_by_sort_then_id(rest: RestClient) -> None:
    late = await add_funnel(rest, name="Late", sort=300)
    first = await add_funnel(rest, name="First", sort=100)
    second = await add_funnel(rest, name="Second", sort=100)
    reply = await rest.call("crm.category.List", {"entityTypeId": "2"})
    assert [c["id"] for c in reply.result["categories"]] == [
        0,
        first["id"],
        second["id"],
        late["id"],
    ]
    assert first["id"] < second["id"] and reply.body["total"] == 4


async def test_fields_describe_every_field_with_upper_name(rest: RestClient) -> None:
    reply = await rest.call("crm.category.fields", {"entityTypeId": DEAL})
    fields = reply.result["fields"]
    assert list(reply.result) == ["fields"]
    assert list(fields) == [
        "id",
        "name",
        "sort",
        "entityTypeId",
        "isDefault",
        "originId",
        "originatorId",
    ]
    assert (
        fields["id"]["upperName"] == "ID" and fields["originatorId"]["upperName"] == "ORIGINATOR_ID"
    )
    read_only = {name for name, spec in fields.items() if spec["isReadOnly"]}
    assert read_only == {"id", "entityTypeId", "isDefault"}
    assert fields["sort"] == {
        "type": "integer",
        "isRequired": False,
        "isReadOnly": False,
        "isImmutable": False,
        "isMultiple": False,
        "isDynamic": False,
        "title": "SORT",
        "upperName": "SORT",
    }
    assert fields["isDefault"]["type"] == "boolean"


# add


async def test_add_returns_the_category_with_json_ints(rest: RestClient) -> None:
    category = await add_funnel(rest, name="Wholesale", sort=200)
    assert isinstance(category["id"], int) and category["id"] > 0
    assert category == {
        "id": category["id"],
        "name": "Wholesale",
        "sort": 200,
        "entityTypeId": 2,
        "isDefault": "N",
        "originId": "",
        "originatorId": "",
    }
    got = await rest.call("crm.category.get", {"entityTypeId": DEAL, "id": category["id"]})
    assert got.result == {"category": category}


async def test_add_creates_the_funnel_stage_list(rest: RestClient) -> None:
    n = (await add_funnel(rest, name="Wholesale"))["id"]
    rows = await funnel_stages(rest, n)
    assert [(r["STATUS_ID"], r["SORT"], r["SYSTEM"], r["SEMANTICS"], r["COLOR"]) for r in rows] == [
        # IDs are cut at 21 characters, as Bitrix does: C10:PREPAYMENT_INVOIC.
        (f"C{n}:{code}"[:21], sort, system, semantics, color)
        for code, sort, system, semantics, color in STAGES
    ]
    assert {r["ENTITY_ID"] for r in rows} == {f"DEAL_STAGE_{n}"}
    assert {r["CATEGORY_ID"] for r in rows} == {str(n)}
    assert [r["EXTRA"]["SEMANTICS"] for r in rows] == ["process"] * 5 + [
        "success",
        "failure",
        "apology",
    ]


async def test_add_applies_defaults_and_ignores_read_only_fields(rest: RestClient) -> None:
    category = await add_funnel(rest, isDefault="Y", entityTypeId=5, id=77, unknown="x")
    assert (category["name"], category["sort"]) == ("-", 500)
    assert category["isDefault"] == "N" and category["entityTypeId"] == 2 and category["id"] != 77
    listed = await rest.call("crm.category.list", {"entityTypeId": DEAL})
    assert [c["isDefault"] for c in listed.result["categories"]] == ["Y", "N"]


async def test_add_stores_negative_sort_as_zero_and_origin_fields(rest: RestClient) -> None:
    category = await add_funnel(
        rest, NAME="Imported", SORT=-5, originId="ext-9", ORIGINATOR_ID="crm-x"
    )
    assert (category["name"], category["sort"]) == ("Imported", 0)
    assert (category["originId"], category["originatorId"]) == ("ext-9", "crm-x")


async def test_form_encoded_add(rest: RestClient) -> None:
    reply = await rest.call(
        "crm.category.add", form="entityTypeId=2&fields[name]=Form+funnel&fields[sort]=150"
    )
    assert reply.result["category"]["name"] == "Form funnel"
    assert reply.result["category"]["sort"] == 150


async def test_a_deal_lives_in_a_new_funnel_stage(rest: RestClient) -> None:
    n = (await add_funnel(rest, name="Projects"))["id"]
    fields = {"TITLE": "Pallets", "CATEGORY_ID": n, "STAGE_ID": f"C{n}:PREPARATION"}
    deal_id = (await rest.call("crm.deal.add", {"fields": fields})).result
    deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
    assert (deal["CATEGORY_ID"], deal["STAGE_ID"]) == (str(n), f"C{n}:PREPARATION")
    assert (deal["STAGE_SEMANTIC_ID"], deal["CLOSED"], deal["IS_NEW"]) == ("P", "N", "N")
    started = (await rest.call("crm.deal.add", {"fields": {"CATEGORY_ID": n}})).result
    deal = (await rest.call("crm.deal.get", {"id": started})).result
    assert (deal["STAGE_ID"], deal["IS_NEW"]) == (f"C{n}:NEW", "Y")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "NAME"),
        ({"name": "   "}, "NAME"),
        ({"name": "x" * 256}, "NAME"),
        ({"name": {"a": 1}}, "NAME"),
        ({"sort": "ten"}, "SORT"),
        ({"originId": "o" * 256}, "ORIGIN_ID"),
    ],
)
async def test_bad_field_values_are_refused(
    rest: RestClient, db: AsyncEngine, fields: dict[str, Any], field: str
) -> None:
    before = await counts(db)
    reply = await rest.call("crm.category.add", {"entityTypeId": DEAL, "fields": fields})
    assert error(reply) == (
        400,
        "CRM_FIELD_ERROR_VALUE_NOT_VALID",
        f'Invalid value for field "{field}"',
    )
    assert await counts(db) == before


async def test_name_of_255_characters_is_accepted(rest: RestClient) -> None:
    assert (await add_funnel(rest, name="n" * 255))["name"] == "n" * 255


# update


async def test_update_changes_given_fields_and_returns_the_category(rest: RestClient) -> None:
    n = (await add_funnel(rest, name="Old", sort=200, originId="a"))["id"]
    reply = await rest.call(
        "crm.category.update",
        {"entityTypeId": DEAL, "id": n, "fields": {"name": "New", "isDefault": "Y"}},
    )
    assert reply.result == {
        "category": {
            "id": n,
            "name": "New",
            "sort": 200,
            "entityTypeId": 2,
            "isDefault": "N",
            "originId": "a",
            "originatorId": "",
        }
    }
    reply = await rest.call(
        "crm.category.update", {"entityTypeId": DEAL, "id": n, "fields": {"sort": -1}}
    )
    assert reply.result["category"]["sort"] == 0 and reply.result["category"]["name"] == "New"


async def test_the_general_funnel_can_be_renamed(rest: RestClient) -> None:
    reply = await rest.call(
        "crm.category.update", {"entityTypeId": DEAL, "id": 0, "fields": {"name": "Portal Shop"}}
    )
    assert reply.result["category"] == {**GENERAL, "name": "Portal Shop"}


async def test_update_refuses_a_blank_name_and_keeps_the_old_one(rest: RestClient) -> None:
    n = (await add_funnel(rest, name="Keep"))["id"]
    reply = await rest.call(
        "crm.category.update", {"entityTypeId": DEAL, "id": n, "fields": {"name": " "}}
    )
    assert error(reply) == (
        400,
        "CRM_FIELD_ERROR_VALUE_NOT_VALID",
        'Invalid value for field "NAME"',
    )
    got = await rest.call("crm.category.get", {"entityTypeId": DEAL, "id": n})
    assert got.result["category"]["name"] == "Keep"


# delete


async def test_delete_removes_the_funnel_and_its_stages(rest: RestClient, db: AsyncEngine) -> None:
    before = await counts(db)
    n = (await add_funnel(rest, name="Short-lived"))["id"]
    assert await counts(db) == (before[0] + 1, before[1] + 8)
    reply = await rest.call("crm.category.delete", {"entityTypeId": DEAL, "id": n})
    assert reply.status == 200 and reply.body["result"] is None
    assert await counts(db) == before
    assert await funnel_stages(rest, n) == []
    got = await rest.call("crm.category.get", {"entityTypeId": DEAL, "id": n})
    assert error(got) == (400, "NOT_FOUND", "Element not found")
    again = await rest.call("crm.category.delete", {"entityTypeId": DEAL, "id": n})
    assert error(again) == (400, "NOT_FOUND", "Element not found")


async def test_the_general_funnel_cannot_be_deleted(rest: RestClient, db: AsyncEngine) -> None:
    before = await counts(db)
    reply = await rest.call("crm.category.delete", {"entityTypeId": DEAL, "id": 0})
    assert error(reply) == (400, "REMOVING_DISABLED", "Deletion of system category is prohibited")
    assert await counts(db) == before


async def test_a_funnel_with_deals_cannot_be_deleted(rest: RestClient, db: AsyncEngine) -> None:
    n = (await add_funnel(rest, name="Busy"))["id"]
    deal_id = (await rest.call("crm.deal.add", {"fields": {"CATEGORY_ID": n}})).result
    before = await counts(db)
    reply = await rest.call("crm.category.delete", {"entityTypeId": DEAL, "id": n})
    assert error(reply) == (400, "BX_ERROR", "Elements related to the funnel found")
    assert await counts(db) == before
    await rest.call("crm.deal.delete", {"id": deal_id})
    reply = await rest.call("crm.category.delete", {"entityTypeId": DEAL, "id": n})
    assert reply.status == 200 and reply.body["result"] is None


# parameters and entity types

METHODS = [
    ("crm.category.list", {}),
    ("crm.category.get", {"id": 0}),
    ("crm.category.add", {"fields": {"name": "x"}}),
    ("crm.category.update", {"id": 0, "fields": {"name": "x"}}),
    ("crm.category.delete", {"id": 0}),
    ("crm.category.fields", {}),
]


@pytest.mark.parametrize(("method", "params"), METHODS, ids=[m for m, _ in METHODS])
@pytest.mark.parametrize(
    ("entity_type_id", "label"), [(1, "LEAD"), (3, "CONTACT"), (31, "SMART_INVOICE"), (999, "999")]
)
async def test_other_entity_types_are_not_supported(
    rest: RestClient,
    db: AsyncEngine,
    method: str,
    params: dict[str, Any],
    entity_type_id: int,
    label: str,
) -> None:
    before = await counts(db)
    reply = await rest.call(method, {"entityTypeId": entity_type_id, **params})
    assert error(reply) == (
        400,
        "ENTITY_TYPE_NOT_SUPPORTED",
        f"Entity type {label} is not supported",
    )
    assert await counts(db) == before


@pytest.mark.parametrize(("method", "params"), METHODS, ids=[m for m, _ in METHODS])
async def test_entity_type_id_is_required(
    rest: RestClient, method: str, params: dict[str, Any]
) -> None:
    reply = await rest.call(method, params)
    assert error(reply) == (
        400,
        "ERROR_ARGUMENT",
        "Could not find value for parameter {entityTypeId}",
    )
    assert reply.body["argument"] == "entityTypeId"
    reply = await rest.call(method, {"entityTypeId": "deal", **params})
    assert error(reply)[:2] == (400, "ERROR_ARGUMENT")
    assert reply.body["error_description"] == (
        "Invalid value {deal} to match with parameter {entityTypeId}. Should be value of type int."
    )


@pytest.mark.parametrize(
    "method", ["crm.category.get", "crm.category.update", "crm.category.delete"]
)
async def test_id_is_required_and_must_exist(rest: RestClient, method: str) -> None:
    fields = {"fields": {"name": "x"}}
    reply = await rest.call(method, {"entityTypeId": DEAL, **fields})
    assert error(reply) == (400, "ERROR_ARGUMENT", "Could not find value for parameter {id}")
    reply = await rest.call(method, {"entityTypeId": DEAL, "id": "x1", **fields})
    assert error(reply)[:2] == (400, "ERROR_ARGUMENT") and reply.body["argument"] == "id"
    reply = await rest.call(method, {"entityTypeId": DEAL, "id": 424242, **fields})
    assert error(reply) == (400, "NOT_FOUND", "Element not found")


@pytest.mark.parametrize("method", ["crm.category.add", "crm.category.update"])
async def test_fields_must_be_given_as_a_map(
    rest: RestClient, db: AsyncEngine, method: str
) -> None:
    before = await counts(db)
    reply = await rest.call(method, {"entityTypeId": DEAL, "id": 0})
    assert error(reply) == (400, "ERROR_ARGUMENT", "Could not find value for parameter {fields}")
    reply = await rest.call(method, {"entityTypeId": DEAL, "id": 0, "fields": "name"})
    assert error(reply) == (
        400,
        "ERROR_ARGUMENT",
        "Invalid value {name} to match with parameter {fields}. Should be value of type array.",
    )
    assert await counts(db) == before
