"""The auth log: every decision, written in batches off the hot path.

The RADIUS path appends a tuple; a timer (and a size threshold) hands the
batch to the writer thread as one multi-row INSERT.  Secrets never reach
it: only the user name, NAS, method, result, reason and latency.  Text is
made storable on the writer thread, off the hot path (``clean_entry``), so
a NUL in one User-Name cannot lose the batch.  Rows older than the
retention are deleted in chunks (``prune``).  An accept that repeats one
logged less than ``repeat_seconds`` before (same user name, NAS and
Calling-Station-Id) is counted instead of written (see :class:`AuthLog`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger

from aaad import paging
from aaad.dbsafe import clean_text
from aaad.ratelog import RateLimited
from aaad.schema import auth_log
from aaad.timer import Timer

log = Logger()

Entry = tuple[Any, ...]  # (ts, org_id, nas_id, username, method, result, reason, calling_station, latency_us)


_COLS = "created_at, org_id, nas_id, username, method, result, reason, calling_station, latency_us"

#: The text columns an entry fills, by position in :data:`Entry`, and their
#: widths: what a NAS sends is cut to fit (PostgreSQL refuses longer values
#: and NUL bytes, and one refused row would lose the whole batch).
def _width(column: str) -> int:
    t = auth_log.c[column].type
    assert isinstance(t, sa.String) and t.length
    return t.length


_TEXT = tuple((i, _width(name)) for i, name in
              ((3, "username"), (4, "method"), (5, "result"), (6, "reason"), (7, "calling_station")))

#: Rows deleted per transaction when pruning (each one holds the writer briefly).
PRUNE_CHUNK = 5000


def clean_entry(entry: Entry) -> Entry:
    """``entry`` with its text fields storable: NUL replaced, cut to their column's width."""
    out = None
    for i, width in _TEXT:
        v = entry[i]
        if v is not None and ("\x00" in v or len(v) > width):
            if out is None:
                out = list(entry)
            out[i] = clean_text(v, width)
    return entry if out is None else tuple(out)


