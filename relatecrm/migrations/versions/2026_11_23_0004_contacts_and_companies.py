"""Contacts, companies and their multi-field values (phones, e-mails, sites, messengers).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _flag(name: str, default: str = "N") -> sa.Column:
    return sa.Column(name, sa.String(length=1), server_default=default, nullable=False)


def _common() -> list[sa.Column]:
    """The columns contacts and companies share, as in contacts/models.py."""
    return [
        sa.Column("comments", sa.Text(), nullable=True),
        _flag("opened", "Y"),
        _flag("has_phone"),
        _flag("has_email"),
        _flag("has_imol"),
        sa.Column("assigned_by_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("modify_by_id", sa.Integer(), nullable=False),
        sa.Column("date_create", sa.DateTime(), nullable=False),
        sa.Column("date_modify", sa.DateTime(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("originator_id", sa.String(length=255), nullable=True),
        sa.Column("origin_id", sa.String(length=255), nullable=True),
        sa.Column("origin_version", sa.String(length=255), nullable=True),
        sa.Column("last_activity_time", sa.DateTime(), nullable=True),
        sa.Column("last_activity_by", sa.Integer(), nullable=True),
        *(sa.Column(f"utm_{name}", sa.String(length=255), nullable=True)
          for name in ("source", "medium", "campaign", "content", "term")),
    ]  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("company_type", sa.String(length=50), nullable=True),
        sa.Column("industry", sa.String(length=50), nullable=True),
        sa.Column("employees", sa.String(length=50), nullable=True),
        sa.Column("currency_id", sa.String(length=3), nullable=True),
        sa.Column("revenue", sa.BigInteger(), nullable=True),
        _flag("is_my_company"),
        *_common(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_companies_assigned", "companies", ["assigned_by_id", "id"])
    op.create_index("ix_companies_date_create", "companies", ["date_create", "id"])
    op.create_index("ix_companies_date_modify", "companies", ["date_modify", "id"])
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("honorific", sa.String(length=50), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("second_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("post", sa.String(length=255), nullable=True),
        sa.Column("birthdate", sa.Date(), nullable=True),
        sa.Column("type_id", sa.String(length=50), nullable=True),
        sa.Column("source_id", sa.String(length=50), nullable=True),
        sa.Column("source_description", sa.Text(), nullable=True),
        _flag("export", "Y"),
        sa.Column("company_id", sa.Integer(), nullable=True),
        *_common(),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_contacts_company_id_companies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_contacts_assigned", "contacts", ["assigned_by_id", "id"])
    op.create_index("ix_contacts_company", "contacts", ["company_id", "id"])
    op.create_index("ix_contacts_last_name", "contacts", ["last_name", "id"])
    op.create_index("ix_contacts_date_create", "contacts", ["date_create", "id"])
    op.create_index("ix_contacts_date_modify", "contacts", ["date_modify", "id"])
    op.create_table(
        "multifields",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.String(length=10), nullable=False),
        sa.Column("value_type", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_multifields")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_multifields_entity", "multifields", ["entity_type", "entity_id", "type_id", "id"]
    )
    op.create_index(
        "ix_multifields_value", "multifields", ["entity_type", "type_id", "value", "entity_id"]
    )


def downgrade() -> None:
    op.drop_table("multifields")
    op.drop_table("contacts")
    op.drop_table("companies")
