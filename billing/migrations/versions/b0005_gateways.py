"""billing.gateways: gateway transactions, their event log, per-org gateway settings, the test gateway's payments

Revision ID: b0005
Revises: b0004
Create Date: 2026-11-30 05:00:00
"""
import sqlalchemy as sa
from alembic import op

from aaad.db import BigId, UTCDateTime

revision = 'b0005'
down_revision = 'b0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gateway_settings',
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), primary_key=True, autoincrement=False),
        sa.Column('gateway', sa.String(16), nullable=False, server_default='test'),
        sa.Column('secrets_enc', sa.LargeBinary),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'gateway_transactions',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('customer_id', sa.Integer, sa.ForeignKey('customers.id'), nullable=False),
        sa.Column('reference', sa.String(64), nullable=False),
        sa.Column('gateway', sa.String(16), nullable=False),
        sa.Column('purpose', sa.String(16), nullable=False),
        sa.Column('amount', sa.BigInteger, nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('status', sa.String(12), nullable=False, server_default='pending'),
        sa.Column('provider_ref', sa.String(128)),
        sa.Column('payment_id', sa.Integer, sa.ForeignKey('payments.id')),
        sa.Column('error', sa.Text),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('last_checked_at', UTCDateTime()),
        sa.UniqueConstraint('org_id', 'reference', name='uq_gateway_transactions_reference'),
        sa.CheckConstraint(sa.text('amount > 0'), name='amount_positive'),
    )
    op.create_index('ix_gateway_transactions_status', 'gateway_transactions', ['org_id', 'status', 'id'])
    op.create_index('ix_gateway_transactions_customer', 'gateway_transactions', ['org_id', 'customer_id', 'id'])
    op.create_table(
        'gateway_events',
        sa.Column('id', BigId, primary_key=True),
        sa.Column('org_id', sa.Integer, nullable=False),
        sa.Column('transaction_id', sa.Integer),
        sa.Column('reference', sa.String(64)),
        sa.Column('gateway', sa.String(16), nullable=False),
        sa.Column('source', sa.String(16), nullable=False),
        sa.Column('outcome', sa.String(16), nullable=False),
        sa.Column('detail', sa.Text, nullable=False, server_default=''),
        sa.Column('created_at', UTCDateTime(), nullable=False),
    )
    op.create_index('ix_gateway_events_org', 'gateway_events', ['org_id', 'id'])
    op.create_index('ix_gateway_events_transaction', 'gateway_events', ['org_id', 'transaction_id'])
    op.create_table(
        'gateway_test_payments',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('reference', sa.String(64), nullable=False),
        sa.Column('provider_ref', sa.String(64), nullable=False),
        sa.Column('amount', sa.BigInteger, nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('status', sa.String(12), nullable=False, server_default='pending'),
        sa.Column('return_url', sa.Text, nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.UniqueConstraint('org_id', 'reference', name='uq_gateway_test_payments_reference'),
    )


def downgrade() -> None:
    op.drop_table('gateway_test_payments')
    op.drop_index('ix_gateway_events_transaction', table_name='gateway_events')
    op.drop_index('ix_gateway_events_org', table_name='gateway_events')
    op.drop_table('gateway_events')
    op.drop_index('ix_gateway_transactions_customer', table_name='gateway_transactions')
    op.drop_index('ix_gateway_transactions_status', table_name='gateway_transactions')
    op.drop_table('gateway_transactions')
    op.drop_table('gateway_settings')
