"""One periodic-loop service for every timer in the daemon.

A :class:`Timer` runs an async function every ``interval`` seconds on the
injected clock.  A run never overlaps the previous one (the next is
scheduled ``interval`` seconds after a run ends); :meth:`Timer.kick` asks
for a run now, or right after the current one; a failing run is logged and
the timer goes on; :meth:`Timer.stop` returns a Deferred that fires once
the run in progress (if any) has finished, so the app can stop the database
only after its loops are quiet.  The change follower, the event dispatcher,
the job scheduler, accounting's tracker refresh and the auth-log flush all
run on it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

log = Logger()


class Timer:
    """Runs ``fn()`` (which may return a Deferred) periodically, never overlapping."""

    def __init__(self, fn: Callable[[], Any], interval: float, clock: Any, name: str,
                 now: bool = True):
        self.fn = fn
        self.interval = interval
        self.clock = clock
        self.name = name
        self.now = now
        self.runs = 0
        self.failures = 0
        self._call: Any = None
        self._current: defer.Deferred[Any] | None = None
        self._again = False
        self._started = False
        self._waiters: list[defer.Deferred[None]] = []

    @property
    def started(self) -> bool:
        return self._started

    @property
    def busy(self) -> bool:
        """Whether a run is in progress."""
        return self._current is not None

    def start(self) -> None:
        """Run every ``interval`` seconds from now (the first run at once if ``now``)."""
        self._started = True
        if self._current is not None:
            return
        if self.now:
            self._run()
        else:
            self._schedule(self.interval)

    def kick(self) -> None:
        """Run now; if a run is in progress, run again as soon as it ends."""
        if self._current is not None:
            self._again = True
            return
        self._cancel()
        self._run()

    def stop(self) -> defer.Deferred[None]:
        """Stop scheduling; the Deferred fires when the run in progress has ended."""
        self._started = False
        self._again = False
        self._cancel()
        if self._current is None:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._waiters.append(d)
        return d

    def _schedule(self, delay: float) -> None:
        self._cancel()
        self._call = self.clock.callLater(delay, self._fire)

    def _cancel(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _fire(self) -> None:
        self._call = None
        self._run()

    def _run(self) -> None:
        while True:
            self._again = False
            d = defer.maybeDeferred(self.fn)
            self._current = d
            result: list[Any] = []
            d.addErrback(self._failed)
            d.addBoth(result.append)
            if not result:  # asynchronous: carry on when it ends
                d.addBoth(lambda _: self._done())
                return
            self._current = None
            self.runs += 1
            if not (self._again and self._started):
                break
        self._after()

    def _failed(self, f: Any) -> None:
        self.failures += 1
        log.failure("{timer} run failed", f, timer=self.name)

    def _done(self) -> None:
        self._current = None
        self.runs += 1
        if self._again and self._started:
            self._run()
            return
        self._after()

    def _after(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.callback(None)
        if self._started and self._call is None:
            self._schedule(self.interval)
