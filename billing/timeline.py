"""A customer's timeline: every money movement and service change, in time order.

Invoices (and their voiding), payments, credit notes, refunds, customer
credit applied, manual adjustments, and the ``service_log`` (created,
activated, suspended by dunning or by hand, resumed, plan changed,
cancelled).  Money items carry ``amount``, the change to what the customer
owes (an invoice adds, a payment or credit note takes off, a refund adds
back), and ``balance``, what they owe after it; the last balance equals
:func:`billing.ledger.balance`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import paging
from aaad.errors import NotFound, ValidationError
from billing import ledger
from billing.schema import (
    credit_notes,
    customers,
    invoices,
    journal_entries,
    payments,
    postings,
    refunds,
    service_log,
    services,
)


@dataclass(frozen=True)
class Item:
    at: datetime
    kind: str                 # invoice | invoice_void | payment | credit_note | refund | credit_applied |
                              # adjustment | service.<what> (created, activated, suspended, resumed, ...)
    ref: str                  # a document number, or "service N (username)"
    description: str
    amount: int | None        # the change to what the customer owes; None for non-money items
    balance: int | None       # what the customer owes after a money item


# Same-instant order: a service change first (it causes the invoice or credit note of an
# activation, plan change or cancellation), then money owed, then what settles it, and a
# resumption last (a payment causes it).
_ORDER = {"invoice": 1, "credit_applied": 2, "payment": 3, "credit_note": 4, "refund": 5, "adjustment": 6,
          "invoice_void": 7, "service.resumed": 9}


def timeline(conn: Connection, org_id: int, customer_id: int) -> list[Item]:
    """The customer's timeline, oldest first (NotFound if no such customer in the org)."""
    return [item for _, item in _keyed(conn, org_id, customer_id)]


def page(conn: Connection, org_id: int, customer_id: int, *, cursor: str | None = None,
         limit: int = 50) -> paging.Page[Item]:
    """One page of :func:`timeline`, oldest first; the cursor names the last item seen by its
    place in the time order (instant, kind's rank, row id), so items added since the first
    page appear on a later page, not twice."""
    keyed = _keyed(conn, org_id, customer_id)
    if cursor:
        value, _ = paging.decode("timeline", cursor)
        try:
            at_text, rank, key = value
            after = (datetime.fromisoformat(at_text), int(rank), int(key))
            if after[0].tzinfo is None:
                raise ValueError(at_text)
        except (TypeError, ValueError):
            raise ValidationError("cursor", "not a cursor this API gave out (use next_cursor from the "
                                            "previous page as it is)") from None
        keyed = [(k, item) for k, item in keyed if k > after]
    more = len(keyed) > limit
    keyed = keyed[:limit]
    nxt = None
    if more and keyed:
        at, rank, key = keyed[-1][0]
        nxt = paging.encode("timeline", [at.isoformat(), rank, key], key)
    return paging.Page([item for _, item in keyed], nxt)


def _keyed(conn: Connection, org_id: int, customer_id: int) -> list[tuple[tuple[datetime, int, int], Item]]:
    """The timeline's items with their sort keys (unique: a kind's rows have their own ids)."""
    if conn.execute(sa.select(customers.c.id).where(customers.c.org_id == org_id,
                                                    customers.c.id == customer_id)).first() is None:
        raise NotFound("customer", customer_id)
    raw: list[tuple[datetime, int, int, str, str, str, int | None]] = []

    def add(at: datetime, kind: str, key: int, ref: str, desc: str, amount: int | None) -> None:
        raw.append((at, _ORDER.get(kind, 0), key, kind, ref, desc, amount))

    for r in conn.execute(sa.select(invoices).where(invoices.c.org_id == org_id,
                                                    invoices.c.customer_id == customer_id,
                                                    invoices.c.state != "draft")):
        ref = r.number or f"invoice {r.id}"
        add(r.created_at, "invoice", r.id, ref,
            f"invoice {ref} of {r.issue_date.isoformat()}, due {r.due_date.isoformat()} "
            f"(net {r.subtotal}, VAT {r.vat})", r.total)
        if r.voided_at is not None:
            add(r.voided_at, "invoice_void", r.id, ref, f"invoice {ref} voided", None)
    for r in conn.execute(sa.select(payments).where(payments.c.org_id == org_id,
                                                    payments.c.customer_id == customer_id)):
        note = f": {r.note}" if r.note else ""
        add(r.received_at, "payment", r.id, r.receipt_number, f"payment by {r.method}, reference {r.reference}{note}",
            -r.amount)
    for r in conn.execute(sa.select(credit_notes).where(credit_notes.c.org_id == org_id,
                                                        credit_notes.c.customer_id == customer_id)):
        add(r.created_at, "credit_note", r.id, r.number, f"credit note ({r.kind}): {r.reason}", -r.total)
    for r in conn.execute(sa.select(refunds).where(refunds.c.org_id == org_id,
                                                   refunds.c.customer_id == customer_id)):
        ref = f" {r.reference}" if r.reference else ""
        add(r.created_at, "refund", r.id, f"refund {r.id}", f"refund by {r.method}{ref}: {r.reason}", r.amount)
    # Ledger entries without a document of their own: credit applied and adjustments.
    q = (sa.select(journal_entries.c.id, journal_entries.c.kind, journal_entries.c.memo,
                   journal_entries.c.created_at, sa.func.sum(postings.c.amount))
         .select_from(journal_entries.join(postings, postings.c.entry_id == journal_entries.c.id))
         .where(journal_entries.c.org_id == org_id, journal_entries.c.customer_id == customer_id,
                journal_entries.c.kind.in_(["credit_applied", "adjustment"]),
                postings.c.account == ledger.CREDIT, postings.c.customer_id == customer_id)
         .group_by(journal_entries.c.id, journal_entries.c.kind, journal_entries.c.memo,
                   journal_entries.c.created_at))
    for eid, kind, memo, at, amount in conn.execute(q):
        if kind == "credit_applied":
            add(at, kind, eid, f"entry {eid}", f"{int(amount)} of customer credit applied to open invoices", None)
        else:
            add(at, kind, eid, f"entry {eid}", f"adjustment: {memo}", int(amount))
    q2 = (sa.select(service_log, services.c.username)
          .select_from(service_log.join(services, services.c.id == service_log.c.service_id))
          .where(service_log.c.org_id == org_id, service_log.c.customer_id == customer_id))
    for r in conn.execute(q2):
        who = f"service {r.service_id}" + (f" ({r.username})" if r.username else "")
        change = f"{r.old_state} -> {r.new_state}" if r.old_state else r.new_state
        desc = f"{r.what}: {change}" + (f"; {r.reason}" if r.reason else "")
        add(r.at, f"service.{r.what}", int(r.id), who, desc, None)
    raw.sort(key=lambda x: (x[0], x[1], x[2]))
    out: list[tuple[tuple[datetime, int, int], Item]] = []
    owed = 0
    for at, rank, key, kind, ref, desc, amount in raw:
        if amount is not None:
            owed += amount
        out.append(((at, rank, key), Item(at, kind, ref, desc, amount, owed if amount is not None else None)))
    return out
