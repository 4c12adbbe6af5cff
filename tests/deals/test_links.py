"""deals.links: the primary/SORT rules as pure functions, then on a real database: storage,
events, forgetting deleted clients, the foreign keys, the 0006 migration and the locks."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.contacts import service as clients
from relatecrm.contacts.fields import COMPANY, CONTACT
from relatecrm.context import Context
from relatecrm.db import create_engine, transaction
from relatecrm.deals import links, service
from relatecrm.deals.links import Link, Wanted
from relatecrm.deals.models import deal_contacts, deals
from relatecrm.errors import InvalidFieldValue, NotFound, UnknownContact
from relatecrm.events.models import outbox
from relatecrm.migrate import upgrade

NOW = dt.datetime(2024, 8, 30, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)
CTX = Context(user_id=1, now=NOW, tz=ZoneInfo("Europe/Berlin"))


def pairs(result: list[Link] | None) -> list[tuple[int, int, bool]]:
    assert result is not None
    return [(link.contact_id, link.sort, link.primary) for link in result]


# The rules (spec deals §5), no database.

TWO = [Link(1, 10, True), Link(2, 20)]


def test_add_without_y_is_primary_only_when_there_is_none() -> None:
    assert pairs(links.with_added([], Wanted(5))) == [(5, 10, True)]
    assert pairs(links.with_added(TWO, Wanted(3))) == [(1, 10, True), (2, 20, False),
                                                        (3, 30, False)]  # fmt: skip
    # A deal whose links lost their primary (never stored so, but the rule holds):
    assert pairs(links.with_added([Link(1, 10)], Wanted(3))) == [(1, 10, False), (3, 20, True)]


def test_add_with_y_demotes_the_previous_primary_and_keeps_its_sort() -> None:
    assert pairs(links.with_added(TWO, Wanted(3, sort=5, primary=True))) == [
        (3, 5, True), (1, 10, False), (2, 20, False)]  # fmt: skip


def test_add_of_a_linked_contact_is_none() -> None:
    assert links.with_added(TWO, Wanted(2, primary=True)) is None


@pytest.mark.parametrize("sort", [None, 0, -7])
def test_a_missing_or_non_positive_sort_takes_max_plus_ten(sort: int | None) -> None:
    assert pairs(links.with_added([Link(1, 70, True)], Wanted(2, sort=sort)))[-1] == (2, 80, False)


def test_default_sort_never_leaves_the_column_range() -> None:
    top = [Link(1, 2**31 - 1, True)]
    assert pairs(links.with_added(top, Wanted(2)))[-1] == (2, 2**31 - 1, False)


def test_items_set_rules() -> None:
    # No Y: the first item is primary; SORT defaults to (i + 1) * 10 by position.
    assert pairs(links.normalized([Wanted(7), Wanted(8, sort=5), Wanted(9)])) == [
        (8, 5, False), (7, 10, True), (9, 30, False)]  # fmt: skip
    # Several Y: the first Y wins; a repeated contact keeps its first occurrence.
    wanted = [Wanted(7), Wanted(8, primary=True), Wanted(7, sort=1, primary=True),
              Wanted(9, primary=True)]  # fmt: skip
    assert pairs(links.normalized(wanted)) == [(7, 10, False), (8, 20, True), (9, 40, False)]
    assert links.normalized([]) == []


def test_removing_the_primary_promotes_the_first_remaining_by_sort() -> None:
    current = [Link(1, 5), Link(2, 10, True), Link(3, 7)]
    assert pairs(links.without(current, 2)) == [(1, 5, True), (3, 7, False)]
    assert pairs(links.without(current, 3)) == [(1, 5, False), (2, 10, True)]
    assert links.without(current, 4) is None
    assert pairs(links.without([Link(1, 10, True)], 1)) == []


def test_contact_id_on_update_makes_that_contact_primary() -> None:
    assert pairs(links.promoted(TWO, 2)) == [(1, 10, False), (2, 20, True)]
    assert pairs(links.promoted(TWO, 3)) == [(1, 10, False), (2, 20, False), (3, 30, True)]
    assert pairs(links.promoted([], 3)) == [(3, 10, True)]


wanted_lists = st.lists(
    st.builds(
        Wanted,
        st.integers(1, 6),
        st.one_of(st.none(), st.integers(-5, 100)),
        st.booleans(),
    ),
    max_size=8,
)


@given(wanted_lists, st.lists(st.tuples(st.booleans(), st.integers(1, 6)), max_size=10))
def test_any_sequence_of_changes_keeps_exactly_one_primary(
    start: list[Wanted], steps: list[tuple[bool, int]]
) -> None:
    current = links.normalized(start)
    for adding, contact_id in steps:
        changed = (
            links.with_added(current, Wanted(contact_id))
            if adding
            else links.without(current, contact_id)
        )
        current = current if changed is None else changed
        primaries = [link for link in current if link.primary]
        assert len(primaries) == (1 if current else 0)
        assert len({link.contact_id for link in current}) == len(current)
        assert current == links.ordered(current) and all(link.sort > 0 for link in current)


# On a real database.


async def new_contacts(db: AsyncEngine, count: int) -> list[int]:
    async with transaction(db) as conn:
        return [await clients.add(conn, CTX, CONTACT, {"NAME": f"c{i}"}) for i in range(count)]


async def new_deal(db: AsyncEngine, **fields: Any) -> int:
    async with transaction(db) as conn:
        return await service.add(conn, CTX, fields)


async def stored(db: AsyncEngine, deal_id: int) -> tuple[list[tuple[int, int, str]], Any]:
    """(contact, sort, primary) by SORT, and the deal's CONTACT_ID column."""
    async with db.connect() as conn:
        rows = await conn.execute(
            select(deal_contacts.c.contact_id, deal_contacts.c.sort, deal_contacts.c.is_primary)
            .where(deal_contacts.c.deal_id == deal_id)
            .order_by(deal_contacts.c.sort)
        )
        column = (
            await conn.execute(select(deals.c.contact_id).where(deals.c.id == deal_id))
        ).scalar()
        return [tuple(row) for row in rows], column


