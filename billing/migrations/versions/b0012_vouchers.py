"""billing: voucher packages, batches and vouchers; the hotspot login page setting

Revision ID: b0012
Revises: b0011
Create Date: 2026-11-30 11:00:00
"""
import sqlalchemy as sa
from alembic import op

from aaad.db import UTCDateTime

revision = 'b0012'
down_revision = 'b0011'
branch_labels = None
depends_on = '0006'


def upgrade() -> None:
    with op.batch_alter_table('billing_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hotspot_login_url', sa.String(500), nullable=False,
                                      server_default='http://hotspot.lan/login'))
    op.create_table(
        'voucher_packages',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('price', sa.BigInteger, nullable=False),
        sa.Column('profile_id', sa.Integer, sa.ForeignKey('profiles.id')),
        sa.Column('time_limit', sa.Integer),
        sa.Column('data_limit', sa.BigInteger),
        sa.Column('validity_hours', sa.Integer),
        sa.Column('expires_at', UTCDateTime()),
        sa.Column('shared_users', sa.Integer, nullable=False, server_default='1'),
        sa.Column('bind_mac', sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column('code_only', sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column('code_length', sa.Integer, nullable=False, server_default='8'),
        sa.Column('prefix', sa.String(8), nullable=False, server_default=''),
        sa.Column('on_portal', sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column('active', sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.UniqueConstraint('org_id', 'name', name='uq_voucher_packages_name'),
        sa.CheckConstraint(sa.text('price >= 0'), name='price'),
    )
    op.create_index('ix_voucher_packages_org', 'voucher_packages', ['org_id', 'id'])
    op.create_table(
        'voucher_batches',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('package_id', sa.Integer, sa.ForeignKey('voucher_packages.id'), nullable=False),
        sa.Column('count', sa.Integer, nullable=False),
        sa.Column('note', sa.Text, nullable=False, server_default=''),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('revoked_at', UTCDateTime()),
    )
    op.create_index('ix_voucher_batches_org', 'voucher_batches', ['org_id', 'id'])
    op.create_table(
        'vouchers',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('package_id', sa.Integer, sa.ForeignKey('voucher_packages.id'), nullable=False),
        sa.Column('batch_id', sa.Integer, sa.ForeignKey('voucher_batches.id')),
        sa.Column('code', sa.String(64), nullable=False),
        sa.Column('login_id', sa.Integer),
        sa.Column('customer_id', sa.Integer, sa.ForeignKey('customers.id')),
        sa.Column('transaction_id', sa.Integer),
        sa.Column('price', sa.BigInteger, nullable=False),
        sa.Column('sold_at', UTCDateTime()),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.UniqueConstraint('org_id', 'code', name='uq_vouchers_code'),
        sa.UniqueConstraint('org_id', 'transaction_id', name='uq_vouchers_transaction'),
    )
    op.create_index('ix_vouchers_org', 'vouchers', ['org_id', 'id'])
    op.create_index('ix_vouchers_batch', 'vouchers', ['org_id', 'batch_id', 'id'])
    op.create_index('ix_vouchers_customer', 'vouchers', ['org_id', 'customer_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_vouchers_customer', table_name='vouchers')
    op.drop_index('ix_vouchers_batch', table_name='vouchers')
    op.drop_index('ix_vouchers_org', table_name='vouchers')
    op.drop_table('vouchers')
    op.drop_index('ix_voucher_batches_org', table_name='voucher_batches')
    op.drop_table('voucher_batches')
    op.drop_index('ix_voucher_packages_org', table_name='voucher_packages')
    op.drop_table('voucher_packages')
    with op.batch_alter_table('billing_settings', schema=None) as batch_op:
        batch_op.drop_column('hotspot_login_url')
