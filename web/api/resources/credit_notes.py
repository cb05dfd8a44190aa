"""/credit-notes: money given back on an invoice or as customer credit, and their documents."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from aaad.errors import NotFound
from billing import credit_notes, documents
from billing.invoices import LineIn as DomainLine
from web.api.declare import Call, Day, Id, In, ListQuery, Out, Page, Raw, Router
from web.api.resources._billing import (
    MAX_AMOUNT,
    MAX_LINES,
    LineIn,
    Text,
    day_range,
    referring,
    render_html,
    render_pdf,
)

router = Router("credit-notes", "Credit notes: list, read, issue by hand, as PDF or HTML")

Kind = Literal["unused_days", "cancellation", "upgrade", "downgrade", "void", "manual"]


class CreditNoteLineOut(Out):
    id: int
    service_id: int | None
    kind: str
    period_start: date | None
    period_end: date | None = Field(description="Exclusive: the day after the last day credited.")
    description: str
    net: int = Field(description="Minor units, before VAT.")
    vat_bp: int = Field(description="VAT rate in basis points (1500 = 15 %).")
    vat: int
    total: int


class CreditNoteOut(Out):
    id: int
    number: str
    customer_id: int
    invoice_id: int | None = Field(description="The invoice it credits (its open amount was settled first).")
    kind: Kind = Field(description="unused_days, cancellation, upgrade, downgrade (a plan's unused days), "
                                   "void (an invoice voided) or manual (an operator's).")
    reason: str
    issue_date: date
    currency: str
    subtotal: int = Field(description="Minor units, before VAT.")
    vat: int
    total: int
    created_at: datetime


class CreditNoteDetailOut(CreditNoteOut):
    lines: list[CreditNoteLineOut]


class CreditNoteQuery(ListQuery):
    customer_id: Id | None = None
    invoice_id: Id | None = None
    kind: Kind | None = None
    issued_since: Day | None = Field(None, description="Issued on or after this local date.")
    issued_until: Day | None = Field(None, description="Issued on or before this local date.")
    number: Text | None = Field(None, max_length=40, description="The credit note with this printed number.")
    sort: Literal["-id", "id", "-issue_date", "issue_date", "-total", "total", "-created_at",
                  "created_at"] = "-id"


class CreditNoteIn(In):
    """Either ``amount`` (one line) or ``lines``."""
    customer_id: Id
    reason: Text = Field(min_length=1, max_length=500, description="Why the customer is credited (printed).")
    invoice_id: Id | None = Field(None, description="The invoice it credits: its open amount is settled first; "
                                                    "the rest becomes customer credit.")
    amount: int | None = Field(None, ge=1, le=MAX_AMOUNT, description="Minor units, before VAT unless the "
                                                                       "org's prices include it.")
    taxable: bool = Field(True, description="With amount: whether VAT is credited too.")
    lines: list[LineIn] | None = Field(None, min_length=1, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _amount_or_lines(self) -> CreditNoteIn:
        if (self.amount is None) == (self.lines is None):
            raise ValueError("send either amount or lines")
        return self


class CreditNotePath(In):
    credit_note_id: Id


def out(cn: credit_notes.CreditNote) -> CreditNoteOut:
    return CreditNoteOut.model_validate(cn)


def detail(cn: credit_notes.CreditNote) -> CreditNoteDetailOut:
    return CreditNoteDetailOut.model_validate(cn)


@router.get("/credit-notes", summary="List credit notes")
async def list_credit_notes(call: Call, query: CreditNoteQuery) -> Page[CreditNoteOut]:
    """The org's credit notes (without lines), newest first unless asked; filtered by customer, the
    invoice credited, kind and issue date."""
    day_range(query.issued_since, query.issued_until)
    p = await call.read(credit_notes.page, call.org_id, customer_id=query.customer_id, invoice_id=query.invoice_id,
                        kind=query.kind, issued_since=query.issued_since, issued_until=query.issued_until,
                        number=query.number,
                        sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[CreditNoteOut](items=[out(c) for c in p.items], next_cursor=p.next_cursor)


@router.get("/credit-notes/{credit_note_id}", summary="A credit note")
async def get_credit_note(call: Call, path: CreditNotePath) -> CreditNoteDetailOut:
    """A credit note with its lines."""
    cn = await call.read(credit_notes.get, call.org_id, path.credit_note_id)
    if cn is None:
        raise NotFound("credit note", path.credit_note_id)
    return detail(cn)


@router.post("/credit-notes", summary="Issue a credit note")
async def create_credit_note(call: Call, body: CreditNoteIn) -> CreditNoteDetailOut:
    """Credit a customer by hand, with the reason (`aaad credit-note add`): one ``amount`` or several
    ``lines``, optionally against one of the customer's invoices.  It is issued today, booked in the
    ledger, and whatever is not allocated to the invoice becomes credit applied to the customer's other
    open invoices, oldest first."""
    target = f"customer {body.customer_id}"
    if body.lines is not None:
        lines = [DomainLine(ln.description, ln.unit_price, ln.quantity, ln.discount, ln.taxable, "manual")
                 for ln in body.lines]
        pending = call.write(credit_notes.add_manual_lines, call.org_id, body.customer_id, lines, body.reason,
                             call.now, body.invoice_id, target=target)
    else:
        assert body.amount is not None
        pending = call.write(credit_notes.add_manual, call.org_id, body.customer_id, body.amount, body.reason,
                             call.now, body.invoice_id, taxable=body.taxable, target=target)
    cn = await referring(pending, customer="customer_id", invoice="invoice_id")
    return detail(cn)


@router.get("/credit-notes/{credit_note_id}.pdf", summary="A credit note as PDF", media="application/pdf")
async def get_credit_note_pdf(call: Call, path: CreditNotePath) -> Raw:
    """The credit note's PDF (WeasyPrint's rendering of its HTML page)."""
    return await call.read(render_pdf, documents.credit_note_doc, call.org_id, path.credit_note_id)


@router.get("/credit-notes/{credit_note_id}.html", summary="A credit note as HTML", media="text/html")
async def get_credit_note_html(call: Call, path: CreditNotePath) -> Raw:
    """The credit note's HTML page (self-contained: inline CSS, no external resources)."""
    return await call.read(render_html, documents.credit_note_doc, call.org_id, path.credit_note_id)
