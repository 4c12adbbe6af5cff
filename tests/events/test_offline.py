"""The offline queue (events/offline.py) on both backends (protocol spec §6.1).

The outbox guarantee (a committed change is queued in its own transaction, exactly once; nothing is
lost or handed out twice) applied to the pull queue: latest state per object, reserved
batches, error marking, and parallel takers receiving disjoint sets.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relatecrm.accounts import oauth
from relatecrm.context import Context
from relatecrm.db import transaction
from relatecrm.deals import service as deals
from relatecrm.events import handlers, offline, outbox
from relatecrm.events.models import deliveries, event_handlers, offline_events

UTC = dt.UTC


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


async def _app_with_offline(db: AsyncEngine, events: Sequence[str] = ("onCrmDealUpdate",)) -> int:
    """An OAuth app with offline bindings of ``events``; its id."""
    async with transaction(db) as conn:
        app, _ = await oauth.create_app(
            conn, title="Sync", scopes=["crm"], redirect_url="https://a.example/cb", now=_now()
        )
        for name in events:
            await handlers.bind(
                conn,
                handlers.Binding(user_id=1, app_id=app.id),
                event=name,
                handler="",
                event_type=handlers.OFFLINE,
                now=_now(),
            )
    return app.id


async def _change(
    conn: AsyncConnection, deal_id: int, event: str = "onCrmDealUpdate", user: int | None = 1
) -> None:
    await outbox.record(
        conn,
        event,
        entity_type="deal",
        entity_id=deal_id,
        payload={"FIELDS": {"ID": deal_id}},
        now=_now(),
        user_id=user,
    )


async def _rows(db: AsyncEngine) -> list[offline.Record]:
    async with db.connect() as conn:
        rows = await conn.execute(select(offline_events).order_by(offline_events.c.id))
        return [offline._record(row) for row in rows]


async def _take(
    conn: AsyncConnection,
    app_id: int,
    *,
    limit: int = 50,
    clear: bool = True,
    process_id: str | None = None,
    errors: bool = False,
) -> tuple[str | None, list[offline.Record]]:
    return await offline.take(
        conn,
        app_id=app_id,
        conditions=[],
        order=[("TIMESTAMP_X", "ASC")],
        limit=limit,
        clear=clear,
        process_id=process_id,
        errors=errors,
        now=_now(),
        tz=UTC,
    )


def test_message_id_is_bitrix_md5_of_event_and_data() -> None:
    """the key is Bitrix's md5("EVENT|json(data)"): one per event and object."""
    data = {"FIELDS": {"ID": "7"}}
    expected = hashlib.md5(b'ONCRMDEALUPDATE|{"FIELDS":{"ID":"7"}}').hexdigest()
    assert offline.message_id("onCrmDealUpdate", data) == expected
    assert len(expected) == offline.MESSAGE_ID_LENGTH
    assert offline.message_id("ONCRMDEALUPDATE", {"FIELDS": {"ID": "8"}}) != expected
    assert offline.message_id("ONCRMDEALDELETE", data) != expected
    process = offline.new_process_id()
    assert len(process) == 32 and process.isalnum() and process == process.lower()


