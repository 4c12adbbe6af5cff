"""The outbox (every change's event, in the change's own transaction) and the handlers
subscribed to events: ``event.bind`` bindings of OAuth applications and outgoing webhooks
registered by an administrator (``relatecrm hook create``)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table

from relatecrm.db import UtcDateTime, metadata

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event", String(100), nullable=False),
    Column("entity_type", String(50), nullable=False),
    Column("entity_id", Integer, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_outbox_entity", "entity_type", "entity_id"),
    sqlite_autoincrement=True,
)

# One row per binding; its id is the ``event_handler_id`` of every POST (spec §6.2).
# ``app_id`` null: an outgoing webhook from the CLI. ``auth_type`` null: act as the user who
# made the change. The worker skips rows with ``disabled_at``.
event_handlers = Table(
    "event_handlers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event", String(100), nullable=False),  # upper case: ONCRMDEALADD
    Column("handler", String(2000), nullable=False),
    Column("event_type", String(10), nullable=False),  # online | offline
    Column("auth_type", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    # Who bound it: the user, and the OAuth app or webhook the call came through.
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("app_id", Integer, ForeignKey("oauth_apps.id", ondelete="CASCADE"), nullable=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=True),
    # Sent as auth[application_token] so the handler can tell our POSTs from forgeries.
    Column("application_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),
    Column("disabled_reason", String(255), nullable=True),
    Index("ix_event_handlers_event", "event"),
    Index("ix_event_handlers_app_id", "app_id"),
    sqlite_autoincrement=True,
)
