"""The catalogue: products an org sells, and their discount rules.

A product has a type (internet, voice, bundle, recurring, one_time), a price
in minor units per period, a billing period (``monthly``; ``days`` — a
prepaid period of ``period_days``; ``daily``; ``once`` for one-time
products), a setup fee, whether it is VAT-taxable, shown on the portal and
in which zones it is sold (none listed: everywhere).

An internet product owns its RADIUS profile (named after the product when it
is created): adding or changing the product writes the profile through the
AAA view's one write path (:class:`aaad.view.write.LoginWriter`) in the same
transaction, and a changed data cap is pushed to the logins of the product's
services, as their owner.  Renaming a product leaves its profile's name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import paging
from aaad.errors import NotFound, ValidationError
from billing.schema import PERIODS, PRODUCT_TYPES, discounts, products, services

if TYPE_CHECKING:
    from aaad.view.write import LoginWriter

#: The profile fields an internet product sets (see aaad.view.model.PROFILE_FIELDS).
PROFILE_FIELDS = ("rate_limit", "fup_rate_limit", "session_timeout", "pool", "address_list", "interim_interval")
PRODUCT_FIELDS = ("name", "price", "taxable", "period", "period_days", "setup_fee", "on_portal", "zones",
                  "active", "data_cap")
LIVE_STATES = ("pending", "active", "suspended")


@dataclass(frozen=True)
class Product:
    id: int
    org_id: int
    name: str
    type: str
    price: int                  # minor units per period
    taxable: bool
    period: str                 # monthly | days | daily | once
    period_days: int | None     # for period = days
    setup_fee: int
    on_portal: bool
    zones: tuple[str, ...]      # () = sold everywhere
    profile_id: int | None      # internet products
    data_cap: int | None        # octets per cycle, set on the logins
    active: bool                # still sold
    created_at: datetime
    updated_at: datetime

    def sold_in(self, zone: str | None) -> bool:
        return not self.zones or zone in self.zones


@dataclass(frozen=True)
class Discount:
    id: int
    org_id: int
    product_id: int
    kind: str                   # percent (value in basis points) | fixed (minor units)
    value: int
    periods: int | None         # the first N billed periods
    until: date | None          # periods starting before this date
    created_at: datetime


def _product(r: Any) -> Product:
    return Product(r.id, r.org_id, r.name, r.type, r.price, bool(r.taxable), r.period, r.period_days,
                   r.setup_fee, bool(r.on_portal), tuple(json.loads(r.zones or "[]")), r.profile_id,
                   r.data_cap, bool(r.active), r.created_at, r.updated_at)


def _discount(r: Any) -> Discount:
    return Discount(r.id, r.org_id, r.product_id, r.kind, r.value, r.periods, r.until, r.created_at)


def _int(field: str, v: Any, minimum: int = 0) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ValidationError(field, f"a whole number, {minimum} or more" if minimum else
                              "a whole number of minor units, 0 or more")
    return v


def _check(values: dict[str, Any]) -> dict[str, Any]:
    """Validate product fields (those present), returning the stored form."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k == "name":
            if not isinstance(v, str) or not v.strip() or len(v.strip()) > 100:
                raise ValidationError("name", "1 to 100 characters")
            out[k] = v.strip()
        elif k == "type":
            if v not in PRODUCT_TYPES:
                raise ValidationError("type", f"one of {', '.join(PRODUCT_TYPES)}")
            out[k] = v
        elif k == "period":
            if v not in PERIODS:
                raise ValidationError("period", f"one of {', '.join(PERIODS)}")
            out[k] = v
        elif k in ("price", "setup_fee"):
            out[k] = _int(k, v)
        elif k == "period_days":
            out[k] = None if v is None else _int(k, v, 1)
        elif k == "data_cap":
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise ValidationError(k, "a number of octets, 0 or more")
            out[k] = v
        elif k in ("taxable", "on_portal", "active"):
            if not isinstance(v, bool):
                raise ValidationError(k, "true or false")
            out[k] = v
        elif k == "zones":
            zs = [] if v is None else v
            if isinstance(zs, str) or not all(isinstance(z, str) and z.strip() for z in zs):
                raise ValidationError(k, "a list of zone names")
            out[k] = json.dumps(sorted({z.strip() for z in zs}))
        else:
            raise ValidationError(k, "not a product field")
    return out


def _check_period(type_: str, period: str, period_days: int | None) -> None:
    if (type_ == "one_time") != (period == "once"):
        raise ValidationError("period", "one_time products are billed once; the others monthly, "
                                        "daily or every N days")
    if (period == "days") != (period_days is not None):
        raise ValidationError("period_days", "the length in days of a prepaid period "
                                             "(given with period=days, and only then)")


def _profile_values(type_: str, given: dict[str, Any]) -> dict[str, Any]:
    for k, v in given.items():
        if v is not None and type_ != "internet":
            raise ValidationError(k, "only internet products have a RADIUS profile")
    return given


