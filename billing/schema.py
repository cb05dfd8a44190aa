"""billing's tables.

Money is integer minor units of the org's currency (``orgs.currency``); VAT
rates are basis points (1500 = 15 %).  Nothing with money attached is ever
deleted: customers are closed, services cancelled, invoices voided (and
balanced by a credit note).  Every row carries ``org_id`` and every query is
scoped by it.  Dates (``sa.Date``) are the org's local calendar dates;
instants are UTC.
"""
from __future__ import annotations

import sqlalchemy as sa

from aaad.db import BigId, metadata
from aaad.db import UTCDateTime as _UTC
from aaad.schema import logins as _logins

UTCDateTime = _UTC()

CUSTOMER_STATUSES = ("pending", "active", "suspended", "closed")
PRODUCT_TYPES = ("internet", "voice", "bundle", "recurring", "one_time")
PERIODS = ("monthly", "days", "daily", "once")
SERVICE_STATES = ("pending", "active", "suspended", "cancelled", "rejected")
INVOICE_STATES = ("draft", "open", "paid", "void")

# Per-org billing settings (one row per org, created with defaults on first use).
billing_settings = sa.Table(
    "billing_settings", metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), primary_key=True, autoincrement=False),
    sa.Column("country", sa.String(2), nullable=False, server_default="US"),      # default phone region
    sa.Column("vat_bp", sa.Integer, nullable=False, server_default="0"),           # basis points
    sa.Column("prices_include_vat", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("billing_day", sa.Integer, nullable=False, server_default="1"),      # 1..28
    sa.Column("payment_terms_days", sa.Integer, nullable=False, server_default="14"),
    sa.Column("grace_days", sa.Integer, nullable=False, server_default="3"),
    sa.Column("suspend_mode", sa.String(16), nullable=False, server_default="reject"),
    sa.Column("auto_resume", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("invoice_prefix", sa.String(20), nullable=False, server_default="INV-"),
    sa.Column("credit_note_prefix", sa.String(20), nullable=False, server_default="CN-"),
    sa.Column("receipt_prefix", sa.String(20), nullable=False, server_default="RC-"),
    sa.Column("brand_name", sa.String(200)),
    sa.Column("brand_logo", sa.Text),          # a data: URL or a path under the static dir
    sa.Column("brand_colour", sa.String(16)),
    sa.Column("brand_address", sa.Text),
    sa.Column("brand_tax_id", sa.String(64)),
    sa.Column("locale", sa.String(16), nullable=False, server_default="en_US"),
    # The hotspot's login page (voucher cards' QR codes open it; b0012).
    sa.Column("hotspot_login_url", sa.String(500), nullable=False, server_default="http://hotspot.lan/login"),
    # Gap-free counters: incremented in the transaction that uses the number.
    sa.Column("next_invoice_no", sa.Integer, nullable=False, server_default="1"),
    sa.Column("next_credit_note_no", sa.Integer, nullable=False, server_default="1"),
    sa.Column("next_receipt_no", sa.Integer, nullable=False, server_default="1"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

customers = sa.Table(
    "customers", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("username", sa.String(100), nullable=False),      # john-doe-5432
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254)),
    sa.Column("phone", sa.String(32)),                           # E.164
    sa.Column("address", sa.Text),
    sa.Column("zone", sa.String(100)),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("password_hash", sa.String(200)),                  # argon2, set by the portal
    sa.Column("custom_fields", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime),
    sa.UniqueConstraint("org_id", "username", name="uq_customers_org_username"),
    sa.UniqueConstraint("org_id", "email", name="uq_customers_org_email"),
    sa.UniqueConstraint("org_id", "phone", name="uq_customers_org_phone"),
    sa.CheckConstraint(sa.text("status IN ('pending','active','suspended','closed')"), name="status"),
    # Keyset paging of the API and console listings (id, status filter, name sort).
    sa.Index("ix_customers_org_id", "org_id", "id"),
    sa.Index("ix_customers_org_status", "org_id", "status", "id"),
    sa.Index("ix_customers_org_name", "org_id", "name", "id"),
)

products = sa.Table(
    "products", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("price", sa.BigInteger, nullable=False),           # minor units per period
    sa.Column("taxable", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("period", sa.String(8), nullable=False, server_default="monthly"),
    sa.Column("period_days", sa.Integer),                        # for period = days (prepaid N days)
    sa.Column("setup_fee", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("on_portal", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("zones", sa.Text, nullable=False, server_default="[]"),   # JSON list; [] = everywhere
    sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id")),  # internet products
    sa.Column("data_cap", sa.BigInteger),                        # octets per cycle, set on the login
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),  # still sold
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "name", name="uq_products_org_name"),
    sa.CheckConstraint(sa.text("type IN ('internet','voice','bundle','recurring','one_time')"), name="type"),
    sa.CheckConstraint(sa.text("period IN ('monthly','days','daily','once')"), name="period"),
)

# Discount rules of a product: percent (basis points) or fixed (minor units), for the
# first N periods of a service, or until a date, or both (whichever ends first).
discounts = sa.Table(
    "discounts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(8), nullable=False),             # percent | fixed
    sa.Column("value", sa.BigInteger, nullable=False),           # basis points or minor units
    sa.Column("periods", sa.Integer),                            # first N billed periods
    sa.Column("until", sa.Date),                                 # periods starting before this date
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sa.text("kind IN ('percent','fixed')"), name="kind"),
)

services = sa.Table(
    "services", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("start_date", sa.Date),          # actual start (approval), local date
    sa.Column("end_date", sa.Date),            # last day of service (exclusive end = end_date + 1)
    sa.Column("cancel_at", sa.Date),           # cancellation scheduled at period end
    sa.Column("billed_through", sa.Date),      # exclusive end of the last period invoiced
    sa.Column("periods_billed", sa.Integer, nullable=False, server_default="0"),  # for N-period discounts
    sa.Column("login_id", sa.Integer),         # the internet service's login (owner = service)
    sa.Column("username", sa.String(253)),     # its PPPoE/hotspot name, kept after removal
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sa.text("state IN ('pending','active','suspended','cancelled','rejected')"),
                       name="state"),
)
sa.Index("ix_services_org_state", services.c.org_id, services.c.state)
# "Does this customer have an active service?" (dunning asks it per invoice in arrears):
# without it SQLite walks every active service of the org for each invoice.
sa.Index("ix_services_customer_state", services.c.customer_id, services.c.state)

