"""Each router's last status check (``router_status``), scoped by org.

Written by ``aaad nas status`` and, in the daemon, by whoever runs the
checks (daily, after a failure); read by listings.  One row per NAS.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import nas, paging
from aaad.crypto import SecretBox
from aaad.schema import nas as nas_t
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


@dataclass(frozen=True)
class Router:
    """A NAS with its last recorded status (None: never checked)."""
    nas: nas.Nas
    status: RouterStatus | None


def page_routers(conn: Connection, box: SecretBox, org_id: int, *, reachable: bool | None = None,
                 type: str | None = None, q: str | None = None, sort: str = "id", cursor: str | None = None,
                 limit: int = 50) -> paging.Page[Router]:
    """One page of the org's routers with their last status (see :mod:`aaad.paging`): ``reachable``
    False keeps those whose last check failed (the dashboard's "routers down"), True those that
    answered; ``type`` and ``q`` (part of the name or address) as :func:`aaad.nas.page`; ``sort`` is a
    key of :data:`aaad.nas.SORTS`."""
    query = sa.select(nas_t.c.id).where(nas_t.c.org_id == org_id)
    if reachable is not None:
        query = query.join(router_status, sa.and_(router_status.c.nas_id == nas_t.c.id,
                                                  router_status.c.org_id == org_id)).where(
            router_status.c.reachable.is_(reachable))
    if type is not None:
        query = query.where(nas_t.c.type == type)
    if q:
        like = f"%{q.strip().lower()}%"
        query = query.where(sa.or_(sa.func.lower(nas_t.c.name).like(like), nas_t.c.address.like(like)))
    ids = paging.page(conn, query, sort=sort, columns=nas.SORTS, id_col=nas_t.c.id, cursor=cursor, limit=limit,
                      row=lambda r: int(r.id))
    if not ids.items:
        return paging.Page([], ids.next_cursor)
    found = nas.get_many(conn, box, ids.items)
    rows = conn.execute(sa.select(router_status).where(router_status.c.org_id == org_id,
                                                       router_status.c.nas_id.in_(ids.items)))
    status = {r.nas_id: _status(r) for r in rows}
    return paging.Page([Router(found[i], status.get(i)) for i in ids.items if i in found], ids.next_cursor)
