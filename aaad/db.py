"""Database access: engines, the read pool and the single writer thread.

Queries are small functions ``fn(conn, *args) -> dataclass`` run on a thread;
no SQLAlchemy result ever crosses back to the reactor (the Buildbot
pattern).  Reads run on a small thread pool.  Writes go through one writer
thread that takes everything queued, runs it in ONE transaction and commits
once (group commit): a burst of accounting requests costs a few commits, not
thousands.  If an operation in a batch fails, the batch is rolled back and
split in halves, each re-run as its own transaction, so one bad write fails
only its own caller and costs the others about 2·log2(n) transactions; a
database that cannot write at all (down, full, read-only) fails the batch
at once, and the queue in front of the writer is capped so an outage never
grows memory (see :class:`Writer`).
"""
from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python import failure
from twisted.python.threadpool import ThreadPool

from aaad.faults import POISON_ENV, poisoned

log = Logger()
T = TypeVar("T")

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (UTC).

    Naive datetimes are refused: domain code must say what zone it means.
    """
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _InIds(sa.sql.expression.ColumnElement[bool]):
    """``column IN (:name)`` for a list bound at execution: see :func:`in_list`."""
    inherit_cache = True
    type: Any = sa.types.NullType()   # not Boolean: SQLite would get "IN (...) = 1"
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("name", InternalTraversal.dp_string)]

    def __init__(self, column: sa.ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


def in_list(column: sa.ColumnElement[Any], name: str = "ids") -> sa.ColumnElement[bool]:
    """``column`` is one of the list bound as ``name`` when the statement runs.

    On PostgreSQL it is ``column = ANY(:name)`` with the list sent as one array parameter, so the
    statement's text is the same for every list (psycopg converts it once and prepares it after a
    few runs, the server parses and plans it once); elsewhere SQLAlchemy's expanding IN, whose text
    is rendered anew for each list length.  Build statements with it once, at import."""
    return _InIds(column, name)


@compiles(_InIds)
def _in_expanding(el: _InIds, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(el.column.in_(sa.bindparam(el.name, expanding=True, type_=el.column.type)), **kw))


@compiles(_InIds, "postgresql")
def _in_any(el: _InIds, compiler: Any, **kw: Any) -> str:
    array = sa.bindparam(el.name, type_=postgresql.ARRAY(el.column.type))
    return str(compiler.process(el.column == sa.any_(array), **kw))


def sqlite_time(v: datetime | None) -> str | None:
    """A :class:`UTCDateTime` column's value as SQLite stores it: naive UTC text with microseconds
    (what UTCDateTime and SQLAlchemy's SQLite DATETIME give; naive datetimes refused alike)."""
    if v is None:
        return None
    if v.tzinfo is None:
        raise ValueError(f"naive datetime {v!r}: pass an aware (UTC) datetime")
    if v.utcoffset():
        v = v.astimezone(UTC)
    return v.replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_parse_time(v: str | None) -> datetime | None:
    """The aware (UTC) datetime of a UTCDateTime column's SQLite text."""
    return None if v is None else datetime.fromisoformat(v).replace(tzinfo=UTC)


# Per-transaction notes, kept in ``conn.info[TX]`` (a dict) and reset at the
# start of every transaction the writer runs (also each re-run of a failed
# batch's parts), so nothing noted by a rolled-back attempt survives:
#   PUBLISHED: events.publish was called, so wake the dispatcher after commit;
#   CHANGES: (change, entity) pairs from aaad.changes.record, applied to the
#   local AAA view after commit, before the batch's Deferreds fire.
TX = "aaad.tx"
PUBLISHED = "published"
CHANGES = "changes"


def begin_tx(conn: Connection) -> dict[str, Any]:
    """Start a fresh per-transaction notes dict on ``conn`` and return it."""
    notes: dict[str, Any] = {}
    conn.info[TX] = notes
    return notes


def tx_notes(conn: Connection) -> dict[str, Any]:
    """The current transaction's notes; outside the writer (CLI, tests) a
    throwaway dict, since nobody there acts on them after commit."""
    notes = conn.info.get(TX)
    return {} if notes is None else notes

# A 64-bit primary key that still auto-increments on SQLite (only INTEGER
# PRIMARY KEY aliases the rowid there).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def default_url(data_dir: str) -> str:
    return f"sqlite:///{Path(data_dir).resolve() / 'aaad.db'}"


def is_sqlite(url_or_engine: str | Engine) -> bool:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else sa.make_url(url_or_engine)
    return url.get_backend_name() == "sqlite"


#: How often a polling SQLite writer (:func:`make_engine` ``lock_poll``) asks for the write lock
#: while another process holds it, in ms.
LOCK_POLL_MS = 1


def begin_polling(dbapi_conn: sqlite3.Connection, begin: str, busy_timeout_ms: int) -> None:
    """``begin`` (BEGIN IMMEDIATE) on a SQLite connection, asking for the write lock every
    :data:`LOCK_POLL_MS` while another process holds it, for at most ``busy_timeout_ms``.

    SQLite's own busy handler backs off to one try every 50-100 ms after the first 100 ms of a wait,
    so a writer waiting on a process that commits chunk after chunk (``aaad jobs run``) got in only
    when one of its tries happened to fall between two chunks: with 170 ms chunks back to back and
    accounting at 1,000/s the daemon's writer did not commit for seconds (acknowledgements timed
    out), with 5 ms between chunks its p99 was 2 s, with 20 ms 0.3-0.9 s.  Polling every
    millisecond, it takes the lock in the first gap of a millisecond or more (a job leaves
    ``[database] job_commit_gap_ms``).  Raises the last ``database is locked`` once the time is up.
    """
    deadline = None
    dbapi_conn.execute(f"PRAGMA busy_timeout={LOCK_POLL_MS}")
    try:
        while True:
            try:
                dbapi_conn.execute(begin)
                return
            except sqlite3.OperationalError as e:
                if getattr(e, "sqlite_errorcode", sqlite3.SQLITE_BUSY) & 0xFF != sqlite3.SQLITE_BUSY:
                    raise      # not the lock (extended codes such as SQLITE_BUSY_RECOVERY are the lock too)
                now = time.monotonic()
                if deadline is None:
                    deadline = now + busy_timeout_ms / 1000
                elif now >= deadline:
                    raise
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")


def make_engine(url: str, *, write: bool = False, synchronous: str = "NORMAL",
                busy_timeout_ms: int = 10000, pool_size: int = 5, connect_timeout: int = 10,
                statement_timeout_ms: int = 0, lock_poll: bool = False) -> Engine:
    """An engine with aaad's connection settings.

    SQLite: WAL, a busy timeout (so a CLI write waits for the daemon instead
    of failing), the chosen ``synchronous`` level, foreign keys on, and
    explicit ``BEGIN`` handling (``BEGIN IMMEDIATE`` for writers so a
    transaction never has to upgrade its lock and fail with SQLITE_BUSY).

    PostgreSQL: a connect timeout and TCP keepalives, so a database host that
    vanished fails a connection instead of hanging its thread for ever, and
    optionally a statement timeout.  A reader (``write`` false) runs in
    autocommit: under READ COMMITTED each statement sees its own snapshot
    with or without a transaction, so BEGIN and ROLLBACK were two round
    trips a read for nothing; and it pings a pooled connection only when it
    has been idle :data:`PING_IDLE_SECONDS` (a busy connection is alive, and
    a disconnect found in use invalidates the whole pool anyway): a read of
    N statements is N round trips instead of N + 3.

    ``lock_poll`` (a SQLite writer): BEGIN IMMEDIATE asks for the lock every millisecond while
    another process holds it (:func:`begin_polling`), instead of SQLite's backing-off handler.
    """
    if is_sqlite(url):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            poolclass=sa.pool.QueuePool, pool_size=pool_size, max_overflow=pool_size)
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        if write and lock_poll:
            @event.listens_for(engine, "begin")
            def _begin_polling(conn: Connection) -> None:
                try:
                    begin_polling(conn.connection.dbapi_connection, begin, busy_timeout_ms)  # type: ignore[arg-type]
                except sqlite3.Error as e:   # as SQLAlchemy raises it from exec_driver_sql (callers classify that)
                    raise sa.exc.DBAPIError.instance(begin, (), e, sqlite3.Error) from e
        else:
            @event.listens_for(engine, "begin")
            def _begin(conn: Connection) -> None:
                conn.exec_driver_sql(begin)
        return engine
    args: dict[str, Any] = {"connect_timeout": connect_timeout, "keepalives": 1, "keepalives_idle": 10,
                            "keepalives_interval": 5, "keepalives_count": 3}
    if statement_timeout_ms:
        args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    if write:
        return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                                pool_timeout=max(connect_timeout, 1), connect_args=args)
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, isolation_level="AUTOCOMMIT",
                              pool_timeout=max(connect_timeout, 1), connect_args=args)
    _ping_when_idle(engine)
    return engine


