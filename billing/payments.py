"""Payments and refunds: money in, allocated to the oldest open invoices; money out of credit.

A payment is recorded in one transaction: its gap-free receipt number, the
payment row (its method and reference unique per org, so the same bank
reference is never recorded twice), its allocations to the customer's open
invoices oldest first, ONE journal entry (cash in against the receivable it
settled, the rest to customer credit), ``payment.received``, and — when that
leaves no invoice past its due date plus grace open — the resumption of the
services dunning suspended (:func:`billing.dunning.resume_if_clear`).

Concurrency.  Two payments for the same customer at once are settled by the
database, not by luck: each allocation is a conditional UPDATE
(:func:`billing.ledger.allocate`) that never over-pays an invoice, and a lost
race re-reads the open invoices and allocates what is really left; the
journal entry is posted after the allocations, from what was actually
allocated.  On PostgreSQL the receipt counter's row lock also queues payments
of one org behind each other; on SQLite writers take the database lock at BEGIN.

A refund pays customer credit back out (never more than the credit left).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import events, paging
from aaad.errors import NotFound, ValidationError
from aaad.view.write import LoginWriter
from billing import customers as customers_mod
from billing import dunning, ledger, settings
from billing.events import PaymentReceived
from billing.ledger import Posting
from billing.schema import allocations, billing_settings, customers, invoices, payments, refunds

_METHOD = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")


@dataclass(frozen=True)
class Payment:
    id: int
    org_id: int
    customer_id: int
    amount: int
    currency: str
    method: str
    reference: str
    receipt_seq: int
    receipt_number: str
    note: str
    received_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class Allocation:
    """Part of a payment settling one invoice."""
    invoice_id: int
    invoice_number: str | None
    amount: int


@dataclass(frozen=True)
class PaymentResult:
    payment: Payment
    allocations: tuple[Allocation, ...]
    credit: int                          # the part of this payment that became customer credit
    resumed_service_ids: tuple[int, ...]
    credit_available: int = 0            # the customer's unused credit after the payment
    balance: int = 0                     # what the customer owes after it (negative: in credit)


@dataclass(frozen=True)
class Refund:
    id: int
    org_id: int
    customer_id: int
    amount: int
    method: str
    reference: str
    reason: str
    created_at: datetime
    credit_available: int = 0            # credit left after the refund


@dataclass(frozen=True)
class ReceiptLine:
    invoice_id: int
    invoice_number: str | None
    issue_date: date
    due_date: date
    invoice_total: int
    amount: int                          # settled by this payment
    open_after: int                      # what is still open on the invoice now


@dataclass(frozen=True)
class Receipt:
    """What a receipt document shows (the documents area renders it)."""
    payment: Payment
    settings: settings.Settings          # the org's branding, locale, currency
    customer_username: str
    customer_name: str
    customer_email: str | None
    customer_phone: str | None
    customer_address: str | None
    received_on: date                    # the org's local date of receipt
    lines: tuple[ReceiptLine, ...]
    allocated: int
    credit: int                          # the part that became customer credit


def check_method(method: str) -> str:
    """A payment method name (cash, bank, mobile_money, card, ...), lower case."""
    m = (method or "").strip().lower()
    if not _METHOD.fullmatch(m):
        raise ValidationError("method", "a method name like cash, bank, mobile_money or card "
                                        "(letters, digits, _ . -; up to 32)")
    return m


def _customer(conn: Connection, org_id: int, customer_id: int) -> None:
    if conn.execute(sa.select(customers.c.id).where(customers.c.org_id == org_id,
                                                    customers.c.id == customer_id)).first() is None:
        raise NotFound("customer", customer_id)


def customer_ref(conn: Connection, org_id: int, ref: str) -> int:
    """A customer's id from what an operator types (id, username, e-mail or phone;
    :func:`billing.customers.find`); NotFound otherwise."""
    c = customers_mod.find(conn, org_id, ref)
    if c is None:
        raise NotFound("customer", ref)
    return int(c.id)


def customer_usernames(conn: Connection, org_id: int, ids: set[int]) -> dict[int, str]:
    """Usernames of some customers of the org (for listings)."""
    if not ids:
        return {}
    rows = conn.execute(sa.select(customers.c.id, customers.c.username).where(
        customers.c.org_id == org_id, customers.c.id.in_(sorted(ids)))).all()
    return {int(r[0]): str(r[1]) for r in rows}


def _duplicate(conn: Connection, org_id: int, method: str, reference: str) -> ValidationError | None:
    r = conn.execute(sa.select(payments.c.receipt_number).where(
        payments.c.org_id == org_id, payments.c.method == method, payments.c.reference == reference)).first()
    if r is None:
        return None
    return ValidationError("reference", f"{method} reference {reference!r} is already recorded as receipt "
                                        f"{r.receipt_number}")


def lock_org_money(conn: Connection, org_id: int, now: datetime) -> None:
    """Queue this transaction behind any other moving the org's money (PostgreSQL: the
    settings row's lock, the one the document counters take; SQLite: writers are serial)."""
    settings._ensure_row(conn, org_id, now)
    conn.execute(billing_settings.update().where(billing_settings.c.org_id == org_id)
                 .values(updated_at=billing_settings.c.updated_at))


