"""Retries, dead letters, disabling and leases (reliability.md §5.1 W4, W6, W7, and the
two delivery modes): a real worker, the real database on both backends, receivers on
127.0.0.1.

Timing criteria are checked on the receiver's clock (when each POST's body was read).
Between one attempt and the next the worker commits the attempt, sleeps at most one
poll interval (0.05 s) past the due time, commits a claim and connects: SLACK covers
that on a loaded 2-core machine. The lower bounds need no slack, since every one of
those steps only adds time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.db import transaction
from relatecrm.events import deliveries, handlers, signing
from relatecrm.events.models import deliveries as deliveries_table
from relatecrm.events.models import delivery_attempts, event_handlers
from relatecrm.events.ssrf import parse_networks
from tests.conftest import RestClient
from tests.events.conftest import LOOPBACK, add_hook, delivery_settings, running_worker
from tests.events.receiver import Received, Receiver, Reply

SLACK = 0.35  # seconds; see the module docstring


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return await check()


async def queued(db: AsyncEngine, handler_id: int) -> list[Any]:
    """The handler's deliveries, oldest first."""
    async with db.connect() as conn:
        query = (
            select(deliveries_table)
            .where(deliveries_table.c.handler_id == handler_id)
            .order_by(deliveries_table.c.id)
        )
        return list((await conn.execute(query)).all())


async def attempts_of(db: AsyncEngine, delivery_id: int) -> list[Any]:
    async with db.connect() as conn:
        query = (
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id == delivery_id)
            .order_by(delivery_attempts.c.id)
        )
        return list((await conn.execute(query)).all())


async def handler_row(db: AsyncEngine, handler_id: int) -> Any:
    async with db.connect() as conn:
        query = select(event_handlers).where(event_handlers.c.id == handler_id)
        return (await conn.execute(query)).one()


async def add_deal(rest: RestClient, title: str = "deal") -> int:
    return int((await rest.call("crm.deal.add", {"fields": {"TITLE": title}})).result)


def gaps(requests: list[Received]) -> list[float]:
    return [later.at - earlier.at for earlier, later in zip(requests, requests[1:], strict=False)]


W4_SCHEDULE = (0.3, 0.6, 1.2)


async def test_w4_always_500_is_dead_lettered(db: AsyncEngine, rest: RestClient) -> None:
    """W4, schedule scaled to 0.3, 0.6, 1.2 s: exactly 1 + 3 attempts, each gap within
    ±20 % of its step (+ SLACK above), one webhook-id throughout, then ``failed``; the
    handler stays enabled because disable_after (5 days) has not passed."""
    async with Receiver(lambda _request: Reply(500, body=b"boom")) as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        await add_deal(rest)
        settings = delivery_settings(
            db, delivery_retry_schedule=",".join(map(str, W4_SCHEDULE)), delivery_jitter=0.2
        )
        async with running_worker(db, settings):

            async def failed() -> bool:
                return [row.status for row in await queued(db, hook.id)] == ["failed"]

            assert await wait_until(failed)
            await asyncio.sleep(0.5)  # ten poll rounds: room for an attempt too many
    requests = list(receiver.requests)
    assert len(requests) == 1 + len(W4_SCHEDULE)
    assert len({request.headers["webhook-id"] for request in requests}) == 1
    for gap, step in zip(gaps(requests), W4_SCHEDULE, strict=True):
        assert step * 0.8 <= gap <= step * 1.2 + SLACK, (gap, step)
    [delivery] = await queued(db, hook.id)
    assert delivery.attempts == 1 + len(W4_SCHEDULE)
    assert delivery.last_status_code == 500 and delivery.finished_at is not None
    tried = await attempts_of(db, delivery.id)
    assert [(row.outcome, row.status_code, row.response) for row in tried] == [
        ("http_error", 500, "boom")
    ] * 4
    assert (await handler_row(db, hook.id)).disabled_at is None


