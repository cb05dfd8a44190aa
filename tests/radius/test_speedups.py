"""The C extension aaad.radius._speedups against the pure-Python codec it replaces.

Its MD5 against RFC 1321's test suite and hashlib, its HMAC-MD5 against RFC 2202;
then properties: for any input, each C function returns what the Python function
returns, or raises the same exception (for decode: the same MalformedPacket reason
and detail).  The Python side runs entirely in Python here (codec._hmac_md5 is
bound to the Python one for this module).
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aaad.radius import codec
from tests.radius.test_codec_fuzz import _mutate

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = tuple(codec._PY_FUNCTIONS)


@pytest.fixture(scope="module", autouse=True)
def python_side_in_python() -> Iterator[None]:
    """The Python functions call codec._hmac_md5: make that the Python one too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(codec, "_hmac_md5", codec._py_hmac_md5)
        yield


def c_module() -> Any:
    if codec._speedups is None:
        pytest.fail("aaad.radius._speedups is not usable (`pip install -e .` builds it with gcc and python3-dev): "
                    + codec._SPEEDUPS_UNUSABLE)
    return codec._speedups


def C(name: str) -> Callable[..., Any]:  # noqa: N802
    return getattr(c_module(), name)


def PY(name: str) -> Callable[..., Any]:  # noqa: N802
    return codec._PY_FUNCTIONS[name]


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """What a call gives: ("ok", result) or ("raise", exception type, reason or message)."""
    try:
        r = fn(*args, **kwargs)
    except codec.MalformedPacket as e:
        return ("raise", codec.MalformedPacket, e.reason, str(e))
    except Exception as e:  # any exception: both sides must raise the same
        return ("raise", type(e))
    if isinstance(r, codec.Packet):     # every slot, and the types of the values
        fields = {name: getattr(r, name, "unset") for name in codec.Packet.__slots__}
        return ("ok", type(r), fields, [type(v) for _, v in r.attrs], type(r.raw), type(r.authenticator))
    return ("ok", type(r), r)


