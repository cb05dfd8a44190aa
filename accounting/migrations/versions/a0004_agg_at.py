"""accounting: acct_sessions.agg_at (when the aggregated counters were reported)

Revision ID: a0004
Revises: a0003
Create Date: 2026-11-29 21:45:00
"""
import sqlalchemy as sa
from alembic import op

import aaad.db

revision = 'a0004'
down_revision = 'a0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('acct_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agg_at', aaad.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('acct_sessions', schema=None) as batch_op:
        batch_op.drop_column('agg_at')
