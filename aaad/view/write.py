"""The one write path of the AAA view.

Every change to a login or a profile goes through a :class:`LoginWriter`
method.  Each takes the caller's connection and the org, so the caller's
transaction changes its own rows, the login row, the change-feed row and a
typed event (:mod:`aaad.view.events`) in one commit.  Run on the daemon's
writer (``db.write(writer.set_state, ...)``), the local in-memory view
reflects the change before the caller's Deferred fires; the CLI and other
instances reach it through the change feed.

The owner rule.  A login written by a billing service or a voucher carries
its ``owner``.  Its owner-protected fields — administrative state and
suspension mode, profile and per-login overrides, credentials and name, and
its removal — are changed only by that owner, or by an operator who says
``force`` (``--force`` on the CLI, which names the owner when it refuses).
A login without an owner is the operator's.  System-managed fields — first
use, throttle level, ``exhausted``, the cycle reset — are changed by the
system (:data:`SYSTEM`) whoever owns the login, each through its own method
with a conditional UPDATE, so races (two instances, a CLI) settle by row
count rather than by luck.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import bulk, changes, events
from aaad.crypto import SecretBox
from aaad.db import in_list
from aaad.orgs import ValidationError
from aaad.schema import logins, profiles
from aaad.view import model, store
from aaad.view.events import (
    CycleStarted,
    LoginCreated,
    LoginProfileChanged,
    LoginRemoved,
    LoginStateChanged,
    LoginThrottled,
    ProfileChanged,
)
from aaad.view.model import Login, Profile


@dataclass(frozen=True)
class Actor:
    """Who is writing: the system, a login's owner, or an operator."""
    kind: str  # "system" | "owner" | "operator"
    owner_type: str | None = None
    owner_id: int | None = None
    force: bool = False

    @classmethod
    def owner(cls, owner_type: str, owner_id: int) -> Actor:
        return cls("owner", owner_type, owner_id)

    @classmethod
    def operator(cls, force: bool = False) -> Actor:
        return cls("operator", force=force)


# Ids per ``IN (...)`` list in the batch methods (well under SQLite's bound-parameter limit).
_IN_MAX = 5000

SYSTEM = Actor("system")
OPERATOR = Actor("operator")


class OwnedLogin(ValidationError):
    """An owner-protected change to a login owned by someone else."""

    def __init__(self, username: str, owner_type: str, owner_id: int | None):
        self.owner_type = owner_type
        self.owner_id = owner_id
        super().__init__("owner", f"login {username!r} is managed by {owner_type} {owner_id}: "
                                  f"change it there, or force the change (aaad: --force)")


def _check_owner(row: Any, actor: Actor) -> None:
    if actor.kind == "system":
        raise ValueError("the system changes only system-managed fields of a login")
    if row.owner_type is None:
        return
    if actor.kind == "owner" and (actor.owner_type, actor.owner_id) == (row.owner_type, row.owner_id):
        return
    if actor.kind == "operator" and actor.force:
        return
    raise OwnedLogin(row.username, row.owner_type, row.owner_id)


def _row(conn: Connection, org_id: int, login_id: int) -> Any:
    r = conn.execute(sa.select(logins).where(logins.c.org_id == org_id, logins.c.id == login_id)).first()
    if r is None:
        raise ValidationError("login", f"no login {login_id} in this org")
    return r


def _profile_in_org(conn: Connection, org_id: int, profile_id: int | None) -> None:
    if profile_id is not None and store.get_profile(conn, org_id, profile_id) is None:
        raise ValidationError("profile", "no such profile in this org")


