"""The gateways' tables (billing migration b0005).

``gateway_transactions``: our side of each payment through a gateway, the one
row whose conditional UPDATE (pending -> success) decides that it is credited.
``gateway_events``: every gateway call and authenticated webhook with its
outcome (forged webhooks are refused before any row is written: log lines).
``gateway_settings``: per org, which gateway the portal uses and its secrets
(encrypted with the secret box).  ``gateway_test_payments``: the built-in test
gateway's own side of the world (what a real provider keeps at its end).
"""
from __future__ import annotations

import sqlalchemy as sa

from aaad.db import BigId, metadata
from aaad.db import UTCDateTime as _UTC

UTCDateTime = _UTC()

gateway_settings = sa.Table(
    "gateway_settings", metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), primary_key=True, autoincrement=False),
    sa.Column("gateway", sa.String(16), nullable=False, server_default="test"),   # or "none"
    sa.Column("secrets_enc", sa.LargeBinary),       # JSON object, encrypted (SecretBox)
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

gateway_transactions = sa.Table(
    "gateway_transactions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("reference", sa.String(64), nullable=False),
    sa.Column("gateway", sa.String(16), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),            # balance | order | voucher
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
    sa.Column("provider_ref", sa.String(128)),
    sa.Column("payment_id", sa.Integer, sa.ForeignKey("payments.id")),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_checked_at", UTCDateTime),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id", name="fk_gateway_transactions_order")),  # b0006
    sa.Column("package_id", sa.Integer),      # b0013: purpose voucher, the voucher package bought
    sa.Column("voucher_id", sa.Integer),      # b0013: ... and the voucher sold once it was paid
    sa.UniqueConstraint("org_id", "reference", name="uq_gateway_transactions_reference"),
    sa.CheckConstraint(sa.text("amount > 0"), name="amount_positive"),
)
sa.Index("ix_gateway_transactions_status", gateway_transactions.c.org_id, gateway_transactions.c.status,
         gateway_transactions.c.id)
sa.Index("ix_gateway_transactions_customer", gateway_transactions.c.org_id, gateway_transactions.c.customer_id,
         gateway_transactions.c.id)

gateway_events = sa.Table(
    "gateway_events", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("transaction_id", sa.Integer),
    sa.Column("reference", sa.String(64)),
    sa.Column("gateway", sa.String(16), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),     # start | verify | webhook | expire
    sa.Column("outcome", sa.String(16), nullable=False),    # started | credited | duplicate | failed | ...
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
sa.Index("ix_gateway_events_org", gateway_events.c.org_id, gateway_events.c.id)
sa.Index("ix_gateway_events_transaction", gateway_events.c.org_id, gateway_events.c.transaction_id)

gateway_test_payments = sa.Table(
    "gateway_test_payments", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("reference", sa.String(64), nullable=False),
    sa.Column("provider_ref", sa.String(64), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
    sa.Column("return_url", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "reference", name="uq_gateway_test_payments_reference"),
)
