"""billing: the portal's shop settings, carts, tickets and their messages

Revision ID: b0009
Revises: b0007
Create Date: 2026-11-30 07:15:00
"""
import sqlalchemy as sa
from alembic import op

from aaad.db import UTCDateTime

revision = 'b0009'
down_revision = 'b0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'shop_settings',
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), primary_key=True, autoincrement=False),
        sa.Column('checkout', sa.String(8), nullable=False, server_default='gateway'),
        sa.Column('request_via', sa.String(8), nullable=False, server_default='ticket'),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint(sa.text("checkout IN ('gateway','request','both')"), name='checkout'),
        sa.CheckConstraint(sa.text("request_via IN ('ticket','email')"), name='request_via'),
    )
    op.create_table(
        'cart_items',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('customer_id', sa.Integer, sa.ForeignKey('customers.id'), nullable=False),
        sa.Column('product_id', sa.Integer, sa.ForeignKey('products.id'), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
    )
    op.create_index('ix_cart_items_customer', 'cart_items', ['org_id', 'customer_id', 'id'])
    op.create_table(
        'tickets',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('customer_id', sa.Integer, sa.ForeignKey('customers.id'), nullable=False),
        sa.Column('order_id', sa.Integer),
        sa.Column('subject', sa.String(200), nullable=False),
        sa.Column('status', sa.String(10), nullable=False, server_default='open'),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint(sa.text("status IN ('open','answered','closed')"), name='status'),
    )
    op.create_index('ix_tickets_org_customer', 'tickets', ['org_id', 'customer_id', 'id'])
    op.create_index('ix_tickets_org_status', 'tickets', ['org_id', 'status', 'id'])
    op.create_table(
        'ticket_messages',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, nullable=False),
        sa.Column('ticket_id', sa.Integer, sa.ForeignKey('tickets.id'), nullable=False),
        sa.Column('author', sa.String(10), nullable=False),
        sa.Column('author_name', sa.String(200), nullable=False, server_default=''),
        sa.Column('body', sa.Text, nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint(sa.text("author IN ('customer','admin')"), name='author'),
    )
    op.create_index('ix_ticket_messages_ticket', 'ticket_messages', ['org_id', 'ticket_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_ticket_messages_ticket', table_name='ticket_messages')
    op.drop_table('ticket_messages')
    op.drop_index('ix_tickets_org_status', table_name='tickets')
    op.drop_index('ix_tickets_org_customer', table_name='tickets')
    op.drop_table('tickets')
    op.drop_index('ix_cart_items_customer', table_name='cart_items')
    op.drop_table('cart_items')
    op.drop_table('shop_settings')
