"""accounting: index for paging an org's sessions newest first in the API

Revision ID: a0005
Revises: a0004
Create Date: 2026-11-30 01:10:00
"""
from alembic import op

revision = 'a0005'
down_revision = 'a0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_acct_sessions_org_start', 'acct_sessions', ['org_id', 'start_time', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_acct_sessions_org_start', table_name='acct_sessions')
