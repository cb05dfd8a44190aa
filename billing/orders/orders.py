"""Orders: the products a customer asks for on the portal (at sign-up or from the cart).

Placing an order creates one *pending* service per product (through
:func:`billing.services.add`, so each internet service has its login, disabled)
and the order with its items, in one transaction, and publishes
``order.placed``.  How it goes on depends on how it is paid (``method``):

- ``gateway`` (pay now): the customer pays the order's total through the org's
  gateway; when the payment is credited (:func:`paid`, called by
  :func:`billing.gateways.store.settle`) the services become active from the
  payment date at once.  The payment is a credit on the customer's account that
  the services' first invoices use.
- ``invoice``: nothing is paid now; the admin approves the order with the actual
  start date and billing invoices the services from that date.
- ``request``: a request for the admins (who answer in a ticket); approved like
  ``invoice``.  An unpaid order of any method may still be paid online.

:func:`approve` is the admin's approval with the actual start date.  Services
already active because the order was paid keep being active; a later start
date moves their start and credits the unused days
(:func:`billing.services.approve` and :func:`billing.charges.on_start_moved`):
paid 01/01, started 14/01 → 13 days credited.

Statuses: ``placed`` → ``paid`` (services active from the payment date) →
``active`` (approved); ``placed`` → ``active`` (approved unpaid); ``placed`` →
``cancelled``.  Nothing paid is ever cancelled here (refunds are billing's).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import events, paging
from aaad.errors import NotFound, ValidationError
from aaad.view.write import LoginWriter
from billing import catalogue, customers, money, services, settings
from billing.events import OrderPaid, OrderPlaced
from billing.orders.schema import order_items, orders

METHODS = ("gateway", "invoice", "request")
STATUSES = ("placed", "paid", "active", "cancelled")
#: Most products in one order (a cart is a handful of products; this bounds a hostile form).
MAX_ITEMS = 20


@dataclass(frozen=True)
class QuoteLine:
    product_id: int
    name: str
    type: str
    net: int
    vat: int
    gross: int


@dataclass(frozen=True)
class Quote:
    """What the products cost now: one period's price and the setup fee each, VAT as the org charges it."""
    lines: tuple[QuoteLine, ...]
    net: int
    vat: int
    total: int
    currency: str


@dataclass(frozen=True)
class Item:
    id: int
    product_id: int
    service_id: int | None
    name: str
    net: int
    vat: int
    gross: int


@dataclass(frozen=True)
class Order:
    id: int
    org_id: int
    customer_id: int
    status: str
    method: str
    net: int
    vat: int
    total: int
    currency: str
    note: str
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    approved_at: datetime | None
    cancelled_at: datetime | None
    items: tuple[Item, ...] = ()

    @property
    def number(self) -> str:
        return f"ORD-{self.id:06d}"

    @property
    def service_ids(self) -> tuple[int, ...]:
        return tuple(i.service_id for i in self.items if i.service_id is not None)


def _order(r: Any, items: tuple[Item, ...] = ()) -> Order:
    return Order(r.id, r.org_id, r.customer_id, r.status, r.method, r.net, r.vat, r.total, r.currency, r.note,
                 r.created_at, r.updated_at, r.paid_at, r.approved_at, r.cancelled_at, items)


def _item(r: Any) -> Item:
    return Item(r.id, r.product_id, r.service_id, r.name, r.net, r.vat, r.gross)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValidationError("method", f"one of: {', '.join(METHODS)}")


# -- quoting ----------------------------------------------------------------------------------------------------

def quote(conn: Connection, org_id: int, product_ids: list[int], *, zone: str | None = None,
          portal: bool = True) -> Quote:
    """The price of ``product_ids`` (a product may appear more than once): each product's
    price for one period plus its setup fee, VAT per the org's settings (half-even per
    line).  ValidationError("products") for none, too many, an unknown product, one no
    longer sold, one not offered on the portal (``portal``), or one not sold in ``zone``
    (when given)."""
    if not product_ids:
        raise ValidationError("products", "choose at least one product")
    if len(product_ids) > MAX_ITEMS:
        raise ValidationError("products", f"at most {MAX_ITEMS} products in one order")
    st = settings.get(conn, org_id)
    found = {pid: p for pid in set(product_ids) if (p := catalogue.get_product(conn, org_id, pid)) is not None}
    lines = []
    for pid in product_ids:
        p = found.get(pid)
        if p is None or (portal and not p.on_portal):
            raise ValidationError("products", f"no product {pid} on sale here")
        if not p.active:
            raise ValidationError("products", f"{p.name} is no longer sold")
        if zone is not None and not p.sold_in(zone):
            raise ValidationError("products", f"{p.name} is not sold in {zone}")
        a = money.line_amounts(p.price + p.setup_fee, st.vat_bp if p.taxable else 0, st.prices_include_vat)
        lines.append(QuoteLine(p.id, p.name, p.type, a.net, a.vat, a.total))
    return Quote(tuple(lines), sum(x.net for x in lines), sum(x.vat for x in lines), sum(x.gross for x in lines),
                 st.currency)