def same(name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """The C and Python outcomes of one call, asserted equal."""
    c = outcome(C(name), *args, **kwargs)
    py = outcome(PY(name), *args, **kwargs)
    assert c == py, (name, args, kwargs)
    return c


# --- the build and the selection ----------------------------------------------


def test_extension_is_built_and_selected() -> None:
    """`pip install -e .` built the extension, and codec uses it unless AAAD_PURE_PYTHON=1."""
    sp = c_module()
    pure = os.environ.get("AAAD_PURE_PYTHON", "") not in ("", "0")
    want = "python" if pure else "c"
    assert want == codec.IMPLEMENTATION
    if not pure:
        assert codec.decode is sp.decode and codec.pap_unhide is sp.pap_unhide
        assert codec.encode_reply is sp.encode_reply


@pytest.mark.parametrize(("env", "want"), [("1", "python"), ("0", "c"), (None, "c")])
def test_environment_selects_implementation(env: str | None, want: str) -> None:
    """AAAD_PURE_PYTHON=1 in a fresh interpreter gives the Python functions; otherwise the C ones."""
    c_module()
    environ = {k: v for k, v in os.environ.items() if k != "AAAD_PURE_PYTHON"}
    if env is not None:
        environ["AAAD_PURE_PYTHON"] = env
    code = ("from aaad.radius import codec; "
            "print(codec.IMPLEMENTATION, codec.decode.__module__, codec.verify_message_authenticator.__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    if want == "python":
        assert out == ["python", "aaad.radius.codec", "_py_verify_message_authenticator"]
    else:
        assert out[0] == "c" and out[2] == "verify_message_authenticator"


class NoSlots:
    pass


class SlotMissing:
    __slots__ = ("code", "ident", "authenticator", "attrs", "raw")


class SubPacket(codec.Packet):
    __slots__ = ("extra",)


class PrivateSlot:
    __slots__ = ("code", "ident", "authenticator", "attrs", "raw", "ma_offset", "__private")


@pytest.mark.parametrize("cls", [NoSlots, SlotMissing, SubPacket, PrivateSlot, int])
def test_init_refuses_a_class_it_cannot_fill(cls: type) -> None:
    """init() checks Packet's slots before decode writes them; a refused class leaves codec.Packet bound."""
    with pytest.raises(TypeError):
        c_module().init(cls, codec.MalformedPacket, codec.KNOWN_CODES, codec.DEFAULT_TILED_VENDORS,
                        codec._PY_FUNCTIONS)
    assert type(C("decode")(b"\x01\x00\x00\x14" + bytes(16))) is codec.Packet


# --- MD5 (RFC 1321) and HMAC-MD5 (RFC 2104, vectors of RFC 2202) ----------------

RFC1321 = [
    (b"", "d41d8cd98f00b204e9800998ecf8427e"),
    (b"a", "0cc175b9c0f1b6a831c399e269772661"),
    (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
    (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
    (b"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
    (b"1234567890" * 8, "57edf4a22be3c955ac49da2e2107b67a"),
]


@pytest.mark.parametrize(("msg", "digest"), RFC1321)
def test_md5_rfc1321_vectors(msg: bytes, digest: str) -> None:
    """The test suite of RFC 1321 appendix A.5."""
    assert C("md5")(msg).hex() == digest


def test_md5_every_length_around_block_edges() -> None:
    """Lengths 0..300 (padding into one or two blocks, several blocks) agree with hashlib."""
    md5 = C("md5")
    data = bytes((i * 7 + 3) & 0xFF for i in range(300))
    for n in range(301):
        assert md5(data[:n]) == hashlib.md5(data[:n]).digest(), n
    assert md5(bytearray(b"abc")) == md5(memoryview(b"xabc")[1:]) == bytes.fromhex(RFC1321[2][1])


RFC2202 = [
    (b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
    (b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
    (b"\xaa" * 16, b"\xdd" * 50, "56be34521d144c88dbb8c733f0e8b3f6"),
    (bytes(range(1, 26)), b"\xcd" * 50, "697eaf0aca3a3aea3a75164746ffaa79"),
    (b"\x0c" * 16, b"Test With Truncation", "56461ef2342edc00f9bab995690efd4c"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First", "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
     "6f630fad67cda0ee1fb1f562db3aa53e"),
]


@pytest.mark.parametrize(("key", "msg", "mac"), RFC2202)
def test_hmac_md5_rfc2202_vectors(key: bytes, msg: bytes, mac: str) -> None:
    """The HMAC-MD5 test cases of RFC 2202 section 2, twice (the second from the key cache)."""
    for _ in range(2):
        assert C("_hmac_md5")(key, msg).hex() == mac
        assert PY("_hmac_md5")(key, msg).hex() == mac


def test_hmac_key_cache_survives_many_secrets() -> None:
    """More secrets than the cache holds (it is cleared), then the first again: still right."""
    mac = C("_hmac_md5")
    secrets = [b"s%d" % i for i in range(5000)] + [b"s0", b"s4999", b"x" * 64, b"x" * 65, b""]
    for s in secrets:
        assert mac(s, b"msg" + s) == hmac.digest(s, b"msg" + s, "md5"), s


@SETTINGS
@given(st.binary(max_size=150), st.binary(max_size=300))
def test_hmac_md5_agrees(secret: bytes, msg: bytes) -> None:
    """Any key length (empty, up to and past the 64-octet block) and message."""
    c = same("_hmac_md5", secret, msg)
    assert c[2] == hmac.digest(secret, msg, "md5")


@pytest.mark.parametrize(("secret", "msg"), [(bytearray(b"k"), b"m"), ("k", b"m"), (b"k", "m"), (b"k", None),
                                             (b"k", bytearray(b"m")), (b"k", memoryview(b"m")), (None, b"m")])
def test_hmac_md5_other_types_as_python(secret: Any, msg: Any) -> None:
    """Arguments other than bytes: whatever the Python function does (result or exception type)."""
    same("_hmac_md5", secret, msg)


# --- decode -------------------------------------------------------------------

VENDOR_SETS = st.sampled_from([codec.DEFAULT_TILED_VENDORS, frozenset(), frozenset({9, 311}),
                               frozenset({0, 1, 2**32 - 1}), {14988}])


def _attr(t: int, v: bytes) -> bytes:
    return bytes((t, len(v) + 2)) + v


attr_items = st.one_of(
    st.tuples(st.integers(0, 255), st.binary(max_size=30)),
    st.tuples(st.just(80), st.binary(min_size=14, max_size=18)),
    st.builds(lambda vendor, subs: (26, vendor.to_bytes(4, "big") + subs),
              st.sampled_from([311, 14988, 9, 0]), st.binary(max_size=24)),
    st.builds(lambda vendor, subs: (26, vendor.to_bytes(4, "big") + b"".join(_attr(t, v) for t, v in subs)),
              st.sampled_from([311, 14988]),
              st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=12)), max_size=4)),
)


@st.composite
def packets(draw: st.DrawFn) -> bytes:
    """A packet, valid or not: any code, attributes of any kind, Length right or not, padding."""
    code = draw(st.one_of(st.sampled_from(sorted(codec.KNOWN_CODES)), st.integers(0, 255)))
    body = b"".join(bytes((t, min(len(v) + 2, 255))) + v for t, v in draw(st.lists(attr_items, max_size=12)))
    length = draw(st.one_of(st.just(20 + len(body)), st.integers(0, 0xFFFF), st.integers(15, 60)))
    header = struct.pack("!BBH", code, draw(st.integers(0, 255)), length & 0xFFFF)
    data = header + draw(st.binary(min_size=16, max_size=16)) + body
    return data + draw(st.binary(max_size=8))


@SETTINGS
@given(st.binary(max_size=600), VENDOR_SETS)
@example(b"", codec.DEFAULT_TILED_VENDORS)
@example(b"\x01\x00\x00\x14" + bytes(16), frozenset())
@example(b"\x01\x00\x00\x16" + bytes(16) + b"\x1a\x02", codec.DEFAULT_TILED_VENDORS)
@example(b"\x01\x00\x10\x01" + bytes(4077), codec.DEFAULT_TILED_VENDORS)
@example(b"\x01\x00\x00\x15" + bytes(16) + b"\x01", codec.DEFAULT_TILED_VENDORS)
def test_decode_arbitrary_bytes_agrees(data: bytes, tiled: frozenset[int]) -> None:
    """Arbitrary bytes: the same Packet, or the same MalformedPacket reason and detail."""
    same("decode", data, tiled)


@SETTINGS
@given(packets(), VENDOR_SETS)
def test_decode_packets_agree(data: bytes, tiled: frozenset[int]) -> None:
    """Built packets, valid or broken in any field, and the default vendor set."""
    same("decode", data, tiled)
    same("decode", data)


mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("length"), st.integers(0, 0xFFFF), st.just(0)),
    st.tuples(st.just("byte"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
)




valid_attrs = st.lists(st.one_of(
    st.tuples(st.integers(1, 255).filter(lambda t: t not in (26, 80)), st.binary(max_size=40)),
    st.builds(lambda vendor, subs: (26, vendor.to_bytes(4, "big") + b"".join(_attr(t, v) for t, v in subs)),
              st.sampled_from([311, 14988]),
              st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=20)), min_size=1, max_size=4)),
), max_size=20)


@SETTINGS
@given(st.sampled_from(sorted(codec.KNOWN_CODES)), valid_attrs, st.lists(mutations, min_size=1, max_size=4))
def test_decode_mutated_valid_packets_agree(code: int, attrs: list[tuple[int, bytes]],
                                            muts: list[tuple[str, int, int]]) -> None:
    """Valid signed packets, then bit flips, truncations, insertions and Length changes."""
    body = b"".join(codec.encode_attr(t, v) for t, v in attrs)
    if 38 + len(body) > codec.MAX_PACKET_LENGTH:
        return
    raw = codec.encode_request(code, 1, body, b"s")
    same("decode", raw)
    for m in muts:
        raw = _mutate(raw, m)
        same("decode", raw)


@pytest.mark.parametrize("make", [bytearray, memoryview, lambda b: memoryview(b).cast("B"),
                                  lambda b: list(b), lambda b: b.decode("latin-1"), lambda b: 42,
                                  lambda b: type("B", (bytes,), {})(b)])
@pytest.mark.parametrize("data", [b"\x01\x07\x00\x19" + bytes(16) + b"\x01\x05bob", b"\x01\x00\x00\x14" + bytes(10),
                                  b"\x01\x07\x00\x19" + bytes(16) + b"\x01\x05bobpad"])
def test_decode_other_types_as_python(make: Callable[[bytes], Any], data: bytes) -> None:
    """bytearray, memoryview, a list of ints, str, int, a bytes subclass: as the Python decode."""
    same("decode", make(data))


def test_decode_other_vendor_containers_as_python() -> None:
    """tiled_vendors is only asked about VSAs: a list, a dict, None, a container that raises."""
    vsa = b"\x01\x00\x00\x1e" + bytes(16) + b"\x1a\x0a\x00\x00\x01\x37\x0b\x04ab"

    class Raises:
        def __init__(self, exc: type[Exception]) -> None:
            self.exc = exc

        def __contains__(self, item: object) -> bool:
            raise self.exc("from __contains__")

    for tiled in ([311], {311: 1}, None, "x", Raises(ValueError), Raises(IndexError), Raises(KeyError)):
        same("decode", vsa, tiled)
        same("decode", b"\x01\x00\x00\x14" + bytes(16), tiled)


def test_decode_keywords_and_bad_calls() -> None:
    """Keyword arguments as for the Python function; wrong calls are TypeErrors on both sides."""
    data = b"\x01\x07\x00\x19" + bytes(16) + b"\x01\x05bob"
    assert outcome(C("decode"), data=data, tiled_vendors=frozenset()) == outcome(PY("decode"), data, frozenset())
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {}), ((data, frozenset(), 1), {}), ((data,), {"data": data}), ((data,), {"x": 1})]
    for args, kwargs in calls:
        assert outcome(C("decode"), *args, **kwargs) == outcome(PY("decode"), *args, **kwargs) == ("raise", TypeError)


