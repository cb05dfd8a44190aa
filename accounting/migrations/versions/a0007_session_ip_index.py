"""accounting: sessions by (org, Framed-IP-Address, start) for the admin console's search by IP

Revision ID: a0007
Revises: a0006
Create Date: 2026-11-30 12:00:00
"""
from alembic import op

revision = 'a0007'
down_revision = 'a0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_acct_sessions_org_ip', 'acct_sessions', ['org_id', 'framed_ip', 'start_time'])


def downgrade() -> None:
    op.drop_index('ix_acct_sessions_org_ip', table_name='acct_sessions')
