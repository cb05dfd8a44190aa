"""The auth controller: Access-Requests through staged chains.

Like FreeRADIUS, a request passes three phases, each a list of stages;
every stage returns one of a closed set of results (:class:`Rcode`):

- authorize: find the login in the AAA view (``notfound`` rejects);
- authenticate: the credential check the request carries (PAP, CHAP,
  MS-CHAPv1, MS-CHAPv2), ``reject`` on a wrong password;
- post-auth: the login's state, the device it is bound to, validity, total
  time and data limits and simultaneous use, then the reply attributes (at
  the login's FUP throttle level; Session-Timeout and Mikrotik-Total-Limit
  capped by what is left).

Vouchers.  An ``unused`` login is accepted like an active one, but its
decision asks the caller to *claim* it (``Decision.claim``: a conditional
UPDATE on the database, the one place auth waits on it) before answering;
the loser of a race is decided again against the claimed login.  A login
with a simultaneous-use limit (a voucher's shared users) that is accepted
*reserves* a provisional session (``reserve``) until its Accounting-Start
arrives or a timeout passes, so Access-Requests that arrive together get
exactly the allowed number of accepts.

The free trial (:mod:`aaad.trial`).  ``T-<MAC>`` from that MAC, in an org
with a trial, is its trial template under the device's name (password: the
name).  A device's first trial login of the day asks the caller to claim the
day on the database (``Decision.trial_mac``), and is decided again once it
has; afterwards the day's use is in memory (``trial_uses``).

Credentials are checked before the account state, so a caller learns a
login is disabled or suspended only after proving its password.  A new
check is a new stage, not an ``if`` in the middle of a handler.  The
controller never touches sockets: it takes a decoded request and returns a
:class:`Decision`.
"""
from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

from aaad import policy, trial
from aaad.auth import chap, mschap, pap
from aaad.radius import codec
from aaad.radius.class_attr import ClassGenerator
from aaad.radius.codec import (
    ACCESS_ACCEPT,
    ACCESS_REJECT,
    CALLING_STATION_ID,
    CHAP_CHALLENGE,
    CHAP_PASSWORD,
    EAP_MESSAGE,
    USER_NAME,
    USER_PASSWORD,
    VENDOR_MICROSOFT,
)
from aaad.view.memory import AAAView
from aaad.view.model import Login, normal_mac

MS_CHAP_RESPONSE = 1
MS_CHAP_CHALLENGE = 11
MS_CHAP_MPPE_KEYS = 12
MS_MPPE_SEND_KEY = 16
MS_MPPE_RECV_KEY = 17
MS_CHAP2_RESPONSE = 25


class Rcode(enum.Enum):
    """The closed set of stage results (FreeRADIUS's rcodes)."""
    OK = "ok"
    REJECT = "reject"
    FAIL = "fail"
    NOTFOUND = "notfound"
    NOOP = "noop"
    UPDATED = "updated"
    HANDLED = "handled"
    INVALID = "invalid"
    USERLOCK = "userlock"

    # Members are singletons compared by identity: hash them the same way, in C (Enum's own
    # __hash__ is Python code, and the driver tests every stage's result against _STOP).
    __hash__ = object.__hash__


_STOP = frozenset({Rcode.REJECT, Rcode.FAIL, Rcode.NOTFOUND, Rcode.INVALID, Rcode.USERLOCK,
                   Rcode.HANDLED})


class AuthRequest:
    """One Access-Request in flight through the stages."""

    __slots__ = ("packet", "nas", "secret", "now", "username", "login", "method", "reason",
                 "reply", "reject_attrs", "walled", "expiry_ts", "first_use", "claim", "mac", "reserved",
                 "trial_mac", "trial_claim")

    def __init__(self, packet: codec.Packet, nas: Any, now: float):
        self.packet = packet
        self.nas = nas
        self.secret: bytes = nas.secret
        self.now = now
        self.username: str | None = None
        self.login: Login | None = None
        self.method = "none"
        self.reason: str | None = None
        self.reply: list[bytes] = []  # encoded accept attributes, in order
        self.reject_attrs: list[bytes] = []  # e.g. MS-CHAP-Error, sent only with a reject
        self.walled = False
        self.expiry_ts: float | None = None  # this request's view of the expiry, if it differs
        self.first_use = False
        self.claim = False      # an unused login (a voucher): the caller claims it before answering
        self.mac: str | None = None  # the device to bind it to at the claim
        self.reserved = False   # a provisional session was reserved for this accept
        self.trial_mac: str | None = None  # a free-trial request: its device
        self.trial_claim = False  # the device's first trial today: the caller claims the day first


