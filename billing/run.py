"""The daily billing run: each org's invoices due on a date.

For one org and run date, every active or suspended service whose
``billed_through`` is on or before the date gets its due periods (missed
runs are caught up: every period starting on or before the date, none at
or after the service's end; a period cut by the end is prorated), with its
product's discounts, on one invoice per customer (``run`` = the date).
Customers are billed in id order, in chunks: each chunk commits with the
job's checkpoint (the last customer id billed), so a run killed at any point
and run again resumes after the last committed chunk.  Nobody is billed twice:

- a (job, org, date) period runs once (``job_runs``, see :mod:`aaad.jobs`);
- a service's ``billed_through`` moves by a conditional UPDATE (row count
  checked), so two runners cannot both bill the same period;
- invoice lines are unique per (service, kind, period start).

Before the chunks the run completes the cancellations due that day; on the
1st of the month it applies customers' unused credit to their open invoices.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer, task
from twisted.logger import Logger

from aaad.clock import utcnow
from aaad.db import in_list
from billing import charges, invoices, ledger, settings
from billing.schema import invoices as invoices_t
from billing.schema import postings, products, services

log = Logger()

JOB = "billing.run"
NEVER = date(1, 1, 1)       # stands for "never billed" in the conditional UPDATE

#: ``on_progress(org_id, run_date, customers done, customers due at start)``
Progress = Callable[[int, date, int, int], None]


@dataclass(frozen=True)
class ChunkResult:
    last_customer_id: int
    customers: int        # customers looked at (with services due)
    invoices: int
    total: int            # sum of the invoices' totals


def _unindexed(col: Any) -> Any:
    """``col + 0``: the same value, but no index of ``col`` can serve it.  Without
    statistics SQLite takes ``org_id = ?`` for a selective index term and walks the
    org's whole ``(org_id, state)`` index for a chunk (100,000 services, every chunk)
    instead of the customer (or primary key) range the chunk needs."""
    return col + 0


def _due(org_id: Any, run_date: Any, *, chunk: bool = False) -> list[Any]:
    s = services
    frm = sa.func.coalesce(s.c.billed_through, s.c.start_date)
    org = _unindexed(s.c.org_id) if chunk else s.c.org_id
    return [org == org_id, s.c.state.in_(("active", "suspended")), s.c.start_date.is_not(None),
            products.c.period != "once", frm <= run_date,
            sa.or_(s.c.cancel_at.is_(None), s.c.cancel_at > frm),
            sa.or_(s.c.end_date.is_(None), s.c.end_date >= frm)]


def _joined() -> Any:
    return services.join(products, sa.and_(products.c.id == services.c.product_id,
                                           products.c.org_id == services.c.org_id))


def count_due(conn: Connection, org_id: int, run_date: date, after_customer_id: int = 0) -> int:
    """Customers with a service due on ``run_date`` (ids above ``after_customer_id``)."""
    return int(conn.execute(sa.select(sa.func.count(sa.distinct(services.c.customer_id))).select_from(_joined())
                            .where(*_due(org_id, run_date), services.c.customer_id > after_customer_id))
               .scalar_one())


def _chunk_rows() -> Any:
    """The due services of the next ``:limit`` customers with one (ids above ``:after``)."""
    p = sa.bindparam
    customers = (sa.select(services.c.customer_id).select_from(_joined())
                 .where(*_due(p("org_id"), p("run_date"), chunk=True), services.c.customer_id > p("after"))
                 .group_by(services.c.customer_id).order_by(services.c.customer_id).limit(p("limit")))
    s = services
    return (sa.select(s.c.id, s.c.customer_id, s.c.product_id, s.c.start_date, s.c.billed_through,
                      s.c.periods_billed, s.c.cancel_at, s.c.end_date).select_from(_joined())
            .where(*_due(p("org_id"), p("run_date"), chunk=True),
                   services.c.customer_id.in_(customers.scalar_subquery()))
            .order_by(services.c.customer_id, services.c.id))


# The chunk's statements, built once (their compiled form is cached).
_CHUNK_ROWS = _chunk_rows()
_ADVANCE = (services.update().where(_unindexed(services.c.org_id) == sa.bindparam("org"),
                                    in_list(services.c.id, "ids"),
                                    sa.func.coalesce(services.c.billed_through, NEVER) == sa.bindparam("old"))
            .values(billed_through=sa.bindparam("new"), periods_billed=services.c.periods_billed + sa.bindparam("n"))
            .returning(services.c.id))

def run_chunk(conn: Connection, writer: Any, org_id: int, run_date: date, after_customer_id: int, limit: int,
              now: datetime) -> ChunkResult:
    """Bill the next ``limit`` customers (ids above ``after_customer_id``) with a
    service due on ``run_date``, in the caller's transaction."""
    rows = conn.execute(_CHUNK_ROWS, {"org_id": org_id, "run_date": run_date, "after": after_customer_id,
                                      "limit": limit}).all()
    if not rows:
        return ChunkResult(after_customer_id, 0, 0, 0)
    ids = list(dict.fromkeys(r[1] for r in rows))     # in order: the rows are by customer, then id
    plans = charges.load_plans(conn, org_id, {r[2] for r in rows})
    st = settings.get(conn, org_id)
    since = min(r[4] or r[3] for r in rows)
    known = charges._billed_keys(conn, org_id, [r[0] for r in rows], since)
    # Most services of a chunk share their plan, dates and period count: their periods and
    # lines are computed once per distinct (plan, from, stop) and (plan, periods, index).
    segs_of: dict[tuple[int, date, date | None], list[charges.Segment]] = {}
    priced: dict[tuple[int, tuple[charges.Segment, ...], int], list[invoices.PricedLine]] = {}
    due: list[tuple[int, int, int, int, list[charges.Segment]]] = []   # service, customer, product, periods
    groups: dict[tuple[date, date, int], list[int]] = {}
    for sid, cid, pid, start, bt, periods, cancel_at, end_date in rows:
        frm = bt if bt is not None and bt > start else start
        stop = cancel_at                                    # charges.service_stop
        if end_date is not None and (stop is None or end_date + charges.DAY < stop):
            stop = end_date + charges.DAY
        segs = segs_of.get((pid, frm, stop))
        if segs is None:
            segs = segs_of[(pid, frm, stop)] = charges.due_segments(plans[pid], st.billing_day, frm, run_date, stop)
        if segs:
            due.append((sid, cid, pid, periods, segs))
            groups.setdefault((bt or NEVER, segs[-1].e, len(segs)), []).append(sid)
    moved = _advance_all(conn, org_id, groups)
    lines_of: dict[int, list[invoices.PricedLine]] = {}
    for sid, cid, pid, periods, segs in due:
        if sid not in moved:   # billed meanwhile by another runner
            continue
        key = (pid, tuple(segs), periods)
        tmpl = priced.get(key)
        if tmpl is None:
            tmpl = priced[key] = [invoices.priced_line(ln, st.vat_bp, st.prices_include_vat)
                                  for ln in charges.charge_lines(plans[pid], 0, segs, periods)]
        lines = lines_of.get(cid)
        if lines is None:
            lines = lines_of[cid] = []
        for t in tmpl:
            if (sid, t[1], t[2]) not in known:
                lines.append((sid, *t[1:]))
    issued = invoices.issue_priced(conn, org_id, st, [(cid, lines_of.get(cid, [])) for cid in ids], run_date, now,
                                   run=run_date.isoformat())
    n_inv, total = len(issued), sum(i.total for i in issued)
    return ChunkResult(ids[-1], len(ids), n_inv, total)


