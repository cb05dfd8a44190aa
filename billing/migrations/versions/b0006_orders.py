"""billing.orders: orders and their items; gateway transactions may pay an order

Revision ID: b0006
Revises: b0005
Create Date: 2026-11-30 07:40:00
"""
import sqlalchemy as sa
from alembic import op

from aaad.db import UTCDateTime

revision = 'b0006'
down_revision = 'b0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'orders',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('customer_id', sa.Integer, sa.ForeignKey('customers.id'), nullable=False),
        sa.Column('status', sa.String(12), nullable=False, server_default='placed'),
        sa.Column('method', sa.String(12), nullable=False, server_default='invoice'),
        sa.Column('net', sa.BigInteger, nullable=False),
        sa.Column('vat', sa.BigInteger, nullable=False),
        sa.Column('total', sa.BigInteger, nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('note', sa.Text, nullable=False, server_default=''),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('paid_at', UTCDateTime()),
        sa.Column('approved_at', UTCDateTime()),
        sa.Column('cancelled_at', UTCDateTime()),
    )
    op.create_index('ix_orders_customer', 'orders', ['org_id', 'customer_id', 'id'])
    op.create_index('ix_orders_status', 'orders', ['org_id', 'status', 'id'])
    op.create_table(
        'order_items',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('order_id', sa.Integer, sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('product_id', sa.Integer, sa.ForeignKey('products.id'), nullable=False),
        sa.Column('service_id', sa.Integer, sa.ForeignKey('services.id')),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('net', sa.BigInteger, nullable=False),
        sa.Column('vat', sa.BigInteger, nullable=False),
        sa.Column('gross', sa.BigInteger, nullable=False),
    )
    op.create_index('ix_order_items_order', 'order_items', ['org_id', 'order_id'])
    with op.batch_alter_table('gateway_transactions') as t:
        t.add_column(sa.Column('order_id', sa.Integer, sa.ForeignKey('orders.id', name='fk_gateway_transactions_order')))


def downgrade() -> None:
    with op.batch_alter_table('gateway_transactions') as t:
        t.drop_column('order_id')
    op.drop_index('ix_order_items_order', table_name='order_items')
    op.drop_table('order_items')
    op.drop_index('ix_orders_status', table_name='orders')
    op.drop_index('ix_orders_customer', table_name='orders')
    op.drop_table('orders')
