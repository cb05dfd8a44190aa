"""The database writer on SQLite and PostgreSQL: group commit, isolation of a
failing operation by halving, order, hooks, retries and the queue cap.

Most tests drive the writer's batches on the test thread with a reactor
whose ``callFromThread`` runs at once, so results are there when the call
returns; one test runs the real thread.
"""
from __future__ import annotations

import math
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from twisted.internet import task

from aaad import db as dbmod
from aaad import faults
from aaad.db import (
    CHANGES,
    ENVIRONMENT,
    OPERATION,
    PUBLISHED,
    TRANSIENT,
    Writer,
    WriterFull,
    WriterStopped,
    classify,
    make_engine,
    tx_notes,
)

meta = sa.MetaData()
rows = sa.Table("writer_test", meta,
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("v", sa.String(64), nullable=False, unique=True))


class NowReactor(task.Clock):
    """A fake clock whose callFromThread runs the call at once (same thread)."""

    def callFromThread(self, fn: Callable[..., Any], *a: Any, **kw: Any) -> None:
        fn(*a, **kw)


class QueueReactor(task.Clock):
    """callFromThread queues the call; the test thread runs them with :meth:`run_until`."""

    def __init__(self) -> None:
        super().__init__()
        self.thread_calls: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = queue.Queue()

    def callFromThread(self, fn: Callable[..., Any], *a: Any, **kw: Any) -> None:
        self.thread_calls.put((fn, a, kw))

    def run_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        while not done():
            fn, a, kw = self.thread_calls.get(timeout=timeout)
            fn(*a, **kw)


@pytest.fixture
def wengine(engine: Any) -> Any:
    """The migrated engine of both databases, with the test table."""
    meta.create_all(engine)
    return engine


def commits(engine: Any) -> list[int]:
    """A list that grows by one per committed transaction on ``engine``."""
    seen: list[int] = []
    event.listen(engine, "commit", lambda conn: seen.append(1))
    return seen


def drain(w: Writer) -> None:
    """Run everything queued as one batch on this thread, as the writer thread would."""
    batch = []
    while True:
        try:
            batch.append(w._q.get_nowait())
        except queue.Empty:
            break
    if batch:
        w._run_batch(batch)


def insert(conn: Any, v: str) -> int:
    return conn.execute(rows.insert().values(v=v)).inserted_primary_key[0]


def insert_many(conn: Any, items: list[str]) -> list[str]:
    conn.execute(rows.insert(), [{"v": v} for v in items])
    return [f"ok:{v}" for v in items]


def stored(engine: Any) -> list[str]:
    with engine.connect() as c:
        return [r.v for r in c.execute(sa.select(rows.c.v).order_by(rows.c.id))]


def outcome(d: Any) -> Any:
    """The result of a fired Deferred, or its failure's exception."""
    if hasattr(d, "outcome"):
        return d.outcome
    box: list[Any] = []

    def keep(r: Any) -> Any:
        box.append(r.value if hasattr(r, "value") and hasattr(r, "trap") else r)
        return r
    d.addBoth(keep)
    assert box, "the Deferred has not fired"
    if isinstance(box[0], BaseException):
        d.addErrback(lambda f: None)  # observed: no "unhandled error" at collection
    d.outcome = box[0]
    return box[0]


def test_group_commit_many_operations_one_transaction(wengine: Any) -> None:
    """200 queued writes commit in one transaction and each caller gets its own result."""
    w = Writer(wengine, NowReactor())
    seen = commits(wengine)
    ds = [w.run(insert, f"v{i}") for i in range(200)]
    drain(w)
    assert len(seen) == 1 and w.batches == 1 and w.ops == 200
    assert sorted(outcome(d) for d in ds) == list(range(1, 201))
    assert len(stored(wengine)) == 200 and w.pending == 0


def test_a_failing_operation_is_isolated_by_halving(wengine: Any) -> None:
    """One duplicate among 1000 writes fails alone; the rest commit in ~2·log2(1000) transactions."""
    w = Writer(wengine, NowReactor(), batch_max=2000)
    with wengine.begin() as c:
        insert(c, "taken")
    seen = commits(wengine)
    ds = [w.run(insert, "taken" if i == 637 else f"v{i}") for i in range(1000)]
    drain(w)
    results = [outcome(d) for d in ds]
    assert isinstance(results[637], sa.exc.IntegrityError)
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 637)
    assert len(stored(wengine)) == 1000
    assert len(seen) <= 2 * math.ceil(math.log2(1000)), len(seen)
    assert w.failed_ops == 1 and w.last_error is None


