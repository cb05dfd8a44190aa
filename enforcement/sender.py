"""The action sender: performs the queue's pending rows and writes their outcome.

Runs on the leader (where the event dispatcher runs).  It is woken at once
after a delivery transaction that queued actions (the dispatcher's
after-commit hook), and polls every ``poll_interval`` for rows written by
another process (``aaad disconnect``) or left pending by a restart.  A row is
in flight in memory from its send to its recorded outcome, so it is never
sent twice by one process; a crash between the NAS's answer and the
recorded outcome sends it again after the restart (a Disconnect of a session
already gone is answered "session context not found", which counts as done).

Each router's waiting actions go out Disconnects first, then the rest, each in
queue order: a suspension is not held behind a mass event's rate changes.

Outcomes:

- ACK: done (``ack``).
- NAK with Error-Cause 503 (Session-Context-Not-Found): done (``gone``), and
  our accounting session row is closed (the NAS no longer has it).
- NAK for another reason, or no answer within the bounded retransmissions:
  a Disconnect falls back to the RouterOS API when the NAS has credentials
  (``fallback``: the user's /ppp/active and /ip/hotspot/active entry at the
  session's Framed-IP-Address removed, or all the user's entries when the
  session's address is unknown), else it failed; a CoA is followed by a Disconnect of the same
  session (cause ``coa.nak``), so the customer reconnects at the new rate.
"""
from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from twisted.internet import defer
from twisted.logger import Logger

from aaad import nas as nas_store
from aaad.clock import utcnow
from aaad.nas import Nas
from aaad.pacing import TokenBucket
from aaad.timer import Timer
from enforcement import actions as q
from enforcement.coa import SESSION_NOT_FOUND, ClientStopped, Result, Target, identity_attrs

log = Logger()


def session_address(network: str, ip: str | None) -> str | None:
    """``ip`` (where a session's accounting came from) when it lies inside ``network`` (a NAS known
    by a network, e.g. a fleet of hotspot routers sharing one secret), as the plain literal a
    reply comes back from (an IPv4-mapped IPv6 address unwrapped); else None."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
        net = ipaddress.ip_network(network, strict=False)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr) if addr.version == net.version and addr in net else None


class DynAuth(Protocol):
    """The RFC 5176 client (:class:`enforcement.coa.DynAuthClient`)."""

    def disconnect(self, target: Target, attrs: list[tuple[str, Any]]) -> defer.Deferred[Result]: ...

    def coa(self, target: Target, attrs: list[tuple[str, Any]]) -> defer.Deferred[Result]: ...


class Routers(Protocol):
    """What the sender asks of routers' RouterOS APIs (:class:`enforcement.service.RouterTasks`)."""

    def remove_user_sessions(self, nas: Nas, username: str, address: str | None = None) -> defer.Deferred[int]:
        """Remove the user's /ppp/active and /ip/hotspot/active entries, only the one at ``address``
        when given; how many."""

    def sync_profiles(self, nas: Nas) -> defer.Deferred[str]:
        """Make the router's aaad-* PPP and hotspot profiles the org's; what changed, in words."""

    def check_status(self, nas: Nas) -> None:
        """Check and record the router's status (after a failure); fire and forget."""


