"""web: the customer portal's sessions, sign-in throttle and password-reset tokens

Revision ID: w0002
Revises: w0001
Create Date: 2026-11-30 04:45:00
"""
import sqlalchemy as sa
from alembic import op

import aaad.db

revision = 'w0002'
down_revision = 'w0001'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('portal_sessions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('created_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('public_id'),
    sa.UniqueConstraint('secret_hash'))
    op.create_index('ix_portal_sessions_customer', 'portal_sessions', ['org_id', 'customer_id'])
    op.create_index('ix_portal_sessions_expires', 'portal_sessions', ['expires_at'])
    op.create_table('portal_login_throttle',
    sa.Column('id', BigId, nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_failure_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('locked_until', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'kind', 'key', name='uq_portal_login_throttle'))
    op.create_index('ix_portal_login_throttle_last', 'portal_login_throttle', ['last_failure_at'])
    op.create_table('portal_reset_tokens',
    sa.Column('id', BigId, nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash'))
    op.create_index('ix_portal_reset_tokens_customer', 'portal_reset_tokens', ['org_id', 'customer_id', 'created_at'])


def downgrade() -> None:
    op.drop_table('portal_reset_tokens')
    op.drop_table('portal_login_throttle')
    op.drop_table('portal_sessions')
