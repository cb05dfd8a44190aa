#!/usr/bin/env python3
"""radload — a RADIUS load generator, independent of aaad's own code.

It speaks RADIUS with encoders written here from the RFCs (RFC 2865 packet
layout, User-Password hiding §5.2, CHAP §5.3; RFC 3579 Message-Authenticator;
RFC 2759 MS-CHAPv2 client side; RFC 2866 Accounting-Request authenticator) so
that it checks the server instead of agreeing with it.  It never imports the
project's packages.

Every reply is verified (identifier, Response Authenticator, Message-
Authenticator, expected code, MS-CHAP2-Success); a reply failing any check is
counted as *bad* under its reason and never as a success.

Closed loop (``--inflight N``) keeps N requests outstanding; open loop
(``--rate R``) sends R requests per second whatever the replies and measures
latency.  ``--processes P`` runs P generator processes, each pinned to a CPU.

Run ``python bench/radload.py --help`` for the options, and
``python bench/radload.py --selftest`` to check the encoders against the RFC
test vectors.
"""

from __future__ import annotations

import argparse
import array
import hashlib
import json
import math
import multiprocessing as mp
import os
import select
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

# --------------------------------------------------------------------------
# RADIUS constants
# --------------------------------------------------------------------------

ACCESS_REQUEST = 1
ACCESS_ACCEPT = 2
ACCESS_REJECT = 3
ACCOUNTING_REQUEST = 4
ACCOUNTING_RESPONSE = 5
ACCESS_CHALLENGE = 11

CODE_NAMES = {
    ACCESS_REQUEST: "access_request",
    ACCESS_ACCEPT: "accept",
    ACCESS_REJECT: "reject",
    ACCOUNTING_REQUEST: "accounting_request",
    ACCOUNTING_RESPONSE: "accounting_response",
    ACCESS_CHALLENGE: "challenge",
}

# attribute types (RFC 2865, 2866, 2869, 3579)
A_USER_NAME = 1
A_USER_PASSWORD = 2
A_CHAP_PASSWORD = 3
A_NAS_IP_ADDRESS = 4
A_NAS_PORT = 5
A_SERVICE_TYPE = 6
A_FRAMED_PROTOCOL = 7
A_FRAMED_IP_ADDRESS = 8
A_VENDOR_SPECIFIC = 26
A_CALLED_STATION_ID = 30
A_CALLING_STATION_ID = 31
A_NAS_IDENTIFIER = 32
A_ACCT_STATUS_TYPE = 40
A_ACCT_DELAY_TIME = 41
A_ACCT_INPUT_OCTETS = 42
A_ACCT_OUTPUT_OCTETS = 43
A_ACCT_SESSION_ID = 44
A_ACCT_AUTHENTIC = 45
A_ACCT_SESSION_TIME = 46
A_ACCT_INPUT_PACKETS = 47
A_ACCT_OUTPUT_PACKETS = 48
A_ACCT_TERMINATE_CAUSE = 49
A_ACCT_INPUT_GIGAWORDS = 52
A_ACCT_OUTPUT_GIGAWORDS = 53
A_EVENT_TIMESTAMP = 55
A_CHAP_CHALLENGE = 60
A_NAS_PORT_TYPE = 61
A_MESSAGE_AUTHENTICATOR = 80
A_NAS_PORT_ID = 87

VENDOR_MICROSOFT = 311
MS_CHAP_CHALLENGE = 11
MS_CHAP2_RESPONSE = 25
MS_CHAP2_SUCCESS = 26

ACCT_STATUS = {"start": 1, "stop": 2, "interim": 3}

ZERO16 = bytes(16)
MA_HDR = bytes((A_MESSAGE_AUTHENTICATOR, 18))
MA_ZERO = MA_HDR + ZERO16

_HDR = struct.Struct(">BBH")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_ACCT_COUNTERS = struct.Struct(">" + "BBI" * 7)
_TERMINATE_USER_REQUEST = bytes((49, 6, 0, 0, 0, 1))  # Acct-Terminate-Cause = User-Request
# Set by SIGUSR1 (single process): stop sending now, drain, print the summary (a harness ends a run early).
_STOP_NOW = [False]


# --------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------


def attr(atype: int, value: bytes) -> bytes:
    """Encode one attribute (type, length, value); value at most 253 octets."""
    if len(value) > 253:
        raise ValueError(f"attribute {atype} value too long ({len(value)})")
    return bytes((atype, len(value) + 2)) + value


def attr_int(atype: int, value: int) -> bytes:
    """Encode a 32-bit integer attribute."""
    return attr(atype, _U32.pack(value & 0xFFFFFFFF))


def vsa(vendor: int, vtype: int, value: bytes) -> bytes:
    """Encode a Vendor-Specific attribute (RFC 2865 §5.26) with one sub-attribute."""
    return attr(A_VENDOR_SPECIFIC, _U32.pack(vendor) + bytes((vtype, len(value) + 2)) + value)


