"""The outbox: every change's event, written in the change's own transaction."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table

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
