"""Read queries over profiles and logins; every lookup by id is scoped by org.

Functions take a connection and return dataclasses (run on the read pool or
inside a writer transaction).  ``load_snapshot`` and ``load_changes`` feed
the in-memory view.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import changes, fup, paging
from aaad.crypto import SecretBox
from aaad.db import in_list
from aaad.nas import Nas
from aaad.nas import _row as _nas_row
from aaad.schema import logins, profiles
from aaad.schema import nas as nas_t
from aaad.view.model import Login, LoginInfo, Profile

_LOGIN_COLS = (logins.c.id, logins.c.org_id, logins.c.username, logins.c.secret_enc, logins.c.state,
               logins.c.suspend_mode, logins.c.profile_id, logins.c.framed_ip, logins.c.rate_limit,
               logins.c.simultaneous_use, logins.c.expires_at, logins.c.validity_seconds,
               logins.c.first_used_at, logins.c.data_cap, logins.c.cycle_anchor, logins.c.owner_type,
               logins.c.owner_id, logins.c.throttle_level, logins.c.time_limit, logins.c.data_limit,
               logins.c.bind_mac, logins.c.time_used, logins.c.octets_used, logins.c.bound_mac)


def profile_row(r: Any) -> Profile:
    return Profile(r.id, r.org_id, r.name, r.rate_limit, r.fup_rate_limit, r.session_timeout,
                   r.pool, r.interim_interval, r.address_list, bool(r.block_when_exhausted),
                   fup.tiers_from_column(r.fup_tiers), fup.free_hours_from_column(r.free_hours))


def _logins(conn: Connection, box: SecretBox, *where: Any, limit: int | None = None) -> list[Login]:
    """The logins matching ``where``, by id."""
    q = sa.select(*_LOGIN_COLS).where(*where).order_by(logins.c.id)
    return _login_rows(conn, box, q.limit(limit) if limit else q)


def _login_rows(conn: Connection, box: SecretBox, q: Any, params: dict[str, Any] | None = None) -> list[Login]:
    """Logins from a statement selecting ``_LOGIN_COLS`` (with ``params`` when it was built once)."""
    decrypt = box.decrypt
    return [Login(r[0], r[1], r[2], decrypt(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
                  r[12], r[13], r[14], r[15], r[16], r[17] or 0, r[18], r[19], bool(r[20]), r[21] or 0,
                  r[22] or 0, r[23]) for r in conn.execute(q, params or {})]


# -- profiles -------------------------------------------------------------------

def get_profile(conn: Connection, org_id: int, profile_id: int) -> Profile | None:
    r = conn.execute(sa.select(profiles).where(profiles.c.org_id == org_id,
                                               profiles.c.id == profile_id)).first()
    return profile_row(r) if r else None


def profile_by_name(conn: Connection, org_id: int, name: str) -> Profile | None:
    r = conn.execute(sa.select(profiles).where(profiles.c.org_id == org_id,
                                               profiles.c.name == name)).first()
    return profile_row(r) if r else None


def list_profiles(conn: Connection, org_id: int | None = None) -> list[Profile]:
    """Profiles of one org, or of every org (operator listings, the snapshot)."""
    q = sa.select(profiles).order_by(profiles.c.id)
    if org_id is not None:
        q = q.where(profiles.c.org_id == org_id)
    return [profile_row(r) for r in conn.execute(q)]


#: Sort keys of :func:`page_profiles` (NOT NULL columns).
PROFILE_SORTS: dict[str, sa.ColumnElement[Any]] = {"id": profiles.c.id, "name": profiles.c.name}


def page_profiles(conn: Connection, org_id: int, *, q: str | None = None, sort: str = "id",
                  cursor: str | None = None, limit: int = 50) -> paging.Page[Profile]:
    """One page of the org's profiles (see :mod:`aaad.paging`) whose name contains ``q``."""
    query = sa.select(profiles).where(profiles.c.org_id == org_id)
    if q:
        query = query.where(sa.func.lower(profiles.c.name).like(f"%{q.strip().lower()}%"))
    return paging.page(conn, query, sort=sort, columns=PROFILE_SORTS, id_col=profiles.c.id, cursor=cursor,
                       limit=limit, row=profile_row)


# -- logins ---------------------------------------------------------------------

_INFO_COLS = tuple(c for c in logins.c if c.name != "secret_enc")


def _info(r: Any) -> LoginInfo:
    return LoginInfo(r.id, r.org_id, r.username, r.state, r.suspend_mode, r.profile_id, r.framed_ip,
                     r.rate_limit, r.simultaneous_use, r.expires_at, r.validity_seconds, r.first_used_at,
                     r.data_cap, r.cycle_anchor, r.owner_type, r.owner_id, r.throttle_level or 0, r.created_at,
                     r.updated_at, r.time_limit, r.data_limit, bool(r.bind_mac), r.time_used or 0,
                     r.octets_used or 0, r.bound_mac)


def login_info(conn: Connection, org_id: int, login_id: int) -> LoginInfo | None:
    """The org's login ``login_id`` as an operator sees it (no password), or None."""
    r = conn.execute(sa.select(*_INFO_COLS).where(logins.c.org_id == org_id, logins.c.id == login_id)).first()
    return _info(r) if r else None


