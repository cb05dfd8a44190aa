"""web: the admin API's tokens, idempotency keys and audit log

Revision ID: w0001
Revises: (branch root; depends on aaad 0005)
Create Date: 2026-11-30 01:00:00
"""
import sqlalchemy as sa
from alembic import op

import aaad.db

revision = 'w0001'
down_revision = None
branch_labels = ('web',)
depends_on = ('0005',)

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('read_only', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('platform', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('secret_hash'))
    op.create_index('ix_api_tokens_org', 'api_tokens', ['org_id'])
    op.create_table('api_idempotency',
    sa.Column('id', BigId, nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('content_type', sa.String(length=100), server_default='', nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_id', 'key', name='uq_api_idempotency_key'))
    op.create_index('ix_api_idempotency_created', 'api_idempotency', ['created_at'])
    op.create_table('api_audit',
    sa.Column('id', BigId, nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('token_name', sa.String(length=80), nullable=False),
    sa.Column('at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('route', sa.String(length=200), nullable=False),
    sa.Column('target', sa.String(length=200), server_default='', nullable=False),
    sa.Column('before', sa.Text(), server_default='', nullable=False),
    sa.Column('after', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_api_audit_org_id', 'api_audit', ['org_id', 'id'])


def downgrade() -> None:
    op.drop_table('api_audit')
    op.drop_table('api_idempotency')
    op.drop_table('api_tokens')
