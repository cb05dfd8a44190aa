"""The auth listener under a fake transport and clock: validation drops,
Message-Authenticator rules, duplicates, reject delay, and policy replies."""
from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet import defer, task

from aaad import policy
from aaad.auth import chap as chap_mod
from aaad.auth import mschap
from aaad.auth.controller import AuthController
from aaad.changes import Change
from aaad.metrics import Stats
from aaad.nas import Nas
from aaad.radius import codec
from aaad.radius.dictionary import load_dictionary
from aaad.radius.server import AuthProtocol, RadiusConfig, RadiusStats
from aaad.view.memory import AAAView
from aaad.view.model import Login, Profile
from aaad.view.store import Snapshot

SECRET = b"testing123"
NAS_ADDR = ("127.0.0.1", 40000)
D = load_dictionary()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))


def make(require_ma: bool = True, reject_delay: float = 0.0,
         **conf: Any) -> tuple[AuthProtocol, FakeTransport, task.Clock, Stats, AAAView]:
    clock = task.Clock()
    clock.advance(NOW.timestamp())
    view = AAAView()
    prof = Profile(1, 1, "10M", rate_limit="10M/10M", pool="pool1", interim_interval=300,
                   address_list="customers", session_timeout=7200, fup_rate_limit="1M/1M")
    users = [
        Login(1, 1, "alice", b"alice-pass", profile_id=1),
        Login(2, 1, "dave", b"dave-pass", state="disabled", profile_id=1),
        Login(3, 1, "erin", b"erin-pass", state="suspended", suspend_mode="walled_garden", profile_id=1),
        Login(4, 1, "frank", b"frank-pass", state="suspended", suspend_mode="reject", profile_id=1),
        Login(5, 1, "henry", b"henry-pass", expires_at=NOW - timedelta(seconds=1), profile_id=1),
        Login(6, 1, "carol", b"carol-pass", validity_seconds=3600, profile_id=1),
        Login(7, 1, "bob", b"bob-pass", framed_ip="10.0.0.7", profile_id=1),
        Login(8, 1, "ivy", b"ivy-pass", expires_at=NOW + timedelta(seconds=600), profile_id=1),
        Login(9, 1, "gus", b"gus-pass", state="exhausted", profile_id=1),
    ]
    view.load(Snapshot(0, [Nas(1, 1, "r", "127.0.0.1", SECRET, "mikrotik", 3799, require_ma),
                           Nas(2, 2, "r2", "127.0.0.2", b"other", "mikrotik", 3799, False)],
                       [prof], users))
    first_use: list[tuple[int, int]] = []

    def on_first(org_id: int, login_id: int, now: float) -> defer.Deferred:
        """Stands in for the writer: commits, then the view applies the change locally."""
        first_use.append((org_id, login_id))
        lg = view.login_by_id(org_id, login_id)
        assert lg is not None
        new = dataclasses.replace(lg, first_used_at=datetime.fromtimestamp(now, UTC),
                                  compiled=None)
        view.apply_local([(Change(len(first_use), org_id, "login", login_id, "upsert"), new)])
        return defer.succeed(True)
    ctl = AuthController(view, D)
    view.listeners.append(ctl.on_view_change)
    stats = Stats()
    cfg = RadiusConfig(reject_delay=reject_delay, **conf)
    proto = AuthProtocol(view, ctl, clock, RadiusStats(stats), None, cfg, D.vendor_ids, on_first)
    tr = FakeTransport()
    proto.transport = tr  # type: ignore[assignment]
    proto.first_uses = first_use  # type: ignore[attr-defined]
    return proto, tr, clock, stats, view


def request(attrs: list[tuple[str, Any]], ident: int = 1, ma: bool = True, secret: bytes = SECRET,
            auth: bytes | None = None, pap: bytes | None = None, raw_attrs: bytes = b"") -> bytes:
    auth = auth or os.urandom(16)
    body = b"".join(D.encode(n, v) for n, v in attrs) + raw_attrs
    if pap is not None:
        body = codec.encode_attr(codec.USER_PASSWORD, codec.pap_hide(pap, secret, auth)) + body
    return codec.encode_request(codec.ACCESS_REQUEST, ident, body, secret, authenticator=auth,
                                message_authenticator=ma)


