"""Tables of the request limits: one bucket row per credential, usage rows per method.

Times are Unix seconds as floats: the arithmetic happens inside single SQL statements
(so that it is atomic), and plain numbers compute the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, String, Table

from relatecrm.db import metadata

# The leaky bucket: ``level`` as it was at ``updated_at``; it drains continuously after.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("credential", String(64), primary_key=True),
    Column("level", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# The operating budget: the window is cut into slots (ten one-minute buckets by default);
# a slot expires one window after the first call recorded in it.
operating_usage = Table(
    "operating_usage",
    metadata,
    Column("credential", String(64), primary_key=True),
    Column("method", String(255), primary_key=True),
    Column("slot", BigInteger, primary_key=True, autoincrement=False),
    Column("first_at", Float, nullable=False),
    Column("seconds", Float, nullable=False),
)
