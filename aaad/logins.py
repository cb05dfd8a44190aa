"""The AAA view: profiles and logins, in the database and in memory.

This is the one module that changes the view.  A change is one step: the
database row and its change-feed row in one transaction, then the in-memory
map.  :class:`ChangeFollower` applies change-feed rows written by others
(the CLI, another instance) within a second, so a login added with
``aaad user add`` against a running daemon's database authenticates
without a restart.

The auth hot path reads :class:`AAAView` only; it never waits on the
database.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer, task
from twisted.logger import Logger

from aaad import changes
from aaad.clock import utcnow
from aaad.crypto import SecretBox
from aaad.nas import Nas, NasTable
from aaad.nas import _row as _nas_row
from aaad.orgs import ValidationError
from aaad.schema import LOGIN_STATES, SUSPEND_MODES, logins, nas as nas_t, profiles

log = Logger()


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    org_id: int
    name: str
    rate_limit: str | None = None
    fup_rate_limit: str | None = None
    session_timeout: int | None = None
    pool: str | None = None
    interim_interval: int | None = None
    address_list: str | None = None
    block_when_exhausted: bool = False


@dataclass(slots=True, eq=False)
class Login:
    """A login as the auth server sees it (password decrypted, in memory only).

    ``compiled`` is a cache slot for the auth policy's prepared reply; it is
    dropped whenever the login or its profile changes (a new object).
    """
    id: int
    org_id: int
    username: str
    password: bytes
    state: str = "active"
    suspend_mode: str = "reject"
    profile_id: int | None = None
    framed_ip: str | None = None
    rate_limit: str | None = None
    simultaneous_use: int | None = None
    expires_at: datetime | None = None
    validity_seconds: int | None = None
    first_used_at: datetime | None = None
    data_cap: int | None = None
    cycle_anchor: datetime | None = None
    owner_type: str | None = None
    owner_id: int | None = None
    compiled: Any = field(default=None, repr=False)
    nt_hash: bytes | None = field(default=None, repr=False)

    def effective_expiry(self) -> datetime | None:
        """When the login stops being valid: the earlier of expires_at and first use + validity."""
        candidates = [self.expires_at] if self.expires_at is not None else []
        if self.validity_seconds is not None and self.first_used_at is not None:
            candidates.append(self.first_used_at + timedelta(seconds=self.validity_seconds))
        return min(candidates) if candidates else None


# -- rows -----------------------------------------------------------------------

def _profile_row(r) -> Profile:  # type: ignore[no-untyped-def]
    return Profile(r.id, r.org_id, r.name, r.rate_limit, r.fup_rate_limit, r.session_timeout,
                   r.pool, r.interim_interval, r.address_list, bool(r.block_when_exhausted))


def _login_row(r, box: SecretBox) -> Login:  # type: ignore[no-untyped-def]
    return Login(r.id, r.org_id, r.username, box.decrypt(r.secret_enc), r.state, r.suspend_mode,
                 r.profile_id, r.framed_ip, r.rate_limit, r.simultaneous_use, r.expires_at,
                 r.validity_seconds, r.first_used_at, r.data_cap, r.cycle_anchor, r.owner_type,
                 r.owner_id)


# -- profiles -------------------------------------------------------------------

PROFILE_FIELDS = ("rate_limit", "fup_rate_limit", "session_timeout", "pool", "interim_interval",
                  "address_list", "block_when_exhausted")


def _check_profile(values: dict[str, Any]) -> None:
    for k in ("session_timeout", "interim_interval"):
        v = values.get(k)
        if v is not None and (not isinstance(v, int) or v <= 0):
            raise ValidationError(k, "a whole number of seconds greater than 0")
    for k in ("rate_limit", "fup_rate_limit"):
        v = values.get(k)
        if v is not None and (not v or len(v) > 200 or any(c.isspace() for c in v.strip(" "))):
            raise ValidationError(k, "a MikroTik rate limit such as 10M/10M or 2M/4M 4M/8M 1M/2M 10/10")


def add_profile(conn: Connection, org_id: int, name: str, now: datetime, **values: Any) -> Profile:
    unknown = set(values) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown profile field")
    if not name or len(name) > 100:
        raise ValidationError("name", "1 to 100 characters")
    _check_profile(values)
    if conn.execute(sa.select(profiles.c.id).where(profiles.c.org_id == org_id,
                                                   profiles.c.name == name)).first():
        raise ValidationError("name", f"a profile named {name!r} already exists in this org")
    pid = conn.execute(profiles.insert().values(org_id=org_id, name=name, created_at=now, **values)
                       ).inserted_primary_key[0]
    changes.record(conn, org_id, "profile", pid, "upsert", now)
    return get_profile(conn, pid)  # type: ignore[return-value]


def update_profile(conn: Connection, profile_id: int, now: datetime, **values: Any) -> Profile:
    _check_profile(values)
    p = get_profile(conn, profile_id)
    if p is None:
        raise ValidationError("profile", f"no profile {profile_id}")
    conn.execute(profiles.update().where(profiles.c.id == profile_id).values(**values))
    changes.record(conn, p.org_id, "profile", profile_id, "upsert", now)
    return get_profile(conn, profile_id)  # type: ignore[return-value]


def get_profile(conn: Connection, profile_id: int) -> Profile | None:
    r = conn.execute(sa.select(profiles).where(profiles.c.id == profile_id)).first()
    return _profile_row(r) if r else None


def profile_by_name(conn: Connection, org_id: int, name: str) -> Profile | None:
    r = conn.execute(sa.select(profiles).where(profiles.c.org_id == org_id,
                                               profiles.c.name == name)).first()
    return _profile_row(r) if r else None


def list_profiles(conn: Connection, org_id: int | None = None) -> list[Profile]:
    q = sa.select(profiles).order_by(profiles.c.id)
    if org_id is not None:
        q = q.where(profiles.c.org_id == org_id)
    return [_profile_row(r) for r in conn.execute(q)]


# -- logins ---------------------------------------------------------------------

LOGIN_FIELDS = ("state", "suspend_mode", "profile_id", "framed_ip", "rate_limit", "simultaneous_use",
                "expires_at", "validity_seconds", "first_used_at", "data_cap", "cycle_anchor",
                "owner_type", "owner_id")


def _check_login(values: dict[str, Any]) -> None:
    if "state" in values and values["state"] not in LOGIN_STATES:
        raise ValidationError("state", f"one of {', '.join(LOGIN_STATES)}")
    if "suspend_mode" in values and values["suspend_mode"] not in SUSPEND_MODES:
        raise ValidationError("suspend_mode", f"one of {', '.join(SUSPEND_MODES)}")
    if values.get("framed_ip") is not None:
        try:
            ipaddress.IPv4Address(values["framed_ip"])
        except ValueError:
            raise ValidationError("framed_ip", f"{values['framed_ip']!r} is not an IPv4 address") from None
    for k in ("simultaneous_use", "validity_seconds"):
        v = values.get(k)
        if v is not None and (not isinstance(v, int) or v <= 0):
            raise ValidationError(k, "a whole number greater than 0")
    v = values.get("data_cap")
    if v is not None and (not isinstance(v, int) or v < 0):
        raise ValidationError("data_cap", "a number of octets, 0 or more")


def validate_username(username: str) -> None:
    if not username or len(username.encode()) > 253:
        raise ValidationError("username", "1 to 253 octets")
    if any(ord(c) < 32 for c in username):
        raise ValidationError("username", "must not contain control characters")


def add_login(conn: Connection, box: SecretBox, org_id: int, username: str, password: str | bytes,
              now: datetime, **values: Any) -> Login:
    """Insert a login and its change row; raise ValidationError on bad input."""
    unknown = set(values) - set(LOGIN_FIELDS)
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown login field")
    validate_username(username)
    pw = password.encode() if isinstance(password, str) else password
    if not pw or len(pw) > 128:
        raise ValidationError("password", "1 to 128 octets (the most RADIUS PAP can carry)")
    _check_login(values)
    if values.get("profile_id") is not None:
        p = get_profile(conn, values["profile_id"])
        if p is None or p.org_id != org_id:
            raise ValidationError("profile", "no such profile in this org")
    if conn.execute(sa.select(logins.c.id).where(logins.c.org_id == org_id,
                                                 logins.c.username == username)).first():
        raise ValidationError("username", f"{username!r} already exists in this org")
    lid = conn.execute(logins.insert().values(
        org_id=org_id, username=username, secret_enc=box.encrypt(pw), created_at=now,
        updated_at=now, **values)).inserted_primary_key[0]
    changes.record(conn, org_id, "login", lid, "upsert", now)
    return get_login(conn, box, lid)  # type: ignore[return-value]


def update_login(conn: Connection, box: SecretBox, login_id: int, now: datetime,
                 password: str | bytes | None = None, **values: Any) -> Login:
    """Change fields of a login (and its password if given) with a change row."""
    unknown = set(values) - set(LOGIN_FIELDS)
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown login field")
    _check_login(values)
    cur = conn.execute(sa.select(logins.c.org_id).where(logins.c.id == login_id)).first()
    if cur is None:
        raise ValidationError("login", f"no login {login_id}")
    if password is not None:
        pw = password.encode() if isinstance(password, str) else password
        if not pw or len(pw) > 128:
            raise ValidationError("password", "1 to 128 octets")
        values["secret_enc"] = box.encrypt(pw)
    conn.execute(logins.update().where(logins.c.id == login_id).values(updated_at=now, **values))
    changes.record(conn, cur.org_id, "login", login_id, "upsert", now)
    return get_login(conn, box, login_id)  # type: ignore[return-value]


def set_first_use(conn: Connection, login_id: int, at: datetime) -> bool:
    """Start the validity clock once: a conditional UPDATE settles races."""
    cur = conn.execute(sa.select(logins.c.org_id).where(logins.c.id == login_id)).first()
    if cur is None:
        return False
    n = conn.execute(logins.update().where(logins.c.id == login_id, logins.c.first_used_at.is_(None))
                     .values(first_used_at=at, updated_at=at)).rowcount
    if n:
        changes.record(conn, cur.org_id, "login", login_id, "upsert", at)
    return bool(n)


def remove_login(conn: Connection, org_id: int, username: str, now: datetime) -> bool:
    r = conn.execute(sa.select(logins.c.id).where(logins.c.org_id == org_id,
                                                  logins.c.username == username)).first()
    if r is None:
        return False
    conn.execute(logins.delete().where(logins.c.id == r.id))
    changes.record(conn, org_id, "login", r.id, "delete", now)
    return True


def get_login(conn: Connection, box: SecretBox, login_id: int) -> Login | None:
    r = conn.execute(sa.select(logins).where(logins.c.id == login_id)).first()
    return _login_row(r, box) if r else None


def login_by_name(conn: Connection, box: SecretBox, org_id: int, username: str) -> Login | None:
    r = conn.execute(sa.select(logins).where(logins.c.org_id == org_id,
                                             logins.c.username == username)).first()
    return _login_row(r, box) if r else None


def list_logins(conn: Connection, box: SecretBox, org_id: int | None = None,
                limit: int | None = None) -> list[Login]:
    q = sa.select(logins).order_by(logins.c.id)
    if org_id is not None:
        q = q.where(logins.c.org_id == org_id)
    if limit:
        q = q.limit(limit)
    return [_login_row(r, box) for r in conn.execute(q)]


# -- snapshot and follower --------------------------------------------------------

@dataclass
class Snapshot:
    last_change: int
    nas: list[Nas]
    profiles: list[Profile]
    logins: list[Login]


def load_snapshot(conn: Connection, box: SecretBox) -> Snapshot:
    """Everything the auth path needs, and the change id it is current to.

    The change id is read first: changes committed while loading are
    applied again by the follower, which is harmless (loads are idempotent).
    """
    last = changes.last_id(conn)
    all_nas = [_nas_row(r, box) for r in conn.execute(sa.select(nas_t))]
    profs = [_profile_row(r) for r in conn.execute(sa.select(profiles))]
    decrypt = box.decrypt
    cols = logins.c
    q = sa.select(cols.id, cols.org_id, cols.username, cols.secret_enc, cols.state, cols.suspend_mode,
                  cols.profile_id, cols.framed_ip, cols.rate_limit, cols.simultaneous_use,
                  cols.expires_at, cols.validity_seconds, cols.first_used_at, cols.data_cap,
                  cols.cycle_anchor, cols.owner_type, cols.owner_id)
    lg = [Login(r[0], r[1], r[2], decrypt(r[3]), *r[4:]) for r in conn.execute(q)]
    return Snapshot(last, all_nas, profs, lg)


@dataclass
class EntityUpdate:
    change: changes.Change
    entity: Any  # Login | Profile | Nas | None (deleted)


def load_changes(conn: Connection, box: SecretBox, last_id: int, limit: int = 5000) -> list[EntityUpdate]:
    """Change rows after ``last_id`` with the current state of each entity."""
    out = []
    for ch in changes.since(conn, last_id, limit):
        ent: Any = None
        if ch.op != "delete":
            if ch.kind == "login":
                ent = get_login(conn, box, ch.entity_id)
            elif ch.kind == "profile":
                ent = get_profile(conn, ch.entity_id)
            elif ch.kind == "nas":
                r = conn.execute(sa.select(nas_t).where(nas_t.c.id == ch.entity_id)).first()
                ent = _nas_row(r, box) if r else None
        out.append(EntityUpdate(ch, ent))
    return out


class AAAView:
    """In-memory logins, profiles and NAS clients; what the auth path reads."""

    def __init__(self) -> None:
        self.logins: dict[tuple[int, str], Login] = {}
        self._by_id: dict[int, Login] = {}
        self.profiles: dict[int, Profile] = {}
        self.nas = NasTable()
        self.last_change = 0
        self.listeners: list[Callable[[str, Any, Any], None]] = []  # (kind, old, new)

    def __len__(self) -> int:
        return len(self.logins)

    def load(self, snap: Snapshot) -> None:
        self.nas.load(snap.nas)
        self.profiles = {p.id: p for p in snap.profiles}
        self.logins = {(lg.org_id, lg.username): lg for lg in snap.logins}
        self._by_id = {lg.id: lg for lg in snap.logins}
        self.last_change = snap.last_change

    def get(self, org_id: int, username: str) -> Login | None:
        return self.logins.get((org_id, username))

    def login_by_id(self, login_id: int) -> Login | None:
        return self._by_id.get(login_id)

    def put_login(self, lg: Login) -> None:
        old = self._by_id.get(lg.id)
        if old is not None and (old.org_id, old.username) != (lg.org_id, lg.username):
            self.logins.pop((old.org_id, old.username), None)
        self.logins[(lg.org_id, lg.username)] = lg
        self._by_id[lg.id] = lg
        self._notify("login", old, lg)

    def drop_login(self, login_id: int) -> None:
        old = self._by_id.pop(login_id, None)
        if old is not None:
            self.logins.pop((old.org_id, old.username), None)
            self._notify("login", old, None)

    def put_profile(self, p: Profile) -> None:
        old = self.profiles.get(p.id)
        self.profiles[p.id] = p
        if old != p:  # logins of this profile must recompile their replies
            for key, lg in list(self.logins.items()):
                if lg.profile_id == p.id:
                    new = replace(lg, compiled=None)
                    self.logins[key] = new
                    self._by_id[new.id] = new
        self._notify("profile", old, p)

    def drop_profile(self, profile_id: int) -> None:
        old = self.profiles.pop(profile_id, None)
        self._notify("profile", old, None)

    def apply(self, updates: Iterable[EntityUpdate]) -> int:
        n = 0
        for u in updates:
            ch, ent = u.change, u.entity
            if ch.kind == "login":
                self.put_login(ent) if ent is not None else self.drop_login(ch.entity_id)
            elif ch.kind == "profile":
                self.put_profile(ent) if ent is not None else self.drop_profile(ch.entity_id)
            elif ch.kind == "nas":
                self.nas.upsert(ent) if ent is not None else self.nas.remove(ch.entity_id)
                self._notify("nas", None, ent)
            self.last_change = max(self.last_change, ch.id)
            n += 1
        return n

    def _notify(self, kind: str, old: Any, new: Any) -> None:
        for cb in self.listeners:
            try:
                cb(kind, old, new)
            except Exception:
                log.failure("AAA view listener failed", kind=kind)


class ChangeFollower:
    """Polls the change feed and applies new rows to the view (and can be poked)."""

    def __init__(self, db: Any, box: SecretBox, view: AAAView, clock: Any, interval: float = 0.25):
        self.db = db
        self.box = box
        self.view = view
        self.clock = clock
        self.interval = interval
        self._loop: task.LoopingCall | None = None
        self._running = False
        self.applied = 0

    def start(self) -> None:
        self._loop = task.LoopingCall(self.poll)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=False).addErrback(
            lambda f: log.failure("change follower stopped", f))

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    @defer.inlineCallbacks
    def poll(self):  # type: ignore[no-untyped-def]
        """Apply everything new; never overlaps itself; errors are logged, not fatal."""
        if self._running:
            return
        self._running = True
        try:
            while True:
                updates = yield self.db.read(load_changes, self.box, self.view.last_change)
                if not updates:
                    break
                self.applied += self.view.apply(updates)
                if len(updates) < 5000:
                    break
        except Exception:
            log.failure("change feed poll failed")
        finally:
            self._running = False


class LoginService:
    """Writes to the AAA view: the database (row + change row) then memory."""

    def __init__(self, db: Any, box: SecretBox, view: AAAView, clock: Any):
        self.db = db
        self.box = box
        self.view = view
        self.clock = clock

    def _now(self) -> datetime:
        return utcnow(self.clock)

    @defer.inlineCallbacks
    def add(self, org_id: int, username: str, password: str | bytes, **values: Any):  # type: ignore[no-untyped-def]
        lg = yield self.db.write(add_login, self.box, org_id, username, password, self._now(), **values)
        self.view.put_login(lg)
        return lg

    @defer.inlineCallbacks
    def update(self, login_id: int, password: str | bytes | None = None, **values: Any):  # type: ignore[no-untyped-def]
        lg = yield self.db.write(update_login, self.box, login_id, self._now(), password, **values)
        self.view.put_login(lg)
        return lg

    def set_state(self, login_id: int, state: str) -> defer.Deferred:
        return self.update(login_id, state=state)

    @defer.inlineCallbacks
    def first_use(self, login: Login):  # type: ignore[no-untyped-def]
        """Record the first authentication of a login with a validity period."""
        now = self._now()
        login.first_used_at = now  # memory first: the next request already sees it
        changed = yield self.db.write(set_first_use, login.id, now)
        if not changed:  # someone else (another instance) was first: take the stored value
            fresh = yield self.db.read(get_login, self.box, login.id)
            if fresh is not None:
                self.view.put_login(fresh)
        return changed
