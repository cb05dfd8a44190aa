"""Notification tables: the message outbox, per-org settings, channels, routes,
templates, reminder rules, opt-outs and one-time codes.

``notify_messages`` is the outbox (DESIGN.md, "Side effects outside the
database"): a row is written by the event subscriber in the transaction that
advances its delivery position, or by a reminder job in its period's
transaction, *before* anything is sent.  ``dedupe`` is unique per org (the
event and channel, or the rule, target and period), so a redelivered event
or a re-run job writes nothing new.  Secrets a message carries (a password,
a code, a reset link) are never stored in the clear: ``secrets_enc`` holds
them encrypted with the daemon's key until the message is finished, and is
then cleared; what ``rendered`` keeps shows them redacted.
"""
from __future__ import annotations

import sqlalchemy as sa

from aaad.db import BigId, metadata
from aaad.db import UTCDateTime as _UTC

UTCDateTime = _UTC()

#: pending: waiting to be sent (``not_before``: quiet hours, back-off); sent: the provider took
#: it; delivered: its receipt said so; failed: given up, or the provider reported it undelivered;
#: cancelled: by an operator.
MESSAGE_STATES = ("pending", "sent", "delivered", "failed", "cancelled")

messages = sa.Table(
    "notify_messages", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),           # invoice.issued, otp.code, ...
    sa.Column("channel", sa.String(12), nullable=False),        # email | sms | whatsapp
    sa.Column("customer_id", sa.Integer),                       # None: to the org's admins, or a bare number
    sa.Column("recipient", sa.String(254), nullable=False),     # address or E.164 number
    sa.Column("dedupe", sa.String(120), nullable=False),        # e.g. ev:812:email, rule:3:inv:55:2026-12-01
    sa.Column("event_id", sa.BigInteger),                       # the event that decided it
    sa.Column("vars", sa.Text, nullable=False, server_default="{}"),       # JSON: the template's variables
    sa.Column("secrets_enc", sa.LargeBinary),                   # encrypted JSON of secret variables
    sa.Column("attachments", sa.Text, nullable=False, server_default="[]"),  # JSON: [{"doc": "invoice", "id": 5}]
    sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("state", sa.String(12), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("not_before", UTCDateTime, nullable=False),       # next attempt (quiet hours, back-off)
    sa.Column("provider_id", sa.String(120)),                   # Message-ID, Twilio SID, gateway id
    sa.Column("error", sa.Text),
    sa.Column("rendered", sa.Text),                             # subject + text as sent, secrets redacted
    sa.Column("segments", sa.Integer),                          # SMS: parts billed by the gateway
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("done_at", UTCDateTime),                          # delivered, failed or cancelled
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "dedupe", name="uq_notify_messages_dedupe"),
    sa.Index("ix_notify_messages_due", "state", "not_before"),
    sa.Index("ix_notify_messages_org", "org_id", "id"),
    sa.Index("ix_notify_messages_customer", "org_id", "customer_id", "id"),
    sa.Index("ix_notify_messages_provider", "provider_id"),
)

# One row per org (defaults until edited).
settings = sa.Table(
    "notify_settings", metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), primary_key=True, autoincrement=False),
    sa.Column("admin_email", sa.String(254)),                    # where admin notifications go
    sa.Column("admin_phone", sa.String(32)),                     # E.164, for SMS admin alerts
    sa.Column("quiet_start", sa.String(5)),                      # local "21:00"; None: no quiet hours
    sa.Column("quiet_end", sa.String(5)),                        # local "07:00"
    sa.Column("reminders_at", sa.String(5), nullable=False, server_default="09:00"),  # local time of day
    sa.Column("sms_balance_threshold", sa.Float),                # alert below this (generic gateway)
    sa.Column("reminders_done_on", sa.Date),                     # the local date of the last due-date pass
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# An org's channel: which provider, its settings (JSON) and its secrets (encrypted JSON).
channels = sa.Table(
    "notify_channels", metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), primary_key=True, autoincrement=False),
    sa.Column("channel", sa.String(12), primary_key=True),       # email | sms | whatsapp
    sa.Column("provider", sa.String(16), nullable=False),        # smtp | generic | twilio
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("settings", sa.Text, nullable=False, server_default="{}"),
    sa.Column("secrets_enc", sa.LargeBinary),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Which channels an org uses for a kind (no row: the kind's defaults).
routes = sa.Table(
    "notify_routes", metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("channels", sa.Text, nullable=False, server_default="[]"),   # JSON list; [] = not sent
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# An org's own template for a kind and channel (no row: the shipped default).
templates = sa.Table(
    "notify_templates", metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("channel", sa.String(12), primary_key=True),
    sa.Column("subject", sa.Text, nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False),                  # plain text (email's text part, SMS)
    sa.Column("html", sa.Text),                                  # email only; None: made from the text
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Reminder rules: "3 days before the due date", "2 hours before expiry".
rules = sa.Table(
    "notify_rules", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),            # invoice.due_reminder | service.expiry_warning
    sa.Column("offset_minutes", sa.Integer, nullable=False),     # < 0 before, 0 on, > 0 after
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "kind", "offset_minutes", name="uq_notify_rules"),
)

# Customers who opted out of optional (marketing-type) messages.
optouts = sa.Table(
    "notify_optouts", metadata,
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

# One-time codes (hashed), per org, number and purpose.
otp_codes = sa.Table(
    "notify_otp_codes", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("phone", sa.String(32), nullable=False),           # E.164
    sa.Column("purpose", sa.String(24), nullable=False),         # signup | login | change
    sa.Column("code_hash", sa.String(128), nullable=False),      # HMAC-SHA256 with a per-row salt
    sa.Column("salt", sa.String(32), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Index("ix_notify_otp_lookup", "org_id", "phone", "purpose", "id"),
)
