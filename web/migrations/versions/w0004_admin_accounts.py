"""web: the admin console's accounts, recovery codes and sessions

Revision ID: w0004
Revises: w0003
Create Date: 2026-11-30 12:00:00
"""
import sqlalchemy as sa
from alembic import op

import aaad.db

revision = 'w0004'
down_revision = 'w0003'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('admin_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('org_key', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=120), server_default='', nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('totp_secret', sa.LargeBinary(), nullable=True),
    sa.Column('totp_enabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('totp_step', sa.BigInteger(), nullable=True),
    sa.Column('disabled_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_key', 'email', name='uq_admin_accounts_email'))
    op.create_index('ix_admin_accounts_email', 'admin_accounts', ['email'])
    op.create_table('admin_recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('used_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_admin_recovery_codes_account', 'admin_recovery_codes', ['account_id'])
    op.create_table('admin_sessions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('mfa_done', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('public_id'),
    sa.UniqueConstraint('secret_hash'))
    op.create_index('ix_admin_sessions_account', 'admin_sessions', ['account_id'])
    op.create_index('ix_admin_sessions_expires', 'admin_sessions', ['expires_at'])


def downgrade() -> None:
    op.drop_table('admin_sessions')
    op.drop_table('admin_recovery_codes')
    op.drop_table('admin_accounts')
