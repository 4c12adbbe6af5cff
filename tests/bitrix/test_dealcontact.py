"""``crm.deal.contact.*`` through the real app, as a client sees them (deals spec §5).

Every method, every §5.7 error with its exact code, text and status, JSON and form bodies,
the primary/SORT rules, the onCrmDealUpdate events, and bad input that must change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.events.models import outbox
from tests.conftest import RestClient, RestReply, count_rows

OWNER_QUOTED = "The parameter 'ownerEntityID' is invalid or not defined."
OWNER = "The parameter ownerEntityID is invalid or not defined."
NOT_VALID = "The parameter 'fields' is not valid."


async def contacts(rest: RestClient, count: int) -> list[int]:
    found = []
    for index in range(count):
        reply = await rest.call("crm.contact.add", {"fields": {"NAME": f"n{index}"}})
        found.append(reply.result)
    return found


async def new_deal(rest: RestClient, **fields: Any) -> int:
    deal_id: int = (await rest.call("crm.deal.add", {"fields": {"TITLE": "d", **fields}})).result
    return deal_id


async def links(rest: RestClient, deal_id: int) -> list[tuple[int, int, str]]:
    reply = await rest.call("crm.deal.contact.items.get", {"id": deal_id})
    return [(item["CONTACT_ID"], item["SORT"], item["IS_PRIMARY"]) for item in reply.result]


async def primary_field(rest: RestClient, deal_id: int) -> Any:
    return (await rest.call("crm.deal.get", {"id": deal_id})).result["CONTACT_ID"]


async def updates(db: AsyncEngine, deal_id: int) -> int:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.id).where(
                outbox.c.entity_id == deal_id, outbox.c.event == "onCrmDealUpdate"
            )
        )
        return len(rows.all())


async def state(db: AsyncEngine) -> list[int]:
    """Row counts of deals, links and events: a refused call changes none of them."""
    return [await count_rows(db, table) for table in ("deals", "deal_contacts", "outbox")]


def refused(reply: RestReply, code: str, description: str) -> None:
    assert (reply.status, reply.body) == (400, {"error": code, "error_description": description})


# crm.deal.contact.fields


async def test_fields_describe_the_link(rest: RestClient) -> None:
    reply = await rest.call("crm.deal.contact.fields")
    flags = {"isImmutable": False, "isMultiple": False, "isDynamic": False}
    assert reply.result == {
        "CONTACT_ID": {"type": "integer", "isRequired": True, "isReadOnly": False, **flags,
                       "title": "CONTACT_ID"},
        "SORT": {"type": "integer", "isRequired": False, "isReadOnly": False, **flags,
                 "title": "SORT"},
        "ROLE_ID": {"type": "integer", "isRequired": False, "isReadOnly": True, **flags,
                    "title": "ROLE_ID"},
        "IS_PRIMARY": {"type": "char", "isRequired": False, "isReadOnly": False, **flags,
                       "title": "IS_PRIMARY"},
    }  # fmt: skip
    assert list(reply.result) == ["CONTACT_ID", "SORT", "ROLE_ID", "IS_PRIMARY"]
    keys = ["type", "isRequired", "isReadOnly", "isImmutable", "isMultiple", "isDynamic", "title"]
    assert all(list(descriptor) == keys for descriptor in reply.result.values())


# add / items.get: the documented example and the primary rules


async def test_add_follows_the_primary_and_sort_rules(rest: RestClient, db: AsyncEngine) -> None:
    a, b, c = await contacts(rest, 3)
    deal_id = await new_deal(rest)
    assert await links(rest, deal_id) == []
    # The first link becomes primary even with IS_PRIMARY=N; SORT defaults to max + 10.
    reply = await rest.call(
        "crm.deal.contact.add", {"id": deal_id, "fields": {"CONTACT_ID": a, "IS_PRIMARY": "N"}}
    )
    assert reply.body["result"] is True
    await rest.call("crm.deal.contact.add", {"id": deal_id, "fields": {"CONTACT_ID": b}})
    assert await links(rest, deal_id) == [(a, 10, "Y"), (b, 20, "N")]
    # The documented example: IS_PRIMARY=Y with SORT 1000 takes over as primary.
    example = {"id": deal_id, "fields": {"CONTACT_ID": c, "IS_PRIMARY": "Y", "SORT": 1000}}
    assert (await rest.call("crm.deal.contact.add", example)).body["result"] is True
    assert await links(rest, deal_id) == [(a, 10, "N"), (b, 20, "N"), (c, 1000, "Y")]
    assert await primary_field(rest, deal_id) == str(c)
    assert await updates(db, deal_id) == 3


async def test_add_of_a_linked_contact_is_false_and_changes_nothing(
    rest: RestClient, db: AsyncEngine
) -> None:
    a, b = await contacts(rest, 2)
    deal_id = await new_deal(rest, CONTACT_IDS=[a, b])
    before = await state(db)
    again = {"id": deal_id, "fields": {"CONTACT_ID": b, "IS_PRIMARY": "Y", "SORT": 1}}
    reply = await rest.call("crm.deal.contact.add", again)
    assert reply.status == 200 and reply.body["result"] is False
    assert await links(rest, deal_id) == [(a, 10, "Y"), (b, 20, "N")]
    assert await state(db) == before


async def test_items_get_returns_json_integers_by_sort(rest: RestClient) -> None:
    a, b, c = await contacts(rest, 3)
    deal_id = await new_deal(rest)
    items = [{"CONTACT_ID": a, "SORT": 300}, {"CONTACT_ID": b, "SORT": 100, "IS_PRIMARY": "Y"},
             {"CONTACT_ID": c, "SORT": 200}]  # fmt: skip
    await rest.call("crm.deal.contact.items.set", {"id": deal_id, "items": items})
    reply = await rest.call("crm.deal.contact.items.get", {"ID": str(deal_id)})
    assert reply.result == [
        {"CONTACT_ID": b, "SORT": 100, "ROLE_ID": 0, "IS_PRIMARY": "Y"},
        {"CONTACT_ID": c, "SORT": 200, "ROLE_ID": 0, "IS_PRIMARY": "N"},
        {"CONTACT_ID": a, "SORT": 300, "ROLE_ID": 0, "IS_PRIMARY": "N"},
    ]


# items.set


async def test_items_set_replaces_the_set_with_the_documented_rules(
    rest: RestClient, db: AsyncEngine
) -> None:
    a, b, c, d = await contacts(rest, 4)
    deal_id = await new_deal(rest, CONTACT_IDS=[d])
    # The documented example (with our ids): d is unlinked, the Y item is primary.
    example = [{"CONTACT_ID": a, "IS_PRIMARY": "Y", "SORT": 100}, {"CONTACT_ID": b, "SORT": 200},
               {"CONTACT_ID": c, "SORT": 400}]  # fmt: skip
    reply = await rest.call("crm.deal.contact.items.set", {"id": deal_id, "items": example})
    assert reply.body["result"] is True
    assert await links(rest, deal_id) == [(a, 100, "Y"), (b, 200, "N"), (c, 400, "N")]
    # No Y: the first item; several Y: the first Y; default SORT (i + 1) * 10.
    plain = [{"CONTACT_ID": c}, {"CONTACT_ID": a}]
    await rest.call("crm.deal.contact.items.set", {"id": deal_id, "items": plain})
    assert await links(rest, deal_id) == [(c, 10, "Y"), (a, 20, "N")]
    many = [{"CONTACT_ID": a}, {"CONTACT_ID": b, "IS_PRIMARY": "Y"},
            {"CONTACT_ID": c, "IS_PRIMARY": "Y"}]  # fmt: skip
    await rest.call("crm.deal.contact.items.set", {"id": deal_id, "items": many})
    assert await links(rest, deal_id) == [(a, 10, "N"), (b, 20, "Y"), (c, 30, "N")]
    assert await primary_field(rest, deal_id) == str(b)
    count = await updates(db, deal_id)
    await rest.call("crm.deal.contact.items.set", {"id": deal_id, "items": many})  # the same
    assert await updates(db, deal_id) == count
    await rest.call("crm.deal.contact.items.set", {"id": deal_id, "items": []})
    assert await links(rest, deal_id) == [] and await primary_field(rest, deal_id) is None
    assert await updates(db, deal_id) == count + 1


async def test_items_set_by_form_with_php_brackets(rest: RestClient) -> None:
    a, b = await contacts(rest, 2)
    deal_id = await new_deal(rest)
    form = (
        f"id={deal_id}&items[0][CONTACT_ID]={a}&items[0][SORT]=5"
        f"&items[1][CONTACT_ID]={b}&items[1][IS_PRIMARY]=Y"
    )
    reply = await rest.call("crm.deal.contact.items.set", form=form)
    assert reply.body["result"] is True
    assert await links(rest, deal_id) == [(a, 5, "N"), (b, 20, "Y")]
    listed = await rest.call("crm.deal.contact.items.get", form=f"id={deal_id}", get=True)
    assert [item["CONTACT_ID"] for item in listed.result] == [a, b]


async def test_add_and_delete_by_form(rest: RestClient, db: AsyncEngine) -> None:
    a, b = await contacts(rest, 2)
    deal_id = await new_deal(rest)
    for contact_id in (a, b):
        form = f"id={deal_id}&fields[CONTACT_ID]={contact_id}&fields[IS_PRIMARY]=Y"
        assert (await rest.call("crm.deal.contact.add", form=form)).body["result"] is True
    assert await links(rest, deal_id) == [(a, 10, "N"), (b, 20, "Y")]
    form = f"ID={deal_id}&FIELDS[CONTACT_ID]={b}"
    assert (await rest.call("crm.deal.contact.delete", form=form)).body["result"] is True
    assert await links(rest, deal_id) == [(a, 10, "Y")]
    assert await updates(db, deal_id) == 3


# delete / items.delete


async def test_delete_promotes_the_first_remaining_by_sort(
    rest: RestClient, db: AsyncEngine
) -> None:
    a, b, c = await contacts(rest, 3)
    deal_id = await new_deal(rest)
    items = [{"CONTACT_ID": a, "SORT": 50, "IS_PRIMARY": "Y"}, {"CONTACT_ID": b, "SORT": 30},
             {"CONTACT_ID": c, "SORT": 20}]  # fmt: skip
    await rest.call("crm.deal.contact.items.set", {"id": deal_id, "items": items})
    reply = await rest.call("crm.deal.contact.delete", {"id": deal_id, "fields": {"CONTACT_ID": a}})
    assert reply.body["result"] is True
    assert await links(rest, deal_id) == [(c, 20, "Y"), (b, 30, "N")]
    assert await primary_field(rest, deal_id) == str(c)
    # Deleting a link that is not there: false, nothing written, no event.
    before = (await state(db), await updates(db, deal_id))
    for contact_id in (a, 10**6):
        gone = {"id": deal_id, "fields": {"CONTACT_ID": contact_id}}
        assert (await rest.call("crm.deal.contact.delete", gone)).body["result"] is False
    assert (await state(db), await updates(db, deal_id)) == before


async def test_items_delete_unlinks_all(rest: RestClient, db: AsyncEngine) -> None:
    a, b = await contacts(rest, 2)
    deal_id = await new_deal(rest, CONTACT_IDS=[a, b])
    reply = await rest.call("crm.deal.contact.items.delete", {"id": deal_id})
    assert reply.body["result"] is True
    assert await links(rest, deal_id) == [] and await primary_field(rest, deal_id) is None
    assert await updates(db, deal_id) == 1
    assert (await rest.call("crm.deal.contact.items.delete", {"id": deal_id})).body["result"]
    assert await updates(db, deal_id) == 1  # nothing left to unlink: no event


# §5.7 errors, in Bitrix's order: owner id, parameter shape, deal, link.

OWNER_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("crm.deal.contact.add", {"fields": {"CONTACT_ID": 1}}, OWNER_QUOTED),
    ("crm.deal.contact.delete", {"fields": {"CONTACT_ID": 1}}, OWNER_QUOTED),
    ("crm.deal.contact.items.get", {}, OWNER),
    ("crm.deal.contact.items.set", {"items": []}, OWNER),
    ("crm.deal.contact.items.delete", {}, OWNER),
]


@pytest.mark.parametrize(("method", "params", "message"), OWNER_CASES)
@pytest.mark.parametrize("owner", [None, 0, -5, "abc", "", [1], {"a": 1}, 1.5, 2**31, "9" * 30])
async def test_bad_owner_id(
    rest: RestClient, db: AsyncEngine, method: str, params: dict[str, Any], message: str, owner: Any
) -> None:
    before = await state(db)
    body = params if owner is None else {"id": owner, **params}
    refused(await rest.call(method, body), "", message)
    assert await state(db) == before


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("crm.deal.contact.add", {}, "The parameter 'fields' must be array."),
        ("crm.deal.contact.add", {"fields": "x"}, "The parameter 'fields' must be array."),
        ("crm.deal.contact.add", {"fields": 5}, "The parameter 'fields' must be array."),
        ("crm.deal.contact.delete", {}, "The parameter 'item' must be array."),
        ("crm.deal.contact.delete", {"fields": "x"}, "The parameter 'item' must be array."),
        ("crm.deal.contact.items.set", {}, "The parameter items must be array."),
        ("crm.deal.contact.items.set", {"items": "x"}, "The parameter items must be array."),
        ("crm.deal.contact.items.set", {"items": 7}, "The parameter items must be array."),
    ],
)
async def test_parameters_that_are_not_arrays(
    rest: RestClient, db: AsyncEngine, method: str, params: dict[str, Any], message: str
) -> None:
    before = await state(db)
    # The shape is judged before the deal: a missing deal gives the same answer.
    refused(await rest.call(method, {"id": 10**6, **params}), "", message)
    assert await state(db) == before


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("crm.deal.contact.add", {"fields": {"CONTACT_ID": 1}}, "Not found."),
        ("crm.deal.contact.add", {"fields": {}}, "Not found."),  # before "not valid"
        ("crm.deal.contact.delete", {"fields": {"CONTACT_ID": 1}}, "Not found."),
        ("crm.deal.contact.items.get", {}, "Not found."),
        ("crm.deal.contact.items.set", {"items": [{"CONTACT_ID": 1}]}, "Not found."),
        ("crm.deal.contact.items.set", {"items": [{"SORT": 1}]}, "Not found."),
        ("crm.deal.contact.items.delete", {}, "Not found."),
    ],
)
async def test_missing_deal(
    rest: RestClient, db: AsyncEngine, method: str, params: dict[str, Any], message: str
) -> None:
    deal_id = await new_deal(rest)
    before = await state(db)
    refused(await rest.call(method, {"id": deal_id + 1000, **params}), "", message)
    assert await state(db) == before


@pytest.mark.parametrize(
    "fields",
    [
        {},
        [],
        [5],
        {"CONTACT_ID": 0},
        {"CONTACT_ID": -3},
        {"CONTACT_ID": "abc"},
        {"CONTACT_ID": None},
        {"CONTACT_ID": [1]},
        {"CONTACT_ID": 2**31},
        {"CONTACT_ID": "1e400"},
        {"SORT": 10},
    ],
    ids=repr,
)
async def test_fields_without_a_valid_contact_id(
    rest: RestClient, db: AsyncEngine, fields: Any
) -> None:
    deal_id = await new_deal(rest)
    before = await state(db)
    for method in ("crm.deal.contact.add", "crm.deal.contact.delete"):
        refused(await rest.call(method, {"id": deal_id, "fields": fields}), "", NOT_VALID)
    assert await state(db) == before


@pytest.mark.parametrize(
    "extra",
    [
        {"SORT": "abc"},
        {"SORT": 2**31},
        {"SORT": [1]},
        {"IS_PRIMARY": "maybe"},
        {"IS_PRIMARY": {"a": 1}},
    ],  # fmt: skip
    ids=repr,
)
async def test_add_refuses_unreadable_sort_or_flag(
    rest: RestClient, db: AsyncEngine, extra: dict[str, Any]
) -> None:
    (a,) = await contacts(rest, 1)
    deal_id = await new_deal(rest)
    before = await state(db)
    params = {"id": deal_id, "fields": {"CONTACT_ID": a, **extra}}
    refused(await rest.call("crm.deal.contact.add", params), "", NOT_VALID)
    assert await state(db) == before


async def test_a_contact_that_does_not_exist_is_refused(rest: RestClient, db: AsyncEngine) -> None:
    (a,) = await contacts(rest, 1)
    deal_id = await new_deal(rest, CONTACT_IDS=[a])
    before = await state(db)
    missing = a + 1000
    add = {"id": deal_id, "fields": {"CONTACT_ID": missing, "IS_PRIMARY": "Y"}}
    refused(await rest.call("crm.deal.contact.add", add), "", NOT_VALID)
    items = {"id": deal_id, "items": [{"CONTACT_ID": a}, {"CONTACT_ID": missing}]}
    refused(
        await rest.call("crm.deal.contact.items.set", items),
        "ERROR_CORE",
        f"Contact {missing} is not found.",
    )
    assert await state(db) == before
    assert await links(rest, deal_id) == [(a, 10, "Y")]


@pytest.mark.parametrize(
    "items",
    [
        [5],
        ["x"],
        [None],
        [[1, 2]],
        [{"SORT": 1}],
        [{"CONTACT_ID": 0}],
        [{"CONTACT_ID": -1}],
        [{"CONTACT_ID": 2**40}],
        [{"CONTACT_ID": "abc"}],
        [{"CONTACT_ID": 1, "SORT": "high"}],
        [{"CONTACT_ID": 1, "IS_PRIMARY": "perhaps"}],
    ],
    ids=repr,
)
async def test_items_set_refuses_items_it_cannot_read(
    rest: RestClient, db: AsyncEngine, items: list[Any]
) -> None:
    (a,) = await contacts(rest, 1)
    deal_id = await new_deal(rest, CONTACT_IDS=[a])
    before = await state(db)
    valid_first = [{"CONTACT_ID": a}, *items]
    reply = await rest.call("crm.deal.contact.items.set", {"id": deal_id, "items": valid_first})
    refused(reply, "ERROR_CORE", "The parameter items is not valid.")
    assert await state(db) == before
    assert await links(rest, deal_id) == [(a, 10, "Y")]


async def test_method_names_are_case_insensitive_and_take_json_suffix(rest: RestClient) -> None:
    deal_id = await new_deal(rest)
    reply = await rest.call("CRM.Deal.Contact.Items.Get.json", {"id": deal_id})
    assert reply.result == []


async def test_deleting_a_contact_or_company_unlinks_it(rest: RestClient, db: AsyncEngine) -> None:
    a, b = await contacts(rest, 2)
    company = (await rest.call("crm.company.add", {"fields": {"TITLE": "Acme"}})).result
    deal_id = await new_deal(rest, COMPANY_ID=company, CONTACT_IDS=[a, b])
    assert (await rest.call("crm.contact.delete", {"id": a})).body["result"] is True
    assert await links(rest, deal_id) == [(b, 20, "Y")]
    assert await primary_field(rest, deal_id) == str(b)
    assert (await rest.call("crm.company.delete", {"id": company})).body["result"] is True
    deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
    assert (deal["COMPANY_ID"], deal["CONTACT_ID"]) == (None, str(b))
    assert await updates(db, deal_id) == 2
    # The deleted contact can no longer be linked.
    again = {"id": deal_id, "fields": {"CONTACT_ID": a}}
    refused(await rest.call("crm.deal.contact.add", again), "", NOT_VALID)
