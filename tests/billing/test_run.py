"""The billing run: due periods billed in advance, one invoice per customer per run,
missed runs caught up, periods cut by a cancellation prorated, suspended services
billed and pending or cancelled ones not, chunks in customer order, and a rerun of
a date (or a second runner) billing nobody twice."""
from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from billing import charges, invoices, ledger, run
from billing.schema import invoices as inv_t
from tests.billing.fixtures_b import at, invoice, world

D = date


def bill(w: Any, day: date, after: int = 0, limit: int = 300) -> run.ChunkResult:
    return w.tx(run.run_chunk, None, w.org_id, day, after, limit, at(day, 1))


def all_invoices(w: Any) -> list[invoices.Invoice]:
    with w.engine.connect() as c:
        ids = c.execute(sa.select(inv_t.c.id).where(inv_t.c.org_id == w.org_id).order_by(inv_t.c.seq)).scalars()
        return [invoice(c, w.org_id, i) for i in ids]


def summary(inv: invoices.Invoice) -> tuple[Any, ...]:
    return (inv.number, inv.customer_id, inv.issue_date, inv.total,
            tuple((ln.service_id, ln.kind, ln.period_start, ln.period_end, ln.total) for ln in inv.lines))


def test_run_bills_the_coming_month_on_the_billing_day(engine: Any) -> None:
    """On the billing day each due monthly service is billed the coming month, in advance;
    a customer's services share one invoice; the day before nothing is due."""
    w = world(engine, billing_day=5)
    p, q = w.product("Fibre", 3000), w.product("TV", 1000)
    a, b = w.customer("Ann"), w.customer("Bo")
    sa1, sa2 = w.service(a, p, D(2027, 1, 5)), w.service(a, q, D(2027, 1, 5))
    sb = w.service(b, p, D(2027, 1, 20))
    first = len(all_invoices(w))
    r = bill(w, D(2027, 2, 4))
    assert (r.customers, r.invoices) == (0, 0)
    r = bill(w, D(2027, 2, 5))
    assert (r.customers, r.invoices, r.total) == (2, 2, 7000)
    ia, ib = all_invoices(w)[first:]
    assert summary(ia)[1:] == (a, D(2027, 2, 5), 4000, ((sa1, "recurring", D(2027, 2, 5), D(2027, 3, 5), 3000),
                                                       (sa2, "recurring", D(2027, 2, 5), D(2027, 3, 5), 1000)))
    assert summary(ib)[1:] == (b, D(2027, 2, 5), 3000, ((sb, "recurring", D(2027, 2, 5), D(2027, 3, 5), 3000),))
    with engine.connect() as c:
        assert c.execute(sa.select(inv_t.c.run).where(inv_t.c.id == ia.id)).scalar_one() == "2027-02-05"


def test_missed_runs_are_caught_up_and_a_rerun_bills_nobody_twice(engine: Any) -> None:
    """Runs missed for months: the next run bills every period due (monthly, prepaid 10 days,
    daily) on one invoice; running the same date again, or an earlier one, bills nothing."""
    w = world(engine)
    cid = w.customer("Cy")
    m = w.service(cid, w.product("Fibre", 3100), D(2027, 1, 1))
    d10 = w.service(cid, w.product("10 days", 500, period="days", period_days=10), D(2027, 1, 1))
    dd = w.service(cid, w.product("Day", 10, period="daily"), D(2027, 1, 1))
    first = len(all_invoices(w))
    bill(w, D(2027, 3, 2))
    [inv] = all_invoices(w)[first:]
    got = [(ln.service_id, ln.period_start) for ln in inv.lines]
    assert [s for s, _ in got].count(m) == 2            # Feb, Mar
    assert [s for s, _ in got].count(d10) == 6          # from 11/01 every 10 days up to the one starting 02/03
    assert [s for s, _ in got].count(dd) == 60          # 02/01 .. 02/03
    assert w.svc(m).billed_through == D(2027, 4, 1)
    assert w.svc(d10).billed_through == D(2027, 3, 12)
    assert w.svc(dd).billed_through == D(2027, 3, 3)
    for day in (D(2027, 3, 2), D(2027, 2, 1)):
        assert bill(w, day).invoices == 0
    assert len(all_invoices(w)) == first + 1
    with engine.connect() as c:
        assert ledger.check(c, w.org_id) == []


