"""billing: index services by (customer, state) for the dunning pass

Revision ID: b0002
Revises: b0001
Create Date: 2026-11-29 20:45:00
"""
from alembic import op

revision = 'b0002'
down_revision = 'b0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_services_customer_state', 'services', ['customer_id', 'state'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_services_customer_state', table_name='services')
