"""What the admin console reads: the dashboard's figures, customer search, a customer's page.

Read-only, every query scoped by the org.  The console's pages (``web/admin``) call these and
render; they hold no SQL and decide nothing.

- :func:`figures`: the dashboard — online sessions now, revenue today and this month (payments
  received, on the org's local calendar), voucher sales today and this month (online and at the
  counter: the cash side of their journal entries), open invoices and arrears, pending registrations,
  placed orders, open tickets, routers down, failed actions and failed messages.  One query per
  table; each :class:`Figure` names the list and the filter that shows its rows, so a page can
  link it.
- :func:`search`: customers by name (every word, case-insensitive), username (the customer's or a
  login's), phone (any form: ``0540000000`` and ``+233540000000`` are the same number), e-mail, or
  IP address (an open or recent session's Framed-IP-Address, or a login's fixed IP); exact matches
  first.  An e-mail, a phone, an IP, or an identifier with a digit (``john-doe-5432``, a login's
  ``cpe-1001``) that found its customer lists that customer alone.  The exact forms are index
  lookups; names and partial usernames use trigram indexes on PostgreSQL (``pg_trgm``, migration
  b0014) and, on SQLite, a scan of the (org, name) and (org, username) indexes alone (about 15 ms
  per 100,000 customers; SQLite's LIKE folds ASCII case only).
- :func:`customer_page`: everything the customer's page shows, read through the functions that
  exist (ledger, invoices, payments, credit notes, tickets, the message outbox, the timeline).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import orgs
from aaad.crypto import SecretBox
from aaad.db import in_list
from aaad.errors import NotFound, ValidationError
from aaad.schema import logins
from aaad.view import store as view_store
from aaad.view.model import LoginInfo
from accounting.schema import sessions as sessions_t
from billing import credit_notes, customers, invoices, ledger, payments, services, timeline
from billing.customers import Customer
from billing.notify import outbox
from billing.notify.schema import messages as messages_t
from billing.orders import tickets
from billing.orders.schema import orders as orders_t
from billing.schema import billing_settings, journal_entries, postings, products, registrations
from billing.schema import customers as customers_t
from billing.schema import invoices as invoices_t
from billing.schema import payments as payments_t
from billing.schema import services as services_t
from billing.schema import tickets as tickets_t
from enforcement.schema import actions as actions_t
from enforcement.schema import router_status

# -- the dashboard ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One number on the dashboard and the list that shows what it counts.

    ``list`` names the console's list (``sessions``, ``payments``, ``invoices``, ``registrations``,
    ``orders``, ``tickets``, ``routers``, ``actions``, ``messages``) and ``filter`` its query
    parameters, e.g. ``(("state", "open"),)``: part (b)'s pages link ``/admin/<list>?<filter>``."""
    key: str
    label: str
    count: int
    amount: int | None          # minor units of the org's currency, for money figures
    list: str
    filter: tuple[tuple[str, str], ...] = ()

    @property
    def query(self) -> dict[str, str]:
        return dict(self.filter)

    @property
    def href(self) -> str:
        """Where the console's list of these rows would be: ``/admin/<list>?<filter>`` (the page
        links it only once that list exists)."""
        return f"/admin/{self.list}" + (f"?{urlencode(self.filter)}" if self.filter else "")


