"""The double-entry ledger.

Every invoice, payment, credit note, use of customer credit, refund and
manual adjustment is one journal entry whose postings sum to zero (debits
positive, credits negative), all integers.  Accounts:

- ``receivable`` (per customer): what the customer owes on invoices;
- ``customer_credit`` (per customer): what the org owes the customer
  (overpayments, credit notes on paid invoices); a credit balance, so negative;
- ``revenue``, ``vat_payable``: the org's income and the tax it collected;
- ``cash:<method>``: money in (payments) and out (refunds), per method;
- ``adjustments``: the other side of a manual adjustment.

A customer's balance (what they owe; negative when in credit) is the sum of
their ``receivable`` and ``customer_credit`` postings: invoices minus
payments minus credits, derived, never stored alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import paging
from aaad.errors import NotFound, ValidationError
from billing.schema import allocations, customers, invoices, journal_entries, postings

RECEIVABLE = "receivable"
CREDIT = "customer_credit"
REVENUE = "revenue"
VAT = "vat_payable"
ADJUSTMENTS = "adjustments"
CUSTOMER_ACCOUNTS = (RECEIVABLE, CREDIT)


def cash(method: str) -> str:
    return f"cash:{method}"


@dataclass(frozen=True)
class Posting:
    account: str
    amount: int                 # debit > 0, credit < 0
    customer_id: int | None = None


class Unbalanced(ValueError):
    """A journal entry whose postings do not sum to zero (a bug, never user input)."""


def post(conn: Connection, org_id: int, kind: str, lines: list[Posting], posted_on: date, now: datetime, *,
         ref_type: str | None = None, ref_id: int | None = None, customer_id: int | None = None,
         memo: str = "") -> int:
    """Write one balanced journal entry in the caller's transaction; its id."""
    lines = [p for p in lines if p.amount]
    if sum(p.amount for p in lines) != 0:
        raise Unbalanced(f"{kind} entry does not balance: {lines}")
    for p in lines:
        if p.account in CUSTOMER_ACCOUNTS and p.customer_id is None:
            raise Unbalanced(f"{p.account} posting without a customer")
    key = conn.execute(journal_entries.insert().values(
        org_id=org_id, kind=kind, ref_type=ref_type, ref_id=ref_id, customer_id=customer_id, memo=memo,
        posted_on=posted_on, created_at=now)).inserted_primary_key
    assert key is not None
    entry_id = int(key[0])
    if lines:
        conn.execute(postings.insert(), [{"org_id": org_id, "entry_id": entry_id, "account": p.account,
                                          "customer_id": p.customer_id, "amount": p.amount} for p in lines])
    return entry_id


def _sum_of(accounts: tuple[str, ...]) -> sa.Select[Any]:
    """The sum of a customer's postings to ``accounts``, bound by ``org_id`` and ``customer_id``; the
    accounts are constants, not an expanding IN, whose SQL SQLAlchemy would render on every execution."""
    return sa.select(sa.func.coalesce(sa.func.sum(postings.c.amount), 0)).where(
        postings.c.org_id == sa.bindparam("org_id"), postings.c.customer_id == sa.bindparam("customer_id"),
        sa.or_(*(postings.c.account == a for a in accounts)))


# _sum's statements, built once (every page showing a balance runs one).
_SUMS: dict[tuple[str, ...], sa.Select[Any]] = {
    accounts: _sum_of(accounts) for accounts in (CUSTOMER_ACCOUNTS, (CREDIT,), (RECEIVABLE,))}

#: :func:`balance`'s statement (a read that wants the balance with other figures uses it as a scalar
#: subquery).
BALANCE = _SUMS[CUSTOMER_ACCOUNTS]


def _sum(conn: Connection, org_id: int, customer_id: int, accounts: tuple[str, ...]) -> int:
    return int(conn.execute(_SUMS[accounts], {"org_id": org_id, "customer_id": customer_id}).scalar_one())


def balance(conn: Connection, org_id: int, customer_id: int) -> int:
    """What the customer owes (negative: the org owes them)."""
    return _sum(conn, org_id, customer_id, CUSTOMER_ACCOUNTS)


def credit_available(conn: Connection, org_id: int, customer_id: int) -> int:
    """Customer credit not yet used (a positive amount)."""
    return -_sum(conn, org_id, customer_id, (CREDIT,))


def account_balances(conn: Connection, org_id: int) -> dict[str, int]:
    """Every account's balance in the org (customer accounts summed over customers)."""
    rows = conn.execute(sa.select(postings.c.account, sa.func.sum(postings.c.amount))
                        .where(postings.c.org_id == org_id).group_by(postings.c.account)).all()
    return {r[0]: int(r[1]) for r in rows}


