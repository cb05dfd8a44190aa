"""The core tables aaad owns (DESIGN.md, "The core tables aaad owns").

Times are stored as timezone-aware UTC; money and counters are integers.
Every tenant-owned row carries ``org_id``.
"""
from __future__ import annotations

import sqlalchemy as sa

from aaad.db import BigId, metadata
from aaad.db import UTCDateTime as _UTC

UTCDateTime = _UTC()

orgs = sa.Table(
    "orgs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("currency", sa.String(3), nullable=False, server_default="USD"),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

nas = sa.Table(
    "nas", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("address", sa.String(64), nullable=False, unique=True),  # IP or CIDR
    sa.Column("secret_enc", sa.LargeBinary, nullable=False),
    sa.Column("type", sa.String(32), nullable=False, server_default="mikrotik"),
    sa.Column("coa_port", sa.Integer, nullable=False, server_default="3799"),
    sa.Column("require_message_authenticator", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("api_host", sa.String(255)),
    sa.Column("api_port", sa.Integer),
    sa.Column("api_username", sa.String(100)),
    sa.Column("api_password_enc", sa.LargeBinary),
    sa.Column("api_tls", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "name", name="uq_nas_org_name"),
)

profiles = sa.Table(
    "profiles", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("rate_limit", sa.String(200)),          # Mikrotik-Rate-Limit, e.g. "10M/10M"
    sa.Column("fup_rate_limit", sa.String(200)),      # rate once the data cap is passed
    sa.Column("session_timeout", sa.Integer),         # seconds
    sa.Column("pool", sa.String(100)),                # Framed-Pool
    sa.Column("interim_interval", sa.Integer),        # Acct-Interim-Interval seconds
    sa.Column("address_list", sa.String(100)),        # Mikrotik-Address-List
    sa.Column("block_when_exhausted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("fup_tiers", sa.Text),                  # FUP tiers, JSON [{"after": octets, "rate_limit"}] (aaad.fup)
    sa.Column("free_hours", sa.String(11)),           # "HH:MM-HH:MM" local time whose traffic does not count
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "name", name="uq_profiles_org_name"),
)

LOGIN_STATES = ("active", "disabled", "suspended", "expired", "exhausted", "unused", "revoked")
SUSPEND_MODES = ("reject", "walled_garden")

logins = sa.Table(
    "logins", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("username", sa.String(253), nullable=False),
    sa.Column("secret_enc", sa.LargeBinary, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="active"),
    sa.Column("suspend_mode", sa.String(16), nullable=False, server_default="reject"),
    sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id")),
    sa.Column("framed_ip", sa.String(64)),
    sa.Column("rate_limit", sa.String(200)),          # per-login override of the profile's
    sa.Column("simultaneous_use", sa.Integer),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("validity_seconds", sa.Integer),        # N seconds from first use
    sa.Column("first_used_at", UTCDateTime),
    sa.Column("data_cap", sa.BigInteger),             # octets per cycle, in+out
    sa.Column("cycle_anchor", UTCDateTime),
    sa.Column("owner_type", sa.String(32)),           # which billing object wrote it; None for the CLI
    sa.Column("owner_id", sa.Integer),
    sa.Column("throttle_level", sa.Integer, nullable=False, server_default="0"),  # FUP tier; 0 = none
    sa.Column("cycle_start", UTCDateTime),            # start of the quota cycle last entered (system-managed)
    sa.Column("time_limit", sa.Integer),              # seconds of online time in total (vouchers)
    sa.Column("data_limit", sa.BigInteger),           # octets in+out in total (vouchers; not per cycle)
    sa.Column("bind_mac", sa.Boolean, nullable=False, server_default=sa.false()),  # bind to the first device
    sa.Column("time_used", sa.Integer, nullable=False, server_default="0"),      # system-managed (accounting)
    sa.Column("octets_used", sa.BigInteger, nullable=False, server_default="0"),  # system-managed (accounting)
    sa.Column("bound_mac", sa.String(17)),            # the first device's MAC, set at the claim
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "username", name="uq_logins_org_username"),
    sa.CheckConstraint(sa.text("state IN ('active','disabled','suspended','expired','exhausted','unused',"
                               "'revoked')"),
                       name="state"),
    sa.CheckConstraint(sa.text("suspend_mode IN ('reject','walled_garden')"), name="suspend_mode"),
)

aaa_changes = sa.Table(
    "aaa_changes", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),     # login | profile | nas | org
    sa.Column("entity_id", sa.Integer, nullable=False),
    sa.Column("op", sa.String(8), nullable=False),        # upsert | delete
    sa.Column("created_at", UTCDateTime, nullable=False),
)

core_meta = sa.Table(
    "core_meta", metadata,  # small named values the core keeps (e.g. the change feed's prune mark)
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),         # JSON of the payload dataclass
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Each subscriber's delivery position in the outbox (aaad.events).
event_subscribers = sa.Table(
    "event_subscribers", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("types", sa.Text, nullable=False),            # the event types it takes, comma-separated
    sa.Column("position", BigId, nullable=False, server_default="0"),  # every event <= this was handled
    sa.Column("seen_at", UTCDateTime, nullable=False),      # last registered by a running dispatcher
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Events a subscriber failed on: 'failing' (the head of that org's queue,
# retried with back-off; later events of the org wait behind it), 'dead'
# (parked after the bound; kept until retried) and 'retry' (a dead one an
# operator re-queued).
event_failures = sa.Table(
    "event_failures", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("subscriber", sa.String(100), nullable=False),
    sa.Column("event_id", BigId, nullable=False),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("subscriber", "event_id", name="uq_event_failures_subscriber_event"),
    sa.Index("ix_event_failures_due", "subscriber", "state", "next_attempt_at"),
    sa.CheckConstraint(sa.text("state IN ('failing','dead','retry')"), name="state"),
)

job_runs = sa.Table(
    "job_runs", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("org_id", sa.Integer, nullable=False),       # 0 for jobs that are not per org
    sa.Column("period", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),    # running | done | failed
    sa.Column("progress", sa.Text),                        # the job's checkpoint, committed with its work
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("error", sa.Text),
    sa.Column("lease_owner", sa.String(100)),              # the runner holding the period (aaad.jobs)
    sa.Column("lease_expires_at", UTCDateTime),            # others may take it over after this
    sa.UniqueConstraint("job", "org_id", "period", name="uq_job_runs_job_org_period"),
)

trial_uses = sa.Table(
    "trial_uses", metadata,  # a hotspot's free trial: one per device (MAC) per local day (aaad.trial)
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("orgs.id"), nullable=False),
    sa.Column("mac", sa.String(17), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),          # the org's local date, YYYY-MM-DD
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("resets_at", UTCDateTime, nullable=False),      # the org's next local midnight
    sa.UniqueConstraint("org_id", "mac", "day", name="uq_trial_uses_org_mac_day"),
)

auth_log = sa.Table(
    "auth_log", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("org_id", sa.Integer),
    sa.Column("nas_id", sa.Integer),
    sa.Column("username", sa.String(253)),
    sa.Column("method", sa.String(16)),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(200)),
    sa.Column("calling_station", sa.String(64)),
    sa.Column("latency_us", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_auth_log_user_time", "org_id", "username", "created_at"),
)