@dataclass(frozen=True)
class Figures:
    org_id: int
    currency: str
    timezone: str
    today: date                 # the org's local date
    online_sessions: Figure
    revenue_today: Figure
    revenue_month: Figure
    voucher_sales_today: Figure
    voucher_sales_month: Figure
    open_invoices: Figure
    arrears: Figure
    pending_registrations: Figure
    placed_orders: Figure
    open_tickets: Figure
    routers_down: Figure
    failed_actions: Figure
    failed_messages: Figure

    def all(self) -> list[Figure]:
        """The figures in the dashboard's order."""
        return [self.online_sessions, self.revenue_today, self.revenue_month, self.voucher_sales_today,
                self.voucher_sales_month, self.open_invoices, self.arrears,
                self.pending_registrations, self.placed_orders, self.open_tickets, self.routers_down,
                self.failed_actions, self.failed_messages]


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _count(conn: Connection, table: sa.Table, *where: Any) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def figures(conn: Connection, org_id: int, now: datetime) -> Figures:
    """The dashboard's figures of the org at ``now`` (NotFound if no such org)."""
    org = orgs.get(conn, org_id)
    if org is None:
        raise NotFound("org", org_id)
    tz = ZoneInfo(org.timezone)
    today = now.astimezone(tz).date()

    # org_id + 0: the small partial indexes of open sessions (and the state indexes of actions and
    # messages) serve these counts; SQLite would otherwise walk the org's every row by its org index.
    online = _count(conn, sessions_t, sessions_t.c.stop_time.is_(None), sessions_t.c.org_id + 0 == org_id)

    # Payments received, by their journal entries' local date (the entry of a payment is posted on the
    # org's date of receipt).
    je, p = journal_entries.c, payments_t.c
    is_today = je.posted_on == today
    r = conn.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(p.amount), 0),
        sa.func.coalesce(sa.func.sum(sa.case((is_today, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((is_today, p.amount), else_=0)), 0))
        .select_from(journal_entries.join(payments_t, p.id == je.ref_id))
        .where(je.org_id == org_id, je.kind == "payment", je.posted_on >= today.replace(day=1),
               je.posted_on <= today, p.org_id == org_id)).one()
    n_month, amount_month, n_today, amount_today = (int(x) for x in r)

    # Voucher sales (online and at the counter) are sales, not payments: the cash side of their entries.
    ps = postings.c
    r = conn.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(ps.amount), 0),
        sa.func.coalesce(sa.func.sum(sa.case((is_today, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((is_today, ps.amount), else_=0)), 0))
        .select_from(journal_entries.join(postings, ps.entry_id == je.id))
        .where(je.org_id == org_id, je.kind == "voucher_sale", je.posted_on >= today.replace(day=1),
               je.posted_on <= today, ps.org_id == org_id, ps.account.like("cash:%"))).one()
    v_month, v_amount_month, v_today, v_amount_today = (int(x) for x in r)

    i = invoices_t.c
    owed = i.total - i.paid
    late = i.due_date < today
    r = conn.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(owed), 0),
        sa.func.coalesce(sa.func.sum(sa.case((late, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((late, owed), else_=0)), 0))
        .where(i.org_id == org_id, i.state == "open")).one()
    n_open, amount_open, n_late, amount_late = (int(x) for x in r)

    regs = _count(conn, registrations, registrations.c.org_id == org_id, registrations.c.status == "pending")
    placed = _count(conn, orders_t, orders_t.c.org_id == org_id, orders_t.c.status == "placed")
    open_t = _count(conn, tickets_t, tickets_t.c.org_id == org_id, tickets_t.c.status == "open")
    down = _count(conn, router_status, router_status.c.org_id == org_id, router_status.c.reachable.is_(False))
    failed_a = _count(conn, actions_t, actions_t.c.state == "failed", actions_t.c.org_id + 0 == org_id)
    failed_m = _count(conn, messages_t, messages_t.c.state == "failed", messages_t.c.org_id + 0 == org_id)

    iso = today.isoformat()
    return Figures(
        org_id, org.currency, org.timezone, today,
        Figure("online_sessions", "Online now", online, None, "sessions", (("state", "open"),)),
        Figure("revenue_today", "Revenue today", n_today, amount_today, "payments",
               (("since", _local_midnight(today, tz).isoformat()),)),
        Figure("revenue_month", "Revenue this month", n_month, amount_month, "payments",
               (("since", _local_midnight(today.replace(day=1), tz).isoformat()),)),
        Figure("voucher_sales_today", "Voucher sales today", v_today, v_amount_today, "vouchers",
               (("sold_since", _local_midnight(today, tz).isoformat()),)),
        Figure("voucher_sales_month", "Voucher sales this month", v_month, v_amount_month, "vouchers",
               (("sold_since", _local_midnight(today.replace(day=1), tz).isoformat()),)),
        Figure("open_invoices", "Open invoices", n_open, amount_open, "invoices", (("state", "open"),)),
        Figure("arrears", "Arrears", n_late, amount_late, "invoices", (("state", "open"), ("due_before", iso))),
        Figure("pending_registrations", "Pending registrations", regs, None, "registrations",
               (("status", "pending"),)),
        Figure("placed_orders", "Orders to handle", placed, None, "orders", (("status", "placed"),)),
        Figure("open_tickets", "Open tickets", open_t, None, "tickets", (("status", "open"),)),
        Figure("routers_down", "Routers down", down, None, "routers", (("reachable", "false"),)),
        Figure("failed_actions", "Failed router actions", failed_a, None, "actions", (("state", "failed"),)),
        Figure("failed_messages", "Failed messages", failed_m, None, "messages", (("state", "failed"),)),
    )


