"""Vouchers: reading them (with their login's state and what is left), their history, revoking,
and selling one to a customer (the portal's purchase).

A voucher's state is its login's: ``unused`` (never used), ``active`` (claimed at
its first login), ``exhausted`` (its time or data used up), ``revoked``, or
``expired`` (the login marked so, or its validity passed).  A voucher's password
is its login's secret: shown only where the caller hands in the secret box.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import events, paging
from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from aaad.schema import logins
from aaad.view.write import Actor, LoginWriter
from accounting.schema import sessions as acct_sessions
from billing import settings
from billing.documents import _locale, format_money
from billing.events import VoucherSold
from billing.schema import customers
from billing.vouchers import codes, packages
from billing.vouchers.packages import Package
from billing.vouchers.schema import voucher_batches as vb
from billing.vouchers.schema import voucher_packages as pk
from billing.vouchers.schema import vouchers as vt

STATES = ("unused", "active", "exhausted", "revoked", "expired")


@dataclass(frozen=True)
class Voucher:
    id: int
    org_id: int
    package_id: int
    package_name: str
    batch_id: int | None
    code: str
    password: str | None            # None unless read with the secret box
    code_only: bool
    login_id: int | None
    customer_id: int | None
    transaction_id: int | None
    price: int                      # minor units, the package's price when made
    currency: str
    price_text: str
    state: str                      # one of STATES
    created_at: datetime
    sold_at: datetime | None
    first_used_at: datetime | None
    expires_at: datetime | None     # when it stops being valid (fixed, or first use + validity)
    validity_seconds: int | None
    time_limit: int | None
    data_limit: int | None
    time_used: int
    octets_used: int
    bound_mac: str | None

    @property
    def time_left(self) -> int | None:
        return None if self.time_limit is None else max(0, self.time_limit - self.time_used)

    @property
    def data_left(self) -> int | None:
        return None if self.data_limit is None else max(0, self.data_limit - self.octets_used)


#: What the portal lists for a customer (the same object).
VoucherView = Voucher


def voucher_state(login_state: str | None, expiry: datetime | None, now: datetime | None) -> str:
    """A voucher's state from its login's state and effective expiry at ``now`` (None: not derived)."""
    if login_state is None:
        return "revoked"          # its login was removed
    if login_state in ("unused", "active") and expiry is not None and now is not None and expiry <= now:
        return "expired"
    return login_state if login_state in STATES else "revoked"


def _expiry(r: Any) -> datetime | None:
    cands = [r.l_expires_at] if r.l_expires_at is not None else []
    if r.validity_seconds is not None and r.first_used_at is not None:
        cands.append(r.first_used_at + timedelta(seconds=r.validity_seconds))
    return min(cands) if cands else None


def _select(secrets: bool = False) -> sa.Select[Any]:
    """Vouchers with their package and login; ``secrets``: with the login's encrypted secret too."""
    cols: list[Any] = [vt, pk.c.name.label("package_name"), pk.c.code_only, logins.c.state.label("l_state"),
                       logins.c.first_used_at, logins.c.expires_at.label("l_expires_at"),
                       logins.c.validity_seconds, logins.c.time_limit, logins.c.data_limit, logins.c.time_used,
                       logins.c.octets_used, logins.c.bound_mac]
    if secrets:
        cols.append(logins.c.secret_enc)
    return sa.select(*cols).select_from(
        vt.join(pk, pk.c.id == vt.c.package_id)
        .outerjoin(logins, sa.and_(logins.c.id == vt.c.login_id, logins.c.org_id == vt.c.org_id)))


