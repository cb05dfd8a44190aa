"""Portal accounts: signing in with an e-mail or phone number and a password,
the sign-in throttle, password-reset links, and what the dashboard and the
suspension page show.

Sign-in runs in three steps so the slow password hash never holds the
database writer: :func:`begin_attempt` (a write: refuses while the
identifier or the address must wait, else counts the try in advance, so
parallel tries on several instances are all counted), :func:`check_password`
(a read, argon2 on the read pool), :func:`finish_attempt` (a write: a success
clears the identifier's counter and gives the address its try back, and
starts the signed-in session).

Every function takes the caller's connection and the org; none decides money.
"""
from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dml
from sqlalchemy.dialects import sqlite as sqlite_dml
from sqlalchemy.engine import Connection

from aaad import orgs, passwords
from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from aaad.schema import orgs as orgs_t
from aaad.view import store as view_store
from accounting import store as acct_store
from billing import customers, invoices, ledger, payments, services, settings, voucher_sales
from billing.notify import otp
from billing.orders import cart, tickets
from billing.schema import customers as customers_t
from billing.vouchers import packages
from web.portal import sessions
from web.schema import portal_login_throttle as throttle_t
from web.schema import portal_reset_tokens as reset_t

#: The first wait after the limit; each further failure doubles it (up to the cap).
FIRST_WAIT = timedelta(minutes=1)
PASSWORD_MIN = 8


@dataclass(frozen=True)
class Limits:
    """The sign-in throttle and reset policy (from ``[portal]``)."""
    id_failures: int = 5
    ip_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    max_wait: timedelta = timedelta(minutes=15)
    reset_minutes: int = 30
    reset_per_hour: int = 3


def wait_after(failures: int, limit: int, max_wait: timedelta) -> timedelta | None:
    """How long tries wait after ``failures`` recent failures: nothing below ``limit``, then 1 minute
    doubling with each further failure, never more than ``max_wait``."""
    if failures < limit:
        return None
    steps = min(failures - limit, 20)
    return min(FIRST_WAIT * (2 ** steps), max_wait)


# -- who is signing in -------------------------------------------------------------------

def identifier(conn: Connection, org_id: int, text: str) -> tuple[str, customers.Customer | None]:
    """The normalised form of an e-mail address or phone number as typed (or the text itself, trimmed and
    lower-cased, when it is neither) and the org's customer it names, if any.  Only an e-mail address or a
    phone number signs in (never a username or a customer id)."""
    text = text.strip()
    try:
        if "@" in text:
            norm = customers.normalise_email(text)
        else:
            norm = customers.normalise_phone(text, settings.get(conn, org_id).country)
    except ValidationError:
        return text.lower(), None
    # A normalised address has an '@' and a number starts with '+': neither can be a username or an id.
    return norm, customers.find(conn, org_id, norm)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _ensure_rows(conn: Connection, org_id: int, keys: list[tuple[str, str]]) -> None:
    dialect = pg_dml if conn.dialect.name == "postgresql" else sqlite_dml
    stmt = dialect.insert(throttle_t).on_conflict_do_nothing(index_elements=["org_id", "kind", "key"])
    conn.execute(stmt, [{"org_id": org_id, "kind": k, "key": v, "failures": 0} for k, v in keys])


#: The throttle's two kinds of counter: (the identifier's, the address's).  The admin console counts its
#: sign-ins under its own kinds in the same table (web.admin.accounts).
PORTAL_KINDS = ("id", "ip")


def begin_attempt(conn: Connection, org_id: int, ident: str, ip: str, now: datetime, limits: Limits,
                  kinds: tuple[str, str] = PORTAL_KINDS) -> int:
    """Seconds this sign-in must wait (the identifier or the address failed too often lately), or 0: then the
    try is counted as a failure of both until :func:`finish_attempt` says it succeeded."""
    id_kind, ip_kind = kinds
    keys = [(id_kind, _key(ident)), (ip_kind, _key(ip))]
    c = throttle_t.c
    # Counters nobody has failed on for a window after the longest wait say nothing any more.
    conn.execute(throttle_t.delete().where(c.last_failure_at < now - limits.window - limits.max_wait))
    _ensure_rows(conn, org_id, keys)
    q = sa.select(throttle_t).where(c.org_id == org_id, sa.tuple_(c.kind, c.key).in_(keys))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    rows = conn.execute(q).all()
    waits = [r.locked_until for r in rows if r.locked_until is not None and r.locked_until > now]
    if waits:
        return max(1, math.ceil((max(waits) - now).total_seconds()))
    for r in rows:
        # Failures count within the window after the last one, or after the end of the wait it caused.
        last = max(r.last_failure_at or now - limits.window, r.locked_until or now - limits.window)
        recent = last + limits.window > now
        failures = (r.failures if recent else 0) + 1
        wait = wait_after(failures, limits.id_failures if r.kind == id_kind else limits.ip_failures,
                          limits.max_wait)
        conn.execute(throttle_t.update().where(c.id == r.id).values(
            failures=failures, last_failure_at=now, locked_until=None if wait is None else now + wait))
    return 0


