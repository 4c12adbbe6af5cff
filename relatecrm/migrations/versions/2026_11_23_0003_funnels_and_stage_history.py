"""Funnels get ids from a sequence and origin fields; the stage history table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On SQLite the table is rebuilt with AUTOINCREMENT so deleted funnel ids are not reused.
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "categories",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": True} if sqlite else {},
    ) as batch:
        batch.add_column(sa.Column("origin_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("originator_id", sa.String(length=255), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # SQLite's INTEGER PRIMARY KEY already assigns max(id) + 1.
        op.execute("CREATE SEQUENCE categories_id_seq OWNED BY categories.id")
        op.execute(
            "SELECT setval('categories_id_seq', (SELECT COALESCE(MAX(id), 0) + 1 FROM categories), false)"
        )
        op.execute("ALTER TABLE categories ALTER COLUMN id SET DEFAULT nextval('categories_id_seq')")
    with op.batch_alter_table("deals") as batch:
        batch.create_foreign_key(
            "fk_deals_category_id_categories", "categories", ["category_id"], ["id"],
            ondelete="RESTRICT",
        )  # fmt: skip
    op.create_table(
        "stage_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity_type_id", sa.Integer(), server_default="2", nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_time", sa.DateTime(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("stage_semantic_id", sa.String(length=1), nullable=False),
        sa.Column("stage_id", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["deals.id"], name=op.f("fk_stage_history_owner_id_deals"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_history")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("stage_history") as batch:
        batch.create_index("ix_stage_history_owner", ["owner_id", "id"], unique=False)
        batch.create_index("ix_stage_history_created", ["created_time", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("stage_history")
    with op.batch_alter_table("deals") as batch:
        batch.drop_constraint("fk_deals_category_id_categories", type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE categories ALTER COLUMN id DROP DEFAULT")
        op.execute("DROP SEQUENCE categories_id_seq")
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("originator_id")
        batch.drop_column("origin_id")
