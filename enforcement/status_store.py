"""Each router's last status check (``router_status``), scoped by org.

Written by ``aaad nas status`` and, in the daemon, by whoever runs the
checks (daily, after a failure); read by listings.  One row per NAS.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from enforcement.routeros import RouterStatus
from enforcement.schema import router_status


def record(conn: Connection, org_id: int, nas_id: int, status: RouterStatus) -> None:
    """Store ``status`` as the NAS's last one (``checked_at`` must be set)."""
    if status.checked_at is None:
        raise ValueError("a stored status needs checked_at")
    values = {"reachable": status.reachable, "version": status.version, "board": status.board,
              "identity": status.identity, "error": status.error or "", "checked_at": status.checked_at}
    where = (router_status.c.org_id == org_id, router_status.c.nas_id == nas_id)
    if conn.execute(router_status.update().where(*where).values(**values)).rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(router_status.insert().values(nas_id=nas_id, org_id=org_id, **values))
    except sa.exc.IntegrityError:  # another process inserted it first: ours is as recent
        conn.execute(router_status.update().where(*where).values(**values))


def _status(r: Any) -> RouterStatus:
    return RouterStatus(bool(r.reachable), r.version, r.board, r.identity, error=r.error or None,
                        checked_at=r.checked_at)


def last(conn: Connection, org_id: int, nas_id: int) -> RouterStatus | None:
    """The NAS's last recorded status, or None if it was never checked."""
    r = conn.execute(sa.select(router_status).where(router_status.c.org_id == org_id,
                                                    router_status.c.nas_id == nas_id)).first()
    return _status(r) if r else None


def for_org(conn: Connection, org_id: int) -> dict[int, RouterStatus]:
    """The last status of every checked NAS of the org, by NAS id."""
    rows = conn.execute(sa.select(router_status).where(router_status.c.org_id == org_id))
    return {r.nas_id: _status(r) for r in rows}