def test_a_failing_batch_handler_item_is_isolated_by_items(wengine: Any) -> None:
    """A handler call over 1000 items with one poisoned item is halved by items: only that item fails."""
    calls: list[int] = []

    def poisoned(conn: Any, items: list[str]) -> list[str]:
        """Test-only fault hook around a real batch handler: raises for the marked item."""
        calls.append(len(items))
        if "POISON" in items:
            raise ValueError("poisoned item")
        return insert_many(conn, items)

    w = Writer(wengine, NowReactor(), batch_max=2000)
    w.register_batch("t", poisoned)
    ds = [w.submit("t", "POISON" if i == 3 else f"i{i}") for i in range(1000)]
    drain(w)
    results = [outcome(d) for d in ds]
    assert isinstance(results[3], ValueError)
    assert results[:3] == ["ok:i0", "ok:i1", "ok:i2"] and results[999] == "ok:i999"
    assert len(stored(wengine)) == 999
    assert len(calls) <= 2 * math.ceil(math.log2(1000)) + 1, calls


def test_check_fails_an_item_before_the_transaction(wengine: Any) -> None:
    """An item the handler's check refuses fails without rolling back anyone's transaction."""
    def check(item: str) -> None:
        if not item.isalnum():
            raise ValueError("not alphanumeric")
    w = Writer(wengine, NowReactor())
    w.register_batch("t", insert_many, check)
    seen = commits(wengine)
    ds = [w.submit("t", v) for v in ("a", "b c", "d")]
    drain(w)
    assert [outcome(d) for d in ds][::2] == ["ok:a", "ok:d"]
    assert isinstance(outcome(ds[1]), ValueError)
    assert len(seen) == 1 and w.splits == 0


def test_plain_and_batched_operations_run_in_submission_order(wengine: Any) -> None:
    """Plain writes and batch items interleaved reach the database in the order submitted."""
    w = Writer(wengine, NowReactor())
    w.register_batch("t", insert_many)
    order = ["p1", "b1", "b2", "p2", "b3", "p3", "p4", "b4"]
    ds = [w.run(insert, v) if v[0] == "p" else w.submit("t", v) for v in order]
    drain(w)
    assert stored(wengine) == order
    assert w.batches == 1 and all(not isinstance(outcome(d), Exception) for d in ds)


def test_order_kept_when_a_batch_is_split(wengine: Any) -> None:
    """When a failing batch is halved, the parts still commit in submission order."""
    w = Writer(wengine, NowReactor())
    w.register_batch("t", insert_many)
    order = [f"{'p' if i % 3 else 'b'}{i}" for i in range(40)]
    ds = [w.run(insert, v) if v[0] == "p" else w.submit("t", v) for v in order]
    bad = w.run(insert, "p1")  # a duplicate of an earlier write
    drain(w)
    assert stored(wengine) == order
    assert isinstance(outcome(bad), sa.exc.IntegrityError) and w.splits > 0
    assert all(not isinstance(outcome(d), Exception) for d in ds)


def test_hooks_run_after_commit_before_deferreds_and_only_for_committed_parts(wengine: Any) -> None:
    """on_changes and after_commit run after the commit and before the callers' Deferreds fire;
    notes of a rolled-back attempt are not delivered."""
    log: list[Any] = []
    w = Writer(wengine, NowReactor())
    w.on_changes.append(lambda changes: log.append(("changes", sorted(changes))))
    w.after_commit.append(lambda: log.append("after_commit"))

    def noting(conn: Any, v: str) -> str:
        notes = tx_notes(conn)
        notes.setdefault(CHANGES, []).append(v)
        notes[PUBLISHED] = True
        insert(conn, v)
        return v

    ds = [w.run(noting, v) for v in ("a", "b", "a")]  # the second "a" fails and is rolled back
    for d in ds:
        d.addBoth(lambda r: log.append(("fired", r if isinstance(r, str) else "failed")))
    drain(w)
    delivered = log
    assert delivered.count("after_commit") >= 1
    first_fire = next(i for i, e in enumerate(delivered) if e[0] == "fired")
    assert delivered[0][0] == "changes" and first_fire > 0
    all_changes = [c for e in delivered if e[0] == "changes" for c in e[1]]
    assert sorted(all_changes) == ["a", "b"]  # the failed attempt's notes were dropped
    assert [e for e in delivered if e[0] == "fired"] == [("fired", "a"), ("fired", "b"), ("fired", "failed")]