class Decision:
    """What to answer, and what the caller must record once it has answered.

    ``first_use``: the accepted login's validity clock starts now (the
    controller never writes; the caller does, observing the Deferred).
    ``claim``: the accepted login is ``unused``: the caller claims it (binding
    ``mac``) and answers only once it has; ``reserved``: a provisional session
    was reserved, to release if the caller ends up rejecting.
    """
    __slots__ = ("code", "attrs", "reason", "method", "username", "login_id", "first_use", "claim", "mac",
                 "reserved", "trial_mac")

    def __init__(self, code: int, attrs: bytes, reason: str | None, method: str,
                 username: str | None, login_id: int | None, first_use: bool = False,
                 claim: bool = False, mac: str | None = None, reserved: bool = False,
                 trial_mac: str | None = None):
        self.code = code
        self.attrs = attrs
        self.reason = reason
        self.method = method
        self.username = username
        self.login_id = login_id
        self.first_use = first_use
        self.claim = claim
        self.mac = mac
        self.reserved = reserved
        self.trial_mac = trial_mac  # set: claim this device's trial day, then decide again


Stage = Callable[[AuthRequest], Rcode]


class AuthController:
    """Runs the stage chains over the AAA view and builds the decision."""

    def __init__(self, view: AAAView, dictionary: Any, settings: policy.PolicySettings | None = None,
                 open_sessions: Callable[[int, bytes | None], int] | None = None,
                 reserve: Callable[[int, bytes | None], None] | None = None):
        self.view = view
        self.enc = dictionary
        self.settings = settings or policy.PolicySettings()
        self.open_sessions = open_sessions
        self.reserve = reserve
        self.trial_uses: dict[tuple[int, str], trial.TrialUse] = {}  # (org id, MAC) -> today's trial
        self._walled = policy.walled_garden_attrs(self.settings, dictionary)
        self._reason_attr: dict[str, bytes] = {}
        self.classes = ClassGenerator()  # a unique Class in every Access-Accept
        self.authorize: list[Stage] = [self.find_login]
        self.authenticate: list[Stage] = [self.check_credentials]
        self.post_auth: list[Stage] = [self.check_state, self.check_device, self.check_trial, self.check_validity,
                                       self.check_limits, self.check_simultaneous_use, self.build_reply]

    def precompile(self, logins: Any) -> None:
        """Prepare every login's reply and NT hash up front (start-up, before gc.freeze),
        so the hot path neither compiles nor creates long-lived objects."""
        for lg in logins:
            self.prepare(lg)

    def prepare(self, lg: Login) -> None:
        if lg.compiled is None:
            self._compiled(lg)
        if lg.nt_hash is None:
            lg.nt_hash = mschap.nt_password_hash(lg.password)

    def on_view_change(self, kind: str, old: Any, new: Any) -> None:
        """AAA view listener: prepare a login as it is applied, not on the hot path."""
        if kind == "login" and new is not None:
            self.prepare(new)

    # -- driver ---------------------------------------------------------------------

    def handle(self, req: AuthRequest) -> Decision:
        for chain in (self.authorize, self.authenticate, self.post_auth):
            for stage in chain:
                rc = stage(req)
                if rc in _STOP:
                    return self._reject(req)
        lg = req.login
        return Decision(ACCESS_ACCEPT, b"".join(req.reply), req.reason, req.method, req.username,
                        lg.id if lg else None, req.first_use and not req.claim, req.claim, req.mac,
                        req.reserved, req.trial_mac if req.trial_claim else None)

    def refuse(self, decision: Decision, reason: str) -> Decision:
        """A reject for a request already decided (the caller could not complete the accept)."""
        msg = self._reason_attr.get(reason)
        if msg is None:
            msg = self._reason_attr[reason] = self.enc.encode("Reply-Message", reason)
        return Decision(ACCESS_REJECT, msg, reason, decision.method, decision.username, decision.login_id)

    def _reject(self, req: AuthRequest) -> Decision:
        reason = req.reason or policy.WRONG_PASSWORD
        msg = self._reason_attr.get(reason)
        if msg is None:
            msg = self._reason_attr[reason] = self.enc.encode("Reply-Message", reason)
        lg = req.login
        return Decision(ACCESS_REJECT, b"".join(req.reject_attrs) + msg, reason, req.method, req.username,
                        lg.id if lg else None)

    # -- authorize ------------------------------------------------------------------

    def find_login(self, req: AuthRequest) -> Rcode:
        raw = req.packet.get(USER_NAME)
        if not raw:
            req.reason = policy.UNKNOWN_USER
            return Rcode.INVALID
        try:
            req.username = name = raw.decode()
        except UnicodeDecodeError:
            req.username = raw.decode("latin-1")
            req.reason = policy.UNKNOWN_USER
            return Rcode.NOTFOUND
        lg = self.view.logins.get((req.nas.org_id, name))
        if lg is None:
            if name.startswith(trial.PREFIX) and self.view.trials:
                return self._find_trial(req, name)
            req.reason = policy.UNKNOWN_USER
            return Rcode.NOTFOUND
        req.login = lg
        return Rcode.OK

    def _find_trial(self, req: AuthRequest, name: str) -> Rcode:
        """``T-<MAC>`` from that very MAC, in an org with a free trial: the trial's
        template login under the device's name, the name as its password."""
        tpl = self.view.trials.get(req.nas.org_id)
        mac = normal_mac(name[len(trial.PREFIX):])
        raw = req.packet.get(CALLING_STATION_ID)
        if tpl is None or mac is None or raw is None or normal_mac(raw.decode("latin-1")) != mac:
            req.reason = policy.UNKNOWN_USER
            return Rcode.NOTFOUND
        req.login = dataclasses.replace(tpl, username=name, password=name.encode(), nt_hash=None)
        req.trial_mac = mac
        return Rcode.OK

    # -- authenticate ---------------------------------------------------------------

    def check_credentials(self, req: AuthRequest) -> Rcode:
        p = req.packet
        lg = req.login
        assert lg is not None
        hidden = p.get(USER_PASSWORD)
        if hidden is not None:
            req.method = "pap"
            given = codec.pap_unhide(hidden, req.secret, p.authenticator)
            if given is None:
                req.reason = policy.BAD_REQUEST
                return Rcode.INVALID
            if pap.check(given, lg.password):
                return Rcode.OK
            req.reason = policy.WRONG_PASSWORD
            return Rcode.REJECT
        chap_pw = p.get(CHAP_PASSWORD)
        if chap_pw is not None:
            req.method = "chap"
            challenge = p.get(CHAP_CHALLENGE) or p.authenticator
            if chap.check(chap_pw, challenge, lg.password):
                return Rcode.OK
            req.reason = policy.WRONG_PASSWORD
            return Rcode.REJECT
        ms_challenge = p.vsa(VENDOR_MICROSOFT, MS_CHAP_CHALLENGE)
        if ms_challenge is not None:
            resp2 = p.vsa(VENDOR_MICROSOFT, MS_CHAP2_RESPONSE)
            if resp2 is not None:
                req.method = "mschapv2"
                if lg.nt_hash is None:
                    lg.nt_hash = mschap.nt_password_hash(lg.password)
                assert req.username is not None  # set by find_login
                res = mschap.check_v2(req.username.encode(), lg.password, ms_challenge, resp2,
                                      lg.nt_hash)
                return self._mschap_result(req, res)
            resp1 = p.vsa(VENDOR_MICROSOFT, MS_CHAP_RESPONSE)
            if resp1 is not None:
                req.method = "mschapv1"
                if lg.nt_hash is None:
                    lg.nt_hash = mschap.nt_password_hash(lg.password)
                res = mschap.check_v1(lg.password, ms_challenge, resp1, lg.nt_hash)
                return self._mschap_result(req, res)
        if p.get(EAP_MESSAGE) is not None:
            req.method = "eap"
            req.reason = policy.EAP_UNSUPPORTED
            return Rcode.INVALID
        req.reason = policy.NO_CREDENTIALS
        return Rcode.INVALID

    def _mschap_result(self, req: AuthRequest, res: mschap.MschapResult) -> Rcode:
        auth = req.packet.authenticator
        out = req.reply if res.ok else req.reject_attrs
        for sub, value in res.reply:
            if sub in (MS_MPPE_SEND_KEY, MS_MPPE_RECV_KEY):
                value = codec.salt_encrypt(value, req.secret, auth)
            elif sub == MS_CHAP_MPPE_KEYS:
                value = mschap.encrypt_mppe_keys_v1(value, req.secret, auth)
            out.append(codec.encode_vsa(VENDOR_MICROSOFT, sub, value))
        if res.ok:
            return Rcode.OK
        req.reason = policy.WRONG_PASSWORD
        return Rcode.REJECT

    # -- post-auth ------------------------------------------------------------------

    def check_state(self, req: AuthRequest) -> Rcode:
        lg = req.login
        assert lg is not None
        st = lg.state
        if st == "active":
            return Rcode.OK
        if st == "unused":
            req.claim = True
            return Rcode.OK
        reason = policy.state_reason(lg)
        if reason is None:  # suspended into the walled garden
            req.walled = True
            return Rcode.OK
        req.reason = reason
        return Rcode.USERLOCK

    def _compiled(self, lg: Login) -> policy.Compiled:
        c: policy.Compiled | None = lg.compiled
        if c is None:
            prof = self.view.profiles.get(lg.profile_id) if lg.profile_id else None
            c = lg.compiled = policy.compile_login(lg, prof, self.enc)
        return c

    def check_device(self, req: AuthRequest) -> Rcode:
        """A login bound to a device (a voucher's first device) is only for that MAC."""
        lg = req.login
        assert lg is not None
        if not lg.bind_mac:
            return Rcode.OK
        raw = req.packet.get(CALLING_STATION_ID)
        mac = normal_mac(raw.decode("latin-1")) if raw else None
        if lg.bound_mac is None:
            req.mac = mac  # bound by the claim of an unused login
            return Rcode.OK
        if mac != lg.bound_mac:
            req.reason = policy.OTHER_DEVICE
            return Rcode.USERLOCK
        return Rcode.OK

    def check_trial(self, req: AuthRequest) -> Rcode:
        """A free trial: what is left of the device's minutes today, or a claim of its day."""
        mac = req.trial_mac
        if mac is None:
            return Rcode.OK
        lg = req.login
        assert lg is not None and lg.time_limit is not None
        use = self.trial_uses.get((lg.org_id, mac))
        if use is None or use.resets <= req.now:
            req.trial_claim = True  # the device's first trial today
            req.expiry_ts = req.now + lg.time_limit
            return Rcode.OK
        ends = use.started + lg.time_limit
        if ends <= req.now:
            req.reason = trial.USED
            return Rcode.USERLOCK
        req.expiry_ts = ends
        return Rcode.OK

    def check_limits(self, req: AuthRequest) -> Rcode:
        """A login with total limits (a voucher) that has used one up is rejected, even
        before accounting has marked it exhausted."""
        lg = req.login
        assert lg is not None
        if lg.time_limit is None and lg.data_limit is None or req.walled:
            return Rcode.OK
        reason = lg.limit_reason()
        if reason is None:
            return Rcode.OK
        req.reason = reason
        return Rcode.USERLOCK

    def check_validity(self, req: AuthRequest) -> Rcode:
        lg = req.login
        assert lg is not None
        c = self._compiled(lg)
        expiry = c.expiry_ts
        if lg.validity_seconds is not None and lg.first_used_at is None:
            # First use: the clock starts with this request if it is accepted
            # (the caller records it); the reply already counts from now.
            req.first_use = True
            starts = req.now + lg.validity_seconds
            expiry = req.expiry_ts = starts if expiry is None else min(expiry, starts)
        if expiry is not None and expiry <= req.now:
            req.reason = policy.EXPIRED
            return Rcode.USERLOCK
        return Rcode.OK

    def check_simultaneous_use(self, req: AuthRequest) -> Rcode:
        lg = req.login
        assert lg is not None
        limit = lg.simultaneous_use
        if limit and self.open_sessions is not None:
            device = req.packet.get(CALLING_STATION_ID)
            if self.open_sessions(lg.id, device) >= limit:
                req.reason = f"{policy.SIMULTANEOUS_USE} ({limit})"
                return Rcode.USERLOCK
            if self.reserve is not None:  # the last stage that may reject has passed
                self.reserve(lg.id, device)
                req.reserved = True
        return Rcode.OK

    def build_reply(self, req: AuthRequest) -> Rcode:
        lg = req.login
        assert lg is not None
        req.reply.append(self.classes.next_attr())  # session identity for accounting
        if req.walled:
            req.reply.append(self._walled)
            req.reason = policy.SUSPENDED
            return Rcode.UPDATED
        c = self._compiled(lg)
        req.reply.append(c.attrs_at(lg.throttle_level))  # FUP: the tier's rate once throttled
        # A voucher's Mikrotik-Total-Limit and the time left in Session-Timeout are compiled
        # (policy.compile_login): fixed until accounting's usage changes the login.
        st = policy.session_timeout(c, req.now, req.expiry_ts)
        if st is not None:
            req.reply.append(codec.encode_int(codec.SESSION_TIMEOUT, max(st, 1)))
        return Rcode.UPDATED
