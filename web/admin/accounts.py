"""Admin accounts: the people who use the console, their roles and their two-factor login.

An account belongs to one org (``org_id``) or, with ``org_id`` None, is a platform admin.  Its e-mail
address is unique within its org (case-insensitive: it is stored lower-cased), its password an argon2 hash,
its role one of :data:`aaad.authz.ROLES`.  Two-factor login is TOTP (RFC 6238, 30-second steps, 6 digits):
:func:`begin_totp` stores a new secret (encrypted with the SecretBox) not yet in force, :func:`confirm_totp`
puts it in force once a code from it is typed and returns ten recovery codes (shown once, stored as
SHA-256); :func:`verify_totp` accepts a code of the current step or the one either side, but never a step
at or before the last one accepted (a code seen over a shoulder is worth nothing afterwards).

Sign-in is throttled with the portal's counters (:func:`web.portal.accounts.begin_attempt`) under this
module's own kinds (:data:`THROTTLE_KINDS`), keyed by the e-mail typed and the client's address.

Every function takes the caller's connection; those acting on an existing account take the org it must
belong to (None: a platform account), so an admin of org A never reaches an account of org B.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import authz, paging, passwords
from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from billing.customers import normalise_email
from web.admin import sessions
from web.schema import admin_accounts as t
from web.schema import admin_recovery_codes as codes_t

THROTTLE_KINDS = ("admin-id", "admin-ip")
THROTTLE_ORG = 0                 # the console's counters are not per org: an e-mail may be in several
ISSUER = "aaad"
STEP = 30                        # seconds per TOTP step
RECOVERY_CODES = 10
PASSWORD_MIN = 10


@dataclass(frozen=True)
class Account:
    id: int
    org_id: int | None
    email: str
    name: str
    role: str
    totp_enabled: bool
    disabled_at: datetime | None
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def label(self) -> str:
        """How the audit log names the account."""
        return f"admin:{self.email}"


_COLS = (t.c.id, t.c.org_id, t.c.email, t.c.name, t.c.role, t.c.totp_enabled, t.c.disabled_at, t.c.created_at)


def _row(r: sa.Row) -> Account:
    return Account(r.id, r.org_id, r.email, r.name, r.role, bool(r.totp_enabled), r.disabled_at, r.created_at)


def _in_org(org_id: int | None) -> sa.ColumnElement[bool]:
    return t.c.org_id.is_(None) if org_id is None else t.c.org_id == org_id


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= 200:
        raise ValidationError("password", f"Use {PASSWORD_MIN} to 200 characters.")


def check_role(role: str) -> None:
    if role not in authz.ROLES:
        raise ValidationError("role", "Choose one of: " + ", ".join(authz.ROLES) + ".")


def add(conn: Connection, org_id: int | None, email: str, name: str, role: str, password: str,
        now: datetime) -> Account:
    """A new account of ``org_id`` (None: a platform admin) without two-factor login yet."""
    addr = normalise_email(email)
    name = name.strip()
    if len(name) > 120:
        raise ValidationError("name", "At most 120 characters.")
    check_role(role)
    check_password_rules(password)
    if find(conn, org_id, addr) is not None:
        raise ValidationError("email", "An account with this e-mail address exists already.")
    new_id = conn.execute(t.insert().values(
        org_id=org_id, org_key=org_id or 0, email=addr, name=name or addr.split("@")[0], role=role,
        password_hash=passwords.hash_password(password), created_at=now)).inserted_primary_key[0]  # type: ignore[index]
    a = get(conn, org_id, int(new_id))
    assert a is not None
    return a


def get(conn: Connection, org_id: int | None, account_id: int) -> Account | None:
    """The account ``account_id`` if it belongs to ``org_id`` (None: a platform account)."""
    r = conn.execute(sa.select(*_COLS).where(t.c.id == account_id, _in_org(org_id))).first()
    return _row(r) if r else None


def by_id(conn: Connection, account_id: int) -> Account | None:
    """The account ``account_id`` whatever its org (for a session, which names its own)."""
    r = conn.execute(sa.select(*_COLS).where(t.c.id == account_id)).first()
    return _row(r) if r else None


def find(conn: Connection, org_id: int | None, email: str) -> Account | None:
    """The account of ``org_id`` with this e-mail address (any case)."""
    r = conn.execute(sa.select(*_COLS).where(_in_org(org_id), t.c.email == email.strip().lower())).first()
    return _row(r) if r else None


def _require(conn: Connection, org_id: int | None, account_id: int) -> Account:
    a = get(conn, org_id, account_id)
    if a is None:
        raise NotFound("account", account_id)
    return a


SORTS = {"id": t.c.id, "email": t.c.email, "created_at": t.c.created_at}


def page(conn: Connection, org_id: int | None, *, role: str | None = None, include_disabled: bool = True,
         sort: str = "email", cursor: str | None = None, limit: int = 50) -> paging.Page[Account]:
    """One page of the org's accounts (:mod:`aaad.paging`), optionally of one role."""
    q = sa.select(*_COLS).where(_in_org(org_id))
    if role:
        q = q.where(t.c.role == role)
    if not include_disabled:
        q = q.where(t.c.disabled_at.is_(None))
    return paging.page(conn, q, sort=sort, columns=SORTS, id_col=t.c.id, cursor=cursor, limit=limit, row=_row)