def test_database_failure_fails_the_batch_whole_and_shows_in_health(wengine: Any) -> None:
    """A database that cannot write (disk full) fails the whole batch at once, no bisection;
    health reports it until a commit succeeds."""
    w = Writer(wengine, NowReactor())

    def full(conn: Any, v: str) -> None:
        err = sqlite3.OperationalError("database or disk is full")
        err.sqlite_errorcode = 13
        raise sa.exc.OperationalError("INSERT", {}, err)

    seen: list[int] = []
    event.listen(wengine, "rollback", lambda conn: seen.append(1))
    ds = [w.run(insert, f"v{i}") for i in range(7)] + [w.run(full, "x")]
    drain(w)
    assert all(isinstance(outcome(d), sa.exc.OperationalError) for d in ds)
    assert len(seen) == 1 and w.splits == 0
    assert w.health().problems(30) == [
        "last commit failed: OperationalError: (sqlite3.OperationalError) database or disk is full"]
    w.run(insert, "ok")
    drain(w)
    assert w.health().problems(30) == []


def test_queue_cap_refuses_at_once_and_recovers(wengine: Any) -> None:
    """Beyond queue_max operations waiting, run and submit fail at once with WriterFull."""
    w = Writer(wengine, NowReactor(), queue_max=3)
    w.register_batch("t", insert_many)
    ds = [w.run(insert, "a"), w.submit("t", "b"), w.run(insert, "c")]
    assert isinstance(outcome(w.run(insert, "d")), WriterFull)
    assert isinstance(outcome(w.submit("t", "e")), WriterFull)
    assert w.refused == 2 and "queue full" in w.health().problems(30)[0]
    drain(w)
    assert [outcome(d) for d in ds][1] == "ok:b" and w.pending == 0
    w.run(insert, "f")
    drain(w)
    assert stored(wengine) == ["a", "b", "c", "f"]


def test_retry_on_sqlite_busy(tmp_path: Any) -> None:
    """SQLITE_BUSY (another connection holds the write lock) is retried, not failed."""
    path = tmp_path / "busy.db"
    url = f"sqlite:///{path}"
    eng = make_engine(url, write=True, busy_timeout_ms=20)
    meta.create_all(eng)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    released: list[float] = []

    def sleep(secs: float) -> None:  # the back-off: the other writer finishes meanwhile
        released.append(secs)
        other.execute("ROLLBACK")

    w = Writer(eng, NowReactor(), sleep=sleep)
    d = w.run(insert, "x")
    drain(w)
    assert outcome(d) == 1 and w.retried == 1 and len(released) == 1
    other.close()
    eng.dispose()


def test_retry_gives_up_after_bounded_attempts(tmp_path: Any) -> None:
    """A lock that never goes away fails the batch after the bounded retries, with growing back-off."""
    path = tmp_path / "busy.db"
    eng = make_engine(f"sqlite:///{path}", write=True, busy_timeout_ms=5)
    meta.create_all(eng)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    waits: list[float] = []
    w = Writer(eng, NowReactor(), retries=3, backoff=0.01, sleep=waits.append)
    d = w.run(insert, "x")
    drain(w)
    assert isinstance(outcome(d), sa.exc.OperationalError)
    assert waits == [0.01, 0.02, 0.04] and "locked" in (w.last_error or "")
    other.close()
    eng.dispose()