class HmacMd5:
    """HMAC-MD5 (RFC 2104) with the key pads hashed once, for speed."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        """Precompute the inner and outer MD5 states for *key*."""
        if len(key) > 64:
            key = hashlib.md5(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.md5(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.md5(bytes(b ^ 0x5C for b in key))

    def __call__(self, msg: bytes) -> bytes:
        """Return HMAC-MD5(key, msg)."""
        i = self._inner.copy()
        i.update(msg)
        o = self._outer.copy()
        o.update(i.digest())
        return o.digest()


def pap_hide(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """Hide a User-Password per RFC 2865 §5.2."""
    if not password:
        password = b"\0"
    n = (len(password) + 15) // 16 * 16
    p = password.ljust(n, b"\0")
    out = bytearray()
    prev = authenticator
    for i in range(0, n, 16):
        b = hashlib.md5(secret + prev).digest()
        c = bytes(x ^ y for x, y in zip(p[i:i + 16], b, strict=True))
        out += c
        prev = c
    return bytes(out)


def chap_response(ident: int, password: bytes, challenge: bytes) -> bytes:
    """Return the CHAP-Password value (ident + MD5(ident+password+challenge)), RFC 2865 §5.3."""
    return bytes((ident,)) + hashlib.md5(bytes((ident,)) + password + challenge).digest()


def response_authenticator(packet: bytes, request_authenticator: bytes, secret: bytes) -> bytes:
    """Response Authenticator: MD5(code+id+length+RequestAuth+attributes+secret)."""
    return hashlib.md5(packet[:4] + request_authenticator + packet[20:] + secret).digest()


# ---- MS-CHAPv2 (RFC 2759) -------------------------------------------------

_MAGIC1 = b"Magic server to client signing constant"
_MAGIC2 = b"Pad to make it do more than one iteration"


def nt_password_hash(password: str) -> bytes:
    """NtPasswordHash: MD4 of the UTF-16LE password (RFC 2759 §8.3)."""
    from Crypto.Hash import MD4

    return MD4.new(password.encode("utf-16-le")).digest()


def _md4(data: bytes) -> bytes:
    """MD4 digest (pycryptodome; OpenSSL 3 dropped MD4)."""
    from Crypto.Hash import MD4

    return MD4.new(data).digest()


def _des_key(key7: bytes) -> bytes:
    """Expand 7 octets to an 8-octet DES key (parity bits ignored by DES)."""
    k = int.from_bytes(key7, "big")
    out = bytearray()
    for i in range(8):
        out.append(((k >> (49 - 7 * i)) & 0x7F) << 1)
    return bytes(out)


def _des_encrypt(clear8: bytes, key7: bytes) -> bytes:
    """DES-ECB encryption of one block with a 7-octet key."""
    from Crypto.Cipher import DES

    return DES.new(_des_key(key7), DES.MODE_ECB).encrypt(clear8)


def mschap_challenge_hash(peer_challenge: bytes, auth_challenge: bytes, username: bytes) -> bytes:
    """ChallengeHash (RFC 2759 §8.2): first 8 octets of SHA1(peer+auth+user)."""
    return hashlib.sha1(peer_challenge + auth_challenge + username).digest()[:8]


def mschap_challenge_response(challenge8: bytes, password_hash: bytes) -> bytes:
    """ChallengeResponse (RFC 2759 §8.5): three DES encryptions of the challenge."""
    z = password_hash.ljust(21, b"\0")
    return _des_encrypt(challenge8, z[0:7]) + _des_encrypt(challenge8, z[7:14]) + _des_encrypt(challenge8, z[14:21])


def mschapv2_nt_response(auth_challenge: bytes, peer_challenge: bytes, username: bytes, password: str) -> bytes:
    """GenerateNTResponse (RFC 2759 §8.1)."""
    ch = mschap_challenge_hash(peer_challenge, auth_challenge, username)
    return mschap_challenge_response(ch, nt_password_hash(password))


def mschapv2_authenticator_response(
    password: str, nt_response: bytes, peer_challenge: bytes, auth_challenge: bytes, username: bytes
) -> bytes:
    """GenerateAuthenticatorResponse (RFC 2759 §8.7): the 42-octet b"S=<40 hex>"."""
    phh = _md4(nt_password_hash(password))
    digest = hashlib.sha1(phh + nt_response + _MAGIC1).digest()
    ch = mschap_challenge_hash(peer_challenge, auth_challenge, username)
    digest = hashlib.sha1(digest + ch + _MAGIC2).digest()
    return b"S=" + digest.hex().upper().encode()


# --------------------------------------------------------------------------
# Reply verification
# --------------------------------------------------------------------------


def parse_attrs(packet: bytes) -> list[tuple[int, int]] | None:
    """Return [(type, offset_of_value)] for a length-checked packet, or None if malformed."""
    out: list[tuple[int, int]] = []
    end = len(packet)
    pos = 20
    n = 0
    while pos < end and n < 4096:
        if pos + 2 > end:
            return None
        alen = packet[pos + 1]
        if alen < 2 or pos + alen > end:
            return None
        out.append((packet[pos], pos + 2))
        pos += alen
        n += 1
    return out


def find_ms_vsa(packet: bytes, attrs: list[tuple[int, int]], vtype: int) -> bytes | None:
    """Return the value of the first Microsoft VSA of *vtype*, or None."""
    for t, off in attrs:
        if t != A_VENDOR_SPECIFIC:
            continue
        alen = packet[off - 1]
        value = packet[off:off - 2 + alen]
        if len(value) < 6 or _U32.unpack_from(value)[0] != VENDOR_MICROSOFT:
            continue
        pos = 4
        while pos + 2 <= len(value):  # bounded by the value length
            st, sl = value[pos], value[pos + 1]
            if sl < 2:
                break
            if st == vtype:
                return value[pos + 2:pos + sl]
            pos += sl
    return None


# --------------------------------------------------------------------------
# Self test against RFC vectors
# --------------------------------------------------------------------------


def selftest() -> None:
    """Check the encoders against RFC 2865 §7.1 and RFC 2759 §9.2 test vectors."""
    # RFC 2865 7.1: nemo / arctangent, secret xyzzy5461
    ra = bytes.fromhex("0f403f9473978057bd83d5cb98f4227a")
    hidden = pap_hide(b"arctangent", b"xyzzy5461", ra)
    assert hidden.hex() == "0dbe708d93d413ce3196e43f782a0aee", hidden.hex()
    # RFC 2759 9.2
    user = b"User"
    pw = "clientPass"
    ac = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
    pc = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
    assert mschap_challenge_hash(pc, ac, user).hex().upper() == "D02E4386BCE91226"
    assert nt_password_hash(pw).hex().upper() == "44EBBA8D5312B8D611474411F56989AE"
    nt = mschapv2_nt_response(ac, pc, user, pw)
    assert nt.hex().upper() == "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF", nt.hex()
    s = mschapv2_authenticator_response(pw, nt, pc, ac, user)
    assert s == b"S=407A5589115FD0D6209F510FE9C04566932CDA56", s
    # RFC 2104 / 2202 HMAC-MD5 test case 2
    assert HmacMd5(b"Jefe")(b"what do ya want for nothing?").hex() == "750c783e6ab0b503eaa86e310a5db738"
    print("selftest ok: RFC 2865 §7.1 PAP, RFC 2759 §9.2 MS-CHAPv2, RFC 2202 HMAC-MD5")


# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------

# slot tuple fields
S_T0, S_USER, S_RA, S_EXTRA, S_SEQ = range(5)


class Worker:
    """One generator process: sockets, request builders, the event loop and its counters."""

    def __init__(self, opts: argparse.Namespace, index: int, nproc: int) -> None:
        """Prepare sockets and per-user precomputed request parts for worker *index* of *nproc*."""
        self.o = opts
        self.index = index
        self.nproc = nproc
        self.secret = opts.secret.encode()
        self.hm = HmacMd5(self.secret)
        self.ma = not opts.no_message_authenticator
        self.mode = opts.mode
        self.nonce = os.urandom(8)
        self.ctr = 0
        self.run_id = (opts.run_id or os.urandom(4).hex()) + (f"p{index}" if nproc > 1 else "")
        # this worker's users: indices index, index+P, ...
        self.users = list(range(opts.user_offset + index, opts.user_offset + opts.users, nproc))
        if not self.users:
            raise SystemExit(f"worker {index}: no users (--users {opts.users} < --processes {nproc})")
        self.expect_code = {
            "accept": ACCESS_ACCEPT, "reject": ACCESS_REJECT, "any": None,
        }[opts.expect] if self.mode != "acct" else ACCOUNTING_RESPONSE
        # counters
        self.sent = 0
        self.answered = 0
        self.ok = 0
        self.lost = 0
        self.late = 0
        self.no_id = 0
        self.codes: dict[int, int] = {}
        self.bad: dict[str, int] = {}
        self.lat = array.array("d")
        self.t_first = 0.0
        self.t_last_reply = 0.0
        self.t_end_send = 0.0
        self.max_send_lag = 0.0
        self.cpu_seconds = 0.0
        self._rr = -1
        self._prepare_users()
        self._open_sockets()

    # ---- preparation --------------------------------------------------------

    def _prepare_users(self) -> None:
        """Precompute, per user, everything that does not change between requests."""
        o = self.o
        self.uname: dict[int, bytes] = {}
        self.upw: dict[int, bytes] = {}
        self.ustatic: dict[int, bytes] = {}
        self.utail: dict[int, bytes] = {}
        self.upap: dict[int, tuple[list[int], bytes]] = {}
        self.md5_secret = hashlib.md5(self.secret)
        self.ums: dict[int, tuple[bytes, bytes]] = {}
        nas_ip = attr(A_NAS_IP_ADDRESS, socket.inet_aton("127.0.0.1"))
        common = nas_ip + attr(A_NAS_IDENTIFIER, b"radload") + attr_int(A_NAS_PORT_TYPE, 15)
        for u in self.users:
            name = (o.user_format % u).encode()
            pw = (o.password_format % u)
            self.uname[u] = name
            self.upw[u] = pw.encode()
            mac = "02:" + ":".join(f"{(u >> s) & 0xFF:02x}" for s in (32, 24, 16, 8, 0))
            static = (
                common
                + attr_int(A_NAS_PORT, u)
                + attr(A_NAS_PORT_ID, f"radload-{u}".encode())
                + attr(A_CALLING_STATION_ID, mac.upper().encode())
                + attr_int(A_SERVICE_TYPE, 2)
                + attr_int(A_FRAMED_PROTOCOL, 1)
            )
            self.ustatic[u] = attr(A_USER_NAME, name)  # goes before the credentials
            self.utail[u] = static  # goes after them
            pwb = self.upw[u] or b"\0"
            pwb = pwb.ljust((len(pwb) + 15) // 16 * 16, b"\0")
            self.upap[u] = (
                [int.from_bytes(pwb[i:i + 16], "big") for i in range(0, len(pwb), 16)],
                bytes((A_USER_PASSWORD, 2 + len(pwb))),
            )
            if self.mode == "mschapv2":
                ac = os.urandom(16)
                pc = os.urandom(16)
                ident = u & 0xFF
                nt = mschapv2_nt_response(ac, pc, name, pw)
                resp = bytes((ident, 0)) + pc + bytes(8) + nt
                cred = vsa(VENDOR_MICROSOFT, MS_CHAP_CHALLENGE, ac) + vsa(VENDOR_MICROSOFT, MS_CHAP2_RESPONSE, resp)
                expect = bytes((ident,)) + mschapv2_authenticator_response(pw, nt, pc, ac, name)
                self.ums[u] = (cred, expect)
        if self.mode == "acct":
            steps = [s.strip() for s in o.acct_mix.split(",") if s.strip()]
            for s in steps:
                if s not in ACCT_STATUS:
                    raise SystemExit(f"--acct-mix: unknown step {s!r} (start, interim, stop)")
            self.steps = steps
            self.a_sess = {u: 0 for u in self.users}
            self.a_step = {u: 0 for u in self.users}
            self.a_busy: set[int] = set()
            self._ts_sec = -1
            self._ts_attr = b""
            self._acct_status = {k: attr_int(A_ACCT_STATUS_TYPE, v) for k, v in ACCT_STATUS.items()}
            self.astatic = {}
            for u in self.users:
                ip = socket.inet_aton(f"10.{(u >> 16) & 0xFF}.{(u >> 8) & 0xFF}.{(u & 0xFF) or 1}")
                self.astatic[u] = (
                    self.ustatic[u] + attr(A_FRAMED_IP_ADDRESS, ip) + attr_int(A_ACCT_AUTHENTIC, 1)
                    + attr_int(A_ACCT_DELAY_TIME, 0) + self.utail[u]
                )

    def _open_sockets(self) -> None:
        """Open K connected non-blocking UDP sockets to the server."""
        o = self.o
        k = max(1, o.sockets // self.nproc if o.sockets >= self.nproc else 1)
        self.socks: list[socket.socket] = []
        self.ep = select.epoll()
        self.fd_index: dict[int, int] = {}
        for i in range(k):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for opt, force in ((socket.SO_RCVBUF, 33), (socket.SO_SNDBUF, 32)):
                try:
                    s.setsockopt(socket.SOL_SOCKET, force, 4 << 20)  # SO_*BUFFORCE (root)
                except OSError:
                    s.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
            s.bind((o.bind, 0))
            s.connect((o.server, o.port))
            s.setblocking(False)
            self.socks.append(s)
            self.fd_index[s.fileno()] = i
            self.ep.register(s.fileno(), select.EPOLLIN)
        self.slots: list[list[tuple | None]] = [[None] * 256 for _ in range(k)]
        self.free: list[deque[int]] = [deque(range(256)) for _ in range(k)]
        self.quarantine: list[deque[tuple[float, int]]] = [deque() for _ in range(k)]
        self.out = [0] * k
        self.deadlines: deque[tuple[float, int, int, int]] = deque()

    # ---- request builders ---------------------------------------------------

    def _next_ra(self) -> bytes:
        """A Request Authenticator never repeated within a run (nonce + counter)."""
        self.ctr += 1
        return self.nonce + _U64.pack(self.ctr)

    def build(self, pid: int, u: int) -> tuple[bytes, bytes, Any]:
        """Build the request with identifier *pid* for user *u*: (packet, authenticator, extra)."""
        mode = self.mode
        if mode == "acct":
            return self._build_acct(pid, u)
        ra = self._next_ra()
        if mode == "pap":
            cred = self._pap_attr(u, ra)
            extra = None
        elif mode == "chap":
            chal = _U64.pack(self.ctr) + self.nonce  # differs from the authenticator
            ident = self.ctr & 0xFF
            cred = attr(A_CHAP_PASSWORD, chap_response(ident, self.upw[u], chal)) + attr(A_CHAP_CHALLENGE, chal)
            extra = None
        else:  # mschapv2
            cred, extra = self.ums[u]
        rest = self.ustatic[u] + cred + self.utail[u]
        if self.ma:
            hdr = _HDR.pack(ACCESS_REQUEST, pid, 38 + len(rest)) + ra
            pkt = hdr + MA_HDR + self.hm(hdr + MA_ZERO + rest) + rest
        else:
            pkt = _HDR.pack(ACCESS_REQUEST, pid, 20 + len(rest)) + ra + rest
        return pkt, ra, extra

    def _pap_attr(self, u: int, ra: bytes) -> bytes:
        """User-Password attribute (RFC 2865 §5.2), with the secret's MD5 state precomputed."""
        blocks, hdr = self.upap[u]
        md5s = self.md5_secret
        prev = ra
        out = hdr
        for p in blocks:  # one block for passwords up to 16 octets
            h = md5s.copy()
            h.update(prev)
            prev = (p ^ int.from_bytes(h.digest(), "big")).to_bytes(16, "big")
            out += prev
        return out

    def _build_acct(self, pid: int, u: int) -> tuple[bytes, bytes, Any]:
        """Build the next Accounting-Request of user *u*'s session (RFC 2866 §3 authenticator)."""
        steps = self.steps
        k = self.a_step[u]
        status = steps[k]
        sess = self.a_sess[u]
        k1 = k + 1
        if k1 >= len(steps):
            self.a_step[u] = 0
            self.a_sess[u] = sess + 1
        else:
            self.a_step[u] = k1
        sid = f"{self.run_id}-{u:x}-{sess}".encode()
        now_s = int(time.time())
        if now_s != self._ts_sec:
            self._ts_sec = now_s
            self._ts_attr = attr_int(A_EVENT_TIMESTAMP, now_s)
        rest = (
            self._acct_status[status]
            + bytes((A_ACCT_SESSION_ID, 2 + len(sid))) + sid
            + self.astatic[u]
            + self._ts_attr
        )
        if status != "start":
            inp = k * 1_500_000_000 * (1 + u % 3)  # grows past 2^32: exercises Gigawords
            outp = k * 300_000_000 * (1 + u % 5)
            rest += _ACCT_COUNTERS.pack(
                A_ACCT_INPUT_OCTETS, 6, inp & 0xFFFFFFFF,
                A_ACCT_OUTPUT_OCTETS, 6, outp & 0xFFFFFFFF,
                A_ACCT_INPUT_GIGAWORDS, 6, inp >> 32,
                A_ACCT_OUTPUT_GIGAWORDS, 6, outp >> 32,
                A_ACCT_INPUT_PACKETS, 6, (inp // 1000) & 0xFFFFFFFF,
                A_ACCT_OUTPUT_PACKETS, 6, (outp // 1000) & 0xFFFFFFFF,
                A_ACCT_SESSION_TIME, 6, k * 300,
            )
            if status == "stop":
                rest += _TERMINATE_USER_REQUEST
        if self.ma:
            # Message-Authenticator in an Accounting-Request is computed with a zero
            # Request Authenticator, then the authenticator over the whole packet.
            length = 38 + len(rest)
            h4 = _HDR.pack(ACCOUNTING_REQUEST, pid, length)
            body = MA_HDR + self.hm(h4 + ZERO16 + MA_ZERO + rest) + rest
        else:
            length = 20 + len(rest)
            h4 = _HDR.pack(ACCOUNTING_REQUEST, pid, length)
            body = rest
        ra = hashlib.md5(h4 + ZERO16 + body + self.secret).digest()
        return h4 + ra + body, ra, None

    # ---- sending and receiving ----------------------------------------------

    def _pick_user(self) -> int | None:
        """Next user, round robin; in acct mode skip users with a request outstanding."""
        users = self.users
        n = len(users)
        if self.mode != "acct":
            self._rr += 1
            return users[self._rr % n]
        busy = self.a_busy
        for _ in range(n):
            self._rr += 1
            u = users[self._rr % n]
            if u not in busy:
                busy.add(u)
                return u
        return None

    def send_one(self, si: int, now: float) -> bool:
        """Send one request on socket *si* if it has a free identifier; True if sent."""
        free = self.free[si]
        if not free:
            return False
        u = self._pick_user()
        if u is None:
            return False
        pid = free.popleft()
        pkt, ra, extra = self.build(pid, u)
        try:
            self.socks[si].send(pkt)
        except (BlockingIOError, ConnectionRefusedError, OSError) as e:
            free.appendleft(pid)
            if self.mode == "acct":
                self.a_busy.discard(u)
            self.bad["send_error_" + type(e).__name__] = self.bad.get("send_error_" + type(e).__name__, 0) + 1
            return False
        self.sent += 1
        self.slots[si][pid] = (now, u, ra, extra, self.sent)
        self.out[si] += 1
        self.deadlines.append((now + self.o.timeout, si, pid, self.sent))
        return True

    def _badr(self, reason: str) -> None:
        """Count one bad reply under *reason*."""
        self.bad[reason] = self.bad.get(reason, 0) + 1

    def on_reply(self, si: int, data: bytes, now: float) -> None:
        """Match and verify one datagram received on socket *si*."""
        if len(data) < 20:
            self._badr("malformed_short")  # cannot even read the identifier safely
            return
        pid = data[1]
        slot = self.slots[si][pid]
        if slot is None:
            self.late += 1  # no request outstanding with that ID: late reply or duplicate
            return
        # the reply is matched to the request: it ends that request, good or bad
        self.slots[si][pid] = None
        self.out[si] -= 1
        self.free[si].append(pid)
        self.answered += 1
        self.t_last_reply = now
        u = slot[S_USER]
        if self.mode == "acct":
            self.a_busy.discard(u)
        length = (data[2] << 8) | data[3]
        if length < 20 or length > len(data) or length > 4096:
            self._badr("malformed_length")
            return
        if length < len(data):
            data = data[:length]  # octets beyond Length are padding (RFC 2865 §3)
        ra = slot[S_RA]
        secret = self.secret
        if hashlib.md5(data[:4] + ra + data[20:] + secret).digest() != data[4:20]:
            self._badr("bad_response_authenticator")
            return
        code = data[0]
        self.codes[code] = self.codes.get(code, 0) + 1
        is_auth = self.mode != "acct"
        # fast path: Message-Authenticator first
        attrs = None
        if length >= 38 and data[20] == A_MESSAGE_AUTHENTICATOR and data[21] == 18:
            if self.hm(data[:4] + ra + MA_ZERO + data[38:]) != data[22:38]:
                self._badr("bad_message_authenticator")
                return
            if length > 38:
                attrs = parse_attrs(data)
                if attrs is None:
                    self._badr("malformed_attributes")
                    return
        else:
            attrs = parse_attrs(data)
            if attrs is None:
                self._badr("malformed_attributes")
                return
            ma_off = next((off for t, off in attrs if t == A_MESSAGE_AUTHENTICATOR), None)
            if ma_off is not None:
                if data[ma_off - 1] != 18 or self.hm(
                    data[:4] + ra + data[20:ma_off] + ZERO16 + data[ma_off + 16:]
                ) != data[ma_off:ma_off + 16]:
                    self._badr("bad_message_authenticator")
                    return
                if is_auth and code in (ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE):
                    self._badr("message_authenticator_not_first")
                    if not self.o.lenient_ma:
                        return
            elif is_auth and code in (ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE):
                self._badr("message_authenticator_missing")
                if not self.o.lenient_ma:
                    return
        exp = self.expect_code
        if exp is not None and code != exp:
            self._badr("unexpected_" + CODE_NAMES.get(code, f"code_{code}"))
            return
        if self.mode == "mschapv2" and code == ACCESS_ACCEPT:
            succ = find_ms_vsa(data, attrs or [], MS_CHAP2_SUCCESS)
            if succ is None:
                self._badr("mschap2_success_missing")
                return
            if succ[:43] != slot[S_EXTRA]:
                self._badr("mschap2_success_mismatch")
                return
        self.ok += 1
        self.lat.append(now - slot[S_T0])

    def _drain(self, si: int, now: float) -> int:
        """Read every datagram waiting on socket *si*; return how many."""
        s = self.socks[si]
        n = 0
        recv = s.recv
        on_reply = self.on_reply
        for _ in range(4096):  # bounded; epoll reports the socket again if more is left
            try:
                data = recv(8192)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                self._badr("icmp_port_unreachable")
                continue
            on_reply(si, data, now)
            n += 1
        return n

    def _expire(self, now: float) -> None:
        """Count requests past their deadline as lost; quarantine their IDs for one timeout."""
        dl = self.deadlines
        slots = self.slots
        to = self.o.timeout
        while dl and dl[0][0] <= now:
            _, si, pid, seq = dl.popleft()
            slot = slots[si][pid]
            if slot is not None and slot[S_SEQ] == seq:
                slots[si][pid] = None
                self.out[si] -= 1
                self.lost += 1
                if self.mode == "acct":
                    self.a_busy.discard(slot[S_USER])
                # a late reply to it must not be taken for the reply to a new request
                self.quarantine[si].append((now + to, pid))
        for si, q in enumerate(self.quarantine):
            while q and q[0][0] <= now:
                self.free[si].append(q.popleft()[1])

    # ---- loops ----------------------------------------------------------------

    def run(self, progress: Callable[[Worker, float], None] | None, shared: Any = None) -> dict[str, Any]:
        """Run the configured load; return this worker's raw result."""
        o = self.o
        count = o.count // self.nproc + (1 if self.index < o.count % self.nproc else 0) if o.count else 0
        duration = o.duration
        k = len(self.socks)
        perf = time.perf_counter
        t0 = perf()
        self.t_first = t0
        cpu0 = time.process_time()
        end = t0 + duration if duration else t0 + 86400.0
        next_tick = t0 + 1.0
        poll = self.ep.poll
        fd_index = self.fd_index
        drain = self._drain
        send_one = self.send_one
        rate = (o.rate / self.nproc) if o.rate else 0.0
        inflight = max(1, o.inflight // self.nproc) if not rate else 0
        target = [inflight // k + (1 if i < inflight % k else 0) for i in range(k)]
        scheduled = 0
        rr = 0
        stop_sending = False
        out = self.out
        # bounded: the run ends at the deadline, or count + timeout; hard stop at end + timeout + 5s
        hard_stop = end + o.timeout + 5.0
        for _ in range(1 << 40):
            now = perf()
            if not stop_sending and (now >= end or (count and self.sent >= count) or _STOP_NOW[0]):
                stop_sending = True
                self.t_end_send = now
                drain_until = now + o.timeout + 0.05
            if stop_sending and (sum(out) == 0 or now >= drain_until):
                break
            if now >= hard_stop:
                break
            wait = 0.05
            if not stop_sending:
                if rate:
                    due = int((now - t0) * rate) + 1 - scheduled
                    if count:
                        due = min(due, count - self.sent)
                    if due > 1:  # how late the oldest due request is: > 0 means the generator is behind
                        lag = (due - 1) / rate
                        if lag > self.max_send_lag:
                            self.max_send_lag = lag
                    for _i in range(max(0, due)):
                        scheduled += 1
                        # stay on one socket while it has free IDs (bigger receive batches);
                        # move on to the next one when its 256 IDs are all in use
                        sent = False
                        for _j in range(k):
                            if send_one(rr, now):
                                sent = True
                                break
                            rr = rr + 1 if rr + 1 < k else 0
                        if not sent:
                            self.no_id += 1
                    wait = max(0.0, t0 + (scheduled + 1) / rate - perf())
                else:
                    for si in range(k):
                        tgt = target[si]
                        for _i in range(tgt - out[si]):
                            if count and self.sent >= count:
                                break
                            if not send_one(si, now):
                                break
            events = poll(wait)
            now = perf()
            for fd, _ev in events:
                si = fd_index[fd]
                now = perf()
                drain(si, now)
                if inflight and not stop_sending:
                    # closed loop: top the socket up again right away
                    tgt = target[si]
                    for _i in range(tgt - out[si]):
                        if count and self.sent >= count:
                            break
                        if not send_one(si, now):
                            break
            if self.deadlines and self.deadlines[0][0] <= now:
                self._expire(now)
            if now >= next_tick:
                next_tick += 1.0
                self._expire(now)
                if progress:
                    progress(self, now)
                if shared is not None:
                    self._publish(shared)
        now = perf()
        for si in range(k):
            drain(si, now)
        # whatever is still outstanding now is lost
        for si in range(k):
            for pid in range(256):
                if self.slots[si][pid] is not None:
                    self.slots[si][pid] = None
                    self.lost += 1
        if shared is not None:
            self._publish(shared)
        self.cpu_seconds = time.process_time() - cpu0
        return self.result(self.t_end_send or now)

    def _publish(self, shared: Any) -> None:
        """Copy the counters to the shared array read by the parent for progress lines."""
        base = self.index * 5
        shared[base] = self.sent
        shared[base + 1] = self.answered
        shared[base + 2] = self.ok
        shared[base + 3] = self.lost
        shared[base + 4] = sum(self.bad.values())

    def result(self, t_end_send: float) -> dict[str, Any]:
        """Raw counters of this worker (latencies as bytes for transport)."""
        return {
            "sent": self.sent, "answered": self.answered, "ok": self.ok, "lost": self.lost,
            "late": self.late, "not_sent_no_free_id": self.no_id, "codes": self.codes, "bad": self.bad,
            "t_first": self.t_first, "t_end_send": t_end_send,
            "t_last_reply": self.t_last_reply or t_end_send, "max_send_lag": self.max_send_lag,
            "lat": self.lat.tobytes(), "sockets": len(self.socks), "cpu_seconds": self.cpu_seconds,
        }


# --------------------------------------------------------------------------
# Orchestration and reporting
# --------------------------------------------------------------------------


def percentile(sorted_values: array.array | list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 if empty)."""
    n = len(sorted_values)
    if not n:
        return 0.0
    i = min(n - 1, max(0, math.ceil(q / 100.0 * n) - 1))
    return sorted_values[i]


def summarize(opts: argparse.Namespace, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge worker results into the final summary."""
    lat = array.array("d")
    bad: dict[str, int] = {}
    codes: dict[int, int] = {}
    tot = {k: 0 for k in ("sent", "answered", "ok", "lost", "late", "not_sent_no_free_id")}
    for p in parts:
        for k in tot:
            tot[k] += p[k]
        for r, n in p["bad"].items():
            bad[r] = bad.get(r, 0) + n
        for c, n in p["codes"].items():
            codes[int(c)] = codes.get(int(c), 0) + n
        a = array.array("d")
        a.frombytes(p["lat"])
        lat.extend(a)
    t_first = min(p["t_first"] for p in parts)
    t_end_send = max(p["t_end_send"] for p in parts)
    t_last = max(max(p["t_last_reply"] for p in parts), t_end_send)
    elapsed = max(1e-9, t_last - t_first)
    send_window = max(1e-9, t_end_send - t_first)
    s = sorted(lat)
    ms = 1000.0
    bad_reply_reasons = {r: n for r, n in bad.items() if not r.startswith(("send_error", "icmp"))}
    summary: dict[str, Any] = {
        "mode": opts.mode,
        "server": f"{opts.server}:{opts.port}",
        "loop": f"open {opts.rate:g}/s" if opts.rate else f"closed inflight={opts.inflight}",
        "processes": opts.processes,
        "sockets": sum(p["sockets"] for p in parts),
        "message_authenticator": not opts.no_message_authenticator,
        "sent": tot["sent"],
        "answered": tot["answered"],
        "ok": tot["ok"],
        "lost": tot["lost"],
        "bad": sum(bad_reply_reasons.values()),
        "bad_reasons": dict(sorted(bad.items())),
        "late_or_unmatched": tot["late"],
        "not_sent_no_free_id": tot["not_sent_no_free_id"],
        "accepts": codes.get(ACCESS_ACCEPT, 0),
        "rejects": codes.get(ACCESS_REJECT, 0),
        "challenges": codes.get(ACCESS_CHALLENGE, 0),
        "accounting_responses": codes.get(ACCOUNTING_RESPONSE, 0),
        "ma_missing": bad.get("message_authenticator_missing", 0),
        "ma_not_first": bad.get("message_authenticator_not_first", 0),
        "send_seconds": round(send_window, 3),
        "elapsed_seconds": round(elapsed, 3),
        "offered_per_s": round(tot["sent"] / send_window, 1),
        "throughput_per_s": round(tot["answered"] / elapsed, 1),
        "ok_per_s": round(tot["ok"] / elapsed, 1),
        "generator_cpu_seconds": round(sum(p["cpu_seconds"] for p in parts), 3),
        "requests_per_generator_cpu_second": round(
            (tot["sent"] + tot["answered"]) / 2 / max(1e-9, sum(p["cpu_seconds"] for p in parts)), 1),
        "max_send_lag_ms": round(max(p["max_send_lag"] for p in parts) * ms, 3),
        "latency_ms": {
            "p50": round(percentile(s, 50) * ms, 3),
            "p90": round(percentile(s, 90) * ms, 3),
            "p99": round(percentile(s, 99) * ms, 3),
            "p999": round(percentile(s, 99.9) * ms, 3),
            "max": round((s[-1] if s else 0.0) * ms, 3),
            "mean": round((sum(s) / len(s) if s else 0.0) * ms, 3),
        },
    }
    return summary


def print_summary(sm: dict[str, Any]) -> None:
    """Human-readable summary on stdout."""
    L = sm["latency_ms"]
    print(f"radload {sm['mode']} -> {sm['server']}  {sm['loop']}  processes={sm['processes']} "
          f"sockets={sm['sockets']} message-authenticator={'on' if sm['message_authenticator'] else 'off'}")
    print(f"  sent {sm['sent']}  answered {sm['answered']}  ok {sm['ok']}  lost {sm['lost']}  "
          f"bad {sm['bad']}  late/unmatched {sm['late_or_unmatched']}  not-sent(no free ID) "
          f"{sm['not_sent_no_free_id']}")
    if sm["bad_reasons"]:
        print("  bad by reason: " + ", ".join(f"{r}={n}" for r, n in sm["bad_reasons"].items()))
    print(f"  accepts {sm['accepts']}  rejects {sm['rejects']}  challenges {sm['challenges']}  "
          f"accounting-responses {sm['accounting_responses']}  "
          f"(Accept/Reject without Message-Authenticator {sm['ma_missing']}, not first {sm['ma_not_first']})")
    print(f"  offered {sm['offered_per_s']:.0f}/s over {sm['send_seconds']}s  throughput {sm['throughput_per_s']:.0f} "
          f"answered/s  "
          f"ok {sm['ok_per_s']:.0f}/s  max send lag {sm['max_send_lag_ms']} ms")
    print(f"  generator CPU {sm['generator_cpu_seconds']}s = {sm['requests_per_generator_cpu_second']:.0f} "
          f"requests per generator CPU-second")
    if sm["loop"].startswith("open") and sm["max_send_lag_ms"] > 10:
        print(f"  WARNING: the generator fell behind its schedule by up to {sm['max_send_lag_ms']} ms; "
              "latencies include its own delays (add --processes or lower --rate)")
    print(f"  latency ms: p50 {L['p50']:.3f}  p90 {L['p90']:.3f}  p99 {L['p99']:.3f}  p99.9 {L['p999']:.3f}  "
          f"max {L['max']:.3f}  mean {L['mean']:.3f}")


def _progress_line(t: float, sent: int, answered: int, ok: int, lost: int, bad: int, prev: list[int]) -> str:
    """One progress line; *prev* holds the previous answered count."""
    d = answered - prev[0]
    prev[0] = answered
    return (f"[{t:6.1f}s] sent {sent} answered {answered} (+{d}/s) ok {ok} lost {lost} bad {bad} "
            f"outstanding {sent - answered - lost}")


def _child(opts: argparse.Namespace, index: int, nproc: int, cpu: int | None, ready: Any, go: Any,
           conn: Any, shared: Any) -> None:
    """Entry point of one generator process."""
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        w = Worker(opts, index, nproc)
        ready.put(index)
        go.wait(60)
        conn.send(w.run(None, shared))
    except BaseException as e:  # report instead of dying silently
        conn.send({"error": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


def run(opts: argparse.Namespace) -> dict[str, Any]:
    """Run one or several workers and return the merged summary."""
    quiet = opts.quiet
    if opts.processes <= 1:
        import signal
        signal.signal(signal.SIGUSR1, lambda *_: _STOP_NOW.__setitem__(0, True))
        if opts.cpu is not None:
            os.sched_setaffinity(0, {opts.cpu})
        w = Worker(opts, 0, 1)
        prev = [0]
        t0 = time.perf_counter()

        def progress(wk: Worker, now: float) -> None:
            """Print one progress line to stderr."""
            if not quiet:
                print(_progress_line(now - t0, wk.sent, wk.answered, wk.ok, wk.lost, sum(wk.bad.values()), prev),
                      file=sys.stderr, flush=True)

        return summarize(opts, [w.run(progress)])
    ctx = mp.get_context("fork")
    nproc = opts.processes
    cpus = sorted(os.sched_getaffinity(0))
    if opts.cpus:
        cpus = [int(c) for c in opts.cpus.split(",")]
    shared = ctx.Array("q", nproc * 5, lock=False)
    ready = ctx.Queue()
    go = ctx.Event()
    procs = []
    pipes = []
    for i in range(nproc):
        r, wconn = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_child, args=(opts, i, nproc, cpus[i % len(cpus)], ready, go, wconn, shared),
                        daemon=True)
        p.start()
        wconn.close()
        procs.append(p)
        pipes.append(r)
    for _ in range(nproc):
        ready.get(timeout=120)
    go.set()
    t0 = time.perf_counter()
    prev = [0]
    limit = t0 + (opts.duration or 86400) + opts.timeout + 30
    results: list[dict[str, Any] | None] = [None] * nproc
    while time.perf_counter() < limit and any(r is None for r in results):
        for i, c in enumerate(pipes):
            if results[i] is None and c.poll(0):
                results[i] = c.recv()
        if any(r is None for r in results):
            time.sleep(1.0)
            if not quiet:
                v = list(shared)
                sent, answered, ok, lost, bad = (sum(v[i * 5 + j] for i in range(nproc)) for j in range(5))
                print(_progress_line(time.perf_counter() - t0, sent, answered, ok, lost, bad, prev),
                      file=sys.stderr, flush=True)
    for p in procs:
        p.join(5)
    errors = [r["error"] for r in results if r is not None and "error" in r]
    if errors or any(r is None for r in results):
        raise SystemExit(f"worker failure: {errors or 'no result'}")
    return summarize(opts, [r for r in results if r is not None])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(
        description="RADIUS load generator (PAP, CHAP, MS-CHAPv2, accounting) that verifies every reply.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--server", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1812)
    p.add_argument("--bind", default="127.0.0.1", help="source address of the UDP sockets")
    p.add_argument("--secret", default="testing123")
    p.add_argument("--mode", choices=("pap", "chap", "mschapv2", "acct"), default="pap")
    p.add_argument("--users", type=int, default=1000, help="number of users; request n uses user (offset + n mod "
                                                           "users)")
    p.add_argument("--user-offset", type=int, default=0, help="index of the first user")
    p.add_argument("--user-format", default="user%06d")
    p.add_argument("--password-format", default="pass%06d")
    p.add_argument("--expect", choices=("accept", "reject", "any"), default="accept",
                   help="expected reply code in auth modes (acct always expects Accounting-Response)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of sending (0: until --count)")
    p.add_argument("--count", type=int, default=0, help="stop after sending this many requests (0: no limit)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--inflight", type=int, default=256, help="closed loop: requests kept outstanding")
    g.add_argument("--rate", type=float, default=0.0, help="open loop: requests per second, regardless of replies")
    p.add_argument("--sockets", type=int, default=0,
                   help="UDP sockets (source ports); 256 IDs each. 0: inflight/128 (closed) or rate*timeout/200 (open)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds before an unanswered request counts as lost")
    p.add_argument("--no-message-authenticator", action="store_true",
                   help="do not put Message-Authenticator in requests (it is added by default)")
    p.add_argument("--lenient-ma", action="store_true",
                   help="count Accept/Reject without (or with non-first) Message-Authenticator but do not treat them "
                        "as bad")
    p.add_argument("--acct-mix", default="start,interim,stop",
                   help="acct mode: per-user session sequence, e.g. start,interim,interim,stop")
    p.add_argument("--run-id", default="", help="prefix of Acct-Session-Id (empty: random per run)")
    p.add_argument("--processes", type=int, default=1, help="generator processes, each pinned to one CPU")
    p.add_argument("--cpus", default="", help="CPUs for --processes, comma separated (default: all allowed)")
    p.add_argument("--cpu", type=int, default=None, help="pin the single-process generator to this CPU")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no per-second progress on stderr")
    p.add_argument("--selftest", action="store_true", help="check the encoders against RFC test vectors and exit")
    o = p.parse_args(argv)
    if o.selftest:
        return o
    if o.duration <= 0 and o.count <= 0:
        p.error("give --duration or --count")
    if o.duration <= 0:
        o.duration = 0.0
    if o.users < 1 or o.timeout <= 0 or o.processes < 1:
        p.error("--users, --timeout and --processes must be positive")
    if not o.sockets:
        if o.rate:
            o.sockets = max(2, min(512, math.ceil(o.rate * o.timeout / 200)))
        else:
            o.sockets = max(1, math.ceil(o.inflight / 128))
        o.sockets = max(o.sockets, o.processes)
    if not o.rate and o.inflight > o.sockets * 256:
        p.error(f"--inflight {o.inflight} needs at least {math.ceil(o.inflight / 256)} sockets")
    if o.mode == "acct" and o.users < (o.inflight if not o.rate else 1):
        print("radload: warning: acct mode keeps one request per user outstanding; "
              "--users below --inflight limits the load", file=sys.stderr)
    return o


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 0 if every sent request was answered correctly."""
    o = parse_args(argv)
    if o.selftest:
        selftest()
        return 0
    sm = run(o)
    if o.json:
        print(json.dumps(sm, indent=2))
    else:
        print_summary(sm)
    return 0 if sm["ok"] == sm["sent"] and sm["sent"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