def record(conn: Connection, writer: LoginWriter, org_id: int, customer_id: int, amount: int, now: datetime, *,
           method: str, reference: str, note: str = "", received_at: datetime | None = None) -> PaymentResult:
    """Record a payment in the caller's transaction (see the module docstring)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationError("amount", "a positive amount")
    method = check_method(method)
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError("reference", "the payment's reference (bank, receipt book or transaction id)")
    if len(reference) > 128:
        raise ValidationError("reference", "at most 128 characters")
    _customer(conn, org_id, customer_id)
    dup = _duplicate(conn, org_id, method, reference)
    if dup is not None:
        raise dup
    st = settings.get(conn, org_id)
    received = received_at or now
    seq, number = settings.next_number(conn, org_id, "receipt", now)
    try:
        with conn.begin_nested():
            key = conn.execute(payments.insert().values(
                org_id=org_id, customer_id=customer_id, amount=amount, currency=st.currency, method=method,
                reference=reference, receipt_seq=seq, receipt_number=number, note=note, received_at=received,
                created_at=now)).inserted_primary_key
    except sa.exc.IntegrityError:
        # Another transaction recorded the same reference between our check and our insert.
        dup = _duplicate(conn, org_id, method, reference)
        if dup is not None:
            raise dup from None
        raise
    assert key is not None
    payment_id = int(key[0])
    posted_on = st.today(received)
    done = ledger.settle_oldest(conn, org_id, customer_id, "payment", payment_id, amount, now)
    allocated = sum(a for _, a in done)
    credit = amount - allocated
    entry = ledger.post(conn, org_id, "payment", [Posting(ledger.cash(method), amount),
                                                  Posting(ledger.RECEIVABLE, -allocated, customer_id),
                                                  Posting(ledger.CREDIT, -credit, customer_id)],
                        posted_on, now, ref_type="payment", ref_id=payment_id, customer_id=customer_id,
                        memo=f"receipt {number} ({method} {reference})")
    conn.execute(allocations.update().where(allocations.c.org_id == org_id, allocations.c.source == "payment",
                                            allocations.c.source_id == payment_id).values(entry_id=entry))
    events.publish(conn, org_id, PaymentReceived(payment_id, customer_id, amount, st.currency, method, number), now)
    resumed = dunning.resume_if_clear(conn, writer, org_id, customer_id, now)
    numbers = dict(conn.execute(sa.select(invoices.c.id, invoices.c.number).where(
        invoices.c.org_id == org_id, invoices.c.id.in_([i for i, _ in done]))).all()) if done else {}
    p = get(conn, org_id, payment_id)
    assert p is not None
    return PaymentResult(p, tuple(Allocation(i, numbers.get(i), a) for i, a in done), credit, tuple(resumed),
                         ledger.credit_available(conn, org_id, customer_id), ledger.balance(conn, org_id, customer_id))


def refund(conn: Connection, org_id: int, customer_id: int, amount: int, now: datetime, *, method: str,
           reference: str = "", reason: str) -> Refund:
    """Pay back up to the customer's unused credit (ValidationError("amount") beyond it):
    customer credit debited, cash of ``method`` credited, in one journal entry."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationError("amount", "a positive amount")
    method = check_method(method)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("reason", "say why the credit is paid back")
    reference = (reference or "").strip()
    if len(reference) > 128:
        raise ValidationError("reference", "at most 128 characters")
    _customer(conn, org_id, customer_id)
    # Two refunds (or a refund and an invoice using the credit) at once must not both
    # spend the same credit: queue behind the org's other money movements, then read.
    lock_org_money(conn, org_id, now)
    avail = ledger.credit_available(conn, org_id, customer_id)
    if amount > avail:
        raise ValidationError("amount", f"the customer has only {max(avail, 0)} of credit to refund")
    st = settings.get(conn, org_id)
    key = conn.execute(refunds.insert().values(org_id=org_id, customer_id=customer_id, amount=amount,
                                               method=method, reference=reference, reason=reason,
                                               created_at=now)).inserted_primary_key
    assert key is not None
    refund_id = int(key[0])
    ledger.post(conn, org_id, "refund", [Posting(ledger.CREDIT, amount, customer_id),
                                         Posting(ledger.cash(method), -amount)],
                st.today(now), now, ref_type="refund", ref_id=refund_id, customer_id=customer_id,
                memo=f"refund ({method}{' ' + reference if reference else ''}): {reason}")
    return Refund(refund_id, org_id, customer_id, amount, method, reference, reason, now, avail - amount)


