"""The RADIUS accounting listener (UDP 1813 by default) and the accounting component.

Decode and validate in the protocol; the store decides what a request does
to its session.  Every datagram that fails validation is dropped silently
with a counted reason: unknown client, malformed packet, a code other than
Accounting-Request, a wrong Request Authenticator (RFC 2866 section 3), a
wrong Message-Authenticator when one is present (HMAC over the packet with
16 zero octets as its authenticator, RFC 5176 section 3.3), or attributes
the request cannot be recorded from.

A valid request is handed to the database writer (group commit: requests
arriving together are folded and written in one transaction) and the
Accounting-Response is sent only once that transaction has committed.  A
retransmission arriving meanwhile is dropped; one arriving after the reply,
within ``dedup_window``, gets the same reply byte for byte.  Retransmissions
outside the window are applied again, which is harmless: applying a request
twice changes nothing (see ``accounting.sessions``).  A record the database
refuses (not a database that is down) is held back: its retransmissions
are dropped for a short, growing while (:class:`Refusals`), so one bad
record retransmitted fast cannot slow every other NAS down.

The Accounting-Response carries no Message-Authenticator: RFC 2866 does not
define one, and implementations disagree on its HMAC input (FreeRADIUS 3
computes it over a zeroed authenticator, RFC 3579 over the request's), so
a NAS could reject either; the Response Authenticator protects the reply.

Event time: the server's clock minus Acct-Delay-Time.  Event-Timestamp is
ignored on purpose: routers without NTP send wildly wrong ones.

Pre-accounting (``accounting.preacct``): a delay or session time beyond its
configured bound, a counter or integer a column cannot hold, and NUL in
text are clamped or cleaned in ``parse_record``, the request is recorded
anyway, and each kind is counted in ``acct_anomalies_total{kind}`` (with
the 32-bit wraps the store reads against the stored session).
"""
from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from aaad.component import Core
from aaad.db import refused
from aaad.metrics import Stats
from aaad.radius import codec
from aaad.radius.codec import ACCOUNTING_REQUEST, ACCOUNTING_RESPONSE, PROXY_STATE
from aaad.radius.dedup import RequestKey
from aaad.radius.listener import RadiusListener, listen_udp
from aaad.ratelog import RateLimited
from accounting import preacct
from accounting import sessions as sm
from accounting.config import AccountingConfig
from accounting.store import AcctItem, Outcome, apply_batch
from accounting.tracker import Tracker

if TYPE_CHECKING:
    from accounting.graphs import RrdStore

log = Logger()

_ZERO16 = bytes(16)
_STATUS_NAMES = {sm.STATUS_START: "start", sm.STATUS_STOP: "stop", sm.STATUS_INTERIM: "interim",
                 sm.STATUS_ACCOUNTING_ON: "accounting_on", sm.STATUS_ACCOUNTING_OFF: "accounting_off"}
_SESSION_STATUSES = (sm.STATUS_START, sm.STATUS_STOP, sm.STATUS_INTERIM)

BATCH_KIND = "acct"
_BOUNDS = preacct.Bounds()


class BadRequest(Exception):
    """A request we cannot record; ``reason`` is the drop counter's label."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class AcctStats:
    """The accounting server's counters."""

    def __init__(self, stats: Stats, prefix: str = "acct"):
        self.requests = stats.counter(f"{prefix}_requests_total",
                                      "Valid Accounting-Requests received, by Acct-Status-Type.", "status")
        self.responses = stats.counter(f"{prefix}_responses_total", "Accounting-Responses sent (after commit).")
        self.drops = stats.counter(f"{prefix}_dropped_total", "Datagrams discarded silently, by reason.", "reason")
        self.duplicates = stats.counter(f"{prefix}_duplicates_total",
                                        "Retransmissions answered from the cache or dropped while pending.", "outcome")
        self.write_failures = stats.counter(f"{prefix}_write_failures_total",
                                            "Requests whose database write failed (not answered; the NAS retransmits).")
        self.anomalies = stats.counter(f"{prefix}_anomalies_total",
                                       "Values a NAS sent that were clamped, cleaned or reinterpreted before recording "
                                       "(the request is recorded), by kind.", "kind")


def _int(v: bytes | None, reason: str) -> int | None:
    if v is None:
        return None
    if len(v) != 4:
        raise BadRequest(reason)
    return int.from_bytes(v, "big")


