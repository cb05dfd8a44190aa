"""Exactly-once jobs on both databases: periods, leases, checkpoints, calendar
schedules per org zone, and the leader lock (synchronous, on a fake clock)."""
from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer, task

from aaad import jobs, orgs
from aaad.clock import utcnow
from aaad.schedules import Daily, Monthly
from tests.helpers import SyncDB

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def clock_at(t: datetime) -> task.Clock:
    c = task.Clock()
    c.advance(t.timestamp())
    return c


def _work_table(engine: Any) -> sa.Table:
    md = sa.MetaData()
    t = sa.Table("job_work", md, sa.Column("chunk", sa.Integer, primary_key=True))
    md.create_all(engine)
    return t


def test_job_runs_once_per_period(engine: Any) -> None:
    """Ticks within a period run the job once; the next period runs it again; a restart
    within the same period does not."""
    clock = clock_at(T0)
    runs: list[str] = []
    s = jobs.Scheduler(SyncDB(engine), clock, tick=1.0)
    s.add(jobs.Job("agg", 300, lambda ctx: runs.append(ctx.period)))
    for _ in range(5):
        s.tick()
        clock.advance(10)
    assert len(runs) == 1
    clock.advance(300)
    s.tick()
    assert len(runs) == 2
    s2 = jobs.Scheduler(SyncDB(engine), clock, tick=1.0)
    s2.add(jobs.Job("agg", 300, lambda ctx: runs.append(ctx.period)))
    s2.tick()
    assert len(runs) == 2


def test_skipped_job_is_never_started_by_the_ticks(engine: Any) -> None:
    """A job named in skip is not run by ticks (the others are), yet run_period still runs it."""
    clock = clock_at(T0)
    runs: list[str] = []
    s = jobs.Scheduler(SyncDB(engine), clock, tick=1.0, skip=frozenset({"dun"}))
    s.add(jobs.Job("dun", 300, lambda ctx: runs.append("dun")))
    s.add(jobs.Job("agg", 300, lambda ctx: runs.append("agg")))
    for _ in range(3):
        s.tick()
        clock.advance(400)
    assert runs == ["agg"] * 3
    key, start = s.jobs["dun"].plan.period_at(utcnow(clock), UTC)
    s.run_period(s.jobs["dun"], 0, key, start)
    assert runs[-1] == "dun"


def test_run_durations_are_observed_by_job_and_outcome(engine: Any) -> None:
    """With a histogram set, a run that took 5 s on the clock lands under (job, ran); a failing one under failed."""
    from aaad.metrics import Stats
    clock = clock_at(T0)
    s = jobs.Scheduler(SyncDB(engine), clock, tick=1.0)
    s.durations = Stats().histogram("t", "doc", ("job", "outcome"), buckets=(1, 10))

    def slow(ctx: jobs.JobContext) -> None:
        clock.advance(5)

    def broken(ctx: jobs.JobContext) -> None:
        raise RuntimeError("no")
    s.add(jobs.Job("slow", 300, slow))
    s.add(jobs.Job("broken", 300, broken))
    for name in ("slow", "broken"):
        key, start = s.jobs[name].plan.period_at(utcnow(clock), UTC)
        s.run_period(s.jobs[name], 0, key, start)
    assert s.durations.series[("slow", "ran")] == [0, 1, 0, 5.0]
    assert s.durations.series[("broken", "failed")][0] == 1


def _chunked(work: sa.Table) -> Any:
    def insert(conn: Any, n: int) -> None:
        conn.execute(work.insert().values(chunk=n))  # a PK: doing a chunk twice would fail

    def job(ctx: jobs.JobContext, die_after: int | None) -> defer.Deferred[None]:
        start = int(ctx.progress or 0)

        @defer.inlineCallbacks
        def run() -> Generator[defer.Deferred[Any], Any, None]:
            for n in range(start, 10):
                if die_after is not None and n == die_after:
                    yield defer.Deferred()  # the process dies here: never resumes, marks nothing
                yield ctx.checkpoint(insert, n, progress=str(n + 1))
        return run()
    return job