def finish_attempt(conn: Connection, org_id: int, ident: str, ip: str, customer_id: int | None,
                   old_session: str | None, now: datetime, policy: sessions.Policy,
                   limits: Limits) -> sessions.Started | None:
    """After :func:`check_password`: on success (``customer_id``) clear the identifier's counter, give the
    address back the try counted in advance, and sign in (a new session replaces ``old_session``)."""
    if customer_id is None:
        return None
    clear_attempt(conn, org_id, ident, ip)
    return sessions.sign_in(conn, org_id, old_session, customer_id, now, policy)


def clear_attempt(conn: Connection, org_id: int, ident: str, ip: str,
                  kinds: tuple[str, str] = PORTAL_KINDS) -> None:
    """A sign-in succeeded: clear the identifier's counter and give the address back the try
    :func:`begin_attempt` counted in advance."""
    c = throttle_t.c
    conn.execute(throttle_t.delete().where(c.org_id == org_id, c.kind == kinds[0], c.key == _key(ident)))
    r = conn.execute(sa.select(throttle_t).where(c.org_id == org_id, c.kind == kinds[1],
                                                 c.key == _key(ip))).first()
    if r is not None and r.failures > 0:
        # Any wait the address had was over (or this try would not have run): the one counted in advance goes.
        conn.execute(throttle_t.update().where(c.id == r.id).values(failures=r.failures - 1, locked_until=None))


def check_password(conn: Connection, org_id: int, text: str, password: str) -> int | None:
    """The id of the customer whose e-mail or phone is ``text`` and whose portal password is ``password``;
    None otherwise (unknown, no password set, wrong password or closed: the caller says the same for all)."""
    _, c = identifier(conn, org_id, text)
    if c is None or c.status == "closed" or not c.has_password or not password:
        # The same work as a real check, so a stranger cannot tell a customer exists by the time taken.
        passwords.same_work(password)
        return None
    return c.id if customers.verify_password(conn, org_id, c.id, password) else None


# -- password reset ----------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def request_reset(conn: Connection, box: SecretBox, org_id: int, text: str, portal_base: str, now: datetime,
                  limits: Limits) -> bool:
    """Queue a reset link for the customer whose e-mail or phone is ``text``, if there is one (not closed)
    and they asked fewer than ``reset_per_hour`` times in the last hour; True if one was queued.  The caller
    answers the same whatever this returns.  ``portal_base``: the portal's absolute URL, ending in '/'."""
    _, c = identifier(conn, org_id, text)
    if c is None or c.status == "closed":
        return False
    t = reset_t.c
    conn.execute(reset_t.delete().where(t.org_id == org_id, t.customer_id == c.id,
                                        t.created_at < now - timedelta(days=1)))
    recent = conn.execute(sa.select(sa.func.count()).select_from(reset_t).where(
        t.org_id == org_id, t.customer_id == c.id, t.created_at > now - timedelta(hours=1))).scalar_one()
    if recent >= limits.reset_per_hour:
        return False
    token = secrets.token_urlsafe(32)
    conn.execute(reset_t.insert().values(org_id=org_id, customer_id=c.id, token_hash=_token_hash(token),
                                         created_at=now, expires_at=now + timedelta(minutes=limits.reset_minutes)))
    otp.send_reset_link(conn, box, org_id, c.id, f"{portal_base}reset/{token}", limits.reset_minutes, now)
    return True


def reset_customer(conn: Connection, org_id: int, token: str, now: datetime) -> int | None:
    """The customer a reset token is for, if it is unused and unexpired (it stays unused)."""
    if not token or len(token) > 100:
        return None
    t = reset_t.c
    r = conn.execute(sa.select(t.customer_id, t.expires_at, t.used_at).where(
        t.org_id == org_id, t.token_hash == _token_hash(token))).first()
    if r is None or r.used_at is not None or r.expires_at <= now:
        return None
    c = customers.get(conn, org_id, r.customer_id)
    return None if c is None or c.status == "closed" else c.id