# -- reading ----------------------------------------------------------------------------------------------------

def _items_of(conn: Connection, org_id: int, order_ids: list[int]) -> dict[int, tuple[Item, ...]]:
    out: dict[int, list[Item]] = {i: [] for i in order_ids}
    if order_ids:
        for r in conn.execute(sa.select(order_items).where(order_items.c.org_id == org_id,
                                                           order_items.c.order_id.in_(order_ids))
                              .order_by(order_items.c.id)):
            out[r.order_id].append(_item(r))
    return {k: tuple(v) for k, v in out.items()}


def get(conn: Connection, org_id: int, order_id: int) -> Order | None:
    """The org's order ``order_id`` with its items, or None."""
    r = conn.execute(sa.select(orders).where(orders.c.org_id == org_id, orders.c.id == order_id)).first()
    if r is None:
        return None
    return _order(r, _items_of(conn, org_id, [r.id])[r.id])


def require(conn: Connection, org_id: int, order_id: int) -> Order:
    """:func:`get`, or NotFound."""
    o = get(conn, org_id, order_id)
    if o is None:
        raise NotFound("order", order_id)
    return o


def of_customer(conn: Connection, org_id: int, customer_id: int, limit: int = 50) -> list[Order]:
    """The customer's orders, newest first."""
    rows = list(conn.execute(sa.select(orders).where(orders.c.org_id == org_id, orders.c.customer_id == customer_id)
                             .order_by(orders.c.id.desc()).limit(limit)))
    items = _items_of(conn, org_id, [r.id for r in rows])
    return [_order(r, items[r.id]) for r in rows]


def of_service(conn: Connection, org_id: int, service_id: int) -> Order | None:
    """The order that created service ``service_id``, if one did."""
    oid = conn.execute(sa.select(order_items.c.order_id).where(order_items.c.org_id == org_id,
                                                               order_items.c.service_id == service_id)).scalar()
    return None if oid is None else get(conn, org_id, int(oid))


#: What :func:`page` sorts by (NOT NULL columns; the id breaks ties).
SORTS = {"id": orders.c.id, "created_at": orders.c.created_at, "total": orders.c.total}


def page(conn: Connection, org_id: int, *, customer_id: int | None = None, status: str | None = None,
         method: str | None = None, sort: str = "-id", cursor: str | None = None,
         limit: int = 50) -> paging.Page[Order]:
    """One page of the org's orders (see :mod:`aaad.paging`), with their items."""
    q = sa.select(orders).where(orders.c.org_id == org_id)
    if customer_id is not None:
        q = q.where(orders.c.customer_id == customer_id)
    if status is not None:
        q = q.where(orders.c.status == status)
    if method is not None:
        q = q.where(orders.c.method == method)
    pg = paging.page(conn, q, sort=sort, columns=SORTS, id_col=orders.c.id, cursor=cursor, limit=limit,
                     row=_order)
    items = _items_of(conn, org_id, [o.id for o in pg.items])
    return paging.Page([_with_items(o, items[o.id]) for o in pg.items], pg.next_cursor)


def _with_items(o: Order, items: tuple[Item, ...]) -> Order:
    return dataclasses.replace(o, items=items)


# -- changing ---------------------------------------------------------------------------------------------------

def place(conn: Connection, writer: LoginWriter, org_id: int, customer_id: int, product_ids: list[int],
          now: datetime, *, method: str = "invoice", note: str = "", zone: str | None = None,
          portal: bool = True) -> Order:
    """Order ``product_ids`` for the customer: one pending service each (internet ones with
    their login, disabled), the order and its items at the prices quoted now; publishes
    ``order.placed``.  ``zone``: where the service will be (products not sold there refused).
    ValidationError for a closed customer, a bad method or product (see :func:`quote`)."""
    _check_method(method)
    cust = customers.get(conn, org_id, customer_id)
    if cust is None:
        raise NotFound("customer", customer_id)
    if cust.status == "closed":
        raise ValidationError("customer", f"customer {cust.username} is closed")
    q = quote(conn, org_id, product_ids, zone=zone, portal=portal)
    key = conn.execute(orders.insert().values(
        org_id=org_id, customer_id=customer_id, status="placed", method=method, net=q.net, vat=q.vat, total=q.total,
        currency=q.currency, note=note[:2000], created_at=now, updated_at=now)).inserted_primary_key
    assert key is not None
    oid = int(key[0])
    for ln in q.lines:
        svc = services.add(conn, writer, org_id, customer_id, ln.product_id, now)
        conn.execute(order_items.insert().values(org_id=org_id, order_id=oid, product_id=ln.product_id,
                                                 service_id=svc.id, name=ln.name, net=ln.net, vat=ln.vat,
                                                 gross=ln.gross))
    events.publish(conn, org_id, OrderPlaced(order_id=oid, customer_id=customer_id, method=method, total=q.total,
                                             currency=q.currency), now)
    return require(conn, org_id, oid)


