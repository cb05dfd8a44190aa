"""In-memory open-session counts, for the auth hot path.

The auth server asks, per Access-Request, how many sessions a login has
open (simultaneous-use) and must not wait on the database for it.  This
tracker answers from memory.  (FUP needs no such question any more: the
aggregation pass sets the login's throttle level in the AAA view.)

How current the answers are: open-session counts are loaded from the
database at start, then changed by every committed accounting batch *of
this instance* (a session opened or closed, Accounting-On/Off, the
stale-session job).  With one instance they are exact as of the last
commit.  With several instances behind the same NAS routers, each instance
only sees the sessions it handled itself, plus what it loaded;
:meth:`Tracker.refresh` (every ``tracker_refresh`` seconds) re-reads the
counts from the database, so a count may be wrong by the sessions other
instances opened or closed within that window.  A refresh may also race
with a batch committing meanwhile; the next refresh corrects it.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from aaad.timer import Timer
from accounting import store
from accounting.store import Outcome

log = Logger()


class Tracker:
    """Per-login open-session counts, held in memory."""

    def __init__(self, db: Any, clock: Any, refresh_interval: float = 60.0):
        self.db = db
        self.clock = clock
        self.refresh_interval = refresh_interval
        self.open: dict[int, int] = {}
        self.timer = Timer(self.refresh, refresh_interval, clock, "accounting tracker refresh", now=False)
        self.refreshes = 0

    # -- the auth hooks ------------------------------------------------------------

    def open_count(self, login_id: int) -> int:
        """Sessions this login has open (see the module docstring for how stale)."""
        return self.open.get(login_id, 0)

    # -- updates -------------------------------------------------------------------

    def apply(self, outcome: Outcome) -> None:
        """Count the sessions a committed batch opened and closed."""
        op = self.open
        for lid in outcome.opened:
            op[lid] = op.get(lid, 0) + 1
        for lid in outcome.closed:
            n = op.get(lid, 0) - 1
            if n > 0:
                op[lid] = n
            else:
                op.pop(lid, None)

    def closed(self, login_ids: Iterable[int]) -> None:
        self.apply(Outcome(closed=tuple(login_ids)))

    # -- loading -------------------------------------------------------------------

    def load(self, conn: Any) -> None:
        """Load the counts synchronously (at start, before readiness)."""
        self.open = store.open_counts(conn)

    @defer.inlineCallbacks
    def refresh(self):  # type: ignore[no-untyped-def]
        """Re-read the counts from the database (other instances' sessions)."""
        counts = yield self.db.read(store.open_counts)
        self.open = counts
        self.refreshes += 1

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> defer.Deferred[None]:
        """Stop refreshing; fires when a refresh in progress has ended."""
        return self.timer.stop()
