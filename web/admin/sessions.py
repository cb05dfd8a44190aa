"""Console sessions: who a browser is in the admin console, behind an opaque cookie.

Like the portal's (:mod:`web.portal.sessions`): the cookie holds 32 random bytes, the table their SHA-256.
A session names its account and the account's org; ``mfa_done`` says the second factor was given (or the
account has none): until then the session reaches only the code step of the sign-in.  Sessions end after an
idle period or an absolute lifetime; signing in (and passing the second factor) replaces the session, so a
session id planted before is worth nothing; signing out deletes it; disabling an account or resetting its
two-factor login ends all its sessions.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from web.portal.sessions import TOUCH_EVERY, Policy
from web.schema import admin_accounts as accounts_t
from web.schema import admin_sessions as t

COOKIE = "aaad_admin"
__all__ = ["COOKIE", "Policy", "Session", "Started", "start", "find", "touch", "end", "end_all", "end_others",
           "sign_in"]


@dataclass(frozen=True)
class Session:
    public_id: str
    org_id: int | None
    account_id: int | None       # None: a visitor holding only a CSRF token for the sign-in form
    csrf: str
    mfa_done: bool
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime

    def needs_touch(self, now: datetime) -> bool:
        return self.last_seen_at < now - TOUCH_EVERY

    @property
    def signed_in(self) -> bool:
        """An account whose sign-in is complete (password and, if enrolled, the second factor)."""
        return self.account_id is not None and self.mfa_done


@dataclass(frozen=True)
class Started:
    session: Session
    secret: str          # for the cookie; never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start(conn: Connection, org_id: int | None, account_id: int | None, mfa_done: bool, now: datetime,
          policy: Policy) -> Started:
    """A new session (a visitor's lasts one idle period at most); expired sessions are removed."""
    conn.execute(t.delete().where(t.c.expires_at <= now))
    secret = secrets.token_urlsafe(32)
    life = policy.max_age if account_id is not None else min(policy.idle, policy.max_age)
    s = Session(secrets.token_hex(12), org_id, account_id, secrets.token_urlsafe(32), mfa_done, now, now + life, now)
    conn.execute(t.insert().values(public_id=s.public_id, secret_hash=_hash(secret), org_id=org_id,
                                   account_id=account_id, csrf=s.csrf, mfa_done=mfa_done, created_at=now,
                                   last_seen_at=now, expires_at=s.expires_at))
    return Started(s, secret)


_FIND = (sa.select(t, accounts_t.c.disabled_at, accounts_t.c.id.label("account_found"))
         .outerjoin(accounts_t, accounts_t.c.id == t.c.account_id)
         .where(t.c.secret_hash == sa.bindparam("hash")))


def find(conn: Connection, secret: str, now: datetime, policy: Policy) -> Session | None:
    """The live session whose cookie secret is ``secret``; None if none, expired, or its account was
    disabled or removed since."""
    if not secret or len(secret) > 100:
        return None
    r = conn.execute(_FIND, {"hash": _hash(secret)}).first()
    if r is None or r.expires_at <= now or r.last_seen_at + policy.idle <= now:
        return None
    if r.account_id is not None and (r.disabled_at is not None or r.account_found is None):
        return None
    return Session(r.public_id, r.org_id, r.account_id, r.csrf, bool(r.mfa_done), r.created_at, r.expires_at,
                   r.last_seen_at)


def touch(conn: Connection, public_id: str, now: datetime) -> bool:
    """Record activity, at most once per :data:`TOUCH_EVERY`."""
    return conn.execute(t.update().where(t.c.public_id == public_id, t.c.last_seen_at < now - TOUCH_EVERY)
                        .values(last_seen_at=now)).rowcount == 1


def end(conn: Connection, public_id: str) -> bool:
    """Delete one session (sign-out, or the old one at sign-in)."""
    return conn.execute(t.delete().where(t.c.public_id == public_id)).rowcount == 1


def end_all(conn: Connection, account_id: int) -> int:
    """Delete every session of an account (disabled, password or two-factor login reset)."""
    return conn.execute(t.delete().where(t.c.account_id == account_id)).rowcount


def end_others(conn: Connection, account_id: int, keep_public_id: str | None) -> int:
    """Delete every session of an account but ``keep_public_id`` (its own password changed in that one)."""
    q = t.delete().where(t.c.account_id == account_id)
    if keep_public_id is not None:
        q = q.where(t.c.public_id != keep_public_id)
    return conn.execute(q).rowcount


def sign_in(conn: Connection, old_public_id: str | None, org_id: int | None, account_id: int, mfa_done: bool,
            now: datetime, policy: Policy) -> Started:
    """End the browser's current session (if any) and start a new one for the account."""
    if old_public_id is not None:
        end(conn, old_public_id)
    return start(conn, org_id, account_id, mfa_done, now, policy)


def set_org(conn: Connection, public_id: str, org_id: int) -> bool:
    """The org a platform admin's session acts on from now on (the caller checks the account is one)."""
    return conn.execute(t.update().where(t.c.public_id == public_id).values(org_id=org_id)).rowcount == 1
