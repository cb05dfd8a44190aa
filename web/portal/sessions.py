"""Portal sessions: who a browser is, per org, behind an opaque cookie.

The cookie holds a random secret (32 bytes); the table keeps its SHA-256, so
a copy of the database signs nobody in.  A session belongs to one org (the
cookie's Path is that org's portal and the row carries ``org_id``: a cookie
of org A is nobody on org B's portal).  A visitor who is not signed in gets
a session without a customer when a page shows a form, for its CSRF token.
Sessions end after ``[portal] session_idle_minutes`` without a request or
``session_max_hours`` after they began; signing in replaces the session
(no fixation), signing out deletes it.

Every function takes the caller's connection and returns plain values.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from billing.schema import customers as customers_t
from web.schema import portal_sessions as t

COOKIE = "aaad_portal"
#: A session's last-seen time is written at most this often (not on every page).
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Policy:
    idle: timedelta
    max_age: timedelta


@dataclass(frozen=True)
class Session:
    public_id: str
    org_id: int
    customer_id: int | None
    csrf: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime

    def needs_touch(self, now: datetime) -> bool:
        """True when the last-seen time is older than :data:`TOUCH_EVERY`."""
        return self.last_seen_at < now - TOUCH_EVERY


@dataclass(frozen=True)
class Started:
    """A new session and the secret for its cookie (shown once, never stored)."""
    session: Session
    secret: str


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start(conn: Connection, org_id: int, customer_id: int | None, now: datetime, policy: Policy) -> Started:
    """A new session of ``org_id`` (signed in as ``customer_id`` unless None; a visitor's lasts one idle
    period at most); also removes expired sessions."""
    conn.execute(t.delete().where(t.c.expires_at <= now))
    secret = secrets.token_urlsafe(32)
    # A visitor's session (only a CSRF token) lasts one idle period: a stray one is soon removed.
    life = policy.max_age if customer_id is not None else min(policy.idle, policy.max_age)
    s = Session(secrets.token_hex(12), org_id, customer_id, secrets.token_urlsafe(32), now, now + life, now)
    conn.execute(t.insert().values(org_id=org_id, public_id=s.public_id, secret_hash=secret_hash(secret),
                                   customer_id=customer_id, csrf=s.csrf, created_at=now, last_seen_at=now,
                                   expires_at=s.expires_at))
    return Started(s, secret)


# find's statement, built once (every portal page runs it): the session with its customer's status.
_FIND = (sa.select(t, customers_t.c.status.label("customer_status"))
         .outerjoin(customers_t, sa.and_(customers_t.c.id == t.c.customer_id, customers_t.c.org_id == t.c.org_id))
         .where(t.c.secret_hash == sa.bindparam("hash"), t.c.org_id == sa.bindparam("org_id")))


def find(conn: Connection, org_id: int, secret: str, now: datetime, policy: Policy) -> Session | None:
    """The live session of ``org_id`` whose cookie secret is ``secret``; None if there is none, it is another
    org's, it expired (idle or absolute) or its customer has been closed since."""
    if not secret or len(secret) > 100:
        return None
    r = conn.execute(_FIND, {"hash": secret_hash(secret), "org_id": org_id}).first()
    if r is None or r.expires_at <= now or r.last_seen_at + policy.idle <= now:
        return None
    if r.customer_id is not None and r.customer_status in (None, "closed"):
        return None      # the customer was closed since signing in
    return Session(r.public_id, r.org_id, r.customer_id, r.csrf, r.created_at, r.expires_at, r.last_seen_at)


def touch(conn: Connection, org_id: int, public_id: str, now: datetime) -> bool:
    """Record activity (keeps the idle expiry away); only once per :data:`TOUCH_EVERY`."""
    return conn.execute(t.update().where(t.c.org_id == org_id, t.c.public_id == public_id,
                                         t.c.last_seen_at < now - TOUCH_EVERY)
                        .values(last_seen_at=now)).rowcount == 1


def end(conn: Connection, org_id: int, public_id: str) -> bool:
    """Delete one session (sign-out, or the old one at sign-in)."""
    return conn.execute(t.delete().where(t.c.org_id == org_id, t.c.public_id == public_id)).rowcount == 1


def end_all(conn: Connection, org_id: int, customer_id: int) -> int:
    """Delete every session of a customer (after a password reset)."""
    return conn.execute(t.delete().where(t.c.org_id == org_id, t.c.customer_id == customer_id)).rowcount


def sign_in(conn: Connection, org_id: int, old_public_id: str | None, customer_id: int, now: datetime,
            policy: Policy) -> Started:
    """End the visitor's current session (if any) and start a new one signed in as ``customer_id``: a session id
    an attacker planted before sign-in is worth nothing after it."""
    if old_public_id is not None:
        end(conn, org_id, old_public_id)
    return start(conn, org_id, customer_id, now, policy)


def count(conn: Connection, org_id: int, customer_id: int) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(
        t.c.org_id == org_id, t.c.customer_id == customer_id)).scalar_one())
