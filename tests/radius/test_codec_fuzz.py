"""Property tests for the codec: round trips, and no crash but MalformedPacket."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aaad.radius import codec
from aaad.radius.codec import MalformedPacket, decode

SECRET = b"fuzz-secret"
AUTH = bytes(range(16))
# Every property here holds for the C extension's functions and for the pure-Python ones (conftest.py).
pytestmark = pytest.mark.usefixtures("codec_impl")

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plain_attr() -> st.SearchStrategy[tuple[int, bytes]]:
    """A standard attribute other than VSA and Message-Authenticator."""
    types = st.integers(1, 255).filter(lambda t: t not in (26, 80))
    return st.tuples(types, st.binary(max_size=40))


def _vsa_attr() -> st.SearchStrategy[tuple[int, bytes]]:
    """A Vendor-Specific attribute with tiled sub-attributes of a known vendor."""
    subs = st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=20)), min_size=1, max_size=4)
    return st.builds(
        lambda vendor, s: (26, vendor.to_bytes(4, "big")
                           + b"".join(bytes((t, len(v) + 2)) + v for t, v in s)),
        st.sampled_from([311, 14988]), subs)


attr_lists = st.lists(st.one_of(_plain_attr(), _vsa_attr()), max_size=25)
codes = st.sampled_from(sorted(codec.KNOWN_CODES))


def _build(code: int, ident: int, attrs: list[tuple[int, bytes]], ma_at: int | None) -> bytes:
    """A raw packet from an attribute list, with an MA attribute inserted at ma_at."""
    items = list(attrs)
    if ma_at is not None:
        items.insert(min(ma_at, len(items)), (80, bytes(range(16))))
    body = b"".join(codec.encode_attr(t, v) for t, v in items)
    return struct.pack("!BBH", code, ident, 20 + len(body)) + AUTH + body


@SETTINGS
@given(codes, st.integers(0, 255), attr_lists, st.one_of(st.none(), st.integers(0, 30)))
def test_decode_encode_round_trip(code: int, ident: int, attrs: list[tuple[int, bytes]],
                                  ma_at: int | None) -> None:
    """Any valid attribute list decodes to itself and re-encodes to the exact bytes."""
    raw = _build(code, ident, attrs, ma_at)
    p = decode(raw)
    assert (p.code, p.ident, p.authenticator, p.raw) == (code, ident, AUTH, raw)
    without_ma = [a for a in p.attrs if a[0] != 80]
    assert without_ma == attrs
    assert b"".join(codec.encode_attr(t, v) for t, v in p.attrs) == raw[20:]
    if ma_at is None:
        assert p.ma_offset == -1
    else:
        assert raw[p.ma_offset - 2] == 80 and raw[p.ma_offset:p.ma_offset + 16] == bytes(range(16))


@SETTINGS
@given(codes, st.integers(0, 255), attr_lists)
def test_signed_requests_and_replies_verify(code: int, ident: int,
                                            attrs: list[tuple[int, bytes]]) -> None:
    """Requests and replies we encode decode and verify, whatever their attributes."""
    body = b"".join(codec.encode_attr(t, v) for t, v in attrs)
    if 20 + 18 + len(body) > codec.MAX_PACKET_LENGTH:
        return
    hashed = code in codec.HASHED_REQUEST_CODES
    req = codec.encode_request(code, ident, body, SECRET, None if hashed else AUTH)
    p = decode(req)
    vector = bytes(16) if hashed else None
    assert codec.verify_message_authenticator(p, SECRET, vector)
    if hashed:
        assert codec.verify_request_authenticator(p, SECRET)
    reply = decode(codec.encode_reply(code, ident, p.authenticator, body, SECRET))
    assert codec.verify_message_authenticator(reply, SECRET, p.authenticator)
    assert codec.verify_response_authenticator(reply, SECRET, p.authenticator)


@SETTINGS
@given(st.binary(max_size=600))
@example(b"")
@example(b"\x01\x00\x00\x14" + bytes(16))
@example(b"\x01\x00\x00\x16" + bytes(16) + b"\x1a\x02")
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    """Arbitrary bytes decode or raise MalformedPacket, nothing else."""
    try:
        p = decode(data)
    except MalformedPacket as e:
        assert e.reason
        return
    assert len(p.raw) >= 20 and p.raw == data[:len(p.raw)]


@SETTINGS
@given(st.binary(min_size=16, max_size=16), st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=60)),
                                                     max_size=12))
def test_arbitrary_attribute_bodies_never_crash(auth: bytes, chunks: list[tuple[int, bytes]]) -> None:
    """Headers with a right Length around random attribute octets never crash the decoder."""
    body = b"".join(bytes((t,)) + v for t, v in chunks)[:4000]
    data = struct.pack("!BBH", 1, 0, 20 + len(body)) + auth + body
    with contextlib.suppress(MalformedPacket):
        decode(data)


mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("length"), st.integers(0, 0xFFFF), st.just(0)),
    st.tuples(st.just("byte"), st.integers(0, 10_000), st.integers(0, 255)),
)


def _mutate(raw: bytes, mutation: tuple[str, int, int]) -> bytes:
    """Apply one mutation to a packet (also the C codec's tests' mutator): flip a bit, truncate,
    set the Length field, insert a byte, or set one; an empty packet becomes one byte."""
    kind, a, b = mutation
    buf = bytearray(raw)
    if not buf:
        return b"\x01"
    if kind == "flip":
        buf[a % len(buf)] ^= 1 << b
    elif kind == "truncate":
        del buf[a % len(buf):]
    elif kind == "length":
        buf[2:4] = a.to_bytes(2, "big")
    elif kind == "insert":
        buf.insert(a % len(buf), b)
    else:
        buf[a % len(buf)] = b
    return bytes(buf)


@SETTINGS
@given(codes, attr_lists, st.lists(mutations, min_size=1, max_size=4))
def test_mutated_valid_packets_never_crash(code: int, attrs: list[tuple[int, bytes]],
                                           muts: list[tuple[str, int, int]]) -> None:
    """Bit flips, truncations and Length changes of valid packets decode or raise MalformedPacket."""
    raw = _build(code, 1, attrs, 0)
    for m in muts:
        raw = _mutate(raw, m) or b"\x01"
    try:
        p = decode(raw)
    except MalformedPacket:
        return
    codec.verify_message_authenticator(p, SECRET)
    codec.verify_request_authenticator(p, SECRET)
    for t, _ in p.attrs:
        p.get(t)
    p.vsa(311, 1)
    p.vsa(14988, 8)


@SETTINGS
@given(st.binary(min_size=1, max_size=128), st.binary(min_size=1, max_size=64),
       st.binary(min_size=16, max_size=16))
def test_pap_round_trip(password: bytes, secret: bytes, auth: bytes) -> None:
    """pap_unhide(pap_hide(p)) == p for passwords of 1..128 octets without trailing NULs."""
    password = password.rstrip(b"\x00") or b"x"
    hidden = codec.pap_hide(password, secret, auth)
    assert len(hidden) % 16 == 0 and 16 <= len(hidden) <= 128
    assert codec.pap_unhide(hidden, secret, auth) == password


@SETTINGS
@given(st.binary(max_size=239), st.binary(min_size=1, max_size=64),
       st.binary(min_size=16, max_size=16))
def test_salt_round_trip(value: bytes, secret: bytes, auth: bytes) -> None:
    """salt_decrypt(salt_encrypt(v)) == v for any value up to 239 octets."""
    enc = codec.salt_encrypt(value, secret, auth)
    assert (len(enc) - 2) % 16 == 0 and len(enc) <= 253
    assert codec.salt_decrypt(enc, secret, auth) == value


@SETTINGS
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_unhide_arbitrary_never_crash(a: bytes, b: bytes) -> None:
    """pap_unhide and salt_decrypt return bytes or None on any input."""
    assert codec.pap_unhide(a, SECRET, AUTH) is None or isinstance(codec.pap_unhide(a, SECRET, AUTH), bytes)
    r = codec.salt_decrypt(b, SECRET, AUTH)
    assert r is None or isinstance(r, bytes)
