"""Stage history: where a deal was created and every stage or funnel it moved to."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from relatecrm.db import UtcDateTime, metadata

# TYPE_ID values of crm.stagehistory.list.
CREATED, MOVED_INTERMEDIATE, MOVED_FINAL, CATEGORY_CHANGED = 1, 2, 3, 5

stage_history = Table(
    "stage_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_type_id", Integer, nullable=False, server_default="2"),
    Column("type_id", Integer, nullable=False),
    Column("owner_id", Integer, ForeignKey("deals.id", ondelete="CASCADE"), nullable=False),
    Column("created_time", UtcDateTime, nullable=False),
    Column("category_id", Integer, nullable=False),
    Column("stage_semantic_id", String(1), nullable=False),
    Column("stage_id", String(50), nullable=False),
    Index("ix_stage_history_owner", "owner_id", "id"),
    Index("ix_stage_history_created", "created_time", "id"),
    sqlite_autoincrement=True,
)
