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

Provisional sessions.  An Access-Accept for a login with a simultaneous-use
limit reserves one (:meth:`Tracker.reserve`) that counts like an open
session until the login's next Accounting-Start on this instance, or
``provisional_timeout`` seconds.  Reservations are per device (the
request's Calling-Station-Id): a device asking again (a PPPoE client
redialling after a failed negotiation) replaces its own reservation rather
than being refused by it.  So two Access-Requests arriving before
any Start get exactly the allowed number of accepts on one instance; across
instances each counts only its own reservations (the shared database makes
the Starts visible at the next refresh).
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

    def __init__(self, db: Any, clock: Any, refresh_interval: float = 60.0,
                 provisional_timeout: float = 30.0):
        self.db = db
        self.clock = clock
        self.refresh_interval = refresh_interval
        self.provisional_timeout = provisional_timeout
        self.open: dict[int, int] = {}
        self.provisional: dict[int, dict[bytes | None, float]] = {}  # login -> device -> until, oldest first
        self.timer = Timer(self.refresh, refresh_interval, clock, "accounting tracker refresh", now=False)
        self.refreshes = 0

    # -- the auth hooks ------------------------------------------------------------

    def open_count(self, login_id: int, device: bytes | None = None) -> int:
        """Sessions this login has open, provisional ones included but ``device``'s own (a
        device asking again replaces its reservation; see the module docstring for how stale)."""
        n = self.open.get(login_id, 0)
        pending = self.provisional.get(login_id)
        if pending:
            now = self.clock.seconds()
            for dev in [d for d, until in pending.items() if until <= now]:
                del pending[dev]
            if not pending:
                del self.provisional[login_id]
            n += len(pending) - (device in pending)
        return n

    def reserve(self, login_id: int, device: bytes | None = None) -> None:
        """An accept was decided for ``device`` (its Calling-Station-Id): count a provisional
        session until the login's next Start or the timeout (one per device: it replaces any
        earlier reservation of the same device)."""
        pending = self.provisional.setdefault(login_id, {})
        pending.pop(device, None)
        pending[device] = self.clock.seconds() + self.provisional_timeout

    def release(self, login_id: int, device: bytes | None = None) -> None:
        """The accept a reservation was made for was not sent: drop it."""
        pending = self.provisional.get(login_id)
        if pending is not None:
            pending.pop(device, None)
            if not pending:
                del self.provisional[login_id]

    # -- updates -------------------------------------------------------------------

    def apply(self, outcome: Outcome) -> None:
        """Count the sessions a committed batch opened and closed."""
        op = self.open
        prov = self.provisional
        for lid in outcome.opened:
            op[lid] = op.get(lid, 0) + 1
            if prov:
                pending = prov.get(lid)
                if pending:  # the Start of an accept: its oldest reservation is a session now
                    del pending[next(iter(pending))]
                    if not pending:
                        del prov[lid]
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