#: A reader's pooled connection idle this long is pinged before use (``SELECT 1``).
PING_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection at checkout if it was checked in more than :data:`PING_IDLE_SECONDS` ago; a
    failed ping makes the pool replace it (SQLAlchemy's pessimistic disconnect handling)."""
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as e:
            raise sa.exc.DisconnectionError(f"stale connection: {e}") from e


# -- failures: which ones a re-run or a bisection can help ----------------------

#: A failure worth retrying the whole batch for: SQLITE_BUSY / SQLITE_LOCKED,
#: a PostgreSQL serialization failure or deadlock.
TRANSIENT = "transient"
#: The database cannot take writes at all (down, disk full, read-only, I/O
#: error): bisecting would only repeat the failure, so the batch fails whole.
ENVIRONMENT = "environment"
#: Something in the batch's operations failed: isolate it by halving.
OPERATION = "operation"

# SQLite primary result codes (https://sqlite.org/rescode.html).
_SQLITE_TRANSIENT = frozenset({5, 6})                          # BUSY, LOCKED
# PERM, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB
_SQLITE_ENVIRONMENT = frozenset({3, 7, 8, 10, 11, 13, 14, 26})
# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected; then the classes
# connection exception, insufficient resources (disk full), operator intervention
# (shutdown, statement timeout), system error, internal error.
_PG_TRANSIENT = frozenset({"40001", "40P01"})
_PG_ENVIRONMENT_CLASSES = frozenset({"08", "53", "57", "58", "XX"})
_PG_READ_ONLY = "25006"
_PG_QUERY_CANCELED = "57014"


def classify(exc: BaseException) -> str:
    """Say whether a failed write transaction is :data:`TRANSIENT`,
    :data:`ENVIRONMENT` or :data:`OPERATION` (see each)."""
    if isinstance(exc, (sa.exc.DisconnectionError, sa.exc.TimeoutError)):
        return ENVIRONMENT
    orig: Any = exc
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return ENVIRONMENT
        orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is None:
            return TRANSIENT if "locked" in str(orig) else OPERATION
        if code & 0xFF in _SQLITE_TRANSIENT:
            return TRANSIENT
        return ENVIRONMENT if code & 0xFF in _SQLITE_ENVIRONMENT else OPERATION
    if type(orig).__module__.split(".")[0] == "psycopg":
        state = getattr(orig, "sqlstate", None)
        if state is None:  # raised by the client library itself
            return ENVIRONMENT if type(orig).__name__ in ("OperationalError", "InterfaceError") else OPERATION
        if state in _PG_TRANSIENT:
            return TRANSIENT
        if state == _PG_QUERY_CANCELED:  # statement_timeout: one slow operation, not the database
            return OPERATION
        if state[:2] in _PG_ENVIRONMENT_CLASSES or state == _PG_READ_ONLY:
            return ENVIRONMENT
    return OPERATION


def _failure(exc: BaseException | None = None, *, clean: bool = False) -> failure.Failure:
    """A Failure of ``exc`` (None: of the exception being handled), with ``clean``
    stripped of its references to frames; the one place that calls Twisted's
    unannotated Failure API."""
    f = failure.Failure(exc)  # type: ignore[no-untyped-call]  # unannotated in Twisted
    if clean:
        f.cleanFailure()  # type: ignore[no-untyped-call]  # unannotated in Twisted
    return f


class WriterFull(Exception):
    """The writer already holds ``queue_max`` operations: this one was refused
    at once instead of queued (a database outage must not grow memory)."""


class WriterStopped(Exception):
    """The writer was stopped before it ran the operation."""


@dataclass
class _Op:
    fn: Callable[..., Any] | None
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    d: defer.Deferred[Any]
    result: Any = None
    kind: str | None = None   # a registered batch handler's name (then args == (item,))
    background: bool = False  # nobody waits on it (the auth log): may run at a lower CPU priority


@dataclass
class WriterHealth:
    """What the writer knows about its own state, for /healthz."""
    pending: int              # operations submitted and not yet answered
    queue_max: int
    last_commit: float | None  # clock seconds of the last successful commit
    last_error: str | None    # the last transaction's failure, if it could not commit at all
    busy_for: float           # seconds the running transaction has been going (0: idle)

    def problems(self, stall_seconds: float) -> list[str]:
        """Why the writer cannot commit right now, if it cannot."""
        out = []
        if self.last_error is not None:
            out.append(f"last commit failed: {self.last_error}")
        if self.pending >= self.queue_max:
            out.append(f"queue full ({self.pending} operations waiting)")
        if self.busy_for >= stall_seconds:
            out.append(f"a transaction has been running for {self.busy_for:.0f}s "
                       f"({self.pending} operations waiting)")
        return out


def nicer_threads(raise_by: int) -> Callable[..., threading.Thread]:
    """A ``threading.Thread`` factory whose threads run ``raise_by`` nicer than the process (Linux:
    a nice value is per thread; raising it needs no privilege).  For thread pools whose work no
    RADIUS request waits on, so that on a shared core the kernel gives the reactor the CPU first."""
    def factory(*args: Any, **kwargs: Any) -> threading.Thread:
        t = threading.Thread(*args, **kwargs)
        run = t.run

        def nicer_run() -> None:
            if raise_by > 0 and hasattr(os, "setpriority"):
                tid = threading.get_native_id()
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + raise_by, 19))
            run()
        t.run = nicer_run  # type: ignore[method-assign]
        return t
    return factory


