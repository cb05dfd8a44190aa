"""Voucher logins at the auth listener (fake transport and clock): the claim of an
unused login before the accept, the loser decided again, MAC binding, Session-Timeout
and Mikrotik-Total-Limit capped by what is left, revoked and exhausted reasons, and
provisional sessions for shared users."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer

from aaad import policy
from aaad.changes import Change
from aaad.radius import codec
from aaad.view.memory import AAAView
from aaad.view.model import DATA_LIMIT_REACHED, TIME_LIMIT_REACHED, Login
from accounting.store import Outcome
from accounting.tracker import Tracker
from tests.radius.test_server import NAS_ADDR, SECRET, make, request, text

MAC_A = "AA:BB:CC:00:00:01"
MAC_B = "AA:BB:CC:00:00:02"


def put(view: AAAView, lg: Login) -> Login:
    """Apply a login to the view as the writer would."""
    put.n += 1  # type: ignore[attr-defined]
    view.apply_local([(Change(1000 + put.n, lg.org_id, "login", lg.id, "upsert"), lg)])  # type: ignore[attr-defined]
    return lg


put.n = 0  # type: ignore[attr-defined]


def voucher(view: AAAView, **kw: Any) -> Login:
    return put(view, Login(50, 1, "V7KQ2", b"V7KQ2", state="unused", profile_id=1, owner_type="voucher",
                           owner_id=1, **kw))


def reply_of(tr: Any, r: bytes) -> codec.Packet:
    """The reply to request ``r`` (by identifier), its authenticators checked."""
    for data, _ in tr.sent:
        p = codec.decode(data)
        if p.ident == r[1]:
            assert codec.verify_response_authenticator(p, SECRET, r[4:20])
            assert codec.verify_message_authenticator(p, SECRET, r[4:20])
            return p
    raise AssertionError(f"no reply to request {r[1]}")


def req(user: str = "V7KQ2", pw: str = "V7KQ2", mac: str | None = None, ident: int = 1) -> bytes:
    attrs: list[tuple[str, Any]] = [("User-Name", user)]
    if mac:
        attrs.append(("Calling-Station-Id", mac))
    return request(attrs, pap=pw.encode(), ident=ident)


class Claims:
    """Stands in for the database claim: held until the test fires it."""

    def __init__(self, view: AAAView, win: bool = True):
        self.view = view
        self.win = win
        self.calls: list[tuple[int, str | None, defer.Deferred]] = []

    def __call__(self, org_id: int, login_id: int, now: float, mac: str | None) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.calls.append((login_id, mac, d))
        return d

    def fire(self, i: int = 0, won: bool = True, mac: str | None = None) -> None:
        login_id, req_mac, d = self.calls[i]
        lg = self.view.login_by_id(1, login_id)
        assert lg is not None
        if lg.state == "unused":
            put(self.view, dataclasses.replace(lg, state="active", first_used_at=datetime.now(UTC),
                                               bound_mac=(mac or req_mac) if lg.bind_mac else None, compiled=None))
        d.callback(won)


def with_claims(**kw: Any) -> tuple[Any, Any, Any, AAAView, Claims]:
    proto, tr, clock, stats, view = make(**kw)
    claims = Claims(view)
    proto.claim = claims
    return proto, tr, clock, view, claims


def test_unused_voucher_is_answered_only_after_its_claim() -> None:
    """No reply until the claim commits; then the accept, and no separate first-use write."""
    proto, tr, _, view, claims = with_claims()
    voucher(view, validity_seconds=3600)
    r = req(mac=MAC_A)
    proto.datagramReceived(r, NAS_ADDR)
    assert tr.sent == [] and len(claims.calls) == 1
    proto.datagramReceived(r, NAS_ADDR)  # a retransmission while claiming: dropped
    assert len(claims.calls) == 1
    claims.fire()
    p = reply_of(tr, r)
    assert p.code == 2 and text(p, "Session-Timeout") == 3600
    assert proto.first_uses == []
    assert len(tr.sent) == 1


def test_lost_claim_is_decided_again_against_the_claimed_login() -> None:
    """Two devices present an unused MAC-bound voucher at once: the loser is rejected."""
    proto, tr, _, view, claims = with_claims()
    voucher(view, bind_mac=True)
    r1, r2 = req(mac=MAC_A, ident=1), req(mac=MAC_B, ident=2)
    proto.datagramReceived(r1, NAS_ADDR)
    proto.datagramReceived(r2, NAS_ADDR)
    assert len(claims.calls) == 2 and claims.calls[1][1] == MAC_B
    claims.fire(0, True)
    claims.fire(1, False)
    assert reply_of(tr, r1).code == 2
    p2 = reply_of(tr, r2)
    assert p2.code == 3 and text(p2, "Reply-Message") == policy.OTHER_DEVICE


def test_failed_claim_is_not_answered_and_retried() -> None:
    """A database error on the claim: no reply (the NAS retransmits), counted."""
    proto, tr, _, view, claims = with_claims()
    voucher(view)
    r = req()
    proto.datagramReceived(r, NAS_ADDR)
    claims.calls[0][2].errback(RuntimeError("database down"))
    assert tr.sent == [] and proto.st.drops["claim_failed"] == 1
    proto.datagramReceived(r, NAS_ADDR)  # the retransmission is tried again
    assert len(claims.calls) == 2


def test_bound_voucher_refuses_another_device() -> None:
    """After its first use a bound voucher works only from that MAC (any spelling)."""
    proto, tr, _, view, _ = with_claims()
    voucher(view, bind_mac=True)
    lg = view.get(1, "V7KQ2")
    assert lg is not None
    put(view, dataclasses.replace(lg, state="active", bound_mac=MAC_A, compiled=None))
    ok, bad, none = req(mac="aa-bb-cc-00-00-01", ident=1), req(mac=MAC_B, ident=2), req(ident=3)
    for r in (ok, bad, none):
        proto.datagramReceived(r, NAS_ADDR)
    assert reply_of(tr, ok).code == 2
    for r in (bad, none):
        p = reply_of(tr, r)
        assert (p.code, text(p, "Reply-Message")) == (3, policy.OTHER_DEVICE)


def test_time_and_data_left_cap_the_reply() -> None:
    """Session-Timeout = the least of profile, validity and time left; Mikrotik-Total-Limit
    and its Gigawords carry the octets left."""
    proto, tr, _, view, _ = with_claims()
    left = 5 * 2**32 + 1234
    voucher(view, time_limit=3600, time_used=1000, data_limit=left + 10_000, octets_used=10_000)
    lg = view.get(1, "V7KQ2")
    assert lg is not None
    put(view, dataclasses.replace(lg, state="active", compiled=None))
    r = req()
    proto.datagramReceived(r, NAS_ADDR)
    p = reply_of(tr, r)
    assert p.code == 2
    assert text(p, "Session-Timeout") == 2600
    assert text(p, "Mikrotik-Total-Limit") == 1234 and text(p, "Mikrotik-Total-Limit-Gigawords") == 5
    assert text(p, "Mikrotik-Rate-Limit") == "10M/10M"


def test_small_data_left_sends_no_gigawords() -> None:
    """Under 4 GiB left: Mikrotik-Total-Limit only."""
    proto, tr, _, view, _ = with_claims()
    lg = voucher(view, data_limit=1000, octets_used=400)
    put(view, dataclasses.replace(lg, state="active", compiled=None))
    r = req()
    proto.datagramReceived(r, NAS_ADDR)
    p = reply_of(tr, r)
    assert text(p, "Mikrotik-Total-Limit") == 600 and text(p, "Mikrotik-Total-Limit-Gigawords") is None


def test_used_up_limits_and_revocation_reject_with_their_reason() -> None:
    """Time used up (even before accounting marked it), data exhausted, revoked."""
    proto, tr, _, view, _ = with_claims()
    cases = [
        (Login(60, 1, "T1", b"T1", time_limit=60, time_used=60, profile_id=1), TIME_LIMIT_REACHED),
        (Login(61, 1, "D1", b"D1", state="exhausted", data_limit=10, octets_used=10, profile_id=1),
         DATA_LIMIT_REACHED),
        (Login(62, 1, "R1", b"R1", state="revoked", profile_id=1), policy.REVOKED),
    ]
    for i, (lg, reason) in enumerate(cases):
        put(view, lg)
        r = req(lg.username, lg.username, ident=10 + i)
        proto.datagramReceived(r, NAS_ADDR)
        p = reply_of(tr, r)
        assert (p.code, text(p, "Reply-Message")) == (3, reason)


def test_shared_users_count_accepts_before_their_start() -> None:
    """Shared users 2: three requests before any Start get two accepts; a Start turns a
    provisional session into an open one; an expired reservation frees its place."""
    proto, tr, clock, view, _ = with_claims()
    tracker = Tracker(None, clock, provisional_timeout=30)
    proto.controller.open_sessions = tracker.open_count
    proto.controller.reserve = tracker.reserve
    proto.release = tracker.release
    lg = voucher(view, simultaneous_use=2)
    put(view, dataclasses.replace(lg, state="active", compiled=None))
    codes = []
    for i in range(3):
        r = req(ident=20 + i, mac=f"AA:BB:CC:00:01:{i:02X}")
        proto.datagramReceived(r, NAS_ADDR)
        codes.append(reply_of(tr, r).code)
    assert codes == [2, 2, 3]
    tracker.apply(Outcome(opened=(50,)))      # one Start: one open + one provisional
    assert tracker.open_count(50) == 2
    clock.advance(31)                         # the other accept never started
    assert tracker.open_count(50) == 1
    r = req(ident=30, mac="AA:BB:CC:00:01:09")
    proto.datagramReceived(r, NAS_ADDR)
    assert reply_of(tr, r).code == 2


def test_one_place_two_first_uses_at_once() -> None:
    """Shared users 1, two devices' first uses at once: the first one's accept holds the one
    place (while its claim commits), so the second is refused by simultaneous use."""
    proto, tr, clock, view, claims = with_claims()
    tracker = Tracker(None, clock, provisional_timeout=30)
    proto.controller.open_sessions = tracker.open_count
    proto.controller.reserve = tracker.reserve
    proto.release = tracker.release
    voucher(view, simultaneous_use=1)
    r1, r2 = req(ident=1, mac=MAC_A), req(ident=2, mac=MAC_B)
    proto.datagramReceived(r1, NAS_ADDR)
    proto.datagramReceived(r2, NAS_ADDR)
    # both were decided while unused; the second was refused already by the first's reservation
    assert len(claims.calls) == 1
    assert reply_of(tr, r2).code == 3
    claims.fire(0, True)
    assert reply_of(tr, r1).code == 2
    assert tracker.open_count(50) == 1


def test_a_device_asking_again_replaces_its_own_reservation() -> None:
    """Shared users 1: the same device (or a NAS sending no Calling-Station-Id) asking again
    before its Start is accepted again (a PPPoE redial), another device is not."""
    proto, tr, clock, view, _ = with_claims()
    tracker = Tracker(None, clock, provisional_timeout=30)
    proto.controller.open_sessions = tracker.open_count
    proto.controller.reserve = tracker.reserve
    proto.release = tracker.release
    lg = voucher(view, simultaneous_use=1)
    put(view, dataclasses.replace(lg, state="active", compiled=None))
    got = []
    for i, mac in enumerate([MAC_A, MAC_A, MAC_B, None]):
        r = req(ident=40 + i, mac=mac)
        proto.datagramReceived(r, NAS_ADDR)
        got.append(reply_of(tr, r).code)
    assert got == [2, 2, 3, 3]
    clock.advance(31)                  # MAC_A never started: a NAS sending no Calling-Station-Id now
    for i in range(2):
        r = req(ident=50 + i)
        proto.datagramReceived(r, NAS_ADDR)
        assert reply_of(tr, r).code == 2
