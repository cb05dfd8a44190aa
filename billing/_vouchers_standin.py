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

from aaad.crypto import SecretBox
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
    price_text: str = ""
    profile_id: int | None = None
    time_limit: int | None = None
    data_limit: int | None = None
    validity_hours: int | None = None
    expires_at: datetime | None = None
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
    package_name: str
    code: str
    password: str | None
    login_id: int | None
    customer_id: int | None
    transaction_id: int | None
    price: int
    currency: str
    price_text: str
    state: str
    sold_at: datetime | None
    time_limit: int | None
    data_limit: int | None
    time_used: int = 0
    octets_used: int = 0

    @property
    def time_left(self) -> int | None:
        return None if self.time_limit is None else max(0, self.time_limit - self.time_used)

    @property
    def data_left(self) -> int | None:
        return None if self.data_limit is None else max(0, self.data_limit - self.octets_used)


VoucherView = Voucher


_PACKAGES: dict[int, Package] = {}
_VOUCHERS: dict[int, Voucher] = {}


def add(conn: Connection, writer: LoginWriter, org_id: int, now: datetime, *, name: str, price: int,
        **kw: Any) -> Package:
    """(as billing.vouchers.packages.add) a package of the org."""
    kw.pop("rate_limit", None)
    cur = settings.get(conn, org_id).currency
    p = Package(len(_PACKAGES) + 1, org_id, name, price, cur, f"{cur} {price / 100:.2f}", **kw)
    _PACKAGES[p.id] = p
    return p


def update(conn: Connection, org_id: int, package_id: int, now: datetime, **values: Any) -> Package:
    """(as billing.vouchers.packages.update)"""
    p = Package(**{**_PACKAGES[package_id].__dict__, **values})
    _PACKAGES[package_id] = p
    return p


def reset() -> None:
    """(stand-in only) forget every package and voucher."""
    _PACKAGES.clear()
    _VOUCHERS.clear()


def portal_packages(conn: Connection, org_id: int) -> list[Package]:
    return [p for p in _PACKAGES.values() if p.org_id == org_id and p.on_portal and p.active]


def sell(conn: Connection, writer: LoginWriter, org_id: int, package_id: int, now: datetime, *,
         customer_id: int, transaction_id: int | None = None, price: int | None = None) -> Voucher:
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
    v = Voucher(vid, org_id, p.id, p.name, code, password, login.id, customer_id, transaction_id,
                p.price if price is None else price,
                p.currency, p.price_text, "unused", now, p.time_limit, p.data_limit)
    _VOUCHERS[vid] = v
    return v


def of_customer(conn: Connection, org_id: int, customer_id: int, now: datetime | None = None, *,
                box: SecretBox | None = None) -> list[VoucherView]:
    return [v for v in sorted(_VOUCHERS.values(), key=lambda v: -v.id)
            if v.org_id == org_id and v.customer_id == customer_id]
