"""The RADIUS authentication listener (UDP 1812 by default).

Decode and validate in the protocol, decide in the controller.  The
protocol drops, silently and with a counted reason, every datagram that
fails validation: unknown client, malformed packet, a code the port does
not serve, a missing or wrong Message-Authenticator, Proxy-State without
Message-Authenticator (Blast-RADIUS).  Valid requests go through duplicate
detection, then the controller; accepts are sent at once, rejects after the
reject delay on the clock (never blocking; pending delayed replies bounded).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from aaad import authlog, policy, trial
from aaad.auth.controller import AuthController, AuthRequest, Decision
from aaad.authlog import AuthLog
from aaad.clock import Clock, utcnow
from aaad.component import Core, SessionInfo
from aaad.config import ip_address, non_negative, port, positive, setting
from aaad.jobs import Job, JobContext
from aaad.metrics import Stats
from aaad.nas import Nas
from aaad.radius import codec
from aaad.radius.codec import ACCESS_ACCEPT, ACCESS_REQUEST, CALLING_STATION_ID, PROXY_STATE, STATUS_SERVER
from aaad.radius.dedup import RequestKey
from aaad.radius.dictionary import load_dictionary
from aaad.radius.listener import RadiusListener, listen_udp

log = Logger()

PRUNE_LOG = "auth.prune_log"


@dataclass(frozen=True)
class RadiusConfig:
    """The RADIUS authentication server."""
    address: str = setting("0.0.0.0", "Address the auth listener binds.", ip_address)
    auth_port: int = setting(1812, "UDP port for Access-Request and Status-Server; 0 picks a free one.", port)
    dictionary: str = setting("", "Path of the RADIUS dictionary (pyrad format). Empty: the shipped "
                                  "conf/dictionary/dictionary.")
    reject_delay: float = setting(1.0, "Seconds to hold an Access-Reject before sending it (slows password guessing; "
                                       "FreeRADIUS's default is 1). 0 sends at once.", non_negative)
    max_delayed_rejects: int = setting(10000, "Most rejects held for the delay at once; beyond this they are sent "
                                              "without delay (and counted).", positive)
    dedup_window: float = setting(5.0, "Seconds a reply is kept to answer retransmissions of the same request byte for"
                                       " byte (RFC 5080).", positive)
    walled_garden_address_list: str = setting("suspended", "Mikrotik-Address-List for suspended logins in "
                                                           "walled-garden mode.")
    walled_garden_rate_limit: str = setting("256k/256k", "Mikrotik-Rate-Limit for suspended logins in walled-garden "
                                                         "mode.")
    walled_garden_session_timeout: int = setting(300, "Session-Timeout (seconds) for walled-garden sessions, so they "
                                                      "come back and re-check.", positive)
    auth_log_interval: float = setting(0.2, "Seconds between auth-log batch writes (small batches keep the writer's "
                                            "busy stretches short).", positive)
    auth_log_repeat_seconds: float = setting(60.0, "An accept of the same user name from the same NAS and "
                                                   "Calling-Station-Id within this many seconds of the last one "
                                                   "logged is counted (radius_auth_log_repeats), not logged again; "
                                                   "rejects are always logged. 0 logs every accept.", non_negative)
    auth_log_retention: int = setting(30, "Days auth-log rows are kept (about 1 GB a day at 100 rejects/s); 0 keeps "
                                          "them for ever. Pruned hourly, a few thousand rows per transaction.",
                                      non_negative)
    socket_buffer: int = setting(4 * 1024 * 1024, "Receive buffer (bytes) asked of the kernel for the UDP socket; "
                                                  "bursts beyond it are lost by the kernel.", positive)


class RadiusStats:
    """The auth server's counters, by reason."""

    def __init__(self, stats: Stats, prefix: str = "radius_auth"):
        self.requests = stats.counter(f"{prefix}_requests_total", "Valid requests received, by code.", "code")
        self.responses = stats.counter(f"{prefix}_responses_total", "Replies sent, by code.", "code")
        self.rejects = stats.counter(f"{prefix}_rejects_total", "Access-Rejects by reason.", "reason")
        self.drops = stats.counter(f"{prefix}_dropped_total", "Datagrams discarded silently, by reason.", "reason")
        self.duplicates = stats.counter(f"{prefix}_duplicates_total", "Retransmissions answered from the cache or "
                                                                      "dropped while pending.", "outcome")
        self.methods = stats.counter(f"{prefix}_methods_total", "Requests by authentication method.", "method")
        self.latency = stats.histogram(f"{prefix}_seconds", "Time from a request's arrival to its decision, "
                                                          "by result (accept, reject; a reject delay is not "
                                                          "counted).", ("result",))