class _Reader:
    """Rows to Vouchers with the org's money format, the secret box and the clock."""

    def __init__(self, conn: Connection, org_id: int, now: datetime | None, box: SecretBox | None,
                 st: settings.Settings | None = None):
        st = st or settings.get(conn, org_id)
        self.currency, self.locale, self.now, self.box = st.currency, _locale(st.locale), now, box

    def __call__(self, r: Any) -> Voucher:
        pw: str | None = None
        if r.code_only:
            pw = r.code
        elif self.box is not None and getattr(r, "secret_enc", None) is not None:
            pw = self.box.decrypt(r.secret_enc).decode()
        exp = _expiry(r)
        price = int(r.price)
        return Voucher(r.id, r.org_id, r.package_id, r.package_name, r.batch_id, r.code, pw, bool(r.code_only),
                       r.login_id, r.customer_id, r.transaction_id, price, self.currency,
                       format_money(price, self.currency, self.locale), voucher_state(r.l_state, exp, self.now),
                       r.created_at, r.sold_at, r.first_used_at, exp, r.validity_seconds, r.time_limit,
                       None if r.data_limit is None else int(r.data_limit), int(r.time_used or 0),
                       int(r.octets_used or 0), r.bound_mac)


def get(conn: Connection, org_id: int, voucher_id: int, now: datetime | None = None, *,
        box: SecretBox | None = None) -> Voucher | None:
    r = conn.execute(_select(box is not None).where(vt.c.org_id == org_id, vt.c.id == voucher_id)).first()
    return None if r is None else _Reader(conn, org_id, now, box)(r)


def require(conn: Connection, org_id: int, voucher_id: int, now: datetime | None = None, *,
            box: SecretBox | None = None) -> Voucher:
    v = get(conn, org_id, voucher_id, now, box=box)
    if v is None:
        raise NotFound("voucher", voucher_id)
    return v


def by_code(conn: Connection, org_id: int, code: str, now: datetime | None = None, *,
            box: SecretBox | None = None) -> Voucher | None:
    """The voucher with this code (as typed: case and spaces do not matter)."""
    r = conn.execute(_select(box is not None).where(vt.c.org_id == org_id, vt.c.code == codes.normalise(code))).first()
    return None if r is None else _Reader(conn, org_id, now, box)(r)


def find(conn: Connection, org_id: int, key: str, now: datetime | None = None, *,
         box: SecretBox | None = None) -> Voucher:
    """By code, or by id (the CLI's way in); NotFound otherwise."""
    v = by_code(conn, org_id, key, now, box=box)
    if v is None and key.isdigit():
        v = get(conn, org_id, int(key), now, box=box)
    if v is None:
        raise NotFound("voucher", key)
    return v


def state_of(conn: Connection, org_id: int, voucher_id: int, now: datetime) -> str:
    return require(conn, org_id, voucher_id, now).state


def list_for_batch(conn: Connection, org_id: int, batch_id: int, now: datetime | None = None, *,
                   box: SecretBox | None = None) -> list[Voucher]:
    """Every voucher of a batch, by id (cards, CSV)."""
    read = _Reader(conn, org_id, now, box)
    q = _select(box is not None).where(vt.c.org_id == org_id, vt.c.batch_id == batch_id).order_by(vt.c.id)
    return [read(r) for r in conn.execute(q)]


SORTS: dict[str, sa.ColumnElement[Any]] = {"id": vt.c.id, "code": vt.c.code, "created_at": vt.c.created_at}


