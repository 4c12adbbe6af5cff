"""What an operator does with the delivery queue: look at it, and send events again.

History is never rewritten. A replay inserts a fresh ``pending`` delivery next to the
old ones (``replay_of`` points at the pair's first delivery), so the worker sends it like
any other: same ``webhook-id`` (``msg_{outbox_id}_{handler_id}``, the receiver's
deduplication key), a new timestamp and signature, and its own attempts.

An event reaches a handler at most once per replay call, however it was selected: the
unit of a replay is the (outbox event, handler) pair, not the delivery row, because a
pair replayed before has several rows. A pair with a delivery still pending or sending
is skipped; it is about to be sent anyway.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.errors import CrmError, InvalidParameter, NotFound
from relatecrm.events.deliveries import (
    CANCELLED,
    DELIVERED,
    FAILED,
    PENDING,
    STATUSES,
    UNFINISHED,
)
from relatecrm.events.models import deliveries, delivery_attempts, event_handlers, outbox

DEFAULT_LIMIT = 50
DEFAULT_MAX_REPLAY = 10_000
RESPONSE_PREVIEW = 200
FINISHED = (DELIVERED, FAILED, CANCELLED)


class ReplayRefused(CrmError):
    """The replay was refused."""


@dataclass(frozen=True)
class Delivery:
    """One delivery row with its event, as ``events list`` shows it."""

    id: int
    outbox_id: int
    event: str
    entity_key: str
    handler_id: int
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    finished_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    replay_of: int | None
    event_at: dt.datetime


@dataclass(frozen=True)
class Attempt:
    """One HTTP try of a delivery."""

    id: int
    started_at: dt.datetime
    duration_ms: int
    outcome: str
    status_code: int | None
    address: str | None
    error: str | None
    response: str | None
    webhook_timestamp: int


@dataclass(frozen=True)
class Replayed:
    """What a replay did: the new delivery ids, the pairs skipped as already queued, and
    the handlers it switched back on."""

    queued: list[int]
    skipped: int
    enabled: list[int]


def parse_time(text: str, option: str = "time") -> dt.datetime:
    """ISO 8601 (``2026-11-23``, ``2026-11-23T18:00:00Z``, ``...+03:00``); no zone is UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidParameter(
            f"Bad {option} {text!r}: use ISO 8601, e.g. 2026-11-23T18:00:00Z."
        ) from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _check_status(status: str | None, allowed: Sequence[str]) -> None:
    if status is not None and status not in allowed:
        raise InvalidParameter(f"Bad status {status!r}: one of {', '.join(allowed)}.")


