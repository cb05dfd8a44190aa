"""enforcement: the action queue (enforcement_actions) and routers' last status (router_status)

Revision ID: e0001
Revises: (branch root; depends on accounting a0003 and aaad 0004)
Create Date: 2026-11-29 21:50:00
"""
import sqlalchemy as sa
from alembic import op

import aaad.db

revision = 'e0001'
down_revision = None
branch_labels = ('enforcement',)
depends_on = ('a0003', '0004')


def upgrade() -> None:
    op.create_table('enforcement_actions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('cause', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=True),
    sa.Column('login_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=253), nullable=False),
    sa.Column('nas_id', sa.Integer(), nullable=False),
    sa.Column('session_row', sa.BigInteger(), nullable=False),
    sa.Column('acct_session_id', sa.String(length=253), server_default='', nullable=False),
    sa.Column('framed_ip', sa.String(length=64), nullable=True),
    sa.Column('attrs', sa.Text(), server_default='{}', nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('state', sa.String(length=12), server_default='pending', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('error_cause', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), server_default='', nullable=False),
    sa.Column('fallback', sa.String(length=16), nullable=True),
    sa.Column('created_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rtt_ms', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enforcement_actions')),
    sa.UniqueConstraint('event_id', 'nas_id', 'session_row', 'kind', name='uq_enforcement_actions_event')
    )
    op.create_index('ix_enforcement_actions_state', 'enforcement_actions', ['state', 'id'], unique=False)
    op.create_index('ix_enforcement_actions_login', 'enforcement_actions', ['org_id', 'login_id', 'id'],
                    unique=False)
    op.create_index('ix_enforcement_actions_nas', 'enforcement_actions', ['org_id', 'nas_id', 'id'], unique=False)
    op.create_table('router_status',
    sa.Column('nas_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('reachable', sa.Boolean(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=True),
    sa.Column('board', sa.String(length=128), nullable=True),
    sa.Column('identity', sa.String(length=128), nullable=True),
    sa.Column('error', sa.Text(), server_default='', nullable=False),
    sa.Column('checked_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nas_id', name=op.f('pk_router_status'))
    )


def downgrade() -> None:
    op.drop_table('router_status')
    op.drop_index('ix_enforcement_actions_nas', table_name='enforcement_actions')
    op.drop_index('ix_enforcement_actions_login', table_name='enforcement_actions')
    op.drop_index('ix_enforcement_actions_state', table_name='enforcement_actions')
    op.drop_table('enforcement_actions')
