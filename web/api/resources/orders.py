"""/orders: what customers ordered on the portal, and the admins' approval with the actual start date.

An order holds one pending service per product until it is paid online (its
services active from the payment date) or approved here with the actual
start date (a paid order's services move to it, the unused days credited:
paid 01/01, started 14/01 → 13 days on a credit note).  An unpaid order may
be cancelled (its pending services rejected).  ``/shop-settings`` says how
the portal's checkout works for the org.  Each write is one call of
:mod:`billing.orders`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from aaad.errors import NotFound
from billing.orders import cart, orders
from web.api.declare import Call, Day, Id, In, ListQuery, Out, Page, Router
from web.api.resources._billing import Text

router = Router("orders", "Portal orders: list, read, approve with the start date, cancel; checkout settings")

Status = Literal["placed", "paid", "active", "cancelled"]
Method = Literal["gateway", "invoice", "request"]


class OrderItemOut(Out):
    id: int
    product_id: int
    service_id: int | None = Field(description="The service the order created for it.")
    name: str
    net: int = Field(description="Minor units, one period and the setup fee, before VAT.")
    vat: int
    gross: int


class OrderOut(Out):
    id: int
    number: str
    customer_id: int
    status: Status = Field(description="placed (waiting), paid (online; services active from the payment "
                                       "date), active (approved), cancelled.")
    method: Method = Field(description="gateway (pay now), invoice, request (for the admins to approve).")
    net: int
    vat: int
    total: int = Field(description="Minor units, as quoted when placed.")
    currency: str
    note: str
    created_at: datetime
    paid_at: datetime | None
    approved_at: datetime | None
    cancelled_at: datetime | None
    items: list[OrderItemOut]


class OrderQuery(ListQuery):
    customer_id: Id | None = None
    status: Status | None = None
    method: Method | None = None
    sort: Literal["-id", "id", "-created_at", "created_at", "-total", "total"] = "-id"


class OrderPath(In):
    order_id: Id


class OrderApproveIn(In):
    start: Day = Field(description="The actual start date: pending services active from it; services active "
                                   "since the payment move to it and the unused days are credited.")


class OrderCancelIn(In):
    reason: Text = Field("", max_length=500)


class ShopSettingsOut(Out):
    checkout: Literal["gateway", "request", "both"] = Field(
        description="How the portal's checkout orders: pay now through the gateway, as a request for the "
                    "admins, or the customer chooses.")
    request_via: Literal["ticket", "email"] = Field(
        description="How a request reaches the admins: a ticket about the order, or an e-mail (the admins' "
                    "order notification).")
    updated_at: datetime | None


class ShopSettingsIn(In):
    checkout: Literal["gateway", "request", "both"] | None = None
    request_via: Literal["ticket", "email"] | None = None


def out(o: orders.Order) -> OrderOut:
    return OrderOut.model_validate({
        **{k: getattr(o, k) for k in ("id", "number", "customer_id", "status", "method", "net", "vat", "total",
                                      "currency", "note", "created_at", "paid_at", "approved_at",
                                      "cancelled_at")},
        "items": [OrderItemOut.model_validate(i) for i in o.items]})


@router.get("/orders", summary="List orders")
async def list_orders(call: Call, query: OrderQuery) -> Page[OrderOut]:
    """The org's orders, newest first, filtered by customer, status and method."""
    p = await call.read(orders.page, call.org_id, customer_id=query.customer_id, status=query.status,
                        method=query.method, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[OrderOut](items=[out(o) for o in p.items], next_cursor=p.next_cursor)


@router.get("/orders/{order_id}", summary="An order")
async def get_order(call: Call, path: OrderPath) -> OrderOut:
    o = await call.read(orders.get, call.org_id, path.order_id)
    if o is None:
        raise NotFound("order", path.order_id)
    return out(o)


@router.post("/orders/{order_id}/approve", summary="Approve an order with the actual start date", status=200)
async def approve_order(call: Call, path: OrderPath, body: OrderApproveIn) -> OrderOut:
    """Pending services active from ``start`` (first invoices from that date); for a paid order, a later
    ``start`` moves the services' start and credits the unused days.  Status active."""
    o = await call.write(orders.approve, call.deps.login_writer, call.org_id, path.order_id, body.start, call.now,
                         target=f"order {path.order_id}",
                         before=lambda conn: orders.get(conn, call.org_id, path.order_id))
    return out(o)


@router.post("/orders/{order_id}/cancel", summary="Cancel an unpaid order", status=200)
async def cancel_order(call: Call, path: OrderPath, body: OrderCancelIn) -> OrderOut:
    """A placed, unpaid order cancelled: its pending services rejected (logins removed)."""
    o = await call.write(orders.cancel, call.deps.login_writer, call.org_id, path.order_id, call.now,
                         reason=body.reason, target=f"order {path.order_id}",
                         before=lambda conn: orders.get(conn, call.org_id, path.order_id))
    return out(o)


@router.get("/shop-settings", summary="The portal's checkout settings")
async def get_shop_settings(call: Call) -> ShopSettingsOut:
    return ShopSettingsOut.model_validate(await call.read(cart.shop_settings, call.org_id))


@router.patch("/shop-settings", summary="Change the portal's checkout settings")
async def update_shop_settings(call: Call, body: ShopSettingsIn) -> ShopSettingsOut:
    """How the portal's checkout orders, and how requests reach the admins (fields not given stay)."""
    s = await call.write(cart.update_shop_settings, call.org_id, call.now, checkout=body.checkout,
                         request_via=body.request_via, target="shop settings")
    return ShopSettingsOut.model_validate(s)
