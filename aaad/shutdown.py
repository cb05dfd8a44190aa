"""A stop that cannot hang: SIGTERM ends the process within a bound.

The daemon's stop waits for the writer to drain and the read pool to finish;
with a hung database (a SIGSTOPped PostgreSQL) that could be for ever.
:class:`BoundedStop` gives up after ``timeout`` seconds and says so; the
caller then exits without waiting for the threads stuck in the database.
Nothing acknowledged is lost: accounting is answered only after its commit.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

log = Logger()


class BoundedStop:
    """Call ``stop()`` and fire when it finished or ``timeout`` seconds passed
    (then ``timed_out`` is set); meant as a "before shutdown" trigger."""

    def __init__(self, clock: Any, stop: Callable[[], Any], timeout: float):
        self.clock = clock
        self.stop = stop
        self.timeout = timeout
        self.timed_out = False

    def __call__(self) -> defer.Deferred[None]:
        done: defer.Deferred[None] = defer.Deferred()

        def late() -> None:
            if not done.called:
                self.timed_out = True
                log.warn("stop did not finish within {t}s (is the database hung?); exiting anyway",
                         t=self.timeout)
                done.callback(None)
        call = self.clock.callLater(self.timeout, late)

        def finished(r: Any) -> None:
            if hasattr(r, "getTraceback"):
                log.failure("stop failed", r)
            if call.active():
                call.cancel()
            if not done.called:
                done.callback(None)
        defer.maybeDeferred(self.stop).addBoth(finished)
        return done
