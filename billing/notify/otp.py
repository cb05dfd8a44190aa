"""One-time codes for phone numbers (sign-up, login by phone, sensitive changes), and the
password-reset message: the functions the portal calls.

A code is 6 digits, stored as a salted HMAC-SHA256 (never in the clear; the
message carries it encrypted until sent), valid for ``minutes``, refused after
``attempts`` wrong tries, and not re-sent within ``resend_seconds`` of the
last one nor more than ``per_hour`` times an hour for a number.  The answer
to a request is the same whether the number belongs to a customer or not:
for a purpose that needs a known number (``login``, ``change``) the code is
recorded and throttled alike but no message goes to an unknown number.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.crypto import SecretBox
from aaad.errors import ValidationError
from billing import customers as cust
from billing import settings as billing_settings
from billing.notify import outbox
from billing.notify.channels import SMS, WHATSAPP
from billing.notify.schema import otp_codes as otp_t
from billing.schema import customers as cust_t

PURPOSES = ("signup", "login", "change")
_KNOWN_ONLY = ("login", "change")


@dataclass(frozen=True)
class OtpPolicy:
    minutes: int = 10
    attempts: int = 5
    resend_seconds: int = 60
    per_hour: int = 5


@dataclass(frozen=True)
class Requested:
    """What the caller may tell the user (identical for known and unknown numbers)."""
    accepted: bool               # False: throttled
    retry_after: int             # seconds until another code may be asked for (0: now)
    expires_in: int              # seconds the code works


def _hash(salt: str, code: str) -> str:
    return hmac.new(salt.encode(), code.encode(), hashlib.sha256).hexdigest()


def _phone(conn: Connection, org_id: int, text: str) -> str:
    return cust.normalise_phone(text, billing_settings.get(conn, org_id).country)


def request(conn: Connection, box: SecretBox, org_id: int, phone_text: str, purpose: str, now: datetime,
            policy: OtpPolicy = OtpPolicy(), *, code: str | None = None) -> Requested:
    """Issue a code for a number (see the module docstring); ValidationError("phone") for
    something that is not a phone number, ("purpose") for an unknown purpose."""
    if purpose not in PURPOSES:
        raise ValidationError("purpose", f"one of {', '.join(PURPOSES)}")
    phone = _phone(conn, org_id, phone_text)
    c = otp_t.c
    recent = conn.execute(sa.select(c.created_at).where(
        c.org_id == org_id, c.phone == phone, c.created_at > now - timedelta(hours=1)).order_by(c.id.desc())).all()
    if recent:
        wait = int((recent[0].created_at + timedelta(seconds=policy.resend_seconds) - now).total_seconds())
        if len(recent) >= policy.per_hour:
            wait = max(wait, int((recent[-1].created_at + timedelta(hours=1) - now).total_seconds()))
        if wait > 0:
            return Requested(False, wait, 0)
    code = code or f"{_secrets.randbelow(10 ** 6):06d}"
    salt = _secrets.token_hex(8)
    # a new code replaces the number's earlier ones for this purpose
    conn.execute(otp_t.update().where(c.org_id == org_id, c.phone == phone, c.purpose == purpose,
                                      c.used_at.is_(None)).values(used_at=now))
    row = conn.execute(otp_t.insert().values(org_id=org_id, phone=phone, purpose=purpose, code_hash=_hash(salt, code),
                                             salt=salt, created_at=now,
                                             expires_at=now + timedelta(minutes=policy.minutes))).inserted_primary_key
    assert row is not None
    owner = conn.execute(sa.select(cust_t.c.id).where(cust_t.c.org_id == org_id, cust_t.c.phone == phone,
                                                      cust_t.c.status != "closed")).first()
    if owner is not None or purpose not in _KNOWN_ONLY:
        outbox.queue(conn, box, org_id, [outbox.Draft(
            "otp.code", f"otp:{row[0]}", owner.id if owner is not None else None, {"minutes": policy.minutes},
            {"code": code}, to={SMS: phone, WHATSAPP: phone})], now)
    return Requested(True, policy.resend_seconds, policy.minutes * 60)


def verify(conn: Connection, org_id: int, phone_text: str, purpose: str, code: str, now: datetime,
           policy: OtpPolicy = OtpPolicy()) -> bool:
    """Whether ``code`` is the number's live code for ``purpose`` (it is then used up).  A
    wrong try counts against the code (committed: run it as a write); after
    ``policy.attempts`` wrong tries the code is dead even for the right digits."""
    try:
        phone = _phone(conn, org_id, phone_text)
    except ValidationError:
        return False
    c = otp_t.c
    r = conn.execute(sa.select(c.id, c.code_hash, c.salt, c.attempts, c.expires_at).where(
        c.org_id == org_id, c.phone == phone, c.purpose == purpose, c.used_at.is_(None))
        .order_by(c.id.desc()).limit(1)).first()
    if r is None or r.expires_at <= now or r.attempts >= policy.attempts:
        return False
    if not (code.isdigit() and len(code) == 6) or not hmac.compare_digest(r.code_hash, _hash(r.salt, code)):
        conn.execute(otp_t.update().where(c.id == r.id).values(attempts=c.attempts + 1))
        return False
    return conn.execute(otp_t.update().where(c.id == r.id, c.used_at.is_(None), c.attempts < policy.attempts)
                        .values(used_at=now)).rowcount == 1


def send_reset_link(conn: Connection, box: SecretBox, org_id: int, customer_id: int, url: str, minutes: int,
                    now: datetime) -> list[int]:
    """Queue a password-reset message with ``url`` (the portal made the token; the link is
    kept encrypted until sent); the message ids."""
    key = "reset:" + hashlib.sha256(url.encode()).hexdigest()[:24]
    return outbox.queue(conn, box, org_id, [outbox.Draft("password.reset", key, customer_id, {"minutes": minutes},
                                                          {"reset_url": url})], now)


def prune(conn: Connection, before: datetime) -> int:
    return conn.execute(otp_t.delete().where(otp_t.c.expires_at < before)).rowcount
