"""Accounting jobs through the scheduler's JobContext, on a real SQLite file, synchronously."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy as sa
from twisted.internet import defer, task

from aaad.component import Core
from aaad.config import load
from aaad.events import Event
from aaad.jobs import Job, JobContext, Scheduler, claim, runs
from aaad.metrics import Stats
from aaad.view.memory import AAAView
from aaad.view.store import load_snapshot
from aaad.view.write import LoginWriter
from accounting import sessions as sm
from accounting.config import AccountingConfig
from accounting.events import QuotaExceeded
from accounting.jobs import AGGREGATE, AccountingJobs
from accounting.schema import usage, usage_cycles
from accounting.tracker import Tracker
from tests.accounting.test_store import SLOT, World, apply, interim, rows, start, stop  # noqa: F401
from tests.helpers import SyncDB, result_of


class FakeRrd:
    def __init__(self) -> None:
        self.rows: list = []

    def update_many(self, rows: list) -> defer.Deferred:
        self.rows.extend(rows)
        return defer.succeed(len(rows))


def make(w: World, chunk: int = 2) -> tuple[AccountingJobs, Tracker, FakeRrd, task.Clock, Any]:
    clock = task.Clock()
    clock.advance((SLOT + timedelta(minutes=5, seconds=1)).timestamp())
    db = SyncDB(w.engine)
    view = AAAView()
    with w.engine.connect() as conn:
        view.load(load_snapshot(conn, w.box))
    db.writer.on_changes.append(view.apply_local)
    app = SimpleNamespace(db=db, clock=clock, view=view, login_writer=LoginWriter(w.box), stats=Stats())
    conf = load({"accounting": AccountingConfig}, None, {}).accounting
    import dataclasses
    conf = dataclasses.replace(conf, aggregation_chunk=chunk)
    tracker = Tracker(db, clock)
    rrd = FakeRrd()
    # a stand-in with just the parts of Core the jobs use
    return AccountingJobs(cast(Core, app), conf, tracker, rrd), tracker, rrd, clock, app


def ctx(jobs: AccountingJobs, name: str = AGGREGATE) -> JobContext:
    """A context holding the lease on the period after SLOT (as the scheduler's claim gives)."""
    start = SLOT + timedelta(minutes=5)
    c = result_of(jobs.db.write(claim, name, 0, start.isoformat(), start, "test-runner"))
    return JobContext(name, 0, start.isoformat(), start, c.progress, jobs.db, jobs.clock, c.attempt,
                      "test-runner")


def slot_buckets(w: World) -> dict:
    with w.engine.connect() as conn:
        return {r.login_id: (r.octets_in, r.octets_out) for r in conn.execute(
            sa.select(usage).where(usage.c.level == "slot", usage.c.start == SLOT))}


def test_aggregate_job_in_chunks_feeds_tracker_and_rrd(w: World) -> None:
    """The job aggregates every session over several chunks into the previous slot, then feeds RRD."""
    jobs, tracker, rrd, _clock, _app = make(w, chunk=2)
    apply(w, *[start(f"a{i}") for i in range(5)], start("b", "bob"))
    apply(w, *[interim(300, 100, 10, sid=f"a{i}") for i in range(5)], interim(300, 7, 3, sid="b", user="bob"))
    n = jobs.aggregate(ctx(jobs)).result
    assert n == 6 and jobs.last_aggregation["chunks"] == 3
    assert slot_buckets(w) == {w.alice: (500, 50), w.bob: (7, 3)}
    with w.engine.connect() as conn:
        assert conn.execute(sa.select(usage_cycles.c.octets).where(
            usage_cycles.c.login_id == w.alice)).scalar() == 550
    assert sorted(rrd.rows) == sorted([(w.org, w.alice, SLOT, 50, 500), (w.org, w.bob, SLOT, 3, 7)])
    assert jobs.aggregate(ctx(jobs)).result == 0


def test_aggregate_job_through_the_scheduler_is_once_per_period(w: World) -> None:
    """Run by the scheduler, a period is claimed, done, and not aggregated twice."""
    jobs, _t, _r, clock, _app = make(w)
    apply(w, start(), interim(300, 10, 10))
    sched = Scheduler(jobs.db, clock)
    job = Job(AGGREGATE, 300, jobs.aggregate)
    start_ = SLOT + timedelta(minutes=5)
    assert sched.run_period(job, 0, start_.isoformat(), start_).result == "ran"
    apply(w, interim(400, 20, 20))
    assert sched.run_period(job, 0, start_.isoformat(), start_).result == "done"  # not run again
    with w.engine.connect() as conn:
        assert runs(conn, AGGREGATE) == [(0, start_.isoformat(), "done", 1)]
    assert slot_buckets(w) == {w.alice: (10, 10)}


def test_stale_job_closes_and_updates_tracker(w: World) -> None:
    """The stale job closes silent sessions and lowers the open counts."""
    jobs, tracker, _r, clock, _app = make(w)
    apply(w, start("x", interim_interval=60))
    tracker.open = {w.alice: 1}
    clock.advance(3600)
    assert jobs.close_stale(ctx(jobs)).result == 1
    assert tracker.open_count(w.alice) == 0
    assert rows(w)[0].session.terminate_cause == sm.TERMINATE_STALE


def test_quota_subscriber_exhausts_blocking_login(w: World) -> None:
    """The usage.quota_exceeded subscriber sets a block-when-exhausted login to exhausted."""
    jobs, _t, _r, _c, app = make(w)
    ev = Event(1, w.org, "usage.quota_exceeded", QuotaExceeded(w.carol, 2000, 1000, SLOT.isoformat()))
    jobs.db.write(jobs.on_quota_exceeded, ev)
    assert app.view.login_by_id(w.org, w.carol).state == "exhausted"


def test_prune_job(w: World) -> None:
    """The prune job deletes per level by its retention."""
    jobs, _t, _r, clock, _app = make(w)
    apply(w, start(), interim(300, 1, 1))
    jobs.aggregate(ctx(jobs))
    clock.advance(timedelta(days=8).total_seconds())
    assert jobs.prune(ctx(jobs)).result == {"slot": 1, "hour": 0, "day": 0, "sessions": 0}


def test_prune_job_deletes_old_closed_sessions(w: World) -> None:
    """Closed, aggregated sessions older than retention_sessions go; open ones stay."""
    jobs, _t, _r, clock, _app = make(w, chunk=2)
    apply(w, *[start(f"c{i}") for i in range(3)], start("open"))
    apply(w, *[stop(60, 5, 5, sid=f"c{i}") for i in range(3)])
    jobs.aggregate(ctx(jobs))
    clock.advance(timedelta(days=366).total_seconds())
    assert result_of(jobs.prune(ctx(jobs)))["sessions"] == 3
    assert [r.session.session_id for r in rows(w)] == ["open"]


def test_aggregate_job_counts_skipped_rows_and_failures(w: World) -> None:
    """A session with impossible counters is skipped and counted; a failing run is counted and fails."""
    from tests.accounting.test_hygiene import _raw_session
    jobs, _t, _r, _c, app = make(w, chunk=10)
    _raw_session(w, "huge", w.alice, -5, (1 << 63) - 1)
    apply(w, start("b", "bob"), interim(300, 7, 3, sid="b", user="bob"))
    assert jobs.aggregate(ctx(jobs)).result == 2
    assert app.stats.counters["acct_aggregation_skipped_total"][""] == 1
    assert slot_buckets(w) == {w.bob: (7, 3)}

    def broken(*_a: Any, **_k: Any) -> defer.Deferred:
        return defer.fail(RuntimeError("database down"))
    import dataclasses
    d = jobs.aggregate(dataclasses.replace(ctx(jobs), db=SimpleNamespace(write=broken)))
    assert app.stats.counters["acct_aggregation_failures_total"][""] == 1
    d.addErrback(lambda f: f.trap(RuntimeError))
