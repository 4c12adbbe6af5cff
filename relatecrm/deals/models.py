"""The deals table, the deal-contact links and the deal product rows."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)

from relatecrm.db import Money, Scaled, UtcDateTime, metadata


def _flag(name: str, default: str = "N") -> Column[str]:
    return Column(name, String(1), nullable=False, server_default=default)


deals = Table(
    "deals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(255), nullable=False),
    Column("type_id", String(50), nullable=True),
    Column("stage_id", String(50), nullable=False),
    Column("probability", Integer, nullable=True),
    Column("currency_id", String(3), nullable=True),
    Column("opportunity", Money, nullable=False, server_default="0"),
    _flag("is_manual_opportunity"),
    Column("tax_value", Money, nullable=False, server_default="0"),
    Column("lead_id", Integer, nullable=True),
    # The client: a deal keeps pointing only at clients that exist (deleting a client is
    # handled by ``deals.links``; the keys guard the race with a concurrent delete).
    Column("company_id", Integer, ForeignKey("companies.id", ondelete="SET NULL"), nullable=True),
    # Deprecated CONTACT_ID: always the primary link's contact (``deals.links``).
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True),
    Column("quote_id", Integer, nullable=True),
    Column("begindate", Date, nullable=True),
    Column("closedate", Date, nullable=True),
    Column("assigned_by_id", Integer, nullable=False),
    Column("created_by_id", Integer, nullable=False),
    Column("modify_by_id", Integer, nullable=False),
    Column("date_create", UtcDateTime, nullable=False),
    Column("date_modify", UtcDateTime, nullable=False),
    _flag("opened", "Y"),
    _flag("closed"),
    Column("comments", Text, nullable=True),
    Column("additional_info", Text, nullable=True),
    Column("location_id", String(100), nullable=True),
    # RESTRICT: a funnel with deals cannot go, and a deal cannot land in a deleted funnel,
    # even when the two race (the key check locks the funnel row on PostgreSQL).
    Column(
        "category_id",
        Integer,
        ForeignKey("categories.id", ondelete="RESTRICT"),
        nullable=False,
        server_default="0",
    ),
    Column("stage_semantic_id", String(1), nullable=False, server_default="P"),
    _flag("is_new", "Y"),
    _flag("is_recurring"),
    _flag("is_return_customer"),
    _flag("is_repeated_approach"),
    Column("source_id", String(50), nullable=True),
    Column("source_description", Text, nullable=True),
    Column("originator_id", String(255), nullable=True),
    Column("origin_id", String(255), nullable=True),
    Column("moved_by_id", Integer, nullable=False),
    Column("moved_time", UtcDateTime, nullable=False),
    Column("last_activity_time", UtcDateTime, nullable=True),
    Column("last_activity_by", Integer, nullable=True),
    Column("utm_source", String(255), nullable=True),
    Column("utm_medium", String(255), nullable=True),
    Column("utm_campaign", String(255), nullable=True),
    Column("utm_content", String(255), nullable=True),
    Column("utm_term", String(255), nullable=True),
    Column("trace", Text, nullable=True),
    # Each index ends in id: an equality filter plus the default ID order (or a keyset
    # walk) reads one index range, and a date order gets its tie-breaker for free.
    Index("ix_deals_stage", "stage_id", "id"),
    Index("ix_deals_category", "category_id", "stage_id", "id"),
    Index("ix_deals_assigned", "assigned_by_id", "id"),
    Index("ix_deals_company", "company_id", "id"),
    Index("ix_deals_contact", "contact_id", "id"),
    Index("ix_deals_date_create", "date_create", "id"),
    Index("ix_deals_date_modify", "date_modify", "id"),
    Index("ix_deals_closedate", "closedate", "id"),
    Index("ix_deals_closed", "closed", "id"),
    sqlite_autoincrement=True,
)

deal_contacts = Table(
    "deal_contacts",
    metadata,
    Column("deal_id", Integer, ForeignKey("deals.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("sort", Integer, nullable=False),
    Column("role_id", Integer, nullable=False, server_default="0"),
    Column("is_primary", String(1), nullable=False, server_default="N"),
    PrimaryKeyConstraint("deal_id", "contact_id"),
    Index("ix_deal_contacts_contact", "contact_id"),
)

# Product rows of deals (crm.deal.productrows.*, crm.item.productrow.* with ownerType D).
# Every price is stored as priced by ``deals.pricing``; QUANTITY keeps 4 places and the
# rates 2, as Bitrix's DECIMAL columns do, and inputs are rounded to those before pricing,
# so the deal totals can always be recomputed from the stored rows. Ids are never reused.
product_rows = Table(
    "product_rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_type", String(4), nullable=False, server_default="D"),
    Column("owner_id", Integer, ForeignKey("deals.id", ondelete="CASCADE"), nullable=False),
    Column("product_id", Integer, nullable=False, server_default="0"),
    Column("product_name", String(255), nullable=False),
    Column("product_description", Text, nullable=True),
    Column("price", Money, nullable=False),
    Column("price_exclusive", Money, nullable=False),
    Column("price_netto", Money, nullable=False),
    Column("price_brutto", Money, nullable=False),
    Column("quantity", Scaled(4), nullable=False),
    Column("discount_type_id", SmallInteger, nullable=False, server_default="2"),
    Column("discount_rate", Scaled(2), nullable=False, server_default="0"),
    Column("discount_sum", Money, nullable=False, server_default="0"),
    Column("tax_rate", Scaled(2), nullable=True),
    _flag("tax_included"),
    _flag("customized", "Y"),
    Column("measure_code", Integer, nullable=False, server_default="0"),
    Column("measure_name", String(50), nullable=False, server_default=""),
    Column("sort", Integer, nullable=False, server_default="0"),
    Column("xml_id", String(255), nullable=True),
    Column("type", SmallInteger, nullable=False, server_default="1"),
    Index("ix_product_rows_owner", "owner_type", "owner_id", "sort", "id"),
    sqlite_autoincrement=True,
)