def pap_req(user: str, pw: str, **kw: Any) -> bytes:
    return request([("User-Name", user)], pap=pw.encode(), **kw)


def reply_of(tr: FakeTransport, req: bytes, secret: bytes = SECRET) -> codec.Packet:
    assert tr.sent, "no reply sent"
    data, _ = tr.sent[-1]
    p = codec.decode(data)
    assert codec.verify_response_authenticator(p, secret, req[4:20])
    assert p.attrs[0][0] == codec.MESSAGE_AUTHENTICATOR, "Message-Authenticator must be first"
    assert codec.verify_message_authenticator(p, secret, req[4:20])
    return p


def text(p: codec.Packet, name: str) -> Any:
    vendor, code = D.attr_key(name)
    raw = p.vsa(vendor, code) if vendor else p.get(code)
    return None if raw is None else D.decode_value(name, raw)


# -- accepts and policy ----------------------------------------------------------------

def test_pap_accept_carries_profile_attributes() -> None:
    """PAP accept: rate limit, pool, interim, address list, Session-Timeout; MA first."""
    proto, tr, *_ = make()
    req = pap_req("alice", "alice-pass")
    proto.datagramReceived(req, NAS_ADDR)
    p = reply_of(tr, req)
    assert p.code == codec.ACCESS_ACCEPT and p.ident == 1
    assert text(p, "Mikrotik-Rate-Limit") == "10M/10M"
    assert text(p, "Framed-Pool") == "pool1"
    assert text(p, "Acct-Interim-Interval") == 300
    assert text(p, "Mikrotik-Address-List") == "customers"
    assert text(p, "Session-Timeout") == 7200


def test_fixed_ip_replaces_pool() -> None:
    """A login with a fixed IP gets Framed-IP-Address and no Framed-Pool."""
    proto, tr, *_ = make()
    req = pap_req("bob", "bob-pass")
    proto.datagramReceived(req, NAS_ADDR)
    p = reply_of(tr, req)
    assert text(p, "Framed-IP-Address") == "10.0.0.7" and text(p, "Framed-Pool") is None


@pytest.mark.parametrize("user,pw,reason", [
    ("nobody", "x", policy.UNKNOWN_USER),
    ("alice", "wrong", policy.WRONG_PASSWORD),
    ("dave", "dave-pass", policy.DISABLED),
    ("frank", "frank-pass", policy.SUSPENDED),
    ("henry", "henry-pass", policy.EXPIRED),
    ("gus", "gus-pass", policy.EXHAUSTED),
])
def test_rejects_carry_the_reason(user: str, pw: str, reason: str) -> None:
    """Each reject reason reaches Reply-Message and the counters."""
    proto, tr, _, stats, _ = make()
    req = pap_req(user, pw)
    proto.datagramReceived(req, NAS_ADDR)
    p = reply_of(tr, req)
    assert p.code == codec.ACCESS_REJECT
    assert text(p, "Reply-Message") == reason
    assert stats.counters["radius_auth_rejects_total"][reason] == 1


def test_state_is_not_revealed_without_the_password() -> None:
    """A disabled login with a wrong password is rejected as a wrong password."""
    proto, tr, *_ = make()
    req = pap_req("dave", "guess")
    proto.datagramReceived(req, NAS_ADDR)
    assert text(reply_of(tr, req), "Reply-Message") == policy.WRONG_PASSWORD


def test_walled_garden_accept() -> None:
    """A suspended walled-garden login is accepted into the suspension list at the low rate."""
    proto, tr, *_ = make()
    req = pap_req("erin", "erin-pass")
    proto.datagramReceived(req, NAS_ADDR)
    p = reply_of(tr, req)
    assert p.code == codec.ACCESS_ACCEPT
    assert text(p, "Mikrotik-Address-List") == "suspended"
    assert text(p, "Mikrotik-Rate-Limit") == "256k/256k"
    assert text(p, "Framed-Pool") is None


def test_session_timeout_is_capped_by_expiry() -> None:
    """Session-Timeout is the profile's, shortened to the remaining validity."""
    proto, tr, *_ = make()
    req = pap_req("ivy", "ivy-pass")
    proto.datagramReceived(req, NAS_ADDR)
    assert text(reply_of(tr, req), "Session-Timeout") == 600