def check_new_password(password: str, confirm: str) -> None:
    """ValidationError naming the field for a password too short, too long or not confirmed."""
    if not PASSWORD_MIN <= len(password) <= 200:
        raise ValidationError("password", f"Use {PASSWORD_MIN} to 200 characters.")
    if password != confirm:
        raise ValidationError("confirm", "The two passwords differ.")


def use_reset(conn: Connection, org_id: int, token: str, password: str, old_session: str | None, now: datetime,
              policy: sessions.Policy) -> sessions.Started | None:
    """Set the password with a reset token: the token (and every other open one of the customer) is used up,
    the customer's other sessions end and a new signed-in one starts.  None if the token does not work."""
    customer_id = reset_customer(conn, org_id, token, now)
    if customer_id is None:
        return None
    t = reset_t.c
    used = conn.execute(reset_t.update().where(t.org_id == org_id, t.token_hash == _token_hash(token),
                                               t.used_at.is_(None), t.expires_at > now).values(used_at=now))
    if used.rowcount != 1:
        return None
    conn.execute(reset_t.update().where(t.org_id == org_id, t.customer_id == customer_id, t.used_at.is_(None))
                 .values(used_at=now))
    customers.set_password(conn, org_id, customer_id, password, now)
    sessions.end_all(conn, org_id, customer_id)
    return sessions.sign_in(conn, org_id, old_session, customer_id, now, policy)


# -- what a signed-in customer sees ------------------------------------------------------

@dataclass(frozen=True)
class Brand:
    name: str
    logo: str | None
    colour: str | None


@dataclass(frozen=True)
class PortalOrg:
    """What every page of an org's portal needs: the org, its brand and its billing settings."""
    org: orgs.Org
    brand: Brand
    settings: settings.Settings


def portal_org(conn: Connection, slug: str) -> PortalOrg | None:
    """The org of the portal at ``slug`` with its brand and settings, or None if no org has the slug."""
    org = orgs.get_by_slug(conn, slug)
    if org is None:
        return None
    st = settings.get(conn, org.id)
    return PortalOrg(org, brand(conn, org.id, org.name, st), st)


def brand(conn: Connection, org_id: int, org_name: str, st: settings.Settings | None = None) -> Brand:
    """The org's name, logo and colour for the portal's header (billing settings, else the org's name)."""
    s = st or settings.get(conn, org_id)
    logo = s.brand_logo if s.brand_logo and s.brand_logo.startswith("/") else None   # same origin only (CSP)
    return Brand(s.brand_name or org_name, logo, s.brand_colour)


@dataclass(frozen=True)
class Usage:
    today: int
    cycle: int
    total: int
    cycle_end: datetime


@dataclass(frozen=True)
class ServiceView:
    id: int
    product: str
    product_type: str
    state: str
    start_date: date | None
    login_id: int | None
    username: str | None
    password: str | None
    usage: Usage | None
    reason: str


@dataclass(frozen=True)
class Dashboard:
    customer: customers.Customer
    currency: str
    locale: str
    balance: int
    next_due: date | None
    open_amount: int
    services: list[ServiceView]
    invoices: list[invoices.Invoice]
    payments: list[payments.Payment]
    tickets: list[tickets.Ticket] = field(default_factory=list)
    cart_count: int = 0


#: The dashboard's customer and figures in one statement (one round trip instead of six), bound by
#: ``org_id`` and ``customer_id``: the customer's row (no row: not the org's), the balance, the cart's
#: items, the packages on sale, the open invoices' next due date and open amount, and the org's
#: timezone (for the usage cycle).
_FIGURES = sa.select(customers_t,
                    ledger.BALANCE.scalar_subquery().label("balance"),
                    cart.COUNT.scalar_subquery().label("cart_count"),
                    packages.PORTAL_COUNT.scalar_subquery().label("on_sale"),
                    ledger.NEXT_DUE.scalar_subquery().label("next_due"),
                    ledger.OPEN_AMOUNT.scalar_subquery().label("open_amount"),
                    sa.select(orgs_t.c.timezone).where(orgs_t.c.id == sa.bindparam("org_id"))
                    .scalar_subquery().label("timezone")).where(
    customers_t.c.org_id == sa.bindparam("org_id"), customers_t.c.id == sa.bindparam("customer_id"))


def _figures(conn: Connection, org_id: int, customer_id: int) -> Any:
    """The row of :data:`_FIGURES`; NotFound if the customer is not the org's."""
    row = conn.execute(_FIGURES, {"org_id": org_id, "customer_id": customer_id}).first()
    if row is None:
        raise NotFound("customer", customer_id)
    return row