class AuthProtocol(RadiusListener):
    """Validates Access-Requests and hands them to the controller."""

    codes = frozenset({ACCESS_REQUEST, STATUS_SERVER})
    kind = "auth"

    def __init__(self, view: Any, controller: AuthController, clock: Clock, stats: RadiusStats,
                 authlog: AuthLog | None, conf: RadiusConfig, tiled_vendors: frozenset[int],
                 first_use: Callable[[int, int, float], defer.Deferred[bool]] | None = None,
                 claim: Callable[[int, int, float, str | None], defer.Deferred[bool]] | None = None,
                 release: Callable[[int, bytes | None], None] | None = None,
                 trial_claim: Callable[[int, str, float], defer.Deferred[trial.TrialUse]] | None = None):
        super().__init__(view, clock, stats, conf.dedup_window, tiled_vendors)
        self.controller = controller
        self.authlog = authlog
        self.conf = conf
        self.first_use = first_use
        self.claim = claim        # an unused login's first use, committed before the accept is sent
        self.release = release    # drop a provisional session an accept reserved
        self.trial_claim = trial_claim  # a device's first free trial of the day, committed first
        self.delayed = 0
        self.claiming = 0

    def request(self, p: codec.Packet, nas: Nas, addr: tuple[str, int]) -> None:
        st = self.st
        code = p.code
        secret = nas.secret
        if p.ma_offset >= 0:
            if not codec.verify_message_authenticator(p, secret):
                st.drops["bad_message_authenticator"] += 1
                return
        elif code == STATUS_SERVER or nas.require_message_authenticator:  # RFC 5997 section 3: MUST carry it
            st.drops["missing_message_authenticator"] += 1
            return
        elif p.get(PROXY_STATE) is not None:  # Blast-RADIUS: never without MA
            st.drops["proxy_state_without_message_authenticator"] += 1
            return
        key = codec.request_key(addr[0], addr[1], p.ident, p.authenticator)
        if self.is_duplicate(key, addr):
            return
        st.requests["access_request" if code == ACCESS_REQUEST else "status_server"] += 1
        if code == STATUS_SERVER:
            reply = codec.encode_reply(ACCESS_ACCEPT, p.ident, p.authenticator, b"", secret)
            self._send(key, reply, addr, "status")
            return
        now = self.clock.seconds()
        decision = self.controller.handle(AuthRequest(p, nas, now))
        tmac = decision.trial_mac
        if tmac is not None:
            if self.trial_claim is None:
                decision = self.controller.refuse(decision, trial.USED)
            else:
                self.claiming += 1
                dt = self.trial_claim(nas.org_id, tmac, now)
                dt.addCallbacks(self._trial_claimed, self._claim_failed, callbackArgs=(p, nas, addr, key, now),
                                errbackArgs=(key, decision, p))
                return
        if decision.claim and decision.login_id is not None:
            if self.claim is None:
                decision.claim = False  # no database (tests of the listener alone): accept as active
            else:
                # A voucher's first use: the one place auth waits on the database.
                self.claiming += 1
                d = self.claim(nas.org_id, decision.login_id, now, decision.mac)
                d.addCallbacks(self._claimed, self._claim_failed, callbackArgs=(p, nas, addr, key, now, decision),
                               errbackArgs=(key, decision, p))
                return
        self._answer(p, nas, addr, key, now, decision)

    def _claimed(self, won: bool, p: codec.Packet, nas: Nas, addr: tuple[str, int], key: RequestKey,
                 now: float, decision: Decision) -> None:
        self.claiming -= 1
        if not won:
            # Claimed first by another request or instance: decide again against the
            # claimed login (the claim put it in the view), e.g. bound to another device.
            self._release(decision, p)
            decision = self.controller.handle(AuthRequest(p, nas, now))
            if decision.claim:  # still unused here: refuse rather than loop
                self._release(decision, p)
                decision = self.controller.refuse(decision, policy.BAD_REQUEST)
        self._answer(p, nas, addr, key, now, decision)

    def _trial_claimed(self, use: trial.TrialUse, p: codec.Packet, nas: Nas, addr: tuple[str, int],
                       key: RequestKey, now: float) -> None:
        """The device's trial day is on record (ours, or one that started earlier): decide again."""
        self.claiming -= 1
        self.controller.trial_uses[(use.org_id, use.mac)] = use
        decision = self.controller.handle(AuthRequest(p, nas, now))
        if decision.trial_mac is not None:  # a day that ended meanwhile: refuse rather than loop
            decision = self.controller.refuse(decision, trial.USED)
        self._answer(p, nas, addr, key, now, decision)

    def _claim_failed(self, f: Failure, key: RequestKey, decision: Decision, p: codec.Packet) -> None:
        self.claiming -= 1
        self._release(decision, p)
        self.dedup.forget(key)  # not answered: the NAS retransmits and we try again
        self.st.drops["claim_failed"] += 1
        log.failure("claiming the first use of {user} failed; not answered", f, user=decision.username)

    def _release(self, decision: Decision, p: codec.Packet) -> None:
        if decision.reserved and self.release is not None and decision.login_id is not None:
            self.release(decision.login_id, p.get(CALLING_STATION_ID))

    def _answer(self, p: codec.Packet, nas: Nas, addr: tuple[str, int], key: RequestKey, now: float,
                decision: Decision) -> None:
        st = self.st
        secret = nas.secret
        proxy = p.get_all(PROXY_STATE) if p.ma_offset >= 0 and p.get(PROXY_STATE) is not None else ()
        try:
            reply = codec.encode_reply(decision.code, p.ident, p.authenticator, decision.attrs,
                                       secret, True, proxy)
        except ValueError:
            st.drops["reply_too_long"] += 1
            self.dedup.forget(key)
            self._release(decision, p)
            return
        st.methods[decision.method] += 1
        result = "accept" if decision.code == ACCESS_ACCEPT else "reject"
        took = self.clock.seconds() - now
        st.latency.observe(took, result)
        if self.authlog is not None:
            calling = p.get(CALLING_STATION_ID)
            self.authlog.add((now, nas.org_id, nas.id, decision.username, decision.method, result,
                              decision.reason, calling.decode("latin-1") if calling else None,
                              int(took * 1e6)))
        if decision.code == ACCESS_ACCEPT:
            self._send(key, reply, addr, "accept")
            if decision.first_use and self.first_use is not None and decision.login_id is not None:
                d = self.first_use(nas.org_id, decision.login_id, now)
                d.addErrback(self._first_use_failed, decision.username)
            return
        st.rejects[decision.reason or "unknown"] += 1
        delay = self.conf.reject_delay
        if delay <= 0:
            self._send(key, reply, addr, "reject")
        elif self.delayed >= self.conf.max_delayed_rejects:
            st.drops["reject_delay_overflow_sent_now"] += 1
            self._send(key, reply, addr, "reject")
        else:
            self.delayed += 1
            self.clock.callLater(delay, self._send_delayed, key, reply, addr)

    def _first_use_failed(self, f: Failure, user: str | None) -> None:
        log.failure("recording the first use of {user} failed", f, user=user)

    def _send_delayed(self, key: RequestKey, reply: bytes, addr: tuple[str, int]) -> None:
        self.delayed -= 1
        self._send(key, reply, addr, "reject")

    def _send(self, key: RequestKey, reply: bytes, addr: tuple[str, int], kind: str) -> None:
        self.dedup.answered(key, reply)
        self.st.responses[kind] += 1
        self.send(reply, addr)


