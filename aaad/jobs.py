"""Periodic jobs: clock-driven, never overlapping, exactly once per period.

A job has a name, an interval and a function.  Time is cut into periods of
``interval`` seconds (UTC, aligned to the epoch); at each tick the
scheduler claims the current period of each due job in ``job_runs``
(unique on job, org, period).  A period whose row says ``done`` never runs
again.  A row left ``running`` by a daemon killed mid-job, or ``failed``,
is resumed: the job gets its last checkpoint back.  A job that must not
repeat work commits it in chunks with :meth:`JobContext.checkpoint`, which
writes the chunk and the new checkpoint in ONE transaction, so after a
crash it continues where the last commit left it and nothing is done twice.

With several instances on PostgreSQL, only the holder of the leader lock
(a session advisory lock) runs jobs and dispatches events.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer, task
from twisted.logger import Logger

from aaad.clock import utcnow
from aaad.orgs import list_all as list_orgs
from aaad.schema import job_runs

log = Logger()

_LEADER_KEY = 0x4141_4144_0002


@dataclass
class Job:
    name: str
    interval: int                                  # seconds
    fn: Callable[["JobContext"], Any]              # may return a Deferred
    per_org: bool = False


@dataclass
class JobContext:
    job: str
    org_id: int
    period: str
    period_start: datetime
    progress: str | None
    db: Any
    clock: Any
    attempt: int = 1

    def checkpoint(self, fn: Callable[..., Any], *args: Any, progress: str) -> defer.Deferred:
        """Run ``fn(conn, *args)`` and store ``progress`` in the same transaction."""
        def thd(conn: Connection) -> Any:
            result = fn(conn, *args)
            conn.execute(job_runs.update().where(
                job_runs.c.job == self.job, job_runs.c.org_id == self.org_id,
                job_runs.c.period == self.period).values(progress=progress))
            return result
        d = self.db.write(thd)
        d.addCallback(lambda r: (setattr(self, "progress", progress), r)[1])
        return d

    def checkpoint_after(self, fn: Callable[..., Any], *args: Any,
                         progress: Callable[[Any], str]) -> defer.Deferred:
        """Like :meth:`checkpoint`, for a chunk whose checkpoint is known only once it
        ran: ``progress(result)`` is stored in the same transaction."""
        def thd(conn: Connection) -> Any:
            result = fn(conn, *args)
            done = progress(result)
            conn.execute(job_runs.update().where(
                job_runs.c.job == self.job, job_runs.c.org_id == self.org_id,
                job_runs.c.period == self.period).values(progress=done))
            return result, done
        d = self.db.write(thd)

        def note(r: tuple[Any, str]) -> Any:
            self.progress = r[1]
            return r[0]
        return d.addCallback(note)


def period_of(now: datetime, interval: int) -> datetime:
    ts = int(now.timestamp())
    return datetime.fromtimestamp(ts - ts % interval, timezone.utc)


def claim(conn: Connection, job: str, org_id: int, period: str, now: datetime) -> tuple[bool, str | None, int]:
    """Claim a period: (run?, checkpoint, attempt).  'done' periods are never claimed."""
    row = conn.execute(sa.select(job_runs).where(job_runs.c.job == job, job_runs.c.org_id == org_id,
                                                 job_runs.c.period == period)).first()
    if row is None:
        conn.execute(job_runs.insert().values(job=job, org_id=org_id, period=period,
                                              status="running", started_at=now, attempts=1))
        return True, None, 1
    if row.status == "done":
        return False, None, row.attempts
    conn.execute(job_runs.update().where(job_runs.c.id == row.id).values(
        status="running", attempts=row.attempts + 1, started_at=now, error=None))
    return True, row.progress, row.attempts + 1


def finish(conn: Connection, job: str, org_id: int, period: str, now: datetime,
           error: str | None = None) -> None:
    conn.execute(job_runs.update().where(job_runs.c.job == job, job_runs.c.org_id == org_id,
                                         job_runs.c.period == period).values(
        status="failed" if error else "done", finished_at=now, error=error))


def runs(conn: Connection, job: str) -> list[tuple[int, str, str, int]]:
    return [(r.org_id, r.period, r.status, r.attempts) for r in conn.execute(
        sa.select(job_runs).where(job_runs.c.job == job).order_by(job_runs.c.id))]


class LeaderLock:
    """Who runs jobs: always us on SQLite; the advisory-lock holder on PostgreSQL."""

    def __init__(self, db: Any):
        self.db = db
        self._conn: Any = None
        self.leader = db.sqlite

    def check(self) -> defer.Deferred:
        if self.db.sqlite or self.leader:
            return defer.succeed(self.leader)

        def thd() -> bool:
            if self._conn is None:
                self._conn = self.db.read_engine.connect()
            got = self._conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                     {"k": _LEADER_KEY}).scalar_one()
            self._conn.commit()
            return bool(got)

        from twisted.internet import threads
        d = threads.deferToThreadPool(self.db.reactor, self.db.pool, thd)

        def got(v: bool) -> bool:
            self.leader = v
            if v:
                log.info("this instance now runs periodic jobs (leader lock taken)")
            return v
        return d.addCallback(got)

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class _State:
    running: bool = False
    last_done: str | None = None


class Scheduler:
    """Runs each job once per period; a job still running is not started again."""

    def __init__(self, db: Any, clock: Any, tick: float = 1.0, leader: LeaderLock | None = None):
        self.db = db
        self.clock = clock
        self.tick_interval = tick
        self.jobs: dict[str, Job] = {}
        self.leader = leader
        self._state: dict[str, _State] = {}
        self._loop: task.LoopingCall | None = None
        self.on_leader: list[Callable[[bool], None]] = []

    def add(self, job: Job) -> None:
        self.jobs[job.name] = job
        self._state[job.name] = _State()

    def start(self) -> None:
        self._loop = task.LoopingCall(self.tick)
        self._loop.clock = self.clock
        self._loop.start(self.tick_interval, now=True).addErrback(
            lambda f: log.failure("scheduler stopped", f))

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    @defer.inlineCallbacks
    def tick(self):  # type: ignore[no-untyped-def]
        if self.leader is not None:
            was = self.leader.leader
            is_leader = yield self.leader.check()
            if is_leader != was:
                for cb in self.on_leader:
                    cb(is_leader)
            if not is_leader:
                return
        now = utcnow(self.clock)
        for job in list(self.jobs.values()):
            st = self._state[job.name]
            start = period_of(now, job.interval)
            key = start.isoformat()
            if st.running or st.last_done == key:
                continue
            st.running = True
            self._run_period(job, st, start, key)

    @defer.inlineCallbacks
    def _run_period(self, job: Job, st: _State, start: datetime, key: str):  # type: ignore[no-untyped-def]
        try:
            org_ids = [0]
            if job.per_org:
                org_ids = [o.id for o in (yield self.db.read(list_orgs))]
            ok = True
            for org_id in org_ids:
                ok = (yield self.run_one(job, org_id, start, key)) and ok
            if ok:
                st.last_done = key
        except Exception:
            log.failure("job {job} failed to schedule", job=job.name)
        finally:
            st.running = False

    @defer.inlineCallbacks
    def run_one(self, job: Job, org_id: int, start: datetime, key: str):  # type: ignore[no-untyped-def]
        """Claim and run one (job, org, period); True when it is done."""
        go, progress, attempt = yield self.db.write(claim, job.name, org_id, key, utcnow(self.clock))
        if not go:
            return True
        ctx = JobContext(job.name, org_id, key, start, progress, self.db, self.clock, attempt)
        try:
            yield defer.maybeDeferred(job.fn, ctx)
        except Exception as e:
            log.failure("job {job} failed (org {org_id}, period {period})",
                        job=job.name, org_id=org_id, period=key)
            yield self.db.write(finish, job.name, org_id, key, utcnow(self.clock),
                                f"{type(e).__name__}: {e}")
            return False
        yield self.db.write(finish, job.name, org_id, key, utcnow(self.clock))
        return True

