"""Replay a captured request's SQL on the bare driver: no SQLAlchemy, no HTTP.

A replay is the same transaction the server ran: the same statements with the
same parameters, one driver call each, fetched completely, then COMMIT. On
PostgreSQL that is asyncpg's ``transaction()`` (BEGIN ... COMMIT, as SQLAlchemy's
asyncpg adapter does it); on SQLite the captured ``BEGIN``/``BEGIN IMMEDIATE`` is
the first statement and ``commit()`` ends it. Connections get the same settings
the server's get on connect (WAL, synchronous=FULL, foreign keys, busy timeout,
the Unicode ``lower``), so a SQLite COMMIT pays the same fsync here as there.

What the replay deliberately leaves out is what SQLAlchemy adds around the SQL:
the pool checkout with its pre-ping (PostgreSQL), cursor wrapping, type
conversion and result processing. That difference is the point of the column.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Protocol

import aiosqlite
import asyncpg

from bench.calls import count_calls, summarize
from bench.capture import Template

SQLITE_SETUP = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class Replayer(Protocol):
    """A raw connection that can run a template's transaction."""

    name: str

    async def run(self, template: Template, deal_id: int | None) -> None: ...

    async def close(self) -> None: ...


class AsyncpgReplayer:
    """asyncpg, the driver the server uses on PostgreSQL (statements cached and prepared)."""

    name = "asyncpg"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, dsn: str) -> AsyncpgReplayer:
        return cls(await asyncpg.connect(dsn))

    async def run(self, template: Template, deal_id: int | None) -> None:
        current = deal_id
        async with self.conn.transaction():
            for statement in template.statements:
                rows = await self.conn.fetch(
                    statement.sql, *statement.bind(template.deal_id, current)
                )
                if statement.returns_deal_id:
                    current = int(rows[0][0])

    async def ping(self) -> None:
        """What ``pool_pre_ping`` sends on every checkout: BEGIN, ``;``, ROLLBACK."""
        transaction = self.conn.transaction()
        await transaction.start()
        try:
            await self.conn.fetchrow(";")
        finally:
            await transaction.rollback()

    async def server_version(self) -> str:
        return str(await self.conn.fetchval("SHOW server_version"))

    async def close(self) -> None:
        await self.conn.close()


class AiosqliteReplayer:
    """aiosqlite, the driver the server uses on SQLite (one worker thread per connection)."""

    name = "aiosqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, path: str) -> AiosqliteReplayer:
        conn = await aiosqlite.connect(path, isolation_level=None, timeout=30)
        try:
            for pragma in SQLITE_SETUP:
                # Closed at once: an open statement makes create_function fail.
                async with conn.execute(pragma) as cursor:
                    await cursor.fetchall()
            await conn.create_function("lower", 1, _unicode_lower, deterministic=True)
        except BaseException:
            await conn.close()  # its worker thread would keep the process alive
            raise
        return cls(conn)

    async def run(self, template: Template, deal_id: int | None) -> None:
        current = deal_id
        for statement in template.statements:
            params = statement.bind(template.deal_id, current)
            async with self.conn.execute(statement.sql, params) as cursor:
                rows: Any = await cursor.fetchall()
            if statement.returns_deal_id:
                current = int(rows[0][0])
        await self.conn.commit()

    async def close(self) -> None:
        await self.conn.close()


class Sqlite3Replayer:
    """The stdlib sqlite3 module, synchronously: the floor under aiosqlite's thread hops."""

    name = "sqlite3"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, path: str) -> Sqlite3Replayer:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        for pragma in SQLITE_SETUP:
            conn.execute(pragma).close()
        conn.create_function("lower", 1, _unicode_lower, deterministic=True)
        return cls(conn)

    async def run(self, template: Template, deal_id: int | None) -> None:
        current = deal_id
        for statement in template.statements:
            cursor = self.conn.execute(statement.sql, statement.bind(template.deal_id, current))
            rows = cursor.fetchall()
            cursor.close()
            if statement.returns_deal_id:
                current = int(rows[0][0])
        self.conn.commit()

    async def close(self) -> None:
        self.conn.close()


async def open_replayers(backend: str, target: str) -> list[Replayer]:
    """The server's own driver first (the "raw" column), then any extra ones."""
    if backend == "postgresql":
        return [await AsyncpgReplayer.open(target)]
    first = await AiosqliteReplayer.open(target)
    try:
        return [first, await Sqlite3Replayer.open(target)]
    except BaseException:
        await first.close()
        raise


async def count_raw_calls(backend: str, target: str, templates: list[Template]) -> dict[str, str]:
    """Round trips / thread hops of one replay per template, on a separate connection.

    The timed connections are never wrapped: the counting proxy would add its own cost.
    """
    replayer: AsyncpgReplayer | AiosqliteReplayer
    if backend == "postgresql":
        replayer = await AsyncpgReplayer.open(target)
    else:
        replayer = await AiosqliteReplayer.open(target)
    calls: list[str] = []
    counted: dict[str, str] = {}
    count_calls(replayer.conn, calls)
    try:
        for template in templates:
            await replayer.run(template, template.deal_id)  # warm the statement cache
            calls.clear()
            await replayer.run(template, template.deal_id)
            counted[template.operation] = summarize(calls)
    finally:
        await replayer.close()
    return counted
