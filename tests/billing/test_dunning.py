"""Dunning on SQLite and PostgreSQL: services of customers with an invoice unpaid past
due date + grace are suspended (login suspended in the AAA view in the org's mode,
reason and invoice logged); a payment that clears the arrears resumes them in its own
transaction unless auto-resume is off; an operator's suspension is never lifted by a
payment; the daily job walks customers in checkpointed chunks, exactly once."""
from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from twisted.internet import task

from aaad import jobs
from aaad.schema import job_runs
from billing import dunning, ledger, services, timeline
from billing.config import BillingConfig
from billing.schema import service_log
from tests.billing.fixtures_c import World, at, make_world
from tests.helpers import SyncDB, result_of

DUE = date(2026, 11, 15)          # invoices of 11-01, 14 days to pay
LAST_GRACE = date(2026, 11, 18)   # 3 days' grace: still fine
ARREARS = date(2026, 11, 19)      # due + grace < today


def run_chunk(w: World, today: date, after: int = 0, limit: int = 100) -> dunning.DunningChunk:
    return w.tx(dunning.dunning_chunk, w.writer, w.org_id, today, after, limit, at(today, 1))


def overdue_subscriber(w: World, username: str = "ama", amount: int = 100_00) -> tuple[int, int, int]:
    """(customer, service, invoice id): an active service and an invoice of 11-01."""
    pid = w.internet_product(f"Plan {username}")
    cid, sid = w.subscriber(username, pid)
    inv = w.invoice(cid, amount, date(2026, 11, 1))
    assert inv.due_date == DUE
    return cid, sid, inv.id


@pytest.mark.parametrize("mode", ["reject", "walled_garden"])
def test_unpaid_past_grace_is_suspended(engine: Any, mode: str) -> None:
    """Past due + grace the active service is suspended: its login in the org's mode,
    service_log and a suspensions row naming the invoice, service.suspended published."""
    w = make_world(engine, suspend_mode=mode)
    cid, sid, inv_id = overdue_subscriber(w)
    assert run_chunk(w, LAST_GRACE).suspended == ()
    assert w.service(sid).state == "active" and w.login_of(sid).state == "active"
    chunk = run_chunk(w, ARREARS)
    assert (chunk.suspended, chunk.customers, chunk.scanned, chunk.last_customer_id) == ((sid,), 1, 1, cid)
    lg = w.login_of(sid)
    assert (w.service(sid).state, lg.state, lg.suspend_mode) == ("suspended", "suspended", mode)
    (s,) = w.read(dunning.list_suspensions, w.org_id, customer_id=cid)
    assert (s.service_id, s.invoice_id, s.resumed_at) == (sid, inv_id, None)
    number = w.get_invoice(inv_id).number
    assert f"invoice {number} due 2026-11-15" in s.reason and "10000 open" in s.reason
    with engine.connect() as c:
        log = c.execute(sa.select(service_log.c.what, service_log.c.invoice_id, service_log.c.reason)
                        .where(service_log.c.service_id == sid).order_by(service_log.c.id)).all()[-1]
    assert (log.what, log.invoice_id, log.reason) == ("suspended", inv_id, s.reason)
    (ev,) = w.event_payloads("service.suspended")
    assert (ev["service_id"], ev["invoice_id"]) == (sid, inv_id)
    again = run_chunk(w, ARREARS)                               # a re-run changes nothing, and does not even
    assert (again.suspended, again.scanned) == ((), 0)          # look at customers with nothing left to suspend


def test_payment_clearing_arrears_resumes_in_its_own_transaction(engine: Any) -> None:
    """The payment that clears the arrears resumes the service in the same transaction:
    rolled back together, committed together."""
    w = make_world(engine)
    cid, sid, _ = overdue_subscriber(w)
    run_chunk(w, ARREARS)
    now = at(date(2026, 11, 20))
    with pytest.raises(RuntimeError), engine.begin() as c:
        from billing import payments
        r = payments.record(c, w.writer, w.org_id, cid, 100_00, now, method="bank", reference="T1")
        assert r.resumed_service_ids == (sid,)
        assert services.get(c, w.org_id, sid).state == "active"  # type: ignore[union-attr]
        raise RuntimeError("roll the payment back")
    assert w.service(sid).state == "suspended" and w.login_of(sid).state == "suspended"
    r = w.pay(cid, 100_00, "T1", now=now)
    assert r.resumed_service_ids == (sid,)
    assert w.service(sid).state == "active" and w.login_of(sid).state == "active"
    (s,) = w.read(dunning.list_suspensions, w.org_id, customer_id=cid)
    assert (s.resumed_at, s.resumed_by) == (now, "payment")
    assert [e["service_id"] for e in w.event_payloads("service.resumed")] == [sid]
    assert w.check() == []