# -- allocation -------------------------------------------------------------------------

def allocate(conn: Connection, org_id: int, invoice_id: int, customer_id: int, source: str,
             source_id: int | None, amount: int, now: datetime, entry_id: int | None = None) -> int:
    """Settle ``amount`` of an open invoice.  The conditional UPDATE (paid + amount
    must stay within total, the invoice must be open) is what keeps two concurrent
    payments from over-paying it: returns the amount actually allocated (0 if the
    invoice was settled meanwhile; the caller re-reads and moves on)."""
    if amount <= 0:
        return 0
    inv = invoices
    n = conn.execute(inv.update().where(
        inv.c.org_id == org_id, inv.c.id == invoice_id, inv.c.state == "open",
        inv.c.paid + amount <= inv.c.total).values(
        paid=inv.c.paid + amount,
        state=sa.case((inv.c.paid + amount == inv.c.total, "paid"), else_=inv.c.state),
        paid_at=sa.case((inv.c.paid + amount == inv.c.total, now), else_=inv.c.paid_at))).rowcount
    if not n:
        return 0
    conn.execute(allocations.insert().values(org_id=org_id, invoice_id=invoice_id, customer_id=customer_id,
                                             source=source, source_id=source_id, amount=amount,
                                             entry_id=entry_id, created_at=now))
    return amount


@dataclass(frozen=True)
class OpenInvoice:
    id: int
    number: str | None
    due_date: date
    total: int
    paid: int

    @property
    def open_amount(self) -> int:
        return self.total - self.paid


_OPEN = (sa.select(invoices.c.id, invoices.c.number, invoices.c.due_date, invoices.c.total, invoices.c.paid)
         .where(invoices.c.org_id == sa.bindparam("org_id"), invoices.c.customer_id == sa.bindparam("customer_id"),
                invoices.c.state == "open")
         .order_by(invoices.c.due_date, invoices.c.seq, invoices.c.id))


_OPEN_WHERE = (invoices.c.org_id == sa.bindparam("org_id"), invoices.c.customer_id == sa.bindparam("customer_id"),
               invoices.c.state == "open")
#: The customer's open invoices' next due date (None: none open) and open amount, as scalar selects bound by
#: ``org_id`` and ``customer_id`` (the portal's dashboard reads them with its other figures in one statement).
NEXT_DUE = sa.select(sa.func.min(invoices.c.due_date)).where(*_OPEN_WHERE)
OPEN_AMOUNT = sa.select(sa.func.coalesce(sa.func.sum(invoices.c.total - invoices.c.paid), 0)).where(*_OPEN_WHERE)


def open_invoices(conn: Connection, org_id: int, customer_id: int) -> list[OpenInvoice]:
    """The customer's open invoices, oldest first (due date, then number)."""
    rows = conn.execute(_OPEN, {"org_id": org_id, "customer_id": customer_id}).all()
    return [OpenInvoice(r.id, r.number, r.due_date, r.total, r.paid) for r in rows]


def settle_oldest(conn: Connection, org_id: int, customer_id: int, source: str, source_id: int | None,
                  amount: int, now: datetime) -> list[tuple[int, int]]:
    """Allocate up to ``amount`` to the customer's open invoices, oldest first; the
    (invoice id, amount) pairs allocated.  An allocation that lost a race (the invoice
    was paid meanwhile by another transaction) re-reads the invoices and goes on, so
    no money that could settle an invoice is left as credit by accident.  Ledger
    postings are the caller's."""
    done: dict[int, int] = {}
    left = amount
    for _ in range(100):                 # a lost race is seen by the next pass's read
        if left <= 0:
            break
        lost = False
        for inv in open_invoices(conn, org_id, customer_id):
            if left <= 0:
                break
            want = min(left, inv.open_amount)
            got = allocate(conn, org_id, inv.id, customer_id, source, source_id, want, now)
            if got:
                done[inv.id] = done.get(inv.id, 0) + got
                left -= got
            elif want > 0:
                lost = True
        if not lost:                     # a clean pass: nothing more can be settled
            break
    return list(done.items())