def test_suspended_billed_pending_and_cancelled_not(engine: Any) -> None:
    """Suspended services keep being billed (the contract runs); pending and cancelled ones are not."""
    w = world(engine)
    p = w.product("Fibre", 3000)
    c1, c2, c3 = w.customer("A"), w.customer("B"), w.customer("C")
    w.service(c1, p, D(2027, 1, 1), state="suspended")
    w.service(c2, p, None, state="pending")
    s3 = w.service(c3, p, D(2027, 1, 1))
    w.set_service(s3, state="cancelled")
    first = len(all_invoices(w))
    r = bill(w, D(2027, 2, 1))
    assert r.invoices == 1
    assert [i.customer_id for i in all_invoices(w)[first:]] == [c1]


def test_a_period_cut_by_cancel_at_is_prorated_and_the_next_not_billed(engine: Any) -> None:
    """cancel_at 15/02: February is billed 14 days of 28; March not at all."""
    w = world(engine)
    sid = w.service(w.customer("Dee"), w.product("Fibre", 2800), D(2027, 1, 1))
    w.set_service(sid, cancel_at=D(2027, 2, 15))
    first = len(all_invoices(w))
    bill(w, D(2027, 2, 1))
    bill(w, D(2027, 3, 1))
    [inv] = all_invoices(w)[first:]
    assert [(ln.kind, ln.period_start, ln.period_end, ln.total) for ln in inv.lines] == [
        ("proration", D(2027, 2, 1), D(2027, 2, 15), 1400)]
    assert w.svc(sid).billed_through == D(2027, 2, 15)


def test_end_date_is_the_last_day_of_service(engine: Any) -> None:
    """end_date 10/02 (inclusive): February is billed 10 days."""
    w = world(engine)
    sid = w.service(w.customer("Ed"), w.product("Fibre", 2800), D(2027, 1, 1))
    w.set_service(sid, end_date=D(2027, 2, 10))
    first = len(all_invoices(w))
    bill(w, D(2027, 2, 1))
    [inv] = all_invoices(w)[first:]
    assert [(ln.period_end, ln.total) for ln in inv.lines] == [(D(2027, 2, 11), 1000)]


def test_discount_for_the_first_periods_follows_periods_billed(engine: Any) -> None:
    """25 % off the first 2 periods: the partial first month and February, not March."""
    w = world(engine)
    p = w.product("Promo", 4000, rules=({"kind": "percent", "value": 2500, "periods": 2},))
    w.service(w.customer("Fay"), p, D(2027, 1, 16))
    bill(w, D(2027, 2, 1))
    bill(w, D(2027, 3, 1))
    a, b, c = all_invoices(w)
    assert [(ln.unit_price, ln.discount) for ln in a.lines] == [(2065, 516)]   # 2064.52 -> 2065; 25 %: 516.25
    assert [(ln.unit_price, ln.discount) for ln in b.lines] == [(4000, 1000)]
    assert [(ln.unit_price, ln.discount) for ln in c.lines] == [(4000, 0)]


def test_chunks_go_in_customer_order_and_resume_after_the_last(engine: Any) -> None:
    """Chunks of 2 over 5 customers: ids ascending, each chunk after the previous one's last id."""
    w = world(engine)
    p = w.product("Fibre", 1000)
    cids = [w.customer(f"C{i}") for i in range(5)]
    for c in cids:
        w.service(c, p, D(2027, 1, 1))
    with engine.connect() as c:
        assert run.count_due(c, w.org_id, D(2027, 2, 1)) == 5
    after, seen = 0, []
    while True:
        r = bill(w, D(2027, 2, 1), after, 2)
        seen.append(r.customers)
        after = r.last_customer_id
        if r.customers < 2:
            break
    assert seen == [2, 2, 1]
    assert after == cids[-1]
    with engine.connect() as c:
        assert run.summary(c, w.org_id, D(2027, 2, 1)) == run.Summary(w.org_id, "2027-02-01", 5, 5, 5000)
        assert run.count_due(c, w.org_id, D(2027, 2, 1)) == 0


def test_a_second_runner_with_a_stale_view_cannot_bill_again(engine: Any) -> None:
    """billed_through moves by a conditional UPDATE: a runner that read it before another billed loses."""
    w = world(engine)
    sid = w.service(w.customer("Gus"), w.product("Fibre", 1000), D(2027, 1, 1))
    with engine.begin() as c:
        assert charges.advance(c, w.org_id, sid, D(2027, 2, 1), D(2027, 3, 1), 1)
        assert not charges.advance(c, w.org_id, sid, D(2027, 2, 1), D(2027, 3, 1), 1)
    assert w.svc(sid).periods_billed == 2