def list_all(conn: Connection) -> list[Account]:
    """Every account of every org (for the CLI), by id."""
    return [_row(r) for r in conn.execute(sa.select(*_COLS).order_by(t.c.id))]


def set_role(conn: Connection, org_id: int | None, account_id: int, role: str) -> Account:
    """Give the account another role; the org's last active owner keeps theirs."""
    check_role(role)
    a = _require(conn, org_id, account_id)
    if a.role == "owner" and role != "owner" and a.active:
        _keep_an_owner(conn, org_id, a.id)
    conn.execute(t.update().where(t.c.id == a.id).values(role=role))
    return _require(conn, org_id, account_id)


def _keep_an_owner(conn: Connection, org_id: int | None, leaving: int) -> None:
    others = conn.execute(sa.select(sa.func.count()).select_from(t).where(
        _in_org(org_id), t.c.role == "owner", t.c.disabled_at.is_(None), t.c.id != leaving)).scalar_one()
    if not others:
        raise ValidationError("role", "This is the last active owner: make another account owner first.")


def disable(conn: Connection, org_id: int | None, account_id: int, now: datetime) -> Account:
    """Disable the account (it cannot sign in; its sessions end); the last active owner cannot be."""
    a = _require(conn, org_id, account_id)
    if a.active:
        if a.role == "owner":
            _keep_an_owner(conn, org_id, a.id)
        conn.execute(t.update().where(t.c.id == a.id).values(disabled_at=now))
        sessions.end_all(conn, a.id)
    return _require(conn, org_id, account_id)


def enable(conn: Connection, org_id: int | None, account_id: int) -> Account:
    """Let a disabled account sign in again (with its old password and second factor)."""
    _require(conn, org_id, account_id)
    conn.execute(t.update().where(t.c.id == account_id).values(disabled_at=None))
    return _require(conn, org_id, account_id)


def set_password(conn: Connection, org_id: int | None, account_id: int, password: str) -> Account:
    """A new password; the account's sessions end."""
    check_password_rules(password)
    a = _require(conn, org_id, account_id)
    conn.execute(t.update().where(t.c.id == a.id).values(password_hash=passwords.hash_password(password)))
    sessions.end_all(conn, a.id)
    return a


def change_own_password(conn: Connection, org_id: int | None, account_id: int, current: str, new: str,
                        again: str, keep_session: str | None) -> Account:
    """The signed-in account changes its own password: ``current`` must be right and ``new`` typed twice
    alike; its other sessions end (``keep_session``, the one it is changing it in, stays).
    ValidationError("current" | "password" | "again")."""
    a = _require(conn, org_id, account_id)
    stored = conn.execute(sa.select(t.c.password_hash).where(t.c.id == a.id)).scalar_one()
    if not passwords.verify(stored, current):
        raise ValidationError("current", "That is not your current password.")
    check_password_rules(new)
    if new != again:
        raise ValidationError("again", "The two new passwords differ; type the same one twice.")
    if new == current:
        raise ValidationError("password", "Choose a password other than the current one.")
    conn.execute(t.update().where(t.c.id == a.id).values(password_hash=passwords.hash_password(new)))
    sessions.end_others(conn, a.id, keep_session)
    return a


def check_password(conn: Connection, email: str, password: str) -> Account | None:
    """The active account with this e-mail address (in any org) whose password is ``password``; None
    otherwise (the caller says the same for an unknown address, a wrong password and a disabled account)."""
    addr = email.strip().lower()
    rows = conn.execute(sa.select(*_COLS, t.c.password_hash).where(t.c.email == addr, t.c.disabled_at.is_(None))
                        .order_by(t.c.id)).all()
    if not rows or not password:
        passwords.same_work(password)
        return None
    for r in rows:
        if passwords.verify(r.password_hash, password):
            return _row(r)
    return None


# -- two-factor login ----------------------------------------------------------------------

def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP


def _secret(conn: Connection, box: SecretBox, account_id: int) -> str | None:
    blob = conn.execute(sa.select(t.c.totp_secret).where(t.c.id == account_id)).scalar_one_or_none()
    return box.decrypt(blob).decode("ascii") if blob else None