async def test_offline_thousand_updates_of_one_deal_leave_one_record(db: AsyncEngine) -> None:
    """1000 update events of one deal leave one record whose TIMESTAMP_X is the last
    change's; other objects and events get their own records; no deliveries rows.

    The 1000 go through ``offline.enqueue`` exactly as ``outbox.fan_out`` calls it, in 4
    transactions (a full HTTP update costs ~20 ms here; test_offline_methods.py runs real
    crm.deal.update calls end to end)."""
    app_id = await _app_with_offline(db, ("onCrmDealUpdate", "onCrmDealAdd"))
    ctx = Context(user_id=1, now=_now(), tz=UTC)
    async with transaction(db) as conn:
        first = await deals.add(conn, ctx, {"TITLE": "A"})
        second = await deals.add(conn, ctx, {"TITLE": "B"})
        await deals.update(conn, ctx, second, {"TITLE": "B2"})
    async with db.connect() as conn:
        handler_id = (
            await conn.execute(
                select(event_handlers.c.id).where(event_handlers.c.event == "ONCRMDEALUPDATE")
            )
        ).scalar_one()
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    for batch in range(4):
        async with transaction(db) as conn:
            for number in range(batch * 250, batch * 250 + 250):
                await offline.enqueue(
                    conn,
                    app_id=app_id,
                    handler_id=handler_id,
                    event="onCrmDealUpdate",
                    outbox_row={
                        "entity_id": first,
                        "payload": {"FIELDS": {"ID": first}},
                        "user_id": 1 + number % 2,
                    },  # fmt: skip
                    now=start + dt.timedelta(seconds=number),
                )
    rows = await _rows(db)
    names = sorted((row.event_name, row.event_data["FIELDS"]["ID"]) for row in rows)
    assert names == [("ONCRMDEALADD", str(first)), ("ONCRMDEALADD", str(second)),
                     ("ONCRMDEALUPDATE", str(first)), ("ONCRMDEALUPDATE", str(second))]  # fmt: skip
    updated = next(
        r
        for r in rows
        if r.event_name == "ONCRMDEALUPDATE" and r.event_data["FIELDS"]["ID"] == str(first)
    )
    assert updated.timestamp_x == start + dt.timedelta(seconds=999)
    assert updated.event_additional == {"user_id": "2"}  # the last change's user
    assert all(row.process_id is None and row.error == 0 for row in rows)
    async with db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(deliveries)) == 0


async def test_offline_rolled_back_change_leaves_no_record(db: AsyncEngine) -> None:
    """the queue record is written in the change's transaction, so it rolls back too."""
    await _app_with_offline(db)
    with pytest.raises(RuntimeError):
        async with transaction(db) as conn:
            await _change(conn, 5)
            raise RuntimeError("abort")
    assert await _rows(db) == []


async def test_offline_change_during_reservation_becomes_a_new_record(db: AsyncEngine) -> None:
    """a change of an object whose record is reserved is not folded into the batch;
    it waits as a new unreserved record (data and user of the new change)."""
    app_id = await _app_with_offline(db)
    async with transaction(db) as conn:
        await _change(conn, 5)
    async with transaction(db) as conn:
        process, taken = await _take(conn, app_id, clear=False)
    assert process is not None and len(taken) == 1
    async with transaction(db) as conn:
        await _change(conn, 5, user=None)
        await _change(conn, 5, user=None)
    rows = await _rows(db)
    assert [(r.process_id, r.message_id) for r in rows] == [
        (process, taken[0].message_id), (None, taken[0].message_id)]  # fmt: skip
    assert rows[1].event_additional == {"user_id": "0"}
    # The batch continues to hold its record; the new one is the next get's.
    async with transaction(db) as conn:
        again, same = await _take(conn, app_id, clear=False, process_id=process)
        fresh, other = await _take(conn, app_id)
    assert again == process and [r.id for r in same] == [taken[0].id]
    assert fresh is None and [r.id for r in other] == [rows[1].id]


async def test_offline_clear_one_by_default_and_whole_batch_on_continuation(
    db: AsyncEngine,
) -> None:
    """clear=1 deletes what it returns; a continued batch with clear=1 is deleted
    whole, even records past ``limit`` (as the docs say)."""
    app_id = await _app_with_offline(db)
    async with transaction(db) as conn:
        for deal in range(1, 6):
            await _change(conn, deal)
    async with transaction(db) as conn:
        process, none = await _take(conn, app_id, limit=2)
    assert process is None and len(none) == 2
    assert len(await _rows(db)) == 3
    async with transaction(db) as conn:
        process, reserved = await _take(conn, app_id, limit=3, clear=False)
    assert process is not None and len(reserved) == 3
    async with transaction(db) as conn:
        assert await _take(conn, app_id) == (None, [])  # nothing unreserved is left
        again, first = await _take(conn, app_id, limit=1, process_id=process)
    assert again == process and [r.id for r in first] == [reserved[0].id]
    assert await _rows(db) == []


