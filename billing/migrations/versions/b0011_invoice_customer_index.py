"""billing: invoices indexed by customer and state (the portal's dashboard and a customer's invoices
read them per customer; without it SQLite walks the org's open invoices)

Revision ID: b0011
Revises: b0010
Create Date: 2026-11-30 08:30:00
"""
from alembic import op

revision = 'b0011'
down_revision = 'b0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_invoices_org_customer_state', 'invoices', ['org_id', 'customer_id', 'state', 'due_date'])


def downgrade() -> None:
    op.drop_index('ix_invoices_org_customer_state', table_name='invoices')