async def updates(db: AsyncEngine, deal_id: int) -> int:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.id).where(
                outbox.c.entity_id == deal_id,
                outbox.c.entity_type == "deal",
                outbox.c.event == "onCrmDealUpdate",
            )
        )
        return len(rows.all())


async def test_each_change_is_stored_with_its_event_and_no_op_records_nothing(
    db: AsyncEngine,
) -> None:
    a, b, c = await new_contacts(db, 3)
    deal_id = await new_deal(db)
    later = Context(user_id=1, now=LATER, tz=CTX.tz)
    async with transaction(db) as conn:
        assert await links.add(conn, later, deal_id, Wanted(a)) is True
        assert await links.add(conn, later, deal_id, Wanted(b, primary=True)) is True
    assert await stored(db, deal_id) == ([(a, 10, "N"), (b, 20, "Y")], b)
    assert await updates(db, deal_id) == 2
    async with transaction(db, write=False) as conn:
        deal = await service.get(conn, CTX, deal_id)
    assert (deal["DATE_MODIFY"], deal["CONTACT_ID"]) == (LATER, b)
    async with transaction(db) as conn:
        assert await links.add(conn, CTX, deal_id, Wanted(a, primary=True)) is False
        assert await links.remove(conn, CTX, deal_id, c) is False
        await links.replace_all(conn, CTX, deal_id, [Wanted(b, 20, True), Wanted(a, 10)])
    assert await updates(db, deal_id) == 2  # three no-ops
    async with transaction(db) as conn:
        assert await links.remove(conn, CTX, deal_id, b) is True
    assert await stored(db, deal_id) == ([(a, 10, "Y")], a)
    async with transaction(db) as conn:
        await links.clear(conn, CTX, deal_id)
        await links.clear(conn, CTX, deal_id)
    assert await stored(db, deal_id) == ([], None)
    assert await updates(db, deal_id) == 4


async def test_missing_deal_or_contact_writes_nothing(db: AsyncEngine) -> None:
    (a,) = await new_contacts(db, 1)
    deal_id = await new_deal(db)
    for call in (
        lambda conn: links.add(conn, CTX, deal_id + 1, Wanted(a)),
        lambda conn: links.remove(conn, CTX, deal_id + 1, a),
        lambda conn: links.replace_all(conn, CTX, deal_id + 1, [Wanted(a)]),
        lambda conn: links.items(conn, CTX, deal_id + 1),
    ):
        with pytest.raises(NotFound):
            async with transaction(db) as conn:
                await call(conn)
    for call in (
        lambda conn: links.add(conn, CTX, deal_id, Wanted(a + 1000)),
        lambda conn: links.replace_all(conn, CTX, deal_id, [Wanted(a), Wanted(2**31 - 1)]),
    ):
        with pytest.raises(UnknownContact):
            async with transaction(db) as conn:
                await call(conn)
    assert await stored(db, deal_id) == ([], None)
    assert await updates(db, deal_id) == 0


