"""The in-memory AAA view: what the auth hot path reads.

Loaded from a snapshot at start, then changed only by :meth:`AAAView.apply`
with change-feed updates: those the daemon's own writer committed (applied
right after commit, before the writer's caller resumes) and those the
follower reads from the feed (the CLI, other instances).  Each entity
remembers the change id it was last applied at, so an update never
replaces a newer one, and a change applied locally is skipped when the
follower reads it again (applied once).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from twisted.logger import Logger

from aaad.changes import Change
from aaad.nas import NasTable
from aaad.view.model import Login, Profile
from aaad.view.store import EntityUpdate, Snapshot

log = Logger()

Listener = Callable[[str, Any, Any], None]  # (kind, old, new); new None: removed


class AAAView:
    """In-memory logins, profiles and NAS clients."""

    def __init__(self) -> None:
        self.logins: dict[tuple[int, str], Login] = {}
        self._by_id: dict[int, Login] = {}
        self.profiles: dict[int, Profile] = {}
        self.nas = NasTable()
        self.last_change = 0
        self._version: dict[tuple[str, int], int] = {}  # (kind, id) -> change id applied
        self.local: set[int] = set()  # change ids applied locally, not yet passed by the follower
        self.trials: dict[int, Login] = {}  # org id -> its free trial's template login (aaad.trial)
        self.listeners: list[Listener] = []

    def __len__(self) -> int:
        return len(self.logins)

    def load(self, snap: Snapshot) -> None:
        self.nas.load(snap.nas)
        self.profiles = {p.id: p for p in snap.profiles}
        self.logins = {(lg.org_id, lg.username): lg for lg in snap.logins}
        self._by_id = {lg.id: lg for lg in snap.logins}
        self.trials = {lg.org_id: lg for lg in snap.logins if lg.owner_type == "trial"}
        self.last_change = snap.last_change
        self._version = {}
        self.local = set()
        for lg in snap.logins:
            self._notify("login", None, lg)

    def get(self, org_id: int, username: str) -> Login | None:
        return self.logins.get((org_id, username))

    def login_by_id(self, org_id: int, login_id: int) -> Login | None:
        lg = self._by_id.get(login_id)
        return lg if lg is not None and lg.org_id == org_id else None

    # -- applying changes -------------------------------------------------------------

    def apply_local(self, pairs: Iterable[tuple[Change, Any]]) -> None:
        """Apply what this daemon's writer just committed (``aaad.db.CHANGES``)."""
        for ch, entity in pairs:
            if self._apply(ch, entity):
                self.local.add(ch.id)

    def apply(self, updates: Iterable[EntityUpdate]) -> int:
        """Apply updates the follower read from the feed; returns how many."""
        n = 0
        for u in updates:
            self._apply(u.change, u.entity)
            n += 1
        return n

    def passed(self, last_id: int) -> None:
        """The follower has read the feed up to ``last_id``."""
        self.last_change = max(self.last_change, last_id)
        if self.local:
            self.local = {i for i in self.local if i > self.last_change}

    def _apply(self, ch: Change, entity: Any) -> bool:
        key = (ch.kind, ch.entity_id)
        if self._version.get(key, 0) > ch.id:
            return False  # a newer change of this entity is already applied
        self._version[key] = ch.id
        if ch.kind == "login":
            self._put_login(entity) if entity is not None else self._drop_login(ch.entity_id)
        elif ch.kind == "profile":
            self._put_profile(entity) if entity is not None else self._drop_profile(ch.entity_id)
        elif ch.kind == "nas":
            if entity is not None:
                self.nas.upsert(entity)
            else:
                self.nas.remove(ch.entity_id)
            self._notify("nas", None, entity)
        return True

    def _put_login(self, lg: Login) -> None:
        old = self._by_id.get(lg.id)
        if old is not None and (old.org_id, old.username) != (lg.org_id, lg.username):
            self.logins.pop((old.org_id, old.username), None)
        if old is not None and old.password == lg.password:
            lg.nt_hash = old.nt_hash  # same password: keep the prepared NT hash and its hash
            lg.nt_hash_hash = old.nt_hash_hash
        self._notify("login", old, lg)  # listeners prepare it before the hot path sees it
        self.logins[(lg.org_id, lg.username)] = lg
        self._by_id[lg.id] = lg
        if lg.owner_type == "trial" or (old is not None and old.owner_type == "trial"):
            if lg.owner_type == "trial":
                self.trials[lg.org_id] = lg
            else:
                self.trials.pop(old.org_id, None)  # type: ignore[union-attr]

    def _drop_login(self, login_id: int) -> None:
        old = self._by_id.pop(login_id, None)
        if old is not None:
            self.logins.pop((old.org_id, old.username), None)
            if old.owner_type == "trial":
                self.trials.pop(old.org_id, None)
            self._notify("login", old, None)

    def _put_profile(self, p: Profile) -> None:
        old = self.profiles.get(p.id)
        self.profiles[p.id] = p
        if old != p:
            # Logins of this profile prepare their replies again, lazily: each at its next
            # request (microseconds), not all at once here on the reactor (a profile with
            # 10,000 logins took 90 ms, a stall every RADIUS request waiting then would see).
            pid = p.id
            for lg in self._by_id.values():
                if lg.profile_id == pid:
                    lg.compiled = None
        self._notify("profile", old, p)

    def _drop_profile(self, profile_id: int) -> None:
        old = self.profiles.pop(profile_id, None)
        self._notify("profile", old, None)

    def _notify(self, kind: str, old: Any, new: Any) -> None:
        for cb in self.listeners:
            try:
                cb(kind, old, new)
            except Exception:
                log.failure("AAA view listener failed", kind=kind)