def test_decoded_packet_is_a_whole_packet() -> None:
    """The C decode's Packet: codec's class, methods working, raw the very datagram, no leak."""
    data = codec.encode_request(1, 9, codec.encode_attr(1, b"bob") + codec.encode_vsa(14988, 8, b"1M"), b"s")
    p = C("decode")(data)
    assert type(p) is codec.Packet and p.raw is data
    p.attrs.append((18, b"x"))          # slots stay writable
    p.code = 2
    assert p.get(1) == b"bob" and p.get(18) == b"x" and p.get(2) is None and p.get_all(18) == [b"x"]
    assert p.vsa(14988, 8) == b"1M" and p.ma_offset == 22
    assert "code=2" in repr(p)
    fresh = C("decode")(data)
    assert [getattr(fresh, n) for n in codec.Packet.__slots__[6:]] == [None] * (len(codec.Packet.__slots__) - 6)


# --- authenticators -------------------------------------------------------------

secrets = st.binary(max_size=80)
vectors = st.one_of(st.none(), st.binary(min_size=16, max_size=16), st.binary(max_size=40))


@SETTINGS
@given(st.sampled_from(sorted(codec.KNOWN_CODES)), valid_attrs, st.booleans(), secrets, st.integers(0, 2),
       st.lists(mutations, max_size=2))