def test_job_killed_midway_is_taken_over_after_its_lease(engine: Any) -> None:
    """A runner killed after some chunks holds its lease until it expires; then another
    runner resumes from the checkpoint and every chunk is done exactly once."""
    work = _work_table(engine)
    job = _chunked(work)
    clock = clock_at(T0)
    s = jobs.Scheduler(SyncDB(engine), clock, lease=60)
    s.add(jobs.Job("bill", 3600, lambda ctx: job(ctx, 4)))
    s.tick()
    s2 = jobs.Scheduler(SyncDB(engine), clock, lease=60)   # the restarted daemon
    s2.add(jobs.Job("bill", 3600, lambda ctx: job(ctx, None)))
    assert s2.run_period(s2.jobs["bill"], 0, jobs.period_of(T0, 3600).isoformat(), T0).result == "busy"
    clock.advance(61)
    s2.tick()
    with engine.connect() as c:
        chunks = [r[0] for r in c.execute(sa.select(work.c.chunk).order_by(work.c.chunk))]
        assert jobs.runs(c, "bill") == [(0, jobs.period_of(T0, 3600).isoformat(), "done", 2)]
    assert chunks == list(range(10))


def test_two_runners_one_wins_and_a_lost_lease_cannot_commit(engine: Any) -> None:
    """Of two runners claiming a period, one wins; once its lease expired and another took
    over, its checkpoint and its finish raise LeaseLost and its chunk rolls back."""
    work = _work_table(engine)
    with engine.begin() as c:
        a = jobs.claim(c, "bill", 1, "2026-11-01", T0, "daemon", lease=60)
        b = jobs.claim(c, "bill", 1, "2026-11-01", T0, "cli", lease=60)
    assert a.status == "run" and b.status == "busy" and b.holder == "daemon"
    db = SyncDB(engine)
    clock = clock_at(T0)
    ctx_a = jobs.JobContext("bill", 1, "2026-11-01", T0, None, db, clock, 1, "daemon", 60)
    assert ctx_a.checkpoint(lambda conn: conn.execute(work.insert().values(chunk=1)), progress="1").called
    clock.advance(120)   # the daemon hangs past its lease; the CLI takes over
    with engine.begin() as c:
        b = jobs.claim(c, "bill", 1, "2026-11-01", T0 + timedelta(seconds=120), "cli", lease=60)
    assert (b.status, b.progress, b.attempt) == ("run", "1", 2)
    d = ctx_a.checkpoint(lambda conn: conn.execute(work.insert().values(chunk=2)), progress="2")
    d.addErrback(lambda f: f.trap(jobs.LeaseLost) and None)
    with engine.connect() as c:
        assert [r[0] for r in c.execute(sa.select(work.c.chunk))] == [1]   # chunk 2 rolled back
    with pytest.raises(jobs.LeaseLost), engine.begin() as c:
        jobs.finish(c, "bill", 1, "2026-11-01", T0, owner="daemon")
    with engine.begin() as c:
        jobs.finish(c, "bill", 1, "2026-11-01", T0, owner="cli")
        assert jobs.claim(c, "bill", 1, "2026-11-01", T0, "daemon").status == "done"


def hanging() -> tuple[list[defer.Deferred], Any]:
    """A job function that hangs until the test fires the Deferred it left in the list."""
    pending: list[defer.Deferred] = []

    def slow(ctx: Any) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        pending.append(d)
        return d
    return pending, slow


def test_scheduler_renews_its_lease_while_a_job_runs(engine: Any) -> None:
    """A long job's lease is renewed by the ticks, so nobody takes over a live runner."""
    clock = clock_at(T0)
    pending, slow = hanging()
    s = jobs.Scheduler(SyncDB(engine), clock, lease=30)
    s.add(jobs.Job("slow", 3600, slow))
    s.tick()
    for _ in range(10):
        clock.advance(10)
        s.tick()
    with engine.begin() as c:
        key = jobs.period_of(T0, 3600).isoformat()
        assert jobs.claim(c, "slow", 0, key, T0 + timedelta(seconds=100), "other").status == "busy"
    pending[0].callback(None)


def test_job_does_not_overlap_itself(engine: Any) -> None:
    """A job still running when the next tick (or period) comes is not started again."""
    clock = clock_at(T0)
    pending, slow = hanging()
    s = jobs.Scheduler(SyncDB(engine), clock)
    s.add(jobs.Job("slow", 60, slow))
    s.tick()
    clock.advance(120)
    s.tick()
    assert len(pending) == 1
    stopped: list[Any] = []
    s.stop().addCallback(stopped.append)
    assert stopped == []                    # stop waits for the job in flight
    pending[0].callback(None)
    assert stopped == [None]


