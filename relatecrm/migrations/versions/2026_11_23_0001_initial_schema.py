"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 13:14:56.136629
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('categories',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('entity_type_id', sa.Integer(), server_default='2', nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('sort', sa.Integer(), server_default='500', nullable=False),
    sa.Column('is_default', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories'))
    )
    op.create_table('currencies',
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('full_name', sa.String(length=255), nullable=False),
    sa.Column('amount_cnt', sa.Integer(), server_default='1', nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('sort', sa.Integer(), server_default='100', nullable=False),
    sa.Column('is_base', sa.Boolean(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('currency', name=op.f('pk_currencies'))
    )
    op.create_table('deals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('type_id', sa.String(length=50), nullable=True),
    sa.Column('stage_id', sa.String(length=50), nullable=False),
    sa.Column('probability', sa.Integer(), nullable=True),
    sa.Column('currency_id', sa.String(length=3), nullable=True),
    sa.Column('opportunity', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('is_manual_opportunity', sa.String(length=1), server_default='N', nullable=False),
    sa.Column('tax_value', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('quote_id', sa.Integer(), nullable=True),
    sa.Column('begindate', sa.Date(), nullable=True),
    sa.Column('closedate', sa.Date(), nullable=True),
    sa.Column('assigned_by_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('modify_by_id', sa.Integer(), nullable=False),
    sa.Column('date_create', sa.DateTime(), nullable=False),
    sa.Column('date_modify', sa.DateTime(), nullable=False),
    sa.Column('opened', sa.String(length=1), server_default='Y', nullable=False),
    sa.Column('closed', sa.String(length=1), server_default='N', nullable=False),
    sa.Column('comments', sa.Text(), nullable=True),
    sa.Column('additional_info', sa.Text(), nullable=True),
    sa.Column('location_id', sa.String(length=100), nullable=True),
    sa.Column('category_id', sa.Integer(), server_default='0', nullable=False),
    sa.Column('stage_semantic_id', sa.String(length=1), server_default='P', nullable=False),
    sa.Column('is_new', sa.String(length=1), server_default='Y', nullable=False),
    sa.Column('is_recurring', sa.String(length=1), server_default='N', nullable=False),
    sa.Column('is_return_customer', sa.String(length=1), server_default='N', nullable=False),
    sa.Column('is_repeated_approach', sa.String(length=1), server_default='N', nullable=False),
    sa.Column('source_id', sa.String(length=50), nullable=True),
    sa.Column('source_description', sa.Text(), nullable=True),
    sa.Column('originator_id', sa.String(length=255), nullable=True),
    sa.Column('origin_id', sa.String(length=255), nullable=True),
    sa.Column('moved_by_id', sa.Integer(), nullable=False),
    sa.Column('moved_time', sa.DateTime(), nullable=False),
    sa.Column('last_activity_time', sa.DateTime(), nullable=True),
    sa.Column('last_activity_by', sa.Integer(), nullable=True),
    sa.Column('utm_source', sa.String(length=255), nullable=True),
    sa.Column('utm_medium', sa.String(length=255), nullable=True),
    sa.Column('utm_campaign', sa.String(length=255), nullable=True),
    sa.Column('utm_content', sa.String(length=255), nullable=True),
    sa.Column('utm_term', sa.String(length=255), nullable=True),
    sa.Column('trace', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deals')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index('ix_deals_assigned', ['assigned_by_id', 'id'], unique=False)
        batch_op.create_index('ix_deals_category', ['category_id', 'stage_id', 'id'], unique=False)
        batch_op.create_index('ix_deals_closed', ['closed', 'id'], unique=False)
        batch_op.create_index('ix_deals_closedate', ['closedate', 'id'], unique=False)
        batch_op.create_index('ix_deals_company', ['company_id', 'id'], unique=False)
        batch_op.create_index('ix_deals_date_create', ['date_create', 'id'], unique=False)
        batch_op.create_index('ix_deals_date_modify', ['date_modify', 'id'], unique=False)
        batch_op.create_index('ix_deals_stage', ['stage_id', 'id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event', sa.String(length=100), nullable=False),
    sa.Column('entity_type', sa.String(length=50), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_entity', ['entity_type', 'entity_id'], unique=False)

    op.create_table('statuses',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('entity_id', sa.String(length=50), nullable=False),
    sa.Column('status_id', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_init', sa.String(length=255), nullable=True),
    sa.Column('sort', sa.Integer(), server_default='10', nullable=False),
    sa.Column('system', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('color', sa.String(length=7), nullable=True),
    sa.Column('semantics', sa.String(length=1), nullable=True),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statuses')),
    sa.UniqueConstraint('entity_id', 'status_id', name='uq_statuses_entity_status'),
    sqlite_autoincrement=True
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('login', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), server_default='', nullable=False),
    sa.Column('last_name', sa.String(length=255), server_default='', nullable=False),
    sa.Column('email', sa.String(length=255), server_default='', nullable=False),
    sa.Column('is_admin', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('active', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('date_register', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('login', name=op.f('uq_users_login')),
    sqlite_autoincrement=True
    )
    op.create_table('deal_contacts',
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('sort', sa.Integer(), nullable=False),
    sa.Column('role_id', sa.Integer(), server_default='0', nullable=False),
    sa.Column('is_primary', sa.String(length=1), server_default='N', nullable=False),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_deal_contacts_deal_id_deals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('deal_id', 'contact_id', name=op.f('pk_deal_contacts'))
    )
    with op.batch_alter_table('deal_contacts', schema=None) as batch_op:
        batch_op.create_index('ix_deal_contacts_contact', ['contact_id'], unique=False)

    op.create_table('webhooks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=1000), nullable=False),
    sa.Column('title', sa.String(length=255), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_webhooks_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhooks')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_webhooks_code_hash')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.create_index('ix_webhooks_user_id', ['user_id'], unique=False)




def downgrade() -> None:
    
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.drop_index('ix_webhooks_user_id')

    op.drop_table('webhooks')
    with op.batch_alter_table('deal_contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_deal_contacts_contact')

    op.drop_table('deal_contacts')
    op.drop_table('users')
    op.drop_table('statuses')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_entity')

    op.drop_table('outbox')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index('ix_deals_stage')
        batch_op.drop_index('ix_deals_date_modify')
        batch_op.drop_index('ix_deals_date_create')
        batch_op.drop_index('ix_deals_company')
        batch_op.drop_index('ix_deals_closedate')
        batch_op.drop_index('ix_deals_closed')
        batch_op.drop_index('ix_deals_category')
        batch_op.drop_index('ix_deals_assigned')

    op.drop_table('deals')
    op.drop_table('currencies')
    op.drop_table('categories')

