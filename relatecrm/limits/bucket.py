"""The leaky bucket: each admitted request adds 1, the level drains at a steady rate.

Admission is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING`` statement:
the database drains the stored level, adds the request and checks the burst on the row
it has locked, so two processes can never both take the last place. A row comes back
only when the request was admitted; a refused request writes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, case, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from relatecrm.limits.models import rate_buckets


def upsert(conn: AsyncConnection, table: Any) -> Any:
    """The dialect's INSERT, which knows ``ON CONFLICT`` (both backends speak it)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _larger(a: ColumnElement[float], b: ColumnElement[float]) -> ColumnElement[float]:
    # greatest() is PostgreSQL's and max(a, b) SQLite's; CASE is both backends'.
    return case((a > b, a), else_=b)


async def admit(
    conn: AsyncConnection, credential: str, *, now: float, burst: int, drain: float
) -> bool:
    """Count one request against ``credential``'s bucket; False if it would overflow.

    Clocks of different processes differ a little: time never runs backwards for a
    bucket (a reading older than ``updated_at`` drains nothing and keeps ``updated_at``).
    """
    b = rate_buckets.c
    at = literal(now, Float)
    zero = literal(0.0, Float)
    elapsed = _larger(at - b.updated_at, zero)
    drained = _larger(b.level - literal(drain, Float) * elapsed, zero)
    statement = (
        upsert(conn, rate_buckets)
        .values(credential=credential, level=1.0, updated_at=now)
        .on_conflict_do_update(
            index_elements=[b.credential],
            set_={"level": drained + 1.0, "updated_at": _larger(at, b.updated_at)},
            where=drained + 1.0 <= literal(float(burst), Float),
        )
        .returning(b.level)
    )
    return (await conn.execute(statement)).first() is not None


async def level(conn: AsyncConnection, credential: str, *, now: float, drain: float) -> float:
    """The bucket's level at ``now`` (0 for a credential never seen): for reports and tests."""
    row = (
        await conn.execute(
            select(rate_buckets.c.level, rate_buckets.c.updated_at).where(
                rate_buckets.c.credential == credential
            )
        )
    ).first()
    if row is None:
        return 0.0
    return max(0.0, float(row.level) - drain * max(0.0, now - float(row.updated_at)))
