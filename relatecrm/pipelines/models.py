"""Funnels (categories), reference lists (stages, deal types, sources) and currencies."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, Numeric, String, Table, UniqueConstraint

from relatecrm.db import UtcDateTime, metadata

categories = Table(
    "categories",
    metadata,
    # The default funnel is id 0 (seeded); new funnels take 1, 2, ... from the sequence.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_type_id", Integer, nullable=False, server_default="2"),
    Column("name", String(255), nullable=False),
    Column("sort", Integer, nullable=False, server_default="500"),
    Column("is_default", Boolean, nullable=False, server_default="0"),
    Column("origin_id", String(255), nullable=True),
    Column("originator_id", String(255), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Funnel ids are never reused, so old stage history never points at a new funnel.
    sqlite_autoincrement=True,
)

# One table for every reference list Bitrix keeps in b_crm_status: ENTITY_ID names the
# list (DEAL_STAGE, DEAL_STAGE_3, DEAL_TYPE, SOURCE), STATUS_ID is the value deals store.
statuses = Table(
    "statuses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_id", String(50), nullable=False),
    Column("status_id", String(50), nullable=False),
    Column("name", String(255), nullable=False),
    Column("name_init", String(255), nullable=True),
    Column("sort", Integer, nullable=False, server_default="10"),
    Column("system", Boolean, nullable=False, server_default="0"),
    Column("color", String(7), nullable=True),
    Column("semantics", String(1), nullable=True),
    Column("category_id", Integer, nullable=True),
    UniqueConstraint("entity_id", "status_id", name="uq_statuses_entity_status"),
    sqlite_autoincrement=True,
)

currencies = Table(
    "currencies",
    metadata,
    Column("currency", String(3), primary_key=True),
    Column("full_name", String(255), nullable=False),
    Column("amount_cnt", Integer, nullable=False, server_default="1"),
    Column("amount", Numeric(18, 4), nullable=False),
    Column("sort", Integer, nullable=False, server_default="100"),
    Column("is_base", Boolean, nullable=False, server_default="0"),
)