async def test_deleting_a_contact_unlinks_it_everywhere(db: AsyncEngine) -> None:
    a, b, c = await new_contacts(db, 3)
    primary_gone = await new_deal(db, CONTACT_IDS=[a, b, c])
    other_gone = await new_deal(db, CONTACT_IDS=[b, a])
    only = await new_deal(db, CONTACT_IDS=[a])
    untouched = await new_deal(db, CONTACT_IDS=[b])
    async with transaction(db) as conn:
        await links.remove(conn, CTX, primary_gone, b)  # so c (SORT 30) is next after a
        await clients.delete(conn, CTX, CONTACT, a)
    assert await stored(db, primary_gone) == ([(c, 30, "Y")], c)
    assert await stored(db, other_gone) == ([(b, 10, "Y")], b)
    assert await stored(db, only) == ([], None)
    assert await stored(db, untouched) == ([(b, 10, "Y")], b)
    assert [await updates(db, d) for d in (primary_gone, other_gone, only, untouched)] == [
        2, 1, 1, 0]  # fmt: skip


async def test_deleting_a_company_clears_it_from_its_deals(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        acme, other = [await clients.add(conn, CTX, COMPANY, {"TITLE": t}) for t in "ab"]
    first, second = [await new_deal(db, COMPANY_ID=acme) for _ in range(2)]
    kept = await new_deal(db, COMPANY_ID=other)
    async with transaction(db) as conn:
        await clients.delete(conn, CTX, COMPANY, acme)
        found = await conn.execute(select(deals.c.id, deals.c.company_id).order_by(deals.c.id))
        assert [tuple(row) for row in found] == [(first, None), (second, None), (kept, other)]
    assert [await updates(db, d) for d in (first, second, kept)] == [1, 1, 0]


async def test_the_foreign_keys_catch_a_client_deleted_behind_our_back(db: AsyncEngine) -> None:
    """Without the 0006 keys these rows would be left pointing at nothing."""
    a, b = await new_contacts(db, 2)
    async with transaction(db) as conn:
        company = await clients.add(conn, CTX, COMPANY, {"TITLE": "Acme"})
    deal_id = await new_deal(db, CONTACT_IDS=[a, b], COMPANY_ID=company)
    async with transaction(db) as conn:
        await conn.execute(text("DELETE FROM contacts WHERE id = :id"), {"id": a})
        await conn.execute(text("DELETE FROM companies WHERE id = :id"), {"id": company})
    async with db.connect() as conn:
        row = (
            await conn.execute(select(deals.c.company_id, deals.c.contact_id).where(
                deals.c.id == deal_id))
        ).one()  # fmt: skip
    assert tuple(row) == (None, None)
    assert (await stored(db, deal_id))[0] == [(b, 20, "N")]


# The 0006 migration on a database with dangling references and dependent rows.

SEED = [
    "INSERT INTO contacts (id, assigned_by_id, created_by_id, modify_by_id, date_create,"
    " date_modify) VALUES (5, 1, 1, 1, :now, :now), (6, 1, 1, 1, :now, :now)",
    "INSERT INTO companies (id, title, assigned_by_id, created_by_id, modify_by_id,"
    " date_create, date_modify) VALUES (3, 'Acme', 1, 1, 1, :now, :now)",
    "INSERT INTO deals (id, title, stage_id, assigned_by_id, created_by_id, modify_by_id,"
    " date_create, date_modify, moved_by_id, moved_time, category_id, company_id, contact_id)"
    " VALUES (1, 'a', 'NEW', 1, 1, 1, :now, :now, 1, :now, 0, 3, 9),"
    " (2, 'b', 'NEW', 1, 1, 1, :now, :now, 1, :now, 0, 77, 5)",
    "INSERT INTO deal_contacts (deal_id, contact_id, sort, role_id, is_primary) VALUES"
    " (1, 9, 10, 0, 'Y'), (1, 6, 30, 0, 'N'), (1, 5, 20, 0, 'N'), (2, 5, 10, 0, 'Y'),"
    " (2, 8, 20, 0, 'N')",
    "INSERT INTO stage_history (type_id, owner_id, created_time, category_id,"
    " stage_semantic_id, stage_id) VALUES (1, 1, :now, 0, 'P', 'NEW')",
    "INSERT INTO product_rows (owner_id, product_name, price, price_exclusive, price_netto,"
    " price_brutto, quantity) VALUES (1, 'x', 100, 100, 100, 100, 10000)",
]


async def test_migration_clears_dangling_links_and_keeps_dependent_rows(
    empty_database_url: str,
) -> None:
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine, "0005")
        async with engine.begin() as conn:
            for statement in SEED:
                await conn.execute(text(statement), {"now": NOW.replace(tzinfo=None)})
        await upgrade(engine)
        async with engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT deal_id, contact_id, sort, is_primary FROM deal_contacts"
                    " ORDER BY deal_id, sort"
                )  # fmt: skip
            )
            assert [tuple(r) for r in found] == [(1, 5, 20, "Y"), (1, 6, 30, "N"),
                                                 (2, 5, 10, "Y")]  # fmt: skip
            found = await conn.execute(text("SELECT id, company_id, contact_id FROM deals"))
            assert sorted(tuple(r) for r in found) == [(1, 3, 5), (2, None, 5)]
            for table in ("stage_history", "product_rows"):  # SQLite rebuilt deals under them
                count = await conn.execute(text(f"SELECT COUNT(*) FROM {table}"))
                assert count.scalar() == 1, table
    finally:
        await engine.dispose()


