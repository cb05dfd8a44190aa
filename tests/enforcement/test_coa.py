"""The RFC 5176 client under a fake transport and clock: encoding (against pyrad and a
hand computation), retransmission and its bounds, identifier allocation, ACK/NAK
decoding, and replies that must be ignored."""
from __future__ import annotations

import hashlib
import hmac
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrad import packet as pyrad_packet
from pyrad.dictionary import Dictionary
from twisted.internet import defer, task
from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure

from aaad.metrics import Stats
from aaad.radius import codec
from aaad.radius.dictionary import default_dictionary_path, load_dictionary
from enforcement.coa import (
    ERROR_CAUSES,
    MAX_IN_FLIGHT,
    SESSION_NOT_FOUND,
    ClientStopped,
    DynAuthClient,
    Result,
    Target,
    decode_attrs,
    error_cause_text,
    identity_attrs,
)
from tests.helpers import result_of

SECRET = b"coa-secret"
NAS = Target("192.0.2.10", 3799, SECRET)
OTHER = Target("192.0.2.11", 3799, b"other-secret")
D = load_dictionary()
IDENT = identity_attrs("alice", "81a00007", "10.0.0.7")


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))


class FakePort:
    def __init__(self, port: int) -> None:
        self.port = port
        self.stopped = False

    def getHost(self) -> Any:  # noqa: N802
        return type("Addr", (), {"port": self.port})()

    def stopListening(self) -> defer.Deferred[None]:  # noqa: N802
        self.stopped = True
        return defer.succeed(None)


