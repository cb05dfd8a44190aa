"""billing: buying a voucher on the portal (a gateway transaction's package) and the sign-up's mode
(isp: registrations wait for approval as before; hotspot: an account at once)

Revision ID: b0013
Revises: b0012
Create Date: 2026-11-30 10:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'b0013'
down_revision = 'b0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('gateway_transactions') as t:
        # purpose "voucher": the voucher package bought (billing.vouchers; no foreign key, so this
        # revision does not depend on the order the vouchers' own revision lands in)
        t.add_column(sa.Column('package_id', sa.Integer))
        t.add_column(sa.Column('voucher_id', sa.Integer))     # the voucher sold once paid
    with op.batch_alter_table('signup_settings') as t:
        t.add_column(sa.Column('mode', sa.String(8), nullable=False, server_default='isp'))


def downgrade() -> None:
    with op.batch_alter_table('signup_settings') as t:
        t.drop_column('mode')
    with op.batch_alter_table('gateway_transactions') as t:
        t.drop_column('voucher_id')
        t.drop_column('package_id')