def test_verifiers_agree_on_signed_packets(code: int, attrs: list[tuple[int, bytes]], with_ma: bool, secret: bytes,
                                           key: int, muts: list[tuple[str, int, int]]) -> None:
    """Packets signed with the secret (or not), maybe tampered with: every verifier agrees."""
    body = b"".join(codec.encode_attr(t, v) for t, v in attrs)
    if 38 + len(body) > codec.MAX_PACKET_LENGTH:
        return
    hashed = code in codec.HASHED_REQUEST_CODES
    raw = codec.encode_request(code, 7, body, secret, None if hashed else bytes(range(16)), with_ma)
    for m in muts:
        raw = _mutate(raw, m)
    try:
        p = codec._py_decode(raw)
    except codec.MalformedPacket:
        return
    other = [secret, secret + b"x", b""][key]
    for vector in (None, bytes(16), p.authenticator, b"short"):
        same("verify_message_authenticator", p, other, vector)
    same("verify_message_authenticator", p, other)
    same("verify_request_authenticator", p, other)
    for req_auth in (bytes(16), p.authenticator, b""):
        same("verify_response_authenticator", p, other, req_auth)
    if not muts and key == 0:
        assert C("verify_message_authenticator")(p, secret, bytes(16) if hashed else None) == with_ma
        assert C("verify_request_authenticator")(p, secret) == hashed


