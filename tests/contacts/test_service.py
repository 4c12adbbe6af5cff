"""contacts.service on a real database: defaults, references, multi-fields, lists, events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.contacts import service
from relatecrm.contacts.fields import COMPANY, CONTACT, Entity
from relatecrm.contacts.models import multifields
from relatecrm.db import transaction
from relatecrm.deals import service as deals
from relatecrm.deals.service import Context
from relatecrm.errors import InvalidFieldValue, InvalidFilter, InvalidOrder, NotFound
from relatecrm.events.models import outbox
from relatecrm.listing import EQ, IN, LIKE, NE, NOT_IN, Condition, Group, ListQuery
from relatecrm.pipelines.models import statuses
from tests.conftest import count_rows

NOW = dt.datetime(2024, 8, 15, 8, 38, 21, tzinfo=dt.UTC)
CTX = Context(user_id=1, now=NOW, tz=ZoneInfo("Europe/Berlin"))


async def add(db: AsyncEngine, entity: Entity = CONTACT, **fields: Any) -> int:
    async with transaction(db) as conn:
        return await service.add(conn, CTX, entity, fields)


async def update(db: AsyncEngine, row_id: int, entity: Entity = CONTACT, **fields: Any) -> None:
    async with transaction(db) as conn:
        await service.update(conn, CTX, entity, row_id, fields)


async def get(db: AsyncEngine, row_id: int, entity: Entity = CONTACT) -> dict[str, Any]:
    async with transaction(db, write=False) as conn:
        return await service.get(conn, CTX, entity, row_id)


async def rows(db: AsyncEngine, entity: Entity = CONTACT, **query: Any) -> list[dict[str, Any]]:
    query.setdefault("select", ["ID"])
    async with transaction(db, write=False) as conn:
        return (await service.list_rows(conn, CTX, entity, ListQuery(**query))).rows


def values(row: dict[str, Any], name: str) -> list[tuple[str, str]]:
    return [(item["VALUE_TYPE"], item["VALUE"]) for item in row.get(name, [])]


async def test_contact_add_applies_documented_defaults(db: AsyncEngine) -> None:
    contact = await get(db, await add(db, NAME="John"))
    assert list(contact) == list(CONTACT.output_order)  # no multi-field without values
    assert contact["NAME"] == "John" and contact["LAST_NAME"] is None
    assert contact["ASSIGNED_BY_ID"] == contact["CREATED_BY_ID"] == contact["MODIFY_BY_ID"] == 1
    assert contact["DATE_CREATE"] == contact["DATE_MODIFY"] == contact["LAST_ACTIVITY_TIME"] == NOW
    assert (contact["OPENED"], contact["EXPORT"]) == ("Y", "Y")
    assert (contact["HAS_PHONE"], contact["HAS_EMAIL"], contact["HAS_IMOL"]) == ("N", "N", "N")
    # The first source is the default; CONTACT_TYPE and HONORIFIC lists hold no rows yet.
    assert contact["SOURCE_ID"] == "CALL"
    assert contact["TYPE_ID"] is None and contact["HONORIFIC"] is None


async def test_company_add_applies_documented_defaults(db: AsyncEngine) -> None:
    company = await get(db, await add(db, COMPANY, TITLE="Acme", REVENUE="3000000.10"), COMPANY)
    assert list(company) == list(COMPANY.output_order)
    assert company["TITLE"] == "Acme" and company["REVENUE"] == Decimal("3000000.10")
    assert company["CURRENCY_ID"] == "USD" and company["ASSIGNED_BY_ID"] == 1
    assert (company["OPENED"], company["IS_MY_COMPANY"]) == ("Y", "N")


async def test_add_ignores_read_only_and_unknown_fields(db: AsyncEngine) -> None:
    contact = await get(
        db,
        await add(db, ID=999, CREATED_BY_ID=5, HAS_PHONE="Y", LEAD_ID=3, NOPE="x",
                  DATE_CREATE="2020-01-01", COMPANY_IDS=[1]),
    )  # fmt: skip
    assert contact["ID"] != 999 and contact["CREATED_BY_ID"] == 1
    assert contact["HAS_PHONE"] == "N" and contact["LEAD_ID"] is None
    assert contact["DATE_CREATE"] == NOW


async def test_values_are_coerced(db: AsyncEngine) -> None:
    contact_id = await add(
        db, NAME=12, BIRTHDATE="2001-11-11T23:00:00+02:00", OPENED="false", EXPORT=0,
        ASSIGNED_BY_ID="1", COMPANY_ID=0,
    )  # fmt: skip
    contact = await get(db, contact_id)
    assert contact["NAME"] == "12" and contact["BIRTHDATE"] == dt.date(2001, 11, 11)
    assert (contact["OPENED"], contact["EXPORT"]) == ("N", "N")
    assert contact["COMPANY_ID"] is None


@pytest.mark.parametrize(
    ("entity", "fields", "field"),
    [
        (CONTACT, {"BIRTHDATE": "yesterday"}, "BIRTHDATE"),
        (CONTACT, {"NAME": {"a": 1}}, "NAME"),
        (CONTACT, {"NAME": "x" * 256}, "NAME"),
        (CONTACT, {"OPENED": "maybe"}, "OPENED"),
        (CONTACT, {"ASSIGNED_BY_ID": 999}, "ASSIGNED_BY_ID"),
        (CONTACT, {"SOURCE_ID": "NOPE"}, "SOURCE_ID"),
        (CONTACT, {"COMPANY_ID": 424242}, "COMPANY_ID"),
        (CONTACT, {"PHONE": "+1 555"}, "PHONE"),
        (CONTACT, {"PHONE": [{"VALUE": "+1", "VALUE_TYPE": "CELL"}]}, "PHONE"),
        (CONTACT, {"PHONE": ["+1 555"]}, "PHONE"),
        (CONTACT, {"PHONE": [{"VALUE": "1" * 251}]}, "PHONE"),
        (CONTACT, {"EMAIL": [{"VALUE": "not an address"}]}, "EMAIL"),
        (CONTACT, {"EMAIL": [{"VALUE": "a@b.io", "DELETE": "perhaps"}]}, "EMAIL"),
        (COMPANY, {}, "TITLE"),
        (COMPANY, {"TITLE": "  "}, "TITLE"),
        (COMPANY, {"TITLE": "A", "CURRENCY_ID": "XXX"}, "CURRENCY_ID"),
        (COMPANY, {"TITLE": "A", "REVENUE": "lots"}, "REVENUE"),
    ],
)
async def test_bad_values_are_refused_and_nothing_is_written(
    db: AsyncEngine, entity: Entity, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidFieldValue) as caught:
        async with transaction(db) as conn:
            await service.add(conn, CTX, entity, fields)
    assert caught.value.field == field
    for table in ("contacts", "companies", "multifields", "outbox"):
        assert await count_rows(db, table) == 0


async def test_a_held_reference_list_binds_and_gives_the_default(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        await conn.execute(
            insert(statuses),
            [
                {"entity_id": "CONTACT_TYPE", "status_id": code, "name": code, "sort": sort}
                for code, sort in (("CLIENT", 10), ("SUPPLIER", 20))
            ],
        )
    assert (await get(db, await add(db)))["TYPE_ID"] == "CLIENT"
    assert (await get(db, await add(db, TYPE_ID="SUPPLIER")))["TYPE_ID"] == "SUPPLIER"
    with pytest.raises(InvalidFieldValue):
        await add(db, TYPE_ID="PARTNER")
    # A list RelateCRM holds no rows of accepts any code.
    assert (await get(db, await add(db, HONORIFIC="HNR_EN_1")))["HONORIFIC"] == "HNR_EN_1"


async def test_multi_fields_on_add(db: AsyncEngine) -> None:
    contact_id = await add(
        db,
        PHONE=[{"VALUE": " +1333333555 ", "VALUE_TYPE": "work"}, {"VALUE": 15599888666}],
        EMAIL={"0": {"VALUE": "john@example.com", "VALUE_TYPE": "MAILING"}},
        IM=[{"VALUE": "imol|1", "VALUE_TYPE": "IMOL"}, {"value": ""}, ""],
        WEB=[{"ID": 77, "VALUE": "example.com"}, {"VALUE": "x.org", "DELETE": "Y"}],
    )
    contact = await get(db, contact_id)
    assert list(contact)[-4:] == ["PHONE", "EMAIL", "WEB", "IM"]
    assert values(contact, "PHONE") == [("WORK", "+1333333555"), ("WORK", "15599888666")]
    assert values(contact, "EMAIL") == [("MAILING", "john@example.com")]
    assert values(contact, "WEB") == [("WORK", "example.com")]  # an ID means nothing on add
    assert values(contact, "IM") == [("IMOL", "imol|1")]
    item = contact["PHONE"][0]
    assert list(item) == ["ID", "VALUE_TYPE", "VALUE", "TYPE_ID"] and item["TYPE_ID"] == "PHONE"
    assert (contact["HAS_PHONE"], contact["HAS_EMAIL"], contact["HAS_IMOL"]) == ("Y", "Y", "Y")


async def test_multi_field_update_changes_deletes_and_adds_by_id(db: AsyncEngine) -> None:
    contact_id = await add(
        db, PHONE=[{"VALUE": v} for v in ("111111", "222222", "333333", "44444")],
        EMAIL=[{"VALUE": "a@b.io"}],
    )  # fmt: skip
    ids = [item["ID"] for item in (await get(db, contact_id))["PHONE"]]
    await update(
        db,
        contact_id,
        PHONE=[
            {"ID": ids[0], "DELETE": "Y"},
            {"ID": str(ids[1]), "VALUE": ""},
            {"ID": ids[2]},
            {"ID": ids[3], "VALUE": "444444", "VALUE_TYPE": "MOBILE"},
            {"VALUE": "55555", "VALUE_TYPE": "HOME"},
        ],
    )
    contact = await get(db, contact_id)
    assert values(contact, "PHONE") == [("MOBILE", "444444"), ("HOME", "55555")]
    assert contact["PHONE"][0]["ID"] == ids[3]
    assert values(contact, "EMAIL") == [("WORK", "a@b.io")]  # untouched
    await update(db, contact_id, PHONE=[{"ID": ids[3], "VALUE": "4"}])  # keeps its type
    assert values(await get(db, contact_id), "PHONE")[0] == ("MOBILE", "4")


async def test_flags_follow_the_remaining_values(db: AsyncEngine) -> None:
    contact_id = await add(db, PHONE=[{"VALUE": "1"}])
    phone_id = (await get(db, contact_id))["PHONE"][0]["ID"]
    await update(db, contact_id, PHONE=[{"ID": phone_id, "VALUE": ""}], EMAIL=[{"VALUE": "a@b.io"}])
    contact = await get(db, contact_id)
    assert "PHONE" not in contact and (contact["HAS_PHONE"], contact["HAS_EMAIL"]) == ("N", "Y")


async def test_update_refuses_ids_of_other_values(db: AsyncEngine) -> None:
    first = await add(db, PHONE=[{"VALUE": "1"}], EMAIL=[{"VALUE": "a@b.io"}])
    other = await add(db, PHONE=[{"VALUE": "2"}])
    mine = await get(db, first)
    theirs = (await get(db, other))["PHONE"][0]["ID"]
    for items in (
        {"PHONE": [{"ID": theirs, "VALUE": "x"}]},  # another contact's phone
        {"PHONE": [{"ID": mine["EMAIL"][0]["ID"], "VALUE": "x"}]},  # not a phone
        {"PHONE": [{"ID": 10**6, "VALUE": ""}]},
        {"PHONE": [{"ID": -1, "VALUE": "x"}]},
    ):
        with pytest.raises(InvalidFieldValue):
            await update(db, first, NAME="changed", **items)
    assert await get(db, first) == mine
    assert values(await get(db, other), "PHONE") == [("WORK", "2")]


async def test_update_applies_only_given_fields(db: AsyncEngine) -> None:
    contact_id = await add(db, NAME="John", LAST_NAME="Smith", POST="Admin")
    later = Context(user_id=1, now=NOW + dt.timedelta(hours=1), tz=CTX.tz)
    async with transaction(db) as conn:
        await service.update(conn, later, CONTACT, contact_id, {"POST": None, "NOPE": 1})
    contact = await get(db, contact_id)
    assert (contact["NAME"], contact["LAST_NAME"], contact["POST"]) == ("John", "Smith", None)
    assert contact["DATE_MODIFY"] == later.now and contact["DATE_CREATE"] == NOW


async def test_missing_rows_are_not_found(db: AsyncEngine) -> None:
    for call in (
        update(db, 4242, NAME="x"),
        get(db, 4242),
        get(db, 4242, COMPANY),
    ):
        with pytest.raises(NotFound):
            await call
    with pytest.raises(NotFound):
        async with transaction(db) as conn:
            await service.delete(conn, CTX, COMPANY, 4242)


async def test_company_title_cannot_be_emptied(db: AsyncEngine) -> None:
    company_id = await add(db, COMPANY, TITLE="Acme")
    with pytest.raises(InvalidFieldValue):
        await update(db, company_id, COMPANY, TITLE="")
    await update(db, company_id, COMPANY, COMMENTS="ok")
    assert (await get(db, company_id, COMPANY))["TITLE"] == "Acme"


async def test_delete_removes_values_and_unlinks_contacts(db: AsyncEngine) -> None:
    company_id = await add(db, COMPANY, TITLE="Acme", PHONE=[{"VALUE": "1"}])
    contact_id = await add(db, COMPANY_ID=company_id, PHONE=[{"VALUE": "2"}])
    async with transaction(db) as conn:
        deal_id = await deals.add(conn, CTX, {"COMPANY_ID": company_id, "CONTACT_ID": contact_id})
        await service.delete(conn, CTX, COMPANY, company_id)
    assert (await get(db, contact_id))["COMPANY_ID"] is None
    async with transaction(db) as conn:
        await service.delete(conn, CTX, CONTACT, contact_id)
    assert await count_rows(db, "multifields") == 0
    with pytest.raises(NotFound):
        await get(db, contact_id)
    async with transaction(db, write=False) as conn:
        deal = await deals.get(conn, CTX, deal_id)
    assert (deal["COMPANY_ID"], deal["CONTACT_ID"]) == (None, None)  # the deal forgot both


async def test_every_change_records_its_event(db: AsyncEngine) -> None:
    contact_id = await add(db)
    company_id = await add(db, COMPANY, TITLE="Acme")
    await update(db, contact_id, NAME="x")
    await update(db, company_id, COMPANY, TITLE="y")
    async with transaction(db) as conn:
        await service.delete(conn, CTX, CONTACT, contact_id)
        await service.delete(conn, CTX, COMPANY, company_id)
        found = (
            await conn.execute(
                select(outbox.c.event, outbox.c.entity_type, outbox.c.entity_id, outbox.c.payload)
                .order_by(outbox.c.id)
            )
        ).all()  # fmt: skip
    assert [tuple(row) for row in found] == [
        ("onCrmContactAdd", "contact", contact_id, {"FIELDS": {"ID": contact_id}}),
        ("onCrmCompanyAdd", "company", company_id, {"FIELDS": {"ID": company_id}}),
        ("onCrmContactUpdate", "contact", contact_id, {"FIELDS": {"ID": contact_id}}),
        ("onCrmCompanyUpdate", "company", company_id, {"FIELDS": {"ID": company_id}}),
        ("onCrmContactDelete", "contact", contact_id, {"FIELDS": {"ID": contact_id}}),
        ("onCrmCompanyDelete", "company", company_id, {"FIELDS": {"ID": company_id}}),
    ]


async def test_deleting_clients_updates_their_deals_in_the_same_transaction(
    db: AsyncEngine,
) -> None:
    ann, bob = await add(db, NAME="Ann"), await add(db, NAME="Bob")
    company_id = await add(db, COMPANY, TITLE="Acme")
    async with transaction(db) as conn:
        deal_id = await deals.add(conn, CTX, {"COMPANY_ID": company_id, "CONTACT_IDS": [ann, bob]})
    async with transaction(db) as conn:
        mark = (await conn.execute(select(func.max(outbox.c.id)))).scalar_one()
        await service.delete(conn, CTX, CONTACT, ann)
        await service.delete(conn, CTX, COMPANY, company_id)
        found = await conn.execute(
            select(outbox.c.event, outbox.c.entity_id)
            .where(outbox.c.id > mark)
            .order_by(outbox.c.id)
        )
        assert [tuple(row) for row in found] == [
            ("onCrmDealUpdate", deal_id), ("onCrmContactDelete", ann),
            ("onCrmDealUpdate", deal_id), ("onCrmCompanyDelete", company_id),
        ]  # fmt: skip
        deal = await deals.get(conn, CTX, deal_id)
        assert (deal["CONTACT_ID"], deal["COMPANY_ID"]) == (bob, None)
        assert (await deals.contact_ids(conn, [deal_id]))[deal_id] == [bob]
    # A failing delete rolls the deals back with it.
    with pytest.raises(RuntimeError):
        async with transaction(db) as conn:
            await service.delete(conn, CTX, CONTACT, bob)
            raise RuntimeError
    async with transaction(db, write=False) as conn:
        assert (await deals.get(conn, CTX, deal_id))["CONTACT_ID"] == bob


@pytest.fixture
async def three(db: AsyncEngine) -> list[int]:
    """Three contacts: phones 1 and 2; phone 2 and e-mail; nothing."""
    return [
        await add(db, NAME="Ann", PHONE=[{"VALUE": "+1"}, {"VALUE": "+2"}]),
        await add(db, NAME="Bob", PHONE=[{"VALUE": "+2"}], EMAIL=[{"VALUE": "bob@x.io"}]),
        await add(db, NAME="Cy"),
    ]


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (EQ, "+2", [0, 1]),
        (EQ, "+1", [0]),
        (EQ, "+", []),
        (LIKE, "%+%", []),  # exact match only: LIKE means equality
        (IN, ["+1", "+3"], [0]),
        (NE, "+1", [1, 2]),
        (NOT_IN, ["+1", "+2"], [2]),
        (EQ, "", []),
    ],
)
async def test_list_filters_multi_fields_by_exact_value(
    db: AsyncEngine, three: list[int], op: str, value: Any, expected: list[int]
) -> None:
    found = await rows(db, conditions=[Condition("PHONE", op, value)])
    assert [row["ID"] for row in found] == [three[i] for i in expected]


async def test_list_combines_multi_field_and_other_conditions(
    db: AsyncEngine, three: list[int]
) -> None:
    conditions = [Condition("PHONE", EQ, "+2"), Condition("EMAIL", EQ, "bob@x.io"),
                  Condition("NAME", EQ, "Bob")]  # fmt: skip
    assert [row["ID"] for row in await rows(db, conditions=conditions)] == [three[1]]
    page = await rows(db, conditions=[Condition("HAS_PHONE", EQ, "Y")], order=[("NAME", "DESC")])
    assert [row["ID"] for row in page] == [three[1], three[0]]


async def test_list_selects_multi_fields_only_when_named(db: AsyncEngine, three: list[int]) -> None:
    plain = await rows(db, select=["ID", "NAME"])
    assert [list(row) for row in plain] == [["ID", "NAME"]] * 3
    named = await rows(db, select=["NAME", "PHONE", "EMAIL"])
    assert [list(row) for row in named] == [["NAME", "PHONE"], ["NAME", "PHONE", "EMAIL"], ["NAME"]]
    assert values(named[0], "PHONE") == [("WORK", "+1"), ("WORK", "+2")]
    assert [list(row) for row in await rows(db, select=["EMAIL"])] == [[], ["EMAIL"], []]


async def test_list_refuses_what_multi_fields_cannot_do(db: AsyncEngine, three: list[int]) -> None:
    with pytest.raises(InvalidFilter):
        await rows(db, conditions=[Condition("PHONE", ">", "+1")])
    with pytest.raises(InvalidFilter):  # crm.contact.list has no logic; sub-filters hold no PHONE
        await rows(db, conditions=[Group([Condition("PHONE", EQ, "+1")], "OR")])
    with pytest.raises(InvalidOrder):
        await rows(db, order=[("PHONE", "ASC")])


async def test_list_pages_by_fifty_with_a_count(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        ids = [await service.add(conn, CTX, COMPANY, {"TITLE": f"C{i}"}) for i in range(55)]
        await conn.execute(
            insert(multifields),
            [{"entity_type": "COMPANY", "entity_id": i, "type_id": "PHONE", "value_type": "WORK",
              "value": "+7"} for i in ids],
        )  # fmt: skip
    async with transaction(db, write=False) as conn:
        query = ListQuery(select=["ID", "PHONE"], conditions=[Condition("PHONE", EQ, "+7")])
        first = await service.list_rows(conn, CTX, COMPANY, query)
        last = await service.list_rows(conn, CTX, COMPANY, ListQuery(["ID"], start=50))
        uncounted = await service.list_rows(conn, CTX, COMPANY, ListQuery(["ID"], start=-1))
    assert [row["ID"] for row in first.rows] == ids[:50]
    assert (first.total, first.next) == (55, 50)
    assert [row["ID"] for row in last.rows] == ids[50:] and last.next is None
    assert uncounted.total is None and len(uncounted.rows) == 50