# -- reading ------------------------------------------------------------------------------

def _payment(r: sa.Row) -> Payment:  # type: ignore[type-arg]
    return Payment(r.id, r.org_id, r.customer_id, r.amount, r.currency, r.method, r.reference, r.receipt_seq,
                   r.receipt_number, r.note, r.received_at, r.created_at)


def get(conn: Connection, org_id: int, payment_id: int) -> Payment | None:
    r = conn.execute(sa.select(payments).where(payments.c.org_id == org_id, payments.c.id == payment_id)).first()
    return None if r is None else _payment(r)


def by_receipt(conn: Connection, org_id: int, receipt_number: str) -> Payment | None:
    r = conn.execute(sa.select(payments).where(payments.c.org_id == org_id,
                                               payments.c.receipt_number == receipt_number)).first()
    return None if r is None else _payment(r)


def _payments_query(org_id: int, customer_id: int | None, method: str | None, since: datetime | None,
                    until: datetime | None) -> sa.Select[Any]:
    """The org's payments, optionally one customer's, by one method, received in [since, until)."""
    q = sa.select(payments).where(payments.c.org_id == org_id)
    if customer_id is not None:
        q = q.where(payments.c.customer_id == customer_id)
    if method is not None:
        q = q.where(payments.c.method == method)
    if since is not None:
        q = q.where(payments.c.received_at >= since)
    if until is not None:
        q = q.where(payments.c.received_at < until)
    return q


_OF_CUSTOMER = (sa.select(payments).where(payments.c.org_id == sa.bindparam("org_id"),
                                          payments.c.customer_id == sa.bindparam("customer_id"))
                .order_by(payments.c.received_at.desc(), payments.c.id.desc()).limit(sa.bindparam("limit")))


def list_payments(conn: Connection, org_id: int, *, customer_id: int | None = None, method: str | None = None,
                  since: datetime | None = None, until: datetime | None = None, limit: int = 200,
                  offset: int = 0) -> list[Payment]:
    """The org's payments, newest first; ``since``/``until`` bound ``received_at`` (until exclusive)."""
    if customer_id is not None and (method, since, until, offset) == (None, None, None, 0) and limit:
        return [_payment(r) for r in conn.execute(_OF_CUSTOMER, {"org_id": org_id, "customer_id": customer_id,
                                                                 "limit": limit})]     # the portal's: prebuilt
    q = _payments_query(org_id, customer_id, method, since, until)
    q = q.order_by(payments.c.received_at.desc(), payments.c.id.desc()).offset(offset)
    if limit:
        q = q.limit(limit)
    return [_payment(r) for r in conn.execute(q)]


def list_refunds(conn: Connection, org_id: int, *, customer_id: int | None = None, limit: int = 200) -> list[Refund]:
    """The org's refunds, newest first."""
    q = sa.select(refunds).where(refunds.c.org_id == org_id)
    if customer_id is not None:
        q = q.where(refunds.c.customer_id == customer_id)
    q = q.order_by(refunds.c.created_at.desc(), refunds.c.id.desc())
    if limit:
        q = q.limit(limit)
    return [Refund(r.id, r.org_id, r.customer_id, r.amount, r.method, r.reference, r.reason, r.created_at)
            for r in conn.execute(q)]