def add_product(conn: Connection, writer: LoginWriter, org_id: int, now: datetime, *, name: str, type: str,
                price: int, taxable: bool = True, period: str | None = None, period_days: int | None = None,
                setup_fee: int = 0, on_portal: bool = True, zones: list[str] | tuple[str, ...] = (),
                active: bool = True, rate_limit: str | None = None, fup_rate_limit: str | None = None,
                session_timeout: int | None = None, pool: str | None = None, address_list: str | None = None,
                interim_interval: int | None = None, data_cap: int | None = None) -> Product:
    """Add a product; an internet product's profile is created with it (same transaction)."""
    if period is None:
        period = "once" if type == "one_time" else "monthly"
    values = _check({"name": name, "type": type, "price": price, "taxable": taxable, "period": period,
                     "period_days": period_days, "setup_fee": setup_fee, "on_portal": on_portal,
                     "zones": zones, "active": active, "data_cap": data_cap})
    _check_period(type, period, period_days)
    prof = _profile_values(type, {"rate_limit": rate_limit, "fup_rate_limit": fup_rate_limit,
                                  "session_timeout": session_timeout, "pool": pool,
                                  "address_list": address_list, "interim_interval": interim_interval})
    if data_cap is not None and type != "internet":
        raise ValidationError("data_cap", "only internet products have a data cap")
    if product_by_name(conn, org_id, values["name"]) is not None:
        raise ValidationError("name", f"a product named {values['name']!r} already exists")
    profile_id = None
    if type == "internet":
        p = writer.create_profile(conn, org_id, values["name"], now,
                                  **{k: v for k, v in prof.items() if v is not None})
        profile_id = p.id
    key = conn.execute(products.insert().values(org_id=org_id, profile_id=profile_id, created_at=now,
                                                updated_at=now, **values)).inserted_primary_key
    assert key is not None
    return _require(conn, org_id, key[0])


def update_product(conn: Connection, writer: LoginWriter, org_id: int, product_id: int, now: datetime,
                   **values: Any) -> Product:
    """Change some product fields and/or (internet products) profile fields; None clears
    a profile field.  The profile is updated in the same transaction; a changed data
    cap is set on the logins of the product's live services, as their owner."""
    from aaad.view.write import Actor
    p = _require(conn, org_id, product_id)
    prof = {k: values.pop(k) for k in PROFILE_FIELDS if k in values}
    _profile_values(p.type, prof)
    if prof and p.type != "internet":
        raise ValidationError(sorted(prof)[0], "only internet products have a RADIUS profile")
    if "type" in values:
        raise ValidationError("type", "a product's type does not change (add a new product)")
    clean = _check(values)
    if "data_cap" in clean and clean["data_cap"] is not None and p.type != "internet":
        raise ValidationError("data_cap", "only internet products have a data cap")
    period = clean.get("period", p.period)
    period_days = clean.get("period_days", p.period_days if period == "days" else None)
    if "period" in clean and period != "days":
        clean["period_days"] = None
    _check_period(p.type, period, period_days)
    if (period, period_days) != (p.period, p.period_days) and _live_services(conn, org_id, product_id):
        raise ValidationError("period", "the billing period of a product with live services does not change "
                                        "(add a new product and change their plans)")
    if "name" in clean and clean["name"] != p.name:
        other = product_by_name(conn, org_id, clean["name"])
        if other is not None:
            raise ValidationError("name", f"a product named {clean['name']!r} already exists")
    if prof and p.profile_id is not None:
        writer.update_profile(conn, org_id, p.profile_id, now, **prof)
    if clean:
        conn.execute(products.update().where(products.c.org_id == org_id, products.c.id == product_id)
                     .values(updated_at=now, **clean))
    if "data_cap" in clean and clean["data_cap"] != p.data_cap:
        for sid, login_id in _live_services(conn, org_id, product_id):
            if login_id is not None:
                writer.set_profile(conn, org_id, login_id, now, actor=Actor.owner("service", sid),
                                   data_cap=clean["data_cap"])
    return _require(conn, org_id, product_id)


def _live_services(conn: Connection, org_id: int, product_id: int) -> list[tuple[int, int | None]]:
    rows = conn.execute(sa.select(services.c.id, services.c.login_id).where(
        services.c.org_id == org_id, services.c.product_id == product_id,
        services.c.state.in_(LIVE_STATES)).order_by(services.c.id))
    return [(r.id, r.login_id) for r in rows]


def get_product(conn: Connection, org_id: int, product_id: int) -> Product | None:
    r = conn.execute(sa.select(products).where(products.c.org_id == org_id, products.c.id == product_id)).first()
    return None if r is None else _product(r)


def _require(conn: Connection, org_id: int, product_id: int) -> Product:
    p = get_product(conn, org_id, product_id)
    if p is None:
        raise NotFound("product", product_id)
    return p