@SETTINGS
@given(st.binary(max_size=120), st.integers(-3, 130), st.binary(max_size=20), secrets, vectors)
def test_verifiers_agree_on_any_packet_fields(raw: bytes, ma_offset: int, authenticator: bytes, secret: bytes,
                                              vector: bytes | None) -> None:
    """A Packet with any raw, ma_offset (past the end, overlapping the header) and authenticator."""
    p = codec.Packet(1, 1, authenticator, [], raw, ma_offset)
    same("verify_message_authenticator", p, secret, vector)
    same("verify_request_authenticator", p, secret)
    same("verify_response_authenticator", p, secret, vector if vector is not None else b"")


def test_verifiers_find_the_right_answer() -> None:
    """A valid MA and authenticator verify; one flipped octet or the wrong secret does not."""
    raw = codec.encode_request(codec.ACCOUNTING_REQUEST, 3, codec.encode_attr(40, bytes(4)), b"sec")
    p = C("decode")(raw)
    assert C("verify_message_authenticator")(p, b"sec", bytes(16))
    assert C("verify_request_authenticator")(p, b"sec")
    assert not C("verify_message_authenticator")(p, b"sec")
    assert not C("verify_request_authenticator")(p, b"sed")
    bad = C("decode")(raw[:-1] + bytes((raw[-1] ^ 1,)))
    assert not C("verify_message_authenticator")(bad, b"sec", bytes(16))
    assert not C("verify_request_authenticator")(bad, b"sec")
    reply = C("encode_reply")(codec.ACCOUNTING_RESPONSE, 3, p.authenticator, b"", b"sec")
    assert C("verify_response_authenticator")(C("decode")(reply), b"sec", p.authenticator)
    assert not C("verify_response_authenticator")(C("decode")(reply), b"sec", bytes(16))


def test_verifiers_other_types_as_python() -> None:
    """Not a codec.Packet, fields of other types, secrets that are not bytes: as the Python functions."""
    raw = codec.encode_request(1, 3, codec.encode_attr(1, b"u"), b"sec", bytes(16))
    good = codec._py_decode(raw)
    packet: Any = codec.Packet         # fields of the wrong types on purpose
    shapes: list[Any] = [
        SimpleNamespace(raw=raw, ma_offset=22, authenticator=bytes(16)),
        SimpleNamespace(raw=bytearray(raw), ma_offset=22, authenticator=bytes(16)),
        packet(1, 3, bytearray(16), [], raw, 22),
        packet(1, 3, "x" * 16, [], raw, 22),
        packet(1, 3, bytes(16), [], bytearray(raw), 22),
        packet(1, 3, bytes(16), [], raw, 22.0),
        packet(1, 3, bytes(16), [], raw, True),
        packet(1, 3, bytes(16), [], raw, 2**70),
        packet(1, 3, bytes(16), [], raw, -(2**70)),
        packet(1, 3, bytes(16), [], raw, None),
        object(),
        None,
    ]
    for p in [*shapes, good]:
        for secret in (b"sec", bytearray(b"sec"), "sec", None):
            same("verify_message_authenticator", p, secret)
            same("verify_message_authenticator", p, secret, bytes(16))
            same("verify_message_authenticator", p, secret, bytearray(16))
            same("verify_message_authenticator", p, secret, "x")
            same("verify_request_authenticator", p, secret)
            same("verify_response_authenticator", p, secret, bytes(16))
            same("verify_response_authenticator", p, secret, memoryview(bytes(16)))
    unset = codec.Packet.__new__(codec.Packet)
    same("verify_message_authenticator", unset, b"sec")
    same("verify_request_authenticator", unset, b"sec")
    assert same("verify_message_authenticator", packet=good, secret=b"sec", authenticator=None)[2] is True


# --- encode_reply ----------------------------------------------------------------

octets = st.one_of(st.integers(0, 255), st.integers(-300, 600), st.booleans())
proxy_states = st.one_of(
    st.just(()),
    st.lists(st.binary(max_size=40), max_size=4),
    st.lists(st.binary(max_size=40), max_size=4).map(tuple),
    st.lists(st.binary(min_size=250, max_size=260), min_size=1, max_size=2),
)


@SETTINGS
@given(octets, octets, st.binary(max_size=24), st.one_of(st.binary(max_size=300), st.binary(min_size=4000,
                                                                                           max_size=4100)),
       secrets, st.booleans(), proxy_states)
