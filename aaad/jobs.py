"""Periodic jobs: clock-driven, never overlapping, exactly once per period.

A job has a name, a schedule (an interval, or a calendar time in each
org's zone: :mod:`aaad.schedules`) and a function.  At each tick the
scheduler claims the due period of each job in ``job_runs`` (unique on
job, org, period).  A period whose row says ``done`` never runs again.

Claims are leases: a conditional UPDATE (or INSERT) checked by its row
count sets ``lease_owner`` (this runner) and ``lease_expires_at``; nobody
else can claim a period while its lease runs, so two runners (a daemon's
scheduler and an ``aaad jobs run`` process included) never run the same
period at once.  A row left ``running`` by a killed runner is taken over
once its lease expired; a ``failed`` one at the next tick: the job gets its
last checkpoint back.  :meth:`JobContext.checkpoint` writes a chunk and the
new checkpoint in ONE transaction, conditional on still holding the lease:
if the lease was lost (another runner took the period over), it raises
:class:`LeaseLost` and the chunk rolls back.  So after a crash a job
continues where its last commit left it and nothing is done twice.  The
scheduler renews its leases while its jobs run.

Only the leader runs jobs and dispatches events (:class:`LeaderLock`): on
SQLite the holder of a ``flock`` on a file in the data directory (the
kernel releases it when the holder dies); on PostgreSQL the holder of a
session advisory lock, re-checked on every tick on the leader's own
connection, so a leader whose session was lost stops at once.
"""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer, threads
from twisted.logger import Logger

from aaad import paging
from aaad.clock import utcnow
from aaad.cycles import zone
from aaad.metrics import Histogram
from aaad.orgs import list_all as list_orgs
from aaad.schedules import Every, Schedule
from aaad.schema import job_runs
from aaad.timer import Timer

log = Logger()

_LEADER_KEY = 0x4141_4144_0002
DEFAULT_LEASE = 300.0


class LeaseLost(Exception):
    """This runner no longer holds the period: its work must not commit."""


def runner_id() -> str:
    """A lease owner id unique to this process (host, pid, random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Job:
    name: str
    schedule: int | Schedule                       # seconds, or a schedule
    fn: Callable[[JobContext], Any]              # may return a Deferred
    per_org: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.schedule, int):
            self.schedule = Every(self.schedule)

    @property
    def plan(self) -> Schedule:
        """``schedule`` as a :class:`Schedule` (an int became :class:`Every` at construction)."""
        assert not isinstance(self.schedule, int)
        return self.schedule


@dataclass
class JobContext:
    job: str
    org_id: int
    period: str          # the key: ISO start of an interval period, or a local date
    period_start: datetime  # when the period began (a calendar run: when it was due)
    progress: str | None
    db: Any
    clock: Any
    attempt: int = 1
    owner: str = ""
    lease: float = DEFAULT_LEASE

    def checkpoint(self, fn: Callable[..., Any], *args: Any, progress: str) -> defer.Deferred[Any]:
        """Run ``fn(conn, *args)`` and store ``progress`` in the same transaction,
        which rolls back (LeaseLost) if this runner lost the period."""
        return self.checkpoint_after(fn, *args, progress=lambda _: progress)

    def checkpoint_after(self, fn: Callable[..., Any], *args: Any,
                         progress: Callable[[Any], str]) -> defer.Deferred[Any]:
        """Like :meth:`checkpoint`, for a chunk whose checkpoint is known only once it
        ran: ``progress(result)`` is stored in the same transaction."""
        def thd(conn: Connection) -> tuple[Any, str]:
            result = fn(conn, *args)
            done = progress(result)
            save_progress(conn, self, done, utcnow(self.clock))
            return result, done

        def note(r: tuple[Any, str]) -> Any:
            self.progress = r[1]
            return r[0]
        d: defer.Deferred[tuple[Any, str]] = self.db.write(thd)
        return d.addCallback(note)


def save_progress(conn: Connection, ctx: JobContext, progress: str, now: datetime) -> None:
    """Store a checkpoint and renew the lease; raise LeaseLost unless ``ctx`` holds it."""
    n = conn.execute(job_runs.update().where(
        job_runs.c.job == ctx.job, job_runs.c.org_id == ctx.org_id, job_runs.c.period == ctx.period,
        job_runs.c.status == "running", job_runs.c.lease_owner == ctx.owner).values(
        progress=progress, lease_expires_at=now + timedelta(seconds=ctx.lease))).rowcount
    if n != 1:
        raise LeaseLost(f"{ctx.job} (org {ctx.org_id}, period {ctx.period}) is no longer ours")


def period_of(now: datetime, interval: int) -> datetime:
    return Every(interval).period_at(now)[1]


@dataclass(frozen=True)
class Claim:
    status: str                  # run | done | busy
    progress: str | None = None
    attempt: int = 0
    holder: str | None = None    # busy: who holds it, until when
    until: datetime | None = None


def _insert_ignore(conn: Connection, values: dict[str, Any]) -> bool:
    """INSERT unless the row exists; whether it inserted (RETURNING: rowcount is unreliable here)."""
    from sqlalchemy.dialects import postgresql, sqlite
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    q = insert(job_runs).values(**values).on_conflict_do_nothing().returning(job_runs.c.id)
    return conn.execute(q).first() is not None


def claim(conn: Connection, job: str, org_id: int, period: str, now: datetime,
          owner: str = "", lease: float = DEFAULT_LEASE) -> Claim:
    """Take the lease on a period unless it is done or another runner's lease runs."""
    until = now + timedelta(seconds=lease)
    key = (job_runs.c.job == job, job_runs.c.org_id == org_id, job_runs.c.period == period)
    if _insert_ignore(conn, {"job": job, "org_id": org_id, "period": period, "status": "running",
                             "started_at": now, "attempts": 1, "lease_owner": owner,
                             "lease_expires_at": until}):
        return Claim("run", None, 1)
    free = sa.or_(job_runs.c.status != "running", job_runs.c.lease_expires_at.is_(None),
                  job_runs.c.lease_expires_at < now, job_runs.c.lease_owner == owner)
    n = conn.execute(job_runs.update().where(*key, job_runs.c.status != "done", free).values(
        status="running", attempts=job_runs.c.attempts + 1, started_at=now, error=None,
        lease_owner=owner, lease_expires_at=until)).rowcount
    row = conn.execute(sa.select(job_runs).where(*key)).one()
    if n == 1:
        return Claim("run", row.progress, row.attempts)
    if row.status == "done":
        return Claim("done", row.progress, row.attempts)
    return Claim("busy", row.progress, row.attempts, row.lease_owner, row.lease_expires_at)


