"""Seed the general funnel, its stages, deal types, sources and currencies.

The documented defaults of crm.deal.add resolve against these rows: the first stage
of the funnel, the first deal type, the first source and the base currency.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

categories = sa.table(
    "categories",
    sa.column("id", sa.Integer),
    sa.column("entity_type_id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("sort", sa.Integer),
    sa.column("is_default", sa.Boolean),
    sa.column("created_at", sa.DateTime),
)
statuses = sa.table(
    "statuses",
    sa.column("entity_id", sa.String),
    sa.column("status_id", sa.String),
    sa.column("name", sa.String),
    sa.column("name_init", sa.String),
    sa.column("sort", sa.Integer),
    sa.column("system", sa.Boolean),
    sa.column("color", sa.String),
    sa.column("semantics", sa.String),
    sa.column("category_id", sa.Integer),
)
currencies = sa.table(
    "currencies",
    sa.column("currency", sa.String),
    sa.column("full_name", sa.String),
    sa.column("amount_cnt", sa.Integer),
    sa.column("amount", sa.Numeric),
    sa.column("sort", sa.Integer),
    sa.column("is_base", sa.Boolean),
)

# (STATUS_ID, name, sort, semantics, colour, system)
DEAL_STAGES = [
    ("NEW", "New", 10, "P", "#39A8EF", True),
    ("PREPARATION", "Preparing documents", 20, "P", "#2FC6F6", False),
    ("PREPAYMENT_INVOICE", "Prepayment invoice", 30, "P", "#55D0E0", False),
    ("EXECUTING", "In progress", 40, "P", "#47E4C2", False),
    ("FINAL_INVOICE", "Final invoice", 50, "P", "#FFA900", False),
    ("WON", "Deal won", 60, "S", "#7BD500", True),
    ("LOSE", "Deal lost", 70, "F", "#FF5752", True),
    ("APOLOGY", "Analyze failure", 80, "F", "#FF5752", False),
]
DEAL_TYPES = [
    ("SALE", "Sales", 10),
    ("COMPLEX", "Complex sale", 20),
    ("GOODS", "Sale of goods", 30),
    ("SERVICES", "Sale of services", 40),
    ("SERVICE", "After-sales service", 50),
]
SOURCES = [
    ("CALL", "Call", 10),
    ("EMAIL", "E-Mail", 20),
    ("WEB", "Website", 30),
    ("ADVERTISING", "Advertising", 40),
    ("PARTNER", "Existing client", 50),
    ("RECOMMENDATION", "By recommendation", 60),
    ("TRADE_SHOW", "Show/exhibition", 70),
    ("WEBFORM", "CRM form", 80),
    ("CALLBACK", "Callback", 90),
    ("RC_GENERATOR", "Sales boost", 100),
    ("STORE", "Online store", 110),
    ("OTHER", "Other", 120),
]
# (code, name, rate to the base currency, sort, base)
CURRENCIES = [
    ("USD", "US Dollar", "1", 100, True),
    ("EUR", "Euro", "1.08", 200, False),
    ("GBP", "British Pound Sterling", "1.27", 300, False),
    ("RUB", "Russian Ruble", "0.011", 400, False),
    ("UAH", "Ukrainian Hryvnia", "0.024", 500, False),
    ("KZT", "Kazakhstani Tenge", "0.0021", 600, False),
    ("BYN", "Belarusian Ruble", "0.30", 700, False),
]


def upgrade() -> None:
    op.bulk_insert(
        categories,
        [
            {
                "id": 0,
                "entity_type_id": 2,
                "name": "General",
                "sort": 0,
                "is_default": True,
                "created_at": dt.datetime(2026, 1, 1),
            }
        ],
    )
    rows = [
        {
            "entity_id": "DEAL_STAGE",
            "status_id": code,
            "name": name,
            "name_init": name,
            "sort": sort,
            "system": system,
            "color": colour,
            "semantics": semantics,
            "category_id": 0,
        }
        for code, name, sort, semantics, colour, system in DEAL_STAGES
    ]
    for entity_id, items in (("DEAL_TYPE", DEAL_TYPES), ("SOURCE", SOURCES)):
        rows += [
            {
                "entity_id": entity_id,
                "status_id": code,
                "name": name,
                "name_init": name,
                "sort": sort,
                "system": True,
                "color": None,
                "semantics": None,
                "category_id": None,
            }
            for code, name, sort in items
        ]
    op.bulk_insert(statuses, rows)
    op.bulk_insert(
        currencies,
        [
            {
                "currency": code,
                "full_name": name,
                "amount_cnt": 1,
                "amount": Decimal(rate),
                "sort": sort,
                "is_base": base,
            }
            for code, name, rate, sort, base in CURRENCIES
        ],
    )


def downgrade() -> None:
    op.execute(currencies.delete())
    op.execute(statuses.delete())
    op.execute(categories.delete())
