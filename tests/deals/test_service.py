"""deals.service on a real database: defaults, writability, stages, contacts, events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.contacts import service as contacts
from relatecrm.contacts.fields import CONTACT
from relatecrm.db import transaction
from relatecrm.deals import service
from relatecrm.deals.models import deal_contacts
from relatecrm.errors import InvalidFieldValue, InvalidId, NotFound
from relatecrm.events.models import outbox

NOW = dt.datetime(2024, 8, 30, 12, 19, 57, tzinfo=dt.UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def ctx(user_id: int = 1, now: dt.datetime = NOW) -> service.Context:
    return service.Context(user_id=user_id, now=now, tz=BERLIN)


async def add(db: AsyncEngine, **fields: object) -> int:
    async with transaction(db) as conn:
        return await service.add(conn, ctx(), fields)


async def get(db: AsyncEngine, deal_id: int) -> dict[str, object]:
    async with transaction(db, write=False) as conn:
        return await service.get(conn, ctx(), deal_id)


async def test_add_applies_documented_defaults(db: AsyncEngine) -> None:
    deal_id = await add(db)
    deal = await get(db, deal_id)
    assert deal["TITLE"] == f"Deal #{deal_id}"
    assert deal["STAGE_ID"] == "NEW" and deal["CATEGORY_ID"] == 0
    assert deal["STAGE_SEMANTIC_ID"] == "P" and deal["CLOSED"] == "N" and deal["IS_NEW"] == "Y"
    assert deal["TYPE_ID"] == "SALE" and deal["SOURCE_ID"] == "CALL"
    assert deal["CURRENCY_ID"] == "USD"
    assert deal["OPPORTUNITY"] == Decimal("0.00") and deal["TAX_VALUE"] == Decimal("0.00")
    assert deal["IS_MANUAL_OPPORTUNITY"] == "N" and deal["OPENED"] == "Y"
    # Dates are read in the portal zone: 12:19 UTC is already the 30th in Berlin.
    assert deal["BEGINDATE"] == dt.date(2024, 8, 30)
    assert deal["CLOSEDATE"] == dt.date(2024, 9, 6)
    for name in ("ASSIGNED_BY_ID", "CREATED_BY_ID", "MODIFY_BY_ID", "MOVED_BY_ID"):
        assert deal[name] == 1
    for name in ("DATE_CREATE", "DATE_MODIFY", "MOVED_TIME", "LAST_ACTIVITY_TIME"):
        assert deal[name] == NOW
    assert deal["PROBABILITY"] is None and deal["COMPANY_ID"] is None


async def test_add_ignores_read_only_and_unknown_fields(db: AsyncEngine) -> None:
    deal_id = await add(
        db,
        ID=999,
        CREATED_BY_ID=5,
        STAGE_SEMANTIC_ID="S",
        LEAD_ID=3,
        NOPE="x",
        DATE_CREATE="2020-01-01",
    )
    deal = await get(db, deal_id)
    assert deal["ID"] == deal_id != 999
    assert deal["CREATED_BY_ID"] == 1 and deal["STAGE_SEMANTIC_ID"] == "P"
    assert deal["LEAD_ID"] is None and deal["DATE_CREATE"] == NOW


async def test_add_with_won_stage_is_closed(db: AsyncEngine) -> None:
    deal = await get(db, await add(db, STAGE_ID="WON"))
    assert (deal["STAGE_SEMANTIC_ID"], deal["CLOSED"], deal["IS_NEW"]) == ("S", "Y", "N")
    deal = await get(db, await add(db, STAGE_ID="APOLOGY", CLOSED="N"))
    assert (deal["STAGE_SEMANTIC_ID"], deal["CLOSED"]) == ("F", "Y")


async def test_update_moves_stage_and_records_mover(db: AsyncEngine) -> None:
    deal_id = await add(db)
    later = NOW + dt.timedelta(hours=1)
    async with transaction(db) as conn:
        await service.update(conn, ctx(1, later), deal_id, {"STAGE_ID": "WON", "TITLE": "Won"})
    deal = await get(db, deal_id)
    assert deal["STAGE_ID"] == "WON" and deal["CLOSED"] == "Y" and deal["STAGE_SEMANTIC_ID"] == "S"
    assert deal["MOVED_TIME"] == later and deal["DATE_MODIFY"] == later
    assert deal["DATE_CREATE"] == NOW and deal["TITLE"] == "Won"
    async with transaction(db) as conn:
        await service.update(conn, ctx(1, later), deal_id, {"STAGE_ID": "EXECUTING"})
    deal = await get(db, deal_id)
    assert (deal["STAGE_SEMANTIC_ID"], deal["CLOSED"], deal["IS_NEW"]) == ("P", "N", "N")


async def test_update_ignores_category_and_foreign_stage(db: AsyncEngine) -> None:
    from relatecrm.pipelines.models import categories, statuses

    async with transaction(db) as conn:
        await conn.execute(categories.insert().values(id=7, name="Other", sort=10, created_at=NOW))
        await conn.execute(
            statuses.insert().values(
                entity_id="DEAL_STAGE_7",
                status_id="C7:NEW",
                name="New",
                sort=10,
                semantics="P",
                category_id=7,
            )
        )
    try:
        deal_id = await add(db, STAGE_ID="PREPARATION")
        async with transaction(db) as conn:
            await service.update(
                conn, ctx(), deal_id, {"CATEGORY_ID": 7, "STAGE_ID": "C7:NEW", "TITLE": "kept"}
            )
        deal = await get(db, deal_id)
        assert (deal["CATEGORY_ID"], deal["STAGE_ID"], deal["TITLE"]) == (0, "PREPARATION", "kept")
        # On add, a stage of another funnel falls back to the funnel's first stage.
        other = await get(db, await add(db, CATEGORY_ID=7, STAGE_ID="WON"))
        assert (other["CATEGORY_ID"], other["STAGE_ID"]) == (7, "C7:NEW")
    finally:
        async with transaction(db) as conn:
            await conn.execute(statuses.delete().where(statuses.c.category_id == 7))
            from relatecrm.deals.models import deals

            await conn.execute(deals.delete().where(deals.c.category_id == 7))
            await conn.execute(categories.delete().where(categories.c.id == 7))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"STAGE_ID": "NOPE"}, "STAGE_ID"),
        ({"CURRENCY_ID": "XXX"}, "CURRENCY_ID"),
        ({"TYPE_ID": "NOPE"}, "TYPE_ID"),
        ({"SOURCE_ID": "NOPE"}, "SOURCE_ID"),
        ({"CATEGORY_ID": 99}, "CATEGORY_ID"),
        ({"CATEGORY_ID": -1}, "CATEGORY_ID"),
        ({"ASSIGNED_BY_ID": 4242}, "ASSIGNED_BY_ID"),
        ({"OPPORTUNITY": "ten"}, "OPPORTUNITY"),
        ({"PROBABILITY": 101}, "PROBABILITY"),
        ({"BEGINDATE": "30.08.2024"}, "BEGINDATE"),
        ({"OPENED": "maybe"}, "OPENED"),
        ({"TITLE": {"a": 1}}, "TITLE"),
        ({"CONTACT_IDS": ["x"]}, "CONTACT_IDS"),
    ],
)
async def test_invalid_values_write_nothing(
    db: AsyncEngine, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidFieldValue) as caught:
        await add(db, **fields)
    assert caught.value.field == field
    async with db.connect() as conn:
        assert (await conn.execute(select(outbox.c.id))).first() is None


async def test_contact_ids_make_links_with_first_primary(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        b, a = [await contacts.add(conn, ctx(), CONTACT, {"NAME": n}) for n in "ba"]
    deal_id = await add(db, CONTACT_IDS=[a, b, a])
    assert (await get(db, deal_id))["CONTACT_ID"] == a
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                select(deal_contacts.c.contact_id, deal_contacts.c.sort, deal_contacts.c.is_primary)
                .where(deal_contacts.c.deal_id == deal_id)
                .order_by(deal_contacts.c.sort)
            )
        ).all()
    assert [tuple(r) for r in rows] == [(a, 10, "Y"), (b, 20, "N")]
    async with transaction(db) as conn:
        await service.update(conn, ctx(), deal_id, {"CONTACT_ID": b})
    assert (await get(db, deal_id))["CONTACT_ID"] == b
    async with transaction(db) as conn:
        await service.update(conn, ctx(), deal_id, {"CONTACT_IDS": []})
    assert (await get(db, deal_id))["CONTACT_ID"] is None


async def test_every_change_records_its_event_in_the_same_transaction(db: AsyncEngine) -> None:
    deal_id = await add(db)
    async with transaction(db) as conn:
        await service.update(conn, ctx(), deal_id, {"TITLE": "x"})
    async with transaction(db) as conn:
        await service.delete(conn, ctx(), deal_id)
    with pytest.raises(InvalidFieldValue):  # a failed change leaves no event behind
        await add(db, CURRENCY_ID="XXX")
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                select(outbox.c.event, outbox.c.entity_id, outbox.c.payload).order_by(outbox.c.id)
            )
        ).all()
    assert [(r.event, r.entity_id) for r in rows] == [
        ("onCrmDealAdd", deal_id),
        ("onCrmDealUpdate", deal_id),
        ("onCrmDealDelete", deal_id),
    ]
    assert rows[0].payload == {"FIELDS": {"ID": deal_id}}


async def test_missing_deals_and_bad_ids(db: AsyncEngine) -> None:
    with pytest.raises(NotFound):
        await get(db, 123456)
    async with transaction(db) as conn:
        with pytest.raises(NotFound):
            await service.update(conn, ctx(), 123456, {"TITLE": "x"})
    async with transaction(db) as conn:
        with pytest.raises(NotFound):
            await service.delete(conn, ctx(), 123456)
    for bad in (None, 0, -1, "abc", 1.5, [], "", True):
        with pytest.raises(InvalidId):
            service.check_id(bad)
    assert service.check_id("42") == 42
