"""The delivery worker: ``relatecrm worker``, or a task inside ``relatecrm serve``.

A loop claims due deliveries (``events.deliveries``), posts each on its own task through
the SSRF-safe transport with the Bitrix body and Standard Webhooks headers, and records
the attempt in a short transaction of its own. At most ``delivery_concurrency`` posts run
at once, at most ``delivery_per_handler`` per handler, so a hanging receiver holds a few
slots for ``delivery_timeout`` seconds and nobody else waits. Any number of workers may
run against one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relatecrm.accounts import oauth
from relatecrm.config import Settings
from relatecrm.db import is_sqlite, transaction
from relatecrm.delivery import transport
from relatecrm.events import deliveries, payload, retry, signing
from relatecrm.events.deliveries import Job, Policy
from relatecrm.events.outcomes import Answer

log = logging.getLogger("relatecrm.events")


def policy_from(settings: Settings) -> Policy:
    return Policy(
        mode=settings.delivery_mode,
        schedule=retry.parse_schedule(settings.delivery_retry_schedule),
        jitter=settings.delivery_jitter,
        overload_penalty=settings.delivery_overload_penalty,
        disable_after=dt.timedelta(seconds=settings.delivery_disable_after),
    )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Worker:
    """One process's delivery loop. ``run`` until ``stop`` is set."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.policy = policy_from(settings)
        self.name = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = dt.timedelta(
            seconds=settings.delivery_timeout + settings.delivery_lease_margin
        )
        self.lifetimes = oauth.Lifetimes(
            code=dt.timedelta(seconds=settings.oauth_code_ttl),
            access=dt.timedelta(seconds=settings.oauth_access_ttl),
            refresh=dt.timedelta(seconds=settings.oauth_refresh_ttl),
        )
        self.base = settings.resolved_public_url()
        self.busy: Counter[int] = Counter()  # handler id -> posts in flight here
        self.tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self._wake = asyncio.Event()
        # SQLite has one writer: queueing our own claims and records here, instead of
        # letting 16 tasks spin in SQLite's busy handler, keeps each short and in order,
        # so a record is not delayed past its lease (which would resend the event).
        self._writes: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if is_sqlite(engine) else contextlib.nullcontext()
        )

    async def run(self, stop: asyncio.Event) -> None:
        sender = transport.Transport(
            timeout=self.settings.delivery_timeout,
            networks=self.settings.allowed_networks(),
            max_response=self.settings.delivery_max_response,
            connections=self.settings.delivery_concurrency,
        )
        log.info("event delivery worker %s started (%s)", self.name, self.policy.mode)
        next_recovery = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_recovery:
                    await self._guard(self._recover)
                    next_recovery = time.monotonic() + max(1.0, self.lease.total_seconds() / 4)
                claimed = await self._guard(lambda: self._claim(sender)) or 0
                if claimed:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wait(stop), timeout=self.settings.delivery_poll_interval
                    )
        finally:
            await self._drain()
            await sender.close()
            log.info("event delivery worker %s stopped after %d posts", self.name, self.sent)

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _guard(self, work: Callable[[], object]) -> int | None:
        """A database hiccup must not end the loop: log it and try again next round."""
        try:
            result = await work()  # type: ignore[misc]
            return int(result) if isinstance(result, int) else None
        except Exception:
            log.exception("event delivery: database step failed; retrying")
            await asyncio.sleep(self.settings.delivery_poll_interval)
            return None

    async def _recover(self) -> int:
        async with self._writes, transaction(self.engine) as conn:
            now = self.clock()
            moved = await deliveries.recover(conn, now=now, mode=self.policy.mode)
            await oauth.purge_expired(conn, now)  # the tokens minted for app handlers
        if moved:
            log.warning("event delivery: %d sends of a stopped worker taken over", moved)
        return moved

    async def _claim(self, sender: transport.Transport) -> int:
        free = self.settings.delivery_concurrency - len(self.tasks)
        if free <= 0:
            return 0
        per_handler = self.settings.delivery_per_handler
        room = {handler: per_handler - busy for handler, busy in self.busy.items()}
        async with self._writes, transaction(self.engine) as conn:
            now = self.clock()
            jobs = await deliveries.claim(
                conn, now=now, worker=self.name, limit=free, lease=self.lease,
                room=room, per_handler=per_handler,
            )  # fmt: skip
            prepared = [(job, await self._auth(conn, job, now)) for job in jobs]
        for job, auth in prepared:
            self.busy[job.handler_id] += 1
            task = asyncio.create_task(self._deliver(sender, job, auth))
            self.tasks.add(task)
            task.add_done_callback(self._done)
        return len(prepared)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self._wake.set()

    async def _auth(self, conn: AsyncConnection, job: Job, now: dt.datetime) -> dict[str, str]:
        """The ``auth`` block: an app's handler gets a fresh token of the acting user."""
        endpoint = f"{self.base}/rest/"
        domain = urlsplit(self.base).netloc
        member_id = self.settings.portal_member_id(self.base)
        acting = job.auth_type or job.user_id
        grant = None
        if job.app_id is not None and acting is not None:
            grant = await oauth.event_grant(
                conn, job.app_id, user_id=acting, now=now, lifetimes=self.lifetimes
            )
        if grant is None:
            return payload.auth_block(
                domain=domain, member_id=member_id, application_token=job.application_token,
                client_endpoint=endpoint, server_endpoint=endpoint,
            )  # fmt: skip
        return payload.auth_block(
            domain=domain, member_id=member_id, application_token=job.application_token,
            client_endpoint=endpoint, server_endpoint=endpoint,
            access_token=grant.access_token, expires=int(grant.expires.timestamp()),
            expires_in=grant.expires_in, scope=",".join(grant.scopes), user_id=grant.user_id,
        )  # fmt: skip

    async def _deliver(self, sender: transport.Transport, job: Job, auth: dict[str, str]) -> None:
        try:
            started = self.clock()
            stamp = int(time.time())
            data = payload.event_data(
                {"event": job.event, "entity_id": job.entity_id, "payload": job.payload}
            )
            body = payload.form_body(job.event, job.handler_id, data, stamp, auth)
            headers = {}
            if job.secret:
                headers = signing.sign(
                    job.secret, signing.message_id(job.outbox_id, job.handler_id), stamp, body
                )
            answer = await sender.post(job.url, body, headers)
            self.sent += 1
            await self._record(job, answer, started, stamp)
        except Exception:
            log.exception("event delivery %d: unexpected failure", job.delivery_id)
        finally:
            self.busy[job.handler_id] -= 1
            if self.busy[job.handler_id] <= 0:
                del self.busy[job.handler_id]

    async def _record(self, job: Job, answer: Answer, started: dt.datetime, stamp: int) -> None:
        """Record the outcome; retried briefly, since a lost record means a resend."""
        for attempt in range(5):
            try:
                async with self._writes, transaction(self.engine) as conn:
                    await deliveries.finish(
                        conn, job, answer, worker=self.name, started=started, stamp=stamp,
                        now=self.clock(), policy=self.policy,
                    )  # fmt: skip
                return
            except Exception:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))

    async def _drain(self) -> None:
        """Let posts in flight finish (they are cut at the timeout anyway)."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=self.settings.delivery_timeout + 5)
        for task in set(self.tasks):
            task.cancel()


async def report_status(engine: AsyncEngine, interval: float, stop: asyncio.Event) -> None:
    """Log one status line every ``interval`` seconds, when it changed."""
    last = ""
    while not stop.is_set():
        try:
            async with transaction(engine, write=False) as conn:
                line = deliveries.status_line(await deliveries.counts(conn, now=_utcnow()))
            if line != last:
                log.info("%s", line)
                last = line
        except Exception:
            log.exception("event status: could not read the delivery queue")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