def parse_record(p: codec.Packet, nas_id: int, now: float,
                 default_interim: int | None = None, bounds: preacct.Bounds = _BOUNDS,
                 notes: list[str] | None = None, nas_ip: str | None = None) -> sm.AcctRecord:
    """Turn a validated Accounting-Request into an :class:`AcctRecord`; BadRequest if unusable.

    ``nas_ip`` is the address the request came from, kept with the session: Dynamic
    Authorization goes there when the NAS is known only by a network.

    ``default_interim`` stands in for a missing Acct-Interim-Interval.
    Values beyond ``bounds`` or beyond what the database can store are
    clamped or cleaned (``accounting.preacct``); each kind of change is
    appended to ``notes``.
    """
    notes = [] if notes is None else notes
    status = _int(p.get(codec.ACCT_STATUS_TYPE), "bad_status_type")
    if status is None:
        raise BadRequest("missing_status_type")
    if status not in _STATUS_NAMES:
        raise BadRequest("unsupported_status_type")
    delay = preacct.delay(_int(p.get(codec.ACCT_DELAY_TIME), "bad_delay_time") or 0, bounds, notes)
    event_time = datetime.fromtimestamp(now - delay, UTC)
    if status not in _SESSION_STATUSES:
        return sm.AcctRecord(status, nas_id, "", "", event_time)
    sid = p.get(codec.ACCT_SESSION_ID)
    if not sid:
        raise BadRequest("missing_session_id")
    ip = p.get(codec.FRAMED_IP_ADDRESS)
    if ip is not None:
        if len(ip) != 4:
            raise BadRequest("bad_framed_ip")
        ip_s: str | None = socket.inet_ntoa(ip)
    else:
        ip_s = None
    text = preacct.text
    in_lo = _int(p.get(codec.ACCT_INPUT_OCTETS), "bad_octets")
    in_hi = _int(p.get(codec.ACCT_INPUT_GIGAWORDS), "bad_octets")
    out_lo = _int(p.get(codec.ACCT_OUTPUT_OCTETS), "bad_octets")
    out_hi = _int(p.get(codec.ACCT_OUTPUT_GIGAWORDS), "bad_octets")
    interim = preacct.int32(_int(p.get(codec.ACCT_INTERIM_INTERVAL), "bad_interim_interval"), notes)
    return sm.AcctRecord(
        status=status, nas_id=nas_id, session_id=text(sid, notes) or "",
        username=text(p.get(codec.USER_NAME), notes) or "", event_time=event_time,
        nas_port=_int(p.get(codec.NAS_PORT), "bad_nas_port"),
        nas_port_id=text(p.get(codec.NAS_PORT_ID), notes), framed_ip=ip_s,
        calling_station=text(p.get(codec.CALLING_STATION_ID), notes),
        called_station=text(p.get(codec.CALLED_STATION_ID), notes),
        input_octets=preacct.counter(in_lo, in_hi, notes),
        output_octets=preacct.counter(out_lo, out_hi, notes),
        input_packets=_int(p.get(codec.ACCT_INPUT_PACKETS), "bad_packets"),
        output_packets=_int(p.get(codec.ACCT_OUTPUT_PACKETS), "bad_packets"),
        session_time=preacct.session_time(_int(p.get(codec.ACCT_SESSION_TIME), "bad_session_time"),
                                          bounds, notes),
        terminate_cause=preacct.int32(_int(p.get(codec.ACCT_TERMINATE_CAUSE), "bad_terminate_cause"),
                                      notes),
        interim_interval=interim or default_interim,
        class_attr=preacct.class_text(p.get(codec.CLASS)), nas_ip=nas_ip,
        in_32bit=in_lo is not None and in_hi is None,
        out_32bit=out_lo is not None and out_hi is None,
    )


RecordKey = tuple[int, int, str, int | None, int | None, int | None]


def record_key(rec: sm.AcctRecord) -> RecordKey:
    """What names one accounting record across retransmissions, whatever
    their Identifier and Acct-Delay-Time (RFC 2866 section 5.2: a NAS that
    updates the delay sends a new Identifier, so a new request key)."""
    return (rec.nas_id, rec.status, rec.session_id, rec.session_time, rec.input_octets, rec.output_octets)


