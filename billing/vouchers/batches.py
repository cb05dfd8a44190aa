"""Batches: N vouchers of a package generated at once (printed on cards), revoked whole if need be."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import paging
from aaad.errors import NotFound, ValidationError
from aaad.schema import logins
from aaad.view.write import Actor, LoginWriter
from billing.vouchers import codes, packages
from billing.vouchers.schema import voucher_batches as vb
from billing.vouchers.schema import voucher_packages as pk
from billing.vouchers.schema import vouchers

MAX_COUNT = 100_000
#: Logins revoked per set_state_many call (each call is a few statements).
_CHUNK = 5000


@dataclass(frozen=True)
class Batch:
    id: int
    org_id: int
    package_id: int
    package_name: str
    count: int
    note: str
    created_at: datetime
    revoked_at: datetime | None


def _select() -> sa.Select[Any]:
    return sa.select(vb, pk.c.name.label("package_name")).select_from(vb.join(pk, pk.c.id == vb.c.package_id))


def _row(r: Any) -> Batch:
    return Batch(r.id, r.org_id, r.package_id, r.package_name, r.count, r.note, r.created_at, r.revoked_at)


def get(conn: Connection, org_id: int, batch_id: int) -> Batch | None:
    r = conn.execute(_select().where(vb.c.org_id == org_id, vb.c.id == batch_id)).first()
    return None if r is None else _row(r)


def require(conn: Connection, org_id: int, batch_id: int) -> Batch:
    b = get(conn, org_id, batch_id)
    if b is None:
        raise NotFound("voucher batch", batch_id)
    return b


SORTS: dict[str, sa.ColumnElement[Any]] = {"id": vb.c.id, "created_at": vb.c.created_at}


def page(conn: Connection, org_id: int, *, package_id: int | None = None, revoked: bool | None = None,
         sort: str = "-id", cursor: str | None = None, limit: int = 50) -> paging.Page[Batch]:
    """One page of the org's batches, newest first unless asked (see :mod:`aaad.paging`)."""
    q = _select().where(vb.c.org_id == org_id)
    if package_id is not None:
        q = q.where(vb.c.package_id == package_id)
    if revoked is not None:
        q = q.where(vb.c.revoked_at.isnot(None) if revoked else vb.c.revoked_at.is_(None))
    return paging.page(conn, q, sort=sort, columns=SORTS, id_col=vb.c.id, cursor=cursor, limit=limit, row=_row)


def create(conn: Connection, writer: LoginWriter, org_id: int, package_id: int, count: int, now: datetime, *,
           note: str = "", code_length: int | None = None, prefix: str | None = None) -> Batch:
    """Generate ``count`` vouchers of the package, with their logins (unused until first login), in the
    caller's transaction.  ``code_length`` and ``prefix`` default to the package's."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        raise ValidationError("count", f"from 1 to {MAX_COUNT}")
    if not isinstance(note, str) or len(note) > 500:
        raise ValidationError("note", "up to 500 characters")
    extra = packages.check({k: v for k, v in (("code_length", code_length), ("prefix", prefix)) if v is not None})
    p = packages.get(conn, org_id, package_id)
    if p is None:
        raise ValidationError("package_id", "no such voucher package in this org")
    if not p.active:
        raise ValidationError("package_id", f"package {p.name!r} is retired: no new vouchers")
    key = conn.execute(vb.insert().values(org_id=org_id, package_id=p.id, count=count, note=note,
                                          created_at=now)).inserted_primary_key
    assert key is not None
    codes.generate(conn, writer, org_id, p, count, now, batch_id=key[0], code_length=extra.get("code_length"),
                   prefix=extra.get("prefix"))
    return require(conn, org_id, key[0])


def revoke(conn: Connection, writer: LoginWriter, org_id: int, batch_id: int, now: datetime) -> Batch:
    """Revoke every voucher of the batch (their logins are rejected with "voucher revoked"; sessions
    running on them are disconnected by enforcement).  Again: nothing more to do."""
    b = require(conn, org_id, batch_id)
    items = [(int(r.login_id), Actor.owner("voucher", int(r.id))) for r in conn.execute(
        sa.select(vouchers.c.id, vouchers.c.login_id)
        .select_from(vouchers.join(logins, logins.c.id == vouchers.c.login_id))
        .where(vouchers.c.org_id == org_id, vouchers.c.batch_id == batch_id, logins.c.state != "revoked")
        .order_by(vouchers.c.id))]
    for i in range(0, len(items), _CHUNK):
        writer.set_state_many(conn, org_id, items[i:i + _CHUNK], "revoked", now, reasons="voucher revoked")
    if b.revoked_at is None:
        conn.execute(vb.update().where(vb.c.org_id == org_id, vb.c.id == batch_id).values(revoked_at=now))
    return require(conn, org_id, batch_id)
