"""Replay (reliability §5.1 W10) with a real worker and receiver, and the refusals of
``events.operations``: history is never rewritten, every event goes out once per call."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.config import Settings
from relatecrm.db import transaction
from relatecrm.errors import InvalidParameter, NotFound
from relatecrm.events import operations, outbox, signing
from relatecrm.events.models import deliveries, delivery_attempts, event_handlers
from relatecrm.events.operations import ReplayRefused
from tests.events.conftest import add_hook, delivery_settings, running_worker
from tests.events.receiver import Received, Receiver, Reply


def base_time() -> dt.datetime:
    """A day ago on a whole minute: the events' times, all due at once."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(second=0, microsecond=0)


def fast(db: AsyncEngine, **overrides: Any) -> Settings:
    """The quick test settings with a long lease: SQLite's write lock can hold a record
    back for seconds under load, and a lease running out then would resend (at least
    once), which is not what these tests count."""
    return delivery_settings(db, **{"delivery_lease_margin": 30.0, **overrides})


async def record_events(
    db: AsyncEngine, count: int, base: dt.datetime, event: str = "onCrmDealAdd"
) -> list[int]:
    """``count`` deal events one minute apart (deal i at ``base`` + i minutes)."""
    async with transaction(db) as conn:
        return [
            await outbox.record(
                conn,
                event,
                entity_type="deal",
                entity_id=i,
                payload={"FIELDS": {"ID": i}},
                now=base + dt.timedelta(minutes=i),
            )
            for i in range(1, count + 1)
        ]


async def all_deliveries(db: AsyncEngine) -> list[dict[str, Any]]:
    async with transaction(db, write=False) as conn:
        rows = await conn.execute(select(deliveries).order_by(deliveries.c.id))
        return [dict(row._mapping) for row in rows]


