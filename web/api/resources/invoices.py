"""/invoices: what customers owe, line by line, with VAT; voiding one; the invoice as PDF or HTML."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from aaad.errors import NotFound
from billing import credit_notes, documents, invoices
from billing.invoices import LineIn as DomainLine
from web.api.declare import Call, Day, Id, In, ListQuery, Out, Page, Raw, Router
from web.api.resources._billing import MAX_LINES, LineIn, Text, day_range, referring, render_html, render_pdf
from web.api.resources.credit_notes import CreditNoteDetailOut, CreditNoteOut
from web.api.resources.credit_notes import detail as credit_note_detail

router = Router("invoices", "Invoices: list, read, issue one-off, void, as PDF or HTML")

State = Literal["draft", "open", "paid", "void"]
InvoiceSort = Literal["-id", "id", "-issue_date", "issue_date", "-due_date", "due_date", "-total", "total",
                      "-created_at", "created_at"]


class InvoiceLineOut(Out):
    id: int
    service_id: int | None
    kind: str = Field(description="recurring, setup, proration, one_time or adjustment.")
    period_start: date | None
    period_end: date | None = Field(description="Exclusive: the day after the last day billed.")
    description: str
    quantity: int
    unit_price: int = Field(description="Minor units.")
    discount: int
    net: int = Field(description="unit_price × quantity − discount, excluding VAT (minor units).")
    vat_bp: int = Field(description="VAT rate in basis points (1500 = 15 %; 0 for an exempt line).")
    vat: int
    total: int = Field(description="net + vat.")


class VatRateOut(Out):
    vat_bp: int
    net: int
    vat: int


class InvoiceOut(Out):
    id: int
    number: str | None = Field(description="Gap-free per org (prefix + sequence); null while a draft.")
    customer_id: int
    state: State = Field(description="open → paid (allocations reach the total), or void (keeps its number, "
                                     "balanced by a credit note).")
    issue_date: date
    due_date: date
    currency: str
    subtotal: int = Field(description="Net of the lines, after discounts, excluding VAT (minor units).")
    discount: int
    vat: int
    total: int
    paid: int = Field(description="Allocated to it by payments, credit notes and credit.")
    amount_due: int = Field(description="What is still open on it (0 when paid or void).")
    created_at: datetime
    paid_at: datetime | None
    voided_at: datetime | None


class InvoiceDetailOut(InvoiceOut):
    lines: list[InvoiceLineOut]
    vat_breakdown: list[VatRateOut] = Field(description="Net and VAT per rate, highest rate first.")
    credit_notes: list[CreditNoteOut] = Field(description="The credit notes against it (without lines).")


class InvoiceQuery(ListQuery):
    customer_id: Id | None = None
    state: State | None = None
    issued_since: Day | None = Field(None, description="Issued on or after this local date.")
    issued_until: Day | None = Field(None, description="Issued on or before this local date.")
    due_before: Day | None = Field(None, description="Due before this local date (with state=open: overdue).")
    number: Text | None = Field(None, max_length=40, description="The invoice with this printed number.")
    sort: InvoiceSort = "-id"


class InvoiceIn(In):
    customer_id: Id
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    due_date: Day | None = Field(None, description="Default: today plus the org's payment terms.")


class VoidIn(In):
    reason: Text = Field(min_length=1, max_length=500, description="Why (printed on the credit note).")


class VoidOut(Out):
    invoice: InvoiceDetailOut
    credit_note: CreditNoteDetailOut | None = Field(description="The credit note that balances it (null for an "
                                                                "invoice of total 0).")


class InvoicePath(In):
    invoice_id: Id


@dataclass(frozen=True)
class _Shown:
    invoice: invoices.Invoice
    notes: list[credit_notes.CreditNote]


def out(inv: invoices.Invoice) -> InvoiceOut:
    return InvoiceOut.model_validate({**_fields(inv), "amount_due": inv.open_amount})


def detail(inv: invoices.Invoice, notes: list[credit_notes.CreditNote]) -> InvoiceDetailOut:
    by: dict[int, list[int]] = {}
    for ln in inv.lines:
        acc = by.setdefault(ln.vat_bp, [0, 0])
        acc[0] += ln.net
        acc[1] += ln.vat
    return InvoiceDetailOut.model_validate({
        **_fields(inv), "amount_due": inv.open_amount,
        "lines": [InvoiceLineOut.model_validate(ln) for ln in inv.lines],
        "vat_breakdown": [VatRateOut(vat_bp=bp, net=n, vat=v) for bp, (n, v) in sorted(by.items(), reverse=True)],
        "credit_notes": [CreditNoteOut.model_validate(n) for n in notes]})


def _fields(inv: invoices.Invoice) -> dict[str, Any]:
    return {k: getattr(inv, k) for k in InvoiceOut.model_fields if k != "amount_due"}


def _shown(conn: Any, org_id: int, invoice_id: int) -> _Shown:
    inv = invoices.get(conn, org_id, invoice_id)
    if inv is None:
        raise NotFound("invoice", invoice_id)
    return _Shown(inv, credit_notes.list_credit_notes(conn, org_id, invoice_id=invoice_id))


@dataclass(frozen=True)
class _Voided:
    invoice: _Shown
    credit_note: credit_notes.CreditNote | None


def _void(conn: Any, org_id: int, invoice_id: int, reason: str, now: datetime) -> _Voided:
    cn = credit_notes.void_invoice(conn, org_id, invoice_id, reason, now)
    return _Voided(_shown(conn, org_id, invoice_id), cn)


@router.get("/invoices", summary="List invoices")
async def list_invoices(call: Call, query: InvoiceQuery) -> Page[InvoiceOut]:
    """The org's invoices (without lines), newest first unless asked; filtered by customer, state, issue
    date and due date."""
    day_range(query.issued_since, query.issued_until)
    p = await call.read(invoices.page, call.org_id, customer_id=query.customer_id, state=query.state,
                        issued_since=query.issued_since, issued_until=query.issued_until,
                        due_before=query.due_before, number=query.number, sort=query.sort, cursor=query.cursor,
                        limit=query.limit)
    return Page[InvoiceOut](items=[out(i) for i in p.items], next_cursor=p.next_cursor)


@router.get("/invoices/{invoice_id}", summary="An invoice")
async def get_invoice(call: Call, path: InvoicePath) -> InvoiceDetailOut:
    """An invoice with its lines, VAT per rate, what is paid and due, and the credit notes against it."""
    s = await call.read(_shown, call.org_id, path.invoice_id)
    return detail(s.invoice, s.notes)


@router.post("/invoices", summary="Issue a one-off invoice")
async def create_invoice(call: Call, body: InvoiceIn) -> InvoiceDetailOut:
    """Invoice a customer for lines of your own (an installation, a router sold), issued today with its
    number, booked in the ledger; the customer's unused credit is applied to it at once.  Services are
    invoiced by the daily billing run, not here."""
    lines = [DomainLine(ln.description, ln.unit_price, ln.quantity, ln.discount, ln.taxable, "one_time")
             for ln in body.lines]
    inv = await referring(call.write(invoices.issue_one_off, call.org_id, body.customer_id, lines, call.now,
                                     due_date=body.due_date, target=f"customer {body.customer_id}"),
                          customer="customer_id")
    return detail(inv, [])


@router.post("/invoices/{invoice_id}/void", summary="Void an invoice", status=200)
async def void_invoice(call: Call, path: InvoicePath, body: VoidIn) -> VoidOut:
    """Void an open or paid invoice (`aaad invoice void`): it keeps its number and a credit note of its
    total balances it; what had been paid on it becomes customer credit.  Refused (422, field invoice) for
    an invoice already void or already credited by another credit note."""
    v = await call.write(_void, call.org_id, path.invoice_id, body.reason, call.now,
                         target=f"invoice {path.invoice_id}",
                         before=lambda conn: invoices.get(conn, call.org_id, path.invoice_id))
    return VoidOut(invoice=detail(v.invoice.invoice, v.invoice.notes),
                   credit_note=None if v.credit_note is None else credit_note_detail(v.credit_note))


@router.get("/invoices/{invoice_id}.pdf", summary="An invoice as PDF", media="application/pdf")
async def get_invoice_pdf(call: Call, path: InvoicePath) -> Raw:
    """The invoice's PDF (WeasyPrint's rendering of its HTML page; rendered off the reactor)."""
    return await call.read(render_pdf, documents.invoice_doc, call.org_id, path.invoice_id)


@router.get("/invoices/{invoice_id}.html", summary="An invoice as HTML", media="text/html")
async def get_invoice_html(call: Call, path: InvoicePath) -> Raw:
    """The invoice's HTML page (self-contained: inline CSS, the logo as a data: URL)."""
    return await call.read(render_html, documents.invoice_doc, call.org_id, path.invoice_id)
