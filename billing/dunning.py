"""Dunning: suspend the services of customers in arrears; resume them when paid.

A customer is in arrears when one of their invoices is still open past its
due date plus the org's grace days (``due_date + grace_days < today``).  The
daily ``billing.dunning`` job (per org, at ``[billing] dunning_at`` local
time) walks those customers in chunks of ``[billing] chunk``, each chunk one
transaction with the job's checkpoint, and suspends their active services
through :func:`billing.services.suspend_many` (login suspended in the org's mode,
``service.suspended``, a ``service_log`` row) with a ``suspensions`` row
naming the invoice.  A re-run after a crash skips what is already suspended.

A payment that leaves no invoice in arrears resumes, in the payment's own
transaction, the services *dunning* suspended (:func:`resume_if_clear`),
unless the org turned ``auto_resume`` off.  Arrears cleared some other way
(a credit note, an adjustment) are caught by the daily pass's second half,
under the same rule.  A suspension by an operator has no ``suspensions``
row and is never lifted by a payment.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger

from aaad.bulk import insert_rows
from aaad.clock import utcnow
from aaad.db import in_list
from aaad.jobs import Job, JobContext
from aaad.schedules import Daily
from aaad.view.write import LoginWriter
from billing import services as svc
from billing import settings
from billing.config import BillingConfig
from billing.run import writer_break
from billing.schema import invoices, service_log, suspensions
from billing.schema import services as services_t

if TYPE_CHECKING:
    from aaad.component import Core

log = Logger()
JOB = "billing.dunning"
RESUMING = "resume:"


@dataclass(frozen=True)
class Overdue:
    """A customer's oldest invoice in arrears (the reason for the suspension)."""
    invoice_id: int
    number: str | None
    due_date: date
    open_amount: int


@dataclass(frozen=True)
class DunningChunk:
    scanned: int                          # customers in arrears looked at (< limit: the last chunk)
    last_customer_id: int                 # the checkpoint: resume after this customer
    suspended: tuple[int, ...]            # service ids suspended in this chunk
    customers: int                        # customers with at least one service suspended


def cutoff(st: settings.Settings, today: date) -> date:
    """Invoices due before this date are in arrears on ``today``."""
    return today - timedelta(days=st.grace_days)


def _arrears(org_id: int, before: date, *, by_customer: bool = False) -> list[Any]:
    """Invoices in arrears.  ``by_customer``: for a query that has its customers (a range,
    a list, one customer): ``org_id + 0`` keeps SQLite (no statistics) off the org's
    ``(org_id, state, due_date)`` index, which holds every invoice in arrears of the org
    and made each chunk, and each customer's check, walk all of them."""
    org = invoices.c.org_id + 0 if by_customer else invoices.c.org_id
    return [org == org_id, invoices.c.state == "open", invoices.c.due_date < before]


def overdue(conn: Connection, org_id: int, customer_id: int, today: date) -> Overdue | None:
    """The customer's oldest invoice open past due date plus grace on ``today``, if any."""
    st = settings.get(conn, org_id)
    r = conn.execute(sa.select(invoices.c.id, invoices.c.number, invoices.c.due_date, invoices.c.total,
                               invoices.c.paid)
                     .where(*_arrears(org_id, cutoff(st, today), by_customer=True),
                            invoices.c.customer_id == customer_id)
                     .order_by(invoices.c.due_date, invoices.c.seq, invoices.c.id).limit(1)).first()
    return None if r is None else Overdue(r.id, r.number, r.due_date, r.total - r.paid)


def reason_for(inv: Overdue, grace_days: int) -> str:
    return (f"invoice {inv.number or inv.invoice_id} due {inv.due_date.isoformat()} unpaid "
            f"({inv.open_amount} open) past {grace_days} days' grace")


