"""web: API tokens get a role (aaad.authz); audit entries name a console account

Revision ID: w0003
Revises: w0002
Create Date: 2026-11-30 11:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'w0003'
down_revision = 'w0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), server_default='owner', nullable=False))
    with op.batch_alter_table('api_audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_audit', schema=None) as batch_op:
        batch_op.drop_column('account_id')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('role')