def test_calendar_job_runs_per_org_in_its_zone_once_per_local_date(engine: Any) -> None:
    """A daily 02:30 job runs once per local date for each org, in that org's zone, across
    New York's spring-forward and fall-back days; period keys are the local dates."""
    with engine.begin() as c:
        ny = orgs.add(c, "ny", "NY", T0, "America/New_York").id
        utc = orgs.add(c, "utc", "UTC", T0, "UTC").id
    start = datetime(2026, 3, 6, 12, tzinfo=UTC)
    clock = clock_at(start)
    got: list[tuple[int, str, datetime]] = []
    s = jobs.Scheduler(SyncDB(engine), clock)
    s.add(jobs.Job("remind", Daily(time(2, 30)), lambda ctx: got.append(
        (ctx.org_id, ctx.period, ctx.period_start)), per_org=True))
    while clock.seconds() < (start + timedelta(days=4)).timestamp():
        s.tick()
        clock.advance(900)
    ny_runs = [(k, t) for o, k, t in got if o == ny]
    assert [k for k, _ in ny_runs] == ["2026-03-06", "2026-03-07", "2026-03-08", "2026-03-09", "2026-03-10"]
    assert dict(ny_runs)["2026-03-08"] == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)   # 03:00 EDT
    assert [k for o, k, _ in got if o == utc] == ["2026-03-06", "2026-03-07", "2026-03-08", "2026-03-09",
                                                  "2026-03-10"]
    got.clear()
    clock.advance(datetime(2026, 10, 31, 12, tzinfo=UTC).timestamp() - clock.seconds())
    while clock.seconds() < datetime(2026, 11, 2, 12, tzinfo=UTC).timestamp():
        s.tick()
        clock.advance(600)
    assert [k for o, k, _ in got if o == ny] == ["2026-10-31", "2026-11-01", "2026-11-02"]


def test_monthly_job_due_period_and_restart(engine: Any) -> None:
    """A monthly day-31 job is due on Feb 28; after it ran, a restart does not re-run it."""
    with engine.begin() as c:
        orgs.add(c, "isp", "ISP", T0, "Europe/Berlin")
    clock = clock_at(datetime(2027, 2, 28, 12, tzinfo=UTC))
    got: list[str] = []
    for _ in range(2):
        s = jobs.Scheduler(SyncDB(engine), clock)
        s.add(jobs.Job("bill", Monthly(31), lambda ctx: got.append(ctx.period), per_org=True))
        s.tick()
    assert got == ["2027-02-28"]


def test_leader_lock_file_allows_one_holder(tmp_path: Any, engine: Any) -> None:
    """On SQLite the flock on the data directory's lock file admits one leader; closing
    it (the kernel does so when the holder dies) lets the other in."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the lock file decides on SQLite")
    db = SyncDB(engine)
    a, b = jobs.LeaderLock(db, str(tmp_path)), jobs.LeaderLock(db, str(tmp_path))
    assert not a.leader and a.check().result is True
    assert b.check().result is False
    a.release()
    assert b.check().result is True and b.changes == 1
    b.release()


def test_postgres_leader_stops_when_its_session_is_killed(engine: Any) -> None:
    """On PostgreSQL the leader re-checks its advisory lock on its own session: when that
    session is terminated it stops leading at once, and another instance takes over."""
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")

    class Db(SyncDB):
        url = engine.url.render_as_string(hide_password=False)

    a, b = jobs.LeaderLock(Db(engine)), jobs.LeaderLock(Db(engine))
    try:
        assert a._set(a._pg_check()) is True
        assert b._set(b._pg_check()) is False
        assert a._set(a._pg_check()) is True                       # still held: a re-check
        with engine.begin() as c:
            pid = a._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            a._conn.rollback()
            c.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        assert a._set(a._pg_check()) is False and a.changes == 2    # lost: stops at once
        assert b._set(b._pg_check()) is True                        # the other takes over
        assert a._set(a._pg_check()) is False                       # and keeps it
    finally:
        a.release()
        b.release()
