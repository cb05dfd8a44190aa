"""accounting: when a cycle's early data-cap warning was published

Revision ID: a0006
Revises: a0005
Create Date: 2026-11-30 04:40:00
"""
import sqlalchemy as sa
from alembic import op

from aaad.db import UTCDateTime

revision = 'a0006'
down_revision = 'a0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('acct_usage_cycles') as b:
        b.add_column(sa.Column('warned_at', UTCDateTime()))


def downgrade() -> None:
    with op.batch_alter_table('acct_usage_cycles') as b:
        b.drop_column('warned_at')