class ActionSender:
    def __init__(self, db: Any, box: Any, clock: Any, client: DynAuth, *, poll_interval: float = 1.0,
                 in_flight_per_nas: int = 64, routers: Routers | None = None, api_fallback: bool = True,
                 stats: Any = None,
                 on_sessions_closed: Callable[[list[int]], None] | None = None, batch: int = 250,
                 max_rate: float = 0.0, rescan_every: int = 60, flush_every: float = 0.05):
        self.db = db
        self.box = box
        self.clock = clock
        self.client = client
        self.routers = routers
        self.api_fallback = api_fallback
        self.per_nas = in_flight_per_nas
        self.batch = batch
        self.enabled = True                 # False on a non-leader instance
        self.on_sessions_closed = on_sessions_closed
        self.timer = Timer(self.pump, poll_interval, clock, "enforcement action sender")
        self.in_flight: set[int] = set()
        self._taken_max = 0                # the highest action id taken off the queue
        # Every rescan_every-th look reads the whole queue: an action retried by another process (or on
        # another instance) keeps its older id, below _taken_max.
        self.rescan_every = max(1, rescan_every)
        self._looks = 0
        self._waiting: dict[int, _Line] = {}
        self._busy: dict[int, int] = {}
        self._targets: dict[tuple[str, int, bytes], Target] = {}
        # Pacing (a token bucket over all NAS): a mass event's thousands of requests are spread
        # so RADIUS keeps its latency; 0 sends as fast as the in-flight caps allow.
        self._bucket = TokenBucket(clock, max_rate, 0.02)
        self._drain_call: Any = None
        self._draining = False
        self._drain_again = False
        self._outcomes: list[_Done] = []
        self._flush_call: Any = None
        # Outcomes are written at once after a quiet spell, else at most every flush_every seconds:
        # a mass event's 400 answers a second in about 20 transactions, not 400.
        self.flush_every = flush_every
        self._flushed_at = float("-inf")
        self._flushing: defer.Deferred[Any] | None = None
        from aaad.metrics import Stats
        s = stats if stats is not None else Stats()
        self._results = s.counter("aaad_enforcement_actions_total",
                                  "Enforcement actions finished, by kind and outcome (e.g. disconnect_ack, "
                                  "coa_nak, disconnect_fallback).", "result")
        s.gauge("aaad_enforcement_in_flight", "Actions sent and not yet finished.", lambda: len(self.in_flight))

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> defer.Deferred[Any]:
        d = self.timer.stop()
        d.addCallback(lambda _: self.flush())
        return d

    def kick(self, rescan: bool = False) -> None:
        """Look at the queue now (after a commit that queued actions); ``rescan``: the whole queue, not only
        the rows newer than those taken (a retried action keeps its older id)."""
        if rescan:
            self._taken_max = 0
        if self.enabled:
            self.timer.kick()

    # -- taking rows off the queue -----------------------------------------------------

    @defer.inlineCallbacks
    def pump(self):  # type: ignore[no-untyped-def]
        """Send every pending action not already in flight (each NAS at most
        ``in_flight_per_nas`` at once; the rest wait in memory for a free slot)."""
        if not self.enabled:
            return 0
        self._looks += 1
        if self._looks % self.rescan_every == 0:
            self._taken_max = 0
        # Only rows above the highest already taken: those below are in flight or finished
        # (a pump must not re-read a mass event's thousands of waiting rows every second).
        after, started = self._taken_max, 0
        while True:
            rows = yield self.db.read(q.pending, after, self.batch)
            new = [a for a in rows if a.id not in self.in_flight]
            if new:
                nas = yield self.db.read(nas_store.get_many, self.box, {a.nas_id for a in new})
                for a in new:
                    self._take(a, nas.get(a.nas_id))
                    started += 1
                self._drain()              # once per read: not a timer rescheduled per row
            if rows:
                after = rows[-1].id
                self._taken_max = max(self._taken_max, after)
            if len(rows) < self.batch:
                return started

    def _take(self, a: q.Action, nas: Nas | None) -> None:
        self.in_flight.add(a.id)
        if nas is None:
            self._finish(a, q.Outcome(a.id, "failed", "error", 0, "the NAS was removed"))
            return
        if a.kind == q.SYNC:
            self._sync(a, nas)
            return
        host = nas.address
        if "/" in nas.address:   # a NAS network: the router the session's accounting came from
            found = session_address(nas.address, a.nas_ip)
            if found is None:
                why = ("its accounting never said which router sent it" if not a.nas_ip
                       else f"its router's address {a.nas_ip} is outside it")
                self._finish(a, q.Outcome(a.id, "failed", "error", 0,
                                          f"NAS {nas.name} is a network ({nas.address}) and {why}: no address to "
                                          "send to"))
                return
            host = found
        line = self._waiting.get(nas.id)
        if line is None:
            line = self._waiting[nas.id] = _Line()
        line.append((a, nas, self._target(nas, host)), urgent=a.kind == q.DISCONNECT)

    def _drain(self) -> None:
        """Send what waits, one per NAS in turn, while NAS slots and the rate allow."""
        if self._draining:               # a send answered at once and freed a slot: loop again
            self._drain_again = True
            return
        self._draining = True
        try:
            self._drain_again = True
            while self._drain_again:
                self._drain_again = False
                self._drain_pass()
        finally:
            self._draining = False

    def _drain_pass(self) -> None:
        if self._drain_call is not None and self._drain_call.active():
            self._drain_call.cancel()
        self._drain_call = None
        sent = True
        while sent:
            sent = False
            for nas_id, waiting in list(self._waiting.items()):
                if not waiting:
                    del self._waiting[nas_id]
                    continue
                if self._busy.get(nas_id, 0) >= self.per_nas:
                    continue
                wait = self._bucket.take()
                if wait:
                    self._drain_call = self.clock.callLater(wait, self._drain)
                    return
                a, nas, target = waiting.popleft()
                self._send(a, nas, target)
                sent = True

    def _target(self, nas: Nas, host: str) -> Target:
        key = (host, nas.coa_port, nas.secret)
        t = self._targets.get(key)
        if t is None:
            t = self._targets[key] = Target(host, nas.coa_port, nas.secret)
        return t

    def _send(self, a: q.Action, nas: Nas, target: Target) -> None:
        self._busy[nas.id] = self._busy.get(nas.id, 0) + 1
        attrs = identity_attrs(a.username, a.acct_session_id, a.framed_ip)
        attrs += sorted(a.attrs.items())
        sent_at = utcnow(self.clock)
        # RFC 5176 recommends it against replays (section 3); it also makes two requests for the same
        # session (a suspension, later a resumption) different packets, never a "retransmission".
        attrs.append(("Event-Timestamp", int(sent_at.timestamp())))
        send = self.client.coa if a.kind == q.COA else self.client.disconnect
        d = send(target, attrs)
        d.addCallback(self._answered, a, nas, sent_at)
        d.addErrback(self._broke, a)
        d.addBoth(self._slot_free, nas.id)

    def _sync(self, a: q.Action, nas: Nas) -> None:
        if self.routers is None or not nas.api_username:
            self._finish(a, q.Outcome(a.id, "failed", "error", 0, f"NAS {nas.name} has no RouterOS API credentials"))
            return
        sent_at = utcnow(self.clock)
        d = self.routers.sync_profiles(nas)
        d.addCallback(lambda detail: self._finish(a, q.Outcome(a.id, "done", "ack", 1, detail), sent_at))
        d.addErrback(lambda f: self._router_failed(a, nas, f, sent_at))

    def _router_failed(self, a: q.Action, nas: Nas, f: Any, sent_at: datetime) -> None:
        self._finish(a, q.Outcome(a.id, "failed", "error", 1, f"RouterOS API: {f.getErrorMessage()}"), sent_at)
        if self.routers is not None:
            self.routers.check_status(nas)

    def _slot_free(self, _: Any, nas_id: int) -> None:
        self._busy[nas_id] -= 1
        if self._waiting:
            self._drain()

    # -- outcomes ---------------------------------------------------------------------

    def _answered(self, r: Result, a: q.Action, nas: Nas, sent_at: datetime) -> Any:
        rtt = None if r.rtt is None else int(round(r.rtt * 1000))
        detail = f"{r.outcome.upper()} after {r.attempts} attempt(s)"
        if r.outcome == "ack":
            return self._finish(a, q.Outcome(a.id, "done", "ack", r.attempts, detail, rtt_ms=rtt), sent_at)
        if r.outcome == "nak" and r.error_cause == SESSION_NOT_FOUND:
            return self._finish(a, q.Outcome(a.id, "done", "gone", r.attempts, f"{detail}: {r.error_text}",
                                             SESSION_NOT_FOUND, rtt, close_session=a.session_row > 0), sent_at)
        why = f"{detail}: {r.error_text}" if r.outcome == "nak" else f"no answer after {r.attempts} attempt(s)"
        out = q.Outcome(a.id, "failed", r.outcome, r.attempts, why, r.error_cause, rtt)
        if a.kind == q.COA:
            return self._finish(a, out, sent_at, then_disconnect=True)
        if self.routers is not None and nas.api_username:
            if r.outcome == "timeout":
                self.routers.check_status(nas)
            if self.api_fallback:
                # only this session when its address is known: the login's other sessions stay up
                d = self.routers.remove_user_sessions(nas, a.username, a.framed_ip)
                d.addCallback(lambda n: self._finish(a, q.Outcome(
                    a.id, "done", "fallback", r.attempts, f"{why}; removed {n} session(s) through the RouterOS API",
                    r.error_cause, rtt, fallback="api"), sent_at))
                d.addErrback(self._fallback_failed, a, nas, r, why, rtt, sent_at)
                return d
        return self._finish(a, out, sent_at)

    def _fallback_failed(self, f: Any, a: q.Action, nas: Nas, r: Result, why: str, rtt: int | None,
                         sent_at: datetime) -> None:
        self._finish(a, q.Outcome(a.id, "failed", r.outcome, r.attempts,
                                  f"{why}; RouterOS API fallback failed: {f.getErrorMessage()}", r.error_cause, rtt,
                                  fallback="api-failed"), sent_at)
        if self.routers is not None:
            self.routers.check_status(nas)

    def _broke(self, f: Any, a: q.Action) -> None:
        if f.check(ClientStopped):   # stopping: left pending, sent again after the restart
            self.in_flight.discard(a.id)
            self._taken_max = 0
            return
        log.failure("enforcement action {id} failed unexpectedly", f, id=a.id)
        self._finish(a, q.Outcome(a.id, "failed", "error", 0, f.getErrorMessage()))

    def _finish(self, a: q.Action, o: q.Outcome, sent_at: datetime | None = None, *,
                then_disconnect: bool = False) -> None:
        self._results[f"{a.kind}_{o.outcome}"] += 1
        self._outcomes.append(_Done(a, o, sent_at, then_disconnect))
        if self._flush_call is None:
            wait = self._flushed_at + self.flush_every - self.clock.seconds()
            self._flush_call = self.clock.callLater(max(wait, 0.0), self.flush)

    @defer.inlineCallbacks
    def flush(self):  # type: ignore[no-untyped-def]
        """Write the outcomes gathered since the last flush (one transaction)."""
        self._flush_call = None
        self._flushed_at = self.clock.seconds()
        if self._flushing is not None:
            yield self._flushing
        todo = list(self._outcomes)
        self._outcomes.clear()
        if not todo:
            return
        self._flushing = d = self.db.write(_record, todo, utcnow(self.clock))
        try:
            closed, followups = yield d
        except Exception:
            log.failure("recording {n} enforcement outcomes failed; they will be sent again", n=len(todo))
            closed, followups = [], 0
            self._taken_max = 0            # the next pump reads them again
        finally:
            self._flushing = None
            for t in todo:
                self.in_flight.discard(t.action.id)
        if closed and self.on_sessions_closed is not None:
            self.on_sessions_closed(closed)
        if followups:
            self.kick()


