"""The catalog tables: products, and the measures and VAT rates they refer to."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from relatecrm.db import Money, Scaled, UtcDateTime, metadata


def _flag(name: str, default: str = "N") -> Column[str]:
    return Column(name, String(1), nullable=False, server_default=default)


# Units of measure (Bitrix catalog measures; crm.measure.*). Seeded by migration 0005.
measures = Table(
    "measures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", Integer, nullable=False, unique=True),
    Column("title", String(255), nullable=False),
    Column("symbol", String(50), nullable=True),
    Column("symbol_intl", String(50), nullable=True),
    Column("symbol_letter_intl", String(50), nullable=True),
    _flag("is_default"),
    sqlite_autoincrement=True,
)

# VAT rates (crm.vat.*). ``rate`` is a percentage with 2 places. Seeded by migration 0005.
vat_rates = Table(
    "vat_rates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("rate", Scaled(2), nullable=False),
    _flag("active", "Y"),
    Column("sort", Integer, nullable=False, server_default="100"),
    Column("timestamp_x", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)

# Products (crm.product.*). Product rows copy what they need (name, measure) when they
# are written, so deleting a product leaves the rows that name it intact, as in Bitrix.
products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    _flag("active", "Y"),
    Column("section_id", Integer, nullable=True),
    Column("sort", Integer, nullable=False, server_default="100"),
    Column("xml_id", String(255), nullable=True),
    Column("description", Text, nullable=True),
    Column("description_type", String(4), nullable=False, server_default="text"),
    Column("price", Money, nullable=True),
    Column("currency_id", String(3), nullable=True),
    Column("vat_id", Integer, ForeignKey("vat_rates.id", ondelete="RESTRICT"), nullable=True),
    _flag("vat_included"),
    Column("measure", Integer, ForeignKey("measures.id", ondelete="RESTRICT"), nullable=True),
    Column("created_by", Integer, nullable=False),
    Column("modified_by", Integer, nullable=False),
    Column("date_create", UtcDateTime, nullable=False),
    Column("timestamp_x", UtcDateTime, nullable=False),
    Index("ix_products_name", "name", "id"),
    Index("ix_products_section", "section_id", "id"),
    sqlite_autoincrement=True,
)
