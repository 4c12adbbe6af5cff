"""A throwaway database per run: created here, migrated the real way, always removed.

SQLite lives in a fresh temporary directory; PostgreSQL gets a new database
``relatecrm_bench_<random>`` on the server named by ``--database-url``, dropped
(with FORCE, so a stray connection cannot keep it alive) when the run ends.
Only loopback servers are accepted: the benchmark never talks to anything else.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

from relatecrm.accounts import service as accounts
from relatecrm.db import create_engine, transaction
from relatecrm.migrate import upgrade

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class BenchDatabase:
    """Where the run's data lives, in the forms each consumer needs."""

    backend: str  # "sqlite" or "postgresql"
    url: str  # SQLAlchemy URL, as the server gets it in RELATECRM_DATABASE_URL
    raw_target: str  # sqlite file path, or an asyncpg DSN
    user_id: int
    webhook_code: str


def check_loopback(url: URL) -> None:
    """Refuse any database host but this machine's loopback interface."""
    host = url.host or "127.0.0.1"
    if host not in LOOPBACK:
        raise SystemExit(f"refusing database host {host!r}: the benchmark only uses 127.0.0.1")


def asyncpg_dsn(url: URL) -> str:
    """The same server and credentials as a plain ``postgresql://`` DSN for asyncpg."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _bootstrap(url: str) -> tuple[int, str]:
    """Migrations, user 1 and its webhook, exactly as ``relatecrm serve`` prepares a database."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        now = dt.datetime.now(dt.UTC)
        async with transaction(engine) as conn:
            admin = await accounts.ensure_admin(conn, now=now)
            if admin is None:
                raise SystemExit("the new benchmark database unexpectedly already has users")
            code = await accounts.create_webhook(
                conn, user_id=admin, scopes=["crm"], title="bench", now=now
            )
        return admin, code
    finally:
        await engine.dispose()


@asynccontextmanager
async def sqlite_database(keep: bool = False) -> AsyncIterator[BenchDatabase]:
    directory = Path(tempfile.mkdtemp(prefix="relatecrm-bench-"))
    path = directory / "bench.db"
    url = f"sqlite+aiosqlite:///{path}"
    try:
        user_id, code = await _bootstrap(url)
        yield BenchDatabase("sqlite", url, str(path), user_id, code)
    finally:
        if keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


@asynccontextmanager
async def postgresql_database(admin_url: str, keep: bool = False) -> AsyncIterator[BenchDatabase]:
    """Create ``relatecrm_bench_<hex>`` through ``admin_url`` and drop it afterwards."""
    parsed = make_url(admin_url)
    check_loopback(parsed)
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit(f"--database-url must be a PostgreSQL URL, got {parsed.drivername}")
    name = f"relatecrm_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(asyncpg_dsn(parsed))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        target = parsed.set(drivername="postgresql+asyncpg", database=name)
        url = target.render_as_string(hide_password=False)
        try:
            user_id, code = await _bootstrap(url)
            yield BenchDatabase("postgresql", url, asyncpg_dsn(target), user_id, code)
        finally:
            if keep:
                print(f"kept database {name}")
            else:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def open_database(
    backend: str, admin_url: str | None, keep: bool
) -> AbstractAsyncContextManager[BenchDatabase]:
    """The context manager for ``backend``; ``admin_url`` is required for PostgreSQL."""
    if backend == "sqlite":
        return sqlite_database(keep)
    if not admin_url:
        raise SystemExit("--backend postgresql needs --database-url (or RELATECRM_BENCH_PG_URL)")
    return postgresql_database(admin_url, keep)
