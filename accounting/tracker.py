"""In-memory open-session counts and cycle usage, for the auth hot path.

The auth server asks two questions per Access-Request and must not wait on
the database for either: how many sessions a login has open
(simultaneous-use) and whether it has used up its data cap (FUP).  This
tracker answers both from memory.

How current the answers are:

- Open-session counts are loaded from the database at start, then changed
  by every committed accounting batch *of this instance* (a session opened
  or closed, Accounting-On/Off, the stale-session job).  With one instance
  they are exact as of the last commit.  With several instances behind the
  same NAS routers, each instance only sees the sessions it handled itself,
  plus what it loaded; :meth:`Tracker.refresh` (every ``tracker_refresh``
  seconds) re-reads the counts from the database, so a count may be wrong
  by the sessions other instances opened or closed within that window.
  A refresh may also race with a batch committing meanwhile; the next
  refresh corrects it.
- Cycle usage is loaded at start from ``acct_usage_cycles`` and updated by
  the aggregation job (every 5 minutes), so it lags traffic by up to one
  aggregation interval; on other instances (which do not run jobs), by up to
  ``tracker_refresh`` more.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from aaad.clock import utcnow
from aaad.timer import Timer
from accounting import store
from accounting.store import CycleUsage, Outcome
from accounting.usage import over_cap as _over_cap

log = Logger()


class Tracker:
    """Per-login open-session counts and current-cycle usage, held in memory."""

    def __init__(self, db: Any, clock: Any, refresh_interval: float = 60.0):
        self.db = db
        self.clock = clock
        self.refresh_interval = refresh_interval
        self.open: dict[int, int] = {}
        self.cycles: dict[int, CycleUsage] = {}
        self.timer = Timer(self.refresh, refresh_interval, clock, "accounting tracker refresh", now=False)
        self.refreshes = 0

    # -- the auth hooks ------------------------------------------------------------

    def open_count(self, login_id: int) -> int:
        """Sessions this login has open (see the module docstring for how stale)."""
        return self.open.get(login_id, 0)

    def cycle_used(self, login_id: int, now: datetime | None = None) -> int:
        """Octets (in + out) used in the login's current cycle; 0 once that cycle is over."""
        c = self.cycles.get(login_id)
        if c is None:
            return 0
        now = now or utcnow(self.clock)
        return c.octets if c.cycle_start <= now < c.cycle_end else 0

    def over_cap(self, login: Any) -> bool:
        """Whether the login has reached its data cap in its current cycle."""
        cap = login.data_cap
        if cap is None:
            return False
        return _over_cap(self.cycle_used(login.id), cap)

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

    def set_cycles(self, cycles: Iterable[CycleUsage]) -> None:
        for c in cycles:
            cur = self.cycles.get(c.login_id)
            if cur is None or cur.cycle_start <= c.cycle_start:
                self.cycles[c.login_id] = c

    # -- loading -------------------------------------------------------------------

    def load(self, conn: Any) -> None:
        """Load counts and cycle usage synchronously (at start, before readiness)."""
        self.open = store.open_counts(conn)
        self.cycles = {}
        self.set_cycles(store.current_cycles(conn, utcnow(self.clock)))

    @defer.inlineCallbacks
    def refresh(self):  # type: ignore[no-untyped-def]
        """Re-read counts and cycle usage from the database (other instances' sessions)."""
        counts = yield self.db.read(store.open_counts)
        cycles = yield self.db.read(store.current_cycles, utcnow(self.clock))
        self.open = counts
        self.set_cycles(cycles)
        self.refreshes += 1

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> defer.Deferred[None]:
        """Stop refreshing; fires when a refresh in progress has ended."""
        return self.timer.stop()
