"""billing: indexes for the admin console (revenue by day and month, search by login, IP and name)

Journal entries by (org, kind, local date) for the dashboard's revenue, and by (org, customer, kind)
for a customer's timeline (it read the org's every entry); services by (org, login) and the logins
with a fixed IP for the search by a login's name or IP; on PostgreSQL, trigram indexes (pg_trgm, a
trusted extension: the database's owner may create it) on lower(name) and lower(username) for the
search by name words and part of a username.

Revision ID: b0014
Revises: b0013
Create Date: 2026-11-30 12:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'b0014'
down_revision = 'b0013'
branch_labels = None
depends_on = None

_FIXED = "framed_ip IS NOT NULL"


def upgrade() -> None:
    op.create_index('ix_journal_entries_org_kind_posted', 'journal_entries', ['org_id', 'kind', 'posted_on'])
    op.create_index('ix_journal_entries_org_customer', 'journal_entries', ['org_id', 'customer_id', 'kind'])
    op.create_index('ix_services_org_login', 'services', ['org_id', 'login_id'])
    op.create_index('ix_logins_org_framed_ip', 'logins', ['org_id', 'framed_ip'],
                    sqlite_where=sa.text(_FIXED), postgresql_where=sa.text(_FIXED))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_customers_name_trgm ON customers USING gin (lower(name) gin_trgm_ops)")
        op.execute("CREATE INDEX ix_customers_username_trgm ON customers USING gin (lower(username) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index('ix_customers_username_trgm', table_name='customers')
        op.drop_index('ix_customers_name_trgm', table_name='customers')
    op.drop_index('ix_logins_org_framed_ip', table_name='logins')
    op.drop_index('ix_services_org_login', table_name='services')
    op.drop_index('ix_journal_entries_org_customer', table_name='journal_entries')
    op.drop_index('ix_journal_entries_org_kind_posted', table_name='journal_entries')
