"""A STAND-IN for billing.vouchers.vouchers (engineer V's part a) until it lands on main: the three
functions the portal's voucher pages call, with the signatures of COMMON14.md, over an in-memory
registry of packages and vouchers (each voucher's login is a real login, written through the
LoginWriter).  Deleted at the rebase: :mod:`billing.voucher_sales` then imports the real module.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from aaad.errors import NotFound, ValidationError
from aaad.view.write import Actor, LoginWriter
from billing import settings

_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class Package:
    id: int
    org_id: int
    name: str
    price: int
    currency: str
    profile_id: int | None = None
    time_limit: int | None = None
    data_limit: int | None = None
    validity_hours: int | None = None
    shared_users: int = 1
    bind_mac: bool = False
    code_only: bool = False
    on_portal: bool = True
    active: bool = True


@dataclass(frozen=True)
class Voucher:
    id: int
    org_id: int
    package_id: int
    code: str
    login_id: int
    customer_id: int | None
    sold_at: datetime | None
    price: int


@dataclass(frozen=True)
class VoucherView:
    id: int
    code: str
    password: str
    package_name: str
    price: int
    currency: str
    state: str
    sold_at: datetime | None
    time_left: int | None
    data_left: int | None
    login_id: int


_PACKAGES: dict[int, Package] = {}
_VOUCHERS: dict[int, tuple[Voucher, str]] = {}


def add_package(conn: Connection, org_id: int, name: str, price: int, **kw: Any) -> Package:
    """(stand-in only) a package of the org."""
    p = Package(len(_PACKAGES) + 1, org_id, name, price, settings.get(conn, org_id).currency, **kw)
    _PACKAGES[p.id] = p
    return p


def portal_packages(conn: Connection, org_id: int) -> list[Package]:
    return [p for p in _PACKAGES.values() if p.org_id == org_id and p.on_portal and p.active]


def sell(conn: Connection, writer: LoginWriter, org_id: int, package_id: int, now: datetime, *,
         customer_id: int, transaction_id: int | None = None) -> Voucher:
    p = _PACKAGES.get(package_id)
    if p is None or p.org_id != org_id:
        raise NotFound("voucher package", package_id)
    if not p.active:
        raise ValidationError("package_id", "the package is no longer sold")
    code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    password = code if p.code_only else "".join(secrets.choice(_ALPHABET.lower()) for _ in range(6))
    vid = len(_VOUCHERS) + 1
    login = writer.create(conn, org_id, code, password, now, actor=Actor.owner("voucher", vid),
                          profile_id=p.profile_id)
    v = Voucher(vid, org_id, p.id, code, login.id, customer_id, now, p.price)
    _VOUCHERS[vid] = (v, password)
    return v


def of_customer(conn: Connection, org_id: int, customer_id: int) -> list[VoucherView]:
    out = []
    for v, password in sorted(_VOUCHERS.values(), key=lambda x: -x[0].id):
        if v.org_id == org_id and v.customer_id == customer_id:
            p = _PACKAGES[v.package_id]
            out.append(VoucherView(v.id, v.code, password, p.name, v.price, p.currency, "unused", v.sold_at,
                                   p.time_limit, p.data_limit, v.login_id))
    return out