def test_first_use_starts_the_validity_clock() -> None:
    """The first auth of a login with a validity period starts it; later ones do not restart it."""
    proto, tr, clock, _, view = make()
    req = pap_req("carol", "carol-pass")
    proto.datagramReceived(req, NAS_ADDR)
    assert text(reply_of(tr, req), "Session-Timeout") == 3600
    assert len(proto.first_uses) == 1  # type: ignore[attr-defined]
    clock.advance(1000)
    req2 = pap_req("carol", "carol-pass", ident=2)
    proto.datagramReceived(req2, NAS_ADDR)
    assert text(reply_of(tr, req2), "Session-Timeout") == 2600
    assert len(proto.first_uses) == 1  # type: ignore[attr-defined]
    clock.advance(2600)
    req3 = pap_req("carol", "carol-pass", ident=3)
    proto.datagramReceived(req3, NAS_ADDR)
    assert text(reply_of(tr, req3), "Reply-Message") == policy.EXPIRED


def test_first_use_not_recorded_when_a_later_stage_rejects() -> None:
    """A first auth rejected by simultaneous-use does not start the validity clock."""
    proto, tr, clock, _, view = make()
    carol = view.get(1, "carol")
    assert carol is not None
    view.apply_local([(Change(100, 1, "login", carol.id, "upsert"),
                       dataclasses.replace(carol, simultaneous_use=1, compiled=None))])
    proto.controller.open_sessions = lambda login_id, device=None: 1
    req = pap_req("carol", "carol-pass")
    proto.datagramReceived(req, NAS_ADDR)
    assert text(reply_of(tr, req), "Reply-Message").startswith(policy.SIMULTANEOUS_USE)
    assert proto.first_uses == []  # type: ignore[attr-defined]
    carol = view.get(1, "carol")
    assert carol is not None and carol.first_used_at is None


def test_chap_with_and_without_challenge_attribute() -> None:
    """CHAP uses CHAP-Challenge when present, else the Request Authenticator."""
    proto, tr, *_ = make()
    auth = os.urandom(16)
    resp = bytes([7]) + chap_mod.response(7, b"alice-pass", auth)
    req = request([("User-Name", "alice")], auth=auth, raw_attrs=codec.encode_attr(codec.CHAP_PASSWORD, resp))
    proto.datagramReceived(req, NAS_ADDR)
    assert reply_of(tr, req).code == codec.ACCESS_ACCEPT
    ch = os.urandom(16)
    resp = bytes([8]) + chap_mod.response(8, b"alice-pass", ch)
    req = request([("User-Name", "alice")], ident=2, raw_attrs=codec.encode_attr(codec.CHAP_PASSWORD, resp)
                  + codec.encode_attr(codec.CHAP_CHALLENGE, ch))
    proto.datagramReceived(req, NAS_ADDR)
    assert reply_of(tr, req).code == codec.ACCESS_ACCEPT


def test_mschapv2_success_and_mppe_keys() -> None:
    """MS-CHAPv2: MS-CHAP2-Success matches RFC 2759 and the MPPE keys decrypt to 16 octets."""
    proto, tr, *_ = make()
    ach, pch = os.urandom(16), os.urandom(16)
    nt = mschap.generate_nt_response(ach, pch, b"alice", b"alice-pass")
    resp = bytes([5, 0]) + pch + bytes(8) + nt
    auth = os.urandom(16)
    req = request([("User-Name", "alice")], auth=auth,
                  raw_attrs=codec.encode_vsa(311, 11, ach) + codec.encode_vsa(311, 25, resp))
    proto.datagramReceived(req, NAS_ADDR)
    p = reply_of(tr, req)
    assert p.code == codec.ACCESS_ACCEPT
    want = mschap.generate_authenticator_response(b"alice-pass", nt, pch, ach, b"alice")
    assert p.vsa(311, 26) == bytes([5]) + want
    send_enc, recv_enc = p.vsa(311, 16), p.vsa(311, 17)
    assert send_enc is not None and recv_enc is not None
    for enc in (send_enc, recv_enc):
        key = codec.salt_decrypt(enc, SECRET, auth)
        assert key is not None and len(key) == 16
    send, recv = mschap.mppe_master_keys_v2(mschap.nt_password_hash(b"alice-pass"), nt)
    assert codec.salt_decrypt(send_enc, SECRET, auth) == send
    assert codec.salt_decrypt(recv_enc, SECRET, auth) == recv


