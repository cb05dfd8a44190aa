"""The change feed (``aaa_changes``): every write to logins, profiles or nas
appends a row in the same transaction, so every instance (and the daemon
that did not make a CLI write) can bring its memory up to date.

On PostgreSQL, writers take a transaction-scoped advisory lock before
appending, so ids become visible in commit order and a follower reading
``id > last`` never skips a row that commits late.  SQLite has one writer,
which gives the same guarantee.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.schema import aaa_changes

_PG_LOCK_KEY = 0x4141_4144_0001  # "AAAD" change feed


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    org_id: int
    kind: str
    entity_id: int
    op: str


def record(conn: Connection, org_id: int, kind: str, entity_id: int, op: str, now: datetime) -> None:
    """Append a change row in the caller's transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    conn.execute(aaa_changes.insert().values(
        org_id=org_id, kind=kind, entity_id=entity_id, op=op, created_at=now))


def since(conn: Connection, last_id: int, limit: int = 5000) -> list[Change]:
    rows = conn.execute(sa.select(aaa_changes).where(aaa_changes.c.id > last_id)
                        .order_by(aaa_changes.c.id).limit(limit)).all()
    return [Change(r.id, r.org_id, r.kind, r.entity_id, r.op) for r in rows]


def last_id(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(aaa_changes.c.id), 0))).scalar_one()


def prune(conn: Connection, before: datetime) -> int:
    """Delete change rows older than ``before`` (every instance has applied them)."""
    return conn.execute(aaa_changes.delete().where(aaa_changes.c.created_at < before)).rowcount
