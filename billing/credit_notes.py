"""Credit notes: money the org gives back on an invoice, or as customer credit.

A credit note is issued in one transaction: its gap-free number, its lines
(rounded like invoice lines, :func:`billing.invoices.line_values`), one
balanced journal entry and ``credit_note.issued``.  The entry debits revenue
and VAT payable (the sale is undone) and credits the customer: first the
receivable, for the part allocated to the open amount of the invoice it
credits, then customer credit for the rest, which is at once applied to the
customer's other open invoices, oldest first (:func:`billing.ledger.apply_credit`).

Kinds: ``unused_days`` (a later actual start), ``cancellation``,
``upgrade``/``downgrade`` (the old plan's unused days), ``void`` (an invoice
voided: the invoice keeps its number and state ``void``; what had been paid
on it becomes customer credit) and ``manual`` (an operator's, with a reason).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import events, paging
from aaad.errors import NotFound, ValidationError
from billing import invoices, ledger, settings
from billing.events import CreditNoteIssued
from billing.invoices import LineIn
from billing.ledger import Posting
from billing.schema import allocations, credit_note_lines, credit_notes, customers
from billing.schema import invoices as invoices_t

KINDS = ("unused_days", "cancellation", "upgrade", "downgrade", "void", "manual")


@dataclass(frozen=True)
class CreditNoteLine:
    id: int
    service_id: int | None
    kind: str
    period_start: date | None
    period_end: date | None
    description: str
    net: int
    vat_bp: int
    vat: int
    total: int


@dataclass(frozen=True)
class CreditNote:
    id: int
    org_id: int
    customer_id: int
    invoice_id: int | None
    seq: int
    number: str
    kind: str
    reason: str
    issue_date: date
    currency: str
    subtotal: int
    vat: int
    total: int
    created_at: datetime
    lines: tuple[CreditNoteLine, ...] = field(default=())


def _row_values(ln: LineIn, vat_bp: int, inclusive: bool) -> dict[str, Any]:
    v = invoices.line_values(ln, vat_bp, inclusive)
    return {k: v[k] for k in ("service_id", "kind", "period_start", "period_end", "description", "net",
                              "vat_bp", "vat", "total")}


def issue(conn: Connection, org_id: int, customer_id: int, lines: list[LineIn], issue_date: date,
          now: datetime, *, kind: str, reason: str, invoice_id: int | None = None) -> CreditNote:
    """Issue a credit note in the caller's transaction (see the module docstring).
    Each line's ``unit_price × quantity − discount`` is what it credits, before VAT
    (or including it, per the org's setting), like an invoice line."""
    st = settings.get(conn, org_id)
    rows = [_row_values(ln, st.vat_bp, st.prices_include_vat) for ln in lines]
    return _issue_rows(conn, org_id, customer_id, rows, issue_date, now, kind=kind, reason=reason,
                       invoice_id=invoice_id)


def _issue_rows(conn: Connection, org_id: int, customer_id: int, rows: list[dict[str, Any]], issue_date: date,
                now: datetime, *, kind: str, reason: str, invoice_id: int | None) -> CreditNote:
    if kind not in KINDS:
        raise ValidationError("kind", f"one of {', '.join(KINDS)}")
    if not reason.strip():
        raise ValidationError("reason", "say why the customer is credited")
    if not rows:
        raise ValidationError("lines", "a credit note needs at least one line")
    if conn.execute(sa.select(customers.c.id).where(customers.c.org_id == org_id,
                                                    customers.c.id == customer_id)).first() is None:
        raise NotFound("customer", customer_id)
    inv = None
    if invoice_id is not None:
        inv = invoices.get(conn, org_id, invoice_id)
        if inv is None or inv.customer_id != customer_id:
            raise NotFound("invoice", invoice_id)
    subtotal = sum(int(r["net"]) for r in rows)
    vat = sum(int(r["vat"]) for r in rows)
    total = sum(int(r["total"]) for r in rows)
    if total <= 0 or any(int(r["total"]) < 0 for r in rows):
        raise ValidationError("amount", "a credit note credits a positive amount")
    st = settings.get(conn, org_id)
    seq, number = settings.next_number(conn, org_id, "credit_note", now)
    key = conn.execute(credit_notes.insert().values(
        org_id=org_id, customer_id=customer_id, invoice_id=invoice_id, seq=seq, number=number, kind=kind,
        reason=reason.strip(), issue_date=issue_date, currency=st.currency, subtotal=subtotal, vat=vat,
        total=total, created_at=now)).inserted_primary_key
    assert key is not None
    cn_id = int(key[0])
    conn.execute(credit_note_lines.insert(), [dict(r, org_id=org_id, credit_note_id=cn_id) for r in rows])
    allocated = 0
    if inv is not None and inv.state == "open":
        allocated = ledger.allocate(conn, org_id, inv.id, customer_id, "credit_note", cn_id,
                                    min(total, inv.open_amount), now)
    entry = ledger.post(conn, org_id, "credit_note", [Posting(ledger.REVENUE, subtotal),
                                                      Posting(ledger.VAT, vat),
                                                      Posting(ledger.RECEIVABLE, -allocated, customer_id),
                                                      Posting(ledger.CREDIT, allocated - total, customer_id)],
                        issue_date, now, ref_type="credit_note", ref_id=cn_id, customer_id=customer_id,
                        memo=f"credit note {number}")
    if allocated:
        conn.execute(allocations.update().where(allocations.c.org_id == org_id,
                                                allocations.c.source == "credit_note",
                                                allocations.c.source_id == cn_id).values(entry_id=entry))
    events.publish(conn, org_id, CreditNoteIssued(cn_id, customer_id, number, total, st.currency, kind), now)
    ledger.apply_credit(conn, org_id, customer_id, issue_date, now)
    cn = get(conn, org_id, cn_id)
    assert cn is not None
    return cn


def add_manual(conn: Connection, org_id: int, customer_id: int, amount: int, reason: str, now: datetime,
               invoice_id: int | None = None, taxable: bool = True) -> CreditNote:
    """An operator's credit note of ``amount`` (a price, like a product's: before VAT
    unless the org's prices include it), with the reason said."""
    if amount <= 0:
        raise ValidationError("amount", "a positive amount")
    if not reason.strip():
        raise ValidationError("reason", "say why the customer is credited")
    today = settings.get(conn, org_id).today(now)
    return issue(conn, org_id, customer_id, [LineIn(reason.strip(), amount, taxable=taxable, kind="manual")],
                 today, now, kind="manual", reason=reason, invoice_id=invoice_id)


def add_manual_lines(conn: Connection, org_id: int, customer_id: int, lines: list[LineIn], reason: str,
                     now: datetime, invoice_id: int | None = None) -> CreditNote:
    """An operator's credit note of several lines (each priced like an invoice line), issued
    today (the org's local date), with the reason said: :func:`add_manual` line by line."""
    if not reason.strip():
        raise ValidationError("reason", "say why the customer is credited")
    today = settings.get(conn, org_id).today(now)
    return issue(conn, org_id, customer_id, [LineIn(ln.description, ln.unit_price, ln.quantity, ln.discount,
                                                    ln.taxable, "manual") for ln in lines],
                 today, now, kind="manual", reason=reason, invoice_id=invoice_id)


def void_invoice(conn: Connection, org_id: int, invoice_id: int, reason: str, now: datetime) -> CreditNote | None:
    """Void an invoice: it keeps its number and is balanced by a credit note of its
    total (kind ``void``; its open amount is settled, what had been paid becomes
    customer credit).  The service periods it billed stay billed (a rerun of the
    billing run does not bill them again).  Refused for an invoice other credit
    notes already credited (credit the rest by hand).  The credit note (None for
    an invoice of total 0)."""
    if not reason.strip():
        raise ValidationError("reason", "say why the invoice is voided")
    inv = invoices.get(conn, org_id, invoice_id)
    if inv is None:
        raise NotFound("invoice", invoice_id)
    if inv.state not in ("open", "paid"):
        raise ValidationError("invoice", f"invoice {inv.number} is {inv.state}: only open or paid ones are voided")
    other = conn.execute(sa.select(credit_notes.c.number).where(
        credit_notes.c.org_id == org_id, credit_notes.c.invoice_id == invoice_id)).scalars().all()
    if other:
        raise ValidationError("invoice", f"invoice {inv.number} was already credited by {', '.join(other)}: "
                                         "credit the rest by hand (aaad credit-note add)")
    cn = None
    if inv.total > 0:
        today = settings.get(conn, org_id).today(now)
        rows = [{"service_id": None, "kind": "void", "period_start": ln.period_start,
                 "period_end": ln.period_end, "description": f"void: {ln.description}", "net": ln.net,
                 "vat_bp": ln.vat_bp, "vat": ln.vat, "total": ln.total} for ln in inv.lines]
        cn = _issue_rows(conn, org_id, inv.customer_id, rows, today, now, kind="void",
                         reason=f"invoice {inv.number} voided: {reason.strip()}", invoice_id=invoice_id)
    iv = invoices_t
    n = conn.execute(iv.update().where(iv.c.org_id == org_id, iv.c.id == invoice_id,
                                       iv.c.state.in_(("open", "paid")), iv.c.paid == iv.c.total)
                     .values(state="void", voided_at=now)).rowcount
    if n != 1:
        raise ValidationError("invoice", f"invoice {inv.number} changed meanwhile; try again")
    return cn


def _line(r: Any) -> CreditNoteLine:
    return CreditNoteLine(r.id, r.service_id, r.kind, r.period_start, r.period_end, r.description, r.net,
                          r.vat_bp, r.vat, r.total)


def _note(r: Any, lines: tuple[CreditNoteLine, ...] = ()) -> CreditNote:
    return CreditNote(r.id, r.org_id, r.customer_id, r.invoice_id, r.seq, r.number, r.kind, r.reason,
                      r.issue_date, r.currency, r.subtotal, r.vat, r.total, r.created_at, lines)


def get(conn: Connection, org_id: int, credit_note_id: int) -> CreditNote | None:
    """One credit note of the org, with its lines."""
    r = conn.execute(sa.select(credit_notes).where(credit_notes.c.org_id == org_id,
                                                   credit_notes.c.id == credit_note_id)).first()
    if r is None:
        return None
    lines = tuple(_line(x) for x in conn.execute(
        sa.select(credit_note_lines).where(credit_note_lines.c.org_id == org_id,
                                           credit_note_lines.c.credit_note_id == credit_note_id)
        .order_by(credit_note_lines.c.id)))
    return _note(r, lines)


def by_number(conn: Connection, org_id: int, number: str) -> CreditNote | None:
    r = conn.execute(sa.select(credit_notes.c.id).where(credit_notes.c.org_id == org_id,
                                                        credit_notes.c.number == number)).first()
    return None if r is None else get(conn, org_id, r.id)


def list_credit_notes(conn: Connection, org_id: int, *, customer_id: int | None = None,
                      invoice_id: int | None = None, limit: int = 200, offset: int = 0) -> list[CreditNote]:
    """The org's credit notes, newest first (without lines)."""
    q = sa.select(credit_notes).where(credit_notes.c.org_id == org_id)
    if customer_id is not None:
        q = q.where(credit_notes.c.customer_id == customer_id)
    if invoice_id is not None:
        q = q.where(credit_notes.c.invoice_id == invoice_id)
    q = q.order_by(credit_notes.c.issue_date.desc(), credit_notes.c.id.desc()).limit(limit).offset(offset)
    return [_note(r) for r in conn.execute(q)]



#: What :func:`page` sorts by (NOT NULL columns; the id breaks ties).
SORTS = {"id": credit_notes.c.id, "issue_date": credit_notes.c.issue_date, "total": credit_notes.c.total,
         "created_at": credit_notes.c.created_at}


def page(conn: Connection, org_id: int, *, customer_id: int | None = None, invoice_id: int | None = None,
         kind: str | None = None, issued_since: date | None = None, issued_until: date | None = None,
         number: str | None = None, sort: str = "-id", cursor: str | None = None,
         limit: int = 50) -> paging.Page[CreditNote]:
    """One page of the org's credit notes (without lines; see :mod:`aaad.paging`): of one customer,
    crediting one invoice, of one kind, issued on local dates ``[issued_since, issued_until]``, or the one
    of a printed ``number``."""
    q = sa.select(credit_notes).where(credit_notes.c.org_id == org_id)
    if number is not None:
        q = q.where(credit_notes.c.number == number)
    if customer_id is not None:
        q = q.where(credit_notes.c.customer_id == customer_id)
    if invoice_id is not None:
        q = q.where(credit_notes.c.invoice_id == invoice_id)
    if kind is not None:
        q = q.where(credit_notes.c.kind == kind)
    if issued_since is not None:
        q = q.where(credit_notes.c.issue_date >= issued_since)
    if issued_until is not None:
        q = q.where(credit_notes.c.issue_date <= issued_until)
    return paging.page(conn, q, sort=sort, columns=SORTS, id_col=credit_notes.c.id, cursor=cursor, limit=limit,
                       row=_note)