def dunning_chunk(conn: Connection, writer: LoginWriter, org_id: int, today: date, after_customer_id: int,
                  limit: int, now: datetime) -> DunningChunk:
    """Suspend the active services of up to ``limit`` customers in arrears on ``today``
    (customer ids after ``after_customer_id``, ascending), in the caller's transaction."""
    st = settings.get(conn, org_id)
    before = cutoff(st, today)
    # Only customers with something left to suspend: the ones suspended on earlier days
    # cost nothing on later days.
    has_active = sa.exists().where(services_t.c.org_id == org_id, services_t.c.customer_id == invoices.c.customer_id,
                                   services_t.c.state == "active")
    ids = [int(r[0]) for r in conn.execute(
        sa.select(invoices.c.customer_id).where(*_arrears(org_id, before, by_customer=True),
                                                invoices.c.customer_id > after_customer_id, has_active)
        .group_by(invoices.c.customer_id).order_by(invoices.c.customer_id).limit(limit))]
    if not ids:
        return DunningChunk(0, after_customer_id, (), 0)
    oldest: dict[int, Overdue] = {}
    for r in conn.execute(sa.select(invoices.c.customer_id, invoices.c.id, invoices.c.number,
                                    invoices.c.due_date, invoices.c.total, invoices.c.paid)
                          .where(*_arrears(org_id, before, by_customer=True), in_list(invoices.c.customer_id))
                          .order_by(invoices.c.customer_id, invoices.c.due_date, invoices.c.seq, invoices.c.id),
                          {"ids": ids}):
        oldest.setdefault(r.customer_id, Overdue(r.id, r.number, r.due_date, r.total - r.paid))
    active = conn.execute(sa.select(services_t.c.id, services_t.c.customer_id).where(
        services_t.c.org_id + 0 == org_id, in_list(services_t.c.customer_id), services_t.c.state == "active")
        .order_by(services_t.c.customer_id, services_t.c.id), {"ids": ids}).all()
    rows: list[tuple[int, int, int, str]] = []      # customer, service, invoice, reason
    for sid, cid in active:
        inv = oldest[cid]
        rows.append((cid, sid, inv.invoice_id, reason_for(inv, st.grace_days)))
    if rows:
        # Set-wise: the same outcome as services.suspend for each in turn, in a few statements.
        svc.suspend_many(conn, writer, org_id, [(sid, reason, iid) for _, sid, iid, reason in rows], now)
        insert_rows(conn, suspensions, ("customer_id", "service_id", "invoice_id", "reason"), rows,
                    org_id=org_id, suspended_at=now)
    return DunningChunk(len(ids), ids[-1], tuple(r[1] for r in rows), len({r[0] for r in rows}))


def _dunning_suspended(conn: Connection, org_id: int, service_id: int) -> bool:
    """Whether the service's latest state change is a dunning suspension (one with an
    invoice), not an operator's suspension after it."""
    r = conn.execute(sa.select(service_log.c.what, service_log.c.new_state, service_log.c.invoice_id)
                     .where(service_log.c.org_id == org_id, service_log.c.service_id == service_id)
                     .order_by(service_log.c.at.desc(), service_log.c.id.desc()).limit(1)).first()
    return r is not None and r.new_state == "suspended" and r.invoice_id is not None


def resume_if_clear(conn: Connection, writer: LoginWriter, org_id: int, customer_id: int,
                    now: datetime, *, by: str = "payment") -> list[int]:
    """If the org resumes on payment and the customer has no invoice left in arrears,
    resume the services dunning suspended and close their suspensions; the ids
    resumed.  Run in the payment's transaction (``by`` is recorded on the suspension:
    ``payment``, or ``cleared`` from the daily pass)."""
    open_rows = conn.execute(sa.select(suspensions.c.id, suspensions.c.service_id).where(
        suspensions.c.org_id == org_id, suspensions.c.customer_id == customer_id,
        suspensions.c.resumed_at.is_(None)).order_by(suspensions.c.id)).all()
    if not open_rows:
        return []
    st = settings.get(conn, org_id)
    if not st.auto_resume or overdue(conn, org_id, customer_id, st.today(now)) is not None:
        return []
    resumed: list[int] = []
    for row_id, sid in open_rows:
        state = conn.execute(sa.select(services_t.c.state).where(services_t.c.org_id == org_id,
                                                               services_t.c.id == sid)).scalar_one()
        ours = state == "suspended" and _dunning_suspended(conn, org_id, sid)
        # Closed by a conditional UPDATE: of two payments clearing the arrears at once, one resumes.
        n = conn.execute(suspensions.update().where(suspensions.c.id == row_id, suspensions.c.resumed_at.is_(None))
                         .values(resumed_at=now, resumed_by=by if ours else "operator")).rowcount
        if n == 1 and ours and sid not in resumed:
            svc.resume(conn, writer, org_id, sid, now, reason="arrears paid" if by == "payment" else "arrears cleared")
            resumed.append(sid)
    return resumed


def close_suspensions(conn: Connection, org_id: int, service_id: int, now: datetime, by: str = "operator") -> int:
    """Close the open dunning suspensions of a service resumed (or cancelled) some other
    way; how many.  (A later payment would otherwise close them itself.)"""
    return int(conn.execute(suspensions.update().where(
        suspensions.c.org_id == org_id, suspensions.c.service_id == service_id,
        suspensions.c.resumed_at.is_(None)).values(resumed_at=now, resumed_by=by)).rowcount)


