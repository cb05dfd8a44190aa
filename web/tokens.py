"""API tokens: created once and shown once, stored hashed, listed and revoked.

A token reads ``aaad_<prefix><secret>``: 32 random bytes, URL-safe base64.
Only its SHA-256 is stored (a random 256-bit secret needs no slow hash: there
is nothing to guess), and its first characters (``prefix``) so a listing can
say which token is which.  An org token acts on its org only; a platform token
(``org_id`` NULL) manages orgs and acts on the one its request names.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import authz
from aaad.errors import NotFound, ValidationError
from web.schema import tokens

TOKEN_PREFIX = "aaad_"


@dataclass(frozen=True)
class Token:
    id: int
    org_id: int | None
    name: str
    prefix: str
    read_only: bool
    platform: bool
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    role: str = "owner"            # aaad.authz.ROLES: what its requests may do

    def usable(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class Created:
    token: Token
    secret: str          # the whole token, shown once


def _row(r: sa.Row) -> Token:
    return Token(r.id, r.org_id, r.name, r.prefix, bool(r.read_only), bool(r.platform), r.created_at,
                 r.expires_at, r.revoked_at, r.last_used_at, r.role)


def digest(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(conn: Connection, org_id: int | None, name: str, now: datetime, *, read_only: bool = False,
           expires_at: datetime | None = None, role: str = "owner") -> Created:
    """A new token; ``org_id`` None makes a platform token.  ``role``: what its requests may
    do (``aaad.authz``; a platform token is always the platform's)."""
    if role not in authz.ROLES:
        raise ValidationError("role", f"one of {', '.join(authz.ROLES)}")
    name = name.strip()
    if not name or len(name) > 80:
        raise ValidationError("name", "a token needs a name of 1 to 80 characters")
    if expires_at is not None and expires_at <= now:
        raise ValidationError("expires", "the expiry date is already past")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = secret[:len(TOKEN_PREFIX) + 6]
    tid = conn.execute(tokens.insert().values(
        org_id=org_id, name=name, prefix=prefix, secret_hash=digest(secret), read_only=read_only,
        platform=org_id is None, created_at=now, expires_at=expires_at, role=role)).inserted_primary_key[0]  # type: ignore[index]
    token = get(conn, org_id, int(tid))
    assert token is not None
    return Created(token, secret)


def get(conn: Connection, org_id: int | None, token_id: int) -> Token | None:
    """The token ``token_id`` of ``org_id`` (None: a platform token)."""
    q = tokens.select().where(tokens.c.id == token_id,
                              tokens.c.org_id.is_(None) if org_id is None else tokens.c.org_id == org_id)
    r = conn.execute(q).first()
    return _row(r) if r else None


def by_secret(conn: Connection, secret: str) -> Token | None:
    """The token whose secret this is (usable or not)."""
    r = conn.execute(tokens.select().where(tokens.c.secret_hash == digest(secret))).first()
    return _row(r) if r else None


def list_tokens(conn: Connection, org_id: int | None, *, platform: bool = False,
                include_revoked: bool = False) -> list[Token]:
    """The org's tokens (``platform``: the platform tokens instead), oldest first."""
    q = tokens.select().order_by(tokens.c.id)
    q = q.where(tokens.c.org_id.is_(None)) if platform else q.where(tokens.c.org_id == org_id)
    if not include_revoked:
        q = q.where(tokens.c.revoked_at.is_(None))
    return [_row(r) for r in conn.execute(q)]


def list_all(conn: Connection, *, include_revoked: bool = False) -> list[Token]:
    """Every token of every org and the platform's (for the CLI)."""
    q = tokens.select().order_by(tokens.c.id)
    if not include_revoked:
        q = q.where(tokens.c.revoked_at.is_(None))
    return [_row(r) for r in conn.execute(q)]


def revoke(conn: Connection, org_id: int | None, token_id: int, now: datetime, *, any_org: bool = False) -> Token:
    """Revoke a token (it stops working at once for new checks); revoking twice is harmless."""
    q = tokens.select().where(tokens.c.id == token_id)
    if not any_org:
        q = q.where(tokens.c.org_id.is_(None) if org_id is None else tokens.c.org_id == org_id)
    r = conn.execute(q).first()
    if r is None:
        raise NotFound("token", token_id)
    if r.revoked_at is None:
        conn.execute(tokens.update().where(tokens.c.id == token_id).values(revoked_at=now))
    r = conn.execute(tokens.select().where(tokens.c.id == token_id)).one()
    return _row(r)


def touch(conn: Connection, used: dict[int, datetime]) -> None:
    """Record when tokens were last used (batched by the caller)."""
    for token_id, at in used.items():
        conn.execute(tokens.update().where(tokens.c.id == token_id).values(last_used_at=at))
