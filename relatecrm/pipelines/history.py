"""Stage history: where a deal was created and every stage or funnel it moved to."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.permissions import DEAL, READ, Permissions
from relatecrm.db import UtcDateTime, metadata
from relatecrm.deals.models import deals
from relatecrm.listing import ListQuery, Page, Queryable, fetch_page

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


def _queryable(name: str, type_: str, column: str) -> Queryable:
    col = stage_history.c[column]
    return Queryable(name, type_, col, likeable=type_ == "string", nullable=False)


QUERYABLE: dict[str, Queryable] = {
    name: _queryable(name, type_, column)
    for name, type_, column in (
        ("ID", "integer", "id"),
        ("TYPE_ID", "integer", "type_id"),
        ("OWNER_ID", "integer", "owner_id"),
        ("CREATED_TIME", "datetime", "created_time"),
        ("CATEGORY_ID", "integer", "category_id"),
        ("STAGE_SEMANTIC_ID", "string", "stage_semantic_id"),
        ("STAGE_ID", "crm_status", "stage_id"),
    )
}
FIELD_ORDER = tuple(QUERYABLE)


async def list_page(
    conn: AsyncConnection, query: ListQuery, tz: dt.tzinfo, rights: Permissions
) -> Page:
    """One page of deal stage history (crm.stagehistory.list): only of the deals the caller
    may read, since the entries name deals and their stages."""
    own = rights.clause(DEAL, READ, deals.c.assigned_by_id)
    restrict = None if own is None else stage_history.c.owner_id.in_(select(deals.c.id).where(own))
    return await fetch_page(conn, stage_history, QUERYABLE, query, tz, restrict=restrict)