def _advance_all(conn: Connection, org_id: int, groups: dict[tuple[date, date, int], list[int]]) -> set[int]:
    """Move ``billed_through`` of each group of services from ``old`` to ``new`` (and
    count ``n`` periods more) where it still is ``old`` (conditional UPDATEs, a few for
    a whole chunk); the ids moved (not those another runner moved first)."""
    moved: set[int] = set()
    for (old, new, n), ids in groups.items():
        for i in range(0, len(ids), 500):
            moved.update(conn.execute(
                _ADVANCE, {"org": org_id, "ids": ids[i:i + 500], "old": old, "new": new, "n": n}).scalars())
    return moved


def apply_credits(conn: Connection, org_id: int, on: date, now: datetime) -> int:
    """Use every customer's unused credit on their open invoices (the 1st of the
    month); the amount applied."""
    with_credit = (sa.select(postings.c.customer_id).where(postings.c.org_id == org_id,
                                                          postings.c.account == ledger.CREDIT)
                   .group_by(postings.c.customer_id).having(sa.func.sum(postings.c.amount) < 0))
    ids = conn.execute(sa.select(invoices_t.c.customer_id).where(
        invoices_t.c.org_id == org_id, invoices_t.c.state == "open",
        invoices_t.c.customer_id.in_(with_credit)).distinct().order_by(invoices_t.c.customer_id)).scalars().all()
    return sum(ledger.apply_credit(conn, org_id, cid, on, now) for cid in ids)


