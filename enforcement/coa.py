"""RFC 5176 Dynamic Authorization client: Disconnect-Request and CoA-Request to a NAS.

One UDP socket on the reactor serves every NAS. A request is encoded once
(its Request Authenticator is an MD5 over the packet, RFC 5176 section 2.3;
Message-Authenticator included, computed with 16 zero octets in place of the
authenticator, section 3.3, which is what FreeRADIUS verifies) and the same
bytes are retransmitted with exponential back-off until a reply, or until
``max_attempts`` sends and ``max_time`` seconds since the first send are
used up. Identifiers are allocated per NAS address and port: at most 256
requests are in flight to one NAS, further requests wait in a queue for an
identifier, and an identifier in flight is never reused.

A reply is accepted only from the address and port the request went to,
for an identifier in flight, with the matching reply code, a correct
Response Authenticator and, when present, a correct Message-Authenticator
(digests compared in constant time). Anything else is dropped and counted.

The client decides nothing: it reports ack, nak (with the decoded
Error-Cause) or timeout in a :class:`Result`; what to do next (close the
session row on "Session Context Not Found", fall back to the router API,
record the action) belongs to the caller.
"""
from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from aaad.metrics import Stats
from aaad.radius import codec
from aaad.radius.codec import MalformedPacket
from aaad.radius.dictionary import RadiusDictionary, load_dictionary

log = Logger()

DEFAULT_COA_PORT = 3799
SESSION_NOT_FOUND = 503

# RFC 5176 section 3.5, Error-Cause values.
ERROR_CAUSES: dict[int, str] = {
    201: "Residual Session Context Removed",
    202: "Invalid EAP Packet (Ignored)",
    401: "Unsupported Attribute",
    402: "Missing Attribute",
    403: "NAS Identification Mismatch",
    404: "Invalid Request",
    405: "Unsupported Service",
    406: "Unsupported Extension",
    407: "Invalid Attribute Value",
    501: "Administratively Prohibited",
    502: "Request Not Routable (Proxy)",
    503: "Session Context Not Found",
    504: "Session Context Not Removable",
    505: "Other Proxy Processing Error",
    506: "Resources Unavailable",
    507: "Request Initiated",
    508: "Multiple Session Selection Unsupported",
}

# kind -> (request code, ACK code, NAK code)
KINDS: dict[str, tuple[int, int, int]] = {
    "disconnect": (codec.DISCONNECT_REQUEST, codec.DISCONNECT_ACK, codec.DISCONNECT_NAK),
    "coa": (codec.COA_REQUEST, codec.COA_ACK, codec.COA_NAK),
}

MAX_IN_FLIGHT = 256  # one identifier octet per (NAS address, port)

# Upper bounds (seconds) of the round-trip latency buckets.
RTT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Attrs = Sequence[tuple[str, Any]]


def error_cause_text(cause: int | None) -> str:
    """The RFC 5176 name of an Error-Cause value ("" for None)."""
    if cause is None:
        return ""
    name = ERROR_CAUSES.get(cause)
    return name if name is not None else f"Unknown Error-Cause {cause}"


@dataclass(frozen=True)
class Target:
    """A NAS's Dynamic Authorization endpoint: an IP address literal, its CoA port, the shared secret."""

    host: str
    port: int
    secret: bytes

    def __post_init__(self) -> None:
        try:
            addr = ipaddress.ip_address(self.host)
        except ValueError:
            raise ValueError(f"CoA target host must be an IP address, got {self.host!r}") from None
        object.__setattr__(self, "host", str(addr))  # the form replies' source addresses come in
        if not 0 < self.port < 65536:
            raise ValueError(f"CoA target port {self.port} out of range")
        if not self.secret:
            raise ValueError("CoA target secret is empty")

    def __repr__(self) -> str:  # never the secret
        return f"Target({self.host!r}, {self.port})"