def _check_range(since: dt.datetime | None, until: dt.datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise InvalidParameter("--since must be earlier than --until.")


def _event_filters(
    *,
    handler_id: int | None,
    event: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[Any]:
    """Conditions on deliveries joined to outbox; the range is [since, until)."""
    conditions: list[Any] = []
    if handler_id is not None:
        conditions.append(deliveries.c.handler_id == handler_id)
    if event is not None:
        # The outbox keeps Bitrix's camelCase; names compare case-insensitively.
        conditions.append(func.upper(outbox.c.event) == event.strip().upper())
    if since is not None:
        conditions.append(outbox.c.created_at >= since)
    if until is not None:
        conditions.append(outbox.c.created_at < until)
    return conditions


async def list_deliveries(
    conn: AsyncConnection,
    *,
    status: str | None = None,
    handler_id: int | None = None,
    event: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Delivery]:
    """Deliveries newest first; ``since``/``until`` bound the event's time."""
    _check_status(status, STATUSES)
    _check_range(since, until)
    if limit < 1:
        raise InvalidParameter("--limit must be at least 1.")
    own = [name for name in Delivery.__dataclass_fields__ if name not in ("event", "event_at")]
    query = (
        select(
            *(deliveries.c[name] for name in own),
            outbox.c.event,
            outbox.c.created_at.label("event_at"),
        )
        .join(outbox, outbox.c.id == deliveries.c.outbox_id)
        .where(*_event_filters(handler_id=handler_id, event=event, since=since, until=until))
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(deliveries.c.status == status)
    return [Delivery(**row._mapping) for row in await conn.execute(query)]


async def attempts(conn: AsyncConnection, delivery_id: int) -> list[Attempt]:
    """Every attempt of a delivery, oldest first; ``NotFound`` if there is no such one."""
    found = await conn.scalar(select(deliveries.c.id).where(deliveries.c.id == delivery_id))
    if found is None:
        raise NotFound(f"Delivery {delivery_id} not found.")
    a = delivery_attempts.c
    rows = await conn.execute(
        select(*(a[name] for name in Attempt.__dataclass_fields__))
        .where(a.delivery_id == delivery_id)
        .order_by(a.id)
    )
    return [Attempt(**row._mapping) for row in rows]


@dataclass(frozen=True)
class _Pair:
    outbox_id: int
    handler_id: int
    root: int  # the pair's first delivery: what ``replay_of`` names
    latest_status: str
    entity_key: str
    lane: str


def _pairs_query(conditions: Iterable[Any], status: str | None) -> Any:
    """(outbox, handler) pairs among the deliveries matching ``conditions``, each with its
    first delivery and the status of its latest one (which must be ``status`` if given)."""
    d = deliveries.c
    grouped = (
        select(
            d.outbox_id,
            d.handler_id,
            func.min(d.id).label("root"),
            func.max(d.id).label("latest"),
        )
        .join(outbox, outbox.c.id == d.outbox_id)
        .where(*conditions)
        .group_by(d.outbox_id, d.handler_id)
        .subquery()
    )
    latest = deliveries.alias("latest")
    query = (
        select(
            grouped.c.outbox_id,
            grouped.c.handler_id,
            grouped.c.root,
            latest.c.status.label("latest_status"),
            latest.c.entity_key,
            latest.c.lane,
        )
        .join(latest, latest.c.id == grouped.c.latest)
        .order_by(grouped.c.outbox_id, grouped.c.handler_id)
    )
    return query if status is None else query.where(latest.c.status == status)


async def _pairs_of(conn: AsyncConnection, delivery_ids: Sequence[int]) -> list[_Pair]:
    """The pairs of explicitly named deliveries; every id must exist."""
    rows = await conn.execute(
        select(deliveries.c.id, deliveries.c.outbox_id, deliveries.c.handler_id).where(
            deliveries.c.id.in_(set(delivery_ids))
        )
    )
    found = {int(row.id): (int(row.outbox_id), int(row.handler_id)) for row in rows}
    missing = sorted(set(delivery_ids) - set(found))
    if missing:
        names = ", ".join(str(number) for number in missing)
        noun = "Delivery" if len(missing) == 1 else "Deliveries"
        raise NotFound(f"{noun} {names} not found.")
    pairs: list[_Pair] = []
    for outbox_id, handler_id in sorted(set(found.values())):
        [pair] = await _select(
            conn,
            [deliveries.c.outbox_id == outbox_id, deliveries.c.handler_id == handler_id],
            limit=1,
        )
        pairs.append(pair)
    return pairs


async def _select(
    conn: AsyncConnection, conditions: Iterable[Any], *, limit: int, status: str | None = None
) -> list[_Pair]:
    rows = await conn.execute(_pairs_query(conditions, status).limit(limit))
    return [
        _Pair(
            outbox_id=int(row.outbox_id),
            handler_id=int(row.handler_id),
            root=int(row.root),
            latest_status=str(row.latest_status),
            entity_key=str(row.entity_key),
            lane=str(row.lane),
        )
        for row in rows
    ]


async def replay(
    conn: AsyncConnection,
    *,
    now: dt.datetime,
    delivery_ids: Sequence[int] = (),
    outbox_id: int | None = None,
    handler_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    status: str | None = None,
    enable: bool = False,
    max_count: int = DEFAULT_MAX_REPLAY,
) -> Replayed:
    """Queue events again: named deliveries, one outbox event (all its handlers or
    ``handler_id``), or every event whose time is in [since, until).

    ``status`` keeps only pairs whose latest delivery has it (``failed``: dead letters).
    A disabled handler is refused unless ``enable``, which switches it back on. More than
    ``max_count`` pairs is refused: a mistyped range must not flood a receiver. On any
    refusal nothing is written (the caller's transaction rolls back).
    """
    by_range = since is not None or until is not None
    chosen = sum((bool(delivery_ids), outbox_id is not None, by_range))
    if chosen != 1:
        raise InvalidParameter(
            "Choose what to replay: --delivery ID, --event-id OUTBOX_ID, or --since/--until."
        )
    if delivery_ids and (handler_id is not None or status is not None):
        raise InvalidParameter("--handler and --status go with --event-id or --since/--until.")
    _check_status(status, FINISHED)
    _check_range(since, until)
    if max_count < 1:
        raise InvalidParameter("--max must be at least 1.")

    if delivery_ids:
        pairs = await _pairs_of(conn, delivery_ids)
    else:
        conditions = _event_filters(handler_id=handler_id, event=None, since=since, until=until)
        if outbox_id is not None:
            conditions.append(deliveries.c.outbox_id == outbox_id)
        pairs = await _select(conn, conditions, status=status, limit=max_count + 1)
        if outbox_id is not None and not pairs:
            await _require_event(conn, outbox_id, handler_id)
    if len(pairs) > max_count:
        raise ReplayRefused(f"More than {max_count} events match; narrow the range or raise --max.")
    todo = [pair for pair in pairs if pair.latest_status not in UNFINISHED]
    enabled = await _check_handlers(conn, {pair.handler_id for pair in todo}, enable=enable)
    queued: list[int] = []
    if todo:
        result = await conn.execute(
            insert(deliveries).returning(deliveries.c.id),
            [
                {
                    "outbox_id": pair.outbox_id,
                    "handler_id": pair.handler_id,
                    "entity_key": pair.entity_key,
                    "lane": pair.lane,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "replay_of": pair.root,
                }
                for pair in todo
            ],
        )
        queued = sorted(int(value) for value in result.scalars())
    return Replayed(queued=queued, skipped=len(pairs) - len(todo), enabled=enabled)


async def _require_event(conn: AsyncConnection, outbox_id: int, handler_id: int | None) -> None:
    """An event id that selects no delivery at all is an operator's mistake, not a quiet
    zero (a ``status`` that matches none of its deliveries is a quiet zero)."""
    if await conn.scalar(select(outbox.c.id).where(outbox.c.id == outbox_id)) is None:
        raise NotFound(f"Event {outbox_id} not found.")
    query = select(deliveries.c.id).where(deliveries.c.outbox_id == outbox_id).limit(1)
    if handler_id is not None:
        query = query.where(deliveries.c.handler_id == handler_id)
    if await conn.scalar(query) is None:
        to = f" to handler {handler_id}" if handler_id is not None else ""
        raise NotFound(f"Event {outbox_id} has no deliveries{to}.")


async def _check_handlers(
    conn: AsyncConnection, handler_ids: set[int], *, enable: bool
) -> list[int]:
    """Refuse disabled handlers (the worker skips them: a replay would just sit there),
    or, with ``enable``, switch them back on; the ids switched on."""
    if not handler_ids:
        return []
    h = event_handlers.c
    disabled = (
        await conn.execute(
            select(h.id, h.disabled_reason)
            .where(h.id.in_(handler_ids), h.disabled_at.is_not(None))
            .order_by(h.id)
        )
    ).all()
    if not disabled:
        return []
    ids = [int(row.id) for row in disabled]
    if not enable:
        reasons = "; ".join(f"handler {row.id}: {row.disabled_reason}" for row in disabled)
        raise ReplayRefused(
            f"Disabled handler{'s' if len(ids) > 1 else ''} ({reasons}). "
            "Pass --enable to switch it back on and replay."
        )
    await conn.execute(
        update(event_handlers)
        .where(h.id.in_(ids))
        .values(disabled_at=None, disabled_reason=None, failing_since=None)
    )
    return ids


def _stamp(value: dt.datetime | None) -> str:
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_line(text: str | None, limit: int | None = None) -> str:
    """Text for a tab-separated line: cut to ``limit``, tabs and newlines escaped."""
    if not text:
        return "-"
    cut = text if limit is None else text[:limit]
    return cut.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


def delivery_line(row: Delivery) -> str:
    """id, outbox id, event, entity, handler, status, attempts, when, last answer."""
    if row.status in UNFINISHED:
        when = f"next={_stamp(row.next_attempt_at)}"
    else:
        when = f"finished={_stamp(row.finished_at)}"
    last = " ".join(
        part
        for part in (
            f"HTTP {row.last_status_code}" if row.last_status_code is not None else "",
            one_line(row.last_error) if row.last_error else "",
        )
        if part
    )
    parts = [
        str(row.id), f"outbox={row.outbox_id}", row.event, row.entity_key,
        f"handler={row.handler_id}", row.status, f"attempts={row.attempts}", when, last or "-",
    ]  # fmt: skip
    if row.replay_of is not None:
        parts.append(f"replay_of={row.replay_of}")
    return "\t".join(parts)


def attempt_line(row: Attempt) -> str:
    """time, duration, outcome, status code, address, error, start of the response."""
    started = row.started_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "\t".join(
        [
            started[:-4] + "Z",  # milliseconds
            f"{row.duration_ms}ms",
            row.outcome,
            "-" if row.status_code is None else str(row.status_code),
            row.address or "-",
            one_line(row.error),
            one_line(row.response, RESPONSE_PREVIEW),
        ]
    )
