"""Quota cycles of logins: at a login's cycle boundary, ``cycle.started``.

A login with a data cap (or one that is exhausted or throttled) enters a
new cycle monthly from its ``cycle_anchor`` in the org's zone
(:func:`aaad.cycles.cycle_of`).  The job finds logins whose stored
``cycle_start`` is older than the cycle holding now and starts their new
cycle through the write path (:meth:`LoginWriter.start_cycle`): an
exhausted login is active again, the throttle is lifted, and
``cycle.started`` is published.  Each login's ``cycle_start`` is written
with it, so a daemon that was down across a boundary catches up at its next
run, and a run repeated (a crash, another runner) starts nothing twice.
A login seen for the first time just records the cycle it is in.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.cycles import cycle_of, zone
from aaad.schema import logins, orgs
from aaad.view.write import LoginWriter


@dataclass(frozen=True)
class CycleChunk:
    last_id: int
    scanned: int
    started: int


def start_cycles_chunk(conn: Connection, writer: LoginWriter, org_id: int, now: datetime,
                       after_id: int, limit: int) -> CycleChunk:
    """Start the new cycle of up to ``limit`` logins of one org with id > ``after_id``."""
    tz = zone(conn.execute(sa.select(orgs.c.timezone).where(orgs.c.id == org_id)).scalar())
    c = logins.c
    rows = conn.execute(
        sa.select(c.id, c.cycle_anchor, c.cycle_start, c.state, c.throttle_level)
        .where(c.org_id == org_id, c.id > after_id,
               sa.or_(c.data_cap.is_not(None), c.state == "exhausted", c.throttle_level > 0),
               # a voucher's total limits never renew: exhausted by them, it stays so
               c.time_limit.is_(None), c.data_limit.is_(None))
        .order_by(c.id).limit(limit)).all()
    started = 0
    for r in rows:
        start, _end = cycle_of(r.cycle_anchor, tz, now)
        if r.cycle_start is not None and r.cycle_start >= start:
            continue
        if r.cycle_start is None:
            # first sight: note the cycle it is in (an exhausted login stays so until the next)
            conn.execute(logins.update().where(c.id == r.id, c.cycle_start.is_(None))
                         .values(cycle_start=start))
            continue
        if writer.start_cycle(conn, org_id, r.id, start, now):
            started += 1
    return CycleChunk(rows[-1].id if rows else after_id, len(rows), started)