def product_by_name(conn: Connection, org_id: int, name: str) -> Product | None:
    r = conn.execute(sa.select(products).where(products.c.org_id == org_id, products.c.name == name)).first()
    return None if r is None else _product(r)


def list_products(conn: Connection, org_id: int, portal_only: bool = False, zone: str | None = None,
                  active_only: bool = False) -> list[Product]:
    """The org's products by name; ``portal_only``: those still sold and shown on the
    portal; ``zone``: those sold in it."""
    q = sa.select(products).where(products.c.org_id == org_id)
    if portal_only:
        q = q.where(products.c.on_portal.is_(True), products.c.active.is_(True))
    if active_only:
        q = q.where(products.c.active.is_(True))
    found = [_product(r) for r in conn.execute(q.order_by(products.c.name))]
    return [p for p in found if p.sold_in(zone)] if zone is not None else found


SORTS = {"id": products.c.id, "name": products.c.name, "price": products.c.price,
         "created_at": products.c.created_at}


def page(conn: Connection, org_id: int, *, type: str | None = None, active: bool | None = None,
         on_portal: bool | None = None, q: str | None = None, sort: str = "id", cursor: str | None = None,
         limit: int = 50) -> paging.Page[Product]:
    """One page of the org's products (see :mod:`aaad.paging`), filtered by type, whether still
    sold, whether shown on the portal and a part of the name; ``sort`` is a key of :data:`SORTS`."""
    query = sa.select(products).where(products.c.org_id == org_id)
    if type is not None:
        query = query.where(products.c.type == type)
    if active is not None:
        query = query.where(products.c.active.is_(active))
    if on_portal is not None:
        query = query.where(products.c.on_portal.is_(on_portal))
    if q:
        query = query.where(sa.func.lower(products.c.name).like(f"%{q.strip().lower()}%"))
    return paging.page(conn, query, sort=sort, columns=SORTS, id_col=products.c.id, cursor=cursor,
                       limit=limit, row=_product)


def get_discount(conn: Connection, org_id: int, discount_id: int) -> Discount | None:
    r = conn.execute(sa.select(discounts).where(discounts.c.org_id == org_id,
                                                discounts.c.id == discount_id)).first()
    return None if r is None else _discount(r)


DISCOUNT_SORTS = {"id": discounts.c.id, "created_at": discounts.c.created_at}


def discount_page(conn: Connection, org_id: int, *, product_id: int | None = None, sort: str = "id",
                  cursor: str | None = None, limit: int = 50) -> paging.Page[Discount]:
    """One page of the org's discount rules, optionally of one product."""
    query = sa.select(discounts).where(discounts.c.org_id == org_id)
    if product_id is not None:
        query = query.where(discounts.c.product_id == product_id)
    return paging.page(conn, query, sort=sort, columns=DISCOUNT_SORTS, id_col=discounts.c.id, cursor=cursor,
                       limit=limit, row=_discount)


# -- discounts ------------------------------------------------------------------------

def add_discount(conn: Connection, org_id: int, product_id: int, now: datetime, *, kind: str = "percent",
                 value: int, periods: int | None = None, until: date | None = None) -> Discount:
    """A discount rule on a product: ``percent`` (``value`` in basis points, 1000 = 10 %) or
    ``fixed`` (minor units off each period), for the first ``periods`` billed periods of a
    service and/or the periods starting before ``until`` (whichever ends first; neither:
    for ever)."""
    _require(conn, org_id, product_id)
    if kind not in ("percent", "fixed"):
        raise ValidationError("kind", "percent or fixed")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or (kind == "percent" and value > 10_000):
        raise ValidationError("value", "basis points from 1 to 10000 (1000 = 10 %)" if kind == "percent"
                              else "a whole number of minor units greater than 0")
    if periods is not None and (not isinstance(periods, int) or isinstance(periods, bool) or periods < 1):
        raise ValidationError("periods", "a number of periods, 1 or more")
    if until is not None and (not isinstance(until, date) or isinstance(until, datetime)):
        raise ValidationError("until", "a date")
    key = conn.execute(discounts.insert().values(org_id=org_id, product_id=product_id, kind=kind, value=value,
                                                 periods=periods, until=until, created_at=now)
                       ).inserted_primary_key
    assert key is not None
    r = conn.execute(sa.select(discounts).where(discounts.c.id == key[0])).one()
    return _discount(r)


def discounts_for(conn: Connection, org_id: int, product_id: int) -> list[Discount]:
    """A product's discount rules, oldest first."""
    return [_discount(r) for r in conn.execute(
        sa.select(discounts).where(discounts.c.org_id == org_id, discounts.c.product_id == product_id)
        .order_by(discounts.c.id))]


def remove_discount(conn: Connection, org_id: int, discount_id: int) -> bool:
    """Remove a discount rule (invoices already issued keep what they gave)."""
    n = conn.execute(discounts.delete().where(discounts.c.org_id == org_id, discounts.c.id == discount_id)).rowcount
    return bool(n)