def allocations_of(conn: Connection, org_id: int, payment_id: int) -> list[Allocation]:
    """The invoices a payment settled, oldest first."""
    rows = conn.execute(sa.select(allocations.c.invoice_id, invoices.c.number, allocations.c.amount)
                        .select_from(allocations.join(invoices, invoices.c.id == allocations.c.invoice_id))
                        .where(allocations.c.org_id == org_id, allocations.c.source == "payment",
                               allocations.c.source_id == payment_id)
                        .order_by(allocations.c.id)).all()
    return [Allocation(r[0], r[1], int(r[2])) for r in rows]


def receipt_data(conn: Connection, org_id: int, payment_id: int) -> Receipt:
    """Everything a receipt shows: the payment, the org's branding, the customer,
    the invoices it settled and the part left as credit.  NotFound if no such payment."""
    p = get(conn, org_id, payment_id)
    if p is None:
        raise NotFound("payment", payment_id)
    st = settings.get(conn, org_id)
    c = conn.execute(sa.select(customers).where(customers.c.org_id == org_id,
                                                customers.c.id == p.customer_id)).one()
    rows = conn.execute(sa.select(allocations.c.invoice_id, allocations.c.amount, invoices.c.number,
                                  invoices.c.issue_date, invoices.c.due_date, invoices.c.total, invoices.c.paid,
                                  invoices.c.state)
                        .select_from(allocations.join(invoices, invoices.c.id == allocations.c.invoice_id))
                        .where(allocations.c.org_id == org_id, allocations.c.source == "payment",
                               allocations.c.source_id == payment_id).order_by(allocations.c.id)).all()
    lines = tuple(ReceiptLine(r.invoice_id, r.number, r.issue_date, r.due_date, r.total, int(r.amount),
                              0 if r.state in ("paid", "void") else r.total - r.paid) for r in rows)
    allocated = sum(ln.amount for ln in lines)
    return Receipt(p, st, c.username, c.name, c.email, c.phone, c.address, st.today(p.received_at), lines,
                   allocated, p.amount - allocated)


#: What :func:`page` sorts by (NOT NULL columns; the id breaks ties).
SORTS = {"id": payments.c.id, "received_at": payments.c.received_at, "amount": payments.c.amount}


def page(conn: Connection, org_id: int, *, customer_id: int | None = None, method: str | None = None,
         since: datetime | None = None, until: datetime | None = None, receipt_number: str | None = None,
         sort: str = "-id", cursor: str | None = None, limit: int = 50) -> paging.Page[Payment]:
    """One page of the org's payments (see :mod:`aaad.paging`), filtered like :func:`list_payments`
    (``since``/``until`` bound ``received_at``, until exclusive), or the one of a ``receipt_number``."""
    q = _payments_query(org_id, customer_id, method, since, until)
    if receipt_number is not None:
        q = q.where(payments.c.receipt_number == receipt_number)
    return paging.page(conn, q, sort=sort, columns=SORTS, id_col=payments.c.id, cursor=cursor, limit=limit,
                       row=_payment)


def _refund(r: sa.Row) -> Refund:  # type: ignore[type-arg]
    return Refund(r.id, r.org_id, r.customer_id, r.amount, r.method, r.reference, r.reason, r.created_at)


def get_refund(conn: Connection, org_id: int, refund_id: int) -> Refund | None:
    """One refund of the org (``credit_available`` is left 0: it is the credit at the time of refunding)."""
    r = conn.execute(sa.select(refunds).where(refunds.c.org_id == org_id, refunds.c.id == refund_id)).first()
    return None if r is None else _refund(r)


#: What :func:`refunds_page` sorts by.
REFUND_SORTS = {"id": refunds.c.id, "created_at": refunds.c.created_at, "amount": refunds.c.amount}


def refunds_page(conn: Connection, org_id: int, *, customer_id: int | None = None, method: str | None = None,
                 since: datetime | None = None, until: datetime | None = None, sort: str = "-id",
                 cursor: str | None = None, limit: int = 50) -> paging.Page[Refund]:
    """One page of the org's refunds (see :mod:`aaad.paging`): of one customer, by one method, made
    in ``[since, until)``."""
    q = sa.select(refunds).where(refunds.c.org_id == org_id)
    if customer_id is not None:
        q = q.where(refunds.c.customer_id == customer_id)
    if method is not None:
        q = q.where(refunds.c.method == method)
    if since is not None:
        q = q.where(refunds.c.created_at >= since)
    if until is not None:
        q = q.where(refunds.c.created_at < until)
    return paging.page(conn, q, sort=sort, columns=REFUND_SORTS, id_col=refunds.c.id, cursor=cursor,
                       limit=limit, row=_refund)
