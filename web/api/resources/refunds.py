"""/refunds: customer credit paid back out."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from aaad.errors import NotFound
from billing import payments, settings
from web.api.declare import Call, Id, In, Instant, ListQuery, Out, Page, Router
from web.api.resources._billing import MAX_AMOUNT, Text, referring, time_range
from web.api.resources.payments import METHOD

router = Router("refunds", "Refunds of customer credit: list, read, pay back")


class RefundOut(Out):
    id: int
    customer_id: int
    amount: int = Field(description="Minor units.")
    currency: str
    method: str
    reference: str
    reason: str
    created_at: datetime


class RefundCreatedOut(RefundOut):
    credit_available: int = Field(description="The customer's credit left after the refund.")


class RefundQuery(ListQuery):
    customer_id: Id | None = None
    method: str | None = Field(None, pattern=METHOD)
    since: Instant | None = Field(None, description="Made at or after (RFC 3339).")
    until: Instant | None = Field(None, description="Made before (RFC 3339).")
    sort: Literal["-id", "id", "-created_at", "created_at", "-amount", "amount"] = "-id"


class RefundIn(In):
    customer_id: Id
    amount: int = Field(ge=1, le=MAX_AMOUNT, description="Minor units; at most the customer's unused credit.")
    method: str = Field(pattern=METHOD, description="How it is paid back: cash, bank, mobile_money, ...")
    reason: Text = Field(min_length=1, max_length=500)
    reference: Text = Field("", max_length=128)


class RefundPath(In):
    refund_id: Id


@dataclass(frozen=True)
class _WithCurrency:
    value: Any
    currency: str


def _page(conn: Any, org_id: int, **kw: Any) -> _WithCurrency:
    return _WithCurrency(payments.refunds_page(conn, org_id, **kw), settings.get(conn, org_id).currency)


def _one(conn: Any, org_id: int, refund_id: int) -> _WithCurrency:
    r = payments.get_refund(conn, org_id, refund_id)
    if r is None:
        raise NotFound("refund", refund_id)
    return _WithCurrency(r, settings.get(conn, org_id).currency)


def _made(conn: Any, org_id: int, customer_id: int, amount: int, now: datetime, **kw: Any) -> _WithCurrency:
    made = payments.refund(conn, org_id, customer_id, amount, now, **kw)
    return _WithCurrency(made, settings.get(conn, org_id).currency)


def _fields(r: payments.Refund, currency: str) -> dict[str, Any]:
    return {**{k: getattr(r, k) for k in RefundOut.model_fields if k != "currency"}, "currency": currency}


@router.get("/refunds", summary="List refunds")
async def list_refunds(call: Call, query: RefundQuery) -> Page[RefundOut]:
    """The org's refunds, newest first unless asked; filtered by customer, method and when made."""
    time_range(query.since, query.until)
    got = await call.read(_page, call.org_id, customer_id=query.customer_id, method=query.method,
                          since=query.since, until=query.until, sort=query.sort, cursor=query.cursor,
                          limit=query.limit)
    return Page[RefundOut](items=[RefundOut.model_validate(_fields(r, got.currency)) for r in got.value.items],
                           next_cursor=got.value.next_cursor)


@router.get("/refunds/{refund_id}", summary="A refund")
async def get_refund(call: Call, path: RefundPath) -> RefundOut:
    got = await call.read(_one, call.org_id, path.refund_id)
    return RefundOut.model_validate(_fields(got.value, got.currency))


@router.post("/refunds", summary="Refund customer credit")
async def create_refund(call: Call, body: RefundIn) -> RefundCreatedOut:
    """Pay back up to the customer's unused credit (`aaad refund add`; more: 422, field amount), booked in
    the ledger as credit debited and cash of the method credited."""
    got = await referring(call.write(_made, call.org_id, body.customer_id, body.amount, call.now,
                                     method=body.method, reference=body.reference, reason=body.reason,
                                     target=f"customer {body.customer_id}"),
                          customer="customer_id")
    r = got.value
    return RefundCreatedOut.model_validate({**_fields(r, got.currency), "credit_available": r.credit_available})