@dataclass(frozen=True)
class Result:
    """What became of one request: "ack", "nak" or "timeout"."""

    outcome: str
    error_cause: int | None
    error_text: str
    attempts: int
    rtt: float | None  # seconds from the first send to the reply; None on timeout
    reply: codec.Packet | None = field(default=None, compare=False)

    @property
    def session_gone(self) -> bool:
        """A NAK saying the session does not exist on the NAS (done: it is already gone)."""
        return self.outcome == "nak" and self.error_cause == SESSION_NOT_FOUND


class ClientStopped(Exception):
    """The client stopped before the request had an outcome (it was not necessarily not sent)."""


def identity_attrs(username: str, acct_session_id: str, framed_ip: str | None = None,
                   nas_ip: str | None = None) -> list[tuple[str, Any]]:
    """The attributes naming a session the way RouterOS expects."""
    attrs: list[tuple[str, Any]] = [("User-Name", username), ("Acct-Session-Id", acct_session_id)]
    if framed_ip:
        attrs.append(("Framed-IP-Address", framed_ip))
    if nas_ip:
        attrs.append(("NAS-IP-Address", nas_ip))
    return attrs


class UDPReactor(Protocol):
    """What the client needs of the reactor: time and a UDP port."""

    def seconds(self) -> float: ...

    def callLater(  # noqa: N802 (Twisted's name)
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall: ...

    def listenUDP(  # noqa: N802 (Twisted's name)
        self, port: int, protocol: DatagramProtocol, interface: str = "", maxPacketSize: int = 8192  # noqa: N803
    ) -> Any: ...


class _Metrics:
    def __init__(self, stats: Stats) -> None:
        self.results = stats.counter("aaad_dynauth_results_total",
                                     "CoA/Disconnect requests finished, by kind and outcome (e.g. disconnect_ack).",
                                     "result")
        self.naks = stats.counter("aaad_dynauth_naks_total", "NAKs received, by Error-Cause (none if absent).",
                                  "cause")
        self.sends = stats.counter("aaad_dynauth_sent_total", "Datagrams sent, first sends and retransmissions.",
                                   "send")
        self.drops = stats.counter("aaad_dynauth_dropped_total", "Replies discarded, by reason.", "reason")
        self.queued = stats.counter("aaad_dynauth_queued_total",
                                    "Requests that waited for a free identifier (256 in flight to one NAS).")
        self.rtt_le = stats.counter("aaad_dynauth_rtt_seconds_le",
                                    "Replies whose round trip (first send to reply) took at most le seconds "
                                    "(cumulative histogram buckets).", "le")
        self.rtt_count = stats.counter("aaad_dynauth_rtt_count", "Replies timed (the histogram's count).")
        self.rtt_sum_us = stats.counter("aaad_dynauth_rtt_microseconds",
                                        "Sum of the round trips of timed replies, in microseconds.")
        for bound in (*RTT_BUCKETS, "+Inf"):  # every bucket shows from the start
            self.rtt_le[str(bound)] += 0
        self.rtt_count[""] += 0
        self.rtt_sum_us[""] += 0

    def rtt(self, seconds: float) -> None:
        for bound in RTT_BUCKETS:
            if seconds <= bound:
                self.rtt_le[str(bound)] += 1
        self.rtt_le["+Inf"] += 1
        self.rtt_count[""] += 1
        self.rtt_sum_us[""] += round(seconds * 1_000_000)


@dataclass(eq=False)
class _Request:
    kind: str
    target: Target
    attrs: bytes
    deferred: defer.Deferred[Result]
    ack: int
    nak: int
    code: int
    ident: int = -1
    packet: bytes = b""
    authenticator: bytes = b""
    attempts: int = 0
    first_sent: float = 0.0
    retransmit: bool = False
    timer: Any = None  # IDelayedCall (zope methods do not type-check as attributes)
    done: bool = False


@dataclass(eq=False)
class _Peer:
    """Identifiers in flight to one (address, port), and the requests waiting for one."""

    in_flight: dict[int, _Request] = field(default_factory=dict)
    waiting: deque[_Request] = field(default_factory=deque)
    next_id: int = 0


class _Protocol(DatagramProtocol):
    def __init__(self, client: DynAuthClient) -> None:
        self.client = client

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:  # noqa: N802
        try:
            self.client._reply(data, addr)
        except Exception:  # one bad datagram never takes the client down
            self.client._m.drops["internal_error"] += 1
            log.failure("unexpected error on a CoA reply from {addr}", addr=addr[0])


class DynAuthClient:
    """Sends Disconnect-Request and CoA-Request packets and reports their outcome.

    ``initial_timeout`` is the wait after the first send; each retransmission
    doubles it; at most ``max_attempts`` sends, and the outcome is known at
    most ``max_time`` seconds after the first send (a request waiting for a
    free identifier has not been sent yet; its time starts when it is).
    ``max_in_flight`` (at most 256, one identifier octet) bounds the requests
    outstanding to one NAS; below 256 it also keeps a freed identifier from
    being reused at once (identifiers rotate through all 256).
    """

    def __init__(self, reactor: UDPReactor, *, initial_timeout: float = 1.0, max_attempts: int = 4,
                 max_time: float = 8.0, bind_address: str = "0.0.0.0", stats: Stats | None = None,
                 dictionary: RadiusDictionary | None = None, rcvbuf: int = 1 << 20,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        if not 1 <= max_in_flight <= MAX_IN_FLIGHT:
            raise ValueError(f"max_in_flight must be 1..{MAX_IN_FLIGHT}")
        if initial_timeout <= 0 or max_time <= 0:
            raise ValueError("initial_timeout and max_time must be positive")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.reactor = reactor
        self.initial_timeout = initial_timeout
        self.max_attempts = max_attempts
        self.max_time = max_time
        self.bind_address = bind_address
        self.rcvbuf = rcvbuf
        self.max_in_flight = max_in_flight
        self.dictionary = dictionary if dictionary is not None else load_dictionary()
        self._m = _Metrics(stats if stats is not None else Stats())
        if stats is not None:
            stats.gauge("aaad_dynauth_in_flight", "CoA/Disconnect requests sent and not yet answered.",
                        self.in_flight)
        self._proto = _Protocol(self)
        self._port: Any = None
        self._peers: dict[tuple[str, int], _Peer] = {}

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        """Bind the client's UDP socket (an ephemeral port on ``bind_address``)."""
        if self._port is not None:
            raise RuntimeError("DynAuthClient already started")
        self._port = self.reactor.listenUDP(0, self._proto, interface=self.bind_address, maxPacketSize=4096)
        with contextlib.suppress(OSError, AttributeError):  # fake reactors in tests
            # up to 256 replies per NAS can arrive at once
            self._port.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)

    @property
    def port(self) -> int:
        """The local UDP port requests are sent from."""
        if self._port is None:
            raise RuntimeError("DynAuthClient not started")
        return int(self._port.getHost().port)

    def stop(self) -> defer.Deferred[None]:
        """Close the socket; requests without an outcome fail with :class:`ClientStopped`."""
        port, self._port = self._port, None
        peers, self._peers = self._peers, {}
        for peer in peers.values():
            for req in [*peer.in_flight.values(), *peer.waiting]:
                self._cancel_timer(req)
                if not req.done:
                    req.done = True
                    req.deferred.errback(ClientStopped("the CoA client stopped"))
        if port is None:
            return defer.succeed(None)
        d = port.stopListening()
        return d if isinstance(d, defer.Deferred) else defer.succeed(None)

    def in_flight(self) -> int:
        """Requests sent and not yet answered or timed out."""
        return sum(len(p.in_flight) for p in self._peers.values())

    # -- requests ----------------------------------------------------------------------

    def disconnect(self, target: Target, attrs: Attrs) -> defer.Deferred[Result]:
        """Send a Disconnect-Request; fires with its :class:`Result` (errback ValueError on bad attrs)."""
        return self._submit("disconnect", target, attrs)

    def coa(self, target: Target, attrs: Attrs) -> defer.Deferred[Result]:
        """Send a CoA-Request (e.g. a new Mikrotik-Rate-Limit); fires with its :class:`Result`."""
        return self._submit("coa", target, attrs)

    def send(self, kind: str, target: Target, attrs: Attrs) -> defer.Deferred[Result]:
        """``kind`` "disconnect" or "coa" (as an action queue stores it); errback ValueError otherwise."""
        if kind not in KINDS:
            return defer.fail(ValueError(f"unknown Dynamic Authorization kind {kind!r}"))
        return self._submit(kind, target, attrs)

    def encode_attrs(self, attrs: Attrs) -> bytes:
        """The wire attributes for (name, value) pairs, in order, through the dictionary.

        Message-Authenticator is the client's to add; attributes the dictionary
        marks encrypted (User-Password style) have no place in these requests.
        """
        for name, _ in attrs:
            if name == "Message-Authenticator":
                raise ValueError("Message-Authenticator is added by the client")
            if self.dictionary.encrypt_of(name):
                raise ValueError(f"{name}: encrypted attributes are not sent in CoA/Disconnect requests")
        encoded = b"".join(self.dictionary.encode(name, value) for name, value in attrs)
        if codec.HEADER_LENGTH + 18 + len(encoded) > codec.MAX_PACKET_LENGTH:
            raise ValueError(f"request attributes of {len(encoded)} octets do not fit a packet")
        return encoded

    def _submit(self, kind: str, target: Target, attrs: Attrs) -> defer.Deferred[Result]:
        if self._port is None:
            return defer.fail(RuntimeError("DynAuthClient not started"))
        try:
            encoded = self.encode_attrs(attrs)
        except ValueError:
            return defer.fail()
        code, ack, nak = KINDS[kind]
        req: _Request

        def cancel(_: defer.Deferred[Result]) -> None:
            self._forget(req)

        d: defer.Deferred[Result] = defer.Deferred(cancel)
        req = _Request(kind, target, encoded, d, ack, nak, code)
        key = (target.host, target.port)
        peer = self._peers.get(key)
        if peer is None:
            peer = self._peers[key] = _Peer()
        if len(peer.in_flight) >= self.max_in_flight:
            peer.waiting.append(req)
            self._m.queued[""] += 1
        else:
            self._begin(peer, req)
        return d

    def _begin(self, peer: _Peer, req: _Request) -> None:
        """Give the request a free identifier, encode it once, send it."""
        ident = peer.next_id
        while ident in peer.in_flight:
            ident = (ident + 1) & 0xFF
        peer.next_id = (ident + 1) & 0xFF  # rotate: a late reply rarely meets a reused id
        req.ident = ident
        peer.in_flight[ident] = req
        req.packet = codec.encode_request(req.code, ident, req.attrs, req.target.secret)
        req.authenticator = req.packet[4:20]
        req.first_sent = self.reactor.seconds()
        self._send(req)

    def _send(self, req: _Request) -> None:
        req.attempts += 1
        self._m.sends["first" if req.attempts == 1 else "retransmission"] += 1
        transport: Any = self._proto.transport
        try:
            transport.write(req.packet, (req.target.host, req.target.port))
        except OSError as e:  # the next retransmission tries again
            self._m.drops[f"send_error_{e.errno}"] += 1
        # due times count from the first send, so a late timer never shifts the schedule
        due = req.first_sent + self.initial_timeout * (2 ** req.attempts - 1)
        deadline = req.first_sent + self.max_time
        req.retransmit = due < deadline
        delay = min(due, deadline) - self.reactor.seconds()
        req.timer = self.reactor.callLater(max(delay, 0.0), self._expired, req)

    def _expired(self, req: _Request) -> None:
        req.timer = None
        if req.done:
            return
        if req.attempts < self.max_attempts and req.retransmit:
            self._send(req)
            return
        elapsed = self.reactor.seconds() - req.first_sent
        self._finish(req, Result("timeout", None,
                                 f"no reply after {req.attempts} attempts in {elapsed:.3g} s",
                                 req.attempts, None, None))

    def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        m = self._m
        try:
            p = codec.decode(data)
        except MalformedPacket as e:
            m.drops["malformed"] += 1
            log.debug("dropped a malformed CoA reply from {addr}: {reason}", addr=addr[0], reason=e.reason)
            return
        peer = self._peers.get((addr[0], addr[1]))
        if peer is None:
            m.drops["unknown_source"] += 1
            return
        req = peer.in_flight.get(p.ident)
        if req is None:
            m.drops["unknown_id"] += 1
            return
        if p.code not in (req.ack, req.nak):
            m.drops["unexpected_code"] += 1
            return
        secret = req.target.secret
        if not codec.verify_response_authenticator(p, secret, req.authenticator):
            m.drops["bad_authenticator"] += 1
            return
        if p.ma_offset >= 0 and not codec.verify_message_authenticator(p, secret, req.authenticator):
            m.drops["bad_message_authenticator"] += 1
            return
        rtt = self.reactor.seconds() - req.first_sent
        m.rtt(rtt)
        if p.code == req.ack:
            self._finish(req, Result("ack", None, "", req.attempts, rtt, p))
            return
        cause = _error_cause(p)
        m.naks[str(cause) if cause is not None else "none"] += 1
        text = error_cause_text(cause) if cause is not None else "NAK without Error-Cause"
        self._finish(req, Result("nak", cause, text, req.attempts, rtt, p))

    def _finish(self, req: _Request, result: Result) -> None:
        self._forget(req)
        self._m.results[f"{req.kind}_{result.outcome}"] += 1
        req.deferred.callback(result)

    def _forget(self, req: _Request) -> None:
        """Release the request's identifier (its Deferred is fired by the caller) and start a waiting one."""
        if req.done:
            return
        req.done = True
        self._cancel_timer(req)
        key = (req.target.host, req.target.port)
        peer = self._peers.get(key)
        if peer is None:
            return
        if req.ident >= 0 and peer.in_flight.get(req.ident) is req:
            del peer.in_flight[req.ident]
            while peer.waiting:
                nxt = peer.waiting.popleft()
                if not nxt.done:
                    self._begin(peer, nxt)
                    break
        elif req in peer.waiting:
            peer.waiting.remove(req)
        if not peer.in_flight and not peer.waiting:
            del self._peers[key]

    @staticmethod
    def _cancel_timer(req: _Request) -> None:
        if req.timer is not None and req.timer.active():
            req.timer.cancel()
        req.timer = None


def _error_cause(p: codec.Packet) -> int | None:
    raw = p.get(codec.ERROR_CAUSE)
    if raw is None or len(raw) != 4:
        return None
    return int.from_bytes(raw, "big")


def decode_attrs(dictionary: RadiusDictionary, attrs: Iterable[tuple[int, bytes]]) -> list[tuple[str, Any]]:
    """(name, value) pairs of a decoded packet's attributes, VSAs split; unknown ones named by number."""
    out: list[tuple[str, Any]] = []
    for t, v in attrs:
        if t == codec.VENDOR_SPECIFIC and len(v) >= 6:
            vendor = int.from_bytes(v[:4], "big")
            pos = 4
            while pos + 2 <= len(v):
                sub, n = v[pos], v[pos + 1]
                if n < 2 or pos + n > len(v):
                    break
                out.append(_named(dictionary, (vendor, sub), v[pos + 2:pos + n]))
                pos += n
            continue
        out.append(_named(dictionary, (0, t), v))
    return out


def _named(dictionary: RadiusDictionary, key: tuple[int, int], raw: bytes) -> tuple[str, Any]:
    name = dictionary.name_of(*key)
    if name is None:
        return (f"Attr-{key[0]}-{key[1]}" if key[0] else f"Attr-{key[1]}", bytes(raw))
    try:
        return (name, dictionary.decode_value(key, raw))
    except ValueError:
        return (name, bytes(raw))
