"""SQLite: deal ids are never reused (AUTOINCREMENT), as on PostgreSQL and in Bitrix24.

Migrations 0003 and 0006 rebuilt ``deals`` on SQLite, and the rebuild dropped the
AUTOINCREMENT keyword, so deleting the newest deal let the next add take its id: an
integration (or an event receiver) holding the old id then reached another deal. This
rebuilds the table once more with the keyword. Ids deleted before this migration may
still be reused once; from here on none is. PostgreSQL is untouched.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # Dropping the old copy runs the ON DELETE actions of every table referring to deals
    # (foreign keys cannot be switched off inside the migration's transaction): their
    # rows are put aside and restored, as migration 0006 does.
    inspector = sa.inspect(bind)
    children = [
        name
        for name in inspector.get_table_names()
        if any(fk["referred_table"] == "deals" for fk in inspector.get_foreign_keys(name))
    ]
    for name in children:
        op.execute(f'CREATE TEMP TABLE "keep_{name}" AS SELECT * FROM "{name}"')
    with op.batch_alter_table(
        "deals", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass
    for name in children:
        op.execute(f'DELETE FROM "{name}"')
        op.execute(f'INSERT INTO "{name}" SELECT * FROM "keep_{name}"')
        op.execute(f'DROP TABLE "keep_{name}"')


def downgrade() -> None:
    """Nothing to undo: AUTOINCREMENT only stops id reuse."""