def begins(eng: Any) -> list[str]:
    """Every BEGIN the engine's connections send from now on (SQLite's statement trace)."""
    seen: list[str] = []

    @event.listens_for(eng, "connect")
    def trace(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(lambda sql: seen.append(sql) if sql.startswith("BEGIN") else None)
    return seen


@pytest.mark.parametrize("poll", [True, False])
def test_a_polling_writer_asks_for_a_held_lock_every_millisecond(tmp_path: Any, poll: bool) -> None:
    """While another process holds the write lock, a polling engine's BEGIN IMMEDIATE asks again
    about every millisecond (SQLite's own handler: once, then sleeps), fails as locked once its
    busy timeout is up, and afterwards waits its full busy timeout again for statements."""
    path = tmp_path / "poll.db"
    eng = make_engine(f"sqlite:///{path}", write=True, busy_timeout_ms=40, lock_poll=poll)
    seen = begins(eng)
    meta.create_all(eng)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    seen.clear()
    with pytest.raises(sa.exc.OperationalError, match="locked"), eng.begin() as conn:
        insert(conn, "x")
    tries = len(seen)
    assert (tries >= 8) if poll else (tries == 1), tries   # 40 ms at ~1 ms a try; or one long wait
    other.execute("ROLLBACK")
    with eng.begin() as conn:
        insert(conn, "y")
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 40
    assert stored(eng) == ["y"]
    other.close()
    eng.dispose()


class _Locked:
    """A DB-API connection whose BEGIN fails with ``codes`` in turn (then succeeds); it records
    what it was asked."""

    def __init__(self, *codes: int) -> None:
        self.codes = list(codes)
        self.sent: list[str] = []

    def execute(self, sql: str) -> None:
        self.sent.append(sql)
        if sql.startswith("BEGIN") and self.codes:
            e = sqlite3.OperationalError("database is locked")
            e.sqlite_errorcode = self.codes.pop(0)
            raise e


def test_begin_polling_retries_the_lock_only() -> None:
    """SQLITE_BUSY and its extended codes (BUSY_RECOVERY 261, BUSY_TIMEOUT 773) are the lock: asked
    again; any other error (SQLITE_IOERR 10) is raised at once; either way the connection's own busy
    timeout is back afterwards."""
    from aaad.db import LOCK_POLL_MS, begin_polling
    c = _Locked(5, 261, 773)
    begin_polling(c, "BEGIN IMMEDIATE", 10_000)  # type: ignore[arg-type]
    assert c.sent == [f"PRAGMA busy_timeout={LOCK_POLL_MS}", *["BEGIN IMMEDIATE"] * 4, "PRAGMA busy_timeout=10000"]
    c = _Locked(10)
    with pytest.raises(sqlite3.OperationalError):
        begin_polling(c, "BEGIN IMMEDIATE", 10_000)  # type: ignore[arg-type]
    assert c.sent == [f"PRAGMA busy_timeout={LOCK_POLL_MS}", "BEGIN IMMEDIATE", "PRAGMA busy_timeout=10000"]


def test_the_daemons_writer_polls_for_the_lock(tmp_path: Any) -> None:
    """Database's write engine is a polling one on SQLite: it takes the lock in a gap between two
    transactions of another process, however short its own tries' back-off would have made them."""
    from aaad.db import Database
    path = tmp_path / "d.db"
    d = Database(f"sqlite:///{path}", NowReactor(), busy_timeout_ms=40)
    seen = begins(d.write_engine)
    meta.create_all(d.write_engine)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    seen.clear()
    with pytest.raises(sa.exc.OperationalError), d.write_engine.begin() as conn:
        insert(conn, "x")
    assert len(seen) >= 8
    other.execute("ROLLBACK")
    other.close()
    d.write_engine.dispose()
    d.read_engine.dispose()


def fired(d: Any) -> Callable[[], bool]:
    """Whether ``d`` has fired, as QueueReactor.run_until asks it."""
    return lambda: bool(d.called)


def test_a_commit_gap_pauses_the_thread_after_each_committed_batch(wengine: Any) -> None:
    """commit_gap (a CLI job on SQLite): after each committed batch the thread sleeps that long, the
    lock released, before it takes the next batch; 0 (the daemon): never."""
    for gap, want in ((0.005, [0.005, 0.005]), (0.0, [])):
        r = QueueReactor()
        slept: list[float] = []
        w = Writer(wengine, r, sleep=slept.append, commit_gap=gap)
        w.start()
        for v in ("a", "b"):   # one batch each: the second is queued once the first has fired
            r.run_until(fired(w.run(insert, f"{v}{gap}")))
        r.run_until(fired(w.stop(timeout=10)))
        assert slept == want


def test_a_cli_jobs_writer_leaves_the_gap_on_sqlite(tmp_path: Any) -> None:
    """``aaad jobs run``'s app (jobs_app) pauses [database] job_commit_gap_ms after each chunk on SQLite."""
    from aaad import app
    conf = app.load_config(None, environ={"AAAD_SERVER__DATA_DIR": str(tmp_path),
                                          "AAAD_DATABASE__JOB_COMMIT_GAP_MS": "7"})
    a = app.jobs_app(conf, NowReactor())
    try:
        assert a.db.sqlite and a.db.writer.commit_gap == pytest.approx(0.007)
    finally:
        a.db.write_engine.dispose()
        a.db.read_engine.dispose()


def test_retry_on_postgresql_serialization_failure(wengine: Any) -> None:
    """A real serialization failure (concurrent update under REPEATABLE READ) is retried and commits."""
    if wengine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    with wengine.begin() as c:
        insert(c, "0")
    attempts: list[int] = []

    def bump(conn: Any) -> str:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute(sa.select(rows.c.v)).all()  # takes the snapshot
        attempts.append(1)
        if len(attempts) == 1:  # someone else changes the row meanwhile
            with wengine.begin() as other:
                other.execute(rows.update().values(v=sa.cast(sa.cast(rows.c.v, sa.Integer) + 10, sa.String)))
        conn.execute(rows.update().values(v=sa.cast(sa.cast(rows.c.v, sa.Integer) + 1, sa.String)))
        return "done"

    w = Writer(wengine, NowReactor(), sleep=lambda s: None)
    d = w.run(bump)
    drain(w)
    assert outcome(d) == "done" and w.retried == 1 and len(attempts) == 2
    assert stored(wengine) == ["11"]


def test_real_thread_group_commit_and_stop(wengine: Any) -> None:
    """The writer thread commits queued work and stops after finishing it; later writes fail."""
    r = QueueReactor()
    w = Writer(wengine, r)
    gate = threading.Event()
    w.run(lambda conn: gate.wait(10))  # holds the thread so the rest queue up behind it
    ds = [w.run(insert, f"v{i}") for i in range(50)]
    w.start()
    gate.set()
    stopped = w.stop(timeout=10)
    r.run_until(lambda: stopped.called)
    assert [outcome(d) for d in ds] == list(range(1, 51)) and w.batches <= 3
    assert isinstance(outcome(w.run(insert, "late")), WriterStopped)


def test_backs_off_while_the_database_cannot_write(wengine: Any) -> None:
    """After batches fail for a database-wide reason the thread waits, longer each time, until a commit."""
    r = QueueReactor()
    waits: list[float] = []
    gates = [threading.Event() for _ in range(4)]

    def sleep(secs: float) -> None:
        waits.append(secs)
        gates[len(waits) - 1].wait(10)  # the test lets the thread go on step by step

    def down(conn: Any) -> None:
        err = sqlite3.OperationalError("unable to open database file")
        err.sqlite_errorcode = 14  # SQLITE_CANTOPEN
        raise sa.exc.OperationalError("SELECT 1", {}, err)

    w = Writer(wengine, r, backoff=0.05, sleep=sleep)
    w.start()
    first = w.run(down)
    r.run_until(lambda: first.called)
    second = w.run(down)
    gates[0].set()
    r.run_until(lambda: second.called)
    ok = w.run(insert, "x")
    gates[1].set()
    r.run_until(lambda: ok.called)
    assert waits == [0.05, 0.1] and outcome(ok) == 1
    for g in gates:
        g.set()
    stopped = w.stop(timeout=10)
    r.run_until(lambda: stopped.called)
    assert len(waits) == 2  # no wait after the commit
    outcome(first), outcome(second)


def test_stop_gives_up_on_a_hung_transaction(wengine: Any) -> None:
    """stop(timeout) returns while a transaction hangs; queued operations fail with WriterStopped."""
    r = QueueReactor()
    w = Writer(wengine, r)
    gate = threading.Event()
    w.run(lambda conn: gate.wait(30))
    w.start()
    queued = w.run(insert, "never")
    stopped = w.stop(timeout=0.2)
    r.run_until(lambda: stopped.called)
    assert w.stop_timed_out and isinstance(outcome(queued), WriterStopped)
    gate.set()


def test_health_reports_a_stalled_transaction(wengine: Any) -> None:
    """A transaction running longer than the stall bound is reported."""
    r = NowReactor()
    w = Writer(wengine, r)
    w._busy_since = r.seconds()
    r.advance(45)
    assert "running for 45s" in w.health().problems(30)[0]
    assert w.health().problems(60) == []


@pytest.mark.parametrize("exc, kind", [
    (sqlite3.OperationalError("database is locked"), TRANSIENT),
    (sqlite3.IntegrityError("UNIQUE constraint failed"), OPERATION),
    (ValueError("bad value"), OPERATION),
    (sa.exc.TimeoutError("pool"), ENVIRONMENT),
])
def test_classify(exc: BaseException, kind: str) -> None:
    """Failures are classified into retry / database-wide / an operation's own."""
    assert classify(exc) == kind


def test_classify_by_sqlite_code_and_sqlstate() -> None:
    """SQLite result codes and PostgreSQL SQLSTATEs decide the class."""
    def sqlite_err(code: int) -> BaseException:
        e = sqlite3.OperationalError("x")
        e.sqlite_errorcode = code
        return e
    assert classify(sqlite_err(5)) == TRANSIENT          # BUSY
    assert classify(sqlite_err(517)) == TRANSIENT        # BUSY_SNAPSHOT
    assert classify(sqlite_err(13)) == ENVIRONMENT       # FULL
    assert classify(sqlite_err(8)) == ENVIRONMENT        # READONLY
    assert classify(sqlite_err(1)) == OPERATION          # a plain SQL error
    import psycopg
    for state, kind in (("40001", TRANSIENT), ("40P01", TRANSIENT), ("53100", ENVIRONMENT),
                        ("57P01", ENVIRONMENT), ("25006", ENVIRONMENT), ("23505", OPERATION),
                        ("57014", OPERATION)):
        e = psycopg.errors.lookup(state)("x")
        assert classify(e) == kind, state
    assert classify(psycopg.OperationalError("connection refused")) == ENVIRONMENT
    assert classify(psycopg.DataError("NUL byte")) == OPERATION
    assert dbmod.WriterUnavailable.__doc__


def test_poison_fault_hook(wengine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """AAAD_TEST_POISON makes a batch handler fail for a marked item (tests only); the rest commit."""
    monkeypatch.setenv(faults.POISON_ENV, "bad-7")
    w = Writer(wengine, NowReactor())
    w.register_batch("t", insert_many)
    ds = [w.submit("t", v) for v in ("a", "bad-7", "c")]
    drain(w)
    assert [outcome(d) for d in ds][::2] == ["ok:a", "ok:c"]
    assert "poisoned" in str(outcome(ds[1]))


def own_nice(conn: Any) -> int:
    """The nice value of the thread running the operation (the writer thread)."""
    import os
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def own_policy(conn: Any) -> int:
    """The scheduling policy of the thread running the operation (the writer thread)."""
    import os
    return os.sched_getscheduler(0)


def needs_root_sched() -> None:
    import os
    if not hasattr(os, "SCHED_IDLE") or os.geteuid() != 0:
        pytest.skip("switching a thread back from SCHED_IDLE needs root")


def test_background_only_batches_run_nicer_others_at_the_threads_own_priority(wengine: Any) -> None:
    """With ``background_sched="nice"``, the auth log's batches (nobody waits on them) run
    ``background_nice`` nicer; a batch with anything else in it (accounting, billing: answered
    after commit) runs at the thread's own priority, and the thread gets that back after a
    background batch."""
    import os
    if not hasattr(os, "setpriority") or os.geteuid() != 0:
        pytest.skip("switching a thread's nice value back needs root")
    base = os.getpriority(os.PRIO_PROCESS, 0)
    r = QueueReactor()
    w = Writer(wengine, r, background_nice=7, background_sched="nice")
    gate = threading.Event()
    w.run(lambda conn: gate.wait(10))
    w.start()
    bg = w.run_background(own_nice)           # queued behind the gate: one batch of its own
    gate.set()
    r.run_until(lambda: bg.called)
    mixed = [w.run_background(own_nice), w.run(own_nice)]
    r.run_until(lambda: all(d.called for d in mixed))
    after = w.run(own_nice)
    r.run_until(lambda: after.called)
    stopped = w.stop(timeout=10)
    r.run_until(lambda: stopped.called)
    assert outcome(bg) == min(base + 7, 19)
    assert [outcome(d) for d in mixed] in ([base, base], [min(base + 7, 19), base])
    assert outcome(after) == base


def in_turn(r: QueueReactor, w: Writer, *ops: tuple[bool, Callable[[Any], Any]]) -> list[Any]:
    """Start ``w``, run each (background?, fn) alone, one after the other, stop it; their outcomes."""
    w.start()
    out = []
    for background, fn in ops:
        d = w.run_background(fn) if background else w.run(fn)
        r.run_until(lambda: d.called)  # noqa: B023  (called at once, in this iteration)
        out.append(outcome(d))
    stopped = w.stop(timeout=10)
    r.run_until(lambda: stopped.called)
    return out


def test_background_only_batches_run_sched_idle_by_default(wengine: Any) -> None:
    """By default a background-only batch runs under SCHED_IDLE (a RADIUS request that arrives
    preempts it at once), and the next batch someone waits on is back under SCHED_OTHER."""
    import os
    needs_root_sched()
    r = QueueReactor()
    got = in_turn(r, Writer(wengine, r, background_nice=10), (True, own_policy), (False, own_policy))
    assert got == [os.SCHED_IDLE, os.SCHED_OTHER]


def test_a_waited_on_write_raises_a_running_background_batch_at_once(wengine: Any) -> None:
    """A background batch holds the database's write lock: when a write someone waits on is
    queued behind it, the writer thread is raised back to SCHED_OTHER by the enqueue itself,
    before the batch ends (starved under SCHED_IDLE on a full core, it would stall accounting)."""
    import os
    needs_root_sched()
    r = QueueReactor()
    w = Writer(wengine, r, background_nice=10)
    gate, inside = threading.Event(), threading.Event()
    tid: list[int] = []

    def held(conn: Any) -> int:
        tid.append(threading.get_native_id())
        inside.set()
        gate.wait(10)
        return os.sched_getscheduler(0)
    w.start()
    bg = w.run_background(held)
    assert inside.wait(10)
    before = os.sched_getscheduler(tid[0])
    fg = w.run(own_policy)
    during = os.sched_getscheduler(tid[0])
    gate.set()
    r.run_until(lambda: bg.called and fg.called)
    stopped = w.stop(timeout=10)
    r.run_until(lambda: stopped.called)
    assert (before, during) == (os.SCHED_IDLE, os.SCHED_OTHER)
    assert outcome(bg) == os.SCHED_OTHER   # what the batch saw after the raise
    assert outcome(fg) == os.SCHED_OTHER


def test_a_background_batch_taken_while_a_waited_on_write_is_queued_runs_at_full_priority(
        wengine: Any) -> None:
    """With room for one operation a batch, a background operation taken while a write someone
    waits on is queued behind it runs at the thread's own priority (the queued write would wait
    for it)."""
    import os
    needs_root_sched()
    r = QueueReactor()
    w = Writer(wengine, r, batch_max=1, background_nice=10)
    gate = threading.Event()
    w.run(lambda conn: gate.wait(10))
    w.start()
    bg = w.run_background(own_policy)
    fg = w.run(own_policy)
    late_bg = w.run_background(own_policy)   # nothing waited on behind it: idle again
    gate.set()
    r.run_until(lambda: late_bg.called)
    stopped = w.stop(timeout=10)
    r.run_until(lambda: stopped.called)
    assert [outcome(d) for d in (bg, fg, late_bg)] == [os.SCHED_OTHER, os.SCHED_OTHER, os.SCHED_IDLE]


def test_background_priority_off_at_zero(wengine: Any) -> None:
    import os
    r = QueueReactor()
    got = in_turn(r, Writer(wengine, r, background_nice=0), (True, own_nice), (True, own_policy))
    assert got == [os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)]


def test_read_threads_run_nicer(tmp_path: Any) -> None:
    """The read pool's threads (the API, the console, jobs, the change poll: nothing a RADIUS
    request waits on) run ``background_nice`` nicer than the process."""
    import os
    if not hasattr(os, "setpriority"):
        pytest.skip("no per-thread nice values here")
    r = QueueReactor()
    d = dbmod.Database(f"sqlite:///{tmp_path / 'nice.db'}", r, background_nice=3)
    d.pool.start()
    try:
        got = d.read(own_nice)
        r.run_until(lambda: got.called)
    finally:
        d.pool.stop()
    assert outcome(got) == min(os.getpriority(os.PRIO_PROCESS, 0) + 3, 19)


def test_portal_reads_keep_the_processs_priority(tmp_path: Any) -> None:
    """The portal's pool (a customer waits for each page) runs at the process's own nice value while the
    other read threads run ``background_nice`` nicer; both read the same database."""
    import os
    if not hasattr(os, "setpriority"):
        pytest.skip("no per-thread nice values here")
    r = QueueReactor()
    d = dbmod.Database(f"sqlite:///{tmp_path / 'nice.db'}", r, background_nice=3, portal_read_pool_size=1)
    d.pool.start()
    d.portal_pool.start()
    try:
        got = [d.portal_read(own_nice), d.read(own_nice), d.portal_read(lambda c: c.exec_driver_sql("SELECT 7")
                                                                        .scalar_one())]
        r.run_until(lambda: all(g.called for g in got))
    finally:
        d.pool.stop()
        d.portal_pool.stop()
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert [outcome(g) for g in got] == [base, min(base + 3, 19), 7]


def test_a_priority_switch_that_fails_later_turns_it_off_and_fails_no_write(monkeypatch: Any) -> None:
    """Should switching the thread's priority fail after start (a capability dropped), the switch is off
    from then on and neither the write nor the writer thread fails."""
    import os
    prio = dbmod._ThreadPriority(0)        # off: nothing to switch
    prio.set(True)
    assert (prio.on, prio.low) == (False, False)
    prio = dbmod._ThreadPriority(5, dbmod.NICE)
    if not prio.on:
        pytest.skip("no per-thread priority to switch here")
    monkeypatch.setattr(os, "setpriority", lambda *a: (_ for _ in ()).throw(PermissionError(1, "denied")))
    prio.set(True)
    assert (prio.on, prio.low) == (False, False)


def bulk_then_policy(conn: Any) -> int:
    """An operation that says it is bulk work (``aaad.db.bulk_work``), then the policy it runs under."""
    import os

    from aaad.db import bulk_work
    bulk_work()
    return os.sched_getscheduler(0)


def test_bulk_work_lowers_an_operation_alone_in_its_batch(wengine: Any) -> None:
    """An operation that calls ``bulk_work`` (a mass event's delivery) runs the rest of its batch
    under SCHED_IDLE when it is the batch's only write someone waits on; the next batch is back
    under SCHED_OTHER; outside the writer thread ``bulk_work`` does nothing."""
    import os

    from aaad.db import bulk_work
    needs_root_sched()
    bulk_work()
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    r = QueueReactor()
    got = in_turn(r, Writer(wengine, r, background_nice=10), (False, bulk_then_policy), (False, own_policy))
    assert got == [os.SCHED_IDLE, os.SCHED_OTHER]


def test_bulk_work_keeps_full_priority_beside_other_waited_on_writes(wengine: Any) -> None:
    """In a batch with another write someone waits on (accounting's, say), or with one queued
    behind it, ``bulk_work`` leaves the thread at its own priority."""
    import os
    needs_root_sched()
    r = QueueReactor()
    w = Writer(wengine, r, background_nice=10)
    gate = threading.Event()
    w.run(lambda conn: gate.wait(10))
    w.start()
    together = [w.run(bulk_then_policy), w.run(own_policy)]   # queued behind the gate: one batch
    gate.set()
    r.run_until(lambda: all(d.called for d in together))
    stopped = w.stop(timeout=10)
    r.run_until(lambda: stopped.called)
    assert [outcome(d) for d in together] == [os.SCHED_OTHER, os.SCHED_OTHER]