# -- search ----------------------------------------------------------------------------------------

#: A session that ended this long ago still finds its customer by IP.
RECENT_IP = timedelta(days=7)
MAX_LIMIT = 100
_PHONEISH = re.compile(r"\+?[\d\s().\-/]{6,}")
_IP_SESSIONS = 50           # sessions read per IP (newest first)


@dataclass(frozen=True)
class CustomerHit:
    id: int
    name: str
    username: str
    status: str
    phone: str | None
    email: str | None
    matched: str                # username | email | phone | login | ip | name
    exact: bool
    detail: str = ""            # e.g. "login user000012", "open session since ...", "fixed IP of login x"


_HIT_COLS = (customers_t.c.id, customers_t.c.name, customers_t.c.username, customers_t.c.status,
             customers_t.c.phone, customers_t.c.email)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _country(conn: Connection, org_id: int) -> str:
    c = conn.execute(sa.select(billing_settings.c.country).where(billing_settings.c.org_id == org_id)).scalar()
    return c or "US"


def _customers_of_logins(conn: Connection, org_id: int, login_ids: list[int]) -> dict[int, int]:
    """login id -> the customer whose service owns (or owned) it."""
    if not login_ids:
        return {}
    rows = conn.execute(sa.select(services_t.c.login_id, services_t.c.customer_id).where(
        services_t.c.org_id == org_id, services_t.c.login_id.in_(login_ids)).order_by(services_t.c.id))
    return {int(r.login_id): int(r.customer_id) for r in rows}


