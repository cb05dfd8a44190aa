"""billing: vouchers sold at the counter (the method and reference they were paid with, once per org)

Revision ID: b0015
Revises: b0014
Create Date: 2026-11-30 15:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'b0015'
down_revision = 'b0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('vouchers') as t:
        t.add_column(sa.Column('sale_method', sa.String(32)))
        t.add_column(sa.Column('sale_reference', sa.String(128)))
    # NULLs are distinct: only counter sales take part
    op.create_index('ux_vouchers_sale_reference', 'vouchers', ['org_id', 'sale_method', 'sale_reference'],
                    unique=True)


def downgrade() -> None:
    op.drop_index('ux_vouchers_sale_reference', table_name='vouchers')
    with op.batch_alter_table('vouchers') as t:
        t.drop_column('sale_reference')
        t.drop_column('sale_method')
