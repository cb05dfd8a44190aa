"""The vouchers' tables (billing migrations b0012, b0015).

``voucher_packages``: what a voucher gives (the speed as a profile, time and data
limits, validity, shared users, MAC binding) and what it costs; ``voucher_batches``:
a set of vouchers generated at once (printed cards); ``vouchers``: one row per
voucher, naming its login (whose username is the code).  A voucher's state lives
in its login (unused, active, exhausted, revoked, expired).
"""
from __future__ import annotations

import sqlalchemy as sa

from aaad.db import UTCDateTime as _UTC
from aaad.db import metadata

UTCDateTime = _UTC()

voucher_packages = sa.Table(
    "voucher_packages", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("price", sa.BigInteger, nullable=False),                 # minor units of the org's currency
    sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id")),  # the speed
    sa.Column("time_limit", sa.Integer),             # seconds of online time in total; None: none
    sa.Column("data_limit", sa.BigInteger),          # octets in+out in total; None: none
    sa.Column("validity_hours", sa.Integer),         # valid for N hours from first use; None: no such limit
    sa.Column("expires_at", UTCDateTime),            # or until a fixed instant
    sa.Column("shared_users", sa.Integer, nullable=False, server_default="1"),   # devices at once
    sa.Column("bind_mac", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("code_only", sa.Boolean, nullable=False, server_default=sa.false()),  # password = code
    sa.Column("code_length", sa.Integer, nullable=False, server_default="8"),    # without the prefix
    sa.Column("prefix", sa.String(8), nullable=False, server_default=""),
    sa.Column("on_portal", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "name", name="uq_voucher_packages_name"),
    sa.CheckConstraint(sa.text("price >= 0"), name="price"),
)
sa.Index("ix_voucher_packages_org", voucher_packages.c.org_id, voucher_packages.c.id)

voucher_batches = sa.Table(
    "voucher_batches", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("package_id", sa.Integer, sa.ForeignKey("voucher_packages.id"), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
)
sa.Index("ix_voucher_batches_org", voucher_batches.c.org_id, voucher_batches.c.id)

vouchers = sa.Table(
    "vouchers", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("package_id", sa.Integer, sa.ForeignKey("voucher_packages.id"), nullable=False),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("voucher_batches.id")),   # None: sold online
    sa.Column("code", sa.String(64), nullable=False),                         # its login's username
    sa.Column("login_id", sa.Integer),                                        # set in the creating transaction
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id")),
    sa.Column("transaction_id", sa.Integer),     # the gateway transaction that paid for it (one voucher each)
    sa.Column("price", sa.BigInteger, nullable=False),                        # the package's price then
    sa.Column("sold_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # sold at the counter (b0015): how it was paid and the receipt-book number or transaction id, once per org
    sa.Column("sale_method", sa.String(32)),
    sa.Column("sale_reference", sa.String(128)),
    sa.UniqueConstraint("org_id", "code", name="uq_vouchers_code"),
    sa.UniqueConstraint("org_id", "transaction_id", name="uq_vouchers_transaction"),
)
sa.Index("ix_vouchers_org", vouchers.c.org_id, vouchers.c.id)
sa.Index("ix_vouchers_batch", vouchers.c.org_id, vouchers.c.batch_id, vouchers.c.id)
sa.Index("ix_vouchers_customer", vouchers.c.org_id, vouchers.c.customer_id, vouchers.c.id)
sa.Index("ux_vouchers_sale_reference", vouchers.c.org_id, vouchers.c.sale_method, vouchers.c.sale_reference,
         unique=True)
