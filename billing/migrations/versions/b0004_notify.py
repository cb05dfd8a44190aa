"""billing.notify: the message outbox, settings, channels, routes, templates, rules, opt-outs, one-time codes

Revision ID: b0004
Revises: b0003
Create Date: 2026-11-30 04:10:00
"""
import sqlalchemy as sa
from alembic import op

from aaad.db import BigId, UTCDateTime

revision = 'b0004'
down_revision = 'b0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'notify_messages',
        sa.Column('id', BigId, primary_key=True),
        sa.Column('org_id', sa.Integer, nullable=False),
        sa.Column('kind', sa.String(40), nullable=False),
        sa.Column('channel', sa.String(12), nullable=False),
        sa.Column('customer_id', sa.Integer),
        sa.Column('recipient', sa.String(254), nullable=False),
        sa.Column('dedupe', sa.String(120), nullable=False),
        sa.Column('event_id', sa.BigInteger),
        sa.Column('vars', sa.Text, nullable=False, server_default='{}'),
        sa.Column('secrets_enc', sa.LargeBinary),
        sa.Column('attachments', sa.Text, nullable=False, server_default='[]'),
        sa.Column('urgent', sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column('state', sa.String(12), nullable=False, server_default='pending'),
        sa.Column('attempts', sa.Integer, nullable=False, server_default='0'),
        sa.Column('not_before', UTCDateTime(), nullable=False),
        sa.Column('provider_id', sa.String(120)),
        sa.Column('error', sa.Text),
        sa.Column('rendered', sa.Text),
        sa.Column('segments', sa.Integer),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('sent_at', UTCDateTime()),
        sa.Column('done_at', UTCDateTime()),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.UniqueConstraint('org_id', 'dedupe', name='uq_notify_messages_dedupe'),
    )
    op.create_index('ix_notify_messages_due', 'notify_messages', ['state', 'not_before'])
    op.create_index('ix_notify_messages_org', 'notify_messages', ['org_id', 'id'])
    op.create_index('ix_notify_messages_customer', 'notify_messages', ['org_id', 'customer_id', 'id'])
    op.create_index('ix_notify_messages_provider', 'notify_messages', ['provider_id'])
    op.create_table(
        'notify_settings',
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), primary_key=True, autoincrement=False),
        sa.Column('admin_email', sa.String(254)),
        sa.Column('admin_phone', sa.String(32)),
        sa.Column('quiet_start', sa.String(5)),
        sa.Column('quiet_end', sa.String(5)),
        sa.Column('reminders_at', sa.String(5), nullable=False, server_default='09:00'),
        sa.Column('sms_balance_threshold', sa.Float),
        sa.Column('reminders_done_on', sa.Date),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'notify_channels',
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), primary_key=True, autoincrement=False),
        sa.Column('channel', sa.String(12), primary_key=True),
        sa.Column('provider', sa.String(16), nullable=False),
        sa.Column('enabled', sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column('settings', sa.Text, nullable=False, server_default='{}'),
        sa.Column('secrets_enc', sa.LargeBinary),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'notify_routes',
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), primary_key=True, autoincrement=False),
        sa.Column('kind', sa.String(40), primary_key=True),
        sa.Column('channels', sa.Text, nullable=False, server_default='[]'),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'notify_templates',
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), primary_key=True, autoincrement=False),
        sa.Column('kind', sa.String(40), primary_key=True),
        sa.Column('channel', sa.String(12), primary_key=True),
        sa.Column('subject', sa.Text, nullable=False, server_default=''),
        sa.Column('body', sa.Text, nullable=False),
        sa.Column('html', sa.Text),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'notify_rules',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('kind', sa.String(40), nullable=False),
        sa.Column('offset_minutes', sa.Integer, nullable=False),
        sa.Column('enabled', sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.UniqueConstraint('org_id', 'kind', 'offset_minutes', name='uq_notify_rules'),
    )
    op.create_table(
        'notify_optouts',
        sa.Column('org_id', sa.Integer, nullable=False),
        sa.Column('customer_id', sa.Integer, sa.ForeignKey('customers.id'), primary_key=True,
                  autoincrement=False),
        sa.Column('at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'notify_otp_codes',
        sa.Column('id', BigId, primary_key=True),
        sa.Column('org_id', sa.Integer, nullable=False),
        sa.Column('phone', sa.String(32), nullable=False),
        sa.Column('purpose', sa.String(24), nullable=False),
        sa.Column('code_hash', sa.String(128), nullable=False),
        sa.Column('salt', sa.String(32), nullable=False),
        sa.Column('attempts', sa.Integer, nullable=False, server_default='0'),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('used_at', UTCDateTime()),
    )
    op.create_index('ix_notify_otp_lookup', 'notify_otp_codes', ['org_id', 'phone', 'purpose', 'id'])


def downgrade() -> None:
    op.drop_index('ix_notify_otp_lookup', table_name='notify_otp_codes')
    for t in ('notify_otp_codes', 'notify_optouts', 'notify_rules', 'notify_templates', 'notify_routes',
              'notify_channels', 'notify_settings'):
        op.drop_table(t)
    for ix in ('ix_notify_messages_provider', 'ix_notify_messages_customer', 'ix_notify_messages_org',
               'ix_notify_messages_due'):
        op.drop_index(ix, table_name='notify_messages')
    op.drop_table('notify_messages')
