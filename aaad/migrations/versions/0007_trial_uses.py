"""trial_uses: a hotspot's free trial, once per device per day

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 11:15:00
"""
import sqlalchemy as sa
from alembic import op

import aaad.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'trial_uses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('mac', sa.String(length=17), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('started_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('resets_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_trial_uses_org_id_orgs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_trial_uses')),
        sa.UniqueConstraint('org_id', 'mac', 'day', name='uq_trial_uses_org_mac_day'),
    )


def downgrade() -> None:
    op.drop_table('trial_uses')