async def test_w4_handler_failing_too_long_is_disabled(db: AsyncEngine, rest: RestClient) -> None:
    """W4's auto-disable, scaled: schedule 0.2, 0.4, 0.8, 1.6 s and disable_after 0.5 s.
    The handler is disabled at the first failure 0.5 s after the first one (attempt 3,
    before the schedule runs out), and gets 0 attempts afterwards: its waiting delivery
    is not claimed past its due time, and a new deal's event is not sent."""
    async with Receiver(lambda _request: Reply(500)) as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        await add_deal(rest, "first")
        settings = delivery_settings(
            db, delivery_retry_schedule="0.2,0.4,0.8,1.6", delivery_disable_after=0.5
        )
        async with running_worker(db, settings):

            async def disabled() -> bool:
                return (await handler_row(db, hook.id)).disabled_at is not None

            assert await wait_until(disabled)
            sent = len(receiver.requests)
            [waiting] = await queued(db, hook.id)
            await add_deal(rest, "second")
            # Past the waiting delivery's due time by more than a poll round and a claim.
            due_in = (waiting.next_attempt_at - dt.datetime.now(dt.UTC)).total_seconds()
            await asyncio.sleep(max(0.0, due_in) + 0.3)
    handler = await handler_row(db, hook.id)
    assert handler.disabled_reason.startswith("Only failures since")
    assert (handler.disabled_at - handler.failing_since).total_seconds() >= 0.5
    assert 2 <= sent < 5
    assert len(receiver.requests) == sent
    assert all(request.at <= handler.disabled_at.timestamp() for request in receiver.requests)
    rows = await queued(db, hook.id)
    assert rows[0].status == "pending" and rows[0].attempts == sent
    assert len(await attempts_of(db, rows[0].id)) == sent
    # The second event: never queued for a disabled handler, or queued and never claimed.
    assert all(row.status == "pending" and row.attempts == 0 for row in rows[1:])


async def test_w6_gone_disables_until_bound_again(db: AsyncEngine, rest: RestClient) -> None:
    """W6: 410 Gone disables the handler after 1 attempt (one slot per handler, so one
    POST is in flight) and that delivery fails; the other 2 queued events get 0 attempts.
    Binding the same event and URL again re-enables it and they flow; the 410'd one is
    not resent."""
    status = {"code": 410}
    async with Receiver(lambda _request: Reply(status["code"])) as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        for number in range(3):
            await add_deal(rest, f"deal {number}")
        settings = delivery_settings(db, delivery_per_handler=1)
        async with running_worker(db, settings):

            async def disabled() -> bool:
                return (await handler_row(db, hook.id)).disabled_at is not None

            assert await wait_until(disabled)
            await asyncio.sleep(0.5)  # ten poll rounds with two deliveries due
            assert len(receiver.requests) == 1
            handler = await handler_row(db, hook.id)
            assert handler.disabled_reason == "The handler answered 410 Gone."
            status["code"] = 200
            async with transaction(db) as conn:
                again = await handlers.bind(
                    conn,
                    handlers.Binding(user_id=None),
                    event="onCrmDealAdd",
                    handler=receiver.url,
                    now=dt.datetime.now(dt.UTC),
                    networks=parse_networks(LOOPBACK),
                )
            assert again.id == hook.id and again.disabled_at is None
            await receiver.wait_for(3, timeout=10)
            await asyncio.sleep(0.3)
    assert len(receiver.requests) == 3
    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert len(set(ids)) == 3
    assert [(row.status, row.attempts) for row in await queued(db, hook.id)] == [
        ("failed", 1),
        ("delivered", 1),
        ("delivered", 1),
    ]