# Every service state change (the per-customer timeline reads it).
service_log = sa.Table(
    "service_log", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id"), nullable=False, index=True),
    sa.Column("customer_id", sa.Integer, nullable=False, index=True),
    sa.Column("old_state", sa.String(16)),
    sa.Column("new_state", sa.String(16), nullable=False),
    sa.Column("what", sa.String(32), nullable=False),   # created|approved|suspended|resumed|plan_changed|...
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("invoice_id", sa.Integer),                # the invoice behind a dunning suspension
    sa.Column("at", UTCDateTime, nullable=False),
)

invoices = sa.Table(
    "invoices", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("seq", sa.Integer),                        # gap-free per org; None while draft
    sa.Column("number", sa.String(40)),                  # prefix + seq
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("issue_date", sa.Date, nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("subtotal", sa.BigInteger, nullable=False),  # net, after discounts
    sa.Column("discount", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("vat", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("paid", sa.BigInteger, nullable=False, server_default="0"),  # sum of its allocations
    sa.Column("run", sa.String(40)),                     # the billing run period that issued it
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("paid_at", UTCDateTime),
    sa.Column("voided_at", UTCDateTime),
    sa.UniqueConstraint("org_id", "seq", name="uq_invoices_org_seq"),
    sa.CheckConstraint(sa.text("state IN ('draft','open','paid','void')"), name="state"),
    sa.CheckConstraint(sa.text("paid >= 0 AND paid <= total"), name="paid_range"),
)
sa.Index("ix_invoices_org_state_due", invoices.c.org_id, invoices.c.state, invoices.c.due_date)
sa.Index("ix_invoices_org_customer_state", invoices.c.org_id, invoices.c.customer_id, invoices.c.state,  # b0011
         invoices.c.due_date)

invoice_lines = sa.Table(
    "invoice_lines", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("invoice_id", sa.Integer, sa.ForeignKey("invoices.id"), nullable=False, index=True),
    sa.Column("service_id", sa.Integer),
    sa.Column("kind", sa.String(16), nullable=False),    # recurring|setup|proration|one_time|adjustment
    sa.Column("period_start", sa.Date),
    sa.Column("period_end", sa.Date),                    # exclusive
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False, server_default="1"),
    sa.Column("unit_price", sa.BigInteger, nullable=False),
    sa.Column("discount", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("net", sa.BigInteger, nullable=False),     # after discount, excluding VAT
    sa.Column("vat_bp", sa.Integer, nullable=False),
    sa.Column("vat", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),   # net + vat
    # A service is billed once per (period start, kind): a rerun of a billing run cannot bill twice.
    sa.UniqueConstraint("service_id", "kind", "period_start", name="uq_invoice_lines_service_period"),
)

credit_notes = sa.Table(
    "credit_notes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("invoice_id", sa.Integer, sa.ForeignKey("invoices.id")),   # the invoice it credits
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("number", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),    # unused_days|cancellation|downgrade|void|manual
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("issue_date", sa.Date, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("subtotal", sa.BigInteger, nullable=False),
    sa.Column("vat", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "seq", name="uq_credit_notes_org_seq"),
)

credit_note_lines = sa.Table(
    "credit_note_lines", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("credit_note_id", sa.Integer, sa.ForeignKey("credit_notes.id"), nullable=False, index=True),
    sa.Column("service_id", sa.Integer),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("period_start", sa.Date),
    sa.Column("period_end", sa.Date),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("net", sa.BigInteger, nullable=False),
    sa.Column("vat_bp", sa.Integer, nullable=False),
    sa.Column("vat", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    # The unused days of one service period are credited once.
    sa.UniqueConstraint("service_id", "kind", "period_start", name="uq_credit_note_lines_service_period"),
)

payments = sa.Table(
    "payments", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),     # cash | bank | mobile_money | card | ...
    sa.Column("reference", sa.String(128), nullable=False),
    sa.Column("receipt_seq", sa.Integer, nullable=False),
    sa.Column("receipt_number", sa.String(40), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The same bank (or gateway) reference is recorded once.
    sa.UniqueConstraint("org_id", "method", "reference", name="uq_payments_org_method_reference"),
    sa.UniqueConstraint("org_id", "receipt_seq", name="uq_payments_org_receipt_seq"),
    sa.CheckConstraint(sa.text("amount > 0"), name="amount_positive"),
)

refunds = sa.Table(
    "refunds", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("reference", sa.String(128), nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sa.text("amount > 0"), name="amount_positive"),
)

# What settled an invoice: a payment, a credit note, or customer credit.
allocations = sa.Table(
    "allocations", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("invoice_id", sa.Integer, sa.ForeignKey("invoices.id"), nullable=False, index=True),
    sa.Column("customer_id", sa.Integer, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),      # payment | credit_note | credit
    sa.Column("source_id", sa.Integer),                      # payment or credit note id
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("entry_id", sa.BigInteger),                    # its journal entry
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sa.text("amount > 0"), name="amount_positive"),
)

# The double-entry ledger: a journal entry of postings that sum to zero
# (debits positive, credits negative).  Accounts: receivable and
# customer_credit (per customer), revenue, vat_payable, cash:<method>,
# adjustments.
journal_entries = sa.Table(
    "journal_entries", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    # invoice | payment | credit_note | credit_applied | refund | adjustment
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("ref_type", sa.String(16)),
    sa.Column("ref_id", sa.Integer),
    sa.Column("customer_id", sa.Integer),
    sa.Column("memo", sa.Text, nullable=False, server_default=""),
    sa.Column("posted_on", sa.Date, nullable=False),     # the org's local date
    sa.Column("created_at", UTCDateTime, nullable=False),
)
sa.Index("ix_journal_entries_org_posted", journal_entries.c.org_id, journal_entries.c.posted_on)

postings = sa.Table(
    "postings", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("entry_id", sa.BigInteger, sa.ForeignKey("journal_entries.id"), nullable=False, index=True),
    sa.Column("account", sa.String(40), nullable=False),
    sa.Column("customer_id", sa.Integer),
    sa.Column("amount", sa.BigInteger, nullable=False),   # debit > 0, credit < 0
)
sa.Index("ix_postings_org_customer_account", postings.c.org_id, postings.c.customer_id, postings.c.account)

# Dunning: a suspension and why (the invoice), closed when resumed.
suspensions = sa.Table(
    "suspensions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("customer_id", sa.Integer, nullable=False, index=True),
    sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id"), nullable=False, index=True),
    sa.Column("invoice_id", sa.Integer),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("suspended_at", UTCDateTime, nullable=False),
    sa.Column("resumed_at", UTCDateTime),
    sa.Column("resumed_by", sa.String(32)),               # payment | operator
)

# -- the portal's shop and tickets (issue 13 part d) ---------------------------------------

TICKET_STATUSES = ("open", "answered", "closed")

# Per-org checkout settings (one row per org, defaults until an admin sets them).
shop_settings = sa.Table(
    "shop_settings", metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), primary_key=True, autoincrement=False),
    sa.Column("checkout", sa.String(8), nullable=False, server_default="gateway"),    # gateway | request | both
    sa.Column("request_via", sa.String(8), nullable=False, server_default="ticket"),  # ticket | email
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sa.text("checkout IN ('gateway','request','both')"), name="checkout"),
    sa.CheckConstraint(sa.text("request_via IN ('ticket','email')"), name="request_via"),
)

# A signed-in customer's cart: one row per item (a product twice is two items).
cart_items = sa.Table(
    "cart_items", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_cart_items_customer", "org_id", "customer_id", "id"),
)

tickets = sa.Table(
    "tickets", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("order_id", sa.Integer),                   # the order request it is about
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("status", sa.String(10), nullable=False, server_default="open"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sa.text("status IN ('open','answered','closed')"), name="status"),
    sa.Index("ix_tickets_org_customer", "org_id", "customer_id", "id"),
    sa.Index("ix_tickets_org_status", "org_id", "status", "id"),
)

ticket_messages = sa.Table(
    "ticket_messages", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("author", sa.String(10), nullable=False),          # customer | admin
    sa.Column("author_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sa.text("author IN ('customer','admin')"), name="author"),
    sa.Index("ix_ticket_messages_ticket", "org_id", "ticket_id", "id"),
)

# The subpackages' tables, so that importing ``billing.schema`` (Alembic's env) puts all of billing's on the MetaData.
from billing.gateways import schema as _gateways  # noqa: E402,F401
from billing.notify import schema as _notify  # noqa: E402,F401
from billing.orders import schema as _orders  # noqa: E402,F401

# -- sign-up (billing.signup: registration and approval; migration b0007) ---------------------------
#
# Per org: whether the portal's registration form is open, whether an admin must approve, the
# defaults an approval uses, and how the built-in fields of the form behave (required, optional,
# hidden).  Custom fields are rows of ``signup_fields`` in the admin's order.
SIGNUP_FIELD_KINDS = ("text", "number", "choice", "checkbox", "date")
REGISTRATION_STATUSES = ("pending", "info_requested", "approved", "rejected")

signup_settings = sa.Table(
    "signup_settings", metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), primary_key=True, autoincrement=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("approval", sa.String(12), nullable=False, server_default="required"),   # required | automatic
    sa.Column("default_product_id", sa.Integer),
    sa.Column("default_zone", sa.String(100)),
    sa.Column("email_field", sa.String(10), nullable=False, server_default="required"),
    sa.Column("phone_field", sa.String(10), nullable=False, server_default="optional"),
    sa.Column("address_field", sa.String(10), nullable=False, server_default="optional"),
    sa.Column("document_field", sa.String(10), nullable=False, server_default="hidden"),
    sa.Column("document_max_kb", sa.Integer, nullable=False, server_default="5120"),
    sa.Column("max_per_hour", sa.Integer, nullable=False, server_default="10"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("mode", sa.String(8), nullable=False, server_default="isp"),     # b0013: isp | hotspot
)

signup_fields = sa.Table(
    "signup_fields", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("key", sa.String(40), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("choices", sa.Text, nullable=False, server_default="[]"),       # JSON list of text
    sa.Column("help", sa.Text, nullable=False, server_default=""),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "key", name="uq_signup_fields_key"),
)

# A registration: what an applicant typed (the password only as its argon2 hash), its ID document
# (a file under the data directory, never served), and what the admins decided.
registrations = sa.Table(
    "registrations", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254)),
    sa.Column("phone", sa.String(32)),
    sa.Column("address", sa.Text),
    sa.Column("password_hash", sa.Text),
    sa.Column("fields", sa.Text, nullable=False, server_default="{}"),      # custom field values (JSON)
    sa.Column("product_id", sa.Integer),
    sa.Column("zone", sa.String(100)),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id")),
    sa.Column("order_id", sa.Integer),
    sa.Column("service_id", sa.Integer),
    sa.Column("document_path", sa.String(200)),
    sa.Column("document_type", sa.String(40)),
    sa.Column("document_size", sa.Integer),
    sa.Column("document_name", sa.String(200)),
    sa.Column("ip", sa.String(64), nullable=False, server_default=""),
    sa.Column("user_agent", sa.String(400), nullable=False, server_default=""),
    sa.Column("question", sa.Text, nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("info_token_hash", sa.String(64)),
    sa.Column("info_expires_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("decided_at", UTCDateTime),
)
sa.Index("ix_registrations_org_status", registrations.c.org_id, registrations.c.status, registrations.c.id)
sa.Index("ix_registrations_org_email", registrations.c.org_id, registrations.c.email)
sa.Index("ix_registrations_org_phone", registrations.c.org_id, registrations.c.phone)

# One row per sign-up form sent, for the per-address rate limit (the address hashed).
signup_attempts = sa.Table(
    "signup_attempts", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("ip_hash", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)
sa.Index("ix_signup_attempts_org_ip", signup_attempts.c.org_id, signup_attempts.c.ip_hash, signup_attempts.c.at)

# -- sign-up: coverage, leads, contracts (billing.signup; migration b0010) -----------------

# A coverage zone: where the org can connect people, as area names, postcodes
# (normalised; an entry ending in "*" is a prefix) and/or a GeoJSON polygon.
coverage_zones = sa.Table(
    "coverage_zones", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),       # what Product.zones names
    sa.Column("areas", sa.Text, nullable=False, server_default="[]"),       # JSON list of area names
    sa.Column("postcodes", sa.Text, nullable=False, server_default="[]"),   # JSON list, normalised
    sa.Column("geojson", sa.Text),                            # a Polygon/MultiPolygon (lon, lat)
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "name", name="uq_coverage_zones_name"),
)

# "Not yet available here": a visitor's contact details and where they asked.
leads = sa.Table(
    "leads", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254)),
    sa.Column("phone", sa.String(32)),                        # E.164
    sa.Column("area", sa.String(100), nullable=False, server_default=""),
    sa.Column("postcode", sa.String(32), nullable=False, server_default=""),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(12), nullable=False, server_default="new"),   # new | contacted | closed
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
sa.Index("ix_leads_org_status", leads.c.org_id, leads.c.status, leads.c.id)