#: How a background batch lowers the writer's priority: SCHED_IDLE (a thread any other runnable thread
#: preempts at once), or a higher nice value (still a share of the core: about a tenth at +10).
IDLE = "idle"
NICE = "nice"


class _ThreadPriority:
    """A thread's CPU priority, switched between its own and a background one (Linux: policy and
    nice value are per thread).  Background is SCHED_IDLE (``idle``) or ``raise_by`` nicer.  Off
    when ``raise_by`` is 0, or when the thread could not get its own priority back (that needs
    CAP_SYS_NICE or RLIMIT_NICE): it never stays lowered.  :meth:`set` may be called from another
    thread (the reactor raising the writer back when a write someone waits on is queued)."""

    def __init__(self, raise_by: int, mode: str = IDLE):
        self.on = False
        self.low = False
        if raise_by <= 0 or not hasattr(os, "setpriority"):
            return
        self.idle = mode == IDLE and hasattr(os, "SCHED_IDLE")
        self.tid = threading.get_native_id()
        self.base = os.getpriority(os.PRIO_PROCESS, self.tid)
        self.nicer = min(self.base + raise_by, 19)
        try:
            self._apply(True)
            self._apply(False)
        except OSError as e:
            with contextlib.suppress(OSError):
                self._apply(False)
            log.info("database writer: background priority off ({err})", err=e)
            return
        self.on = True

    def _apply(self, low: bool) -> None:
        if self.idle:
            os.sched_setscheduler(self.tid, os.SCHED_IDLE if low else os.SCHED_OTHER, os.sched_param(0))
        else:
            os.setpriority(os.PRIO_PROCESS, self.tid, self.nicer if low else self.base)

    def set(self, low: bool) -> None:
        if self.on and low != self.low:
            try:
                self._apply(low)
            except OSError as e:   # never fail a write (or the writer thread) over its priority
                self.on = False
                with contextlib.suppress(OSError):
                    self._apply(False)
                log.warn("database writer: background priority off ({err})", err=e)
                return
            self.low = low


