"""Voucher packages: what a voucher gives (speed, time, data, validity, devices) and what it costs.

A package's speed is a RADIUS profile: an existing one (``profile_id``), or one
made for the package from a rate limit (named ``voucher: NAME``, with a one-minute
interim interval so accounting sees time and data used promptly).  Changing a
package changes the vouchers generated from then on; vouchers already made keep
the limits they were made with (they are printed on cards).  Prices are minor
units of the org's currency, shown in babel's format for the org's locale.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import paging
from aaad.errors import NotFound, ValidationError
from aaad.schema import profiles
from aaad.view import store
from aaad.view.write import LoginWriter
from billing import settings
from billing.documents import _locale, format_money
from billing.vouchers.schema import voucher_packages as pk

#: Accounting interims for a package's own profile (time and data limits are counted from them).
INTERIM_SECONDS = 60
MIN_CODE, MAX_CODE = 6, 16
_PREFIX = re.compile(r"[A-Z0-9]{0,8}")

#: Fields ``add`` and ``update`` take (``rate_limit`` only on ``add``: it makes the profile).
FIELDS = ("name", "price", "profile_id", "time_limit", "data_limit", "validity_hours", "expires_at",
          "shared_users", "bind_mac", "code_only", "code_length", "prefix", "on_portal", "active")


@dataclass(frozen=True)
class Package:
    id: int
    org_id: int
    name: str
    price: int                   # minor units
    currency: str
    price_text: str              # babel, the org's locale: $5.00, GH₵5.00
    profile_id: int | None
    rate_limit: str | None       # the profile's, for display
    time_limit: int | None       # seconds of online time in total
    data_limit: int | None       # octets in+out in total
    validity_hours: int | None   # from first use
    expires_at: datetime | None  # or a fixed expiry
    shared_users: int
    bind_mac: bool
    code_only: bool
    code_length: int
    prefix: str
    on_portal: bool
    active: bool
    created_at: datetime
    updated_at: datetime

    def login_values(self) -> dict[str, Any]:
        """The fields of a voucher's login made from this package (LoginWriter.create_many)."""
        return {"state": "unused", "profile_id": self.profile_id, "time_limit": self.time_limit,
                "data_limit": self.data_limit,
                "validity_seconds": self.validity_hours * 3600 if self.validity_hours else None,
                "expires_at": self.expires_at, "simultaneous_use": self.shared_users, "bind_mac": self.bind_mac}


def _int(field: str, v: Any, lo: int, hi: int | None = None, what: str = "a whole number") -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
        raise ValidationError(field, f"{what} from {lo}" + (f" to {hi}" if hi is not None else " up"))
    return v


def check(values: dict[str, Any]) -> dict[str, Any]:
    """Checked values (ValidationError naming the first bad field); the prefix upper-cased."""
    out = dict(values)
    for k, v in values.items():
        if k not in FIELDS:
            raise ValidationError(k, "not a voucher package field")
        if k == "name":
            if not isinstance(v, str) or not v.strip() or len(v.strip()) > 100:
                raise ValidationError(k, "1 to 100 characters")
            out[k] = v.strip()
        elif k == "price":
            _int(k, v, 0, what="minor units")
        elif k in ("time_limit", "data_limit") and v is not None:
            _int(k, v, 1, what="seconds" if k == "time_limit" else "octets")
        elif k == "validity_hours" and v is not None:
            _int(k, v, 1, 24 * 3650, "hours")
        elif k == "expires_at" and v is not None:
            if not isinstance(v, datetime) or v.tzinfo is None:
                raise ValidationError(k, "an aware date and time (with its time zone)")
        elif k == "shared_users":
            _int(k, v, 1, 100, "devices")
        elif k == "code_length":
            _int(k, v, MIN_CODE, MAX_CODE, "characters")
        elif k == "prefix":
            if not isinstance(v, str) or not _PREFIX.fullmatch(v.upper()):
                raise ValidationError(k, "up to 8 letters or digits")
            out[k] = v.upper()
        elif k in ("bind_mac", "code_only", "on_portal", "active"):
            if not isinstance(v, bool):
                raise ValidationError(k, "true or false")
        elif k == "profile_id" and v is not None:
            _int(k, v, 1, what="a profile id")
    return out