async def test_w7_retry_after_is_honoured_and_clamped(db: AsyncEngine, rest: RestClient) -> None:
    """W7, schedule 0.6, 0.5, 0.5 s (±20 %): ``503 Retry-After: 1`` on step 0.6 → the next
    attempt >= 1 s later (jitter alone allows at most 0.72 s) and <= 2 × 0.6 s + SLACK;
    ``Retry-After: 3600`` on step 0.5 → clamped to 2 × 0.5 = 1 s; an HTTP date >= 0.7 s
    ahead on step 0.5 → not before that date (or the 1 s clamp), at most 1 s + SLACK."""
    dates: list[float] = []

    def script(request: Received) -> Reply:
        number = len(receiver.requests)
        if number == 1:
            return Reply(503, {"Retry-After": "1"})
        if number == 2:
            return Reply(503, {"Retry-After": "3600"})
        if number == 3:
            when = math.ceil(request.at + 0.7)
            dates.append(when)
            date = email.utils.formatdate(when, usegmt=True)
            return Reply(503, {"Retry-After": date})
        return Reply(200)

    async with Receiver(script) as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        await add_deal(rest)
        settings = delivery_settings(db, delivery_retry_schedule="0.6,0.5,0.5", delivery_jitter=0.2)
        async with running_worker(db, settings):
            await receiver.wait_for(4, timeout=15)
    requests = list(receiver.requests)
    assert len(requests) == 4
    first, second, third = gaps(requests)
    assert 1.0 <= first <= 2 * 0.6 + SLACK, first
    assert 2 * 0.5 <= second <= 2 * 0.5 + SLACK, second
    assert requests[3].at >= min(dates[0], requests[2].at + 2 * 0.5), (third, dates)
    assert 0.5 * 1.2 < third <= 2 * 0.5 + SLACK, third
    [delivery] = await queued(db, hook.id)
    assert (delivery.status, delivery.attempts) == ("delivered", 4)


async def test_at_most_once_sends_each_event_once(db: AsyncEngine, rest: RestClient) -> None:
    """At-most-once (Bitrix's contract): a receiver answering 500 gets exactly 1 attempt
    per event (3 events → 3 POSTs, 3 webhook-ids), each delivery ``failed``, and nothing
    is resent within 0.5 s, twice the longest first retry step (0.2 s + 20 %)."""
    async with Receiver(lambda _request: Reply(500)) as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        for number in range(3):
            await add_deal(rest, f"deal {number}")
        settings = delivery_settings(db, delivery_mode="at_most_once")
        async with running_worker(db, settings):

            async def all_failed() -> bool:
                return [row.status for row in await queued(db, hook.id)] == ["failed"] * 3

            assert await wait_until(all_failed)
            await asyncio.sleep(0.5)
    assert len(receiver.requests) == 3
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 3
    rows = await queued(db, hook.id)
    assert [(row.attempts, row.last_status_code) for row in rows] == [(1, 500)] * 3
    for row in rows:
        assert len(await attempts_of(db, row.id)) == 1


DEAD_LEASE = 0.3


@pytest.mark.parametrize("mode", ["at_most_once", "at_least_once"])
async def test_abandoned_claim_after_its_lease(
    db: AsyncEngine, rest: RestClient, mode: str
) -> None:
    """A worker that died mid-send (simulated: ``deliveries.claim`` as "dead-worker",
    lease 0.3 s, never finished). At-most-once: the delivery becomes ``failed`` after the
    lease and is never POSTed. At-least-once: it is sent once, not before the lease ran
    out, with the webhook-id it had (msg_{outbox_id}_{handler_id}), and delivered."""
    async with Receiver() as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        await add_deal(rest)
        async with transaction(db) as conn:
            now = dt.datetime.now(dt.UTC)
            [job] = await deliveries.claim(
                conn,
                now=now,
                worker="dead-worker",
                limit=10,
                lease=dt.timedelta(seconds=DEAD_LEASE),
            )
        lease_until = now + dt.timedelta(seconds=DEAD_LEASE)
        async with running_worker(db, delivery_settings(db, delivery_mode=mode)):

            async def moved_on() -> bool:
                return (await queued(db, hook.id))[0].status in ("failed", "delivered")

            assert await wait_until(moved_on)
            await asyncio.sleep(0.3)
    [row] = await queued(db, hook.id)
    assert row.claimed_by is None and row.lease_until is None
    if mode == "at_most_once":
        assert receiver.requests == []
        assert (row.status, row.attempts) == ("failed", 1)
        assert row.finished_at >= lease_until
        assert await attempts_of(db, row.id) == []
        return
    [request] = receiver.requests
    assert request.headers["webhook-id"] == signing.message_id(job.outbox_id, job.handler_id)
    assert request.at >= lease_until.timestamp()
    assert (row.status, row.attempts) == ("delivered", 2)
