"""Deals refer to real clients: foreign keys from deal links and deals to contacts and companies.

Links left dangling by earlier versions (a contact or company deleted while a deal named
it) are cleared first, as deleting the client now does: a deal loses the link, the next
link by SORT becomes primary, and ``deals.contact_id`` follows the primary link.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DANGLING = (
    "DELETE FROM deal_contacts WHERE NOT EXISTS "
    "(SELECT 1 FROM contacts WHERE contacts.id = deal_contacts.contact_id)",
    "UPDATE deals SET company_id = NULL WHERE company_id IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM companies WHERE companies.id = deals.company_id)",
    "UPDATE deals SET contact_id = NULL WHERE contact_id IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM contacts WHERE contacts.id = deals.contact_id)",
    # A deal whose primary link went keeps the first remaining one (by SORT) as primary.
    "UPDATE deal_contacts SET is_primary = 'Y' WHERE NOT EXISTS "
    "(SELECT 1 FROM deal_contacts p WHERE p.deal_id = deal_contacts.deal_id "
    "AND p.is_primary = 'Y') AND contact_id = (SELECT f.contact_id FROM deal_contacts f "
    "WHERE f.deal_id = deal_contacts.deal_id ORDER BY f.sort, f.contact_id LIMIT 1)",
    "UPDATE deals SET contact_id = (SELECT p.contact_id FROM deal_contacts p "
    "WHERE p.deal_id = deals.id AND p.is_primary = 'Y') WHERE EXISTS "
    "(SELECT 1 FROM deal_contacts p WHERE p.deal_id = deals.id AND p.is_primary = 'Y' "
    "AND (deals.contact_id IS NULL OR p.contact_id <> deals.contact_id))",
)


def _rebuild(table: str, alter: Callable[[BatchOperations], None]) -> None:
    """Apply ``alter`` to ``table``, keeping the rows of the tables that refer to it.

    SQLite adds a foreign key by rebuilding the table, and dropping the old copy runs the
    ON DELETE actions of every table that refers to it: foreign keys are on and cannot be
    turned off inside the migration's transaction. Those rows are put aside and restored.
    """
    bind = op.get_bind()
    children: list[str] = []
    if bind.dialect.name == "sqlite":
        inspector = sa.inspect(bind)
        children = [
            name
            for name in inspector.get_table_names()
            if any(fk["referred_table"] == table for fk in inspector.get_foreign_keys(name))
        ]
    for name in children:
        op.execute(f'CREATE TEMP TABLE "keep_{name}" AS SELECT * FROM "{name}"')
    with op.batch_alter_table(table) as batch:
        alter(batch)
    for name in children:
        op.execute(f'DELETE FROM "{name}"')
        op.execute(f'INSERT INTO "{name}" SELECT * FROM "keep_{name}"')
        op.execute(f'DROP TABLE "keep_{name}"')


def upgrade() -> None:
    for statement in DANGLING:
        op.execute(statement)

    def link_key(batch: BatchOperations) -> None:
        batch.create_foreign_key(
            "fk_deal_contacts_contact_id_contacts", "contacts", ["contact_id"], ["id"],
            ondelete="CASCADE",
        )  # fmt: skip

    def deal_keys(batch: BatchOperations) -> None:
        batch.create_foreign_key(
            "fk_deals_company_id_companies", "companies", ["company_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
        batch.create_foreign_key(
            "fk_deals_contact_id_contacts", "contacts", ["contact_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip

    _rebuild("deal_contacts", link_key)
    _rebuild("deals", deal_keys)
    # Deleting a contact finds the deals whose primary contact it is.
    op.create_index("ix_deals_contact", "deals", ["contact_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_deals_contact", table_name="deals")

    def deal_keys(batch: BatchOperations) -> None:
        batch.drop_constraint("fk_deals_contact_id_contacts", type_="foreignkey")
        batch.drop_constraint("fk_deals_company_id_companies", type_="foreignkey")

    def link_key(batch: BatchOperations) -> None:
        batch.drop_constraint("fk_deal_contacts_contact_id_contacts", type_="foreignkey")

    _rebuild("deals", deal_keys)
    _rebuild("deal_contacts", link_key)