#: Sort keys of :func:`page_logins` (NOT NULL columns).
LOGIN_SORTS: dict[str, sa.ColumnElement[Any]] = {
    "id": logins.c.id, "username": logins.c.username, "created_at": logins.c.created_at,
    "updated_at": logins.c.updated_at}


def page_logins(conn: Connection, org_id: int, *, state: str | None = None, profile_id: int | None = None,
                owner_type: str | None = None, q: str | None = None, sort: str = "id",
                cursor: str | None = None, limit: int = 50) -> paging.Page[LoginInfo]:
    """One page of the org's logins (see :mod:`aaad.paging`, no passwords read), in one state, of one
    profile, owned by one kind of object (``none``: the operator's own) and whose user name contains ``q``."""
    query = sa.select(*_INFO_COLS).where(logins.c.org_id == org_id)
    if state is not None:
        query = query.where(logins.c.state == state)
    if profile_id is not None:
        query = query.where(logins.c.profile_id == profile_id)
    if owner_type is not None:
        query = query.where(logins.c.owner_type.is_(None) if owner_type == "none"
                            else logins.c.owner_type == owner_type)
    if q:
        query = query.where(sa.func.lower(logins.c.username).like(f"%{q.strip().lower()}%"))
    return paging.page(conn, query, sort=sort, columns=LOGIN_SORTS, id_col=logins.c.id, cursor=cursor,
                       limit=limit, row=_info)


def get_login(conn: Connection, box: SecretBox, org_id: int, login_id: int) -> Login | None:
    found = _logins(conn, box, logins.c.org_id == org_id, logins.c.id == login_id)
    return found[0] if found else None


# get_logins' statement, built once (every portal dashboard runs it).  org_id + 0: by the ids, not the org's
# whole (org_id, username) index (SQLite, no statistics).
_BY_IDS = (sa.select(*_LOGIN_COLS).where(logins.c.org_id + 0 == sa.bindparam("org_id"),
                                         in_list(logins.c.id, "ids"))
           .order_by(logins.c.id))


def get_logins(conn: Connection, box: SecretBox, org_id: int, login_ids: Iterable[int]) -> list[Login]:
    """The org's logins among ``login_ids`` (ordered by id; missing ones left out), read
    in one query per 5,000 ids, each secret decrypted once."""
    ids = sorted(set(login_ids))
    out: list[Login] = []
    for i in range(0, len(ids), 5000):
        out += _login_rows(conn, box, _BY_IDS, {"org_id": org_id, "ids": ids[i:i + 5000]})
    return out


def login_by_name(conn: Connection, box: SecretBox, org_id: int, username: str) -> Login | None:
    found = _logins(conn, box, logins.c.org_id == org_id, logins.c.username == username)
    return found[0] if found else None


def list_logins(conn: Connection, box: SecretBox, org_id: int | None = None,
                limit: int | None = None) -> list[Login]:
    """Logins of one org, or of every org (operator listings)."""
    where = [logins.c.org_id == org_id] if org_id is not None else []
    return _logins(conn, box, *where, limit=limit)


def logins_of_owner(conn: Connection, box: SecretBox, org_id: int, owner_type: str,
                    owner_id: int) -> list[Login]:
    return _logins(conn, box, logins.c.org_id == org_id, logins.c.owner_type == owner_type,
                   logins.c.owner_id == owner_id)


# -- snapshot and change feed ---------------------------------------------------------

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
    A feed pruned past its last row counts as read up to the prune mark.
    """
    last = max(changes.last_id(conn), changes.pruned_through(conn))
    all_nas = [_nas_row(r, box) for r in conn.execute(sa.select(nas_t))]
    return Snapshot(last, all_nas, list_profiles(conn), _logins(conn, box))


@dataclass(frozen=True, slots=True)
class EntityUpdate:
    """A change-feed row and the entity's state to apply (None: deleted)."""
    change: changes.Change
    entity: Any  # Login | Profile | Nas | None


def load_entity(conn: Connection, box: SecretBox, ch: changes.Change) -> Any:
    """The current state of a change's entity, in the change's org; None if gone."""
    if ch.op == "delete":
        return None
    if ch.kind == "login":
        return get_login(conn, box, ch.org_id, ch.entity_id)
    if ch.kind == "profile":
        return get_profile(conn, ch.org_id, ch.entity_id)
    if ch.kind == "nas":
        r = conn.execute(sa.select(nas_t).where(nas_t.c.org_id == ch.org_id,
                                                nas_t.c.id == ch.entity_id)).first()
        return _nas_row(r, box) if r else None
    return None


@dataclass(frozen=True, slots=True)
class FeedPage:
    updates: list[EntityUpdate]
    read: int            # change rows read (a full page means: read again)
    last_id: int         # the highest id read (skipped rows included)
    pruned_through: int  # the feed holds no rows at or below this id any more


def load_changes(conn: Connection, box: SecretBox, last_id: int, skip: Iterable[int] = (),
                 limit: int = 5000) -> FeedPage:
    """Change rows after ``last_id`` with each entity's current state.

    Rows whose id is in ``skip`` (already applied locally) are passed over
    without loading their entity.
    """
    skip = frozenset(skip)
    rows = changes.since(conn, last_id, limit)
    updates = [EntityUpdate(ch, load_entity(conn, box, ch)) for ch in rows if ch.id not in skip]
    return FeedPage(updates, len(rows), rows[-1].id if rows else last_id, changes.pruned_through(conn))
