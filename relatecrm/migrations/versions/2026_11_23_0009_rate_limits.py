"""Request limits: the leaky bucket per credential and the operating budget per method.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("credential", sa.String(length=64), nullable=False),
        sa.Column("level", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("credential", name=op.f("pk_rate_buckets")),
    )
    op.create_table(
        "operating_usage",
        sa.Column("credential", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=255), nullable=False),
        sa.Column("slot", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_at", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("credential", "method", "slot", name=op.f("pk_operating_usage")),
    )


def downgrade() -> None:
    op.drop_table("operating_usage")
    op.drop_table("rate_buckets")
