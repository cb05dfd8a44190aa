"""The admin API's own records: remembered idempotent responses and the audit log.

Idempotency: the first request with a key *claims* it inside the transaction
that makes its change (:func:`claim`), so the change and the claim commit or
roll back together; two racing requests cannot both change anything (the
second one's claim hits the unique key and its transaction rolls back).  The
response is stored once it is known (:func:`finish`); a retry gets it back.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from web.schema import audit, idempotency

#: Fields never written to the audit log.
SECRET_FIELDS = frozenset({"password", "secret", "secret_hash", "api_password", "password_hash", "token",
                           "cleartext", "nt_hash", "portal_password"})
SUMMARY_MAX = 2000


class KeyTaken(Exception):
    """Another request already claimed this idempotency key."""


@dataclass(frozen=True)
class Remembered:
    request_hash: str
    status: int | None          # None: the first request is still running
    content_type: str
    body: bytes | None
    created_at: datetime


def lookup(conn: Connection, token_id: int, key: str, since: datetime) -> Remembered | None:
    """The remembered request under ``key`` made after ``since``."""
    r = conn.execute(sa.select(idempotency).where(idempotency.c.token_id == token_id, idempotency.c.key == key,
                                                  idempotency.c.created_at >= since)).first()
    if r is None:
        return None
    return Remembered(r.request_hash, r.status, r.content_type, r.body, r.created_at)


def claim(conn: Connection, token_id: int, key: str, request_hash: str, now: datetime, since: datetime) -> None:
    """Claim ``key`` for this request (in the caller's transaction); KeyTaken if it is claimed already.
    A claim older than ``since`` has expired and is replaced."""
    conn.execute(idempotency.delete().where(idempotency.c.token_id == token_id, idempotency.c.key == key,
                                            idempotency.c.created_at < since))
    if conn.execute(sa.select(idempotency.c.id).where(idempotency.c.token_id == token_id,
                                                      idempotency.c.key == key)).first():
        raise KeyTaken(key)
    try:
        with conn.begin_nested():
            conn.execute(idempotency.insert().values(token_id=token_id, key=key, request_hash=request_hash,
                                                     created_at=now))
    except sa.exc.IntegrityError:
        # A racing request inserted the key after our check (PostgreSQL waits for its commit).
        raise KeyTaken(key) from None


def finish(conn: Connection, token_id: int, key: str, status: int, content_type: str, body: bytes) -> None:
    """Store the response to the request that claimed ``key``."""
    conn.execute(idempotency.update().where(idempotency.c.token_id == token_id, idempotency.c.key == key)
                 .values(status=status, content_type=content_type, body=body))


def prune(conn: Connection, idempotency_before: datetime, audit_before: datetime) -> dict[str, int]:
    """Forget keys and audit entries older than the cut-offs."""
    keys = conn.execute(idempotency.delete().where(idempotency.c.created_at < idempotency_before)).rowcount
    entries = conn.execute(audit.delete().where(audit.c.at < audit_before)).rowcount
    return {"idempotency_keys": keys, "audit_entries": entries}


def summary(value: Any) -> str:
    """A short JSON summary of a domain object for the audit log, secrets left out."""
    if value is None:
        return ""
    data = _plain(value)
    text = json.dumps(data, default=str, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= SUMMARY_MAX else text[:SUMMARY_MAX - 1] + "…"


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    elif hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value[:50]]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def record(conn: Connection, *, org_id: int | None, token_id: int, token_name: str, at: datetime, method: str,
           route: str, target: str, before: Any, after: Any, actor: str | None = None,
           account_id: int | None = None) -> None:
    """One audit entry, in the caller's transaction.  A console write passes ``actor``
    (``admin:<email>``, shown as the entry's name) and its ``account_id`` (token_id 0)."""
    conn.execute(audit.insert().values(org_id=org_id, token_id=token_id, token_name=(actor or token_name)[:80],
                                       at=at, method=method, route=route, target=target[:200],
                                       before=summary(before), after=summary(after), account_id=account_id))


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    token_id: int
    token_name: str
    method: str
    route: str
    target: str
    before: Any
    after: Any


def _entry(r: Any) -> AuditEntry:
    def parse(text: str) -> Any:
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:      # cut short
            return text
    return AuditEntry(r.id, r.at, r.token_id, r.token_name, r.method, r.route, r.target, parse(r.before),
                      parse(r.after))


def audit_query(org_id: int | None, token_id: int | None = None, target: str | None = None) -> sa.Select[Any]:
    """The org's audit entries (None: the platform's), optionally one token's or one object's."""
    q = sa.select(audit).where(audit.c.org_id.is_(None) if org_id is None else audit.c.org_id == org_id)
    if token_id is not None:
        q = q.where(audit.c.token_id == token_id)
    if target:
        q = q.where(audit.c.target == target)
    return q


def audit_row(r: Any) -> AuditEntry:
    return _entry(r)
