"""The accounting datagram protocol: validation, drops, answer only after commit."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any, cast

from twisted.internet import defer, task
from twisted.internet.interfaces import IUDPTransport
from twisted.internet.testing import FakeDatagramTransport

from aaad.db import WriterFull, WriterUnavailable
from aaad.metrics import Stats
from aaad.radius import codec
from accounting import sessions as sm
from accounting.server import AcctProtocol, AcctStats, Refusals
from accounting.store import AcctItem, Outcome
from accounting.tracker import Tracker

SECRET = b"testing123"
NAS_ADDR = ("10.0.0.1", 40000)


class FakeNas:
    id = 7
    org_id = 1
    secret = SECRET


class FakeLogin:
    id = 42
    profile_id = 3
    time_limit = None
    data_limit = None


class FakeProfile:
    interim_interval = 600


class FakeView:
    def __init__(self) -> None:
        self.nas = self
        self.profiles = {3: FakeProfile()}

    def lookup(self, host: str) -> Any:
        return FakeNas() if host == NAS_ADDR[0] else None

    def get(self, org_id: int, username: str) -> Any:
        return FakeLogin() if (org_id, username) == (1, "alice") else None


class Harness:
    def __init__(self) -> None:
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        self.stats = Stats()
        self.st = AcctStats(self.stats)
        self.submitted: list[tuple[AcctItem, defer.Deferred]] = []
        self.tracker = Tracker(None, self.clock)
        self.proto = AcctProtocol(FakeView(), self.submit, self.clock, self.st, self.tracker)
        self.transport = FakeDatagramTransport()
        # FakeDatagramTransport provides IUDPTransport (zope's @implementer is invisible to mypy)
        self.proto.makeConnection(cast(IUDPTransport, self.transport))

    def submit(self, it: AcctItem) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.submitted.append((it, d))
        return d

    def send(self, data: bytes, addr: tuple[str, int] = NAS_ADDR) -> None:
        self.proto.datagramReceived(data, addr)


def acct(status: int, ident: int = 1, secret: bytes = SECRET, ma: bool = True,
         extra: bytes = b"", delay: int = 0) -> bytes:
    attrs = (codec.encode_int(codec.ACCT_STATUS_TYPE, status)
             + codec.encode_attr(codec.ACCT_SESSION_ID, b"81000001")
             + codec.encode_attr(codec.USER_NAME, b"alice")
             + codec.encode_int(codec.ACCT_DELAY_TIME, delay) + extra)
    return codec.encode_request(codec.ACCOUNTING_REQUEST, ident, attrs, secret, message_authenticator=ma)


def test_response_only_after_commit() -> None:
    """Nothing is written to the transport until the write Deferred fires; then one valid reply."""
    h = Harness()
    data = acct(sm.STATUS_START)
    h.send(data)
    assert h.transport.written == []
    (it, d), = h.submitted
    assert it.login_id == 42 and it.org_id == 1 and it.rec.nas_id == 7
    assert it.rec.interim_interval == 600  # from the login's profile
    d.callback(Outcome(opened=(42,)))
    (reply, addr), = h.transport.written
    assert addr == NAS_ADDR
    p = codec.decode(reply)
    assert p.code == codec.ACCOUNTING_RESPONSE and p.ident == 1
    assert codec.verify_response_authenticator(p, SECRET, codec.decode(data).authenticator)
    assert p.ma_offset < 0  # see the module docstring: peers disagree on its HMAC input
    assert h.tracker.open_count(42) == 1


def test_bad_authenticator_dropped_and_counted() -> None:
    """A request signed with the wrong secret is dropped silently and counted."""
    h = Harness()
    h.send(acct(sm.STATUS_START, secret=b"wrong"))
    assert h.submitted == [] and h.transport.written == []
    assert h.st.drops["bad_authenticator"] == 1


def test_bad_message_authenticator_dropped() -> None:
    """A correct Request Authenticator with a wrong Message-Authenticator is dropped."""
    h = Harness()
    data = bytearray(acct(sm.STATUS_START))
    p = codec.decode(bytes(data))
    data[p.ma_offset] ^= 1  # break the HMAC, then re-sign the request authenticator
    raw = bytes(data)
    import hashlib
    auth = hashlib.md5(raw[:4] + bytes(16) + raw[20:] + SECRET).digest()
    h.send(raw[:4] + auth + raw[20:])
    assert h.st.drops["bad_message_authenticator"] == 1 and h.submitted == []


def test_no_message_authenticator_is_accepted() -> None:
    """Message-Authenticator is optional on Accounting-Request."""
    h = Harness()
    h.send(acct(sm.STATUS_START, ma=False))
    h.submitted[0][1].callback(Outcome())
    (reply, _), = h.transport.written
    assert codec.decode(reply).ma_offset < 0


def test_unknown_client_dropped() -> None:
    """A datagram from an address that is no NAS is dropped and counted."""
    h = Harness()
    h.send(acct(sm.STATUS_START), ("192.0.2.9", 1234))
    assert h.st.drops["unknown_client"] == 1 and h.submitted == []


def test_malformed_and_wrong_code_dropped() -> None:
    """Garbage and Access-Requests on the accounting port are dropped with their reasons."""
    h = Harness()
    h.send(b"\x04\x01\x00")
    h.send(codec.encode_request(codec.ACCESS_REQUEST, 1, b"", SECRET))
    assert h.st.drops["too_short"] == 1 and h.st.drops["unexpected_code"] == 1


def test_retransmission_pending_then_cached() -> None:
    """A retransmission while the write is pending is dropped; after, it gets the same reply."""
    h = Harness()
    data = acct(sm.STATUS_INTERIM)
    h.send(data)
    h.send(data)
    assert len(h.submitted) == 1 and h.st.duplicates["dropped_pending"] == 1
    h.submitted[0][1].callback(Outcome())
    h.send(data)
    assert len(h.transport.written) == 2 and h.transport.written[0] == h.transport.written[1]
    assert h.st.duplicates["answered_from_cache"] == 1


def test_failed_write_is_not_answered() -> None:
    """When the commit fails the NAS gets no reply (it retransmits) and the failure is counted."""
    h = Harness()
    data = acct(sm.STATUS_STOP)
    h.send(data)
    h.submitted[0][1].errback(WriterUnavailable("disk full"))
    assert h.transport.written == [] and h.st.write_failures[""] == 1
    h.send(data)  # the retransmission is tried again
    assert len(h.submitted) == 2


def test_refused_record_is_held_back_with_growing_waits() -> None:
    """A record the database refuses is not resubmitted on every retransmission: it waits
    0.05 s, then twice as long after each refusal up to 1 s; a database failure holds nothing."""
    h = Harness()
    data = acct(sm.STATUS_STOP)
    tries: list[float] = []
    for _ in range(2000):  # retransmitted every 5 ms for 10 s, refused each time it is tried
        before = len(h.submitted)
        h.send(data)
        if len(h.submitted) > before:
            tries.append(h.clock.seconds())
            h.submitted[-1][1].errback(ValueError("value out of range"))
        h.clock.advance(0.005)
    waits = [round(b - a, 3) for a, b in itertools.pairwise(tries)]
    assert waits[:5] == [0.05, 0.1, 0.2, 0.4, 0.8] and set(waits[5:]) == {1.0}, waits
    assert h.st.drops["held_after_refusal"] == 2000 - len(tries)
    assert h.st.write_failures[""] == len(tries) and h.transport.written == []
    # Stored after all: forgotten, so its next refusal starts again at 0.05 s.
    h.clock.advance(1)
    h.send(data)
    h.submitted[-1][1].callback(Outcome())
    assert h.proto.refusals.held == {}
    # Another record, and a failure of the database itself, are not held.
    other = acct(sm.STATUS_START, ident=2)
    h.send(other)
    h.submitted[-1][1].errback(WriterFull())
    n = len(h.submitted)
    h.send(other)
    assert len(h.submitted) == n + 1


def test_held_record_is_named_by_content_not_identifier() -> None:
    """A NAS that updates Acct-Delay-Time sends a new Identifier (RFC 2866 section 5.2); the
    record is still the same one, held; a record with other counters is not."""
    h = Harness()
    h.send(acct(sm.STATUS_INTERIM, ident=1))
    h.submitted[-1][1].errback(ValueError("refused"))
    h.send(acct(sm.STATUS_INTERIM, ident=2, delay=1))
    assert len(h.submitted) == 1 and h.st.drops["held_after_refusal"] == 1
    h.send(acct(sm.STATUS_INTERIM, ident=3, extra=codec.encode_int(codec.ACCT_SESSION_TIME, 60)))
    assert len(h.submitted) == 2


def test_refusals_are_bounded() -> None:
    """At most ``size`` records are held; long-expired ones make room, else a new one is not held."""
    clock = task.Clock()
    r = Refusals(clock, size=2)
    r.refused((1, 2, "a", None, None, None))
    r.refused((1, 2, "b", None, None, None))
    r.refused((1, 2, "c", None, None, None))
    assert not r.holds((1, 2, "c", None, None, None)) and len(r.held) == 2
    clock.advance(5)
    r.refused((1, 2, "c", None, None, None))
    assert r.holds((1, 2, "c", None, None, None)) and len(r.held) == 1


def test_record_fields_and_gigawords() -> None:
    """Counters combine Gigawords; delay shifts the event time; addresses decode."""
    h = Harness()
    extra = (codec.encode_int(codec.ACCT_INPUT_OCTETS, 5) + codec.encode_int(codec.ACCT_INPUT_GIGAWORDS, 2)
             + codec.encode_int(codec.ACCT_OUTPUT_OCTETS, 7)
             + codec.encode_attr(codec.FRAMED_IP_ADDRESS, bytes([10, 1, 2, 3]))
             + codec.encode_int(codec.ACCT_SESSION_TIME, 60)
             + codec.encode_int(codec.ACCT_TERMINATE_CAUSE, 1))
    h.send(acct(sm.STATUS_STOP, extra=extra, delay=10))
    r = h.submitted[0][0].rec
    assert r.input_octets == (2 << 32) + 5 and r.output_octets == 7
    assert r.framed_ip == "10.1.2.3" and r.session_time == 60 and r.terminate_cause == 1
    assert r.event_time == datetime.fromtimestamp(1_800_000_000 - 10, UTC)
    assert r.nas_ip == NAS_ADDR[0]   # where the request came from: CoA goes there for a NAS network


def test_accounting_on_and_missing_session_id() -> None:
    """Accounting-On needs no session; a Start without Acct-Session-Id is dropped."""
    h = Harness()
    h.send(codec.encode_request(codec.ACCOUNTING_REQUEST, 9,
                                codec.encode_int(codec.ACCT_STATUS_TYPE, sm.STATUS_ACCOUNTING_ON), SECRET))
    assert h.submitted[0][0].rec.status == sm.STATUS_ACCOUNTING_ON
    h.send(codec.encode_request(codec.ACCOUNTING_REQUEST, 10,
                                codec.encode_int(codec.ACCT_STATUS_TYPE, sm.STATUS_START), SECRET))
    assert h.st.drops["missing_session_id"] == 1 and len(h.submitted) == 1
