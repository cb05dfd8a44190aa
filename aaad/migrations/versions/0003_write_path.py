"""write path: logins.throttle_level and cycle_start, core_meta (change-feed prune mark)

Revision ID: 0003
Revises: 0001 (aaad's branch; accounting's revisions are in accounting/migrations)
"""
import sqlalchemy as sa
from alembic import op

import aaad.db

revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('logins') as b:
        b.add_column(sa.Column('throttle_level', sa.Integer(), nullable=False, server_default='0'))
        b.add_column(sa.Column('cycle_start', aaad.db.UTCDateTime(), nullable=True))
    op.create_table('core_meta',
                    sa.Column('key', sa.String(length=100), nullable=False),
                    sa.Column('value', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('key', name=op.f('pk_core_meta')))


def downgrade() -> None:
    op.drop_table('core_meta')
    with op.batch_alter_table('logins') as b:
        b.drop_column('cycle_start')
        b.drop_column('throttle_level')