@example(2, 7, bytes(16), bytes(4058), b"s", True, ())                 # exactly 4096 octets
@example(2, 7, bytes(16), bytes(4059), b"s", True, ())                 # one over
@example(2, 7, bytes(16), bytes(4076), b"s", False, ())
@example(2, 7, bytes(16), bytes(4077), b"s", False, ())
@example(2, 7, bytes(16), b"", b"s", True, [bytes(253)])
@example(2, 7, bytes(16), b"", b"s", True, [bytes(254)])
@example(256, 7, bytes(16), b"", b"s", True, [bytes(254)])             # which error first
def test_encode_reply_agrees(code: int, ident: int, req_auth: bytes, attrs: bytes, secret: bytes, ma: bool,
                             states: Any) -> None:
    """Any code and identifier (in range or not), authenticator length, attributes within and past
    4096 octets, Proxy-States up to and past 253 octets: the same bytes or the same exception."""
    r = same("encode_reply", code, ident, req_auth, attrs, secret, ma, states)
    if r[0] == "ok":                    # checked by hand too (hashlib, hmac)
        reply = r[2]
        assert reply[4:20] == hashlib.md5(reply[:4] + req_auth + reply[20:] + secret).digest()
        if ma:
            signed = reply[:4] + req_auth + reply[20:22] + bytes(16) + reply[38:]
            assert reply[20:22] == b"\x50\x12" and reply[22:38] == hmac.digest(secret, signed, "md5")


def test_encode_reply_other_types_as_python() -> None:
    """Keywords, generators, bytearrays, str, None, truthy non-bools: as the Python function."""
    auth, attrs = bytes(16), codec.encode_int(27, 60)
    for states in (lambda: iter([b"p", b"q"]), lambda: (b for b in [b"p"]), lambda: iter([b"p", bytes(254)])):
        c = outcome(C("encode_reply"), 2, 7, auth, attrs, b"s", True, states())
        assert c == outcome(PY("encode_reply"), 2, 7, auth, attrs, b"s", True, states())
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((2, 7, auth, attrs, b"s"), {}),
        ((2, 7, auth, attrs, b"s"), {"proxy_states": [b"p"], "message_authenticator": False}),
        ((), {"code": 2, "ident": 7, "request_authenticator": auth, "attrs": attrs, "secret": b"s"}),
        ((2, 7, auth, attrs, b"s", 1, [b"p", b"q"]), {}),
        ((2, 7, auth, attrs, b"s", 0, (b"p",)), {}),
        ((2, 7, auth, attrs, b"s", None, [bytearray(b"p")]), {}),
        ((2, 7, auth, attrs, b"s", "", [memoryview(b"p")]), {}),
        ((2, 7, auth, attrs, b"s", True, ["p"]), {}),
        ((2, 7, auth, attrs, b"s", True, [None]), {}),
        ((2, 7, auth, attrs, b"s", True, None), {}),
        ((2, 7, auth, attrs, b"s", True, b"pq"), {}),
        ((2, 7, bytearray(auth), attrs, b"s"), {}),
        ((2, 7, auth, bytearray(attrs), b"s"), {}),
        ((2, 7, auth, attrs, bytearray(b"s")), {}),
        ((2, 7, "x", attrs, b"s"), {}),
        ((2.0, 7, auth, attrs, b"s"), {}),
        (("2", 7, auth, attrs, b"s"), {}),
        ((2, None, auth, attrs, b"s"), {}),
        ((2, 2**80, auth, attrs, b"s"), {}),
        ((2, 7, auth, attrs), {}),
        ((2, 7, auth, attrs, b"s", True, (), 1), {}),
        ((2, 7, auth, attrs, b"s"), {"secret": b"t"}),
        ((2, 7, auth, attrs, b"s"), {"bogus": 1}),
    ]
    for args, kwargs in calls:
        same("encode_reply", *args, **kwargs)


# --- User-Password ---------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=160), secrets, st.binary(max_size=40))
@example(b"", b"s", bytes(16))
@example(bytes(128), b"s", bytes(16))
@example(bytes(129), b"s", bytes(16))
def test_pap_hide_agrees(password: bytes, secret: bytes, authenticator: bytes) -> None:
    """Passwords of 0..160 octets (past the 128 limit), any secret and authenticator length."""
    r = same("pap_hide", password, secret, authenticator)
    if r[0] == "ok":
        assert C("pap_unhide")(r[2], secret, authenticator) == password.rstrip(b"\x00")