def test_partial_payment_keeps_the_suspension(engine: Any) -> None:
    """A payment that leaves an invoice in arrears resumes nothing; clearing it does,
    even with a newer invoice still open but not yet in arrears."""
    w = make_world(engine)
    cid, sid, _ = overdue_subscriber(w)
    run_chunk(w, ARREARS)
    w.invoice(cid, 50_00, date(2026, 11, 19))                 # due 12-03: not in arrears
    assert w.pay(cid, 60_00, "P1", now=at(date(2026, 11, 20))).resumed_service_ids == ()
    assert w.service(sid).state == "suspended"
    r = w.pay(cid, 40_00, "P2", now=at(date(2026, 11, 21)))
    assert r.resumed_service_ids == (sid,) and r.balance == 50_00
    assert w.service(sid).state == "active"


def test_auto_resume_off_keeps_service_suspended(engine: Any) -> None:
    """With auto-resume off, paying in full leaves the service suspended for the operator."""
    w = make_world(engine, auto_resume=False)
    cid, sid, _ = overdue_subscriber(w)
    run_chunk(w, ARREARS)
    r = w.pay(cid, 100_00, "T1", now=at(date(2026, 11, 20)))
    assert r.resumed_service_ids == () and r.balance == 0
    assert w.service(sid).state == "suspended" and w.login_of(sid).state == "suspended"
    assert len(w.read(dunning.list_suspensions, w.org_id, open_only=True)) == 1
    assert w.tx(dunning.resume_chunk, w.writer, w.org_id, 0, 100, at(date(2026, 11, 21))).resumed == ()
    assert w.service(sid).state == "suspended"


def test_manual_suspension_is_not_resumed_by_payment(engine: Any) -> None:
    """A service the operator suspended stays suspended when the customer pays; dunning
    suspends only active services and resumes only its own."""
    w = make_world(engine)
    cid, sid, _ = overdue_subscriber(w)
    manual = w.tx(services.add, w.writer, w.org_id, cid, w.internet_product("Second"), at(date(2026, 11, 1)),
                  start=date(2026, 11, 1), username="ama2", password="pw").id
    w.tx(services.suspend, w.writer, w.org_id, manual, at(date(2026, 11, 10)), reason="abuse report")
    assert run_chunk(w, ARREARS).suspended == (sid,)
    r = w.pay(cid, 100_00, "T1", now=at(date(2026, 11, 20)))
    assert r.resumed_service_ids == (sid,)
    assert w.service(sid).state == "active" and w.service(manual).state == "suspended"
    assert w.login_of(manual).state == "suspended"


def test_operator_resuspension_after_dunning_is_not_lifted(engine: Any) -> None:
    """Dunning suspends, the operator resumes and suspends again by hand: the payment
    closes dunning's suspension but leaves the operator's in place."""
    w = make_world(engine)
    cid, sid, _ = overdue_subscriber(w)
    run_chunk(w, ARREARS)
    w.tx(services.resume, w.writer, w.org_id, sid, at(ARREARS, 10), reason="promised to pay")
    w.tx(services.suspend, w.writer, w.org_id, sid, at(ARREARS, 11), reason="fraud check")
    assert w.pay(cid, 100_00, "T1", now=at(date(2026, 11, 20))).resumed_service_ids == ()
    assert w.service(sid).state == "suspended"
    (s,) = w.read(dunning.list_suspensions, w.org_id)
    assert s.resumed_by == "operator"


def test_chunks_checkpoint_and_other_orgs(engine: Any) -> None:
    """Customers in arrears are walked in ascending id chunks; paid customers and other
    orgs are untouched."""
    w = make_world(engine)
    subs = [overdue_subscriber(w, f"c{i}") for i in range(5)]
    paid_cid, paid_sid, _ = overdue_subscriber(w, "payer")
    w.pay(paid_cid, 100_00, "OK", now=at(date(2026, 11, 10)))
    other = make_world(engine, "other")
    _, other_sid, _ = overdue_subscriber(other, "zed")
    a = run_chunk(w, ARREARS, 0, 2)
    b = run_chunk(w, ARREARS, a.last_customer_id, 2)
    c = run_chunk(w, ARREARS, b.last_customer_id, 2)
    assert [x.scanned for x in (a, b, c)] == [2, 2, 1]
    assert a.suspended + b.suspended + c.suspended == tuple(s for _, s, _ in subs)
    d = run_chunk(w, ARREARS, c.last_customer_id, 2)
    assert (d.scanned, d.last_customer_id) == (0, c.last_customer_id)
    assert w.service(paid_sid).state == "active" and other.service(other_sid).state == "active"


