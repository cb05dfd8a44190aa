"""enforcement: the session's NAS address on each action (enforcement_actions.nas_ip), so a NAS
known only by a network gets its Disconnect and CoA at the router the session came from

Revision ID: e0002
Revises: e0001
Create Date: 2026-12-01 04:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e0002'
down_revision = 'e0001'
branch_labels = None
depends_on = ('a0008',)


def upgrade() -> None:
    op.add_column('enforcement_actions', sa.Column('nas_ip', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('enforcement_actions', schema=None) as batch_op:
        batch_op.drop_column('nas_ip')