def finish(conn: Connection, job: str, org_id: int, period: str, now: datetime,
           error: str | None = None, owner: str = "") -> None:
    """Mark a period done (or failed); raise LeaseLost if this runner no longer holds it."""
    n = conn.execute(job_runs.update().where(
        job_runs.c.job == job, job_runs.c.org_id == org_id, job_runs.c.period == period,
        job_runs.c.status == "running", job_runs.c.lease_owner == owner).values(
        status="failed" if error else "done", finished_at=now, error=error, lease_expires_at=None)).rowcount
    if n != 1:
        raise LeaseLost(f"{job} (org {org_id}, period {period}) is no longer ours")


def renew(conn: Connection, owner: str, now: datetime, lease: float) -> int:
    """Extend every running lease of ``owner`` (the scheduler's heartbeat)."""
    return conn.execute(job_runs.update().where(job_runs.c.lease_owner == owner,
                                                job_runs.c.status == "running").values(
        lease_expires_at=now + timedelta(seconds=lease))).rowcount


def runs(conn: Connection, job: str) -> list[tuple[int, str, str, int]]:
    return [(r.org_id, r.period, r.status, r.attempts) for r in conn.execute(
        sa.select(job_runs).where(job_runs.c.job == job).order_by(job_runs.c.id))]


@dataclass(frozen=True)
class RunRow:
    job: str
    org_id: int
    period: str
    status: str
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    lease_owner: str | None


def last_runs(conn: Connection) -> dict[tuple[str, int], RunRow]:
    """The latest run of each (job, org)."""
    latest = sa.select(sa.func.max(job_runs.c.id)).group_by(job_runs.c.job, job_runs.c.org_id)
    return {(r.job, r.org_id): RunRow(r.job, r.org_id, r.period, r.status, r.attempts, r.started_at,
                                      r.finished_at, r.error, r.lease_owner)
            for r in conn.execute(sa.select(job_runs).where(job_runs.c.id.in_(latest)))}


def get_run(conn: Connection, job: str, org_id: int, period: str) -> RunRow | None:
    r = conn.execute(sa.select(job_runs).where(job_runs.c.job == job, job_runs.c.org_id == org_id,
                                               job_runs.c.period == period)).first()
    return None if r is None else RunRow(r.job, r.org_id, r.period, r.status, r.attempts, r.started_at,
                                         r.finished_at, r.error, r.lease_owner)


@dataclass(frozen=True)
class JobRun:
    """One (job, org, period) run as an operator sees it."""
    id: int
    job: str
    org_id: int
    period: str
    status: str
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    error: str | None


def _job_run(r: Any) -> JobRun:
    return JobRun(r.id, r.job, r.org_id, r.period, r.status, r.attempts, r.started_at, r.finished_at, r.error)


