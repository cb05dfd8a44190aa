"""The admin API's tables: tokens, remembered idempotent responses, the audit log.

A token's secret is never stored: ``api_tokens.secret_hash`` is the SHA-256 of
it (a token is 32 random bytes, so a slow hash adds nothing but latency).  A
platform token has no org (``org_id`` NULL) and names the org it acts on in a
header.  ``api_idempotency`` keeps the first response to a POST that carried an
Idempotency-Key, per token, for ``[api] idempotency_hours``.  ``api_audit``
records every write made through the API: who, what, and a summary of before
and after.
"""
from __future__ import annotations

import sqlalchemy as sa

from aaad.db import BigId, metadata
from aaad.db import UTCDateTime as _UTC

UTCDateTime = _UTC()

tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("platform", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("role", sa.String(16), nullable=False, server_default="owner"),   # aaad.authz.ROLES
    sa.Index("ix_api_tokens_org", "org_id"),
)

idempotency = sa.Table(
    "api_idempotency", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("token_id", sa.Integer, nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=True),        # NULL while the first request runs
    sa.Column("content_type", sa.String(100), nullable=False, server_default=""),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("token_id", "key", name="uq_api_idempotency_key"),
    sa.Index("ix_api_idempotency_created", "created_at"),
)

audit = sa.Table(
    "api_audit", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=True),
    sa.Column("token_id", sa.Integer, nullable=False),
    sa.Column("token_name", sa.String(80), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("route", sa.String(200), nullable=False),
    sa.Column("target", sa.String(200), nullable=False, server_default=""),
    sa.Column("before", sa.Text, nullable=False, server_default=""),
    sa.Column("after", sa.Text, nullable=False, server_default=""),
    sa.Column("account_id", sa.Integer, nullable=True),      # a console write: the admin account (token_id 0)
    sa.Index("ix_api_audit_org_id", "org_id", "id"),
)

# -- the customer portal -----------------------------------------------------------------
# A session's cookie secret is never stored: ``secret_hash`` is its SHA-256
# (32 random bytes need no slow hash).  ``customer_id`` is NULL for a visitor
# who is not signed in but holds a CSRF token for the sign-in form.
portal_sessions = sa.Table(
    "portal_sessions", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("customer_id", sa.Integer, nullable=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),      # absolute expiry
    sa.Index("ix_portal_sessions_customer", "org_id", "customer_id"),
    sa.Index("ix_portal_sessions_expires", "expires_at"),
)

# Failed sign-ins per (org, kind, key): kind "id" keys by the SHA-256 of the
# normalised e-mail or phone typed, kind "ip" by the client's address.
portal_login_throttle = sa.Table(
    "portal_login_throttle", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_failure_at", UTCDateTime, nullable=True),
    sa.Column("locked_until", UTCDateTime, nullable=True),
    sa.UniqueConstraint("org_id", "kind", "key", name="uq_portal_login_throttle"),
    sa.Index("ix_portal_login_throttle_last", "last_failure_at"),
)

# Password-reset links: the token (32 random bytes) is in the link only; the
# table keeps its SHA-256.  Used once (``used_at``), or never after ``expires_at``.
portal_reset_tokens = sa.Table(
    "portal_reset_tokens", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("customer_id", sa.Integer, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
    sa.Index("ix_portal_reset_tokens_customer", "org_id", "customer_id", "created_at"),
)

# -- the admin console -------------------------------------------------------------------
# Human admin accounts (org_id NULL: a platform admin).  ``email`` is kept lower-cased, unique per org
# (``org_key`` is the org id or 0, as NULLs are never equal in a unique index).  The TOTP secret is
# encrypted with the SecretBox; ``totp_step`` is the last time-step a code was accepted for (a code is
# never accepted twice).
admin_accounts = sa.Table(
    "admin_accounts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=True),
    sa.Column("org_key", sa.Integer, nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("name", sa.String(120), nullable=False, server_default=""),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("totp_secret", sa.LargeBinary, nullable=True),
    sa.Column("totp_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("totp_step", sa.BigInteger, nullable=True),
    sa.Column("disabled_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_key", "email", name="uq_admin_accounts_email"),
    sa.Index("ix_admin_accounts_email", "email"),
)

# Recovery codes (10 at enrolment, shown once): the SHA-256 of each (random 50-bit codes).
admin_recovery_codes = sa.Table(
    "admin_recovery_codes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
    sa.Index("ix_admin_recovery_codes_account", "account_id"),
)

# Console sessions, like the portal's: the cookie's secret is stored as its SHA-256; ``mfa_done`` once the
# second factor was given (or the account has none); ``account_id`` NULL for a visitor's CSRF-only session.
admin_sessions = sa.Table(
    "admin_sessions", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("org_id", sa.Integer, nullable=True),
    sa.Column("account_id", sa.Integer, nullable=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("mfa_done", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index("ix_admin_sessions_account", "account_id"),
    sa.Index("ix_admin_sessions_expires", "expires_at"),
)
