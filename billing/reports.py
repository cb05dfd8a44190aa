"""The reports an operator needs at month end, each a list of rows and CSV.

- :func:`revenue` and :func:`vat` by month or day, from the ledger's
  ``revenue`` and ``vat_payable`` postings by the entry's ``posted_on`` (the
  org's local date): invoices add, credit notes take back;
- :func:`debtors`, each customer's open invoices aged by days past due on a
  given date (current, 1-30, 31-60, 61-90, over 90);
- :func:`payments_by_method`, money in and refunded out per method, from the
  ``cash:<method>`` postings.

Periods are local dates, both ends included.  Amounts are minor units.
"""
from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.errors import ValidationError
from billing import ledger
from billing.schema import customers, invoices, journal_entries, postings

GROUPINGS = ("month", "day")


@dataclass(frozen=True)
class RevenueRow:
    period: str          # YYYY-MM or YYYY-MM-DD
    revenue: int         # net of VAT, after credit notes
    vat: int
    total: int           # revenue + VAT


@dataclass(frozen=True)
class VatRow:
    period: str
    vat_invoiced: int    # VAT on invoices
    vat_credited: int    # VAT given back on credit notes
    vat_due: int         # invoiced - credited


@dataclass(frozen=True)
class DebtorRow:
    customer_id: int
    username: str
    name: str
    current: int         # not yet due (or due today)
    days_1_30: int
    days_31_60: int
    days_61_90: int
    days_over_90: int
    total: int
    oldest_due: date


@dataclass(frozen=True)
class MethodRow:
    method: str
    payments: int        # how many
    received: int
    refunds: int         # how many
    refunded: int
    net: int             # received - refunded


def _period_check(start: date, end: date, by: str) -> None:
    if by not in GROUPINGS:
        raise ValidationError("by", "month or day")
    if end < start:
        raise ValidationError("to", "the period ends before it starts")


def _key(d: date, by: str) -> str:
    return d.isoformat() if by == "day" else f"{d.year:04d}-{d.month:02d}"


def _by_account(conn: Connection, org_id: int, accounts: Sequence[str], start: date,
                end: date) -> list[tuple[date, str, int, int]]:
    """(posted_on, account, debits, credits) per day and account; credits as a positive sum."""
    amt = postings.c.amount
    q = (sa.select(journal_entries.c.posted_on, postings.c.account,
                   sa.func.coalesce(sa.func.sum(sa.case((amt > 0, amt), else_=0)), 0),
                   sa.func.coalesce(sa.func.sum(sa.case((amt < 0, -amt), else_=0)), 0))
         .select_from(postings.join(journal_entries, journal_entries.c.id == postings.c.entry_id))
         .where(postings.c.org_id == org_id, journal_entries.c.org_id == org_id,
                postings.c.account.in_(list(accounts)),
                journal_entries.c.posted_on >= start, journal_entries.c.posted_on <= end)
         .group_by(journal_entries.c.posted_on, postings.c.account)
         .order_by(journal_entries.c.posted_on))
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in conn.execute(q)]


def revenue(conn: Connection, org_id: int, start: date, end: date, by: str = "month") -> list[RevenueRow]:
    """Revenue and VAT per month (or day) of ``[start, end]``; periods without postings omitted."""
    _period_check(start, end, by)
    acc: dict[str, list[int]] = {}
    for day, account, debit, credit in _by_account(conn, org_id, (ledger.REVENUE, ledger.VAT), start, end):
        row = acc.setdefault(_key(day, by), [0, 0])
        row[0 if account == ledger.REVENUE else 1] += credit - debit
    return [RevenueRow(k, r, v, r + v) for k, (r, v) in sorted(acc.items())]


def vat(conn: Connection, org_id: int, start: date, end: date, by: str = "month") -> list[VatRow]:
    """VAT invoiced, credited back and due per month (or day) of ``[start, end]``."""
    _period_check(start, end, by)
    acc: dict[str, list[int]] = {}
    for day, _account, debit, credit in _by_account(conn, org_id, (ledger.VAT,), start, end):
        row = acc.setdefault(_key(day, by), [0, 0])
        row[0] += credit
        row[1] += debit
    return [VatRow(k, i, c, i - c) for k, (i, c) in sorted(acc.items())]


BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


def bucket(days_past_due: int) -> str:
    """The ageing bucket of an invoice ``days_past_due`` days past its due date."""
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "days_1_30"
    if days_past_due <= 60:
        return "days_31_60"
    if days_past_due <= 90:
        return "days_61_90"
    return "days_over_90"


def debtors(conn: Connection, org_id: int, today: date) -> list[DebtorRow]:
    """Customers with open invoices, what they owe aged by days past due on ``today``;
    largest debt first."""
    q = (sa.select(invoices.c.customer_id, customers.c.username, customers.c.name, invoices.c.due_date,
                   invoices.c.total - invoices.c.paid)
         .select_from(invoices.join(customers, customers.c.id == invoices.c.customer_id))
         .where(invoices.c.org_id == org_id, customers.c.org_id == org_id, invoices.c.state == "open")
         .order_by(invoices.c.customer_id, invoices.c.due_date))
    acc: dict[int, dict[str, Any]] = {}
    for cid, username, name, due, open_amount in conn.execute(q):
        row = acc.setdefault(cid, {"customer_id": cid, "username": username, "name": name,
                                   "oldest_due": due, **{b: 0 for b in BUCKETS}})
        row[bucket((today - due).days)] += int(open_amount)
        row["oldest_due"] = min(row["oldest_due"], due)
    rows = [DebtorRow(total=sum(r[b] for b in BUCKETS), **r) for r in acc.values()]
    rows = [r for r in rows if r.total]
    return sorted(rows, key=lambda r: (-r.total, r.username))


def payments_by_method(conn: Connection, org_id: int, start: date, end: date) -> list[MethodRow]:
    """Payments received and refunds paid per method, on local dates ``[start, end]``."""
    _period_check(start, end, "day")
    q = (sa.select(postings.c.account, journal_entries.c.kind, sa.func.count(), sa.func.sum(postings.c.amount))
         .select_from(postings.join(journal_entries, journal_entries.c.id == postings.c.entry_id))
         .where(postings.c.org_id == org_id, journal_entries.c.org_id == org_id,
                postings.c.account.like("cash:%"), journal_entries.c.kind.in_(["payment", "refund"]),
                journal_entries.c.posted_on >= start, journal_entries.c.posted_on <= end)
         .group_by(postings.c.account, journal_entries.c.kind))
    acc: dict[str, list[int]] = {}
    for account, kind, n, amount in conn.execute(q):
        row = acc.setdefault(account.split(":", 1)[1], [0, 0, 0, 0])
        if kind == "payment":
            row[0] += int(n)
            row[1] += int(amount)
        else:
            row[2] += int(n)
            row[3] -= int(amount)
    return [MethodRow(m, n, r, k, f, r - f) for m, (n, r, k, f) in sorted(acc.items())]


def totals(rows: Sequence[Any]) -> dict[str, int]:
    """The sum of each integer column of report rows (ids and counts summed too;
    the caller shows the ones that make sense)."""
    out: dict[str, int] = {}
    for r in rows:
        for f in dataclasses.fields(r):
            v = getattr(r, f.name)
            if isinstance(v, int) and not isinstance(v, bool):
                out[f.name] = out.get(f.name, 0) + v
    return out


def to_csv(rows: Sequence[Any], row_type: type | None = None) -> str:
    """Report rows as CSV with a header line (the field names); dates in ISO form.
    ``row_type`` gives the header when there are no rows."""
    cls = type(rows[0]) if rows else row_type
    if cls is None:
        return ""
    names = [f.name for f in dataclasses.fields(cls)]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(names)
    for r in rows:
        w.writerow([v.isoformat() if isinstance(v, date) else v for v in (getattr(r, n) for n in names)])
    return out.getvalue()
