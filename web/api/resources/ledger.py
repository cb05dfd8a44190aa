"""/customers/{customer_id}/ledger, /timeline and /balance: a customer's money.

The ledger is the double-entry journal as it touched the customer's accounts
(receivable and customer credit), with what they owe after each entry; the
timeline adds the service changes (suspended, resumed, ...) to the money
items; the balance is what they owe now, their credit and their open and
overdue invoices.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Literal

from pydantic import Field
from sqlalchemy.engine import Connection

from billing import ledger, settings, timeline
from web.api.declare import Call, In, ListQuery, Out, Page, Router
from web.api.resources.customers import CustomerPath

router = Router("ledger", "A customer's money: ledger entries with the running balance, the timeline, "
                          "the balance")

EntryKind = Literal["invoice", "payment", "credit_note", "credit_applied", "refund", "adjustment"]


class LedgerEntryOut(Out):
    id: int = Field(description="The journal entry.")
    kind: str = Field(description="invoice, payment, credit_note, credit_applied, refund, adjustment.")
    ref_type: str | None = Field(description="What the entry records (invoice, payment, credit_note, refund).")
    ref_id: int | None
    memo: str
    posted_on: date = Field(description="The org's local date.")
    created_at: datetime
    receivable: int = Field(description="Change to what is owed on invoices, minor units.")
    credit: int = Field(description="Change to the customer's credit account, minor units (negative: more "
                                    "credit).")
    amount: int = Field(description="receivable + credit: the change to what the customer owes.")
    balance: int = Field(description="What the customer owes after this entry (negative: in credit).")
    currency: str


class LedgerQuery(ListQuery):
    kind: EntryKind | None = None
    sort: Literal["id", "-id"] = Field("id", description="id: oldest first; -id: newest first.")


class TimelineItemOut(Out):
    at: datetime
    kind: str = Field(description="invoice, invoice_void, payment, credit_note, refund, credit_applied, "
                                  "adjustment, or service.<what> (service.created, service.suspended, ...).")
    ref: str = Field(description="A document number, or 'service N (username)'.")
    description: str
    amount: int | None = Field(description="Money items: the change to what the customer owes, minor units.")
    balance: int | None = Field(description="Money items: what the customer owes after it.")
    currency: str


class TimelineQuery(In):
    limit: int = Field(100, ge=1, le=500, description="Items per page.")
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the previous page.")


class CustomerBalanceOut(Out):
    customer_id: int
    currency: str
    balance: int = Field(description="What the customer owes, minor units (negative: the org owes them).")
    receivable: int = Field(description="Open amounts of their open invoices.")
    credit_available: int = Field(description="Unused customer credit (used on the next invoices).")
    open_invoices: int
    overdue: int = Field(description="Open amounts past their due date, on the org's today.")
    overdue_invoices: int
    oldest_due: date | None = Field(description="The earliest due date of an open invoice.")


def _currency(conn: Connection, org_id: int) -> str:
    return settings.get(conn, org_id).currency


@router.get("/customers/{customer_id}/ledger", summary="A customer's ledger")
async def list_customer_ledger(call: Call, path: CustomerPath, query: LedgerQuery) -> Page[LedgerEntryOut]:
    """The journal entries on the customer's accounts, oldest first, each with the balance after it."""
    def run(conn: Connection) -> Page[LedgerEntryOut]:
        p = ledger.entries_page(conn, call.org_id, path.customer_id, kind=query.kind, sort=query.sort,
                                cursor=query.cursor, limit=query.limit)
        cur = _currency(conn, call.org_id)
        return Page[LedgerEntryOut](items=[LedgerEntryOut.model_validate({**asdict(e), "currency": cur})
                                           for e in p.items], next_cursor=p.next_cursor)
    return await call.read(run)


@router.get("/customers/{customer_id}/timeline", summary="A customer's timeline")
async def list_customer_timeline(call: Call, path: CustomerPath, query: TimelineQuery) -> Page[TimelineItemOut]:
    """Invoices, payments, credit notes, refunds, credit applied, adjustments and service changes, oldest
    first; money items carry the balance after them (the last one is the balance now)."""
    def run(conn: Connection) -> Page[TimelineItemOut]:
        p = timeline.page(conn, call.org_id, path.customer_id, cursor=query.cursor, limit=query.limit)
        cur = _currency(conn, call.org_id)
        return Page[TimelineItemOut](items=[TimelineItemOut.model_validate({**asdict(i), "currency": cur})
                                            for i in p.items], next_cursor=p.next_cursor)
    return await call.read(run)


@router.get("/customers/{customer_id}/balance", summary="A customer's balance")
async def get_customer_balance(call: Call, path: CustomerPath) -> CustomerBalanceOut:
    """What the customer owes now, their unused credit, and their open and overdue invoices."""
    def run(conn: Connection) -> CustomerBalanceOut:
        st = settings.get(conn, call.org_id)
        s = ledger.summary(conn, call.org_id, path.customer_id, st.today(call.now))
        return CustomerBalanceOut.model_validate({**asdict(s), "currency": st.currency})
    return await call.read(run)
