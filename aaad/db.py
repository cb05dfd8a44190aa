"""Database access: engines, the read pool and the single writer thread.

Queries are small functions ``fn(conn, *args) -> dataclass`` run on a thread;
no SQLAlchemy result ever crosses back to the reactor (the Buildbot
pattern).  Reads run on a small thread pool.  Writes go through one writer
thread that takes everything queued, runs it in ONE transaction and commits
once (group commit): a burst of accounting requests costs a few commits, not
thousands.  If any operation in a batch fails, the batch is rolled back and
each operation is re-run alone, so one bad write fails only its own caller.
"""
from __future__ import annotations

import queue
import threading
from datetime import timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from twisted.internet import defer, threads
from twisted.python import failure
from twisted.python.threadpool import ThreadPool
from twisted.logger import Logger

log = Logger()
T = TypeVar("T")

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

class UTCDateTime(sa.types.TypeDecorator):
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
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


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


def make_engine(url: str, *, write: bool = False, synchronous: str = "NORMAL",
                busy_timeout_ms: int = 10000, pool_size: int = 5) -> Engine:
    """An engine with aaad's connection settings.

    SQLite: WAL, a busy timeout (so a CLI write waits for the daemon instead
    of failing), the chosen ``synchronous`` level, foreign keys on, and
    explicit ``BEGIN`` handling (``BEGIN IMMEDIATE`` for writers so a
    transaction never has to upgrade its lock and fail with SQLITE_BUSY).
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

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql(begin)
        return engine
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


@dataclass
class _Op:
    fn: Callable[..., Any] | None
    args: tuple
    kwargs: dict
    d: defer.Deferred
    result: Any = None
    kind: str | None = None   # a registered batch handler's name (then args == (item,))


class Writer:
    """One thread that runs write operations in batches, one commit per batch.

    ``after_commit`` callbacks (run on the reactor) let others react to a
    committed batch, e.g. the event dispatcher polls the outbox at once.
    """

    _STOP = object()

    def __init__(self, engine: Engine, reactor: Any, batch_max: int = 1000):
        self.engine = engine
        self.reactor = reactor
        self.batch_max = batch_max
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Run on the reactor after a batch that published events (the dispatcher's poke).
        self.after_commit: list[Callable[[], None]] = []
        # Run on the reactor after a batch that recorded AAA changes, with the
        # (change, entity) pairs, before the batch's Deferreds fire.
        self.on_changes: list[Callable[[list[Any]], None]] = []
        self.handlers: dict[str, Callable[[Connection, list[Any]], list[Any]]] = {}
        self.batches = 0
        self.ops = 0

    def register_batch(self, kind: str, fn: Callable[[Connection, list[Any]], list[Any]]) -> None:
        """Register ``fn(conn, items) -> results`` (one result per item, same order).

        Items submitted under ``kind`` that land in the same batch are handed
        to ``fn`` together, so it can use one multi-row statement for many
        requests (accounting's group commit).
        """
        self.handlers[kind] = fn

    def submit(self, kind: str, item: Any) -> "defer.Deferred[Any]":
        """Queue ``item`` for the batch handler ``kind``; fires after commit."""
        d: defer.Deferred = defer.Deferred()
        self._q.put(_Op(None, (item,), {}, d, kind=kind))
        return d

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="aaad-db-writer", daemon=True)
        self._thread.start()

    def stop(self) -> defer.Deferred:
        """Finish what is queued, then stop the thread."""
        if self._thread is None:
            return defer.succeed(None)
        self._q.put(self._STOP)
        t, self._thread = self._thread, None
        return threads.deferToThread(t.join)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> "defer.Deferred[T]":
        """Queue ``fn(conn, *args, **kwargs)``; fires with its result after commit."""
        d: defer.Deferred = defer.Deferred()
        self._q.put(_Op(fn, args, kwargs, d))
        return d

    def _loop(self) -> None:
        stopping = False
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
            self._run_batch(batch)

    def _run_batch(self, batch: list[_Op]) -> None:
        try:
            with self.engine.begin() as conn:
                notes = begin_tx(conn)
                grouped: dict[str, list[_Op]] = {}
                for op in batch:
                    if op.kind is not None:
                        grouped.setdefault(op.kind, []).append(op)
                    else:
                        op.result = op.fn(conn, *op.args, **op.kwargs)  # type: ignore[misc]
                for kind, ops in grouped.items():
                    results = self.handlers[kind](conn, [op.args[0] for op in ops])
                    for op, r in zip(ops, results):
                        op.result = r
                conn.info.pop(TX, None)
        except Exception:
            if len(batch) == 1:
                self._deliver(batch[0].d, failure.Failure())
                return
            for op in batch:  # isolate the failing operation
                self._run_batch([op])
            return
        self.batches += 1
        self.ops += len(batch)
        # One hop to the reactor for the whole batch, not one per operation.
        self.reactor.callFromThread(self._deliver_batch, batch, notes)

    def _deliver_batch(self, batch: list[_Op], notes: dict[str, Any]) -> None:
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

    def _deliver(self, d: defer.Deferred, result: Any) -> None:
        if isinstance(result, failure.Failure):
            self.reactor.callFromThread(d.errback, result)
        else:
            self.reactor.callFromThread(d.callback, result)


class Database:
    """The app's handle on the database: reads on a pool, writes on the writer."""

    def __init__(self, url: str, reactor: Any, *, synchronous: str = "NORMAL",
                 busy_timeout_ms: int = 10000, read_pool_size: int = 4, batch_max: int = 1000):
        self.url = url
        self.reactor = reactor
        self.sqlite = is_sqlite(url)
        self.read_engine = make_engine(url, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms,
                                       pool_size=read_pool_size)
        self.write_engine = make_engine(url, write=True, synchronous=synchronous,
                                        busy_timeout_ms=busy_timeout_ms, pool_size=2)
        self.pool = ThreadPool(minthreads=1, maxthreads=read_pool_size, name="aaad-db-read")
        self.writer = Writer(self.write_engine, reactor, batch_max)

    def start(self) -> None:
        self.pool.start()
        self.writer.start()

    @defer.inlineCallbacks
    def stop(self):  # type: ignore[no-untyped-def]
        yield self.writer.stop()
        self.pool.stop()
        self.read_engine.dispose()
        self.write_engine.dispose()

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> "defer.Deferred[T]":
        """Run ``fn(conn, ...)`` on the read pool; the connection is returned after."""
        def thd() -> T:
            with self.read_engine.connect() as conn:
                try:
                    return fn(conn, *args, **kwargs)
                finally:
                    conn.rollback()
        return threads.deferToThreadPool(self.reactor, self.pool, thd)

    def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> "defer.Deferred[T]":
        """Run ``fn(conn, ...)`` in the writer's next batch transaction."""
        return self.writer.run(fn, *args, **kwargs)


def sync_engine(url: str, busy_timeout_ms: int = 10000) -> Engine:
    """An engine for synchronous use (CLI, migrations, tests): writer settings."""
    return make_engine(url, write=True, busy_timeout_ms=busy_timeout_ms, pool_size=1)
