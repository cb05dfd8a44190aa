"""billing.signup: coverage zones, leads, contract versions and signatures

Revision ID: b0010
Revises: b0009
Create Date: 2026-11-30 07:20:00
"""
import sqlalchemy as sa
from alembic import op

from aaad.db import UTCDateTime

revision = 'b0010'
down_revision = 'b0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'coverage_zones',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('areas', sa.Text, nullable=False, server_default='[]'),
        sa.Column('postcodes', sa.Text, nullable=False, server_default='[]'),
        sa.Column('geojson', sa.Text),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.UniqueConstraint('org_id', 'name', name='uq_coverage_zones_name'),
    )
    op.create_table(
        'leads',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('email', sa.String(254)),
        sa.Column('phone', sa.String(32)),
        sa.Column('area', sa.String(100), nullable=False, server_default=''),
        sa.Column('postcode', sa.String(32), nullable=False, server_default=''),
        sa.Column('latitude', sa.Float),
        sa.Column('longitude', sa.Float),
        sa.Column('note', sa.Text, nullable=False, server_default=''),
        sa.Column('status', sa.String(12), nullable=False, server_default='new'),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
    )
    op.create_index('ix_leads_org_status', 'leads', ['org_id', 'status', 'id'])
    op.create_table(
        'contracts',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('version', sa.Integer, nullable=False),
        sa.Column('title', sa.String(200), nullable=False),
        sa.Column('body', sa.Text, nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.UniqueConstraint('org_id', 'version', name='uq_contracts_version'),
    )
    op.create_table(
        'contract_signatures',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('customer_id', sa.Integer, sa.ForeignKey('customers.id'), nullable=False),
        sa.Column('contract_id', sa.Integer, sa.ForeignKey('contracts.id'), nullable=False),
        sa.Column('version', sa.Integer, nullable=False),
        sa.Column('full_name', sa.String(200), nullable=False),
        sa.Column('ip', sa.String(64), nullable=False),
        sa.Column('user_agent', sa.String(500), nullable=False, server_default=''),
        sa.Column('signed_at', UTCDateTime(), nullable=False),
        sa.Column('pdf', sa.LargeBinary, nullable=False),
        sa.UniqueConstraint('org_id', 'customer_id', 'contract_id', name='uq_contract_signatures_once'),
    )
    op.create_index('ix_contract_signatures_customer', 'contract_signatures', ['org_id', 'customer_id'])


def downgrade() -> None:
    op.drop_index('ix_contract_signatures_customer', table_name='contract_signatures')
    op.drop_table('contract_signatures')
    op.drop_table('contracts')
    op.drop_index('ix_leads_org_status', table_name='leads')
    op.drop_table('leads')
    op.drop_table('coverage_zones')