def test_credit_applied_on_the_first_of_the_month(engine: Any) -> None:
    """On the 1st, unused customer credit settles open invoices (customers with credit only)."""
    from billing import ledger as lg
    from billing.ledger import Posting
    w = world(engine)
    cid = w.customer("Hal")
    w.service(cid, w.product("Fibre", 1000), D(2027, 1, 1))
    with engine.begin() as c:      # credit that arrived without being applied (e.g. an old adjustment)
        lg.post(c, w.org_id, "adjustment", [Posting(lg.CREDIT, -400, cid), Posting(lg.ADJUSTMENTS, 400)],
                D(2027, 1, 20), at(D(2027, 1, 20)), customer_id=cid)
    assert w.tx(run.apply_credits, w.org_id, D(2027, 2, 1), at(D(2027, 2, 1))) == 400
    assert w.tx(run.apply_credits, w.org_id, D(2027, 2, 1), at(D(2027, 2, 1))) == 0
    with engine.connect() as c:
        assert lg.balance(c, w.org_id, cid) == 600
        assert lg.check(c, w.org_id) == []


# -- the job ---------------------------------------------------------------------------------

def job_setup(engine: Any, box: Any, chunk: int = 2) -> tuple[Any, Any]:
    from datetime import time

    from twisted.internet import task

    from aaad.jobs import Job, Scheduler
    from aaad.schedules import Daily
    from aaad.view.write import LoginWriter
    from tests.helpers import SyncDB
    writer = LoginWriter(box)
    clock = task.Clock()
    sched = Scheduler(SyncDB(engine), clock)
    job = Job(run.JOB, Daily(time(0, 30)), lambda ctx: run.run_job(ctx, writer, chunk),
              per_org=True)
    sched.add(job)
    return sched, job


def run_period(sched: Any, job: Any, org_id: int, day: date) -> str:
    from datetime import UTC, datetime, time

    from tests.helpers import result_of
    start = datetime.combine(day, time(0, 30), UTC)
    sched.clock.advance(start.timestamp() + 60 - sched.clock.seconds())
    return str(result_of(sched.run_period(job, org_id, day.isoformat(), start)))


def test_job_runs_a_date_once_and_resumes_after_its_last_chunk(engine: Any, box: Any, monkeypatch: Any) -> None:
    """The billing.run job: a chunk failing leaves the committed chunks and the checkpoint;
    the next attempt bills only the rest (numbers stay gap-free); a done date is not run again."""
    w = world(engine)
    p = w.product("Fibre", 1000)
    cids = [w.customer(f"C{i}") for i in range(5)]
    for c in cids:
        w.service(c, p, D(2027, 1, 1))
    sched, job = job_setup(engine, box, chunk=2)
    real, calls = run.run_chunk, []

    def flaky(*a: Any) -> run.ChunkResult:
        calls.append(a[4])
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(*a)
    monkeypatch.setattr(run, "run_chunk", flaky)
    assert run_period(sched, job, w.org_id, D(2027, 2, 1)) == "failed"
    with engine.connect() as c:
        assert run.summary(c, w.org_id, D(2027, 2, 1)).invoices == 2
    assert run_period(sched, job, w.org_id, D(2027, 2, 1)) == "ran"
    assert calls[2] == cids[1]                      # resumed after the last committed customer
    assert run_period(sched, job, w.org_id, D(2027, 2, 1)) == "done"
    feb = [i for i in all_invoices(w) if i.issue_date == D(2027, 2, 1)]
    assert [i.customer_id for i in feb] == cids
    assert [i.number for i in feb] == [f"INV-{n:06d}" for n in range(6, 11)]


def test_job_completes_due_cancellations_and_applies_credit_on_the_first(engine: Any, box: Any) -> None:
    """A cancellation due on the run date is completed before billing (nothing billed for it);
    on the 1st unused credit settles open invoices."""
    from billing.ledger import ADJUSTMENTS, CREDIT, Posting
    w = world(engine)
    p = w.product("Fibre", 1000)
    a, b = w.customer("A"), w.customer("B")
    w.service(a, p, D(2027, 1, 1))
    sb = w.service(b, p, D(2027, 1, 1))
    w.set_service(sb, cancel_at=D(2027, 2, 1))
    with engine.begin() as c:
        ledger.post(c, w.org_id, "adjustment", [Posting(CREDIT, -300, a), Posting(ADJUSTMENTS, 300)],
                    D(2027, 1, 20), at(D(2027, 1, 20)), customer_id=a)
    sched, job = job_setup(engine, box)
    assert run_period(sched, job, w.org_id, D(2027, 2, 1)) == "ran"
    assert w.svc(sb).state == "cancelled"
    with engine.connect() as c:
        assert run.summary(c, w.org_id, D(2027, 2, 1)).invoices == 1
        assert ledger.balance(c, w.org_id, a) == 1000 + 1000 - 300
        assert ledger.open_invoices(c, w.org_id, a)[0].paid == 300
        assert ledger.check(c, w.org_id) == []