def test_mschapv2_failure_has_error_and_no_keys() -> None:
    """A wrong MS-CHAPv2 response gets MS-CHAP-Error E=691 and no keys."""
    proto, tr, *_ = make()
    ach, pch = os.urandom(16), os.urandom(16)
    nt = mschap.generate_nt_response(ach, pch, b"alice", b"nope")
    req = request([("User-Name", "alice")], raw_attrs=codec.encode_vsa(311, 11, ach)
                  + codec.encode_vsa(311, 25, bytes([5, 0]) + pch + bytes(8) + nt))
    proto.datagramReceived(req, NAS_ADDR)
    p = reply_of(tr, req)
    assert p.code == codec.ACCESS_REJECT
    error = p.vsa(311, 2)
    assert error is not None and error.startswith(bytes([5]) + b"E=691")
    assert p.vsa(311, 16) is None and p.vsa(311, 26) is None


def test_mschap_success_but_disabled_sends_no_keys() -> None:
    """A disabled login with the right MS-CHAPv2 password gets a reject without keys."""
    proto, tr, *_ = make()
    ach, pch = os.urandom(16), os.urandom(16)
    nt = mschap.generate_nt_response(ach, pch, b"dave", b"dave-pass")
    req = request([("User-Name", "dave")], raw_attrs=codec.encode_vsa(311, 11, ach)
                  + codec.encode_vsa(311, 25, bytes([5, 0]) + pch + bytes(8) + nt))
    proto.datagramReceived(req, NAS_ADDR)
    p = reply_of(tr, req)
    assert p.code == codec.ACCESS_REJECT and p.vsa(311, 16) is None and p.vsa(311, 26) is None


def test_no_credentials_and_eap_are_invalid() -> None:
    """A request without a supported credential is rejected with the reason."""
    proto, tr, *_ = make()
    req = request([("User-Name", "alice")])
    proto.datagramReceived(req, NAS_ADDR)
    assert text(reply_of(tr, req), "Reply-Message") == policy.NO_CREDENTIALS
    req = request([("User-Name", "alice")], ident=2,
                  raw_attrs=codec.encode_attr(codec.EAP_MESSAGE, b"\x02\x01\x00\x05\x01"))
    proto.datagramReceived(req, NAS_ADDR)
    assert text(reply_of(tr, req), "Reply-Message") == policy.EAP_UNSUPPORTED


# -- Message-Authenticator and Blast-RADIUS -------------------------------------------------

def test_missing_message_authenticator_is_dropped() -> None:
    """A client that requires Message-Authenticator gets no answer without it."""
    proto, tr, _, stats, _ = make()
    proto.datagramReceived(pap_req("alice", "alice-pass", ma=False), NAS_ADDR)
    assert tr.sent == []
    assert stats.counters["radius_auth_dropped_total"]["missing_message_authenticator"] == 1


def test_forged_message_authenticator_is_dropped() -> None:
    """A request whose Message-Authenticator does not verify gets no answer."""
    proto, tr, _, stats, _ = make()
    raw = bytearray(pap_req("alice", "alice-pass"))
    ma_off = codec.decode(bytes(raw)).ma_offset
    raw[ma_off] ^= 0xFF
    proto.datagramReceived(bytes(raw), NAS_ADDR)
    assert tr.sent == []
    assert stats.counters["radius_auth_dropped_total"]["bad_message_authenticator"] == 1


def test_wrong_secret_is_dropped() -> None:
    """A request signed with another secret fails Message-Authenticator and is dropped."""
    proto, tr, *_ = make()
    proto.datagramReceived(pap_req("alice", "alice-pass", secret=b"wrong"), NAS_ADDR)
    assert tr.sent == []


