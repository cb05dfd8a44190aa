"""/payments: money received, allocated to the oldest open invoices; the receipt as PDF or HTML."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from aaad.errors import NotFound, ValidationError
from billing import documents, payments
from web.api.declare import Call, Id, In, Instant, ListQuery, Out, Page, Raw, Router
from web.api.resources._billing import MAX_AMOUNT, Text, referring, render_html, render_pdf, time_range

router = Router("payments", "Payments: list, read, record, and their receipts")

METHOD = r"^[a-z0-9][a-z0-9_.-]{0,31}$"


class PaymentOut(Out):
    id: int
    receipt_number: str = Field(description="Gap-free per org (prefix + sequence).")
    customer_id: int
    amount: int = Field(description="Minor units.")
    currency: str
    method: str = Field(description="cash, bank, mobile_money, card, ...")
    reference: str = Field(description="The bank, receipt-book or transaction reference (unique per method).")
    note: str
    received_at: datetime
    created_at: datetime


class AllocationOut(Out):
    invoice_id: int
    invoice_number: str | None
    amount: int = Field(description="The part of the payment that settled this invoice (minor units).")


class PaymentDetailOut(PaymentOut):
    allocations: list[AllocationOut] = Field(description="The invoices it settled, oldest first.")
    credit: int = Field(description="The part that became customer credit (minor units).")


class PaymentRecordedOut(PaymentDetailOut):
    credit_available: int = Field(description="The customer's unused credit after the payment.")
    balance: int = Field(description="What the customer owes after it (negative: in credit).")
    resumed_service_ids: list[int] = Field(description="Services suspended for arrears that this payment "
                                                       "resumed.")


class PaymentQuery(ListQuery):
    customer_id: Id | None = None
    method: str | None = Field(None, pattern=METHOD)
    since: Instant | None = Field(None, description="Received at or after (RFC 3339).")
    until: Instant | None = Field(None, description="Received before (RFC 3339).")
    receipt_number: Text | None = Field(None, max_length=40, description="The payment of this receipt.")
    sort: Literal["-id", "id", "-received_at", "received_at", "-amount", "amount"] = "-id"


class PaymentIn(In):
    customer_id: Id
    amount: int = Field(ge=1, le=MAX_AMOUNT, description="Minor units (1250 = 12.50 in a 2-decimal currency).")
    method: str = Field(pattern=METHOD, description="cash, bank, mobile_money, card, ... (lower case).")
    reference: Text = Field(min_length=1, max_length=128, description="The bank, receipt-book or transaction "
                                                                     "reference: the same one is recorded once "
                                                                     "per method.")
    note: Text = Field("", max_length=1000)
    received_at: Instant | None = Field(None, description="When the money came in (default: now); "
                                                                "not in the future.")


class PaymentPath(In):
    payment_id: Id


@dataclass(frozen=True)
class _Shown:
    payment: payments.Payment
    allocations: list[payments.Allocation]


def _shown(conn: Any, org_id: int, payment_id: int) -> _Shown:
    p = payments.get(conn, org_id, payment_id)
    if p is None:
        raise NotFound("payment", payment_id)
    return _Shown(p, payments.allocations_of(conn, org_id, payment_id))


def out(p: payments.Payment) -> PaymentOut:
    return PaymentOut.model_validate(p)


def _fields(p: payments.Payment) -> dict[str, Any]:
    return {k: getattr(p, k) for k in PaymentOut.model_fields}


@router.get("/payments", summary="List payments")
async def list_payments(call: Call, query: PaymentQuery) -> Page[PaymentOut]:
    """The org's payments, newest first unless asked; filtered by customer, method and when received."""
    time_range(query.since, query.until)
    p = await call.read(payments.page, call.org_id, customer_id=query.customer_id, method=query.method,
                        since=query.since, until=query.until, receipt_number=query.receipt_number,
                        sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[PaymentOut](items=[out(x) for x in p.items], next_cursor=p.next_cursor)


@router.get("/payments/{payment_id}", summary="A payment")
async def get_payment(call: Call, path: PaymentPath) -> PaymentDetailOut:
    """A payment with the invoices it settled and the part left as credit."""
    s = await call.read(_shown, call.org_id, path.payment_id)
    allocated = sum(a.amount for a in s.allocations)
    return PaymentDetailOut.model_validate({**_fields(s.payment),
                                            "allocations": [AllocationOut.model_validate(a) for a in s.allocations],
                                            "credit": s.payment.amount - allocated})


@router.post("/payments", summary="Record a payment")
async def record_payment(call: Call, body: PaymentIn) -> PaymentRecordedOut:
    """Record money received (`aaad payment add`): a receipt number, allocations to the customer's open
    invoices oldest first, the rest as customer credit, one ledger entry, and the services dunning
    suspended resumed once nothing is overdue.  The same method and reference are recorded once (422,
    field reference); send an Idempotency-Key to retry safely."""
    if body.received_at is not None and body.received_at > call.now:
        raise ValidationError("received_at", "in the future")
    r = await referring(call.write(payments.record, call.deps.login_writer, call.org_id, body.customer_id,
                                   body.amount, call.now, method=body.method, reference=body.reference,
                                   note=body.note, received_at=body.received_at,
                                   target=f"customer {body.customer_id}"),
                        customer="customer_id")
    return PaymentRecordedOut.model_validate({
        **_fields(r.payment), "allocations": [AllocationOut.model_validate(a) for a in r.allocations],
        "credit": r.credit, "credit_available": r.credit_available, "balance": r.balance,
        "resumed_service_ids": list(r.resumed_service_ids)})


@router.get("/payments/{payment_id}/receipt.pdf", summary="A payment's receipt as PDF", media="application/pdf")
async def get_receipt_pdf(call: Call, path: PaymentPath) -> Raw:
    """The receipt's PDF: the amount, method, reference and the invoices the payment settled."""
    return await call.read(render_pdf, documents.receipt_doc, call.org_id, path.payment_id)


@router.get("/payments/{payment_id}/receipt.html", summary="A payment's receipt as HTML", media="text/html")
async def get_receipt_html(call: Call, path: PaymentPath) -> Raw:
    """The receipt's HTML page."""
    return await call.read(render_html, documents.receipt_doc, call.org_id, path.payment_id)