def page(conn: Connection, org_id: int, now: datetime | None = None, *, batch_id: int | None = None,
         package_id: int | None = None, customer_id: int | None = None, state: str | None = None,
         sold: bool | None = None, sold_since: datetime | None = None, sort: str = "id",
         cursor: str | None = None, limit: int = 50, box: SecretBox | None = None) -> paging.Page[Voucher]:
    """One page of the org's vouchers (see :mod:`aaad.paging`).  ``state`` filters on the login's
    state as stored (a voucher whose validity ran out shows ``expired`` but is found under the
    state its login still has until the login is marked expired)."""
    q = _select(box is not None).where(vt.c.org_id == org_id)
    if batch_id is not None:
        q = q.where(vt.c.batch_id == batch_id)
    if package_id is not None:
        q = q.where(vt.c.package_id == package_id)
    if customer_id is not None:
        q = q.where(vt.c.customer_id == customer_id)
    if sold is not None:
        q = q.where(vt.c.sold_at.isnot(None) if sold else vt.c.sold_at.is_(None))
    if sold_since is not None:
        q = q.where(vt.c.sold_at >= sold_since)
    if state is not None:
        if state not in STATES:
            raise ValidationError("state", "one of " + ", ".join(STATES))
        q = q.where(logins.c.state == state)
    return paging.page(conn, q, sort=sort, columns=SORTS, id_col=vt.c.id, cursor=cursor, limit=limit,
                       row=_Reader(conn, org_id, now, box))


def revoke(conn: Connection, writer: LoginWriter, org_id: int, voucher_id: int, now: datetime) -> Voucher:
    """Revoke a voucher: its login is rejected with "voucher revoked" (a running session is
    disconnected by enforcement).  Revoking a revoked voucher changes nothing."""
    v = require(conn, org_id, voucher_id, now)
    if v.login_id is not None and v.state != "revoked":
        writer.set_state(conn, org_id, v.login_id, "revoked", now, actor=Actor.owner("voucher", v.id),
                         reason="voucher revoked")
    return require(conn, org_id, voucher_id, now)


def portal_packages(conn: Connection, org_id: int) -> list[Package]:
    """The packages customers can buy on the portal (active, shown), cheapest first."""
    return packages.list_packages(conn, org_id, portal_only=True)


def portal_package_count(conn: Connection, org_id: int) -> int:
    """How many packages :func:`portal_packages` lists (one count, no rows)."""
    return packages.count_packages(conn, org_id, portal_only=True)


def sell(conn: Connection, writer: LoginWriter, org_id: int, package_id: int, now: datetime, *,
         customer_id: int, transaction_id: int | None = None, price: int | None = None) -> Voucher:
    """One new voucher of the package, sold to the customer now (publishes ``voucher.sold``), with its
    password.  With ``transaction_id``: once per transaction — a repeated call (a webhook and the
    return page, a retry) returns the voucher that transaction already bought.  ``price``: what it
    was sold for, if not the package's price (0: given away, e.g. assigned with a new account)."""
    if transaction_id is not None:
        r = conn.execute(sa.select(vt.c.id).where(vt.c.org_id == org_id, vt.c.transaction_id == transaction_id)
                         ).first()
        if r is not None:
            return require(conn, org_id, int(r.id), now, box=writer.box)
    if conn.execute(sa.select(customers.c.id).where(customers.c.org_id == org_id,
                                                    customers.c.id == customer_id)).first() is None:
        raise ValidationError("customer_id", "no such customer in this org")
    p = packages.get(conn, org_id, package_id)
    if p is None:
        raise ValidationError("package_id", "no such voucher package in this org")
    if not p.active:
        raise ValidationError("package_id", f"package {p.name!r} is no longer sold")
    if price is not None and (not isinstance(price, int) or isinstance(price, bool) or price < 0):
        raise ValidationError("price", "minor units, 0 or more")
    paid = p.price if price is None else price
    [(vid, code, _pw)] = codes.generate(conn, writer, org_id, p, 1, now, customer_id=customer_id, sold_at=now,
                                        transaction_id=transaction_id, price=paid)
    events.publish(conn, org_id, VoucherSold(vid, customer_id, p.id, code, paid, p.currency,
                                             transaction_id), now)
    return require(conn, org_id, vid, now, box=writer.box)


#: of_customer's statements (every dashboard load), built once: without and with the logins' secrets.
_OF_CUSTOMER = {secrets: _select(secrets)
                .where(vt.c.org_id == sa.bindparam("org_id"), vt.c.customer_id == sa.bindparam("customer_id"))
                .order_by(vt.c.id.desc()) for secrets in (False, True)}