def search(conn: Connection, org_id: int, q: str, *, limit: int = 20, now: datetime | None = None) -> list[CustomerHit]:
    """The org's customers matching ``q`` (see the module docstring), at most ``limit``: exact
    matches (username, e-mail, phone, a login's name, an IP) first, then names and usernames that
    start with the text, then those that contain every word.  ``now`` bounds "recent" sessions for an
    IP (ended within :data:`RECENT_IP`); without it any session with the IP counts."""
    text = " ".join((q or "").split())
    if not text:
        return []
    if len(text) > 200:
        raise ValidationError("q", "at most 200 characters")
    limit = max(1, min(limit, MAX_LIMIT))
    c = customers_t.c
    found: dict[int, tuple[int, str, bool, str]] = {}      # id -> (rank, matched, exact, detail)

    def hit(cid: int, rank: int, matched: str, exact: bool, detail: str = "") -> None:
        if cid not in found or found[cid][0] > rank:
            found[cid] = (rank, matched, exact, detail)

    # 1. exact: username, e-mail, phone (each a unique index), a login's name, an IP.
    low = text.lower()
    exact: list[tuple[str, Any]] = [("username", c.username == text)]
    if low != text:
        exact.append(("username", c.username == low))
    if "@" in text:
        exact.append(("email", c.email == low))
    phone = None
    if _PHONEISH.fullmatch(text):
        try:
            phone = customers.normalise_phone(text, _country(conn, org_id))
        except ValidationError:
            phone = None
        if phone is not None:
            exact.append(("phone", c.phone == phone))
    for r in conn.execute(sa.select(*_HIT_COLS).where(c.org_id == org_id, sa.or_(*(w for _, w in exact)))):
        if r.username in (text, low):
            hit(r.id, 0, "username", True)
        elif phone is not None and r.phone == phone:
            hit(r.id, 0, "phone", True)
        else:
            hit(r.id, 0, "email", True)
    if " " not in text:
        lg = conn.execute(sa.select(logins.c.id, logins.c.username).where(
            logins.c.org_id == org_id, logins.c.username.in_(sorted({text, low})))).all()
        for lid, cid in _customers_of_logins(conn, org_id, [int(x.id) for x in lg]).items():
            name = next(x.username for x in lg if x.id == lid)
            hit(cid, 0, "login", True, f"login {name}")
    ip = _ip(text)
    if ip is not None:
        for cid, detail in _by_ip(conn, org_id, ip, now).items():
            hit(cid, 0, "ip", True, detail)

    # 2. names and usernames: a prefix ranks above a word found inside (not for an address or a
    # number that found its customer, nor for an identifier with a digit that did -- a username or a
    # login name typed whole, such as ``john-doe-5432`` or ``cpe-1001``: those are exact forms, and
    # a scan of every name for them would only add noise, at about 15 ms per 100,000 on SQLite).
    identifier = " " not in text and any(ch.isdigit() for ch in text)
    exact_form = ip is not None or bool(found) and ("@" in text or phone is not None or identifier)
    if not exact_form and len(found) < limit:
        if conn.dialect.name == "postgresql":
            _partial_pg(conn, org_id, low, limit + len(found), hit)
        else:
            _partial_scan(conn, org_id, low, limit + len(found), hit)

    ranked = sorted(found.items(), key=lambda kv: kv[1][0])[:limit * 2]
    if not ranked:
        return []
    rows = {r.id: r for r in conn.execute(sa.select(*_HIT_COLS).where(
        c.org_id == org_id, c.id.in_([cid for cid, _ in ranked])))}
    out = [CustomerHit(cid, rows[cid].name, rows[cid].username, rows[cid].status, rows[cid].phone, rows[cid].email,
                       m, ex, d) for cid, (rk, m, ex, d) in ranked if cid in rows]
    out.sort(key=lambda h: (found[h.id][0], h.name.lower(), h.id))
    return out[:limit]


def _partial_pg(conn: Connection, org_id: int, low: str, n: int, hit: Any) -> None:
    """Names with every word, usernames with the text, on PostgreSQL: the trigram indexes on
    lower(name) and lower(username) find them; a prefix ranks first."""
    c = customers_t.c
    words = [_like_escape(w) for w in low.split()]
    name_l, user_l = sa.func.lower(c.name), sa.func.lower(c.username)
    every_word = sa.and_(*(name_l.like(f"%{w}%", escape="\\") for w in words))
    cond = sa.or_(every_word, user_l.like(f"%{words[0]}%", escape="\\")) if len(words) == 1 else every_word
    prefix = sa.or_(name_l.like(f"{_like_escape(low)}%", escape="\\"),
                    user_l.like(f"{_like_escape(low)}%", escape="\\"))
    rank = sa.case((prefix, 1), else_=2)
    q = (sa.select(c.id, rank.label("rank"), every_word.label("by_name")).where(c.org_id == org_id, cond)
         .order_by(rank, c.name, c.id).limit(n))
    for r in conn.execute(q):
        hit(r.id, int(r.rank), "name" if r.by_name else "username", False)


#: How many name (or username) matches the SQLite scan keeps before ranking prefixes first.
_SCAN_KEEP = 200