class Refusals:
    """Records the database refused, held back a while before the next try.

    A record the database refuses (a value it cannot store, a constraint
    it breaks, a bug in handling it) fails again on every retransmission,
    and each failure rolls back the batch it rode in and costs the writer
    about 2·log2(n) transactions to isolate it: a NAS retransmitting one
    such record fast would halve every other NAS's throughput.  After a
    refusal, retransmissions of the record are dropped for ``first``
    seconds, doubling with each further refusal up to ``most``, so one
    record costs at most one isolation per ``most`` seconds and is still
    tried again (a NAS retransmits every few seconds; a fix to the
    database is picked up within ``most``).  Failures of the database
    itself (down, busy, full) hold nothing back.  At most ``size``
    records are held; beyond that a refused record is simply retried.
    """

    def __init__(self, clock: Any, first: float = 0.05, most: float = 1.0, size: int = 10_000):
        self.clock = clock
        self.first = first
        self.most = most
        self.size = size
        self.held: dict[RecordKey, tuple[float, float]] = {}   # record -> (held until, last wait)

    def holds(self, key: RecordKey) -> bool:
        """True if ``key`` was refused and its wait has not run out."""
        h = self.held.get(key)
        return h is not None and self.clock.seconds() < h[0]

    def refused(self, key: RecordKey) -> None:
        """The database refused ``key``: hold it, twice as long as last time."""
        now = self.clock.seconds()
        h = self.held.get(key)
        if h is None and len(self.held) >= self.size:
            self.prune(now)
            if len(self.held) >= self.size:
                return
        wait = self.first if h is None else min(h[1] * 2, self.most)
        self.held[key] = (now + wait, wait)

    def stored(self, key: RecordKey) -> None:
        """``key`` was written after all: forget it."""
        self.held.pop(key, None)

    def prune(self, now: float) -> None:
        """Forget records whose wait ran out long enough ago that a NAS
        still retransmitting them would be on its next try anyway."""
        stale = now - 4 * self.most
        for key in [k for k, (until, _) in self.held.items() if until < stale]:
            del self.held[key]


class AcctProtocol(RadiusListener):
    """Validates Accounting-Requests, submits them, answers after commit.

    ``submit(item) -> Deferred[Outcome]`` fires once the item's transaction
    committed (the app passes ``db.writer.submit("acct", ...)``; tests pass
    a Deferred they fire themselves).
    """

    codes = frozenset({ACCOUNTING_REQUEST})
    kind = "accounting"

    def __init__(self, view: Any, submit: Callable[[AcctItem], defer.Deferred[Outcome | None]], clock: Any,
                 stats: AcctStats, tracker: Tracker | None, dedup_window: float = 5.0,
                 tiled_vendors: frozenset[int] = codec.DEFAULT_TILED_VENDORS,
                 bounds: preacct.Bounds = _BOUNDS):
        super().__init__(view, clock, stats, dedup_window, tiled_vendors)
        self.submit = submit
        self.bounds = bounds
        self.tracker = tracker
        self.pending = 0
        self.errors = RateLimited(log, clock)
        self.refusals = Refusals(clock)

    def request(self, p: codec.Packet, nas: Any, addr: tuple[str, int]) -> None:
        st = self.st
        secret = nas.secret
        if not codec.verify_request_authenticator(p, secret):
            st.drops["bad_authenticator"] += 1
            return
        if p.ma_offset >= 0 and not codec.verify_message_authenticator(p, secret, _ZERO16):
            st.drops["bad_message_authenticator"] += 1
            return
        key = codec.request_key(addr[0], addr[1], p.ident, p.authenticator)
        if self.is_duplicate(key, addr):
            return
        login_id = interim = None
        limited = False
        user = p.get(codec.USER_NAME)
        if user:
            lg = self.view.get(nas.org_id, user.decode("utf-8", "replace"))
            if lg is not None:
                login_id = lg.id
                limited = lg.time_limit is not None or lg.data_limit is not None
                if lg.profile_id is not None:
                    prof = self.view.profiles.get(lg.profile_id)
                    if prof is not None:
                        interim = prof.interim_interval
        notes: list[str] = []
        try:
            rec = parse_record(p, nas.id, self.clock.seconds(), interim, self.bounds, notes, addr[0])
        except BadRequest as e:
            st.drops[e.reason] += 1
            self.dedup.forget(key)
            return
        if self.refusals.held and self.refusals.holds(record_key(rec)):
            st.drops["held_after_refusal"] += 1
            self.dedup.forget(key)
            return
        for kind in notes:
            st.anomalies[kind] += 1
        st.requests[_STATUS_NAMES[rec.status]] += 1
        self.pending += 1
        d = self.submit(AcctItem(rec, nas.org_id, login_id, limited))
        d.addCallbacks(self._committed, self._failed, callbackArgs=(key, p, secret, addr, rec),
                       errbackArgs=(key, rec))

    def _committed(self, outcome: Outcome | None, key: RequestKey, p: codec.Packet, secret: bytes,
                   addr: tuple[str, int], rec: sm.AcctRecord) -> None:
        self.pending -= 1
        if self.refusals.held:
            self.refusals.stored(record_key(rec))
        if outcome is not None:
            if self.tracker is not None:
                self.tracker.apply(outcome)
            for kind in outcome.anomalies:
                self.st.anomalies[kind] += 1
        proxy = p.get_all(PROXY_STATE) if p.get(PROXY_STATE) is not None else ()   # rare: no scan without one
        reply = codec.encode_reply(ACCOUNTING_RESPONSE, p.ident, p.authenticator, b"", secret,
                                   False, proxy)
        self.dedup.answered(key, reply)
        self.st.responses[""] += 1
        self.send(reply, addr)

    def _failed(self, f: Any, key: RequestKey, rec: sm.AcctRecord) -> None:
        self.pending -= 1
        self.st.write_failures[""] += 1
        self.dedup.forget(key)
        if refused(f.value):
            self.refusals.refused(record_key(rec))
        # Not answered: the NAS retransmits.  In an outage every request lands
        # here (the database is down, or the writer's queue is full), so one
        # line per interval with a count, not a traceback per request.
        self.errors.failure("accounting write failed; not answered, the NAS will retransmit", f)