class Writer:
    """One thread that runs write operations in batches, one commit per batch.

    A batch that fails is retried whole on a transient failure (lock
    contention, serialization failure), failed whole when the database
    cannot write at all, and otherwise split in halves, each re-run as its
    own transaction, recursively: one bad operation among n costs about
    2·log2(n) extra transactions and fails only its own caller.  Items of
    a batch handler are split like any other operations.

    At most ``queue_max`` operations wait at a time; beyond that ``run`` and
    ``submit`` fail at once with :class:`WriterFull`.  ``after_commit``
    callbacks (run on the reactor) let others react to a committed batch,
    e.g. the event dispatcher polls the outbox at once.

    A batch made only of background operations (:meth:`run_background`: the
    auth log, which no request waits on) runs at a background priority
    (``background_sched``: SCHED_IDLE, or the nice value raised by
    ``background_nice``), so that on a shared core the kernel hands the CPU
    to the reactor the moment a RADIUS request arrives instead of after the
    writer's time slice.  Nice +10 still left the auth log's SQLite work
    holding the core for a few ms at a time: open-loop PAP p99 at 19,000/s
    was 2.2-2.6 ms against FreeRADIUS's 1.6-1.7; under SCHED_IDLE 1.1-2.0
    (median 1.3) against 1.1-1.4.  Any other batch runs at the thread's own
    priority: accounting, billing and events are answered only after their
    commit and keep their full share.  A write of that kind queued while a
    background batch runs raises the thread back at once (the batch holds
    the database's write lock, and a starved holder would stall it).  An
    operation doing bulk work nobody waits on now (a mass event's delivery)
    may lower the rest of its batch the same way (:func:`bulk_work`).
    """

    _STOP = object()

    def __init__(self, engine: Engine, reactor: Any, batch_max: int = 1000,
                 queue_max: int = 20000, retries: int = 3, backoff: float = 0.05,
                 sleep: Callable[[float], None] = time.sleep, background_nice: int = 0,
                 background_sched: str = IDLE, commit_gap: float = 0.0):
        self.engine = engine
        #: seconds the thread pauses after each committed batch (a CLI job on SQLite: the daemon's
        #: writer, polling for the lock, gets it between two chunks; see ``job_commit_gap_ms``)
        self.commit_gap = commit_gap
        self.background_nice = background_nice
        self.background_sched = background_sched
        self._prio: _ThreadPriority | None = None   # the writer thread's, once it runs
        self._waited_on = 0  # queued operations someone waits on (not background), not yet taken
        self._batch_waited = 0  # of the running batch's operations, those someone waits on
        self.reactor = reactor
        self.batch_max = batch_max
        self.queue_max = queue_max
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()  # an _Op, or _STOP
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        # Run on the reactor after a batch that published events (the dispatcher's poke).
        self.after_commit: list[Callable[[], None]] = []
        # Run on the reactor after a batch that recorded AAA changes, with the
        # (change, entity) pairs, before the batch's Deferreds fire.
        self.on_changes: list[Callable[[list[Any]], None]] = []
        self.handlers: dict[str, Callable[[Connection, list[Any]], list[Any]]] = {}
        self.checks: dict[str, Callable[[Any], None]] = {}
        self.batches = 0          # transactions committed
        self.ops = 0              # operations committed
        self.failed_ops = 0       # operations answered with a failure
        self.retried = 0          # transactions re-run after a transient failure
        self.splits = 0           # failed batches split in halves
        self.refused = 0          # operations refused by the queue cap
        self.last_commit: float | None = None
        self.last_error: str | None = None
        self._busy_since: float | None = None
        self.stop_timed_out = False
        self._poison = os.environ.get(POISON_ENV, "")  # test-only (aaad.faults)

    def register_batch(self, kind: str, fn: Callable[[Connection, list[Any]], list[Any]],
                       check: Callable[[Any], None] | None = None) -> None:
        """Register ``fn(conn, items) -> results`` (one result per item, same order).

        Items submitted under ``kind`` that land next to each other in a batch
        are handed to ``fn`` together, so it can use one multi-row statement
        for many requests (accounting's group commit).  ``check(item)``, if
        given, runs before the transaction; an item it raises on fails alone
        without costing the batch anything.
        """
        if self._poison:
            fn = poisoned(fn, self._poison)
        self.handlers[kind] = fn
        if check is not None:
            self.checks[kind] = check

    def submit(self, kind: str, item: Any) -> defer.Deferred[Any]:
        """Queue ``item`` for the batch handler ``kind``; fires after commit."""
        if kind not in self.handlers:
            return defer.fail(KeyError(f"no batch handler {kind!r}"))
        return self._enqueue(_Op(None, (item,), {}, defer.Deferred(), kind=kind))

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> defer.Deferred[T]:
        """Queue ``fn(conn, *args, **kwargs)``; fires with its result after commit."""
        return self._enqueue(_Op(fn, args, kwargs, defer.Deferred()))

    def run_background(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Like :meth:`run`, for a write nobody waits on: in a batch of such writes only, the
        thread runs at its background priority (see the class)."""
        return self._enqueue(_Op(fn, args, {}, defer.Deferred(), background=True))

    def _enqueue(self, op: _Op) -> defer.Deferred[Any]:
        with self._lock:
            if self._closed:
                return defer.fail(WriterStopped("the database writer is stopped"))
            if self._pending >= self.queue_max:
                self.refused += 1
                return defer.fail(WriterFull(f"{self._pending} write operations already waiting"))
            self._pending += 1
            if not op.background:
                self._waited_on += 1
                prio = self._prio
                if prio is not None and prio.low:
                    prio.set(False)  # the running background batch holds the write lock: raise it now
        self._q.put(op)
        return op.d

    @property
    def pending(self) -> int:
        return self._pending

    def health(self) -> WriterHealth:
        busy = self._busy_since
        return WriterHealth(self._pending, self.queue_max, self.last_commit, self.last_error,
                            0.0 if busy is None else max(0.0, self.reactor.seconds() - busy))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="aaad-db-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> defer.Deferred[None]:
        """Finish what is queued, then stop the thread.

        With ``timeout``, give up waiting after that many seconds (a hung
        database): what is still queued fails with :class:`WriterStopped`
        and ``stop_timed_out`` is set; the thread is a daemon and dies with
        the process.
        """
        with self._lock:
            self._closed = True
        if self._thread is None:
            return defer.succeed(None)
        self._q.put(self._STOP)
        t, self._thread = self._thread, None

        def joined(alive: bool) -> None:
            if alive:
                self.stop_timed_out = True
                n = self._fail_queued(WriterStopped("the database writer was stopped while the database hung"))
                log.warn("database writer did not finish within {timeout}s; {n} queued operations failed",
                         timeout=timeout, n=n)
        return join_thread(self.reactor, t, timeout).addCallback(joined)

    def _fail_queued(self, exc: Exception) -> int:
        n = 0
        while True:
            try:
                op = self._q.get_nowait()
            except queue.Empty:
                return n
            if op is not self._STOP:
                n += 1
                self._settle([op], _failure(exc))

    def lower_priority(self) -> None:
        """On the writer thread, inside an operation: run the rest of this batch at the background
        priority if this operation is the batch's only one someone waits on and none waits in the
        queue (a write queued later raises the thread back, as for a background batch)."""
        with self._lock:
            prio = self._prio
            if prio is not None and self._batch_waited <= 1 and self._waited_on == 0:
                prio.set(True)

    def _loop(self) -> None:
        _on_writer.writer = self
        prio = _ThreadPriority(self.background_nice, self.background_sched)
        with self._lock:
            self._prio = prio
        stopping = False
        down = 0  # consecutive batches that failed for a database-wide reason
        while not stopping:
            item = self._q.get()
            if item is self._STOP:
                break
            batch = [item]
            while len(batch) < self.batch_max:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is self._STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._busy_since = self.reactor.seconds()
            waited_on = sum(1 for op in batch if not op.background)
            with self._lock:  # against _enqueue: a write queued meanwhile must find the thread raised
                self._waited_on -= waited_on
                self._batch_waited = waited_on
                prio.set(waited_on == 0 and self._waited_on == 0)
            try:
                self._run_batch(batch)
            except Exception:  # never lose the thread (and every later write with it)
                log.failure("database writer: unexpected error")
                self._fail(batch, _failure())
            finally:
                self._busy_since = None
            if self.last_error is None:
                down = 0
                if self.commit_gap and not stopping:
                    self._sleep(self.commit_gap)
            elif not stopping:
                # The database cannot write: wait a little before the next
                # attempt (what arrives meanwhile fails with it), so an outage
                # is not a storm of connection attempts.
                self._sleep(min(self.backoff * 2 ** down, 1.0))
                down = min(down + 1, 10)

    def _run_batch(self, batch: list[_Op]) -> None:
        """Run a batch: cheap checks first, then the transaction, isolating failures."""
        ok = []
        for op in batch:
            check = self.checks.get(op.kind) if op.kind is not None else None
            if check is not None:
                try:
                    check(op.args[0])
                except Exception:
                    self._fail([op], _failure())
                    continue
            ok.append(op)
        if ok:
            self._isolate(ok)

    def _isolate(self, ops: list[_Op]) -> bool:
        """Commit ``ops`` or find what fails by halving; False if the database
        itself failed (then every op left in ``ops`` has failed too)."""
        notes, f, kind = self._attempt(ops)
        if f is None:
            self._committed(ops, notes)
            return True
        if kind == ENVIRONMENT or len(ops) == 1:
            self._fail(ops, f)
            return kind != ENVIRONMENT
        self.splits += 1
        mid = len(ops) // 2
        if not self._isolate(ops[:mid]):
            self._fail(ops[mid:], _failure(WriterUnavailable(self.last_error or "database failed")))
            return False
        return self._isolate(ops[mid:])

    def _attempt(self, ops: list[_Op]) -> tuple[dict[str, Any], failure.Failure | None, str]:
        """One transaction over ``ops``, re-run after transient failures."""
        for attempt in range(self.retries + 1):
            phase = "begin"
            try:
                with self.engine.begin() as conn:
                    notes = begin_tx(conn)
                    phase = "run"
                    self._run_ops(conn, ops)
                    conn.info.pop(TX, None)
                    phase = "commit"
                self.last_commit = self.reactor.seconds()
                self.last_error = None
                return notes, None, ""
            except Exception as e:
                f = _failure(clean=True)
                kind = classify(e)
                if kind == OPERATION and phase != "run":
                    kind = ENVIRONMENT  # failing to begin or commit is not an operation's fault
                if kind == TRANSIENT and attempt < self.retries:
                    self.retried += 1
                    self._sleep(self.backoff * 2 ** attempt)
                    continue
                if kind != OPERATION:
                    self.last_error = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
                    kind = ENVIRONMENT
                return {}, f, kind
        raise AssertionError("unreachable")

    def _run_ops(self, conn: Connection, ops: list[_Op]) -> None:
        """Run ops in submission order; neighbouring items of one handler in one call."""
        i, n = 0, len(ops)
        while i < n:
            op = ops[i]
            if op.kind is None:
                op.result = op.fn(conn, *op.args, **op.kwargs)  # type: ignore[misc]
                i += 1
                continue
            j = i + 1
            while j < n and ops[j].kind == op.kind:
                j += 1
            run = ops[i:j]
            results = self.handlers[op.kind](conn, [o.args[0] for o in run])
            if len(results) != len(run):
                raise RuntimeError(f"batch handler {op.kind!r} returned {len(results)} results for {len(run)} items")
            for o, r in zip(run, results, strict=True):  # same length: checked above
                o.result = r
            i = j

    def _committed(self, ops: list[_Op], notes: dict[str, Any]) -> None:
        self.batches += 1
        self.ops += len(ops)
        # One hop to the reactor for the whole batch, not one per operation.
        self.reactor.callFromThread(self._deliver_batch, ops, notes)

    def _fail(self, ops: list[_Op], f: failure.Failure) -> None:
        self.failed_ops += len(ops)
        self.reactor.callFromThread(self._settle, ops, f)

    def _settle(self, ops: list[_Op], f: failure.Failure) -> None:
        with self._lock:
            self._pending -= len(ops)
        for op in ops:
            op.d.errback(f)

    def _deliver_batch(self, batch: list[_Op], notes: dict[str, Any]) -> None:
        with self._lock:
            self._pending -= len(batch)
        changed = notes.get(CHANGES)
        if changed:
            for cb in self.on_changes:
                try:
                    cb(changed)
                except Exception:
                    log.failure("on-changes callback failed")
        for op in batch:
            op.d.callback(op.result)
        if notes.get(PUBLISHED):
            self._fire_after_commit()

    def _fire_after_commit(self) -> None:
        for cb in list(self.after_commit):
            try:
                cb()
            except Exception:
                log.failure("after-commit callback failed")


_on_writer = threading.local()   # .writer: the Writer whose thread this is


def bulk_work() -> None:
    """Say, inside a write operation about to do bulk work nobody waits on now (a mass event's
    thousands of rows), that the rest of its batch may run at the writer's background priority
    (:meth:`Writer.lower_priority`): on a core shared with the reactor the kernel then hands
    the CPU to RADIUS first.  Elsewhere (another thread, a plain engine) it does nothing."""
    w = getattr(_on_writer, "writer", None)
    if w is not None:
        w.lower_priority()


class WriterUnavailable(Exception):
    """The database failed while the writer was isolating a failed batch's
    parts; this part was never tried."""


def refused(exc: BaseException) -> bool:
    """True if a write failed for its own operation: the writer isolated it
    (a value the database refuses, a broken constraint, a bug in its
    handler), so running it again now fails again.  False if the database
    or the writer failed it (down, busy, full, stopping): then a retry may
    well succeed."""
    return not isinstance(exc, (WriterFull, WriterStopped, WriterUnavailable)) and classify(exc) == OPERATION


def join_thread(reactor: Any, t: threading.Thread, timeout: float | None,
                start: bool = False) -> defer.Deferred[bool]:
    """Join ``t`` (after starting it, with ``start``) from a daemon thread of its
    own, never the reactor's pool, whose shutdown would wait for it; fires
    with True if ``t`` is still alive after ``timeout`` seconds."""
    d: defer.Deferred[bool] = defer.Deferred()

    def thd() -> None:
        if start:
            t.start()
        t.join(timeout)
        reactor.callFromThread(d.callback, t.is_alive())
    threading.Thread(target=thd, name=f"join-{t.name}", daemon=True).start()
    return d


class Database:
    """The app's handle on the database: reads on a pool, writes on the writer."""

    def __init__(self, url: str, reactor: Any, *, synchronous: str = "NORMAL",
                 busy_timeout_ms: int = 10000, read_pool_size: int = 4, portal_read_pool_size: int = 2,
                 batch_max: int = 1000,
                 queue_max: int = 20000, connect_timeout: int = 10, statement_timeout_ms: int = 0,
                 background_nice: int = 0, background_sched: str = IDLE):
        self.url = url
        self.reactor = reactor
        self.sqlite = is_sqlite(url)
        kw: dict[str, Any] = {"synchronous": synchronous, "busy_timeout_ms": busy_timeout_ms,
                              "connect_timeout": connect_timeout,
                              "statement_timeout_ms": statement_timeout_ms}
        self.read_engine = make_engine(url, pool_size=read_pool_size + portal_read_pool_size, **kw)
        self.write_engine = make_engine(url, write=True, pool_size=2, lock_poll=True, **kw)
        self.pool = ThreadPool(minthreads=1, maxthreads=read_pool_size, name="aaad-db-read")
        self.pool.threadFactory = nicer_threads(background_nice)  # type: ignore[assignment]  # a factory, as Twisted calls it
        # The customer portal's reads: a person waits for each page, so these threads keep the
        # daemon's priority (the others run background_nice nicer and lose the core to RADIUS).
        self.portal_pool = ThreadPool(minthreads=1, maxthreads=portal_read_pool_size, name="aaad-db-portal")
        self.writer = Writer(self.write_engine, reactor, batch_max, queue_max, background_nice=background_nice,
                             background_sched=background_sched)

    def start(self) -> None:
        self.pool.start()
        self.portal_pool.start()
        self.writer.start()

    @defer.inlineCallbacks
    def stop(self, timeout: float | None = None):  # type: ignore[no-untyped-def]
        """Drain the writer, then the read pools; with ``timeout``, give up on
        each after that long (a hung database) instead of waiting for ever."""
        yield self.writer.stop(timeout)

        def stop_pools() -> None:
            self.pool.stop()
            self.portal_pool.stop()
        hung = yield join_thread(self.reactor, threading.Thread(target=stop_pools, daemon=True,
                                                                name="aaad-db-read-stop"), timeout,
                                 start=True)
        if hung or self.writer.stop_timed_out:
            return  # a thread may still hold a connection: leave the engines to the exit
        self.read_engine.dispose()
        self.write_engine.dispose()

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> defer.Deferred[T]:
        """Run ``fn(conn, ...)`` on the read pool; the connection is returned after."""
        return self._read_on(self.pool, fn, args, kwargs)

    def portal_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> defer.Deferred[T]:
        """Like :meth:`read`, on the portal's pool (threads at the daemon's priority: a customer is
        waiting for the page)."""
        return self._read_on(self.portal_pool, fn, args, kwargs)

    def _read_on(self, pool: ThreadPool, fn: Callable[..., T], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> defer.Deferred[T]:
        def thd() -> T:
            with self.read_engine.connect() as conn:
                try:
                    return fn(conn, *args, **kwargs)
                finally:
                    conn.rollback()
        return threads.deferToThreadPool(self.reactor, pool, thd)

    def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> defer.Deferred[T]:
        """Run ``fn(conn, ...)`` in the writer's next batch transaction."""
        return self.writer.run(fn, *args, **kwargs)

    def write_background(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Like :meth:`write`, for a write nobody waits on (see :class:`Writer`)."""
        return self.writer.run_background(fn, *args)


def sync_engine(url: str, busy_timeout_ms: int = 10000) -> Engine:
    """An engine for synchronous use (CLI, migrations, tests): writer settings."""
    return make_engine(url, write=True, busy_timeout_ms=busy_timeout_ms, pool_size=1)
