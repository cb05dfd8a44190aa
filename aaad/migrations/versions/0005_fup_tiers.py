"""profiles: FUP tiers and free hours

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 21:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fup_tiers', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('free_hours', sa.String(length=11), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.drop_column('free_hours')
        batch_op.drop_column('fup_tiers')