class _SqliteTime:
    """UTCDateTime's storage format on SQLite (naive UTC, ISO with a space, microseconds) of a
    POSIX time, as ``datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")`` gives it,
    with the date and time of day formatted once per second: a batch's rows share a few seconds,
    and formatting a datetime per row cost more than SQLite's insert of it."""

    __slots__ = ("sec", "prefix")

    def __init__(self) -> None:
        self.sec = -1
        self.prefix = ""

    def __call__(self, ts: float) -> str:
        sec = int(ts // 1)
        us = round((ts - sec) * 1e6)        # round half even, as datetime.fromtimestamp does
        if us >= 1_000_000:
            sec, us = sec + 1, us - 1_000_000
        if sec != self.sec:
            self.sec = sec
            self.prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%d %H:%M:%S.")
        return f"{self.prefix}{us:06d}"


def _insert(conn: Connection, rows: list[Entry]) -> tuple[int, int]:
    """One multi-row INSERT through the driver (SQLAlchemy's per-row parameter
    processing cost more than SQLite itself at thousands of rows a second).
    Returns the rows written and how many of them had to be cleaned."""
    if conn.dialect.name == "sqlite":
        fmt: Callable[[float], str | datetime] = _SqliteTime()
        marks = ", ".join("?" * 9)
    else:
        fmt = lambda ts: datetime.fromtimestamp(ts, UTC)  # noqa: E731
        marks = ", ".join(["%s"] * 9)
    cleaned = 0
    params = []
    for r in rows:
        c = clean_entry(r)
        if c is not r:
            cleaned += 1
        params.append((fmt(c[0]),) + tuple(c[1:]))
    conn.exec_driver_sql(f"INSERT INTO {auth_log.name} ({_COLS}) VALUES ({marks})", params)
    return len(rows), cleaned


def prune_chunk(conn: Connection, before: datetime, limit: int = PRUNE_CHUNK) -> int:
    """Delete up to ``limit`` of the oldest rows created before ``before``; the count deleted.

    Rows are taken in id order (ids grow with time), so each chunk finds the
    oldest rows at the start of the primary key without a time index.
    """
    c = auth_log.c
    q = sa.select(c.id).where(c.created_at < before).order_by(c.id).limit(limit)
    ids = [r[0] for r in conn.execute(q)]
    if not ids:
        return 0
    return conn.execute(auth_log.delete().where(c.id.in_(ids))).rowcount


@dataclass(frozen=True, slots=True)
class AuthLogEntry:
    """One decision as the log keeps it (never a secret)."""
    id: int
    created_at: datetime
    nas_id: int | None
    username: str | None
    method: str | None
    result: str
    reason: str | None
    calling_station: str | None
    latency_us: int | None


def _entry(r: Any) -> AuthLogEntry:
    return AuthLogEntry(r.id, r.created_at, r.nas_id, r.username, r.method, r.result, r.reason,
                        r.calling_station, r.latency_us)


#: Sort keys of :func:`page`: ids grow with time, so ``-id`` is newest first, down the primary key.
SORTS: dict[str, sa.ColumnElement[Any]] = {"id": auth_log.c.id}


def page(conn: Connection, org_id: int, *, username: str | None = None, result: str | None = None,
         nas_id: int | None = None, since: datetime | None = None, until: datetime | None = None,
         sort: str = "-id", cursor: str | None = None, limit: int = 50) -> paging.Page[AuthLogEntry]:
    """One page of the org's auth log (see :mod:`aaad.paging`), newest first unless asked: one user
    name's, one result's (accept, reject), one NAS's, created in [``since``, ``until``)."""
    c = auth_log.c
    query = sa.select(auth_log).where(c.org_id == org_id)
    if username is not None:
        query = query.where(c.username == username)
    if result is not None:
        query = query.where(c.result == result)
    if nas_id is not None:
        query = query.where(c.nas_id == nas_id)
    if since is not None:
        query = query.where(c.created_at >= since)
    if until is not None:
        query = query.where(c.created_at < until)
    return paging.page(conn, query, sort=sort, columns=SORTS, id_col=c.id, cursor=cursor, limit=limit,
                       row=_entry)


class AuthLog:
    """The RADIUS path's buffer of decisions, written every ``interval`` seconds or every
    ``max_batch`` entries, whichever comes first.

    ``max_batch`` bounds the writer thread's work per batch, and that is what sets auth's tail
    latency: the writer shares the daemon's core and the GIL with the reactor, and 2,000 rows
    at a time (building the rows, one executemany) held requests long enough to give PAP at
    18,700/s open loop a p99 of 14 ms against FreeRADIUS's 1.0 (with no auth log at all: 1.4 ms).
    250 rows at a time brought it to 2-3 ms; the commits it adds cost under 1% of the core.  Its
    batches go through :meth:`Database.write_background`: the writer runs them at a lower CPU
    priority, so a request arriving meanwhile gets the core at once.

    That priority can starve them on a core that RADIUS keeps full (SCHED_IDLE gets almost
    nothing then): once ``max_waiting`` batches wait for the writer, the next one goes as an
    ordinary write, which raises the writer and takes the waiting ones with it, so the log falls
    behind by a bounded amount instead of filling its buffer and dropping decisions.

    ``repeat_seconds``: an accept of the same user name from the same NAS and Calling-Station-Id
    as an accept logged less than that long before is counted in :attr:`repeats`, not logged (a
    device that re-authenticates every few seconds would otherwise fill the log with copies, and
    each row costs the database an insert into the per-user index, the log's largest cost).
    Rejects are always logged, and do not start a window.  The logged accepts are remembered in
    two generations of ``repeat_seconds`` each, so memory holds at most two windows of devices."""

    def __init__(self, db: Any, clock: Any, interval: float = 1.0, max_batch: int = 250,
                 max_buffer: int = 100_000, max_waiting: int = 8, repeat_seconds: float = 0.0):
        self.db = db
        self.clock = clock
        self.interval = interval
        self.max_batch = max_batch
        self.max_buffer = max_buffer
        self.max_waiting = max_waiting
        self.waiting = 0       # batches handed to the writer and not yet written
        self.promoted = 0      # batches sent at full priority because max_waiting were waiting
        self._buf: list[Entry] = []
        self.timer = Timer(self.flush, interval, clock, "auth log flush", now=False)
        self.dropped = 0
        self.written = 0
        self.errors = RateLimited(log, clock)
        self.cleaned = 0   # rows whose text had to be cut or had NUL replaced
        self.repeat_seconds = repeat_seconds
        self.repeats = 0   # accepts not logged: they repeated one logged less than repeat_seconds before
        self._seen: dict[tuple[Any, ...], float] = {}       # (nas_id, username, calling station) -> logged at
        self._seen_before: dict[tuple[Any, ...], float] = {}
        self._rotate_at = 0.0

    def remembered(self) -> int:
        """How many logged accepts are remembered to recognise repeats (both generations)."""
        return len(self._seen) + len(self._seen_before)

    def _repeat(self, entry: Entry) -> bool:
        """True if ``entry`` (an accept) repeats one logged less than ``repeat_seconds`` before;
        otherwise remember it as logged."""
        ts = entry[0]
        if ts >= self._rotate_at:      # a new generation: what is older than one window is let go
            self._seen_before, self._seen = self._seen, {}
            self._rotate_at = ts + self.repeat_seconds
        key = (entry[2], entry[3], entry[7])
        last = self._seen.get(key)
        if last is None:
            last = self._seen_before.get(key)
        if last is not None and 0 <= ts - last < self.repeat_seconds:   # (a clock set back: not a repeat)
            self.repeats += 1
            return True
        self._seen[key] = ts
        return False

    def add(self, entry: Entry) -> None:
        if self.repeat_seconds > 0 and entry[5] == "accept" and self._repeat(entry):
            return
        buf = self._buf
        if len(buf) >= self.max_buffer:  # the database is stuck: keep the daemon alive
            self.dropped += 1
            return
        buf.append(entry)
        if len(buf) >= self.max_batch:
            self.flush()

    def flush(self) -> Any:
        if not self._buf:
            return None
        rows, self._buf = self._buf, []
        if self.waiting >= self.max_waiting:
            self.promoted += 1
            d = self.db.write(_insert, rows)
        else:
            d = self.db.write_background(_insert, rows)
        self.waiting += 1

        def done(n: tuple[int, int]) -> None:
            self.waiting -= 1
            self.written += n[0]
            self.cleaned += n[1]

        def failed(f: Any) -> None:
            self.waiting -= 1
            self.dropped += len(rows)
            self.errors.failure("auth log batch lost", f, n=len(rows))
        return d.addCallbacks(done, failed)

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> defer.Deferred[None]:
        """Stop the timer, wait for a flush in progress, then write what is left."""
        return self.timer.stop().addCallback(lambda _: self.flush())


@defer.inlineCallbacks
def prune(db: Any, before: datetime, limit: int = PRUNE_CHUNK):  # type: ignore[no-untyped-def]
    """Delete the rows created before ``before``, one chunk per writer transaction."""
    total = 0
    while True:
        n = yield db.write(prune_chunk, before, limit)
        total += n
        if n < limit:
            return total
