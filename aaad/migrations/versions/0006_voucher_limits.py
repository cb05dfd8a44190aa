"""logins: voucher states (unused, revoked), total time and data limits, MAC binding

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_NEW = "state IN ('active','disabled','suspended','expired','exhausted','unused','revoked')"
_OLD = "state IN ('active','disabled','suspended','expired','exhausted')"


def upgrade() -> None:
    with op.batch_alter_table('logins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_limit', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('data_limit', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('bind_mac', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('time_used', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('octets_used', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('bound_mac', sa.String(length=17), nullable=True))
        batch_op.drop_constraint(op.f('ck_logins_state'), type_='check')
        batch_op.create_check_constraint(op.f('ck_logins_state'), _NEW)


def downgrade() -> None:
    op.execute("UPDATE logins SET state = 'disabled' WHERE state IN ('unused', 'revoked')")
    with op.batch_alter_table('logins', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_logins_state'), type_='check')
        batch_op.create_check_constraint(op.f('ck_logins_state'), _OLD)
        batch_op.drop_column('bound_mac')
        batch_op.drop_column('octets_used')
        batch_op.drop_column('time_used')
        batch_op.drop_column('bind_mac')
        batch_op.drop_column('data_limit')
        batch_op.drop_column('time_limit')