def of_customer(conn: Connection, org_id: int, customer_id: int, now: datetime | None = None, *,
                box: SecretBox | None = None, st: settings.Settings | None = None) -> list[VoucherView]:
    """The customer's vouchers, newest first: code, password (with ``box``; a code-only voucher's is
    its code), package, price, state (expiry derived at ``now``), sold at, time and data left.
    ``st``: the org's billing settings when the caller has them (saves reading them)."""
    read = _Reader(conn, org_id, now, box, st)
    return [read(r) for r in conn.execute(_OF_CUSTOMER[box is not None],
                                          {"org_id": org_id, "customer_id": customer_id})]


# -- history -------------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    what: str          # created | sold | first_use | session | revoked
    detail: str


@dataclass(frozen=True)
class SessionUse:
    start_time: datetime
    stop_time: datetime | None
    session_time: int
    input_octets: int
    output_octets: int
    calling_station: str | None
    framed_ip: str | None


@dataclass(frozen=True)
class History:
    voucher: Voucher
    entries: list[HistoryEntry]
    sessions: list[SessionUse]
    session_time: int          # summed over the sessions accounting recorded
    octets: int


def history(conn: Connection, org_id: int, voucher_id: int, now: datetime | None = None, *,
            limit: int = 500) -> History:
    """What happened to a voucher, oldest first: created (in a batch or sold online), sold, first use
    (and the device it was bound to), its sessions (from accounting, the latest ``limit``), revoked."""
    v = require(conn, org_id, voucher_id, now)
    entries = [HistoryEntry(v.created_at, "created",
                            f"batch {v.batch_id}" if v.batch_id is not None else "sold online")]
    if v.sold_at is not None:
        cust = conn.execute(sa.select(customers.c.username).where(customers.c.org_id == org_id,
                                                                  customers.c.id == v.customer_id)).scalar()
        entries.append(HistoryEntry(v.sold_at, "sold", f"to {cust or v.customer_id}: {v.price_text}"))
    if v.first_used_at is not None:
        entries.append(HistoryEntry(v.first_used_at, "first_use",
                                    f"bound to {v.bound_mac}" if v.bound_mac else "first login"))
    sess: list[SessionUse] = []
    if v.login_id is not None:
        rows = list(conn.execute(
            sa.select(acct_sessions.c.start_time, acct_sessions.c.stop_time, acct_sessions.c.session_time,
                      acct_sessions.c.input_octets, acct_sessions.c.output_octets,
                      acct_sessions.c.calling_station, acct_sessions.c.framed_ip)
            .where(acct_sessions.c.login_id == v.login_id, acct_sessions.c.org_id == org_id)
            .order_by(acct_sessions.c.start_time.desc()).limit(limit)))
        sess = [SessionUse(r.start_time, r.stop_time, int(r.session_time), int(r.input_octets),
                           int(r.output_octets), r.calling_station, r.framed_ip) for r in reversed(rows)]
    for s in sess:
        entries.append(HistoryEntry(s.start_time, "session",
                                    f"{s.session_time} s, {s.input_octets + s.output_octets} octets"
                                    + (f" from {s.calling_station}" if s.calling_station else "")
                                    + ("" if s.stop_time else " (running)")))
    if v.state == "revoked":
        at = conn.execute(sa.select(vb.c.revoked_at).where(vb.c.org_id == org_id, vb.c.id == v.batch_id)
                          ).scalar() if v.batch_id is not None else None
        if at is None and v.login_id is not None:
            at = conn.execute(sa.select(logins.c.updated_at).where(logins.c.id == v.login_id)).scalar()
        if at is not None:
            entries.append(HistoryEntry(at, "revoked", "voucher revoked"))
    entries.sort(key=lambda e: e.at)
    return History(v, entries, sess, sum(s.session_time for s in sess),
                   sum(s.input_octets + s.output_octets for s in sess))