def _partial_scan(conn: Connection, org_id: int, low: str, n: int, hit: Any) -> None:
    """The same on SQLite, whose LIKE ignores the case of ASCII letters: a scan of the (org, name)
    and (org, username) indexes alone (they cover the query: no table row is read), in name order,
    stopping at :data:`_SCAN_KEEP` matches; usernames only when the names found fewer than ``n``;
    a prefix ranks first.  About 15 ms per scan of 100,000 customers."""
    c = customers_t.c
    words = [_like_escape(w) for w in low.split()]
    q = (sa.select(c.id, c.name).where(c.org_id == org_id, *(c.name.like(f"%{w}%", escape="\\") for w in words))
         .order_by(c.name, c.id).limit(max(n, _SCAN_KEEP)))
    got = [(1 if r.name.lower().startswith(low) else 2, int(r.id), "name") for r in conn.execute(q)]
    if len(words) == 1 and len(got) < n:       # a second scan only when the names did not fill the page
        q2 = (sa.select(c.id, c.username).where(c.org_id == org_id, c.username.like(f"%{words[0]}%", escape="\\"))
              .order_by(c.username).limit(max(n, _SCAN_KEEP)))
        got += [(1 if r.username.lower().startswith(low) else 2, int(r.id), "username") for r in conn.execute(q2)]
    for rank, cid, matched in sorted(got, key=lambda g: g[0])[:n * 2]:
        hit(cid, rank, matched, False)


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _by_ip(conn: Connection, org_id: int, ip: str, now: datetime | None) -> dict[int, str]:
    """Customers whose login had ``ip``: in an open or recent session, or as its fixed IP."""
    s = sessions_t.c
    q = (sa.select(s.login_id, s.username, s.start_time, s.stop_time)
         .where(s.org_id == org_id, s.framed_ip == ip, s.login_id.is_not(None)))
    if now is not None:
        q = q.where(sa.or_(s.stop_time.is_(None), s.stop_time >= now - RECENT_IP))
    sess = conn.execute(q.order_by(s.start_time.desc()).limit(_IP_SESSIONS)).all()
    fixed = conn.execute(sa.select(logins.c.id, logins.c.username).where(
        logins.c.org_id == org_id, logins.c.framed_ip == ip)).all()
    detail: dict[int, str] = {}
    for f in fixed:
        detail.setdefault(int(f.id), f"fixed IP of login {f.username}")
    for r in sess:
        when = (f"open session of {r.username} since {r.start_time:%Y-%m-%d %H:%M} UTC" if r.stop_time is None
                else f"session of {r.username} ended {r.stop_time:%Y-%m-%d %H:%M} UTC")
        detail.setdefault(int(r.login_id), when)
    owners = _customers_of_logins(conn, org_id, list(detail))
    out: dict[int, str] = {}
    for lid, cid in owners.items():
        out.setdefault(cid, detail[lid])
    return out


# -- a customer's page -----------------------------------------------------------------------------

#: How many of each kind of document the page shows (the lists page through the rest).
RECENT = 10
TIMELINE_HEAD = 20


@dataclass(frozen=True)
class LiveSession:
    """An open accounting session, as the page lists it (with a disconnect button)."""
    id: int
    login_id: int
    username: str
    nas_id: int
    framed_ip: str | None
    calling_station: str | None
    start_time: datetime
    last_update: datetime
    input_octets: int
    output_octets: int
    session_time: int


@dataclass(frozen=True)
class ServiceView:
    service: services.Service
    product_name: str
    login: LoginInfo | None
    sessions: tuple[LiveSession, ...]       # open ones, newest first


_S = sessions_t.c
# Open sessions of some logins: by the (login, start) index (org_id + 0: SQLite would walk the org's
# every session by its (org, start) index for the order).
_LIVE = (sa.select(_S.id, _S.login_id, _S.username, _S.nas_id, _S.framed_ip, _S.calling_station, _S.start_time,
                   _S.last_update, _S.input_octets, _S.output_octets, _S.session_time)
         .where(in_list(_S.login_id, "ids"), _S.stop_time.is_(None),
                _S.org_id + 0 == sa.bindparam("org_id"))
         .order_by(_S.start_time.desc(), _S.id.desc()))


def live_sessions(conn: Connection, org_id: int, login_ids: list[int]) -> dict[int, list[LiveSession]]:
    """The open sessions of the org's logins ``login_ids``, newest first, by login id."""
    out: dict[int, list[LiveSession]] = {i: [] for i in login_ids}
    if login_ids:
        for r in conn.execute(_LIVE, {"ids": login_ids, "org_id": org_id}):
            out[int(r.login_id)].append(LiveSession(
                int(r.id), int(r.login_id), r.username, int(r.nas_id), r.framed_ip, r.calling_station, r.start_time,
                r.last_update, int(r.input_octets), int(r.output_octets), int(r.session_time)))
    return out