def apply_credit(conn: Connection, org_id: int, customer_id: int, posted_on: date, now: datetime) -> int:
    """Use the customer's unused credit on their open invoices, oldest first (at each
    new invoice, and on the 1st of the month); the amount used."""
    avail = credit_available(conn, org_id, customer_id)
    if avail <= 0:
        return 0
    done = settle_oldest(conn, org_id, customer_id, "credit", None, avail, now)
    used = sum(a for _, a in done)
    if used:
        entry = post(conn, org_id, "credit_applied", [Posting(CREDIT, used, customer_id),
                                                       Posting(RECEIVABLE, -used, customer_id)],
                     posted_on, now, customer_id=customer_id, memo="customer credit applied")
        conn.execute(allocations.update().where(allocations.c.org_id == org_id, allocations.c.source == "credit",
                                                allocations.c.customer_id == customer_id,
                                                allocations.c.entry_id.is_(None)).values(entry_id=entry))
    return used


def adjust(conn: Connection, org_id: int, customer_id: int, amount: int, reason: str, posted_on: date,
           now: datetime) -> int:
    """A manual adjustment of what the customer owes, on their customer-credit
    account (positive: a charge, which uses up credit; negative: a credit).  Charges
    that should be invoiced are one-time invoice lines instead; this keeps the
    receivable equal to the open invoices.  The journal entry id."""
    if not reason.strip():
        raise ValidationError("reason", "say why the balance is adjusted")
    if amount == 0:
        raise ValidationError("amount", "a non-zero amount")
    return post(conn, org_id, "adjustment", [Posting(CREDIT, amount, customer_id),
                                             Posting(ADJUSTMENTS, -amount)],
                posted_on, now, customer_id=customer_id, memo=reason)


# -- a customer's account -------------------------------------------------------------------

@dataclass(frozen=True)
class CustomerEntry:
    """A journal entry as it touched one customer: what it changed on their accounts and
    what they owe after it (entries in id order; the last balance is :func:`balance`)."""
    id: int
    kind: str                   # invoice | payment | credit_note | credit_applied | refund | adjustment
    ref_type: str | None
    ref_id: int | None
    memo: str
    posted_on: date
    created_at: datetime
    receivable: int             # change to the receivable account
    credit: int                 # change to the customer-credit account (negative: more credit)
    amount: int                 # receivable + credit: the change to what the customer owes
    balance: int                # what the customer owes after this entry


def _require_customer(conn: Connection, org_id: int, customer_id: int) -> None:
    if conn.execute(sa.select(customers.c.id).where(customers.c.org_id == org_id,
                                                    customers.c.id == customer_id)).first() is None:
        raise NotFound("customer", customer_id)


ENTRY_SORTS = {"id": journal_entries.c.id}


def entries_page(conn: Connection, org_id: int, customer_id: int, *, kind: str | None = None,
                 sort: str = "id", cursor: str | None = None, limit: int = 50) -> paging.Page[CustomerEntry]:
    """One page of the journal entries on the customer's accounts (see :mod:`aaad.paging`),
    oldest first (``sort=-id``: newest first), each with the running balance after it
    (NotFound if no such customer in the org)."""
    _require_customer(conn, org_id, customer_id)
    mine = [postings.c.org_id == org_id, postings.c.customer_id == customer_id,
            postings.c.account.in_(CUSTOMER_ACCOUNTS)]
    per_entry = (sa.select(postings.c.entry_id,
                           sa.func.sum(sa.case((postings.c.account == RECEIVABLE, postings.c.amount), else_=0))
                           .label("rec"),
                           sa.func.sum(sa.case((postings.c.account == CREDIT, postings.c.amount), else_=0))
                           .label("cred"))
                 .where(*mine).group_by(postings.c.entry_id).subquery())
    je = journal_entries
    query = (sa.select(je.c.id, je.c.kind, je.c.ref_type, je.c.ref_id, je.c.memo, je.c.posted_on, je.c.created_at,
                       per_entry.c.rec, per_entry.c.cred)
             .select_from(je.join(per_entry, per_entry.c.entry_id == je.c.id)).where(je.c.org_id == org_id))
    if kind is not None:
        query = query.where(je.c.kind == kind)
    found = paging.page(conn, query, sort=sort, columns=ENTRY_SORTS, id_col=je.c.id, cursor=cursor, limit=limit,
                        row=lambda r: r)
    if not found.items:
        return paging.Page([], found.next_cursor)
    first, last = min(r.id for r in found.items), max(r.id for r in found.items)
    # What was owed before the page's oldest entry, then each entry in id order up to its newest
    # (with a kind filter, entries of other kinds lie between and count too).
    owed = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(postings.c.amount), 0))
                            .where(*mine, postings.c.entry_id < first)).scalar_one())
    after: dict[int, int] = {}
    for entry_id, amount in conn.execute(
            sa.select(postings.c.entry_id, sa.func.sum(postings.c.amount))
            .where(*mine, postings.c.entry_id >= first, postings.c.entry_id <= last)
            .group_by(postings.c.entry_id).order_by(postings.c.entry_id)):
        owed += int(amount)
        after[int(entry_id)] = owed
    return paging.Page([CustomerEntry(r.id, r.kind, r.ref_type, r.ref_id, r.memo, r.posted_on, r.created_at,
                                      int(r.rec), int(r.cred), int(r.rec) + int(r.cred), after[r.id])
                        for r in found.items], found.next_cursor)


