"""The auth log: every decision, written in batches off the hot path.

The RADIUS path appends a tuple; a timer (and a size threshold) hands the
batch to the writer thread as one multi-row INSERT.  Secrets never reach
it: only the user name, NAS, method, result, reason and latency.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger

from aaad.ratelog import RateLimited
from aaad.schema import auth_log
from aaad.timer import Timer

log = Logger()

Entry = tuple  # (ts, org_id, nas_id, username, method, result, reason, calling_station, latency_us)


_COLS = "created_at, org_id, nas_id, username, method, result, reason, calling_station, latency_us"


def _insert(conn: Connection, rows: list[Entry]) -> int:
    """One multi-row INSERT through the driver (SQLAlchemy's per-row parameter
    processing cost more than SQLite itself at thousands of rows a second)."""
    if conn.dialect.name == "sqlite":
        # UTCDateTime's storage format on SQLite: naive UTC, ISO with a space.
        fmt = lambda ts: datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")  # noqa: E731
        marks = ", ".join("?" * 9)
    else:
        fmt = lambda ts: datetime.fromtimestamp(ts, timezone.utc)  # noqa: E731
        marks = ", ".join(["%s"] * 9)
    conn.exec_driver_sql(f"INSERT INTO {auth_log.name} ({_COLS}) VALUES ({marks})",
                         [(fmt(r[0]),) + tuple(r[1:]) for r in rows])
    return len(rows)


class AuthLog:
    def __init__(self, db: Any, clock: Any, interval: float = 1.0, max_batch: int = 2000,
                 max_buffer: int = 100_000):
        self.db = db
        self.clock = clock
        self.interval = interval
        self.max_batch = max_batch
        self.max_buffer = max_buffer
        self._buf: list[Entry] = []
        self.timer = Timer(self.flush, interval, clock, "auth log flush", now=False)
        self.dropped = 0
        self.written = 0
        self.errors = RateLimited(log, clock)

    def add(self, entry: Entry) -> None:
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
        d = self.db.write(_insert, rows)

        def done(n: int) -> None:
            self.written += n

        def failed(f: Any) -> None:
            self.dropped += len(rows)
            self.errors.failure("auth log batch lost", f, n=len(rows))
        return d.addCallbacks(done, failed)

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> defer.Deferred:
        """Stop the timer, wait for a flush in progress, then write what is left."""
        return self.timer.stop().addCallback(lambda _: self.flush())