def test_optional_ma_client_and_proxy_state_rule() -> None:
    """Without MA required, a plain request is answered, but Proxy-State without MA is dropped."""
    proto, tr, _, stats, _ = make()
    addr = ("127.0.0.2", 1000)
    req = request([("User-Name", "x")], pap=b"x", ma=False, secret=b"other")
    proto.datagramReceived(req, addr)
    assert len(tr.sent) == 1
    req = request([("User-Name", "x")], pap=b"x", ma=False, secret=b"other", ident=9,
                  raw_attrs=codec.encode_attr(codec.PROXY_STATE, b"ps"))
    proto.datagramReceived(req, addr)
    assert len(tr.sent) == 1
    assert stats.counters["radius_auth_dropped_total"]["proxy_state_without_message_authenticator"] == 1


def test_proxy_state_is_echoed_in_order() -> None:
    """Proxy-State attributes come back in the reply, in order."""
    proto, tr, *_ = make()
    req = request([("User-Name", "alice")], pap=b"alice-pass",
                  raw_attrs=codec.encode_attr(33, b"one") + codec.encode_attr(33, b"two"))
    proto.datagramReceived(req, NAS_ADDR)
    assert reply_of(tr, req).get_all(33) == [b"one", b"two"]


def test_status_server() -> None:
    """Status-Server with MA gets an Access-Accept; without MA it is dropped (RFC 5997)."""
    proto, tr, *_ = make()
    req = codec.encode_request(codec.STATUS_SERVER, 3, b"", SECRET, authenticator=os.urandom(16))
    proto.datagramReceived(req, NAS_ADDR)
    assert reply_of(tr, req).code == codec.ACCESS_ACCEPT
    req = codec.encode_request(codec.STATUS_SERVER, 4, b"", SECRET, authenticator=os.urandom(16),
                               message_authenticator=False)
    proto.datagramReceived(req, NAS_ADDR)
    assert len(tr.sent) == 1


# -- validation drops ----------------------------------------------------------------------

def test_unknown_client_is_dropped_silently() -> None:
    """A packet from an address no NAS covers is discarded and counted."""
    proto, tr, _, stats, _ = make()
    proto.datagramReceived(pap_req("alice", "alice-pass"), ("192.0.2.1", 1812))
    assert tr.sent == [] and stats.counters["radius_auth_dropped_total"]["unknown_client"] == 1


def _with_length(pkt: bytes, n: int) -> bytes:
    return pkt[:2] + n.to_bytes(2, "big") + pkt[4:]


GOOD = pap_req("alice", "alice-pass")
CATALOGUE = {
    "too_short": GOOD[:19],
    "length_too_small": _with_length(GOOD, 19),
    "length_mismatch": _with_length(GOOD, len(GOOD) + 1),
    "too_long": _with_length(GOOD + bytes(4100), 4097),
    "unknown_code": bytes([99]) + GOOD[1:],
    "unexpected_code": bytes([codec.ACCESS_ACCEPT]) + GOOD[1:],
    "attribute_type_zero": _with_length(GOOD + b"\x00\x03x", len(GOOD) + 3),
    "bad_attribute_length": _with_length(GOOD + b"\x01\x01", len(GOOD) + 2),
    "bad_vsa": _with_length(GOOD + b"\x1a\x05\x00\x00\x01", len(GOOD) + 5),
    "bad_message_authenticator_length": _with_length(GOOD + b"\x50\x04ab", len(GOOD) + 4),
    "duplicate_message_authenticator": _with_length(GOOD + b"\x50\x12" + bytes(16), len(GOOD) + 18),
}


@pytest.mark.parametrize("reason", sorted(CATALOGUE))
def test_malformed_catalogue_is_dropped_and_counted(reason: str) -> None:
    """Each RFC 2865 framing rule broken once: no reply, counted under its reason."""
    proto, tr, _, stats, _ = make()
    proto.datagramReceived(CATALOGUE[reason], NAS_ADDR)
    assert tr.sent == []
    assert stats.counters["radius_auth_dropped_total"][reason] == 1


def test_padding_after_length_is_ignored() -> None:
    """Octets past the Length field are padding (RFC 2865 §3): the request is answered."""
    proto, tr, *_ = make()
    proto.datagramReceived(GOOD + b"\x00" * 7, NAS_ADDR)
    assert reply_of(tr, GOOD).code == codec.ACCESS_ACCEPT


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300) | st.builds(lambda i, b: GOOD[:i] + b + GOOD[i + len(b):],
                                           st.integers(0, len(GOOD)), st.binary(min_size=1, max_size=8)))