@dataclass(frozen=True)
class Summary:
    """A customer's money at a glance."""
    customer_id: int
    balance: int                # what they owe (negative: in credit)
    receivable: int             # open amounts of their open invoices
    credit_available: int       # unused customer credit
    open_invoices: int          # how many
    overdue: int                # open amounts past their due date
    overdue_invoices: int
    oldest_due: date | None     # the earliest due date of an open invoice


def summary(conn: Connection, org_id: int, customer_id: int, today: date) -> Summary:
    """The customer's balance, credit and open invoices, overdue on ``today`` (the org's
    local date).  NotFound if no such customer in the org."""
    _require_customer(conn, org_id, customer_id)
    inv = open_invoices(conn, org_id, customer_id)
    late = [i for i in inv if i.due_date < today]
    return Summary(customer_id, balance(conn, org_id, customer_id),
                   _sum(conn, org_id, customer_id, (RECEIVABLE,)), credit_available(conn, org_id, customer_id),
                   len(inv), sum(i.open_amount for i in late), len(late),
                   min((i.due_date for i in inv), default=None))


# -- the books check ------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    org_id: int
    what: str
    ref: str
    detail: str


def check(conn: Connection, org_id: int | None = None) -> list[Problem]:
    """Every journal entry balances; every invoice's paid amount equals its
    allocations and its state agrees with it; each customer's receivable equals
    their invoices' open amounts (``aaad billing check``)."""
    out: list[Problem] = []
    scope = [] if org_id is None else [postings.c.org_id == org_id]
    for r in conn.execute(sa.select(postings.c.org_id, postings.c.entry_id, sa.func.sum(postings.c.amount))
                          .where(*scope).group_by(postings.c.org_id, postings.c.entry_id)
                          .having(sa.func.sum(postings.c.amount) != 0)):
        out.append(Problem(r[0], "unbalanced entry", f"entry {r[1]}", f"postings sum to {r[2]}"))
    alloc = (sa.select(allocations.c.invoice_id, sa.func.sum(allocations.c.amount).label("s"))
             .group_by(allocations.c.invoice_id).subquery())
    iscope = [] if org_id is None else [invoices.c.org_id == org_id]
    q = (sa.select(invoices.c.org_id, invoices.c.id, invoices.c.number, invoices.c.state, invoices.c.total,
                   invoices.c.paid, sa.func.coalesce(alloc.c.s, 0))
         .select_from(invoices.outerjoin(alloc, alloc.c.invoice_id == invoices.c.id)).where(*iscope))
    for row in conn.execute(q):
        o, iid, num, state, total, paid, s = tuple(row)
        ref = f"invoice {num or iid}"
        if paid != s:
            out.append(Problem(o, "allocations", ref, f"paid {paid} but allocations sum to {s}"))
        if paid > total:
            out.append(Problem(o, "over-paid", ref, f"paid {paid} of {total}"))
        if state == "paid" and paid != total:
            out.append(Problem(o, "state", ref, f"paid state with {total - paid} open"))
        if state == "open" and paid == total and total > 0:
            out.append(Problem(o, "state", ref, "fully paid but still open"))
    # Receivable per customer = open amounts of their open invoices.
    rec = dict(((r[0], r[1]), int(r[2])) for r in conn.execute(
        sa.select(postings.c.org_id, postings.c.customer_id, sa.func.sum(postings.c.amount))
        .where(postings.c.account == RECEIVABLE, *scope)
        .group_by(postings.c.org_id, postings.c.customer_id)))
    owed = dict(((r[0], r[1]), int(r[2])) for r in conn.execute(
        sa.select(invoices.c.org_id, invoices.c.customer_id, sa.func.sum(invoices.c.total - invoices.c.paid))
        .where(invoices.c.state == "open", *iscope).group_by(invoices.c.org_id, invoices.c.customer_id)))
    for key in set(rec) | set(owed):
        a, b = rec.get(key, 0), owed.get(key, 0)
        if a != b:
            out.append(Problem(key[0], "receivable", f"customer {key[1]}",
                               f"ledger receivable {a} but open invoices sum to {b}"))
    return out
