"""events and jobs: per-subscriber delivery, job leases

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 15:45:00
"""
import sqlalchemy as sa
from alembic import op

import aaad.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_subscribers',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('types', sa.Text(), nullable=False),
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default='0', nullable=False),
    sa.Column('seen_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_event_subscribers'))
    )
    op.create_table('event_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subscriber', sa.String(length=100), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', aaad.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', aaad.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint(sa.text("state IN ('failing','dead','retry')"), name=op.f('ck_event_failures_state')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_failures')),
    sa.UniqueConstraint('subscriber', 'event_id', name='uq_event_failures_subscriber_event')
    )
    with op.batch_alter_table('event_failures', schema=None) as batch_op:
        batch_op.create_index('ix_event_failures_due', ['subscriber', 'state', 'next_attempt_at'], unique=False)

    # Delivery state moved out of the outbox rows into the tables above.
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_pending')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('last_error')

    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', aaad.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('lease_owner')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('delivered_at', aaad.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_events_pending', ['delivered_at', 'id'], unique=False)

    with op.batch_alter_table('event_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_event_failures_due')
    op.drop_table('event_failures')
    op.drop_table('event_subscribers')
