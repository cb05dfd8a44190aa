"""A signed-in customer's cart on the portal, and the org's checkout settings.

The cart is kept in the database (one row per item, a product twice is two
items), so it follows the customer across devices and sessions.  Only
products the org still sells and shows on the portal go in.  The checkout
setting says how a cart becomes an order: ``gateway`` (pay now), ``request``
(the admins approve it; a ticket or an e-mail reaches them, per
``request_via``) or ``both`` (the customer chooses).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.errors import ValidationError
from billing import catalogue
from billing.catalogue import Product
from billing.schema import cart_items as cart_t
from billing.schema import products as products_t
from billing.schema import shop_settings as shop_t

MAX_ITEMS = 20
CHECKOUTS = ("gateway", "request", "both")
REQUEST_VIA = ("ticket", "email")


@dataclass(frozen=True)
class ShopSettings:
    org_id: int
    checkout: str           # gateway | request | both
    request_via: str        # ticket | email
    updated_at: datetime | None

    def methods(self) -> tuple[str, ...]:
        """The ways a customer may check out: ``gateway`` and/or ``request``."""
        return ("gateway", "request") if self.checkout == "both" else (self.checkout,)


def shop_settings(conn: Connection, org_id: int) -> ShopSettings:
    """The org's checkout settings (the defaults, gateway and ticket, until set)."""
    r = conn.execute(sa.select(shop_t).where(shop_t.c.org_id == org_id)).first()
    if r is None:
        return ShopSettings(org_id, "gateway", "ticket", None)
    return ShopSettings(org_id, r.checkout, r.request_via, r.updated_at)


def update_shop_settings(conn: Connection, org_id: int, now: datetime, *, checkout: str | None = None,
                         request_via: str | None = None) -> ShopSettings:
    """Change the org's checkout settings (ValidationError naming a bad field)."""
    if checkout is not None and checkout not in CHECKOUTS:
        raise ValidationError("checkout", "one of: " + ", ".join(CHECKOUTS))
    if request_via is not None and request_via not in REQUEST_VIA:
        raise ValidationError("request_via", "one of: " + ", ".join(REQUEST_VIA))
    cur = shop_settings(conn, org_id)
    values = {"checkout": checkout or cur.checkout, "request_via": request_via or cur.request_via,
              "updated_at": now}
    if cur.updated_at is None:
        conn.execute(shop_t.insert().values(org_id=org_id, **values))
    else:
        conn.execute(shop_t.update().where(shop_t.c.org_id == org_id).values(**values))
    return shop_settings(conn, org_id)


@dataclass(frozen=True)
class Item:
    id: int
    product: Product


def items(conn: Connection, org_id: int, customer_id: int) -> list[Item]:
    """The cart's items in the order they were added (products no longer sold on the portal left out)."""
    rows = conn.execute(sa.select(cart_t.c.id, cart_t.c.product_id).where(
        cart_t.c.org_id == org_id, cart_t.c.customer_id == customer_id).order_by(cart_t.c.id)).all()
    found: dict[int, Product | None] = {}
    out = []
    for r in rows:
        if r.product_id not in found:
            found[r.product_id] = catalogue.get_product(conn, org_id, r.product_id)
        p = found[r.product_id]
        if p is not None and p.active and p.on_portal:
            out.append(Item(r.id, p))
    return out


#: :func:`count`'s statement, bound by ``org_id`` and ``customer_id`` (built once: every signed-in page
#: counts; the dashboard reads it with other figures as a scalar subquery).
COUNT = sa.select(sa.func.count()).select_from(
    cart_t.join(products_t, sa.and_(products_t.c.id == cart_t.c.product_id,
                                    products_t.c.org_id == cart_t.c.org_id))).where(
    cart_t.c.org_id == sa.bindparam("org_id"), cart_t.c.customer_id == sa.bindparam("customer_id"),
    products_t.c.active.is_(True), products_t.c.on_portal.is_(True))


def count(conn: Connection, org_id: int, customer_id: int) -> int:
    """How many items the cart holds (for the cart link in the header; as :func:`items`, products no longer
    sold on the portal do not count)."""
    return int(conn.execute(COUNT, {"org_id": org_id, "customer_id": customer_id}).scalar_one())


def add(conn: Connection, org_id: int, customer_id: int, product_id: int, now: datetime) -> Item:
    """Put one of the product in the cart: ValidationError("product") unless the org sells it on the
    portal, or when the cart is full."""
    p = catalogue.get_product(conn, org_id, product_id)
    if p is None or not p.active or not p.on_portal:
        raise ValidationError("product", "That product is not sold here.")
    if count(conn, org_id, customer_id) >= MAX_ITEMS:
        raise ValidationError("product", f"A cart holds at most {MAX_ITEMS} items.")
    key = conn.execute(cart_t.insert().values(org_id=org_id, customer_id=customer_id, product_id=p.id,
                                              created_at=now)).inserted_primary_key
    assert key is not None
    return Item(int(key[0]), p)


def remove(conn: Connection, org_id: int, customer_id: int, item_id: int) -> bool:
    """Take an item out of the customer's cart; False if it was not there."""
    done = conn.execute(cart_t.delete().where(cart_t.c.org_id == org_id, cart_t.c.customer_id == customer_id,
                                              cart_t.c.id == item_id))
    return bool(done.rowcount)


def clear(conn: Connection, org_id: int, customer_id: int) -> None:
    conn.execute(cart_t.delete().where(cart_t.c.org_id == org_id, cart_t.c.customer_id == customer_id))