def _reasons(conn: Connection, org_id: int, customer_id: int) -> dict[int, str]:
    """Each service's reason for its current suspension (the latest suspension in the service log)."""
    out: dict[int, str] = {}
    for e in services.history(conn, org_id, customer_id=customer_id):
        if e.new_state == "suspended" and e.old_state != "suspended":
            out[e.service_id] = e.reason
    return out


def dashboard(conn: Connection, box: SecretBox, org_id: int, customer_id: int, now: datetime,
              recent: int = 10, st: settings.Settings | None = None,
              figures: Any = None) -> Dashboard:
    """Everything the dashboard shows for one customer of the org (NotFound if not the org's);
    ``st``: the org's billing settings when the caller has them; ``figures``: the row of
    :data:`_FIGURES` when the caller has read it.  Seven statements whatever the number of services
    (the page is the portal's busiest), an eighth if one is suspended; :func:`dashboard_page` adds
    the voucher figures'."""
    fig = figures if figures is not None else _figures(conn, org_id, customer_id)
    c = customers.from_row(fig)
    st = st or settings.get(conn, org_id)
    svcs = [t for t in services.of_customer_with_products(conn, org_id, customer_id)
            if t[0].state not in ("cancelled", "rejected")]
    logins = {lg.id: lg for lg in view_store.get_logins(conn, box, org_id,
                                                         [s.login_id for s, _, _ in svcs if s.login_id is not None])}
    reasons = _reasons(conn, org_id, customer_id) if any(s.state == "suspended" for s, _, _ in svcs) else {}
    usages = acct_store.logins_usage(conn, org_id, list(logins), now,
                                     known=({i: lg.cycle_anchor for i, lg in logins.items()}, fig.timezone))
    views = []
    for s, product_name, product_type in svcs:
        lg = logins.get(s.login_id) if s.login_id is not None else None
        usage = None
        u = usages.get(lg.id) if lg is not None else None
        if u is not None:
            usage = Usage(sum(u.today) + sum(u.unaggregated), u.cycle + sum(u.unaggregated),
                          sum(u.total) + sum(u.unaggregated), u.cycle_end)
        views.append(ServiceView(s.id, product_name or "?", product_type or "", s.state, s.start_date,
                                 s.login_id, lg.username if lg else s.username,
                                 lg.password.decode("utf-8", "replace") if lg else None, usage,
                                 reasons.get(s.id, "")))
    return Dashboard(c, st.currency, st.locale, int(fig.balance), fig.next_due, int(fig.open_amount), views,
                     invoices.list_invoices(conn, org_id, customer_id=customer_id, limit=recent),
                     payments.list_payments(conn, org_id, customer_id=customer_id, limit=recent),
                     tickets.of_customer(conn, org_id, customer_id, limit=5), int(fig.cart_count))


def dashboard_page(conn: Connection, box: SecretBox, org_id: int, customer_id: int, now: datetime,
                   st: settings.Settings | None = None) -> tuple[Dashboard, voucher_sales.Figures]:
    """The dashboard and the customer's voucher figures, in one read: one hop to a database thread
    and back, one transaction, the org's settings read at most once."""
    st = st or settings.get(conn, org_id)
    figures = _figures(conn, org_id, customer_id)
    return (dashboard(conn, box, org_id, customer_id, now, st=st, figures=figures),
            voucher_sales.figures(conn, box, org_id, customer_id, now, int(figures.on_sale), st=st))


def session_dashboard(conn: Connection, box: SecretBox, org_id: int, secret: str, now: datetime,
                      policy: sessions.Policy, st: settings.Settings | None = None
                      ) -> tuple[sessions.Session | None, tuple[Dashboard, voucher_sales.Figures] | None]:
    """The cookie's live session (``sessions.find``) and, if it is signed in, :func:`dashboard_page`:
    the start page's one read for a returning customer (one hop to a database thread, one
    transaction, instead of one for the session and another for the page)."""
    s = sessions.find(conn, org_id, secret, now, policy)
    if s is None or s.customer_id is None:
        return s, None
    return s, dashboard_page(conn, box, org_id, s.customer_id, now, st=st)


def owns_login(conn: Connection, org_id: int, customer_id: int, login_id: int) -> bool:
    """True if one of the customer's services (in this org) owns the login."""
    return any(s.customer_id == customer_id for s in services.services_of_login(conn, org_id, login_id))


def owns_invoice(conn: Connection, org_id: int, customer_id: int, invoice_id: int) -> bool:
    inv = invoices.get(conn, org_id, invoice_id)
    return inv is not None and inv.customer_id == customer_id and inv.state != "draft"


def owns_payment(conn: Connection, org_id: int, customer_id: int, payment_id: int) -> bool:
    p = payments.get(conn, org_id, payment_id)
    return p is not None and p.customer_id == customer_id
