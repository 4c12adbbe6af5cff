"""Event delivery: one delivery row per (event, handler), every HTTP attempt, the
offline queue, per-handler signing secrets, and who made each change.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    with op.batch_alter_table("event_handlers") as batch:
        batch.add_column(sa.Column("secret", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("failing_since", sa.DateTime(), nullable=True))
    handlers = sa.table("event_handlers", sa.column("id", sa.Integer), sa.column("secret"))
    conn = op.get_bind()
    for (handler_id,) in conn.execute(sa.select(handlers.c.id)).fetchall():
        conn.execute(
            handlers.update()
            .where(handlers.c.id == handler_id)
            .values(secret="whsec_" + secrets.token_urlsafe(32))
        )

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("handler_id", sa.Integer(), nullable=False),
        sa.Column("entity_key", sa.String(length=80), nullable=False),
        sa.Column("lane", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("replay_of", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"],
            name=op.f("fk_deliveries_outbox_id_outbox"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["handler_id"], ["event_handlers.id"],
            name=op.f("fk_deliveries_handler_id_event_handlers"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_order", "deliveries", ["lane", "id"])
    op.create_index("ix_deliveries_outbox_id", "deliveries", ["outbox_id"])

    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("webhook_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"],
            name=op.f("fk_delivery_attempts_delivery_id_deliveries"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id"]
    )

    op.create_table(
        "offline_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("handler_id", sa.Integer(), nullable=True),
        sa.Column("event_name", sa.String(length=100), nullable=False),
        sa.Column("event_data", sa.JSON(), nullable=False),
        sa.Column("event_additional", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("timestamp_x", sa.DateTime(), nullable=False),
        sa.Column("process_id", sa.String(length=64), nullable=True),
        sa.Column("reserved_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["oauth_apps.id"],
            name=op.f("fk_offline_events_app_id_oauth_apps"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_offline_events_message", "offline_events", ["app_id", "message_id", "process_id"]
    )
    op.create_index("ix_offline_events_process", "offline_events", ["app_id", "process_id"])


def downgrade() -> None:
    op.drop_index("ix_offline_events_process", table_name="offline_events")
    op.drop_index("ix_offline_events_message", table_name="offline_events")
    op.drop_table("offline_events")
    op.drop_index("ix_delivery_attempts_delivery_id", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_index("ix_deliveries_outbox_id", table_name="deliveries")
    op.drop_index("ix_deliveries_order", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    with op.batch_alter_table("event_handlers") as batch:
        batch.drop_column("failing_since")
        batch.drop_column("secret")
    op.drop_index("ix_outbox_created_at", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("user_id")