@SETTINGS
@given(st.one_of(st.binary(max_size=160), st.integers(1, 8).flatmap(lambda k: st.binary(min_size=16 * k,
                                                                                         max_size=16 * k))),
       secrets, st.binary(max_size=40))
@example(bytes(144), b"s", bytes(16))
@example(bytes(16), b"", b"")
def test_pap_unhide_agrees(hidden: bytes, secret: bytes, authenticator: bytes) -> None:
    """Any hidden value (lengths 16..128 in steps of 16 decode, others are None)."""
    same("pap_unhide", hidden, secret, authenticator)


def test_pap_rfc2865_example() -> None:
    """RFC 2865 section 7.1: "arctangent" hidden with secret "xyzzy5461"."""
    auth = bytes.fromhex("0f403f9473978057bd83d5cb98f4227a")
    hidden = bytes.fromhex("0d be 70 8d 93 d4 13 ce 31 96 e4 3f 78 2a 0a ee".replace(" ", ""))
    assert C("pap_hide")(b"arctangent", b"xyzzy5461", auth) == hidden
    assert C("pap_unhide")(hidden, b"xyzzy5461", auth) == b"arctangent"


def test_pap_other_types_as_python() -> None:
    """bytearray, memoryview, str and None arguments, keywords: as the Python functions."""
    for name in ("pap_hide", "pap_unhide"):
        for args in [(bytearray(16), b"s", bytes(16)), (bytes(16), "s", bytes(16)), (bytes(16), b"s", None),
                     (memoryview(bytes(16)), b"s", bytes(16)), (None, b"s", bytes(16)), ("x" * 16, b"s", bytes(16)),
                     (bytes(16), b"s"), (bytes(16), b"s", bytes(16), 1)]:
            same(name, *args)
    same("pap_hide", password=b"pw", secret=b"s", authenticator=bytes(16))
    same("pap_unhide", hidden=bytes(16), secret=b"s", authenticator=bytes(16))


# --- no leaks ----------------------------------------------------------------------


def test_no_memory_growth() -> None:
    """20,000 calls of each C function allocate nothing that outlives them (a leaked reference would)."""
    sp = c_module()
    req = codec.encode_request(1, 9, codec.encode_attr(1, b"bob") + codec.encode_vsa(311, 11, bytes(16)), b"s",
                               bytes(16))
    bad = req[:-1]
    attrs = codec.encode_int(27, 60)

    def work() -> None:
        for _ in range(20_000):
            p = sp.decode(req)
            sp.verify_message_authenticator(p, b"s")
            sp.verify_message_authenticator(p, b"s", bytes(16))
            sp.verify_request_authenticator(p, b"s")
            sp.verify_response_authenticator(p, b"s", bytes(16))
            sp.encode_reply(2, 9, p.authenticator, attrs, b"s", True, [b"ps"])
            sp.pap_unhide(sp.pap_hide(b"pw", b"s", p.authenticator), b"s", p.authenticator)
            sp._hmac_md5(b"s", req)
            sp.md5(req)
            with contextlib.suppress(codec.MalformedPacket):
                sp.decode(bad)

    work()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown


# -- DES (MS-CHAP's DesEncrypt) -----------------------------------------------------------------------

@given(st.binary(min_size=8, max_size=8), st.binary(min_size=7, max_size=7))
def test_des_same_block_as_openssl(clear: bytes, key7: bytes) -> None:
    """The C DES gives OpenSSL's block (cryptography's Triple-DES with three equal keys) for any key."""
    from aaad.auth import mschap
    assert C("des_encrypt")(clear, key7) == mschap._py_des_encrypt(clear, key7)


def test_des_known_answer_and_lengths() -> None:
    """RFC 2759 section 9.2's ChallengeResponse through the C DES; wrong lengths are a ValueError."""
    from aaad.auth import mschap
    _speedups = c_module()
    z = bytes.fromhex("44EBBA8D5312B8D611474411F56989AE") + bytes(5)
    challenge = bytes.fromhex("D02E4386BCE91226")
    got = b"".join(_speedups.des_encrypt(challenge, z[i:i + 7]) for i in (0, 7, 14))
    assert got == bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
    assert mschap.challenge_response(challenge, z[:16]) == got
    with pytest.raises(ValueError):
        _speedups.des_encrypt(b"1234567", bytes(7))
    with pytest.raises(ValueError):
        _speedups.des_encrypt(bytes(8), bytes(8))