def test_issue_many_is_issue_in_turn(engine: Any) -> None:
    """A chunk's invoices issued together equal the same invoices issued one by one
    (numbers, lines, totals, credit applied, balances)."""
    from billing.invoices import LineIn
    from billing.ledger import ADJUSTMENTS, CREDIT, Posting

    def make(slug: str) -> tuple[Any, list[int]]:
        w = world(engine, slug, vat_bp=1750)
        cids = [w.customer(f"{slug} {i}") for i in range(4)]
        with engine.begin() as c:
            ledger.post(c, w.org_id, "adjustment", [Posting(CREDIT, -777, cids[1]), Posting(ADJUSTMENTS, 777)],
                        D(2027, 1, 1), at(D(2027, 1, 1)), customer_id=cids[1])
        return w, cids
    batch = [[LineIn("a", 1001), LineIn("b", 333, discount=33, taxable=False)], [LineIn("c", 500)],
             [LineIn("free", 0)], [LineIn("d", 99, quantity=3)]]
    w1, c1 = make("one")
    for cid, lines in zip(c1, batch, strict=True):
        w1.tx(invoices.issue, w1.org_id, cid, lines, D(2027, 2, 1), at(D(2027, 2, 1)), run="2027-02-01")
    w2, c2 = make("two")
    w2.tx(invoices.issue_many, w2.org_id, list(zip(c2, batch, strict=True)), D(2027, 2, 1), at(D(2027, 2, 1)),
          run="2027-02-01")

    def view(w: Any, cids: list[int]) -> Any:
        with engine.connect() as c:
            return ([(cids.index(i.customer_id), i.number, i.state, i.subtotal, i.vat, i.discount, i.total, i.paid,
                      [(ln.description, ln.net, ln.vat, ln.total) for ln in i.lines]) for i in all_invoices(w)],
                    [ledger.balance(c, w.org_id, cid) for cid in cids])
    assert view(w1, c1) == view(w2, c2)


def test_two_concurrent_runners_bill_each_period_once(engine: Any) -> None:
    """Two runners billing the same date at once (the second read before the first committed,
    then waited for its row locks, or for the SQLite writer): each period is billed once."""
    import threading
    import time as _time
    w = world(engine)
    p = w.product("Fibre", 1000)
    for i in range(6):
        w.service(w.customer(f"C{i}"), p, D(2027, 1, 1))
    first = len(all_invoices(w))
    results: list[Any] = []
    a = engine.connect()
    ta = a.begin()
    results.append(run.run_chunk(a, None, w.org_id, D(2027, 2, 1), 0, 100, at(D(2027, 2, 1))))

    def second() -> None:
        with engine.begin() as b:
            results.append(run.run_chunk(b, None, w.org_id, D(2027, 2, 1), 0, 100, at(D(2027, 2, 1))))
    t = threading.Thread(target=second)
    t.start()
    if engine.dialect.name == "postgresql":     # wait until the second runner waits for our locks
        deadline = _time.monotonic() + 20
        side = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
        with side.connect() as probe:
            while not probe.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                            )).scalar():
                assert _time.monotonic() < deadline
                probe.rollback()
                _time.sleep(0.01)
        side.dispose()
    ta.commit()
    a.close()
    t.join(30)
    assert [r.invoices for r in results] == [6, 0]
    assert len(all_invoices(w)) == first + 6
    with engine.connect() as c:
        assert ledger.check(c, w.org_id) == []


def test_chunk_default_depends_on_the_database() -> None:
    """``[billing] chunk = 0`` (the default): 300 customers a transaction on SQLite, where a chunk holds
    the write lock the daemon's accounting waits for, 1,000 on PostgreSQL; a value set is kept on both."""
    from billing.config import BillingConfig
    assert (BillingConfig().chunk_for(True), BillingConfig().chunk_for(False)) == (300, 1000)
    assert (BillingConfig(chunk=50).chunk_for(True), BillingConfig(chunk=50).chunk_for(False)) == (50, 50)
