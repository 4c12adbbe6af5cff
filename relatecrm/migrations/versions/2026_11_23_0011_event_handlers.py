"""Event handlers: event.bind bindings and administrators' outgoing webhooks.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_handlers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("handler", sa.String(length=2000), nullable=False),
        sa.Column("event_type", sa.String(length=10), nullable=False),
        sa.Column("auth_type", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("app_id", sa.Integer(), nullable=True),
        sa.Column("webhook_id", sa.Integer(), nullable=True),
        sa.Column("application_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_reason", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["auth_type"],
            ["users.id"],
            name=op.f("fk_event_handlers_auth_type_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_event_handlers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["oauth_apps.id"],
            name=op.f("fk_event_handlers_app_id_oauth_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_event_handlers_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_handlers")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_handlers_event", "event_handlers", ["event"], unique=False)
    op.create_index("ix_event_handlers_app_id", "event_handlers", ["app_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_event_handlers_app_id", table_name="event_handlers")
    op.drop_index("ix_event_handlers_event", table_name="event_handlers")
    op.drop_table("event_handlers")
