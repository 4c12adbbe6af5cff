"""Alembic environment: runs on a connection handed over by ``relatecrm.migrate``."""

from __future__ import annotations

from alembic import context

import relatecrm.models  # noqa: F401  (registers every table on the metadata)
from relatecrm.db import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations with `relatecrm migrate`; it provides the connection.")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite can barely ALTER; batch mode rebuilds tables instead
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