def _consistent(p: dict[str, Any]) -> None:
    if p.get("validity_hours") is not None and p.get("expires_at") is not None:
        raise ValidationError("expires_at", "a package is valid for some hours from first use, or until a "
                                            "fixed time: not both")
    if p.get("bind_mac") and p.get("shared_users", 1) > 1:
        raise ValidationError("bind_mac", "a voucher bound to its first device cannot be shared by several")


def _profile_in_org(conn: Connection, org_id: int, profile_id: int | None) -> None:
    if profile_id is not None and store.get_profile(conn, org_id, profile_id) is None:
        raise ValidationError("profile_id", "no such profile in this org")


def _row(r: Any, currency: str, locale: str) -> Package:
    return Package(r.id, r.org_id, r.name, int(r.price), currency, format_money(int(r.price), currency, locale),
                   r.profile_id, r.rate_limit, r.time_limit, None if r.data_limit is None else int(r.data_limit),
                   r.validity_hours, r.expires_at, r.shared_users, bool(r.bind_mac), bool(r.code_only),
                   r.code_length, r.prefix, bool(r.on_portal), bool(r.active), r.created_at, r.updated_at)


def _select() -> sa.Select[Any]:
    return (sa.select(pk, profiles.c.rate_limit)
            .select_from(pk.outerjoin(profiles, profiles.c.id == pk.c.profile_id)))


def _money(conn: Connection, org_id: int) -> tuple[str, str]:
    st = settings.get(conn, org_id)
    return st.currency, _locale(st.locale)


def get(conn: Connection, org_id: int, package_id: int) -> Package | None:
    r = conn.execute(_select().where(pk.c.org_id == org_id, pk.c.id == package_id)).first()
    return None if r is None else _row(r, *_money(conn, org_id))


def require(conn: Connection, org_id: int, package_id: int) -> Package:
    p = get(conn, org_id, package_id)
    if p is None:
        raise NotFound("voucher package", package_id)
    return p


def by_name(conn: Connection, org_id: int, name: str) -> Package | None:
    r = conn.execute(_select().where(pk.c.org_id == org_id, pk.c.name == name)).first()
    return None if r is None else _row(r, *_money(conn, org_id))


def find(conn: Connection, org_id: int, key: str) -> Package:
    """A package by name, or by id (the CLI's way in); NotFound otherwise."""
    p = by_name(conn, org_id, key)
    if p is None and key.isdigit():
        p = get(conn, org_id, int(key))
    if p is None:
        raise NotFound("voucher package", key)
    return p


def _which(org_id: int | sa.BindParameter[int], active: bool | None,
           portal_only: bool) -> list[sa.ColumnElement[bool]]:
    """The conditions of :func:`list_packages` and :func:`count_packages` (``org_id`` a value, or a parameter
    of a statement built once)."""
    where = [pk.c.org_id == org_id]
    if active is not None:
        where.append(pk.c.active == active)
    if portal_only:
        where += [pk.c.active == sa.true(), pk.c.on_portal == sa.true()]
    return where


def list_packages(conn: Connection, org_id: int, *, active: bool | None = None,
                  portal_only: bool = False) -> list[Package]:
    """The org's packages by price then name (``portal_only``: active ones shown on the portal)."""
    q = _select().where(*_which(org_id, active, portal_only))
    cur, loc = _money(conn, org_id)
    return [_row(r, cur, loc) for r in conn.execute(q.order_by(pk.c.price, pk.c.name, pk.c.id))]


#: count_packages' portal count (every dashboard), built once from the same conditions as the listing's,
#: bound by ``org_id`` (the dashboard reads it with other figures as a scalar subquery).
PORTAL_COUNT = sa.select(sa.func.count()).select_from(pk).where(*_which(sa.bindparam("org_id"), None, True))


def count_packages(conn: Connection, org_id: int, *, active: bool | None = None,
                   portal_only: bool = False) -> int:
    """How many packages :func:`list_packages` lists with the same filters (one count, no rows)."""
    if portal_only and active is None:              # the portal's (every dashboard): prebuilt
        return int(conn.execute(PORTAL_COUNT, {"org_id": org_id}).scalar_one())
    return int(conn.execute(sa.select(sa.func.count()).select_from(pk)
                            .where(*_which(org_id, active, portal_only))).scalar_one())