# Locks: concurrent writers on one deal queue; a contact delete waits for a link writer.


async def _blocked(task: asyncio.Task[Any]) -> bool:
    done, _ = await asyncio.wait({task}, timeout=0.5)
    return not done


async def test_concurrent_link_writes_on_one_deal_serialize(db: AsyncEngine) -> None:
    a, b = await new_contacts(db, 2)
    deal_id = await new_deal(db)
    async with transaction(db) as first:
        assert await links.add(first, CTX, deal_id, Wanted(a))

        async def second() -> bool:
            async with transaction(db) as conn:
                return await links.add(conn, CTX, deal_id, Wanted(b))

        task = asyncio.create_task(second())
        assert await _blocked(task)
    assert await task is True
    # Had the second writer not waited, it would not have seen the first's primary link.
    assert await stored(db, deal_id) == ([(a, 10, "Y"), (b, 20, "N")], a)


async def test_a_contact_delete_waits_for_a_link_being_written(db: AsyncEngine) -> None:
    a, b = await new_contacts(db, 2)
    deal_id = await new_deal(db, CONTACT_IDS=[b])
    async with transaction(db) as writer:
        assert await links.add(writer, CTX, deal_id, Wanted(a, primary=True))

        async def delete_contact() -> None:
            async with transaction(db) as conn:
                await clients.delete(conn, CTX, CONTACT, a)

        task = asyncio.create_task(delete_contact())
        assert await _blocked(task)
    await task
    # The delete saw the new primary link and promoted b, rather than leaving no primary.
    assert await stored(db, deal_id) == ([(b, 10, "Y")], b)
    assert await updates(db, deal_id) == 2


@pytest.mark.parametrize("through", ["links", "deal update"])
async def test_link_writer_and_contact_delete_queued_on_one_deal_never_deadlock(
    db: AsyncEngine, through: str
) -> None:
    """A writer takes the contacts before the deal, as a contact delete does: both queue.

    Taking the deal first would deadlock on PostgreSQL here: the writer would get the
    deal while the delete holds the contact and waits for the deal, then ask for the
    contact.
    """
    x, y = await new_contacts(db, 2)
    deal_id = await new_deal(db, CONTACT_IDS=[x])

    async def relink() -> None:
        async with transaction(db) as conn:
            if through == "links":
                await links.replace_all(conn, CTX, deal_id, [Wanted(x, primary=True), Wanted(y)])
            else:
                await service.update(conn, CTX, deal_id, {"CONTACT_IDS": [x, y]})

    async def delete_x() -> None:
        async with transaction(db) as conn:
            await clients.delete(conn, CTX, CONTACT, x)

    async with transaction(db) as holder:
        assert await links.add(holder, CTX, deal_id, Wanted(y))
        writer = asyncio.create_task(relink())
        assert await _blocked(writer)
        deleter = asyncio.create_task(delete_x())
        assert await _blocked(deleter)
    written, deleted = await asyncio.gather(writer, deleter, return_exceptions=True)
    # On SQLite the delete may win the write lock first; then x is gone before the write.
    assert written is None or isinstance(written, UnknownContact | InvalidFieldValue), written
    assert deleted is None, deleted
    assert await stored(db, deal_id) == ([(y, 20, "Y")], y)
