"""The change feed (``aaa_changes``): every write to logins, profiles or nas
appends a row in the same transaction, so every instance (and the daemon
that did not make a CLI write) can bring its memory up to date.

On PostgreSQL, writers take a transaction-scoped advisory lock before
appending, so ids become visible in commit order and a follower reading
``id > last`` never skips a row that commits late; a NOTIFY on the
``aaa_changes`` channel wakes other instances' followers at once.  SQLite
has one writer, which gives the same order.

A write made on the daemon's own writer also notes ``(change, entity)`` in
the transaction (``aaad.db.CHANGES``); after commit the writer hands those
to the in-memory view, before the caller's Deferred fires.

Pruning records the highest id it removed (``core_meta``), so a follower
that was behind it knows it missed changes and reloads its snapshot.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.db import CHANGES, tx_notes
from aaad.schema import aaa_changes, core_meta

_PG_LOCK_KEY = 0x4141_4144_0001  # "AAAD" change feed
NOTIFY_CHANNEL = "aaad_changes"
PRUNED_KEY = "aaa_changes.pruned_through"


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    org_id: int
    kind: str
    entity_id: int
    op: str


def record(conn: Connection, org_id: int, kind: str, entity_id: int, op: str, now: datetime,
           entity: Any = None) -> Change:
    """Append a change row in the caller's transaction.

    ``entity`` is the entity's new state (None for a delete): noted for
    the local view, applied after commit.
    """
    pg = conn.dialect.name == "postgresql"
    if pg:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    pk = conn.execute(aaa_changes.insert().values(
        org_id=org_id, kind=kind, entity_id=entity_id, op=op, created_at=now)).inserted_primary_key
    assert pk is not None  # an INSERT always has one
    cid = pk[0]
    ch = Change(cid, org_id, kind, entity_id, op)
    notes = tx_notes(conn)
    notes.setdefault(CHANGES, []).append((ch, entity))
    if pg and not notes.get("notified"):
        conn.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))  # delivered at commit, once per tx
        notes["notified"] = True
    return ch


def record_many(conn: Connection, org_id: int, kind: str, rows: list[tuple[int, str, Any]],
                now: datetime) -> list[Change]:
    """Append many change rows, in order, in one INSERT in the caller's transaction
    (a batch job's chunk): ``rows`` are ``(entity_id, op, entity)`` as for :func:`record`,
    each noted for the local view like :func:`record` does."""
    if not rows:
        return []
    pg = conn.dialect.name == "postgresql"
    if pg:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    # Batched multi-row INSERTs, RETURNING unordered (SQLite can only order RETURNING one
    # row per statement); the ids are assigned in row order, checked here.
    got = sorted(conn.execute(aaa_changes.insert().returning(aaa_changes.c.id, aaa_changes.c.entity_id),
                              [{"org_id": org_id, "kind": kind, "entity_id": eid, "op": op, "created_at": now}
                               for eid, op, _ in rows]).all())
    if [eid for _, eid in got] != [eid for eid, _, _ in rows]:
        raise RuntimeError("aaa_changes ids not assigned in row order")
    out = [Change(cid, org_id, kind, eid, op) for (cid, _), (eid, op, _) in zip(got, rows, strict=True)]
    notes = tx_notes(conn)
    notes.setdefault(CHANGES, []).extend((ch, entity) for ch, (_, _, entity) in zip(out, rows, strict=True))
    if pg and not notes.get("notified"):
        conn.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))  # delivered at commit, once per tx
        notes["notified"] = True
    return out


def since(conn: Connection, last_id: int, limit: int = 5000) -> list[Change]:
    rows = conn.execute(sa.select(aaa_changes).where(aaa_changes.c.id > last_id)
                        .order_by(aaa_changes.c.id).limit(limit)).all()
    return [Change(r.id, r.org_id, r.kind, r.entity_id, r.op) for r in rows]


def last_id(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(aaa_changes.c.id), 0))).scalar_one())


def pruned_through(conn: Connection) -> int:
    v = conn.execute(sa.select(core_meta.c.value).where(core_meta.c.key == PRUNED_KEY)).scalar()
    return int(v) if v else 0


def prune(conn: Connection, before: datetime) -> int:
    """Delete change rows older than ``before`` and remember the highest id removed.

    The newest row is always kept: SQLite gives a new row the highest id in the
    table plus one, so an emptied table would hand out ids again from 1, below
    every follower's position, and those changes would never be applied."""
    newest = sa.select(sa.func.max(aaa_changes.c.id)).scalar_subquery()
    top = conn.execute(sa.select(sa.func.max(aaa_changes.c.id))
                       .where(aaa_changes.c.created_at < before, aaa_changes.c.id < newest)).scalar()
    if top is None:
        return 0
    n = conn.execute(aaa_changes.delete().where(aaa_changes.c.id <= top)).rowcount
    if conn.execute(core_meta.update().where(core_meta.c.key == PRUNED_KEY)
                    .values(value=str(top))).rowcount == 0:
        conn.execute(core_meta.insert().values(key=PRUNED_KEY, value=str(top)))
    return int(n)
