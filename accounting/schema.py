"""The accounting tables: sessions, NAS epochs, usage buckets and per-cycle usage.

Counters are 64-bit (Acct-*-Gigawords folded in); times are aware UTC.
``sessions`` keeps no foreign key to ``logins`` or ``nas``: a session is a
historical record that outlives the login or router it was about.
"""
from __future__ import annotations

import sqlalchemy as sa

from aaad.db import BigId, metadata
from aaad.db import UTCDateTime as _UTC

UTCDateTime = _UTC()

# A session still has octets that are not in a usage bucket yet.  The same
# text is the partial index's condition and the aggregation query's, so
# both SQLite and PostgreSQL use the (small) index.
UNAGGREGATED = "input_octets > agg_input_octets OR output_octets > agg_output_octets"
OPEN = "stop_time IS NULL"

sessions = sa.Table(
    "acct_sessions", metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("session_key", sa.String(32), nullable=False, unique=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("nas_id", sa.Integer, nullable=False),
    sa.Column("session_id", sa.String(253), nullable=False),          # Acct-Session-Id
    sa.Column("login_id", sa.Integer),                                 # None: unknown user name
    sa.Column("username", sa.String(253), nullable=False),
    sa.Column("nas_port", sa.BigInteger),
    sa.Column("nas_port_id", sa.String(253)),
    sa.Column("framed_ip", sa.String(64)),
    sa.Column("calling_station", sa.String(253)),
    sa.Column("called_station", sa.String(253)),
    sa.Column("start_time", UTCDateTime, nullable=False),
    sa.Column("last_update", UTCDateTime, nullable=False),
    sa.Column("stop_time", UTCDateTime),
    sa.Column("input_octets", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("output_octets", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("input_packets", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("output_packets", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("session_time", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("terminate_cause", sa.Integer),
    sa.Column("interim_interval", sa.Integer),
    sa.Column("class_attr", sa.String(512)),                           # Class echoed by the NAS
    sa.Column("nas_ip", sa.String(64)),          # the address the NAS sent from (CoA target of a NAS network)
    sa.Column("agg_input_octets", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("agg_output_octets", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("agg_at", UTCDateTime),   # last_update of the counters last aggregated (the free-hours split)
    sa.Index("ix_acct_sessions_login_start", "login_id", "start_time"),
    sa.Index("ix_acct_sessions_org_start", "org_id", "start_time", "id"),   # the API's listing, newest first
    sa.Index("ix_acct_sessions_org_ip", "org_id", "framed_ip", "start_time"),  # the console's search by IP (a0007)
    sa.Index("ix_acct_sessions_open_nas", "nas_id",
             sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN)),
    sa.Index("ix_acct_sessions_open_update", "last_update",
             sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN)),
    sa.Index("ix_acct_sessions_unaggregated", "id",
             sqlite_where=sa.text(UNAGGREGATED), postgresql_where=sa.text(UNAGGREGATED)),
)

# Per NAS: its Accounting-On/Off epoch, the fallback session identity for
# sessions without a Class (see accounting.sessions.session_key).
nas_state = sa.Table(
    "acct_nas_state", metadata,
    sa.Column("nas_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("epoch_at", UTCDateTime),     # event time of the Accounting-On/Off that began it
)

LEVELS = ("slot", "hour", "day")

usage = sa.Table(
    "acct_usage", metadata,
    sa.Column("login_id", sa.Integer, primary_key=True),
    sa.Column("level", sa.String(4), primary_key=True),     # slot (5 min) | hour | day
    sa.Column("start", UTCDateTime, primary_key=True),      # UTC start of the slot / local hour / local day
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("octets_in", sa.BigInteger, nullable=False, server_default="0"),   # from the user
    sa.Column("octets_out", sa.BigInteger, nullable=False, server_default="0"),  # to the user
    sa.Index("ix_acct_usage_level_start", "level", "start"),
)

usage_cycles = sa.Table(
    "acct_usage_cycles", metadata,
    sa.Column("login_id", sa.Integer, primary_key=True),
    sa.Column("cycle_start", UTCDateTime, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("octets", sa.BigInteger, nullable=False, server_default="0"),      # in + out
    sa.Column("exceeded_at", UTCDateTime),   # set once, with the usage.quota_exceeded event
    sa.Column("warned_at", UTCDateTime),     # set once, with the usage.quota_warning event (80 %)
)