@dataclass(frozen=True)
class Suspension:
    id: int
    customer_id: int
    service_id: int
    invoice_id: int | None
    reason: str
    suspended_at: datetime
    resumed_at: datetime | None
    resumed_by: str | None


def list_suspensions(conn: Connection, org_id: int, *, customer_id: int | None = None,
                     open_only: bool = False) -> list[Suspension]:
    q = sa.select(suspensions).where(suspensions.c.org_id == org_id)
    if customer_id is not None:
        q = q.where(suspensions.c.customer_id == customer_id)
    if open_only:
        q = q.where(suspensions.c.resumed_at.is_(None))
    return [Suspension(r.id, r.customer_id, r.service_id, r.invoice_id, r.reason, r.suspended_at, r.resumed_at,
                       r.resumed_by) for r in conn.execute(q.order_by(suspensions.c.id))]


@dataclass(frozen=True)
class ResumeChunk:
    scanned: int                          # customers with an open dunning suspension looked at
    last_customer_id: int
    resumed: tuple[int, ...]


def resume_chunk(conn: Connection, writer: LoginWriter, org_id: int, after_customer_id: int, limit: int,
                 now: datetime) -> ResumeChunk:
    """The daily pass's second half: customers whose arrears were cleared some other way
    than a payment (a credit note, an adjustment, credit applied) get their services
    resumed too, under the same rule as a payment (:func:`resume_if_clear`)."""
    st = settings.get(conn, org_id)
    if not st.auto_resume:
        return ResumeChunk(0, after_customer_id, ())
    # Only customers no longer in arrears: those still owing cost nothing here.
    in_arrears = sa.exists().where(*_arrears(org_id, cutoff(st, st.today(now)), by_customer=True),
                                   invoices.c.customer_id == suspensions.c.customer_id)
    ids = [int(r[0]) for r in conn.execute(
        sa.select(suspensions.c.customer_id).where(suspensions.c.org_id == org_id,
                                                   suspensions.c.resumed_at.is_(None),
                                                   suspensions.c.customer_id > after_customer_id, ~in_arrears)
        .group_by(suspensions.c.customer_id).order_by(suspensions.c.customer_id).limit(limit))]
    resumed: list[int] = []
    for cid in ids:
        resumed += resume_if_clear(conn, writer, org_id, cid, now, by="cleared")
    return ResumeChunk(len(ids), ids[-1] if ids else after_customer_id, tuple(resumed))


# -- the daily job ----------------------------------------------------------------------------

def job(core: Core, conf: BillingConfig) -> Job:
    """The daily per-org dunning pass, chunked with the job's checkpoint."""

    @defer.inlineCallbacks
    def run(ctx: JobContext) -> Generator[Any, Any, int]:
        # Progress: "<customer id>" while suspending, "resume:<customer id>" while resuming.
        now = utcnow(core.clock)
        size = conf.chunk_for(core.db.sqlite)
        today = date.fromisoformat(ctx.period)
        progress = ctx.progress or "0"
        suspended = resumed = 0
        if not progress.startswith(RESUMING):
            after = int(progress)
            while True:
                t0 = ctx.clock.seconds()
                chunk = yield ctx.checkpoint_after(dunning_chunk, core.login_writer, ctx.org_id, today, after,
                                                   size, now, progress=lambda c: str(c.last_customer_id))
                after, suspended = chunk.last_customer_id, suspended + len(chunk.suspended)
                if chunk.scanned < size:
                    break
                yield writer_break(ctx, ctx.clock.seconds() - t0)
            progress = RESUMING + "0"
        after = int(progress[len(RESUMING):])
        while True:
            t0 = ctx.clock.seconds()
            rc = yield ctx.checkpoint_after(resume_chunk, core.login_writer, ctx.org_id, after, size, now,
                                            progress=lambda c: f"{RESUMING}{c.last_customer_id}")
            after, resumed = rc.last_customer_id, resumed + len(rc.resumed)
            if rc.scanned < size:
                break
            yield writer_break(ctx, ctx.clock.seconds() - t0)
        if suspended or resumed:
            log.info("dunning suspended {n} services and resumed {r} (org {org})", n=suspended, r=resumed,
                     org=ctx.org_id)
        return suspended

    return Job(JOB, Daily(time.fromisoformat(conf.dunning_at)), run, per_org=True)