def get_job_run(conn: Connection, org_id: int, run_id: int) -> JobRun | None:
    """The org's run ``run_id`` (runs of jobs that are not per org, org 0, belong to no org)."""
    r = conn.execute(sa.select(job_runs).where(job_runs.c.org_id == org_id, job_runs.c.id == run_id)).first()
    return None if r is None else _job_run(r)


#: Sort keys of :func:`page_runs` (NOT NULL columns).
RUN_SORTS: dict[str, sa.ColumnElement[Any]] = {"id": job_runs.c.id, "started_at": job_runs.c.started_at}


def page_runs(conn: Connection, org_id: int, *, job: str | None = None, status: str | None = None,
              sort: str = "-id", cursor: str | None = None, limit: int = 50) -> paging.Page[JobRun]:
    """One page of the org's job runs (see :mod:`aaad.paging`), newest first unless asked, of one job
    and in one status (running, done, failed)."""
    query = sa.select(job_runs).where(job_runs.c.org_id == org_id)
    if job is not None:
        query = query.where(job_runs.c.job == job)
    if status is not None:
        query = query.where(job_runs.c.status == status)
    return paging.page(conn, query, sort=sort, columns=RUN_SORTS, id_col=job_runs.c.id, cursor=cursor,
                       limit=limit, row=_job_run)


# -- leadership -------------------------------------------------------------------------

class LeaderLock:
    """Who runs jobs and dispatches events (see the module docstring)."""

    LOCK_FILE = "leader.lock"

    def __init__(self, db: Any, data_dir: str | None = None):
        self.db = db
        self.data_dir = data_dir
        self._fd: int | None = None
        self._conn: Any = None
        self._engine: Any = None
        # SQLite without a data directory (tests): one process, always the leader.
        self.leader = bool(db.sqlite and data_dir is None)
        self.changes = 0

    def check(self) -> defer.Deferred[bool]:
        """Re-check (and try to take) leadership; fires with whether we lead."""
        if self.db.sqlite:
            if self.data_dir is not None and not self.leader:
                self._set(self._flock())
            return defer.succeed(self.leader)
        d = threads.deferToThreadPool(self.db.reactor, self.db.pool, self._pg_check)
        return d.addCallback(self._set)

    def _set(self, leader: bool) -> bool:
        if leader != self.leader:
            self.changes += 1
            if leader:
                log.info("this instance is now the leader: it runs periodic jobs and dispatches events")
            else:
                log.warn("this instance lost the leader lock: it stops running jobs and dispatching events")
        self.leader = leader
        return leader

    def _flock(self) -> bool:
        import fcntl
        path = Path(self.data_dir or ".") / self.LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def _pg_check(self) -> bool:
        """On our own session: do we still hold the advisory lock, or can we take it?"""
        if self.leader and self._conn is not None:
            try:
                held = self._conn.execute(sa.text(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND granted AND classid = :hi AND objid = :lo AND objsubid = 1"),
                    {"hi": _LEADER_KEY >> 32, "lo": _LEADER_KEY & 0xFFFF_FFFF}).first() is not None
                self._conn.rollback()
            except Exception as e:  # noqa: BLE001 - a dead session is "not leader"
                log.warn("leader session lost: {error}", error=e)
                held = False
            if not held:
                self._close()
            return held  # lost: stop now, try to take it again at a later tick
        try:
            if self._engine is None:
                self._engine = sa.create_engine(self.db.url, poolclass=sa.pool.NullPool)
            if self._conn is None:
                self._conn = self._engine.connect()
            got = bool(self._conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                          {"k": _LEADER_KEY}).scalar_one())
            self._conn.commit()
        except Exception as e:  # noqa: BLE001 - the database is away: not leader
            log.warn("cannot take the leader lock: {error}", error=e)
            self._close()
            return False
        return got

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception as e:  # noqa: BLE001 - already dead
                log.debug("closing the leader session: {error}", error=e)
            self._conn = None

    def release(self) -> None:
        self._close()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._fd is not None:
            os.close(self._fd)  # the kernel drops the flock
            self._fd = None
        self.leader = False


# -- the scheduler ------------------------------------------------------------------------

@dataclass
class _State:
    running: bool = False
    done: dict[int, str] = field(default_factory=dict)   # org -> last period known done