# The org's contract text, one row per version (never changed once written).
contracts = sa.Table(
    "contracts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "version", name="uq_contracts_version"),
)

# A customer's signature of one contract version, with the signed PDF copy.
contract_signatures = sa.Table(
    "contract_signatures", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("contract_id", sa.Integer, sa.ForeignKey("contracts.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("full_name", sa.String(200), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("user_agent", sa.String(500), nullable=False, server_default=""),
    sa.Column("signed_at", UTCDateTime, nullable=False),
    sa.Column("pdf", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("org_id", "customer_id", "contract_id", name="uq_contract_signatures_once"),
)
sa.Index("ix_contract_signatures_customer", contract_signatures.c.org_id, contract_signatures.c.customer_id)
from billing.vouchers import schema as _vouchers  # noqa: E402,F401

# -- the admin console's reads (billing.console; migration b0014) ----------------------------------

# Revenue today and this month: the payments' journal entries by the org's local date (an index on
# payments.received_at would lure SQLite off the customer index for a customer's payments by date).
sa.Index("ix_journal_entries_org_kind_posted", journal_entries.c.org_id, journal_entries.c.kind,
         journal_entries.c.posted_on)
# A customer's timeline reads their credit and adjustment entries (without it, the org's every entry).
sa.Index("ix_journal_entries_org_customer", journal_entries.c.org_id, journal_entries.c.customer_id,
         journal_entries.c.kind)
# Search by a login's name or IP: the service (and so the customer) of a login.
sa.Index("ix_services_org_login", services.c.org_id, services.c.login_id)
# Search by IP: the few logins with a fixed IP (a partial index: the rest never enter it).
sa.Index("ix_logins_org_framed_ip", _logins.c.org_id, _logins.c.framed_ip,
         sqlite_where=sa.text("framed_ip IS NOT NULL"), postgresql_where=sa.text("framed_ip IS NOT NULL"))
# Search by name and part of a username on PostgreSQL: trigram indexes (pg_trgm) serve
# ``lower(name) LIKE '%word%'``.  SQLite has no such index (the migration creates none there).
sa.Index("ix_customers_name_trgm", sa.func.lower(customers.c.name).label("name_lower"),
         postgresql_using="gin", postgresql_ops={"name_lower": "gin_trgm_ops"}).ddl_if(dialect="postgresql")
sa.Index("ix_customers_username_trgm", sa.func.lower(customers.c.username).label("username_lower"),
         postgresql_using="gin", postgresql_ops={"username_lower": "gin_trgm_ops"}).ddl_if(dialect="postgresql")
