"""The contacts and companies tables, and the multi-field values (phones, e-mails ...) of both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Table, Text

from relatecrm.db import Money, UtcDateTime, metadata


def _flag(name: str, default: str = "N") -> Column[str]:
    return Column(name, String(1), nullable=False, server_default=default)


def _common() -> list[Column[Any]]:
    """Columns contacts and companies share: owners, dates, origin, UTM marks."""
    return [
        Column("comments", Text, nullable=True),
        _flag("opened", "Y"),
        _flag("has_phone"),
        _flag("has_email"),
        _flag("has_imol"),
        Column("assigned_by_id", Integer, nullable=False),
        Column("created_by_id", Integer, nullable=False),
        Column("modify_by_id", Integer, nullable=False),
        Column("date_create", UtcDateTime, nullable=False),
        Column("date_modify", UtcDateTime, nullable=False),
        Column("lead_id", Integer, nullable=True),
        Column("originator_id", String(255), nullable=True),
        Column("origin_id", String(255), nullable=True),
        Column("origin_version", String(255), nullable=True),
        Column("last_activity_time", UtcDateTime, nullable=True),
        Column("last_activity_by", Integer, nullable=True),
        *(Column(f"utm_{name}", String(255), nullable=True)
          for name in ("source", "medium", "campaign", "content", "term")),
    ]  # fmt: skip


companies = Table(
    "companies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(255), nullable=False),
    Column("company_type", String(50), nullable=True),
    Column("industry", String(50), nullable=True),
    Column("employees", String(50), nullable=True),
    Column("currency_id", String(3), nullable=True),
    Column("revenue", Money, nullable=True),
    _flag("is_my_company"),
    *_common(),
    # Each index ends in id, as the deals' do: an equality filter plus the default ID
    # order reads one index range.
    Index("ix_companies_assigned", "assigned_by_id", "id"),
    Index("ix_companies_date_create", "date_create", "id"),
    Index("ix_companies_date_modify", "date_modify", "id"),
    sqlite_autoincrement=True,
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("honorific", String(50), nullable=True),
    Column("name", String(255), nullable=True),
    Column("second_name", String(255), nullable=True),
    Column("last_name", String(255), nullable=True),
    Column("post", String(255), nullable=True),
    Column("birthdate", Date, nullable=True),
    Column("type_id", String(50), nullable=True),
    Column("source_id", String(50), nullable=True),
    Column("source_description", Text, nullable=True),
    _flag("export", "Y"),
    # The contact's main company; deleting the company clears it.
    Column("company_id", Integer, ForeignKey("companies.id", ondelete="SET NULL"), nullable=True),
    *_common(),
    Index("ix_contacts_assigned", "assigned_by_id", "id"),
    Index("ix_contacts_company", "company_id", "id"),
    Index("ix_contacts_last_name", "last_name", "id"),
    Index("ix_contacts_date_create", "date_create", "id"),
    Index("ix_contacts_date_modify", "date_modify", "id"),
    sqlite_autoincrement=True,
)

# PHONE, EMAIL, WEB and IM values of contacts and companies (Bitrix b_crm_field_multi).
# Ids are never reused (sqlite_autoincrement): clients update and delete values by id.
multifields = Table(
    "multifields",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_type", String(20), nullable=False),
    Column("entity_id", Integer, nullable=False),
    Column("type_id", String(10), nullable=False),
    Column("value_type", String(50), nullable=False),
    Column("value", String(250), nullable=False),
    # An entity's values in id order; and the exact-match filter (PHONE = ...), which
    # finds the owners without touching the table.
    Index("ix_multifields_entity", "entity_type", "entity_id", "type_id", "id"),
    Index("ix_multifields_value", "entity_type", "type_id", "value", "entity_id"),
    sqlite_autoincrement=True,
)
