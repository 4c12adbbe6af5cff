"""Custom field definitions, enumeration items, deal values (one typed row per value) and
uploaded files.

Values live in one narrow table rather than in columns added at run time: the schema
stays the migrations' alone, several server processes never race on DDL, and each
typed value column has an index that starts with the field, so a filter on one custom
field reads one index range instead of scanning deals (see docs/performance.md).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from relatecrm.db import UtcDateTime, metadata

# The longest prefix of a text value that is indexed (191 characters stay under
# PostgreSQL's B-tree entry limit in any encoding); equality filters compare it first.
TEXT_KEY_LENGTH = 191


def _flag(name: str, default: str = "N") -> Column[str]:
    return Column(name, String(1), nullable=False, server_default=default)


user_fields = Table(
    "user_fields",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_id", String(50), nullable=False),  # CRM_DEAL
    Column("field_name", String(50), nullable=False),
    Column("user_type_id", String(50), nullable=False),
    Column("xml_id", String(255), nullable=True),
    Column("sort", Integer, nullable=False, server_default="100"),
    _flag("multiple"),
    _flag("mandatory"),
    _flag("show_filter"),  # N, I, E or S
    _flag("show_in_list", "Y"),
    _flag("edit_in_list", "Y"),
    _flag("is_searchable"),
    Column("settings", JSON, nullable=False),
    # {"EDIT_FORM_LABEL": {"en": "..."}, "LIST_COLUMN_LABEL": {...}, ...}
    Column("labels", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("entity_id", "field_name"),
    sqlite_autoincrement=True,
)

# Items of enumeration fields (Bitrix uf_enum_element). Ids are never reused: deal values
# refer to them.
user_field_enums = Table(
    "user_field_enums",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("field_id", Integer, ForeignKey("user_fields.id", ondelete="CASCADE"), nullable=False),
    Column("value", String(255), nullable=False),
    _flag("def"),
    Column("sort", Integer, nullable=False, server_default="500"),
    Column("xml_id", String(255), nullable=False),
    UniqueConstraint("field_id", "xml_id"),
    Index("ix_user_field_enums_field", "field_id", "sort", "id"),
    sqlite_autoincrement=True,
)

# One row per value of a deal's custom field; a multiple field has positions 0..n-1.
# Exactly one value column is set, by type: value_int (integer, boolean 0/1, enumeration
# item id, employee, file id), value_num (double; the amount of money), value_text
# (string, url, address, crm, money "amount|CUR") with value_key its indexed prefix,
# value_date (date), value_time (datetime, naive UTC).
uf_deal_values = Table(
    "uf_deal_values",
    metadata,
    Column("deal_id", Integer, ForeignKey("deals.id", ondelete="CASCADE"), nullable=False),
    Column("field_id", Integer, ForeignKey("user_fields.id", ondelete="CASCADE"), nullable=False),
    Column("position", SmallInteger, nullable=False, server_default="0"),
    Column("value_int", BigInteger, nullable=True),
    Column("value_num", Float, nullable=True),
    Column("value_text", Text, nullable=True),
    Column("value_key", String(TEXT_KEY_LENGTH), nullable=True),
    Column("value_date", Date, nullable=True),
    Column("value_time", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("deal_id", "field_id", "position"),
    Index("ix_uf_deal_values_int", "field_id", "value_int", "deal_id"),
    Index("ix_uf_deal_values_num", "field_id", "value_num", "deal_id"),
    Index("ix_uf_deal_values_key", "field_id", "value_key", "deal_id"),
    Index("ix_uf_deal_values_date", "field_id", "value_date", "deal_id"),
    Index("ix_uf_deal_values_time", "field_id", "value_time", "deal_id"),
)

# Files uploaded into ``file`` fields (``{"fileData": [name, base64]}``), kept in the
# database so that they commit and roll back with the deal. ``token`` is the unguessable
# part of the download link.
uf_files = Table(
    "uf_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)
