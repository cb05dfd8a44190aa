"""Invoices: issuing one (number, lines, ledger entry, credit applied, event), reading them.

An invoice is issued in one transaction: its gap-free number, its lines
(each rounded half-even, see :mod:`billing.money`), its journal entry
(receivable against revenue and VAT payable), the customer's unused credit
applied to it, and ``invoice.issued``.  Its totals are the exact sums of its
lines.  States: ``open`` → ``paid`` (allocations reach the total) or
``void`` (keeps its number; balanced by a credit note).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import events, paging
from aaad.bulk import insert_rows
from aaad.errors import NotFound, ValidationError
from billing import ledger, money, settings
from billing.events import InvoiceIssued
from billing.ledger import Posting
from billing.schema import customers, invoice_lines, invoices, journal_entries, postings


@dataclass(frozen=True)
class LineIn:
    """A line to invoice: ``unit_price × quantity − discount`` before VAT (or including
    it, per the org's setting); ``taxable`` False for VAT-exempt products."""
    description: str
    unit_price: int
    quantity: int = 1
    discount: int = 0
    taxable: bool = True
    kind: str = "one_time"          # recurring | setup | proration | one_time | adjustment
    service_id: int | None = None
    period_start: date | None = None
    period_end: date | None = None


@dataclass(frozen=True)
class Line:
    id: int
    service_id: int | None
    kind: str
    period_start: date | None
    period_end: date | None
    description: str
    quantity: int
    unit_price: int
    discount: int
    net: int
    vat_bp: int
    vat: int
    total: int


@dataclass(frozen=True)
class Invoice:
    id: int
    org_id: int
    customer_id: int
    seq: int | None
    number: str | None
    state: str
    issue_date: date
    due_date: date
    currency: str
    subtotal: int
    discount: int
    vat: int
    total: int
    paid: int
    created_at: datetime
    paid_at: datetime | None
    voided_at: datetime | None
    lines: tuple[Line, ...] = field(default=())

    @property
    def open_amount(self) -> int:
        return 0 if self.state in ("void", "draft") else self.total - self.paid


def line_values(ln: LineIn, vat_bp: int, inclusive: bool) -> dict[str, object]:
    """A line's stored money: net, VAT and total from its price, discount and rate."""
    if ln.quantity < 1:
        raise ValidationError("quantity", "at least 1")
    if ln.unit_price < 0 or ln.discount < 0:
        raise ValidationError("unit_price", "prices and discounts are not negative")
    gross = ln.unit_price * ln.quantity
    if ln.discount > gross:
        raise ValidationError("discount", "larger than the line's price")
    rate = vat_bp if ln.taxable else 0
    a = money.line_amounts(gross - ln.discount, rate, inclusive)
    return {"service_id": ln.service_id, "kind": ln.kind, "period_start": ln.period_start,
            "period_end": ln.period_end, "description": ln.description, "quantity": ln.quantity,
            "unit_price": ln.unit_price, "discount": ln.discount, "net": a.net, "vat_bp": rate,
            "vat": a.vat, "total": a.total}


def issue(conn: Connection, org_id: int, customer_id: int, lines: list[LineIn], issue_date: date,
          now: datetime, *, due_date: date | None = None, run: str | None = None,
          apply_credit: bool = True) -> Invoice:
    """Issue an invoice in the caller's transaction (see the module docstring)."""
    if not lines:
        raise ValidationError("lines", "an invoice needs at least one line")
    cust = conn.execute(sa.select(customers.c.id).where(customers.c.org_id == org_id,
                                                        customers.c.id == customer_id)).first()
    if cust is None:
        raise NotFound("customer", customer_id)
    st = settings.get(conn, org_id)
    rows = [line_values(ln, st.vat_bp, st.prices_include_vat) for ln in lines]
    subtotal = sum(int(r["net"]) for r in rows)   # type: ignore[call-overload]
    vat = sum(int(r["vat"]) for r in rows)        # type: ignore[call-overload]
    total = sum(int(r["total"]) for r in rows)    # type: ignore[call-overload]
    discount = sum(int(r["discount"]) for r in rows)  # type: ignore[call-overload]
    seq, number = settings.next_number(conn, org_id, "invoice", now)
    due = due_date or issue_date + timedelta(days=st.payment_terms_days)
    key = conn.execute(invoices.insert().values(
        org_id=org_id, customer_id=customer_id, seq=seq, number=number,
        state="open" if total > 0 else "paid", issue_date=issue_date, due_date=due, currency=st.currency,
        subtotal=subtotal, discount=discount, vat=vat, total=total, paid=0, run=run, created_at=now,
        paid_at=None if total > 0 else now)).inserted_primary_key
    assert key is not None
    invoice_id = int(key[0])
    conn.execute(invoice_lines.insert(), [dict(r, org_id=org_id, invoice_id=invoice_id) for r in rows])
    ledger.post(conn, org_id, "invoice", [Posting(ledger.RECEIVABLE, total, customer_id),
                                          Posting(ledger.REVENUE, -subtotal),
                                          Posting(ledger.VAT, -vat)],
                issue_date, now, ref_type="invoice", ref_id=invoice_id, customer_id=customer_id,
                memo=f"invoice {number}")
    if apply_credit and total > 0:
        ledger.apply_credit(conn, org_id, customer_id, issue_date, now)
    events.publish(conn, org_id, InvoiceIssued(invoice_id, customer_id, number, total, st.currency,
                                               due.isoformat()), now)
    inv = get(conn, org_id, invoice_id)
    assert inv is not None
    return inv


def _line(r: sa.Row) -> Line:  # type: ignore[type-arg]
    return Line(r.id, r.service_id, r.kind, r.period_start, r.period_end, r.description, r.quantity,
                r.unit_price, r.discount, r.net, r.vat_bp, r.vat, r.total)


def _invoice(r: sa.Row, lines: tuple[Line, ...] = ()) -> Invoice:  # type: ignore[type-arg]
    return Invoice(r.id, r.org_id, r.customer_id, r.seq, r.number, r.state, r.issue_date, r.due_date,
                   r.currency, r.subtotal, r.discount, r.vat, r.total, r.paid, r.created_at, r.paid_at,
                   r.voided_at, lines)


def get(conn: Connection, org_id: int, invoice_id: int) -> Invoice | None:
    """One invoice of the org, with its lines."""
    r = conn.execute(sa.select(invoices).where(invoices.c.org_id == org_id, invoices.c.id == invoice_id)).first()
    if r is None:
        return None
    lines = tuple(_line(x) for x in conn.execute(
        sa.select(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id).order_by(invoice_lines.c.id)))
    return _invoice(r, lines)


def by_number(conn: Connection, org_id: int, number: str) -> Invoice | None:
    r = conn.execute(sa.select(invoices.c.id).where(invoices.c.org_id == org_id,
                                                    invoices.c.number == number)).first()
    return None if r is None else get(conn, org_id, r.id)


_OF_CUSTOMER = (sa.select(invoices).where(invoices.c.org_id == sa.bindparam("org_id"),
                                          invoices.c.customer_id == sa.bindparam("customer_id"))
                .order_by(invoices.c.issue_date.desc(), invoices.c.id.desc()).limit(sa.bindparam("limit")))


def list_invoices(conn: Connection, org_id: int, *, customer_id: int | None = None, state: str | None = None,
                  limit: int = 200, offset: int = 0) -> list[Invoice]:
    """The org's invoices, newest first (without lines)."""
    if customer_id is not None and state is None and not offset:      # a customer's latest (the portal): prebuilt
        return [_invoice(r) for r in conn.execute(_OF_CUSTOMER, {"org_id": org_id, "customer_id": customer_id,
                                                                 "limit": limit})]
    q = sa.select(invoices).where(invoices.c.org_id == org_id)
    if customer_id is not None:
        q = q.where(invoices.c.customer_id == customer_id)
    if state is not None:
        q = q.where(invoices.c.state == state)
    q = q.order_by(invoices.c.issue_date.desc(), invoices.c.id.desc()).limit(limit).offset(offset)
    return [_invoice(r) for r in conn.execute(q)]


#: What :func:`page` sorts by (NOT NULL columns; the id breaks ties).
SORTS = {"id": invoices.c.id, "issue_date": invoices.c.issue_date, "due_date": invoices.c.due_date,
         "total": invoices.c.total, "created_at": invoices.c.created_at}


def page(conn: Connection, org_id: int, *, customer_id: int | None = None, state: str | None = None,
         issued_since: date | None = None, issued_until: date | None = None, due_before: date | None = None,
         number: str | None = None, sort: str = "-id", cursor: str | None = None,
         limit: int = 50) -> paging.Page[Invoice]:
    """One page of the org's invoices (without lines; see :mod:`aaad.paging`): of one customer,
    in one state, issued on local dates ``[issued_since, issued_until]`` (both included), due before
    a date, or the one of a printed ``number``; ``sort`` is a key of :data:`SORTS`, ``-`` in front for descending."""
    q = sa.select(invoices).where(invoices.c.org_id == org_id)
    if number is not None:
        q = q.where(invoices.c.number == number)
    if customer_id is not None:
        q = q.where(invoices.c.customer_id == customer_id)
    if state is not None:
        q = q.where(invoices.c.state == state)
    if issued_since is not None:
        q = q.where(invoices.c.issue_date >= issued_since)
    if issued_until is not None:
        q = q.where(invoices.c.issue_date <= issued_until)
    if due_before is not None:
        q = q.where(invoices.c.due_date < due_before)
    return paging.page(conn, q, sort=sort, columns=SORTS, id_col=invoices.c.id, cursor=cursor, limit=limit,
                       row=_invoice)


def issue_one_off(conn: Connection, org_id: int, customer_id: int, lines: list[LineIn], now: datetime, *,
                  due_date: date | None = None) -> Invoice:
    """An operator's invoice of ``lines`` issued today (the org's local date), due on ``due_date``
    (default: the org's payment terms): :func:`issue` with the customer's credit applied."""
    today = settings.get(conn, org_id).today(now)
    if due_date is not None and due_date < today:
        raise ValidationError("due_date", f"before the issue date {today.isoformat()}")
    if due_date is not None and due_date > today + timedelta(days=3660):
        raise ValidationError("due_date", "at most ten years after the issue date")
    return issue(conn, org_id, customer_id, lines, today, now, due_date=due_date)


@dataclass(frozen=True)
class Issued:
    """What :func:`issue_many` issued for one customer."""
    id: int
    customer_id: int
    number: str
    total: int


#: An invoice line priced for :func:`issue_priced`: (service_id, kind, period_start,
#: period_end, description, quantity, unit_price, discount, net, vat_bp, vat, total).
PricedLine = tuple[int | None, str, date | None, date | None, str, int, int, int, int, int, int, int]


def priced_line(ln: LineIn, vat_bp: int, inclusive: bool) -> PricedLine:
    """``ln`` with its stored money (:func:`line_values`), as :func:`issue_priced` takes it."""
    v = line_values(ln, vat_bp, inclusive)
    return (ln.service_id, ln.kind, ln.period_start, ln.period_end, ln.description, ln.quantity, ln.unit_price,
            ln.discount, int(v["net"]), int(v["vat_bp"]), int(v["vat"]), int(v["total"]))  # type: ignore[call-overload]


def issue_many(conn: Connection, org_id: int, batch: list[tuple[int, list[LineIn]]], issue_date: date,
               now: datetime, *, run: str | None = None) -> list[Issued]:
    """Issue one invoice per (customer, lines) of ``batch``, in order: the same
    invoices, numbers, ledger entries, credit applied and events as :func:`issue`
    called for each in turn, written with a few statements for the whole batch.
    The customers are the caller's (not re-checked)."""
    st = settings.get(conn, org_id)
    return issue_priced(conn, org_id, st, [(cid, [priced_line(ln, st.vat_bp, st.prices_include_vat)
                                                  for ln in lines]) for cid, lines in batch], issue_date, now, run=run)


def issue_priced(conn: Connection, org_id: int, st: settings.Settings, batch: list[tuple[int, list[PricedLine]]],
                 issue_date: date, now: datetime, *, run: str | None = None) -> list[Issued]:
    """:func:`issue_many` for lines already priced with the org's settings ``st``
    (:func:`priced_line`; the billing run prices each distinct line once per chunk)."""
    batch = [(cid, rows) for cid, rows in batch if rows]
    if not batch:
        return []
    due = issue_date + timedelta(days=st.payment_terms_days)
    numbers = settings.next_numbers(conn, org_id, "invoice", len(batch), now)
    heads: list[tuple[Any, ...]] = []       # customer, seq, number, state, subtotal, discount, vat, total, paid_at
    for (cid, rows), (seq, number) in zip(batch, numbers, strict=True):
        net = vat = total = disc = 0
        for r in rows:
            net, disc, vat, total = net + r[8], disc + r[7], vat + r[10], total + r[11]
        heads.append((cid, seq, number, "open" if total > 0 else "paid", net, disc, vat, total,
                      None if total > 0 else now))
    # Driver-level executemany without RETURNING (SQLite would insert row by row to keep
    # RETURNING in order); the ids are then read back by their numbers, and the entries' by
    # their invoices.
    insert_rows(conn, invoices, ("customer_id", "seq", "number", "state", "subtotal", "discount", "vat", "total",
                                 "paid_at"), heads,
                org_id=org_id, issue_date=issue_date, due_date=due, currency=st.currency, paid=0, run=run,
                created_at=now)
    by_seq = dict(conn.execute(_IDS_BY_SEQ, {"org_id": org_id, "lo": heads[0][1], "hi": heads[-1][1]}).all())
    ids = [int(by_seq[h[1]]) for h in heads]
    insert_rows(conn, invoice_lines, ("invoice_id", "service_id", "kind", "period_start", "period_end",
                                      "description", "quantity", "unit_price", "discount", "net", "vat_bp", "vat",
                                      "total"),
                [(iid, *r) for iid, (_, rows) in zip(ids, batch, strict=True) for r in rows], org_id=org_id)
    last = conn.execute(_LAST_ENTRY).scalar_one()
    insert_rows(conn, journal_entries, ("ref_id", "customer_id", "memo"),
                [(iid, h[0], f"invoice {h[2]}") for iid, h in zip(ids, heads, strict=True)],
                org_id=org_id, kind="invoice", ref_type="invoice", posted_on=issue_date, created_at=now)
    new_ids = set(ids)
    by_ref = {ref: eid for ref, eid in conn.execute(_ENTRIES_AFTER, {"org_id": org_id, "last": last})
              if ref in new_ids}
    entries = [int(by_ref[iid]) for iid in ids]
    insert_rows(conn, postings, ("entry_id", "account", "customer_id", "amount"), [
        p for e, h in zip(entries, heads, strict=True)
        for p in ((e, ledger.RECEIVABLE, h[0], h[7]), (e, ledger.REVENUE, None, -h[4]), (e, ledger.VAT, None, -h[6]))
        if p[3]], org_id=org_id)
    # The batch's customers with unused credit: a run's chunk is a range of customer ids, so read
    # the range (one index range scan, no 300-value IN list) and keep the batch's own.
    mine = {h[0] for h in heads}
    with_credit = {cid for cid in conn.execute(_WITH_CREDIT, {"org_id": org_id, "lo": min(mine), "hi": max(mine)})
                   .scalars() if cid in mine}
    for h in heads:
        if h[0] in with_credit and h[7] > 0:
            ledger.apply_credit(conn, org_id, h[0], issue_date, now)
    due_iso = due.isoformat()
    events.publish_many(conn, org_id, [InvoiceIssued(iid, h[0], h[2], h[7], st.currency, due_iso)
                                       for iid, h in zip(ids, heads, strict=True)], now)
    return [Issued(iid, h[0], h[2], h[7]) for iid, h in zip(ids, heads, strict=True)]


# issue_many's reads, built once (their compiled form is cached).
_IDS_BY_SEQ = sa.select(invoices.c.seq, invoices.c.id).where(
    invoices.c.org_id == sa.bindparam("org_id"), invoices.c.seq >= sa.bindparam("lo"),
    invoices.c.seq <= sa.bindparam("hi"))
_LAST_ENTRY = sa.select(sa.func.coalesce(sa.func.max(journal_entries.c.id), 0))
_ENTRIES_AFTER = sa.select(journal_entries.c.ref_id, journal_entries.c.id).where(
    # org_id + 0: SQLite (no statistics) would walk the org's every entry by its (org, date) index.
    journal_entries.c.id > sa.bindparam("last"), journal_entries.c.org_id + 0 == sa.bindparam("org_id"),
    journal_entries.c.ref_type == "invoice")
_WITH_CREDIT = (sa.select(postings.c.customer_id).where(
    postings.c.org_id == sa.bindparam("org_id"), postings.c.account == ledger.CREDIT,
    postings.c.customer_id >= sa.bindparam("lo"), postings.c.customer_id <= sa.bindparam("hi"))
    .group_by(postings.c.customer_id).having(sa.func.sum(postings.c.amount) < 0))
