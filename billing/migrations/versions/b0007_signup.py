"""billing.signup: sign-up settings, custom form fields, registrations, the per-address attempt log

Revision ID: b0007
Revises: b0006
Create Date: 2026-11-30 07:30:00
"""
import sqlalchemy as sa
from alembic import op

from aaad.db import BigId, UTCDateTime

revision = 'b0007'
down_revision = 'b0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'signup_settings',
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), primary_key=True, autoincrement=False),
        sa.Column('enabled', sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column('approval', sa.String(12), nullable=False, server_default='required'),
        sa.Column('default_product_id', sa.Integer),
        sa.Column('default_zone', sa.String(100)),
        sa.Column('email_field', sa.String(10), nullable=False, server_default='required'),
        sa.Column('phone_field', sa.String(10), nullable=False, server_default='optional'),
        sa.Column('address_field', sa.String(10), nullable=False, server_default='optional'),
        sa.Column('document_field', sa.String(10), nullable=False, server_default='hidden'),
        sa.Column('document_max_kb', sa.Integer, nullable=False, server_default='5120'),
        sa.Column('max_per_hour', sa.Integer, nullable=False, server_default='10'),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'signup_fields',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('key', sa.String(40), nullable=False),
        sa.Column('label', sa.String(200), nullable=False),
        sa.Column('kind', sa.String(12), nullable=False),
        sa.Column('required', sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column('choices', sa.Text, nullable=False, server_default='[]'),
        sa.Column('help', sa.Text, nullable=False, server_default=''),
        sa.Column('position', sa.Integer, nullable=False, server_default='0'),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.UniqueConstraint('org_id', 'key', name='uq_signup_fields_key'),
    )
    op.create_table(
        'registrations',
        sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('org_id', sa.Integer, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('status', sa.String(16), nullable=False, server_default='pending'),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('email', sa.String(254)),
        sa.Column('phone', sa.String(32)),
        sa.Column('address', sa.Text),
        sa.Column('password_hash', sa.Text),
        sa.Column('fields', sa.Text, nullable=False, server_default='{}'),
        sa.Column('product_id', sa.Integer),
        sa.Column('zone', sa.String(100)),
        sa.Column('customer_id', sa.Integer, sa.ForeignKey('customers.id')),
        sa.Column('order_id', sa.Integer),
        sa.Column('service_id', sa.Integer),
        sa.Column('document_path', sa.String(200)),
        sa.Column('document_type', sa.String(40)),
        sa.Column('document_size', sa.Integer),
        sa.Column('document_name', sa.String(200)),
        sa.Column('ip', sa.String(64), nullable=False, server_default=''),
        sa.Column('user_agent', sa.String(400), nullable=False, server_default=''),
        sa.Column('question', sa.Text, nullable=False, server_default=''),
        sa.Column('reason', sa.Text, nullable=False, server_default=''),
        sa.Column('info_token_hash', sa.String(64)),
        sa.Column('info_expires_at', UTCDateTime()),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('decided_at', UTCDateTime()),
    )
    op.create_index('ix_registrations_org_status', 'registrations', ['org_id', 'status', 'id'])
    op.create_index('ix_registrations_org_email', 'registrations', ['org_id', 'email'])
    op.create_index('ix_registrations_org_phone', 'registrations', ['org_id', 'phone'])
    op.create_table(
        'signup_attempts',
        sa.Column('id', BigId, primary_key=True),
        sa.Column('org_id', sa.Integer, nullable=False),
        sa.Column('ip_hash', sa.String(64), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
    )
    op.create_index('ix_signup_attempts_org_ip', 'signup_attempts', ['org_id', 'ip_hash', 'at'])


def downgrade() -> None:
    op.drop_index('ix_signup_attempts_org_ip', table_name='signup_attempts')
    op.drop_table('signup_attempts')
    op.drop_index('ix_registrations_org_phone', table_name='registrations')
    op.drop_index('ix_registrations_org_email', table_name='registrations')
    op.drop_index('ix_registrations_org_status', table_name='registrations')
    op.drop_table('registrations')
    op.drop_table('signup_fields')
    op.drop_table('signup_settings')