class _Line:
    """One router's actions waiting for a slot: Disconnects first (a suspension is not held
    behind a mass event's rate changes), each kind in the order it was queued."""
    __slots__ = ("urgent", "rest")

    def __init__(self) -> None:
        self.urgent: deque[tuple[q.Action, Nas, Target]] = deque()
        self.rest: deque[tuple[q.Action, Nas, Target]] = deque()

    def append(self, item: tuple[q.Action, Nas, Target], urgent: bool) -> None:
        (self.urgent if urgent else self.rest).append(item)

    def popleft(self) -> tuple[q.Action, Nas, Target]:
        return self.urgent.popleft() if self.urgent else self.rest.popleft()

    def __len__(self) -> int:
        return len(self.urgent) + len(self.rest)


class _Done:
    __slots__ = ("action", "outcome", "sent_at", "then_disconnect")

    def __init__(self, action: q.Action, outcome: q.Outcome, sent_at: datetime | None, then_disconnect: bool):
        self.action = action
        self.outcome = outcome
        self.sent_at = sent_at
        self.then_disconnect = then_disconnect


def _record(conn: Any, todo: list[_Done], now: datetime) -> tuple[list[int], int]:
    """On the writer: the outcomes, the sessions the NAS says are gone (closed here;
    their login ids returned), the Disconnects that follow NAK'd CoAs."""
    from accounting import store as acct_store
    from accounting.sessions import TERMINATE_ADMIN_RESET
    recorded = set(q.record(conn, [t.outcome for t in todo], now,
                            {t.outcome.action_id: t.sent_at for t in todo if t.sent_at is not None}))
    closed: list[int] = []
    followups = 0
    for t in todo:
        if t.outcome.action_id not in recorded:
            continue
        a = t.action
        if t.outcome.close_session:
            lid = acct_store.close_session(conn, a.org_id, a.session_row, now, TERMINATE_ADMIN_RESET)
            if lid is not None:
                closed.append(lid)
        if t.then_disconnect:
            followups += q.queue(conn, a.org_id, q.DISCONNECT, "coa.nak", a.event_id, [q.OpenSession(
                a.session_row, a.login_id, a.username, a.nas_id, a.acct_session_id, a.framed_ip, a.nas_ip)], now,
                reason=f"CoA not applied ({t.outcome.detail}): {a.reason}")
    return closed, followups