class Scheduler:
    """Runs each job once per period; a job still running is not started again."""

    def __init__(self, db: Any, clock: Any, tick: float = 1.0, leader: LeaderLock | None = None,
                 lease: float = DEFAULT_LEASE, owner: str | None = None, skip: frozenset[str] = frozenset()):
        self.db = db
        self.skip = skip          # never started by the ticks (``aaad jobs run`` still runs them)
        self.clock = clock
        self.tick_interval = tick
        self.jobs: dict[str, Job] = {}
        self.leader = leader
        self.lease = lease
        self.owner = owner or runner_id()
        #: Observes each run's seconds by job and outcome (set by the app: /metrics).
        self.durations: Histogram | None = None
        self._state: dict[str, _State] = {}
        self._inflight: set[defer.Deferred[Any]] = set()
        self._renewed = 0.0
        self._zones: dict[str, tzinfo] = {}
        self.timer = Timer(self.tick, tick, clock, "job scheduler")
        self.on_leader: list[Callable[[bool], None]] = []

    def add(self, job: Job) -> None:
        if job.name in self.jobs:
            raise ValueError(f"job {job.name} is registered twice")
        self.jobs[job.name] = job
        self._state[job.name] = _State()

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> defer.Deferred[None]:
        """Stop ticking; fires once the tick and the job runs in progress have ended."""
        d = self.timer.stop()
        inflight = list(self._inflight)
        return d.addCallback(lambda _: defer.DeferredList(inflight)).addCallback(lambda _: None)

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
        if self._inflight and self.clock.seconds() - self._renewed >= self.lease / 3:
            self._renewed = self.clock.seconds()
            yield self.db.write(renew, self.owner, now, self.lease)
        idle = [j for j in self.jobs.values() if not self._state[j.name].running and j.name not in self.skip]
        orgs = (yield self.db.read(list_orgs)) if any(j.per_org for j in idle) else []
        for job in idle:
            st = self._state[job.name]
            todo = [(org_id, key, start) for org_id, key, start in self.due(job, orgs, now)
                    if st.done.get(org_id) != key]
            if todo:
                st.running = True
                d = self._run_periods(job, st, todo)
                self._inflight.add(d)
                d.addBoth(self._forget, d)

    def _forget(self, _result: object, d: defer.Deferred[Any]) -> None:
        """``d`` (a run of periods) has ended: no longer in flight."""
        self._inflight.discard(d)

    def zone_of(self, org: Any) -> tzinfo:
        return zone(org.timezone, self._zones) if org is not None else UTC

    def due(self, job: Job, orgs: list[Any], now: datetime) -> list[tuple[int, str, datetime]]:
        """(org, period key, period start) of the period each org of ``job`` is in at ``now``."""
        targets = [(o.id, o) for o in orgs] if job.per_org else [(0, None)]
        out = []
        for org_id, org in targets:
            key, start = job.plan.period_at(now, self.zone_of(org))
            out.append((org_id, key, start))
        return out

    @defer.inlineCallbacks
    def _run_periods(self, job: Job, st: _State, todo: list[tuple[int, str, datetime]]):  # type: ignore[no-untyped-def]
        try:
            for org_id, key, start in todo:
                outcome = yield self.run_period(job, org_id, key, start)
                if outcome in ("ran", "done"):
                    st.done[org_id] = key
        except Exception:  # noqa: BLE001 - logged; the next tick retries
            log.failure("job {job} failed to schedule", job=job.name)
        finally:
            st.running = False

    @defer.inlineCallbacks
    def run_period(self, job: Job, org_id: int, key: str, start: datetime):  # type: ignore[no-untyped-def]
        """Claim and run one (job, org, period): 'ran', 'done' (before), 'busy' (another
        runner holds it), 'failed' or 'lost' (another runner took it over)."""
        t0 = self.clock.seconds()
        outcome = yield self._run_period(job, org_id, key, start)
        if self.durations is not None and outcome in ("ran", "failed", "lost"):
            self.durations.observe(self.clock.seconds() - t0, job.name, outcome)
        return outcome

    @defer.inlineCallbacks
    def _run_period(self, job: Job, org_id: int, key: str, start: datetime):  # type: ignore[no-untyped-def]
        c = yield self.db.write(claim, job.name, org_id, key, utcnow(self.clock), self.owner, self.lease)
        if c.status != "run":
            return c.status
        ctx = JobContext(job.name, org_id, key, start, c.progress, self.db, self.clock, c.attempt,
                         self.owner, self.lease)
        try:
            yield defer.maybeDeferred(job.fn, ctx)
        except LeaseLost as e:
            log.warn("job {job}: {error}; its runner stops", job=job.name, error=e)
            return "lost"
        except Exception as e:  # noqa: BLE001 - logged and recorded in job_runs
            log.failure("job {job} failed (org {org_id}, period {period})",
                        job=job.name, org_id=org_id, period=key)
            try:
                yield self.db.write(finish, job.name, org_id, key, utcnow(self.clock),
                                    f"{type(e).__name__}: {e}", self.owner)
            except LeaseLost:
                return "lost"
            return "failed"
        try:
            yield self.db.write(finish, job.name, org_id, key, utcnow(self.clock), None, self.owner)
        except LeaseLost as e:
            log.warn("job {job}: {error}; its result is not recorded", job=job.name, error=e)
            return "lost"
        log.debug("job {job} done (org {org_id}, period {period})", job=job.name, org_id=org_id,
                 period=key)
        return "ran"
