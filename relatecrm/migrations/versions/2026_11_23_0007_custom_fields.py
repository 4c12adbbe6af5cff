"""Custom fields: definitions, enumeration items, deal values and uploaded files.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TYPED_INDEXES = {"int": "value_int", "num": "value_num", "key": "value_key",
                 "date": "value_date", "time": "value_time"}  # fmt: skip


def _flag(name: str, default: str = "N") -> sa.Column:
    return sa.Column(name, sa.String(length=1), server_default=default, nullable=False)


def upgrade() -> None:
    op.create_table(
        "user_fields",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity_id", sa.String(length=50), nullable=False),
        sa.Column("field_name", sa.String(length=50), nullable=False),
        sa.Column("user_type_id", sa.String(length=50), nullable=False),
        sa.Column("xml_id", sa.String(length=255), nullable=True),
        sa.Column("sort", sa.Integer(), server_default="100", nullable=False),
        _flag("multiple"),
        _flag("mandatory"),
        _flag("show_filter"),
        _flag("show_in_list", "Y"),
        _flag("edit_in_list", "Y"),
        _flag("is_searchable"),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_fields")),
        sa.UniqueConstraint("entity_id", "field_name", name=op.f("uq_user_fields_entity_id")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "user_field_enums",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        _flag("def"),
        sa.Column("sort", sa.Integer(), server_default="500", nullable=False),
        sa.Column("xml_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["user_fields.id"],
            name=op.f("fk_user_field_enums_field_id_user_fields"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_field_enums")),
        sa.UniqueConstraint("field_id", "xml_id", name=op.f("uq_user_field_enums_field_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_user_field_enums_field", "user_field_enums", ["field_id", "sort", "id"])
    op.create_table(
        "uf_deal_values",
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("value_int", sa.BigInteger(), nullable=True),
        sa.Column("value_num", sa.Float(), nullable=True),
        sa.Column("value_text", sa.Text(), nullable=True),
        sa.Column("value_key", sa.String(length=191), nullable=True),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("value_time", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
            name=op.f("fk_uf_deal_values_deal_id_deals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["user_fields.id"],
            name=op.f("fk_uf_deal_values_field_id_user_fields"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deal_id", "field_id", "position", name=op.f("pk_uf_deal_values")),
    )
    for suffix, column in TYPED_INDEXES.items():
        op.create_index(
            f"ix_uf_deal_values_{suffix}", "uf_deal_values", ["field_id", column, "deal_id"]
        )
    op.create_table(
        "uf_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uf_files")),
        sa.UniqueConstraint("token", name=op.f("uq_uf_files_token")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("uf_files")
    for suffix in TYPED_INDEXES:
        op.drop_index(f"ix_uf_deal_values_{suffix}", table_name="uf_deal_values")
    op.drop_table("uf_deal_values")
    op.drop_index("ix_user_field_enums_field", table_name="user_field_enums")
    op.drop_table("user_field_enums")
    op.drop_table("user_fields")
