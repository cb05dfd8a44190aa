"""accounting: session Class and per-NAS Accounting-On epochs

Revision ID: a0003
Revises: 0002
Create Date: 2026-11-29 15:45:00
"""
import sqlalchemy as sa
from alembic import op

import aaad.db

revision = 'a0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('acct_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('class_attr', sa.String(length=512), nullable=True))
    op.create_table('acct_nas_state',
    sa.Column('nas_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.Integer(), server_default='0', nullable=False),
    sa.Column('epoch_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('nas_id', name=op.f('pk_acct_nas_state'))
    )


def downgrade() -> None:
    op.drop_table('acct_nas_state')
    with op.batch_alter_table('acct_sessions', schema=None) as batch_op:
        batch_op.drop_column('class_attr')
