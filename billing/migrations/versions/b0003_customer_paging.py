"""billing: indexes for paging customers (by id, by status, by name) in the API

Revision ID: b0003
Revises: b0002
Create Date: 2026-11-30 01:00:00
"""
from alembic import op

revision = 'b0003'
down_revision = 'b0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_customers_org_id', 'customers', ['org_id', 'id'], unique=False)
    op.create_index('ix_customers_org_status', 'customers', ['org_id', 'status', 'id'], unique=False)
    op.create_index('ix_customers_org_name', 'customers', ['org_id', 'name', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_customers_org_name', table_name='customers')
    op.drop_index('ix_customers_org_status', table_name='customers')
    op.drop_index('ix_customers_org_id', table_name='customers')