@dataclass(frozen=True)
class Summary:
    org_id: int
    run: str
    customers: int
    invoices: int
    total: int


def summary(conn: Connection, org_id: int, run_date: date) -> Summary:
    """What the run of ``run_date`` issued (whichever runner and attempt issued it)."""
    key = run_date.isoformat()
    r = conn.execute(sa.select(sa.func.count(sa.distinct(invoices_t.c.customer_id)), sa.func.count(),
                               sa.func.coalesce(sa.func.sum(invoices_t.c.total), 0))
                     .where(invoices_t.c.org_id == org_id, invoices_t.c.run == key)).one()
    return Summary(org_id, key, int(r[0]), int(r[1]), int(r[2]))


def complete_cancellations(conn: Connection, writer: Any, org_id: int, run_date: date, now: datetime) -> Any:
    """The cancellations due on ``run_date`` (part a's services function)."""
    from billing import services as services_mod
    return services_mod.complete_due_cancellations(conn, writer, org_id, run_date, now)


#: Between two chunks on SQLite a job leaves the write lock free for half as long as its
#: chunk took, at most this long.  Another process's writer (the daemon's: accounting's
#: group commit, the event dispatcher) waits for the lock in SQLite's busy handler, which
#: tries again after 1, 2, 5, 10, 15, 20, 25 ms and later every 50-100 ms: without a break
#: it only finds the lock free in the millisecond between a chunk's commit and the next
#: chunk's BEGIN, and accounting acknowledgements stalled past radload's 2 s timeout
#: (bench/README.md).  With a break as long as the busy handler's early retries, it waits
#: about one chunk.  PostgreSQL has no database-wide write lock: no break.
WRITER_BREAK_MAX = 0.025


def writer_break(ctx: Any, held: float) -> defer.Deferred[None]:
    """A pause after a chunk that held SQLite's write lock ``held`` seconds (by the job's
    clock: none under a test's fake clock, where no time passes)."""
    pause = min(WRITER_BREAK_MAX, held / 2) if getattr(ctx.db, "sqlite", False) else 0.0
    if pause <= 0:
        return defer.succeed(None)
    return task.deferLater(ctx.clock, pause, lambda: None)


@defer.inlineCallbacks
def run_job(ctx: Any, writer: Any, chunk: int, on_progress: list[Progress] | None = None):  # type: ignore[no-untyped-def]
    """The ``billing.run`` job for one org and date (``ctx``: an aaad JobContext):
    cancellations due, the chunks with their checkpoints, credit on the 1st."""
    run_date = date.fromisoformat(ctx.period)
    org_id = ctx.org_id
    yield ctx.db.write(complete_cancellations, writer, org_id, run_date, utcnow(ctx.clock))
    after = int(ctx.progress or 0)
    due = yield ctx.db.read(count_due, org_id, run_date, after)
    done = n_inv = total = 0
    while True:
        t0 = ctx.clock.seconds()
        r = yield ctx.checkpoint_after(run_chunk, writer, org_id, run_date, after, chunk, utcnow(ctx.clock),
                                       progress=lambda c: str(c.last_customer_id))
        after, done, n_inv, total = r.last_customer_id, done + r.customers, n_inv + r.invoices, total + r.total
        if r.customers or not done:
            for cb in on_progress or ():
                cb(org_id, run_date, done, due)
        if r.customers < chunk:
            break
        yield writer_break(ctx, ctx.clock.seconds() - t0)
    applied = 0
    if run_date.day == 1:
        applied = yield ctx.db.write(apply_credits, org_id, run_date, utcnow(ctx.clock))
    log.info("billing run {run} (org {org}): {customers} customers, {invoices} invoices, total {total}, "
             "credit applied {applied}", run=ctx.period, org=org_id, customers=done, invoices=n_inv, total=total,
             applied=applied)
    return Summary(org_id, ctx.period, done, n_inv, total)