class FakeReactor(task.Clock):
    """task.Clock plus a listenUDP that connects the protocol to a recording transport."""

    def __init__(self) -> None:
        super().__init__()
        self.transport = FakeTransport()
        self.protocol: DatagramProtocol | None = None
        self.bound: tuple[int, str] | None = None
        self.udp_port = FakePort(40123)

    def listenUDP(self, port: int, protocol: DatagramProtocol, interface: str = "",  # noqa: N802
                  maxPacketSize: int = 8192) -> FakePort:  # noqa: N803
        self.bound = (port, interface)
        self.protocol = protocol
        protocol.makeConnection(self.transport)  # type: ignore[arg-type]
        return self.udp_port

    def receive(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.protocol is not None
        self.protocol.datagramReceived(data, addr)


def make(**kw: Any) -> tuple[DynAuthClient, FakeReactor, Stats]:
    reactor = FakeReactor()
    reactor.advance(1_000_000.0)
    stats = Stats()
    client = DynAuthClient(reactor, stats=stats, dictionary=D, **kw)
    client.start()
    return client, reactor, stats


def reply_to(request: bytes, code: int, secret: bytes = SECRET, attrs: bytes = b"",
             message_authenticator: bool = True) -> bytes:
    """What a NAS answers to ``request``."""
    return codec.encode_reply(code, request[1], request[4:20], attrs, secret, message_authenticator)


def fired(d: defer.Deferred[Result]) -> Result | None:
    """The result of ``d`` if it has fired (re-raising a failure), else None; ``d`` keeps its result."""
    box: list[Any] = []

    def keep(r: Any) -> Any:
        box.append(r)
        return r
    d.addBoth(keep)
    if not box:
        return None
    if isinstance(box[0], Failure):
        box[0].raiseException()
    assert isinstance(box[0], Result)
    return box[0]


# -- encoding ------------------------------------------------------------------------------

def pyrad_request(code: int, ident: int, attrs: list[tuple[str, Any]]) -> bytes:
    pd = Dictionary(str(default_dictionary_path()))
    p = pyrad_packet.CoAPacket(code=code, id=ident, secret=SECRET, dict=pd)
    p.add_message_authenticator()
    for name, value in attrs:
        p.AddAttribute(name, value)
    return bytes(p.RequestPacket())


def test_disconnect_matches_pyrad_byte_for_byte() -> None:
    """A Disconnect-Request is the same octets pyrad builds (MD5 authenticator, MA first)."""
    client, reactor, _ = make()
    client.disconnect(NAS, IDENT + [("NAS-IP-Address", "192.0.2.10")])
    (data, addr), = reactor.transport.sent
    assert addr == ("192.0.2.10", 3799)
    assert data[0] == codec.DISCONNECT_REQUEST
    assert data == pyrad_request(pyrad_packet.DisconnectRequest, data[1],
                                 IDENT + [("NAS-IP-Address", "192.0.2.10")])


def test_coa_with_rate_limit_matches_pyrad_byte_for_byte() -> None:
    """A CoA-Request carrying Mikrotik-Rate-Limit (vendor 14988, type 8) is the same octets pyrad builds."""
    client, reactor, _ = make()
    attrs = IDENT + [("Mikrotik-Rate-Limit", "5M/5M")]
    client.coa(NAS, attrs)
    (data, _), = reactor.transport.sent
    assert data[0] == codec.COA_REQUEST
    assert data == pyrad_request(pyrad_packet.CoARequest, data[1], attrs)
    assert data.endswith(b"\x1a\x0d\x00\x00\x3a\x8c\x08\x075M/5M")


def test_authenticators_by_hand() -> None:
    """Request Authenticator = MD5(packet with 16 zero octets + secret); MA = HMAC-MD5 over the zeroed packet."""
    client, reactor, _ = make()
    client.disconnect(NAS, [("User-Name", "bob")])
    (data, _), = reactor.transport.sent
    attrs_wire = b"\x01\x05bob"
    length = 20 + 18 + len(attrs_wire)
    header = bytes((40, data[1])) + length.to_bytes(2, "big")
    mac = hmac.new(SECRET, header + bytes(16) + b"\x50\x12" + bytes(16) + attrs_wire, "md5").digest()
    body = b"\x50\x12" + mac + attrs_wire
    auth = hashlib.md5(header + bytes(16) + body + SECRET).digest()
    assert data == header + auth + body


@settings(max_examples=60, deadline=None)
@given(username=st.text(st.characters(codec="utf-8"), min_size=1, max_size=60),
       session=st.text(alphabet="0123456789ABCDEFabcdef:-", min_size=1, max_size=40),
       framed=st.none() | st.ip_addresses(v=4).map(str),
       nas_ip=st.none() | st.ip_addresses(v=4).map(str),
       rate=st.none() | st.from_regex(r"[0-9]{1,4}[kM]/[0-9]{1,4}[kM]", fullmatch=True))
def test_request_attributes_round_trip(username: str, session: str, framed: str | None,
                                       nas_ip: str | None, rate: str | None) -> None:
    """Whatever identity and rate go in, the NAS decodes the same attributes, in order, and both digests verify."""
    client, reactor, _ = make()
    attrs = identity_attrs(username, session, framed, nas_ip)
    if rate is not None:
        attrs.append(("Mikrotik-Rate-Limit", rate))
    if len(username.encode()) > 253:
        return
    client.coa(NAS, attrs)
    (data, _), = reactor.transport.sent
    p = codec.decode(data)
    assert codec.verify_request_authenticator(p, SECRET)
    assert codec.verify_message_authenticator(p, SECRET, bytes(16))
    decoded = [a for a in decode_attrs(D, p.attrs) if a[0] != "Message-Authenticator"]
    assert decoded == attrs


def test_identity_attrs_order_and_optionals() -> None:
    """identity_attrs names the session as RouterOS expects; the addresses only when given."""
    assert identity_attrs("u", "s") == [("User-Name", "u"), ("Acct-Session-Id", "s")]
    assert identity_attrs("u", "s", "10.1.1.1", "192.0.2.1") == [
        ("User-Name", "u"), ("Acct-Session-Id", "s"),
        ("Framed-IP-Address", "10.1.1.1"), ("NAS-IP-Address", "192.0.2.1")]


def test_bad_attributes_fail_without_sending() -> None:
    """Unknown, badly valued, client-owned or encrypted attributes fail the Deferred with ValueError; nothing sent."""
    client, reactor, _ = make()
    with pytest.raises(ValueError, match="unknown RADIUS attribute"):
        result_of(client.coa(NAS, [("No-Such-Attribute", "x")]))
    with pytest.raises(ValueError, match="Framed-IP-Address"):
        result_of(client.disconnect(NAS, [("Framed-IP-Address", "not-an-ip")]))
    with pytest.raises(ValueError, match="added by the client"):
        result_of(client.disconnect(NAS, [("Message-Authenticator", b"x" * 16)]))
    with pytest.raises(ValueError, match="encrypted"):
        result_of(client.coa(NAS, [("User-Password", "secret")]))
    assert reactor.transport.sent == []


def test_send_by_kind() -> None:
    """send() takes the kind as data: "disconnect" and "coa" pick the code, anything else fails."""
    client, reactor, _ = make()
    client.send("disconnect", NAS, IDENT)
    client.send("coa", NAS, IDENT)
    assert [data[0] for data, _ in reactor.transport.sent] == [codec.DISCONNECT_REQUEST, codec.COA_REQUEST]
    with pytest.raises(ValueError, match="kind"):
        result_of(client.send("reauth", NAS, IDENT))


def test_not_started_fails() -> None:
    """A request before start() fails instead of vanishing."""
    client = DynAuthClient(FakeReactor(), dictionary=D)
    with pytest.raises(RuntimeError, match="not started"):
        result_of(client.disconnect(NAS, IDENT))


def test_start_binds_port_zero_on_bind_address() -> None:
    """start() binds an ephemeral port on bind_address; port reports it."""
    client, reactor, _ = make(bind_address="127.0.0.1")
    assert reactor.bound == (0, "127.0.0.1")
    assert client.port == 40123


def test_target_validation() -> None:
    """A target is an IP literal (normalised), a valid port and a secret, and never shows the secret."""
    assert Target("2001:db8::0:1", 3799, b"s").host == "2001:db8::1"
    with pytest.raises(ValueError, match="IP address"):
        Target("nas.example", 3799, b"s")
    with pytest.raises(ValueError, match="port"):
        Target("192.0.2.1", 0, b"s")
    with pytest.raises(ValueError, match="secret"):
        Target("192.0.2.1", 3799, b"")
    assert "s3cr3t" not in repr(Target("192.0.2.1", 3799, b"s3cr3t"))


# -- retransmission --------------------------------------------------------------------------

def send_times(reactor: FakeReactor, t0: float, until: float, step: float = 0.25) -> list[float]:
    times = []
    seen = len(reactor.transport.sent)
    while reactor.seconds() - t0 < until:
        reactor.advance(step)
        if len(reactor.transport.sent) > seen:
            times.append(reactor.seconds() - t0)
            seen = len(reactor.transport.sent)
    return times


def test_retransmission_schedule_and_timeout() -> None:
    """Defaults: sends at 0, 1, 3, 7 s (the same octets), then timeout at 8 s with 4 attempts."""
    client, reactor, stats = make()
    t0 = reactor.seconds()
    d = client.disconnect(NAS, IDENT)
    assert send_times(reactor, t0, 7.75) == [1.0, 3.0, 7.0]
    assert fired(d) is None
    reactor.advance(0.25)
    r = fired(d)
    assert r is not None
    assert (r.outcome, r.attempts, r.rtt, r.reply, r.error_cause) == ("timeout", 4, None, None, None)
    assert "4 attempts" in r.error_text
    packets = {data for data, _ in reactor.transport.sent}
    assert len(reactor.transport.sent) == 4 and len(packets) == 1
    assert reactor.getDelayedCalls() == []
    assert stats.counters["aaad_dynauth_results_total"]["disconnect_timeout"] == 1
    assert stats.counters["aaad_dynauth_sent_total"]["retransmission"] == 3
    assert client.in_flight() == 0


def test_max_time_bounds_retransmissions() -> None:
    """max_time ends a request even when attempts remain: 10 attempts allowed, 5 s → sends at 0, 1, 3."""
    client, reactor, _ = make(max_attempts=10, max_time=5.0)
    t0 = reactor.seconds()
    d = client.coa(NAS, IDENT)
    reactor.advance(4.75)
    assert fired(d) is None
    reactor.advance(0.25)
    r = fired(d)
    assert r is not None and r.outcome == "timeout" and r.attempts == 3
    assert reactor.seconds() - t0 == pytest.approx(5.0)
    assert len(reactor.transport.sent) == 3
    reactor.advance(100)
    assert len(reactor.transport.sent) == 3


def test_single_attempt_times_out_after_initial_timeout() -> None:
    """max_attempts=1: one send, the outcome after initial_timeout."""
    client, reactor, _ = make(max_attempts=1, initial_timeout=0.5)
    d = client.disconnect(NAS, IDENT)
    reactor.advance(0.375)
    assert fired(d) is None
    reactor.advance(0.125)
    r = fired(d)
    assert r is not None and r.outcome == "timeout" and r.attempts == 1
    assert len(reactor.transport.sent) == 1


def test_long_backoff_capped_by_deadline() -> None:
    """After the last attempt the wait is the doubled timeout, cut at max_time."""
    client, reactor, _ = make(max_attempts=4, max_time=30.0)
    t0 = reactor.seconds()
    d = client.disconnect(NAS, IDENT)
    reactor.advance(14.75)
    assert fired(d) is None
    assert len(reactor.transport.sent) == 4
    reactor.advance(0.25)
    r = fired(d)
    assert r is not None and r.outcome == "timeout"
    assert reactor.seconds() - t0 == pytest.approx(15.0)


# -- replies ---------------------------------------------------------------------------------

def test_ack_after_retransmission() -> None:
    """An ACK to a retransmission ends the request: attempts 2, rtt from the first send, no more sends."""
    client, reactor, stats = make()
    d = client.disconnect(NAS, IDENT)
    reactor.advance(1.5)
    (req, _), _again = reactor.transport.sent
    reactor.receive(reply_to(req, codec.DISCONNECT_ACK), ("192.0.2.10", 3799))
    r = fired(d)
    assert r is not None
    assert (r.outcome, r.attempts, r.error_cause, r.error_text) == ("ack", 2, None, "")
    assert r.rtt == pytest.approx(1.5)
    assert r.reply is not None and r.reply.code == codec.DISCONNECT_ACK
    reactor.advance(60)
    assert len(reactor.transport.sent) == 2
    assert reactor.getDelayedCalls() == []
    assert stats.counters["aaad_dynauth_results_total"]["disconnect_ack"] == 1
    assert stats.counters["aaad_dynauth_rtt_seconds_le"]["2.5"] == 1
    assert stats.counters["aaad_dynauth_rtt_seconds_le"]["1.0"] == 0
    assert stats.counters["aaad_dynauth_rtt_microseconds"][""] == 1_500_000


def test_works_without_stats() -> None:
    """Metrics are optional: a client without Stats still reports outcomes."""
    reactor = FakeReactor()
    client = DynAuthClient(reactor, dictionary=D)
    client.start()
    d = client.disconnect(NAS, IDENT)
    (req, _), = reactor.transport.sent
    reactor.receive(reply_to(req, codec.DISCONNECT_ACK), ("192.0.2.10", 3799))
    r = fired(d)
    assert r is not None and r.outcome == "ack"


def test_ack_without_message_authenticator_is_accepted() -> None:
    """RouterOS-style replies without Message-Authenticator are accepted (verified when present)."""
    client, reactor, _ = make()
    d = client.coa(NAS, IDENT)
    (req, _), = reactor.transport.sent
    reactor.receive(reply_to(req, codec.COA_ACK, message_authenticator=False), ("192.0.2.10", 3799))
    r = fired(d)
    assert r is not None and r.outcome == "ack" and r.rtt == 0.0


def cause_attr(cause: int) -> bytes:
    return codec.encode_int(codec.ERROR_CAUSE, cause)


def test_nak_session_context_not_found() -> None:
    """A Disconnect-NAK with Error-Cause 503 is a nak that says the session is gone."""
    client, reactor, stats = make()
    d = client.disconnect(NAS, IDENT)
    (req, _), = reactor.transport.sent
    reactor.receive(reply_to(req, codec.DISCONNECT_NAK, attrs=cause_attr(503)), ("192.0.2.10", 3799))
    r = fired(d)
    assert r is not None
    assert (r.outcome, r.error_cause, r.error_text) == ("nak", SESSION_NOT_FOUND, "Session Context Not Found")
    assert r.session_gone
    assert stats.counters["aaad_dynauth_naks_total"]["503"] == 1
    assert stats.counters["aaad_dynauth_results_total"]["disconnect_nak"] == 1


@pytest.mark.parametrize("cause", sorted(ERROR_CAUSES))
def test_nak_causes_decoded(cause: int) -> None:
    """Every RFC 5176 Error-Cause in a CoA-NAK comes back as its number and name."""
    client, reactor, _ = make()
    d = client.coa(NAS, IDENT)
    (req, _), = reactor.transport.sent
    reactor.receive(reply_to(req, codec.COA_NAK, attrs=cause_attr(cause)), ("192.0.2.10", 3799))
    r = fired(d)
    assert r is not None and r.outcome == "nak"
    assert (r.error_cause, r.error_text) == (cause, ERROR_CAUSES[cause])
    assert r.session_gone == (cause == 503)


def test_error_cause_table_is_rfc5176() -> None:
    """The table has the 17 RFC 5176 causes, the same numbers the shipped dictionary names."""
    assert set(ERROR_CAUSES) == set(D.attribute("Error-Cause").names)
    assert len(ERROR_CAUSES) == 17
    assert error_cause_text(999) == "Unknown Error-Cause 999"
    assert error_cause_text(None) == ""


def test_nak_without_cause() -> None:
    """A NAK without Error-Cause is a nak with no cause."""
    client, reactor, stats = make()
    d = client.coa(NAS, IDENT)
    (req, _), = reactor.transport.sent
    reactor.receive(reply_to(req, codec.COA_NAK), ("192.0.2.10", 3799))
    r = fired(d)
    assert r is not None and (r.outcome, r.error_cause) == ("nak", None)
    assert not r.session_gone
    assert stats.counters["aaad_dynauth_naks_total"]["none"] == 1


def forged_replies(req: bytes) -> dict[str, tuple[bytes, tuple[str, int]]]:
    good = reply_to(req, codec.DISCONNECT_ACK)
    bad_ma = bytearray(reply_to(req, codec.DISCONNECT_ACK))
    bad_ma[22] ^= 0xFF  # Message-Authenticator is first: octets 22..37
    body = bytes(bad_ma[20:])
    auth = hashlib.md5(bytes(bad_ma[:4]) + req[4:20] + body + SECRET).digest()
    wrong_id = bytearray(good)
    wrong_id[1] = (req[1] + 1) & 0xFF
    return {
        "unknown_source": (good, ("192.0.2.99", 3799)),
        "unknown_source_port": (good, ("192.0.2.10", 3800)),
        "unknown_id": (codec.encode_reply(codec.DISCONNECT_ACK, (req[1] + 1) & 0xFF, req[4:20], b"", SECRET),
                       ("192.0.2.10", 3799)),
        "unexpected_code": (reply_to(req, codec.COA_ACK), ("192.0.2.10", 3799)),
        "bad_authenticator": (reply_to(req, codec.DISCONNECT_ACK, secret=b"wrong"), ("192.0.2.10", 3799)),
        "bad_authenticator_tampered": (bytes(wrong_id[:1]) + bytes([req[1]]) + bytes(wrong_id[2:-1])
                                       + bytes([wrong_id[-1] ^ 1]), ("192.0.2.10", 3799)),
        "bad_message_authenticator": (bytes(bad_ma[:4]) + auth + body, ("192.0.2.10", 3799)),
        "malformed": (good[:19], ("192.0.2.10", 3799)),
    }


def test_forged_and_misrouted_replies_ignored() -> None:
    """Replies from elsewhere, for other ids, of the wrong code or failing a digest are dropped and counted."""
    client, reactor, stats = make()
    d = client.disconnect(NAS, IDENT)
    (req, _), = reactor.transport.sent
    for data, addr in forged_replies(req).values():
        reactor.receive(data, addr)
    assert fired(d) is None
    drops = stats.counters["aaad_dynauth_dropped_total"]
    assert dict(drops) == {"unknown_source": 2, "unknown_id": 1, "unexpected_code": 1,
                           "bad_authenticator": 2, "bad_message_authenticator": 1, "malformed": 1}
    reactor.receive(reply_to(req, codec.DISCONNECT_ACK), ("192.0.2.10", 3799))
    r = fired(d)
    assert r is not None and r.outcome == "ack"


def test_late_and_duplicate_replies_ignored() -> None:
    """A second ACK, or an ACK after the timeout, finds no request and is dropped."""
    client, reactor, stats = make(max_attempts=1)
    d = client.disconnect(NAS, IDENT)
    (req, _), = reactor.transport.sent
    reply = reply_to(req, codec.DISCONNECT_ACK)
    reactor.receive(reply, ("192.0.2.10", 3799))
    reactor.receive(reply, ("192.0.2.10", 3799))
    assert fired(d) is not None
    d2 = client.disconnect(NAS, IDENT)
    reactor.advance(1.0)
    r2 = fired(d2)
    assert r2 is not None and r2.outcome == "timeout"
    (req2, _) = reactor.transport.sent[1]
    reactor.receive(reply_to(req2, codec.DISCONNECT_ACK), ("192.0.2.10", 3799))
    assert stats.counters["aaad_dynauth_dropped_total"]["unknown_source"] == 2


def test_reply_from_one_nas_does_not_answer_another() -> None:
    """Ids are per NAS: the same id in flight to two NASes is answered separately, each with its secret."""
    client, reactor, _ = make()
    d1 = client.disconnect(NAS, IDENT)
    d2 = client.disconnect(OTHER, IDENT)
    (r1, _), (r2, _) = reactor.transport.sent
    assert r1[1] == r2[1]
    reactor.receive(reply_to(r1, codec.DISCONNECT_ACK), ("192.0.2.11", 3799))
    assert fired(d2) is None
    reactor.receive(reply_to(r2, codec.DISCONNECT_NAK, secret=b"other-secret", attrs=cause_attr(503)),
                    ("192.0.2.11", 3799))
    res2 = fired(d2)
    assert res2 is not None and res2.outcome == "nak"
    assert fired(d1) is None


# -- identifiers -----------------------------------------------------------------------------

def test_identifier_exhaustion_queues() -> None:
    """256 requests in flight to one NAS use 256 distinct ids; more wait; a freed id serves the next."""
    client, reactor, stats = make()
    ds = [client.disconnect(NAS, identity_attrs(f"u{i}", f"s{i}")) for i in range(MAX_IN_FLIGHT + 4)]
    sent = [data for data, _ in reactor.transport.sent]
    assert len(sent) == MAX_IN_FLIGHT
    assert {p[1] for p in sent} == set(range(256))
    assert stats.counters["aaad_dynauth_queued_total"][""] == 4
    other = client.coa(OTHER, IDENT)  # another NAS is not held up
    assert len(reactor.transport.sent) == MAX_IN_FLIGHT + 1
    assert client.in_flight() == MAX_IN_FLIGHT + 1
    reactor.receive(reply_to(sent[17], codec.DISCONNECT_ACK), ("192.0.2.10", 3799))
    assert fired(ds[17]) is not None
    nxt, addr = reactor.transport.sent[-1]
    assert addr == ("192.0.2.10", 3799)
    assert nxt[1] == 17 and b"u256" in nxt
    assert fired(ds[MAX_IN_FLIGHT]) is None
    # the queued request's own retransmission clock starts at its send
    reactor.advance(0.5)
    reactor.receive(reply_to(nxt, codec.DISCONNECT_ACK), ("192.0.2.10", 3799))
    r = fired(ds[MAX_IN_FLIGHT])
    assert r is not None and r.outcome == "ack" and r.rtt == pytest.approx(0.5)
    # everything else times out within max_time of its send; queued ones go out as ids free up
    reactor.pump([1.0] * 20)
    results = [fired(d) for d in ds]
    assert all(r is not None for r in results)
    assert [r.outcome for r in results if r is not None].count("ack") == 2
    assert fired(other) is not None
    assert client.in_flight() == 0
    assert reactor.getDelayedCalls() == []


def test_max_in_flight_lower_bound_rotates_ids() -> None:
    """max_in_flight=2 holds the third request back; the freed slot gets the next id, not the freed one."""
    client, reactor, stats = make(max_in_flight=2)
    ds = [client.disconnect(NAS, identity_attrs(f"u{i}", "s")) for i in range(3)]
    assert [data[1] for data, _ in reactor.transport.sent] == [0, 1]
    reactor.receive(reply_to(reactor.transport.sent[0][0], codec.DISCONNECT_ACK), ("192.0.2.10", 3799))
    assert fired(ds[0]) is not None
    assert reactor.transport.sent[-1][0][1] == 2 and b"u2" in reactor.transport.sent[-1][0]
    assert stats.counters["aaad_dynauth_queued_total"][""] == 1
    with pytest.raises(ValueError, match="max_in_flight"):
        DynAuthClient(reactor, dictionary=D, max_in_flight=257)


def test_ids_never_reused_while_in_flight() -> None:
    """Under a random mix of submissions, replies and timeouts, no id is given out while it is in flight."""
    client, reactor, _ = make(max_attempts=2, max_time=3.0)
    rng = random.Random(10)
    owner: dict[int, int] = {}  # id in flight -> request number
    first_sends: list[bytes] = []
    violations: list[str] = []
    tr = reactor.transport
    written = 0

    def finished(_: object, n: int) -> None:
        for ident, m in list(owner.items()):
            if m == n:
                del owner[ident]

    n = 0
    for _step in range(400):
        for _ in range(rng.randrange(0, 12)):
            client.disconnect(NAS, identity_attrs(f"u{n}", "s")).addBoth(finished, n)
            n += 1
        while written < len(tr.sent):
            data = tr.sent[written][0]
            written += 1
            p = codec.decode(data)
            user = p.get(codec.USER_NAME)
            assert user is not None
            num = int(user[1:])
            if owner.get(p.ident) not in (None, num):
                violations.append(f"id {p.ident} given to {num} while {owner[p.ident]} in flight")
            if p.ident not in owner:
                first_sends.append(data)
            owner[p.ident] = num
        for data in rng.sample(first_sends[-300:], min(5, len(first_sends))):
            reactor.receive(reply_to(data, codec.DISCONNECT_ACK), ("192.0.2.10", 3799))
        reactor.advance(0.1)
    assert n > 1500
    assert violations == []
    assert len({d[1] for d in first_sends}) == 256


def test_cancel_releases_the_identifier() -> None:
    """Cancelling a request's Deferred stops its retransmissions and frees its id (and a queued one)."""
    client, reactor, _ = make()
    d = client.disconnect(NAS, IDENT)
    d.addErrback(lambda f: f.trap(defer.CancelledError))
    d.cancel()
    assert client.in_flight() == 0
    reactor.advance(10)
    assert len(reactor.transport.sent) == 1
    assert reactor.getDelayedCalls() == []


def test_stop_fails_pending_and_closes() -> None:
    """stop() errbacks requests in flight or waiting with ClientStopped and leaves no timers."""
    client, reactor, _ = make()
    ds = [client.disconnect(NAS, identity_attrs(f"u{i}", "s")) for i in range(MAX_IN_FLIGHT + 1)]
    failures: list[Any] = []
    for d in ds:
        d.addErrback(failures.append)
    result_of(client.stop())
    assert len(failures) == MAX_IN_FLIGHT + 1
    assert all(f.check(ClientStopped) for f in failures)
    assert reactor.udp_port.stopped
    assert reactor.getDelayedCalls() == []
    with pytest.raises(RuntimeError):
        result_of(client.coa(NAS, IDENT))