def begin_totp(conn: Connection, box: SecretBox, org_id: int | None, account_id: int) -> tuple[str, str]:
    """A new TOTP secret for the account, not in force until :func:`confirm_totp`: (the secret in base32,
    the ``otpauth://`` URI an authenticator app reads from a QR code).  Refused while one is in force."""
    a = _require(conn, org_id, account_id)
    if a.totp_enabled:
        raise ValidationError("code", "Two-factor login is on already; an owner can reset it.")
    secret = pyotp.random_base32()
    conn.execute(t.update().where(t.c.id == a.id).values(totp_secret=box.encrypt(secret), totp_step=None))
    return secret, pyotp.TOTP(secret).provisioning_uri(name=a.email, issuer_name=ISSUER)


def pending_totp(conn: Connection, box: SecretBox, org_id: int | None, account_id: int) -> tuple[str, str] | None:
    """The secret :func:`begin_totp` stored and its URI, while it is not yet confirmed."""
    a = _require(conn, org_id, account_id)
    secret = None if a.totp_enabled else _secret(conn, box, a.id)
    if secret is None:
        return None
    return secret, pyotp.TOTP(secret).provisioning_uri(name=a.email, issuer_name=ISSUER)


def _match(secret: str, code: str, now: datetime) -> int | None:
    """The step (now's or one either side) whose code ``code`` is, if any."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    here = _step(now)
    for step in (here, here - 1, here + 1):
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def _claim_step(conn: Connection, account_id: int, step: int) -> bool:
    """Record ``step`` as used, if it is later than the last one used (a conditional UPDATE: two requests
    with the same code cannot both pass)."""
    return conn.execute(t.update().where(t.c.id == account_id, sa.or_(t.c.totp_step.is_(None), t.c.totp_step < step))
                        .values(totp_step=step)).rowcount == 1


def _hash_code(code: str) -> str:
    return hashlib.sha256("".join(code.lower().split()).replace("-", "").encode("ascii", "replace")).hexdigest()


def confirm_totp(conn: Connection, box: SecretBox, org_id: int | None, account_id: int, code: str,
                 now: datetime) -> list[str]:
    """Put the pending secret in force with a code from it; the account's ten new recovery codes (shown
    once; earlier ones are void).  ValidationError("code") for a wrong code."""
    a = _require(conn, org_id, account_id)
    secret = None if a.totp_enabled else _secret(conn, box, a.id)
    if secret is None:
        raise ValidationError("code", "Start again: there is no new secret to confirm.")
    step = _match(secret, code, now)
    if step is None or not _claim_step(conn, a.id, step):
        raise ValidationError("code", "That code is not right; type the 6 digits the app shows now.")
    conn.execute(t.update().where(t.c.id == a.id).values(totp_enabled=True))
    conn.execute(codes_t.delete().where(codes_t.c.account_id == a.id))
    made = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)                 # 40 bits, shown as xxxxx-xxxxx
        made.append(f"{raw[:5]}-{raw[5:]}")
    conn.execute(codes_t.insert(), [{"account_id": a.id, "code_hash": _hash_code(c)} for c in made])
    return made


def verify_totp(conn: Connection, box: SecretBox, account_id: int, code: str, now: datetime) -> bool:
    """True if ``code`` is the account's code for now (or a step either side) and that step was not used
    before; the step is then used up."""
    a = by_id(conn, account_id)
    if a is None or not a.totp_enabled:
        return False
    secret = _secret(conn, box, a.id)
    step = _match(secret, code, now) if secret else None
    return step is not None and _claim_step(conn, a.id, step)


def use_recovery_code(conn: Connection, account_id: int, code: str, now: datetime) -> bool:
    """True if ``code`` is one of the account's unused recovery codes; it is then used up."""
    if not code or len(code) > 40:
        return False
    c = codes_t.c
    return conn.execute(codes_t.update().where(c.account_id == account_id, c.code_hash == _hash_code(code),
                                               c.used_at.is_(None)).values(used_at=now)).rowcount == 1


def recovery_codes_left(conn: Connection, account_id: int) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(codes_t).where(
        codes_t.c.account_id == account_id, codes_t.c.used_at.is_(None))).scalar_one())


def reset_totp(conn: Connection, org_id: int | None, account_id: int) -> Account:
    """Turn two-factor login off (a lost phone): the secret and recovery codes go, the sessions end; the
    account enrols again at its next sign-in."""
    a = _require(conn, org_id, account_id)
    conn.execute(t.update().where(t.c.id == a.id).values(totp_secret=None, totp_enabled=False, totp_step=None))
    conn.execute(codes_t.delete().where(codes_t.c.account_id == a.id))
    sessions.end_all(conn, a.id)
    return _require(conn, org_id, account_id)
