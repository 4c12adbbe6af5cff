"""The product catalog (products, measures, VAT rates) and deal product rows.

Measures and VAT rates are seeded with the units and rates a fresh Bitrix24 portal
offers, so that product rows can name ``MEASURE_CODE`` 796 ("pcs") out of the box.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SEED_TIME = dt.datetime(2026, 11, 23)

MEASURES = [
    # id, code, title, symbol, symbol_intl, symbol_letter_intl, is_default
    (1, 6, "Meter", "m", "m", "MTR", "N"),
    (2, 112, "Liter", "l", "l", "LTR", "N"),
    (3, 163, "Gram", "g", "g", "GRM", "N"),
    (4, 166, "Kilogram", "kg", "kg", "KGM", "N"),
    (5, 796, "Piece", "pcs", "pc. 1", "PCE. NMB", "Y"),
]
VAT_RATES = [(1, "VAT 0%", 0, 100), (2, "VAT 10%", 1000, 200), (3, "VAT 20%", 2000, 300)]


def _flag(name: str, default: str = "N") -> sa.Column:
    return sa.Column(name, sa.String(length=1), server_default=default, nullable=False)


def upgrade() -> None:
    measures = op.create_table(
        "measures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("symbol", sa.String(length=50), nullable=True),
        sa.Column("symbol_intl", sa.String(length=50), nullable=True),
        sa.Column("symbol_letter_intl", sa.String(length=50), nullable=True),
        _flag("is_default"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measures")),
        sa.UniqueConstraint("code", name=op.f("uq_measures_code")),
        sqlite_autoincrement=True,
    )
    vat_rates = op.create_table(
        "vat_rates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("rate", sa.BigInteger(), nullable=False),
        _flag("active", "Y"),
        sa.Column("sort", sa.Integer(), server_default="100", nullable=False),
        sa.Column("timestamp_x", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vat_rates")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        _flag("active", "Y"),
        sa.Column("section_id", sa.Integer(), nullable=True),
        sa.Column("sort", sa.Integer(), server_default="100", nullable=False),
        sa.Column("xml_id", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("description_type", sa.String(length=4), server_default="text", nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("currency_id", sa.String(length=3), nullable=True),
        sa.Column("vat_id", sa.Integer(), nullable=True),
        _flag("vat_included"),
        sa.Column("measure", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("modified_by", sa.Integer(), nullable=False),
        sa.Column("date_create", sa.DateTime(), nullable=False),
        sa.Column("timestamp_x", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["measure"],
            ["measures.id"],
            name=op.f("fk_products_measure_measures"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vat_id"],
            ["vat_rates.id"],
            name=op.f("fk_products_vat_id_vat_rates"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_products_name", "products", ["name", "id"])
    op.create_index("ix_products_section", "products", ["section_id", "id"])
    op.create_table(
        "product_rows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_type", sa.String(length=4), server_default="D", nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), server_default="0", nullable=False),
        sa.Column("product_name", sa.String(length=255), nullable=False),
        sa.Column("product_description", sa.Text(), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("price_exclusive", sa.BigInteger(), nullable=False),
        sa.Column("price_netto", sa.BigInteger(), nullable=False),
        sa.Column("price_brutto", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("discount_type_id", sa.SmallInteger(), server_default="2", nullable=False),
        sa.Column("discount_rate", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("discount_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tax_rate", sa.BigInteger(), nullable=True),
        _flag("tax_included"),
        _flag("customized", "Y"),
        sa.Column("measure_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("measure_name", sa.String(length=50), server_default="", nullable=False),
        sa.Column("sort", sa.Integer(), server_default="0", nullable=False),
        sa.Column("xml_id", sa.String(length=255), nullable=True),
        sa.Column("type", sa.SmallInteger(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["deals.id"],
            name=op.f("fk_product_rows_owner_id_deals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_rows")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_product_rows_owner", "product_rows", ["owner_type", "owner_id", "sort", "id"]
    )
    keys = ("id", "code", "title", "symbol", "symbol_intl", "symbol_letter_intl", "is_default")
    op.bulk_insert(measures, [dict(zip(keys, row, strict=True)) for row in MEASURES])
    op.bulk_insert(
        vat_rates,
        [
            {"id": id_, "name": name, "rate": rate, "sort": sort, "timestamp_x": SEED_TIME}
            for id_, name, rate, sort in VAT_RATES
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        # The seed wrote explicit ids; later inserts must not collide with them.
        for table in ("measures", "vat_rates"):
            op.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )


def downgrade() -> None:
    op.drop_index("ix_product_rows_owner", table_name="product_rows")
    op.drop_table("product_rows")
    op.drop_index("ix_products_section", table_name="products")
    op.drop_index("ix_products_name", table_name="products")
    op.drop_table("products")
    op.drop_table("vat_rates")
    op.drop_table("measures")