class LoginWriter:
    """The functions that write logins and profiles (see the module docstring)."""

    def __init__(self, box: SecretBox):
        self.box = box

    def _done(self, conn: Connection, org_id: int, login_id: int, now: datetime) -> Login:
        """Record the change (with the new state, for the local view) and return the login."""
        lg = store.get_login(conn, self.box, org_id, login_id)
        assert lg is not None
        changes.record(conn, org_id, "login", login_id, "upsert", now, lg)
        return lg

    # -- owner-protected ------------------------------------------------------------

    def create(self, conn: Connection, org_id: int, username: str, password: str | bytes,
               now: datetime, *, actor: Actor = OPERATOR, **values: Any) -> Login:
        """Add a login; an owner actor becomes its owner.  ValidationError on bad input."""
        if actor.kind == "system":
            raise ValueError("the system does not create logins")
        model.check_username(username)
        pw = model.password_bytes(password)
        model.check_overrides(values, model.CREATE_FIELDS)
        _profile_in_org(conn, org_id, values.get("profile_id"))
        if conn.execute(sa.select(logins.c.id).where(logins.c.org_id == org_id,
                                                     logins.c.username == username)).first():
            raise ValidationError("username", f"{username!r} already exists in this org")
        owner = {"owner_type": actor.owner_type, "owner_id": actor.owner_id} if actor.kind == "owner" else {}
        key = conn.execute(logins.insert().values(
            org_id=org_id, username=username, secret_enc=self.box.encrypt(pw), created_at=now,
            updated_at=now, **owner, **values)).inserted_primary_key
        assert key is not None
        lid: int = key[0]
        lg = self._done(conn, org_id, lid, now)
        events.publish(conn, org_id, LoginCreated(lid, username, lg.state, lg.profile_id), now)
        return lg

    def create_many(self, conn: Connection, org_id: int,
                    items: Sequence[tuple[str, str | bytes, int | None]], now: datetime, *,
                    owner_type: str | None = None, **values: Any) -> list[int]:
        """Add many logins at once (a voucher batch): ``items`` are (username, password,
        owner id), ``values`` the same fields for all (as :meth:`create` takes them);
        ``owner_type`` set, each login is owned by (owner_type, its owner id).  One INSERT,
        one change-feed INSERT and one events INSERT; the new ids in the order of ``items``.
        ValidationError (``username``) if a name repeats or already exists in the org."""
        if not items:
            return []
        model.check_overrides(values, model.CREATE_FIELDS)
        _profile_in_org(conn, org_id, values.get("profile_id"))
        names = [it[0] for it in items]
        for name in names:
            model.check_username(name)
        if len(set(names)) != len(names):
            raise ValidationError("username", "a username repeats in the batch")
        for i in range(0, len(names), _IN_MAX):
            taken = conn.execute(sa.select(logins.c.username).where(
                logins.c.org_id == org_id, logins.c.username.in_(names[i:i + _IN_MAX])).limit(1)).first()
            if taken is not None:
                raise ValidationError("username", f"{taken[0]!r} already exists in this org")
        encrypt = self.box.encrypt
        pws = [model.password_bytes(pw) for _, pw, _ in items]
        rows = [(name, encrypt(pw), owner_id if owner_type else None)
                for (name, _, owner_id), pw in zip(items, pws, strict=True)]
        bulk.insert_rows(conn, logins, ("username", "secret_enc", "owner_id"), rows,
                         org_id=org_id, owner_type=owner_type, created_at=now, updated_at=now, **values)
        ids: dict[str, int] = {}
        for i in range(0, len(names), _IN_MAX):
            ids.update((u, int(lid)) for lid, u in conn.execute(sa.select(logins.c.id, logins.c.username).where(
                logins.c.org_id == org_id, logins.c.username.in_(names[i:i + _IN_MAX]))))
        state = values.get("state", "active")
        fields = {k: v for k, v in values.items() if k != "state"}
        made = [Login(ids[name], org_id, name, pw, state=state, owner_type=owner_type,
                      owner_id=owner_id if owner_type else None, **fields)
                for (name, _, owner_id), pw in zip(items, pws, strict=True)]
        changes.record_many(conn, org_id, "login", [(lg.id, "upsert", lg) for lg in made], now)
        events.publish_many(conn, org_id, [LoginCreated(lg.id, lg.username, state, lg.profile_id)
                                           for lg in made], now)
        return [lg.id for lg in made]

    def set_state(self, conn: Connection, org_id: int, login_id: int, state: str, now: datetime, *,
                  actor: Actor = OPERATOR, suspend_mode: str | None = None, reason: str = "") -> Login:
        """Set the administrative state (and suspension mode); no write if nothing changes."""
        model.check_state(state)
        if suspend_mode is not None:
            model.check_suspend_mode(suspend_mode)
        r = _row(conn, org_id, login_id)
        _check_owner(r, actor)
        mode = suspend_mode or r.suspend_mode
        if (state, mode) == (r.state, r.suspend_mode):
            return self._get(conn, org_id, login_id)
        conn.execute(logins.update().where(logins.c.id == login_id)
                     .values(state=state, suspend_mode=mode, updated_at=now))
        lg = self._done(conn, org_id, login_id, now)
        events.publish(conn, org_id, LoginStateChanged(login_id, r.username, r.state, state, mode, reason), now)
        return lg

    def set_state_many(self, conn: Connection, org_id: int, items: list[tuple[int, Actor]], state: str,
                       now: datetime, *, suspend_mode: str | None = None,
                       reasons: dict[int, str] | str = "") -> list[Login]:
        """:meth:`set_state` for many logins at once (a batch job's chunk), with the same
        outcome as calling it for each ``(login_id, actor)`` in turn — the owner rule per
        login, no write for a login already in that state and mode — in a few statements:
        one read, one conditional UPDATE per state/mode read, one read of the new logins,
        one change-feed INSERT and one events INSERT.  ``reasons``: one for all, or per
        login id.  Returns the logins in the order of ``items``."""
        model.check_state(state)
        if suspend_mode is not None:
            model.check_suspend_mode(suspend_mode)
        if not items:
            return []
        ids = list(dict.fromkeys(lid for lid, _ in items))
        rows: dict[int, Any] = {}
        for i in range(0, len(ids), _IN_MAX):
            for row in conn.execute(sa.select(logins.c.id, logins.c.username, logins.c.state,
                                              logins.c.suspend_mode,
                                              logins.c.owner_type, logins.c.owner_id)
                                    # org_id + 0: by the ids, not the org's whole index (SQLite)
                                    .where(logins.c.org_id + 0 == org_id, in_list(logins.c.id)),
                                    {"ids": ids[i:i + _IN_MAX]}):
                rows[row.id] = row
        changed: list[int] = []
        seen: set[int] = set()
        groups: dict[tuple[str, str], list[int]] = {}
        for lid, actor in items:
            r: Any = rows.get(lid)
            if r is None:
                raise ValidationError("login", f"no login {lid} in this org")
            _check_owner(r, actor)
            if lid in seen:
                continue  # set_state again: nothing left to change
            seen.add(lid)
            if (state, suspend_mode or r.suspend_mode) == (r.state, r.suspend_mode):
                continue
            changed.append(lid)
            groups.setdefault((r.state, r.suspend_mode), []).append(lid)
        for (old_state, old_mode), group in groups.items():
            for i in range(0, len(group), _IN_MAX):
                part = group[i:i + _IN_MAX]
                n = conn.execute(logins.update().where(
                    logins.c.org_id + 0 == org_id, in_list(logins.c.id), logins.c.state == old_state,
                    logins.c.suspend_mode == old_mode)
                    .values(state=state, suspend_mode=suspend_mode or old_mode, updated_at=now), {"ids": part}).rowcount
                if n != len(part):
                    raise ValidationError("state", f"{len(part) - n} of logins {part} changed meanwhile")
        new = {lg.id: lg for lg in store.get_logins(conn, self.box, org_id, ids)}
        changes.record_many(conn, org_id, "login", [(lid, "upsert", new[lid]) for lid in changed], now)
        events.publish_many(conn, org_id, [
            LoginStateChanged(lid, rows[lid].username, rows[lid].state, state, new[lid].suspend_mode,
                              reasons if isinstance(reasons, str) else reasons.get(lid, ""))
            for lid in changed], now)
        return [new[lid] for lid, _ in items]

    def set_profile(self, conn: Connection, org_id: int, login_id: int, now: datetime, *,
                    actor: Actor = OPERATOR, **values: Any) -> Login:
        """Change the profile (``profile_id``) and/or per-login overrides; None clears one."""
        model.check_overrides(values, ("profile_id",) + model.OVERRIDE_FIELDS)
        r = _row(conn, org_id, login_id)
        _check_owner(r, actor)
        if "profile_id" in values:
            _profile_in_org(conn, org_id, values["profile_id"])
        changed = sorted(k for k, v in values.items() if getattr(r, k) != v)
        if not changed:
            return self._get(conn, org_id, login_id)
        conn.execute(logins.update().where(logins.c.id == login_id)
                     .values(updated_at=now, **{k: values[k] for k in changed}))
        lg = self._done(conn, org_id, login_id, now)
        events.publish(conn, org_id, LoginProfileChanged(login_id, r.username, r.profile_id,
                                                         lg.profile_id, changed), now)
        return lg

    def set_password(self, conn: Connection, org_id: int, login_id: int, password: str | bytes,
                     now: datetime, *, actor: Actor = OPERATOR) -> Login:
        pw = model.password_bytes(password)
        _check_owner(_row(conn, org_id, login_id), actor)
        conn.execute(logins.update().where(logins.c.id == login_id)
                     .values(secret_enc=self.box.encrypt(pw), updated_at=now))
        return self._done(conn, org_id, login_id, now)

    def rename(self, conn: Connection, org_id: int, login_id: int, username: str, now: datetime, *,
               actor: Actor = OPERATOR) -> Login:
        """Give a login a new name (sessions under the old name run on until they end)."""
        model.check_username(username)
        r = _row(conn, org_id, login_id)
        _check_owner(r, actor)
        if r.username == username:
            return self._get(conn, org_id, login_id)
        if conn.execute(sa.select(logins.c.id).where(logins.c.org_id == org_id,
                                                     logins.c.username == username)).first():
            raise ValidationError("username", f"{username!r} already exists in this org")
        conn.execute(logins.update().where(logins.c.id == login_id).values(username=username, updated_at=now))
        return self._done(conn, org_id, login_id, now)

    def remove(self, conn: Connection, org_id: int, login_id: int, now: datetime, *,
               actor: Actor = OPERATOR) -> bool:
        r = conn.execute(sa.select(logins).where(logins.c.org_id == org_id, logins.c.id == login_id)).first()
        if r is None:
            return False
        _check_owner(r, actor)
        conn.execute(logins.delete().where(logins.c.id == login_id))
        changes.record(conn, org_id, "login", login_id, "delete", now)
        events.publish(conn, org_id, LoginRemoved(login_id, r.username), now)
        return True

    # -- system-managed -----------------------------------------------------------------

    def set_first_use(self, conn: Connection, org_id: int, login_id: int, at: datetime) -> bool:
        """Start the validity clock once; False if it had started (another request or instance)."""
        n = conn.execute(logins.update().where(logins.c.org_id == org_id, logins.c.id == login_id,
                                               logins.c.first_used_at.is_(None))
                         .values(first_used_at=at, updated_at=at)).rowcount
        if n:
            self._done(conn, org_id, login_id, at)
        return bool(n)

    def claim(self, conn: Connection, org_id: int, login_id: int, at: datetime,
              mac: str | None = None) -> tuple[bool, Login]:
        """The first accepted use of an ``unused`` login (a voucher): ``active`` from now,
        its validity clock started and, if it binds to a device, ``mac`` bound to it — one
        conditional UPDATE, so of two requests or instances presenting it at once exactly
        one claims it.  Returns (claimed, the login as it is now); the loser's view gets the
        winner's row too (a change-feed entry), so its answer follows the claimed login."""
        r = _row(conn, org_id, login_id)
        n = conn.execute(logins.update().where(logins.c.id == login_id, logins.c.org_id == org_id,
                                               logins.c.state == "unused")
                         .values(state="active", updated_at=at,
                                 first_used_at=sa.func.coalesce(logins.c.first_used_at,
                                                                sa.literal(at, type_=logins.c.first_used_at.type)),
                                 bound_mac=sa.case((logins.c.bind_mac == sa.true(), mac), else_=None))).rowcount
        lg = self._done(conn, org_id, login_id, at)
        if n:
            events.publish(conn, org_id, LoginStateChanged(login_id, r.username, "unused", "active",
                                                           r.suspend_mode, "first use"), at)
        return bool(n), lg

    def add_usage(self, conn: Connection, org_id: int, login_id: int, seconds: int, octets: int,
                  now: datetime) -> bool:
        """Accounting: add time and octets a login's sessions used to its totals (a login
        with a total time or data limit); an ``active`` login that has now used one up
        becomes ``exhausted`` (with the limit as the reason: enforcement disconnects it).
        True if it was exhausted by this call."""
        seconds, octets = max(0, seconds), max(0, octets)
        if not seconds and not octets:
            return False
        conn.execute(logins.update().where(logins.c.id == login_id, logins.c.org_id == org_id)
                     .values(time_used=logins.c.time_used + seconds, octets_used=logins.c.octets_used + octets,
                             updated_at=now))
        r = _row(conn, org_id, login_id)
        over = model.TIME_LIMIT_REACHED if r.time_limit is not None and r.time_used >= r.time_limit else (
            model.DATA_LIMIT_REACHED if r.data_limit is not None and r.octets_used >= r.data_limit else None)
        n = 0
        if over is not None and r.state == "active":
            n = conn.execute(logins.update().where(logins.c.id == login_id, logins.c.state == "active")
                             .values(state="exhausted")).rowcount
        self._done(conn, org_id, login_id, now)
        if n:
            events.publish(conn, org_id, LoginStateChanged(login_id, r.username, "active", "exhausted",
                                                           r.suspend_mode, over or ""), now)
        return bool(n)

    def set_throttle(self, conn: Connection, org_id: int, login_id: int, level: int, now: datetime) -> bool:
        """Set the FUP throttle level (0 = full speed); False if it already was."""
        if not isinstance(level, int) or level < 0:
            raise ValidationError("throttle_level", "a whole number, 0 or more")
        r = _row(conn, org_id, login_id)
        if r.throttle_level == level:
            return False
        n = conn.execute(logins.update().where(logins.c.id == login_id,
                                               logins.c.throttle_level == r.throttle_level)
                         .values(throttle_level=level, updated_at=now)).rowcount
        if not n:
            return False
        self._done(conn, org_id, login_id, now)
        events.publish(conn, org_id, LoginThrottled(login_id, r.username, r.throttle_level, level), now)
        return True

    def exhaust(self, conn: Connection, org_id: int, login_id: int, now: datetime,
                cycle_start: datetime | None = None, reason: str = "data quota exhausted") -> bool:
        """An active login has used up its data cap in the cycle starting at
        ``cycle_start``: ``exhausted`` (only from ``active``) until that cycle ends."""
        r = _row(conn, org_id, login_id)
        values: dict[str, Any] = {"state": "exhausted", "updated_at": now}
        if cycle_start is not None:
            values["cycle_start"] = sa.func.coalesce(
                logins.c.cycle_start, sa.literal(cycle_start, type_=logins.c.cycle_start.type))
        n = conn.execute(logins.update().where(logins.c.id == login_id, logins.c.state == "active")
                         .values(**values)).rowcount
        if not n:
            return False
        self._done(conn, org_id, login_id, now)
        events.publish(conn, org_id, LoginStateChanged(login_id, r.username, "active", "exhausted",
                                                       r.suspend_mode, reason), now)
        return True

    def start_cycle(self, conn: Connection, org_id: int, login_id: int, cycle_start: datetime,
                    now: datetime) -> bool:
        """Enter the quota cycle starting at ``cycle_start``: an exhausted login becomes
        active again and the throttle is lifted.  Once per cycle (False if already in it)."""
        r = _row(conn, org_id, login_id)
        n = conn.execute(logins.update().where(
            logins.c.id == login_id,
            sa.or_(logins.c.cycle_start.is_(None), logins.c.cycle_start < cycle_start))
            .values(cycle_start=cycle_start, updated_at=now,
                    state=sa.case((logins.c.state == "exhausted", "active"), else_=logins.c.state),
                    throttle_level=0)).rowcount
        if not n:
            return False
        self._done(conn, org_id, login_id, now)
        if r.state == "exhausted":
            events.publish(conn, org_id, LoginStateChanged(login_id, r.username, "exhausted", "active",
                                                           r.suspend_mode, "new quota cycle"), now)
        if r.throttle_level:
            events.publish(conn, org_id, LoginThrottled(login_id, r.username, r.throttle_level, 0), now)
        events.publish(conn, org_id, CycleStarted(login_id, r.username, cycle_start.isoformat()), now)
        return True

    def _get(self, conn: Connection, org_id: int, login_id: int) -> Login:
        lg = store.get_login(conn, self.box, org_id, login_id)
        assert lg is not None
        return lg

    # -- profiles ---------------------------------------------------------------------

    def create_profile(self, conn: Connection, org_id: int, name: str, now: datetime,
                       **values: Any) -> Profile:
        model.check_profile_name(name)
        values = model.profile_columns(values)
        if store.profile_by_name(conn, org_id, name) is not None:
            raise ValidationError("name", f"a profile named {name!r} already exists in this org")
        key = conn.execute(profiles.insert().values(org_id=org_id, name=name, created_at=now, **values)
                           ).inserted_primary_key
        assert key is not None
        return self._profile_done(conn, org_id, key[0], now, "created")

    def update_profile(self, conn: Connection, org_id: int, profile_id: int, now: datetime,
                       **values: Any) -> Profile:
        values = model.profile_columns(values)
        if store.get_profile(conn, org_id, profile_id) is None:
            raise ValidationError("profile", f"no profile {profile_id} in this org")
        conn.execute(profiles.update().where(profiles.c.org_id == org_id, profiles.c.id == profile_id)
                     .values(**values))
        return self._profile_done(conn, org_id, profile_id, now, "updated")

    def remove_profile(self, conn: Connection, org_id: int, profile_id: int, now: datetime) -> bool:
        p = store.get_profile(conn, org_id, profile_id)
        if p is None:
            return False
        used = conn.execute(sa.select(sa.func.count()).select_from(logins)
                            .where(logins.c.profile_id == profile_id)).scalar_one()
        if used:
            raise ValidationError("profile", f"profile {p.name!r} is used by {used} login(s)")
        conn.execute(profiles.delete().where(profiles.c.id == profile_id))
        changes.record(conn, org_id, "profile", profile_id, "delete", now)
        events.publish(conn, org_id, ProfileChanged(profile_id, p.name, "removed"), now)
        return True

    def _profile_done(self, conn: Connection, org_id: int, profile_id: int, now: datetime,
                      op: str) -> Profile:
        p = store.get_profile(conn, org_id, profile_id)
        assert p is not None
        changes.record(conn, org_id, "profile", profile_id, "upsert", now, p)
        events.publish(conn, org_id, ProfileChanged(profile_id, p.name, op), now)
        return p