def test_daily_job_runs_in_chunks_once_per_day(engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The billing.dunning job (daily at dunning_at local time) suspends every customer in
    arrears in chunks of [billing] chunk, each committed with its checkpoint: a run that
    fails midway resumes after the last committed chunk; a finished day does not run again."""
    w = make_world(engine)
    subs = [overdue_subscriber(w, f"c{i}") for i in range(5)]
    clock = task.Clock()
    clock.advance(datetime(2026, 11, 19, 1, 0, tzinfo=UTC).timestamp())
    sched = jobs.Scheduler(SyncDB(engine), clock)
    core = cast(Any, SimpleNamespace(clock=clock, login_writer=w.writer,
                                     db=SimpleNamespace(sqlite=engine.dialect.name == "sqlite")))
    job = dunning.job(core, BillingConfig(chunk=2))
    assert job.name == "billing.dunning" and job.per_org and job.plan.describe() == "daily at 01:00 local"
    sched.add(job)
    key, start = job.plan.period_at(datetime(2026, 11, 19, 1, 0, tzinfo=UTC), ZoneInfo("Africa/Accra"))
    assert key == "2026-11-19"
    real, calls = dunning.dunning_chunk, []

    def flaky(*a: Any) -> Any:
        calls.append(a[4])                     # after_customer_id
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(*a)
    monkeypatch.setattr(dunning, "dunning_chunk", flaky)
    assert result_of(sched.run_period(job, w.org_id, key, start)) == "failed"
    assert [w.service(s).state for _, s, _ in subs] == ["suspended"] * 2 + ["active"] * 3
    assert result_of(sched.run_period(job, w.org_id, key, start)) == "ran"
    assert calls == [0, subs[1][0], subs[1][0], subs[3][0]]
    assert all(w.service(s).state == "suspended" for _, s, _ in subs)
    with engine.connect() as c:
        progress = c.execute(sa.select(job_runs.c.progress).where(job_runs.c.job == "billing.dunning")).scalar_one()
    assert progress == "resume:0"          # the second half found nobody whose arrears were cleared
    assert result_of(sched.run_period(job, w.org_id, key, start)) == "done"
    assert len(w.read(dunning.list_suspensions, w.org_id)) == 5


def test_timeline_shows_suspension_and_resumption(engine: Any) -> None:
    """The customer's timeline has the service's life beside the money, in order."""
    w = make_world(engine)
    cid, sid, inv_id = overdue_subscriber(w)
    run_chunk(w, ARREARS)
    w.pay(cid, 100_00, "T1", now=at(date(2026, 11, 20)))
    # (The free product's activation invoice, if part b issues one, totals 0.)
    items = [i for i in w.read(timeline.timeline, w.org_id, cid) if not (i.kind == "invoice" and i.amount == 0)]
    assert [(i.kind, i.balance) for i in items] == [
        ("service.created", None), ("service.approved", None), ("invoice", 100_00), ("service.suspended", None),
        ("payment", 0), ("service.resumed", None)]
    assert f"{w.get_invoice(inv_id).number} due" in items[3].description
    assert "arrears paid" in items[5].description


def test_arrears_cleared_without_a_payment_resume_on_the_daily_pass(engine: Any) -> None:
    """Arrears settled by customer credit (an adjustment here; a credit note alike) are
    resumed by the daily pass's second half, not before; still-owing customers stay."""
    w = make_world(engine)
    cid, sid, _ = overdue_subscriber(w, "ama")
    _, owing_sid, _ = overdue_subscriber(w, "kofi")
    run_chunk(w, ARREARS)
    day = date(2026, 11, 20)
    w.tx(ledger.adjust, w.org_id, cid, -100_00, "goodwill", day, at(day))
    assert w.tx(ledger.apply_credit, w.org_id, cid, day, at(day)) == 100_00
    assert w.service(sid).state == "suspended"
    rc = w.tx(dunning.resume_chunk, w.writer, w.org_id, 0, 100, at(day, 1))
    assert (rc.scanned, rc.resumed) == (1, (sid,))         # kofi, still owing, is not even looked at
    assert w.service(sid).state == "active" and w.service(owing_sid).state == "suspended"
    (s,) = w.read(dunning.list_suspensions, w.org_id, customer_id=cid)
    assert s.resumed_by == "cleared"
