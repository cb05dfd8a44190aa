"""Enforcement's tables: the durable action queue and each router's last status.

``enforcement_actions`` is the outbox of what enforcement decided to do to a
router (a Disconnect-Request, a CoA-Request with a new rate): a row is
written by the event subscriber in the transaction that advances its
delivery position, *before* anything is sent, and its outcome is written
back after the NAS answered (or did not).  A redelivered event finds its
rows already there (unique per event, session and kind), so nothing is
decided twice; a restart sends the rows still pending, so nothing is lost.
A router-wide action (``sync_profiles``: the org's profiles onto a router
through its API) has no session: ``session_row`` 0.
"""
from __future__ import annotations

import sqlalchemy as sa

from aaad.db import BigId, metadata
from aaad.db import UTCDateTime as _UTC

UTCDateTime = _UTC()

actions = sa.Table(
    "enforcement_actions", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),            # disconnect | coa | sync_profiles
    sa.Column("cause", sa.String(40), nullable=False),           # the event type, or manual / coa.nak
    sa.Column("event_id", sa.BigInteger),                        # the event that decided it (None: manual)
    sa.Column("login_id", sa.Integer),
    sa.Column("username", sa.String(253), nullable=False),
    sa.Column("nas_id", sa.Integer, nullable=False),
    sa.Column("session_row", sa.BigInteger, nullable=False),     # acct_sessions.id (0: none known)
    sa.Column("acct_session_id", sa.String(253), nullable=False, server_default=""),
    sa.Column("framed_ip", sa.String(64)),
    sa.Column("nas_ip", sa.String(64)),          # the session's NAS address (where a NAS network's CoA goes)
    sa.Column("attrs", sa.Text, nullable=False, server_default="{}"),   # JSON: extra attributes (rate limit)
    sa.Column("reason", sa.Text, nullable=False, server_default=""),    # why: the change that caused it
    sa.Column("state", sa.String(12), nullable=False, server_default="pending"),  # pending | done | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("outcome", sa.String(16)),        # ack | nak | gone | timeout | fallback | error | skipped
    sa.Column("error_cause", sa.Integer),       # RFC 5176 Error-Cause of a NAK
    sa.Column("detail", sa.Text, nullable=False, server_default=""),    # the outcome in words
    sa.Column("fallback", sa.String(16)),       # api: removed through the RouterOS API
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),          # first put on the wire
    sa.Column("done_at", UTCDateTime),
    sa.Column("rtt_ms", sa.Integer),            # first send to the answer
    sa.UniqueConstraint("event_id", "nas_id", "session_row", "kind", name="uq_enforcement_actions_event"),
    sa.Index("ix_enforcement_actions_state", "state", "id"),
    sa.Index("ix_enforcement_actions_login", "org_id", "login_id", "id"),
    sa.Index("ix_enforcement_actions_nas", "org_id", "nas_id", "id"),
)

router_status = sa.Table(
    "router_status", metadata,
    sa.Column("nas_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("reachable", sa.Boolean, nullable=False),
    sa.Column("version", sa.String(64)),
    sa.Column("board", sa.String(128)),
    sa.Column("identity", sa.String(128)),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("checked_at", UTCDateTime, nullable=False),
)