class AuthServer:
    """The component the app starts: the listener, its controller and its auth log.

    ``sessions`` (accounting's tracker, through the Protocol aaad defines)
    answers the simultaneous-use question at auth; without it it is not
    checked.  (FUP needs no question: the login's throttle level is in the view.)
    """

    def __init__(self, core: Core, conf: RadiusConfig, sessions: SessionInfo | None = None):
        self.core = core
        self.conf = conf
        self.dictionary = load_dictionary(conf.dictionary or None)
        self.stats = RadiusStats(core.stats)
        self.authlog = AuthLog(core.db, core.clock, conf.auth_log_interval,
                               repeat_seconds=conf.auth_log_repeat_seconds)
        settings = policy.PolicySettings(conf.walled_garden_address_list,
                                         conf.walled_garden_rate_limit,
                                         conf.walled_garden_session_timeout)
        self.controller = AuthController(core.view, self.dictionary, settings,
                                         sessions.open_count if sessions else None,
                                         sessions.reserve if sessions else None)
        core.view.listeners.append(self.controller.on_view_change)
        self.protocol = AuthProtocol(core.view, self.controller, core.clock, self.stats, self.authlog,
                                     conf, self.dictionary.vendor_ids, self._first_use, self._claim,
                                     sessions.release if sessions else None, self._trial_claim)
        self._port: Any = None
        self.port = 0
        core.stats.gauge("radius_auth_log_cleaned", "Auth-log rows whose text was cut or had NUL replaced to be "
                                                    "storable, since start.",
                        lambda: self.authlog.cleaned)
        core.stats.gauge("radius_auth_log_dropped", "Auth-log rows lost (buffer full or a failed write), since start.",
                        lambda: self.authlog.dropped)
        core.stats.gauge("radius_auth_log_repeats", "Accepts not logged because the same user name, NAS and "
                         "Calling-Station-Id had an accept logged less than auth_log_repeat_seconds before.",
                         lambda: self.authlog.repeats)
        core.stats.gauge("radius_auth_log_promoted", "Auth-log batches written at full priority because the writer "
                                                     "had fallen behind (a core kept full), since start.",
                        lambda: self.authlog.promoted)
        if conf.auth_log_retention:
            core.scheduler.add(Job(PRUNE_LOG, 3600, self.prune_log))

    def prune_log(self, ctx: JobContext) -> Any:
        """Hourly: delete auth-log rows older than the retention, in chunks (and free-trial
        days that ended more than a day ago)."""
        self.core.db.write(trial.prune, ctx.period_start - timedelta(days=1)).addErrback(
            lambda f: log.failure("pruning old free-trial days failed", f))
        return authlog.prune(self.core.db, ctx.period_start - timedelta(days=self.conf.auth_log_retention))

    def _first_use(self, org_id: int, login_id: int, now: float) -> defer.Deferred[bool]:
        at = datetime.fromtimestamp(now, UTC)
        d: defer.Deferred[bool] = self.core.db.write(self.core.login_writer.set_first_use, org_id, login_id, at)
        return d

    def _claim(self, org_id: int, login_id: int, now: float, mac: str | None) -> defer.Deferred[bool]:
        at = datetime.fromtimestamp(now, UTC)

        def won(result: tuple[bool, Any]) -> bool:
            return result[0]
        d: defer.Deferred[tuple[bool, Any]] = self.core.db.write(self.core.login_writer.claim, org_id, login_id,
                                                                  at, mac)
        return d.addCallback(won)

    def _trial_claim(self, org_id: int, mac: str, now: float) -> defer.Deferred[trial.TrialUse]:
        d: defer.Deferred[trial.TrialUse] = self.core.db.write(trial.claim, org_id, mac,
                                                                datetime.fromtimestamp(now, UTC))
        return d

    def listen(self) -> None:
        self._port = listen_udp(self.core.reactor, self.conf.auth_port, self.protocol,
                                self.conf.address, self.conf.socket_buffer)
        self.port = self._port.getHost().port

    def prepare_view(self) -> None:
        with self.core.db.read_engine.connect() as conn:  # today's free trials (aaad.trial)
            self.controller.trial_uses = {(u.org_id, u.mac): u for u in trial.current(conn, utcnow(self.core.clock))}
        t0 = time.monotonic()
        self.controller.precompile(self.core.view.logins.values())
        log.info("prepared replies for {n} logins in {secs:.2f}s", n=len(self.core.view),
                 secs=time.monotonic() - t0)

    def start(self) -> None:
        self.authlog.start()

    def stop(self) -> Any:
        if self._port is not None:
            self._port.stopListening()
        return self.authlog.stop()