class AccountingServer:
    """The component: listener, tracker, periodic jobs and RRD store."""

    def __init__(self, core: Core, conf: AccountingConfig):
        from accounting import jobs
        self.core = core
        self.conf = conf
        self.stats = AcctStats(core.stats)
        self.tracker = Tracker(core.db, core.clock, conf.tracker_refresh, conf.provisional_timeout)
        sizes = core.stats.histogram("acct_batch_size", "Accounting-Requests committed per writer transaction "
                                     "(group commit).", buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))

        add_usage = core.login_writer.add_usage

        def apply(conn: Connection, items: list[AcctItem]) -> list[Outcome]:
            sizes.observe(len(items))
            return apply_batch(conn, items, add_usage)
        core.db.writer.register_batch(BATCH_KIND, apply)
        self.protocol = AcctProtocol(core.view, self._submit, core.clock, self.stats, self.tracker,
                                     conf.dedup_window,
                                     bounds=preacct.Bounds(conf.max_delay, conf.max_session_time))
        self.rrd_pool: ThreadPool | None = None
        self.rrd: RrdStore | None = None
        self._setup_rrd()
        self.jobs = jobs.AccountingJobs(core, conf, self.tracker, self.rrd)
        self.jobs.register(core.scheduler, core.dispatcher)
        self._port: Any = None
        self.port = 0
        s = core.stats
        s.gauge("acct_open_sessions", "Open sessions with a known login, as this instance counts them.",
                lambda: sum(self.tracker.open.values()))
        s.gauge("acct_pending_writes", "Accounting-Requests waiting for their commit.",
                lambda: self.protocol.pending)

    def _submit(self, item: AcctItem) -> defer.Deferred[Outcome | None]:
        return self.core.db.writer.submit(BATCH_KIND, item)

    def _setup_rrd(self) -> None:
        conf = self.conf
        if not conf.rrd_enabled:
            return
        try:
            from accounting.graphs import RrdStore
        except ImportError as e:
            log.warn("RRD graphs disabled: the rrdtool module cannot be imported ({error})", error=e)
            return
        rrd_dir = conf.rrd_dir or os.path.join(self.core.data_dir, "rrd")
        os.makedirs(rrd_dir, exist_ok=True)
        self.rrd_pool = ThreadPool(minthreads=1, maxthreads=conf.rrd_threads, name="aaad-rrd")
        reactor, pool = self.core.reactor, self.rrd_pool

        def run_in_thread(fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
            return threads.deferToThreadPool(reactor, pool, fn, *args)
        self.rrd = RrdStore(rrd_dir, conf.rrdcached or None, run_in_thread, clock=self.core.clock)

    def load(self) -> None:
        """Load the tracker synchronously (before the auth server answers anyone)."""
        with self.core.db.read_engine.connect() as conn:
            self.tracker.load(conn)
        log.info("accounting: {n} open sessions over {logins} logins loaded",
                 n=sum(self.tracker.open.values()), logins=len(self.tracker.open))

    def listen(self) -> None:
        self._port = listen_udp(self.core.reactor, self.conf.port, self.protocol,
                                self.conf.address, self.conf.socket_buffer)
        self.port = self._port.getHost().port

    def start(self) -> None:
        if self.rrd_pool is not None:
            self.rrd_pool.start()
        self.tracker.start()

    def stop(self) -> Any:
        d = self.tracker.stop()
        if self._port is not None:
            d.addCallback(lambda _: self._port.stopListening())

        def stop_pool(r: Any) -> Any:
            if self.rrd_pool is not None and self.rrd_pool.started:
                self.rrd_pool.stop()
            return r
        return d.addBoth(stop_pool)

    def graph(self, org_id: int, login_id: int, start: datetime, end: datetime,
              **kw: Any) -> defer.Deferred[bytes | None]:
        """A PNG of a login's traffic in [start, end); None if there is none or RRD is off."""
        if self.rrd is None:
            return defer.succeed(None)
        return self.rrd.graph(org_id, login_id, start, end, **kw)
