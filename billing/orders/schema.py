"""The orders' tables (billing migration b0006).

``orders``: what a customer asked for, how it is paid (``method``) and how far it
got (``status``); ``order_items``: one row per product, naming the pending service
the order created for it.  Prices are kept as quoted when the order was placed.
"""
from __future__ import annotations

import sqlalchemy as sa

from aaad.db import UTCDateTime as _UTC
from aaad.db import metadata

UTCDateTime = _UTC()

orders = sa.Table(
    "orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("status", sa.String(12), nullable=False, server_default="placed"),   # placed|paid|active|cancelled
    sa.Column("method", sa.String(12), nullable=False, server_default="invoice"),  # gateway|invoice|request
    sa.Column("net", sa.BigInteger, nullable=False),
    sa.Column("vat", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("paid_at", UTCDateTime),
    sa.Column("approved_at", UTCDateTime),
    sa.Column("cancelled_at", UTCDateTime),
)
sa.Index("ix_orders_customer", orders.c.org_id, orders.c.customer_id, orders.c.id)
sa.Index("ix_orders_status", orders.c.org_id, orders.c.status, orders.c.id)

order_items = sa.Table(
    "order_items", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id")),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("net", sa.BigInteger, nullable=False),
    sa.Column("vat", sa.BigInteger, nullable=False),
    sa.Column("gross", sa.BigInteger, nullable=False),
)
sa.Index("ix_order_items_order", order_items.c.org_id, order_items.c.order_id)
