"""Brings the in-memory view up to date from the change feed.

It polls the feed every ``interval`` seconds (and whenever poked) and
applies new rows, skipping those this daemon already applied after its own
commits.  On PostgreSQL a listener thread LISTENs on the feed's channel and
pokes the follower at once when another instance or the CLI commits; the
poll stays as the fallback.  If the feed was pruned past the follower's
position (a daemon stopped for longer than the feed's retention, or an
instance that fell behind), it reloads the whole snapshot instead of
silently missing changes.
"""
from __future__ import annotations

import threading
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from aaad.changes import NOTIFY_CHANNEL
from aaad.crypto import SecretBox
from aaad.timer import Timer
from aaad.view.memory import AAAView
from aaad.view.store import FeedPage, load_changes, load_snapshot

log = Logger()

#: Changes read and applied per step.  Each step's updates are applied on the reactor in one go
#: (a login's reply is prepared as it goes in: about 10 µs each in a profile of the daemon's
#: start-up), so this bounds the pause RADIUS sees when another process changes many logins at
#: once (a dunning pass from ``aaad jobs run`` suspending thousands): some 5 ms at 500, against
#: some 50 ms at the 5,000 it was.  The read between steps hands the reactor back.
PAGE = 500


class ChangeFollower:
    """Polls (and is poked to read) the change feed and applies it to the view."""

    def __init__(self, db: Any, box: SecretBox, view: AAAView, clock: Any, interval: float = 0.25):
        self.db = db
        self.box = box
        self.view = view
        self.clock = clock
        self.interval = interval
        self.timer = Timer(self.poll, interval, clock, "change follower", now=False)
        self._listener: _PgListener | None = None
        self.applied = 0
        self.reloads = 0

    def start(self) -> None:
        self.timer.start()
        if not self.db.sqlite:
            self._listener = _PgListener(self.db, self.poke)
            self._listener.start()

    def stop(self) -> defer.Deferred[None]:
        """Stop polling; fires once the poll in progress has ended."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        return self.timer.stop()

    def poke(self) -> None:
        """Read the feed now (a NOTIFY arrived), or right after the poll in progress."""
        self.timer.kick()

    @defer.inlineCallbacks
    def poll(self):  # type: ignore[no-untyped-def]
        """Apply everything new (the timer keeps it from overlapping itself and logs failures)."""
        while True:
            page: FeedPage = yield self.db.read(load_changes, self.box, self.view.last_change,
                                                frozenset(self.view.local), PAGE)
            if page.pruned_through > self.view.last_change:
                yield self.reload(page.pruned_through)
                continue
            self.applied += self.view.apply(page.updates)
            self.view.passed(page.last_id)
            if page.read < PAGE:
                break

    @defer.inlineCallbacks
    def reload(self, pruned_through: int):  # type: ignore[no-untyped-def]
        log.warn("change feed pruned through {pruned} but this instance is at {at}: reloading the AAA view",
                 pruned=pruned_through, at=self.view.last_change)
        snap = yield self.db.read(load_snapshot, self.box)
        self.view.load(snap)
        self.reloads += 1


class _PgListener:
    """A thread LISTENing on the change feed's channel; pokes on each notification."""

    def __init__(self, db: Any, poke: Any):
        self.db = db
        self.poke = poke
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aaad-change-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import psycopg
        url = self.db.read_engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.db.reactor.callFromThread(self.poke)  # catch up on what came before
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.db.reactor.callFromThread(self.poke)
            except Exception as e:  # the poll goes on; try again in a while
                log.info("change-feed LISTEN connection lost ({error}); polling only, retrying", error=e)
                self._stop.wait(5.0)
