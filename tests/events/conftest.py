"""Delivery test helpers: a hook on a local receiver, and a worker running in-process."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.config import Settings
from relatecrm.db import transaction
from relatecrm.delivery.worker import Worker
from relatecrm.events import handlers
from relatecrm.events.ssrf import parse_networks

LOOPBACK = "127.0.0.1/32"
# reliability.md §5's "scaled schedule", scaled down once more so CI stays short.
FAST = {
    "webhook_allowed_networks": LOOPBACK,
    "delivery_poll_interval": 0.05,
    "delivery_retry_schedule": "0.2,0.4,0.8",
    "delivery_overload_penalty": 0.0,
    "delivery_timeout": 2.0,
    # Long enough that a record delayed on a loaded machine is not taken for a dead
    # worker's (a resend would upset exact counts); lease tests set their own.
    "delivery_lease_margin": 15.0,
    "status_interval": 0,
}


def delivery_settings(db: AsyncEngine, **overrides: Any) -> Settings:
    """Settings for a worker on the test database; ``FAST`` unless overridden."""
    values = {**FAST, **overrides}
    return Settings(database_url=db.url.render_as_string(hide_password=False), **values)


async def add_hook(
    db: AsyncEngine,
    url: str,
    events: Sequence[str] = ("onCrmDealAdd", "onCrmDealUpdate", "onCrmDealDelete"),
    networks: str = LOOPBACK,
) -> list[handlers.Handler]:
    """An administrator's outgoing webhook for ``events`` (one token, like the CLI)."""
    token = handlers.new_token()
    async with transaction(db) as conn:
        return [
            await handlers.bind(
                conn,
                handlers.Binding(user_id=None),
                event=name,
                handler=url,
                now=dt.datetime.now(dt.UTC),
                networks=parse_networks(networks),
                application_token=token,
            )
            for name in events
        ]


@asynccontextmanager
async def running_worker(db: AsyncEngine, settings: Settings) -> AsyncIterator[Worker]:
    """A worker delivering in the background until the block ends."""
    worker = Worker(db, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