def test_fuzz_never_crashes_and_valid_request_still_answered(data: bytes) -> None:
    """Arbitrary and mutated datagrams never raise; a valid request right after is answered."""
    proto, tr, _, stats, _ = make()
    proto.datagramReceived(data, NAS_ADDR)
    assert stats.counters["radius_auth_dropped_total"]["internal_error"] == 0
    req = pap_req("alice", "alice-pass", ident=200)
    tr.sent.clear()
    proto.datagramReceived(req, NAS_ADDR)
    assert reply_of(tr, req).code == codec.ACCESS_ACCEPT


# -- duplicates and the reject delay -----------------------------------------------------------

def test_duplicate_gets_the_cached_reply_byte_for_byte() -> None:
    """A retransmission within the window is answered from the cache, identically."""
    proto, tr, _, stats, _ = make()
    req = pap_req("alice", "alice-pass")
    proto.datagramReceived(req, NAS_ADDR)
    proto.datagramReceived(req, NAS_ADDR)
    assert len(tr.sent) == 2 and tr.sent[0] == tr.sent[1]
    assert stats.counters["radius_auth_requests_total"]["access_request"] == 1
    assert stats.counters["radius_auth_duplicates_total"]["answered_from_cache"] == 1


def test_same_id_other_port_is_not_a_duplicate() -> None:
    """The source port is part of the key: another port is a new request."""
    proto, tr, _, stats, _ = make()
    req = pap_req("alice", "alice-pass")
    proto.datagramReceived(req, NAS_ADDR)
    proto.datagramReceived(req, (NAS_ADDR[0], NAS_ADDR[1] + 1))
    assert stats.counters["radius_auth_requests_total"]["access_request"] == 2


def test_reject_delay_on_the_clock_and_pending_duplicate_dropped() -> None:
    """A reject waits reject_delay on the clock; a duplicate meanwhile is dropped, later cached."""
    proto, tr, clock, stats, _ = make(reject_delay=1.0)
    req = pap_req("alice", "bad")
    proto.datagramReceived(req, NAS_ADDR)
    assert tr.sent == []
    proto.datagramReceived(req, NAS_ADDR)
    assert stats.counters["radius_auth_duplicates_total"]["dropped_pending"] == 1
    clock.advance(0.99)
    assert tr.sent == []
    clock.advance(0.02)
    assert reply_of(tr, req).code == codec.ACCESS_REJECT
    proto.datagramReceived(req, NAS_ADDR)
    assert len(tr.sent) == 2 and tr.sent[0] == tr.sent[1]
    accept = pap_req("alice", "alice-pass", ident=2)
    proto.datagramReceived(accept, NAS_ADDR)
    assert reply_of(tr, accept).code == codec.ACCESS_ACCEPT  # accepts are never delayed
    assert not clock.getDelayedCalls()


def test_delayed_rejects_are_bounded() -> None:
    """Past max_delayed_rejects, rejects are sent at once (and counted), not queued."""
    proto, tr, clock, stats, _ = make(reject_delay=1.0, max_delayed_rejects=2)
    for i in range(3):
        proto.datagramReceived(pap_req("alice", "bad", ident=i), NAS_ADDR)
    assert len(tr.sent) == 1 and len(clock.getDelayedCalls()) == 2
    clock.advance(1)
    assert len(tr.sent) == 3


def test_dedup_entries_expire() -> None:
    """After the window the same request is handled anew."""
    proto, tr, clock, stats, _ = make()
    req = pap_req("alice", "alice-pass")
    proto.datagramReceived(req, NAS_ADDR)
    clock.advance(6)
    proto.datagramReceived(pap_req("bob", "bob-pass", ident=9), NAS_ADDR)  # triggers expiry
    proto.datagramReceived(req, NAS_ADDR)
    assert stats.counters["radius_auth_requests_total"]["access_request"] == 3


def test_org_isolation() -> None:
    """A login is looked up in the org of the NAS the request came from."""
    proto, tr, *_ = make()
    req = request([("User-Name", "alice")], pap=b"alice-pass", ma=False, secret=b"other")
    proto.datagramReceived(req, ("127.0.0.2", 5))
    p = codec.decode(tr.sent[-1][0])
    assert p.code == codec.ACCESS_REJECT