async def test_offline_errors_leave_the_batch_and_fold_newer_changes(db: AsyncEngine) -> None:
    """event.offline.error takes records out of the batch with ERROR=1; a change made
    meanwhile is folded in (one unreserved record per key, the later timestamp); only an
    error=1 get sees them."""
    app_id = await _app_with_offline(db)
    async with transaction(db) as conn:
        await _change(conn, 1)
        await _change(conn, 2)
    async with transaction(db) as conn:
        process, taken = await _take(conn, app_id, clear=False)
    assert process is not None
    async with transaction(db) as conn:
        await _change(conn, 1)  # deal 1 changes again while the batch is worked on
    keys = [r.message_id for r in taken]
    async with transaction(db) as conn:
        await offline.mark_error(conn, app_id=app_id, process_id=process, message_ids=keys[:1])
        await offline.mark_error(conn, app_id=app_id, process_id="other", message_ids=keys[1:])
    rows = await _rows(db)
    assert sorted((r.message_id, r.process_id, r.error) for r in rows) == sorted(
        [(keys[0], None, 1), (keys[1], process, 0)]
    )
    assert next(r for r in rows if r.error).timestamp_x > taken[0].timestamp_x
    async with transaction(db) as conn:
        assert await _take(conn, app_id) == (None, [])
        _, failed = await _take(conn, app_id, errors=True)
    assert [r.message_id for r in failed] == keys[:1]


async def test_offline_old_reservations_expire(db: AsyncEngine) -> None:
    """a batch never cleared is dropped after 30 days, as Bitrix's cleanup agent does."""
    app_id = await _app_with_offline(db)
    async with transaction(db) as conn:
        await _change(conn, 1)
        await _change(conn, 2)
    async with transaction(db) as conn:
        process, _ = await _take(conn, app_id, limit=1, clear=False)
        await _take(conn, app_id, limit=1, clear=False)
        await conn.execute(
            update(offline_events)
            .where(offline_events.c.process_id == process)
            .values(reserved_at=_now() - dt.timedelta(days=31))
        )
        await _take(conn, app_id)
    assert len(await _rows(db)) == 1


async def test_offline_parallel_takers_get_disjoint_sets(db: AsyncEngine) -> None:
    """8 concurrent takers, each in its own transaction, drain 60 records: every
    record is handed out exactly once."""
    app_id = await _app_with_offline(db)
    async with transaction(db) as conn:
        for deal in range(1, 61):
            await _change(conn, deal)

    async def taker() -> list[int]:
        got: list[int] = []
        while True:
            async with transaction(db) as conn:
                _, records = await _take(conn, app_id, limit=3, clear=False)
            if not records:
                return got
            got.extend(r.id for r in records)

    results = await asyncio.gather(*(taker() for _ in range(8)))
    handed = [record for result in results for record in result]
    assert len(handed) == 60 and len(set(handed)) == 60


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
async def test_offline_postgres_taker_skips_rows_locked_by_another(db: AsyncEngine) -> None:
    """PostgreSQL: while one get holds its records uncommitted, a second get takes
    the others at once (SKIP LOCKED) instead of waiting or taking the same ones; a change
    of a held object waits for the holder and then becomes a new record. (SQLite
    serialises write transactions, so there is nothing to skip there.)"""
    app_id = await _app_with_offline(db)
    async with transaction(db) as conn:
        for deal in range(1, 5):
            await _change(conn, deal)
    async with db.connect() as holder_conn:
        async with holder_conn.begin():
            _, held = await _take(holder_conn, app_id, limit=2, clear=False)

            async def second() -> list[int]:
                async with transaction(db) as conn:
                    _, records = await _take(conn, app_id, limit=10, clear=False)
                return [r.id for r in records]

            others = await asyncio.wait_for(second(), timeout=10)
            assert len(held) == 2 and len(others) == 2
            assert not {r.id for r in held} & set(others)

            async def change_held() -> None:
                async with transaction(db) as conn:
                    await _change(conn, int(held[0].event_data["FIELDS"]["ID"]))

            waiting = asyncio.create_task(change_held())
            await asyncio.sleep(0.3)
            assert not waiting.done()  # blocked on the holder's row lock
        await asyncio.wait_for(waiting, timeout=10)
    rows = await _rows(db)
    assert len(rows) == 5
    assert sum(1 for r in rows if r.message_id == held[0].message_id) == 2
