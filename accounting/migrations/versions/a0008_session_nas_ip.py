"""accounting: the address each session's NAS sent from (acct_sessions.nas_ip), where Dynamic
Authorization goes when the NAS is known only by a network

Revision ID: a0008
Revises: a0007
Create Date: 2026-12-01 04:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'a0008'
down_revision = 'a0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('acct_sessions', sa.Column('nas_ip', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('acct_sessions', schema=None) as batch_op:
        batch_op.drop_column('nas_ip')