async def settle(db: AsyncEngine, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Wait until no delivery is pending or sending: then nothing more will be sent."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await all_deliveries(db)
        if all(row["status"] not in ("pending", "sending") for row in rows):
            return rows
        assert time.monotonic() < deadline, Counter(row["status"] for row in rows)
        await asyncio.sleep(0.05)


async def next_second(requests: Sequence[Received]) -> None:
    """Until the clock is past every timestamp sent so far: a replay's must be new."""
    latest = max(int(r.headers["webhook-timestamp"]) for r in requests)
    while int(time.time()) <= latest:
        await asyncio.sleep(0.05)


async def replay(db: AsyncEngine, **kwargs: Any) -> operations.Replayed:
    async with transaction(db) as conn:
        return await operations.replay(conn, now=dt.datetime.now(dt.UTC), **kwargs)


def by_id(requests: Sequence[Received]) -> dict[str, list[Received]]:
    grouped: dict[str, list[Received]] = {}
    for request in requests:
        grouped.setdefault(request.headers["webhook-id"], []).append(request)
    return grouped


async def test_w10_replay_by_id_and_by_time_range(db: AsyncEngine) -> None:
    """W10: 100 events delivered once; a replay of 10 by delivery id, then of the 20
    events of [minute 30, minute 50) by time range, 5 of which were just replayed by id.
    Each call sends each selected event exactly once more, with the original webhook-id,
    a new timestamp and a signature that verifies; past rows are left as they were."""
    base = base_time()
    async with Receiver() as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        assert hook.secret
        events = await record_events(db, 100, base)
        async with running_worker(db, fast(db, delivery_per_handler=16)):
            originals = await settle(db)
            assert len(originals) == 100 and len(receiver.requests) == 100
            assert {row["status"] for row in originals} == {"delivered"}
            first = {key: sent[0] for key, sent in by_id(receiver.requests).items()}
            assert set(first) == {signing.message_id(event, hook.id) for event in events}

            delivery_of = {row["outbox_id"]: row["id"] for row in originals}
            chosen = [delivery_of[events[i - 1]] for i in (*range(1, 6), *range(30, 35))]
            await next_second(receiver.requests)
            done = await replay(db, delivery_ids=[*chosen, chosen[0]])  # a repeat is one
            assert len(done.queued) == 10 and done.skipped == 0 and done.enabled == []
            after_id = await settle(db)
            assert len(receiver.requests) == 110

            await next_second(receiver.requests)
            window = await replay(
                db, since=base + dt.timedelta(minutes=30), until=base + dt.timedelta(minutes=50)
            )
            assert len(window.queued) == 20 and window.skipped == 0
            final = await settle(db)  # all finished: nothing more can be sent
            assert len(receiver.requests) == 130

    expected = Counter({signing.message_id(event, hook.id): 1 for event in events})
    for minute in (*range(1, 6), *range(30, 35)):
        expected[signing.message_id(events[minute - 1], hook.id)] += 1
    for minute in range(30, 50):
        expected[signing.message_id(events[minute - 1], hook.id)] += 1
    sent = by_id(receiver.requests)
    assert Counter({key: len(value) for key, value in sent.items()}) == expected
    for key, requests in sent.items():
        stamps = [int(r.headers["webhook-timestamp"]) for r in requests]
        assert stamps == sorted(set(stamps)), (key, stamps)  # each send a new timestamp
        assert len({r.headers["webhook-signature"] for r in requests}) == len(requests)
        forms = [dict(parse_qsl(r.body.decode())) for r in requests]
        assert [int(form.pop("ts")) for form in forms] == stamps  # Bitrix's ts is the stamp
        assert all(form == forms[0] for form in forms)  # otherwise the same Bitrix body
        for request in requests:
            signing.verify(hook.secret, request.body, request.headers)

    # History: the 100 original rows untouched; 30 new rows, each naming its original.
    assert final[:100] == originals
    assert after_id[:100] == originals
    replays = final[100:]
    assert len(replays) == 30
    first_rows = {row["id"]: row for row in originals}
    for row in replays:
        source = first_rows[row["replay_of"]]
        assert (row["outbox_id"], row["handler_id"], row["entity_key"]) == (
            source["outbox_id"], source["handler_id"], source["entity_key"],
        )  # fmt: skip
        assert (row["status"], row["attempts"]) == ("delivered", 1)
    assert sorted(row["replay_of"] for row in replays[:10]) == sorted(chosen)
    async with transaction(db, write=False) as conn:
        counted = await conn.execute(
            select(delivery_attempts.c.delivery_id, func.count()).group_by(
                delivery_attempts.c.delivery_id
            )
        )
        per_delivery = {int(key): int(number) for key, number in counted}
    assert all(per_delivery[row["id"]] == 1 for row in final)


async def test_w10_replay_one_event_to_all_or_one_handler(db: AsyncEngine) -> None:
    """W10: ``--event-id`` replays to every handler the event went to (2), or to the one
    ``--handler`` names (1); each send keeps that handler's webhook-id."""
    async with Receiver() as receiver:
        [one] = await add_hook(db, receiver.url + "?h=1", ["onCrmDealAdd"])
        [two] = await add_hook(db, receiver.url + "?h=2", ["onCrmDealAdd"])
        [event, other] = await record_events(db, 2, base_time())
        async with running_worker(db, fast(db)):
            await settle(db)
            assert len(receiver.requests) == 4
            assert len((await replay(db, outbox_id=event)).queued) == 2
            await settle(db)
            assert len((await replay(db, outbox_id=event, handler_id=two.id)).queued) == 1
            await settle(db)
    counts = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert counts == {
        signing.message_id(event, one.id): 2,
        signing.message_id(event, two.id): 3,
        signing.message_id(other, one.id): 1,
        signing.message_id(other, two.id): 1,
    }
    for request in receiver.requests:
        secret = one.secret if request.path.endswith("h=1") else two.secret
        assert secret
        signing.verify(secret, request.body, request.headers)


async def test_w10_dead_letters_only(db: AsyncEngine) -> None:
    """W10: ``status=failed`` replays the 3 events whose last delivery failed, not the 3
    delivered; once they are delivered, a second dead-letter replay finds nothing."""
    failing = {"on": True}

    def script(request: Received) -> Reply:
        odd = int(dict(parse_qsl(request.body.decode()))["data[FIELDS][ID]"]) % 2
        return Reply(status=500, body=b"boom") if failing["on"] and odd else Reply()

    base = base_time()
    async with Receiver(script) as receiver:
        await add_hook(db, receiver.url, ["onCrmDealAdd"])
        events = await record_events(db, 6, base)
        settings = fast(db, delivery_retry_schedule="")  # no retries
        async with running_worker(db, settings):
            rows = await settle(db)
            assert Counter(row["status"] for row in rows) == {"failed": 3, "delivered": 3}
            failing["on"] = False
            done = await replay(db, since=base, until=base + dt.timedelta(hours=1), status="failed")
            queued = [row for row in await all_deliveries(db) if row["id"] in done.queued]
            assert sorted(row["outbox_id"] for row in queued) == events[0::2]
            rows = await settle(db)
            again = await replay(db, since=base, status="failed")
    assert again.queued == [] and again.skipped == 0
    assert Counter(row["status"] for row in rows) == {"failed": 3, "delivered": 6}
    assert len(receiver.requests) == 9


async def test_w10_disabled_handler_is_refused_unless_enabled(db: AsyncEngine) -> None:
    """W10: a handler disabled by 410 is refused with its reason and nothing is written;
    ``enable`` clears disabled_at, disabled_reason and failing_since and the replay is
    delivered."""
    gone = {"on": True}
    async with Receiver(lambda _r: Reply(status=410) if gone["on"] else Reply()) as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        [event] = await record_events(db, 1, base_time())
        async with running_worker(db, fast(db)):
            [original] = await settle(db)
            assert original["status"] == "failed"
            with pytest.raises(ReplayRefused, match=rf"handler {hook.id}: .*410.*--enable"):
                await replay(db, delivery_ids=[original["id"]])
            assert await all_deliveries(db) == [original]
            gone["on"] = False
            done = await replay(db, outbox_id=event, enable=True)
            assert done.enabled == [hook.id] and len(done.queued) == 1
            rows = await settle(db)
    assert [row["status"] for row in rows] == ["failed", "delivered"]
    assert len(receiver.requests) == 2
    async with transaction(db, write=False) as conn:
        state = await conn.execute(select(event_handlers).where(event_handlers.c.id == hook.id))
        handler = state.one()
    assert (handler.disabled_at, handler.disabled_reason, handler.failing_since) == (None,) * 3


async def test_w10_refusals_write_nothing(db: AsyncEngine) -> None:
    """W10 guards: a range over ``max_count`` (5 events, max 4) is refused and max 5 is
    not; unknown deliveries and events, conflicting selectors and bad statuses are
    errors (a status matching none of an event's deliveries is a quiet zero); a pair
    still pending is skipped, not queued twice."""
    base = base_time()
    async with Receiver() as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        events = await record_events(db, 5, base)
        pending = await all_deliveries(db)
        done = await replay(db, delivery_ids=[pending[0]["id"]])
        assert (done.queued, done.skipped) == ([], 1)
        async with running_worker(db, fast(db)):
            before = await settle(db)
        assert len(receiver.requests) == 5

    refusals: list[tuple[type[Exception], str, dict[str, Any]]] = [
        (ReplayRefused, "More than 4", {"since": base, "max_count": 4}),
        (NotFound, "Deliveries 998, 999 not found", {"delivery_ids": [before[0]["id"], 999, 998]}),
        (NotFound, "Event 999999 not found", {"outbox_id": 999999}),
        (NotFound, f"no deliveries to handler {hook.id + 7}",
         {"outbox_id": events[0], "handler_id": hook.id + 7}),
        (InvalidParameter, "Choose what", {}),
        (InvalidParameter, "Choose what", {"outbox_id": events[0], "since": base}),
        (InvalidParameter, "--handler and --status",
         {"delivery_ids": [before[0]["id"]], "status": "failed"}),
        (InvalidParameter, "Bad status 'pending'", {"since": base, "status": "pending"}),
        (InvalidParameter, "earlier than", {"since": base, "until": base}),
    ]  # fmt: skip
    for error, message, kwargs in refusals:
        with pytest.raises(error, match=message):
            await replay(db, **kwargs)
    assert await all_deliveries(db) == before
    quiet = await replay(db, outbox_id=events[0], status="failed")  # delivered: not dead
    assert (quiet.queued, quiet.skipped) == ([], 0)
    assert len((await replay(db, since=base, max_count=5)).queued) == 5


async def test_list_filters_and_attempts(db: AsyncEngine) -> None:
    """``list_deliveries``: newest first, each filter narrows; ``attempts`` lists every
    try with its outcome and the stored response."""
    base = base_time()
    async with Receiver(lambda _r: Reply(status=503, body=b"x" * 300)) as receiver:
        [add, update] = await add_hook(db, receiver.url, ["onCrmDealAdd", "onCrmDealUpdate"])
        await record_events(db, 3, base)
        await record_events(db, 2, base + dt.timedelta(hours=1), "onCrmDealUpdate")
        async with running_worker(db, fast(db, delivery_retry_schedule="0.1")):
            rows = await settle(db)
    assert len(rows) == 5 and {row["status"] for row in rows} == {"failed"}
    async with transaction(db, write=False) as conn:
        everything = await operations.list_deliveries(conn)
        assert [row.id for row in everything] == [row["id"] for row in reversed(rows)]
        assert len(await operations.list_deliveries(conn, limit=2)) == 2
        assert len(await operations.list_deliveries(conn, handler_id=update.id)) == 2
        assert len(await operations.list_deliveries(conn, handler_id=add.id)) == 3
        assert len(await operations.list_deliveries(conn, event="ONCRMDEALADD")) == 3
        assert await operations.list_deliveries(conn, status="delivered") == []
        late = await operations.list_deliveries(conn, since=base + dt.timedelta(minutes=3))
        assert [row.event for row in late] == ["onCrmDealUpdate", "onCrmDealUpdate", "onCrmDealAdd"]
        early = await operations.list_deliveries(conn, until=base + dt.timedelta(minutes=3))
        assert [row.entity_key for row in early] == ["deal:2", "deal:1"]
        tries = await operations.attempts(conn, everything[0].id)
        with pytest.raises(NotFound, match="Delivery 999999 not found"):
            await operations.attempts(conn, 999999)
    assert [(t.outcome, t.status_code, t.response) for t in tries] == [
        ("http_error", 503, "x" * 300)
    ] * 2
    assert everything[0].last_status_code == 503 and everything[0].attempts == 2
