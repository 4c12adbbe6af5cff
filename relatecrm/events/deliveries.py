"""The delivery queue: claim due deliveries, record each attempt, decide what comes next.

A delivery is ``pending`` until a worker claims it (``sending``, with a lease), then
``delivered``, ``pending`` again with a later ``next_attempt_at``, or ``failed``. Only the
oldest unfinished delivery of a lane (receiver URL, object) is ever claimable, which keeps
each receiver's events of one deal in order across any number of workers. Claims use
``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite the claim's ``BEGIN IMMEDIATE``
serialises claimers.

A worker killed mid-send leaves a ``sending`` row whose lease runs out: at-least-once
sends it again (same ``webhook-id``), at-most-once marks it failed and never resends.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.events import outcomes, retry
from relatecrm.events.models import deliveries, delivery_attempts, event_handlers, outbox

PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (PENDING, SENDING, DELIVERED, FAILED, CANCELLED)
UNFINISHED = (PENDING, SENDING)

AT_LEAST_ONCE = "at_least_once"
AT_MOST_ONCE = "at_most_once"


@dataclass(frozen=True)
class Policy:
    """How deliveries are retried and when a failing handler is switched off."""

    mode: str = AT_LEAST_ONCE
    schedule: tuple[float, ...] = retry.DEFAULT_SCHEDULE
    jitter: float = 0.2
    overload_penalty: float = 60.0
    disable_after: dt.timedelta = dt.timedelta(days=5)
    rng: random.Random = field(default_factory=random.Random)


@dataclass(frozen=True)
class Job:
    """One claimed delivery with everything needed to build and sign the POST."""

    delivery_id: int
    attempt: int
    outbox_id: int
    event: str
    entity_id: int
    payload: dict[str, Any]
    user_id: int | None
    handler_id: int
    url: str
    app_id: int | None
    auth_type: int | None
    application_token: str
    secret: str | None


def _claimable(now: dt.datetime) -> Any:
    earlier = deliveries.alias("earlier")
    owner = event_handlers.alias("owner")
    # A disabled handler's waiting deliveries do not hold up its lane: the other bindings
    # of that URL go on (and it rejoins, possibly late, if bound again).
    blocked = exists().where(
        earlier.c.lane == deliveries.c.lane,
        earlier.c.id < deliveries.c.id,
        earlier.c.status.in_(UNFINISHED),
        owner.c.id == earlier.c.handler_id,
        owner.c.disabled_at.is_(None),
    )
    return (
        select(deliveries.c.id, deliveries.c.handler_id)
        .join(event_handlers, event_handlers.c.id == deliveries.c.handler_id)
        .where(
            deliveries.c.status == PENDING,
            deliveries.c.next_attempt_at <= now,
            event_handlers.c.disabled_at.is_(None),
            ~blocked,
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
    )


async def claim(
    conn: AsyncConnection,
    *,
    now: dt.datetime,
    worker: str,
    limit: int,
    lease: dt.timedelta,
    room: Mapping[int, int] | None = None,
    per_handler: int = 4,
) -> list[Job]:
    """Claim up to ``limit`` due deliveries; a handler gets at most ``room[handler]``
    (default ``per_handler``) so one slow receiver cannot take every slot."""
    if limit <= 0:
        return []
    query = _claimable(now)
    # A handler at its cap must not fill the candidate window either: a hanging receiver
    # with a backlog would otherwise hide every other handler's due deliveries (W3).
    full = [handler for handler, free in (room or {}).items() if free <= 0]
    if full:
        query = query.where(deliveries.c.handler_id.not_in(full))
    rows = await conn.execute(
        query.limit(limit * 4).with_for_update(skip_locked=True, of=deliveries)
    )
    left = dict(room or {})
    chosen: list[int] = []
    for delivery_id, handler_id in rows:
        free = left.get(handler_id, per_handler)
        if free <= 0:
            continue
        left[handler_id] = free - 1
        chosen.append(int(delivery_id))
        if len(chosen) >= limit:
            break
    if not chosen:
        return []
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(chosen))
        .values(
            status=SENDING,
            attempts=deliveries.c.attempts + 1,
            lease_until=now + lease,
            claimed_by=worker,
        )
    )
    joined = await conn.execute(
        select(
            deliveries.c.id,
            deliveries.c.attempts,
            outbox.c.id.label("outbox_id"),
            outbox.c.event,
            outbox.c.entity_id,
            outbox.c.payload,
            outbox.c.user_id,
            event_handlers.c.id.label("handler_id"),
            event_handlers.c.handler,
            event_handlers.c.app_id,
            event_handlers.c.auth_type,
            event_handlers.c.application_token,
            event_handlers.c.secret,
        )
        .join(outbox, outbox.c.id == deliveries.c.outbox_id)
        .join(event_handlers, event_handlers.c.id == deliveries.c.handler_id)
        .where(deliveries.c.id.in_(chosen))
        .order_by(deliveries.c.id)
    )
    return [
        Job(
            delivery_id=int(row.id),
            attempt=int(row.attempts),
            outbox_id=int(row.outbox_id),
            event=str(row.event),
            entity_id=int(row.entity_id),
            payload=dict(row.payload or {}),
            user_id=row.user_id,
            handler_id=int(row.handler_id),
            url=str(row.handler),
            app_id=row.app_id,
            auth_type=row.auth_type,
            application_token=str(row.application_token),
            secret=row.secret,
        )
        for row in joined
    ]


async def recover(conn: AsyncConnection, *, now: dt.datetime, mode: str) -> int:
    """Deal with sends whose worker died (lease over): resend, or fail at-most-once."""
    stale = and_(deliveries.c.status == SENDING, deliveries.c.lease_until < now)
    if mode == AT_MOST_ONCE:
        values: dict[str, Any] = {
            "status": FAILED,
            "finished_at": now,
            "last_error": "The worker stopped during the attempt; at-most-once: not resent.",
        }
    else:
        values = {"status": PENDING, "next_attempt_at": now}
    result = await conn.execute(
        update(deliveries).where(stale).values(lease_until=None, claimed_by=None, **values)
    )
    return int(result.rowcount or 0)


def _attempt_row(job: Job, answer: outcomes.Answer, started: dt.datetime, stamp: int) -> Any:
    return delivery_attempts.insert().values(
        delivery_id=job.delivery_id,
        started_at=started,
        duration_ms=answer.duration_ms,
        outcome=answer.outcome,
        status_code=answer.status_code,
        error=answer.error,
        response=answer.body,
        webhook_timestamp=stamp,
        address=answer.address,
    )


async def finish(
    conn: AsyncConnection,
    job: Job,
    answer: outcomes.Answer,
    *,
    worker: str,
    started: dt.datetime,
    stamp: int,
    now: dt.datetime,
    policy: Policy,
) -> str:
    """Record the attempt and move the delivery on; its new status.

    Only the claim's owner moves it: if the lease ran out and another worker took the
    delivery over, this attempt is recorded and nothing else changes.
    """
    await conn.execute(_attempt_row(job, answer, started, stamp))
    mine = and_(
        deliveries.c.id == job.delivery_id,
        deliveries.c.status == SENDING,
        deliveries.c.claimed_by == worker,
        deliveries.c.attempts == job.attempt,
    )
    common = {
        "lease_until": None,
        "claimed_by": None,
        "last_status_code": answer.status_code,
        "last_error": answer.error,
    }
    if answer.ok:
        status, values = DELIVERED, {"finished_at": now}
    else:
        delay = None
        if answer.outcome != outcomes.GONE and policy.mode == AT_LEAST_ONCE:
            delay = retry.next_delay(
                job.attempt,
                policy.schedule,
                jitter=policy.jitter,
                retry_after=retry.retry_after_seconds(answer.retry_after, now),
                overloaded=answer.outcome == outcomes.TIMEOUT or answer.status_code == 429,
                overload_penalty=policy.overload_penalty,
                rng=policy.rng,
            )
        if delay is None:
            status, values = FAILED, {"finished_at": now}
        else:
            status = PENDING
            values = {"next_attempt_at": now + dt.timedelta(seconds=delay)}
    result = await conn.execute(
        update(deliveries).where(mine).values(status=status, **common, **values)
    )
    if not result.rowcount:
        return SENDING
    await _handler_health(conn, job.handler_id, answer, now=now, policy=policy)
    return status


async def _handler_health(
    conn: AsyncConnection,
    handler_id: int,
    answer: outcomes.Answer,
    *,
    now: dt.datetime,
    policy: Policy,
) -> None:
    """410 disables at once; failures only, for ``disable_after``, disable too."""
    handler = event_handlers.c
    if answer.ok:
        await conn.execute(
            update(event_handlers)
            .where(handler.id == handler_id, handler.failing_since.is_not(None))
            .values(failing_since=None)
        )
        return
    if answer.outcome == outcomes.GONE:
        await disable(conn, handler_id, now=now, reason="The handler answered 410 Gone.")
        return
    await conn.execute(
        update(event_handlers)
        .where(handler.id == handler_id, handler.failing_since.is_(None))
        .values(failing_since=now)
    )
    since = await conn.scalar(select(handler.failing_since).where(handler.id == handler_id))
    if since is not None and now - since >= policy.disable_after:
        first = since.strftime("%Y-%m-%d %H:%M:%S UTC")
        await disable(conn, handler_id, now=now, reason=f"Only failures since {first}.")


async def disable(conn: AsyncConnection, handler_id: int, *, now: dt.datetime, reason: str) -> None:
    """Stop delivering to a handler; its pending deliveries wait, and resume if it is
    bound again (``event.bind`` of the same handler re-enables it)."""
    await conn.execute(
        update(event_handlers)
        .where(event_handlers.c.id == handler_id, event_handlers.c.disabled_at.is_(None))
        .values(disabled_at=now, disabled_reason=reason[:255])
    )


async def counts(conn: AsyncConnection, *, now: dt.datetime) -> dict[str, Any]:
    """Unfinished and failed deliveries, how late the oldest pending one is, and how many
    handlers are disabled."""
    by_status = {name: 0 for name in (PENDING, SENDING, FAILED)}
    for status, number in await conn.execute(
        select(deliveries.c.status, func.count())
        .where(deliveries.c.status.in_(tuple(by_status)))  # the index; never all history
        .group_by(deliveries.c.status)
    ):
        by_status[str(status)] = int(number)
    oldest = await conn.scalar(
        select(func.min(deliveries.c.next_attempt_at)).where(deliveries.c.status == PENDING)
    )
    disabled = await conn.scalar(
        select(func.count())
        .select_from(event_handlers)
        .where(event_handlers.c.disabled_at.is_not(None))
    )
    lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return {**by_status, "oldest_due_seconds": lag, "disabled_handlers": int(disabled or 0)}


def status_line(numbers: Mapping[str, Any]) -> str:
    """One line for the server log."""
    return (
        f"events: {numbers[PENDING]} pending (oldest due {numbers['oldest_due_seconds']:.0f} s"
        f" ago), {numbers[SENDING]} sending, {numbers[FAILED]} failed, "
        f"{numbers['disabled_handlers']} handlers disabled"
    )