SORTS: dict[str, sa.ColumnElement[Any]] = {"id": pk.c.id, "name": pk.c.name, "price": pk.c.price,
                                           "created_at": pk.c.created_at}


def page(conn: Connection, org_id: int, *, active: bool | None = None, on_portal: bool | None = None,
         sort: str = "id", cursor: str | None = None, limit: int = 50) -> paging.Page[Package]:
    """One page of the org's packages (see :mod:`aaad.paging`)."""
    q = _select().where(pk.c.org_id == org_id)
    if active is not None:
        q = q.where(pk.c.active == active)
    if on_portal is not None:
        q = q.where(pk.c.on_portal == on_portal)
    cur, loc = _money(conn, org_id)
    return paging.page(conn, q, sort=sort, columns=SORTS, id_col=pk.c.id, cursor=cursor, limit=limit,
                       row=lambda r: _row(r, cur, loc))


def add(conn: Connection, writer: LoginWriter, org_id: int, now: datetime, *, name: str, price: int,
        profile_id: int | None = None, rate_limit: str | None = None, time_limit: int | None = None,
        data_limit: int | None = None, validity_hours: int | None = None, expires_at: datetime | None = None,
        shared_users: int = 1, bind_mac: bool = False, code_only: bool = False, code_length: int = 8,
        prefix: str = "", on_portal: bool = True, active: bool = True) -> Package:
    """Add a package.  Its speed: ``profile_id`` (an existing profile) or ``rate_limit`` (a profile
    ``voucher: NAME`` made for it in the same transaction), or neither (the NAS's default)."""
    values = check({"name": name, "price": price, "profile_id": profile_id, "time_limit": time_limit,
                    "data_limit": data_limit, "validity_hours": validity_hours, "expires_at": expires_at,
                    "shared_users": shared_users, "bind_mac": bind_mac, "code_only": code_only,
                    "code_length": code_length, "prefix": prefix, "on_portal": on_portal, "active": active})
    _consistent(values)
    if profile_id is not None and rate_limit is not None:
        raise ValidationError("rate_limit", "give a profile or a rate limit, not both")
    if conn.execute(sa.select(pk.c.id).where(pk.c.org_id == org_id, pk.c.name == values["name"])).first():
        raise ValidationError("name", f"a voucher package named {values['name']!r} already exists")
    _profile_in_org(conn, org_id, profile_id)
    if rate_limit is not None:
        pname = f"voucher: {values['name']}"
        if store.profile_by_name(conn, org_id, pname) is not None:
            raise ValidationError("rate_limit", f"a profile named {pname!r} already exists: give it as the profile")
        try:
            values["profile_id"] = writer.create_profile(conn, org_id, pname, now, rate_limit=rate_limit,
                                                         interim_interval=INTERIM_SECONDS).id
        except ValidationError as e:
            raise ValidationError("rate_limit", e.message) from None
    key = conn.execute(pk.insert().values(org_id=org_id, created_at=now, updated_at=now, **values)
                       ).inserted_primary_key
    assert key is not None
    return require(conn, org_id, key[0])


def update(conn: Connection, org_id: int, package_id: int, now: datetime, **values: Any) -> Package:
    """Change some fields (vouchers generated from now on get them; existing ones keep theirs)."""
    old = require(conn, org_id, package_id)
    clean = check(values)
    merged = {k: getattr(old, k) for k in FIELDS} | clean
    _consistent(merged)
    if "name" in clean and clean["name"] != old.name and conn.execute(
            sa.select(pk.c.id).where(pk.c.org_id == org_id, pk.c.name == clean["name"])).first():
        raise ValidationError("name", f"a voucher package named {clean['name']!r} already exists")
    if "profile_id" in clean:
        _profile_in_org(conn, org_id, clean["profile_id"])
    if clean:
        conn.execute(pk.update().where(pk.c.org_id == org_id, pk.c.id == package_id)
                     .values(updated_at=now, **clean))
    return require(conn, org_id, package_id)