@dataclass(frozen=True)
class CustomerPage:
    customer: Customer
    currency: str
    today: date                                 # the org's local date
    services: tuple[ServiceView, ...]
    money: ledger.Summary
    open_invoices: tuple[ledger.OpenInvoice, ...]
    invoices: tuple[invoices.Invoice, ...]      # the last RECENT, newest first
    payments: tuple[payments.Payment, ...]
    credit_notes: tuple[credit_notes.CreditNote, ...]
    tickets: tuple[tickets.Ticket, ...]
    messages: tuple[outbox.Message, ...]
    timeline: tuple[timeline.Item, ...]         # the newest TIMELINE_HEAD items, newest first

    @property
    def live_sessions(self) -> int:
        return sum(len(s.sessions) for s in self.services)


def customer_page(conn: Connection, box: SecretBox, org_id: int, customer_id: int, now: datetime) -> CustomerPage:
    """What the console's customer page shows (NotFound if the org has no such customer).  ``box`` is
    the signature's for later parts; no secret is read."""
    del box
    cust = customers.get(conn, org_id, customer_id)
    if cust is None:
        raise NotFound("customer", customer_id)
    org = orgs.get(conn, org_id)
    assert org is not None
    today = now.astimezone(ZoneInfo(org.timezone)).date()
    svcs = services.list_services(conn, org_id, customer_id=customer_id)
    names = dict(conn.execute(sa.select(products.c.id, products.c.name).where(
        products.c.org_id == org_id, products.c.id.in_({s.product_id for s in svcs}))).all()) if svcs else {}
    lgs = {s.id: view_store.login_info(conn, org_id, s.login_id) for s in svcs if s.login_id is not None}
    live = live_sessions(conn, org_id, sorted({lg.id for lg in lgs.values() if lg is not None}))
    views = []
    for s in svcs:
        lg = lgs.get(s.id)
        views.append(ServiceView(s, names.get(s.product_id, ""), lg, tuple(live[lg.id]) if lg else ()))
    money = ledger.summary(conn, org_id, customer_id, today)
    items = timeline.timeline(conn, org_id, customer_id)
    return CustomerPage(
        cust, org.currency, today, tuple(views), money,
        tuple(ledger.open_invoices(conn, org_id, customer_id)),
        tuple(invoices.page(conn, org_id, customer_id=customer_id, limit=RECENT).items),
        tuple(payments.page(conn, org_id, customer_id=customer_id, limit=RECENT).items),
        tuple(credit_notes.page(conn, org_id, customer_id=customer_id, limit=RECENT).items),
        tuple(tickets.of_customer(conn, org_id, customer_id, limit=RECENT)),
        tuple(outbox.page(conn, org_id, customer_id=customer_id, limit=RECENT).items),
        tuple(reversed(items[-TIMELINE_HEAD:])),
    )


# -- the console's lists ---------------------------------------------------------------------------


def customer_names(conn: Connection, org_id: int, ids: set[int] | list[int]) -> dict[int, str]:
    """The names of the org's customers ``ids`` (another org's ids are left out): the lists of
    payments and invoices name whose they are."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(sa.select(customers_t.c.id, customers_t.c.name).where(
        customers_t.c.org_id == org_id, customers_t.c.id.in_(wanted)))
    return {int(r.id): r.name for r in rows}


def owners_of_logins(conn: Connection, org_id: int, login_ids: set[int] | list[int]) -> dict[int, tuple[int, str]]:
    """login id -> (customer id, name) of the customer whose service owns (or owned) the org's login:
    the list of sessions names whose they are (a login without a service is left out)."""
    owners = _customers_of_logins(conn, org_id, sorted(set(login_ids)))
    names = customer_names(conn, org_id, set(owners.values()))
    return {lid: (cid, names[cid]) for lid, cid in owners.items() if cid in names}