def set_method(conn: Connection, org_id: int, order_id: int, method: str, now: datetime) -> Order:
    """Change how a placed (unpaid) order is to be paid."""
    _check_method(method)
    o = require(conn, org_id, order_id)
    if o.status != "placed":
        raise ValidationError("method", f"order {o.number} is {o.status}: its method can no longer change")
    conn.execute(orders.update().where(orders.c.org_id == org_id, orders.c.id == order_id, orders.c.status == "placed")
                 .values(method=method, updated_at=now))
    return require(conn, org_id, order_id)


def check_payable(o: Order) -> None:
    """ValidationError("order") unless ``o`` may be paid online now."""
    if o.status != "placed":
        raise ValidationError("order", f"order {o.number} is {o.status}: there is nothing to pay")
    if o.total <= 0:
        raise ValidationError("order", f"order {o.number} costs nothing: there is nothing to pay")


def paid(conn: Connection, writer: LoginWriter, org_id: int, order_id: int, day: date, now: datetime) -> Order:
    """The order's online payment was credited: status ``paid``, its pending services active
    from ``day`` (the payment date) at once.  Repeating it changes nothing; a cancelled
    order's payment stays a credit on the account."""
    o = require(conn, org_id, order_id)
    if o.status != "placed":
        return o
    n = conn.execute(orders.update().where(orders.c.org_id == org_id, orders.c.id == order_id,
                                           orders.c.status == "placed")
                     .values(status="paid", method="gateway", paid_at=now, updated_at=now)).rowcount
    if n != 1:
        return require(conn, org_id, order_id)
    _start_services(conn, writer, org_id, o, day, now)
    events.publish(conn, org_id, OrderPaid(order_id=o.id, customer_id=o.customer_id, total=o.total,
                                           currency=o.currency), now)
    return require(conn, org_id, order_id)


def _start_services(conn: Connection, writer: LoginWriter, org_id: int, o: Order, start: date,
                    now: datetime) -> None:
    for sid in o.service_ids:
        svc = services.get(conn, org_id, sid)
        if svc is None or svc.state in ("rejected", "cancelled"):
            continue
        if svc.state == "pending" or (svc.state == "active" and svc.start_date is not None
                                      and start > svc.start_date):
            services.approve(conn, writer, org_id, sid, start, now)


def approve(conn: Connection, writer: LoginWriter, org_id: int, order_id: int, start: date,
            now: datetime) -> Order:
    """The admin's approval with the actual start date: pending services active from
    ``start``; services active since the payment with a later ``start`` have it moved and
    the unused days credited.  Approving again with the same date changes nothing."""
    if not isinstance(start, date) or isinstance(start, datetime):
        raise ValidationError("start", "a date")
    o = require(conn, org_id, order_id)
    if o.status == "cancelled":
        raise ValidationError("order", f"order {o.number} is cancelled")
    for sid in o.service_ids:
        svc = services.get(conn, org_id, sid)
        if svc is not None and svc.state == "active" and svc.start_date is not None and start < svc.start_date:
            raise ValidationError("start", f"service {sid} is active since {svc.start_date.isoformat()}: "
                                           "its start can only move later")
    _start_services(conn, writer, org_id, o, start, now)
    conn.execute(orders.update().where(orders.c.org_id == org_id, orders.c.id == order_id)
                 .values(status="active", approved_at=now, updated_at=now))
    return require(conn, org_id, order_id)


def cancel(conn: Connection, writer: LoginWriter, org_id: int, order_id: int, now: datetime, *,
           reason: str = "") -> Order:
    """Cancel an unpaid, unapproved order: its pending services are rejected (their logins removed)."""
    o = require(conn, org_id, order_id)
    if o.status != "placed":
        raise ValidationError("order", f"order {o.number} is {o.status}: only a placed, unpaid order can be "
                                       "cancelled")
    n = conn.execute(orders.update().where(orders.c.org_id == org_id, orders.c.id == order_id,
                                           orders.c.status == "placed")
                     .values(status="cancelled", cancelled_at=now, updated_at=now,
                             note=(o.note + ("\n" if o.note else "") + f"cancelled: {reason}")[:2000]
                             if reason else o.note)).rowcount
    if n != 1:
        raise ValidationError("order", f"order {o.number} changed meanwhile")
    for sid in o.service_ids:
        svc = services.get(conn, org_id, sid)
        if svc is not None and svc.state == "pending":
            services.reject(conn, writer, org_id, sid, now, reason=reason or f"order {o.number} cancelled")
    return require(conn, org_id, order_id)
