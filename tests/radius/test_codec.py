"""Tests for the lean RADIUS codec: interop with pyrad, authenticators, malformed packets."""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections import OrderedDict

import pytest
from pyrad.packet import AcctPacket, AuthPacket, CoAPacket
from pyrad.packet import Packet as PyradPacket

from aaad.radius import codec
from aaad.radius.codec import MalformedPacket, decode
from aaad.radius.dictionary import RadiusDictionary, load_dictionary

SECRET = b"testing123"
REQ_AUTH = bytes(range(16))

# Every test here runs with the C extension's functions and with the pure-Python ones (conftest.py).
pytestmark = pytest.mark.usefixtures("codec_impl")


def test_runs_with_the_implementation(codec_impl: str) -> None:
    """The fixture bound codec's functions, and this module's decode, to the implementation under test."""
    want = codec._PY_FUNCTIONS["decode"] if codec_impl == "python" else codec._speedups.decode
    assert codec.decode is want and decode is want
    assert (codec.encode_reply is codec._py_encode_reply) == (codec_impl == "python")


@pytest.fixture(scope="module")
def rd() -> RadiusDictionary:
    """The shipped dictionary, loaded once."""
    return load_dictionary()


def header(code: int, ident: int, length: int, auth: bytes = REQ_AUTH) -> bytes:
    """A raw RADIUS header."""
    return struct.pack("!BBH", code, ident, length) + auth


def raw_packet(attrs: bytes, code: int = codec.ACCESS_REQUEST, ident: int = 1) -> bytes:
    """A raw packet with a correct Length around pre-encoded attributes."""
    return header(code, ident, 20 + len(attrs)) + attrs


def pyrad_access_request(rd: RadiusDictionary) -> AuthPacket:
    """A MikroTik-like PPPoE Access-Request built by pyrad, with Message-Authenticator."""
    pkt = AuthPacket(id=42, secret=SECRET, authenticator=REQ_AUTH, dict=rd.pyrad)
    pkt.add_message_authenticator()
    pkt["User-Name"] = "alice"
    pkt["User-Password"] = pkt.PwCrypt("wonderland")
    pkt["NAS-Port-Type"] = "Ethernet"
    pkt["Calling-Station-Id"] = "4C:5E:0C:11:22:33"
    pkt["Called-Station-Id"] = "pppoe1"
    pkt["NAS-Port-Id"] = "ether2"
    pkt["NAS-Identifier"] = "core-01"
    pkt["NAS-IP-Address"] = "10.0.0.1"
    pkt["Service-Type"] = "Framed-User"
    pkt["Framed-Protocol"] = "PPP"
    pkt["Mikrotik-Realm"] = "isp"
    pkt["Proxy-State"] = [b"ps-one", b"ps-two"]
    return pkt


# --- interop with pyrad -------------------------------------------------------


def test_pyrad_request_decodes_to_same_attributes(rd: RadiusDictionary) -> None:
    """A pyrad-built Access-Request decodes with our codec to the same attributes."""
    pkt = pyrad_access_request(rd)
    raw = pkt.RequestPacket()
    ours = decode(raw, rd.vendor_ids)
    assert (ours.code, ours.ident, ours.authenticator) == (1, 42, REQ_AUTH)
    assert ours.raw == raw
    theirs = PyradPacket(packet=raw, dict=rd.pyrad, secret=SECRET)
    raw_items = OrderedDict.items(theirs)
    assert len(raw_items) == 13
    for key, values in raw_items:
        if isinstance(key, tuple):
            assert [ours.vsa(*key)] == values, key
        else:
            assert ours.get_all(key) == values, key
    assert ours.get(codec.USER_NAME) == b"alice"
    assert codec.pap_unhide(ours.get(codec.USER_PASSWORD) or b"", SECRET, REQ_AUTH) == b"wonderland"
    assert ours.get_all(codec.PROXY_STATE) == [b"ps-one", b"ps-two"]
    assert ours.vsa(codec.VENDOR_MIKROTIK, 9) == b"isp"
    assert ours.attrs[0][0] == codec.MESSAGE_AUTHENTICATOR
    assert ours.ma_offset == 22


def test_pyrad_request_message_authenticator_verifies(rd: RadiusDictionary) -> None:
    """Our MA check accepts pyrad's MA and rejects it under the wrong secret."""
    raw = pyrad_access_request(rd).RequestPacket()
    p = decode(raw)
    assert codec.verify_message_authenticator(p, SECRET)
    assert not codec.verify_message_authenticator(p, b"wrong")


def test_message_authenticator_matches_independent_hmac() -> None:
    """Our encoded MA equals an HMAC-MD5 computed by hand over the zeroed packet."""
    attrs = codec.encode_attr(codec.USER_NAME, b"bob")
    raw = codec.encode_request(codec.ACCESS_REQUEST, 9, attrs, SECRET, authenticator=REQ_AUTH)
    assert raw[20:22] == b"\x50\x12"
    zeroed = raw[:22] + bytes(16) + raw[38:]
    assert raw[22:38] == hmac.new(SECRET, zeroed, hashlib.md5).digest()
    p = decode(raw)
    assert codec.verify_message_authenticator(p, SECRET)


def test_reply_accepted_by_pyrad(rd: RadiusDictionary) -> None:
    """An Access-Accept we encode decodes in pyrad and passes VerifyReply (incl. MA)."""
    req = pyrad_access_request(rd)
    raw_req = req.RequestPacket()
    p = decode(raw_req)
    attrs = b"".join([
        rd.encode("Mikrotik-Rate-Limit", "10M/20M"),
        rd.encode("Session-Timeout", 3600),
        rd.encode("Framed-Pool", "pool1"),
        rd.encode("Reply-Message", "welcome"),
    ])
    reply = codec.encode_reply(codec.ACCESS_ACCEPT, p.ident, p.authenticator, attrs, SECRET,
                               proxy_states=p.get_all(codec.PROXY_STATE))
    parsed = req.CreateReply(packet=reply)
    assert req.VerifyReply(parsed, reply, enforce_ma=True)
    assert parsed.code == codec.ACCESS_ACCEPT
    assert parsed["Mikrotik-Rate-Limit"] == ["10M/20M"]
    assert parsed["Session-Timeout"] == [3600]
    assert parsed["Proxy-State"] == [b"ps-one", b"ps-two"]
    ours = decode(reply)
    assert ours.attrs[0][0] == codec.MESSAGE_AUTHENTICATOR
    assert [t for t, _ in ours.attrs][-2:] == [codec.PROXY_STATE, codec.PROXY_STATE]
    assert codec.verify_message_authenticator(ours, SECRET, p.authenticator)
    assert codec.verify_response_authenticator(ours, SECRET, p.authenticator)
    assert not codec.verify_response_authenticator(ours, b"wrong", p.authenticator)


def test_reply_without_ma_still_verifies_in_pyrad(rd: RadiusDictionary) -> None:
    """With message_authenticator=False the reply has no MA and a valid Response Authenticator."""
    req = pyrad_access_request(rd)
    raw_req = req.RequestPacket()
    reply = codec.encode_reply(codec.ACCESS_REJECT, 42, REQ_AUTH, b"", SECRET,
                               message_authenticator=False, proxy_states=[b"ps-one", b"ps-two"])
    assert decode(reply).ma_offset == -1
    assert req.VerifyReply(req.CreateReply(packet=reply), reply)
    assert raw_req  # request encoded before verifying


def test_reply_tampering_fails_pyrad_verify(rd: RadiusDictionary) -> None:
    """Flipping a reply octet makes pyrad's VerifyReply fail."""
    req = pyrad_access_request(rd)
    req.RequestPacket()
    reply = bytearray(codec.encode_reply(2, 42, REQ_AUTH, codec.encode_int(27, 60), SECRET,
                                         proxy_states=[b"ps-one", b"ps-two"]))
    reply[-1] ^= 1
    assert not req.VerifyReply(req.CreateReply(packet=bytes(reply)), bytes(reply))


def test_accounting_request_interop(rd: RadiusDictionary) -> None:
    """Our Accounting-Request passes pyrad's check; pyrad's passes ours (authenticator and MA)."""
    attrs = rd.encode("Acct-Status-Type", "Start") + rd.encode("Acct-Session-Id", "81a00001")
    raw = codec.encode_request(codec.ACCOUNTING_REQUEST, 3, attrs, SECRET)
    theirs = AcctPacket(packet=raw, dict=rd.pyrad, secret=SECRET)
    assert theirs.VerifyAcctRequest()
    assert theirs.verify_message_authenticator()
    ours = decode(raw)
    assert codec.verify_request_authenticator(ours, SECRET)
    assert codec.verify_message_authenticator(ours, SECRET, bytes(16))
    assert not codec.verify_message_authenticator(ours, SECRET)

    pkt = AcctPacket(id=4, secret=SECRET, dict=rd.pyrad)
    pkt.add_message_authenticator()
    pkt["Acct-Status-Type"] = "Interim-Update"
    pkt["Acct-Input-Gigawords"] = 1
    from_pyrad = decode(pkt.RequestPacket())
    assert codec.verify_request_authenticator(from_pyrad, SECRET)
    assert codec.verify_message_authenticator(from_pyrad, SECRET, bytes(16))
    assert not codec.verify_request_authenticator(from_pyrad, b"wrong")


def test_coa_request_interop(rd: RadiusDictionary) -> None:
    """A CoA-Request we encode verifies in pyrad (zero-vector MA, MD5 authenticator)."""
    attrs = rd.encode("User-Name", "alice") + rd.encode("Mikrotik-Rate-Limit", "1M/1M")
    raw = codec.encode_request(codec.COA_REQUEST, 77, attrs, SECRET)
    theirs = CoAPacket(packet=raw, dict=rd.pyrad, secret=SECRET)
    assert theirs.VerifyCoARequest()
    assert theirs.verify_message_authenticator()


def test_encode_request_rejects_authenticator_for_hashed_codes() -> None:
    """Passing an authenticator for an Accounting/CoA/Disconnect request is an error."""
    with pytest.raises(ValueError):
        codec.encode_request(codec.DISCONNECT_REQUEST, 1, b"", SECRET, authenticator=REQ_AUTH)
    with pytest.raises(ValueError):
        codec.encode_request(codec.ACCESS_REQUEST, 256, b"", SECRET)


def test_access_request_gets_random_authenticator() -> None:
    """Without an authenticator, two Access-Requests get different random ones."""
    a = codec.encode_request(codec.ACCESS_REQUEST, 1, b"", SECRET)
    b = codec.encode_request(codec.ACCESS_REQUEST, 1, b"", SECRET)
    assert a[4:20] != b[4:20]
    assert codec.verify_message_authenticator(decode(a), SECRET)


def test_status_server_request() -> None:
    """A Status-Server request carries an MA keyed on its own random authenticator."""
    raw = codec.encode_request(codec.STATUS_SERVER, 5, b"", SECRET)
    p = decode(raw)
    assert p.code == codec.STATUS_SERVER and p.ma_offset == 22
    assert codec.verify_message_authenticator(p, SECRET)


def test_encode_reply_too_long() -> None:
    """A reply that would exceed 4096 octets raises ValueError."""
    attrs = codec.encode_attr(codec.CLASS, bytes(253)) * 16
    with pytest.raises(ValueError, match="4096"):
        codec.encode_reply(2, 1, REQ_AUTH, attrs, SECRET)
    codec.encode_reply(2, 1, REQ_AUTH, attrs[: 255 * 15], SECRET)


def test_encode_reply_exact_bytes() -> None:
    """The reply layout: MA first, attributes, Proxy-State, Response Authenticator per RFC 2865."""
    attrs = codec.encode_int(codec.SESSION_TIMEOUT, 60)
    reply = codec.encode_reply(2, 7, REQ_AUTH, attrs, SECRET, proxy_states=[b"x"])
    body = reply[20:]
    assert body[:2] == b"\x50\x12"
    assert body[18:] == attrs + b"\x21\x03x"
    length = 20 + len(body)
    assert reply[:4] == bytes((2, 7)) + length.to_bytes(2, "big")
    mac = hmac.new(SECRET, reply[:4] + REQ_AUTH + b"\x50\x12" + bytes(16) + body[18:], hashlib.md5)
    assert body[2:18] == mac.digest()
    assert reply[4:20] == hashlib.md5(reply[:4] + REQ_AUTH + body + SECRET).digest()


# --- attribute helpers ------------------------------------------------------


def test_encode_attr_limits() -> None:
    """encode_attr/encode_vsa/encode_int refuse values that don't fit."""
    assert codec.encode_attr(1, bytes(253))[:2] == b"\x01\xff"
    with pytest.raises(ValueError):
        codec.encode_attr(1, bytes(254))
    with pytest.raises(ValueError):
        codec.encode_attr(0, b"x")
    with pytest.raises(ValueError):
        codec.encode_vsa(14988, 8, bytes(248))
    assert len(codec.encode_vsa(14988, 8, bytes(247))) == 255
    with pytest.raises(ValueError):
        codec.encode_int(27, -1)
    with pytest.raises(ValueError):
        codec.encode_int(27, 1 << 32)


def test_packet_helpers() -> None:
    """get/get_all/vsa find values in wire order; absent ones give None or []."""
    attrs = (codec.encode_attr(1, b"u") + codec.encode_attr(25, b"c1")
             + codec.encode_vsa(311, 11, b"chal") + codec.encode_attr(25, b"c2")
             + codec.encode_attr(26, (311).to_bytes(4, "big") + b"\x19\x04ab\x1a\x03z"))
    p = decode(raw_packet(attrs))
    assert p.get(25) == b"c1"
    assert p.get_all(25) == [b"c1", b"c2"]
    assert p.get(99) is None and p.get_all(99) == []
    assert p.vsa(311, 11) == b"chal"
    assert p.vsa(311, 26) == b"z"
    assert p.vsa(311, 25) == b"ab"
    assert p.vsa(14988, 8) is None
    assert p.ma_offset == -1
    assert b"".join(codec.encode_attr(t, v) for t, v in p.attrs) == attrs
    assert "code=1" in repr(p)


def test_padding_past_length_is_ignored() -> None:
    """Octets after the Length field are padding: dropped from raw, not an error."""
    raw = raw_packet(codec.encode_attr(1, b"bob"))
    p = decode(raw + b"\x00garbage")
    assert p.raw == raw
    assert p.attrs == [(1, b"bob")]


def test_empty_value_attribute_is_accepted() -> None:
    """A length-2 attribute is legal at the codec level (semantic checks come later)."""
    assert decode(raw_packet(b"\x12\x02")).attrs == [(18, b"")]


def test_unknown_vendor_vsa_is_not_tiled() -> None:
    """VSAs of vendors outside the tiled set keep any layout (only the 6-octet minimum applies)."""
    vsa = codec.encode_attr(26, (9).to_bytes(4, "big") + b"\xff\xff")
    assert decode(raw_packet(vsa)).attrs == [(26, (9).to_bytes(4, "big") + b"\xff\xff")]
    with pytest.raises(MalformedPacket):
        decode(raw_packet(vsa), frozenset({9}))


def test_decode_accepts_bytearray_and_memoryview() -> None:
    """Non-bytes buffers decode to a Packet whose raw is bytes."""
    raw = raw_packet(codec.encode_attr(1, b"bob"))
    for buf in (bytearray(raw), memoryview(raw)):
        p = decode(buf)  # type: ignore[arg-type]
        assert type(p.raw) is bytes and p.attrs == [(1, b"bob")]


# --- malformed catalogue ------------------------------------------------------


MA_ATTR = b"\x50\x12" + bytes(16)
GOOD_ATTRS = codec.encode_attr(1, b"alice") + MA_ATTR


def _ms_vsa(sub: bytes) -> bytes:
    value = (311).to_bytes(4, "big") + sub
    return bytes((26, len(value) + 2)) + value


MALFORMED: list[tuple[str, bytes]] = [
    ("too_short", b""),
    ("too_short", raw_packet(b"")[:19]),
    ("length_too_small", header(1, 1, 19)),
    ("length_too_small", header(1, 1, 0) + GOOD_ATTRS),
    ("too_long", header(1, 1, 4097) + bytes(4077)),
    ("length_mismatch", header(1, 1, 20 + len(GOOD_ATTRS) + 1) + GOOD_ATTRS),
    ("unknown_code", raw_packet(GOOD_ATTRS, code=99)),
    ("unknown_code", raw_packet(b"", code=0)),
    ("bad_attribute_length", raw_packet(b"\x01\x01x")),
    ("bad_attribute_length", raw_packet(b"\x01\x00")),
    ("bad_attribute_length", raw_packet(b"\x01\x09short")),
    ("bad_attribute_length", raw_packet(GOOD_ATTRS + b"\x01")),
    ("attribute_type_zero", raw_packet(b"\x00\x03x")),
    ("bad_vsa", raw_packet(b"\x1a\x07" + (311).to_bytes(4, "big") + b"\x01")),
    ("bad_vsa", raw_packet(b"\x1a\x02")),
    ("bad_vsa", raw_packet(_ms_vsa(b"\x0b\x05ab"))),
    ("bad_vsa", raw_packet(_ms_vsa(b"\x0b\x03abc"))),
    ("bad_vsa", raw_packet(_ms_vsa(b"\x0b\x01ab"))),
    ("bad_vsa", raw_packet(_ms_vsa(b"\x0b\x03a\x0c"))),
    ("bad_vsa", raw_packet(b"\x1a\x09" + (14988).to_bytes(4, "big") + b"\x08\x04a")),
    ("bad_message_authenticator_length", raw_packet(b"\x50\x11" + bytes(15))),
    ("bad_message_authenticator_length", raw_packet(b"\x50\x02")),
    ("duplicate_message_authenticator", raw_packet(MA_ATTR + MA_ATTR)),
    ("duplicate_message_authenticator", raw_packet(GOOD_ATTRS + codec.encode_attr(1, b"x") + MA_ATTR)),
]


@pytest.mark.parametrize(("reason", "data"), MALFORMED,
                         ids=[f"{r}-{i}" for i, (r, _) in enumerate(MALFORMED)])
def test_malformed(reason: str, data: bytes) -> None:
    """Each broken framing rule raises MalformedPacket with its stable reason."""
    with pytest.raises(MalformedPacket) as exc:
        decode(data)
    assert exc.value.reason == reason


def test_good_catalogue_baseline() -> None:
    """The baseline the catalogue breaks is itself valid."""
    p = decode(raw_packet(GOOD_ATTRS))
    assert p.ma_offset == 29
    assert p.attrs == [(1, b"alice"), (80, bytes(16))]
    assert decode(header(1, 1, 4096) + codec.encode_attr(25, bytes(253)) * 15
                  + codec.encode_attr(25, bytes(4096 - 20 - 255 * 15 - 2))).raw[2:4] == b"\x10\x00"


def test_verify_message_authenticator_absent_is_false() -> None:
    """A packet without Message-Authenticator never verifies."""
    assert not codec.verify_message_authenticator(decode(raw_packet(b"")), SECRET)


def test_verify_message_authenticator_detects_tampering() -> None:
    """Changing any attribute octet after signing breaks the MA."""
    raw = bytearray(codec.encode_request(1, 1, codec.encode_attr(1, b"bob"), SECRET,
                                         authenticator=REQ_AUTH))
    raw[-1] ^= 0x20
    assert not codec.verify_message_authenticator(decode(bytes(raw)), SECRET)


# --- PAP and salt encryption ------------------------------------------------


def test_pap_hide_matches_pyrad(rd: RadiusDictionary) -> None:
    """pap_hide equals pyrad's PwCrypt, and pap_unhide reverses PwCrypt."""
    pkt = AuthPacket(secret=SECRET, authenticator=REQ_AUTH, dict=rd.pyrad)
    for pw in (b"x", b"sixteen-octets!!", b"a" * 17, b"p" * 128):
        hidden = codec.pap_hide(pw, SECRET, REQ_AUTH)
        assert hidden == pkt.PwCrypt(pw)
        assert codec.pap_unhide(hidden, SECRET, REQ_AUTH) == pw


def test_pap_hide_edges() -> None:
    """Empty passwords hide to 16 octets; >128 octets raise; bad lengths unhide to None."""
    assert len(codec.pap_hide(b"", SECRET, REQ_AUTH)) == 16
    assert codec.pap_unhide(codec.pap_hide(b"", SECRET, REQ_AUTH), SECRET, REQ_AUTH) == b""
    with pytest.raises(ValueError):
        codec.pap_hide(b"x" * 129, SECRET, REQ_AUTH)
    for n in (0, 15, 17, 144):
        assert codec.pap_unhide(bytes(n), SECRET, REQ_AUTH) is None


def test_salt_encrypt_interop_with_pyrad(rd: RadiusDictionary) -> None:
    """MS-MPPE keys we salt-encrypt decrypt in pyrad, and vice versa."""
    key = bytes(range(32))
    ours = codec.salt_encrypt(key, SECRET, REQ_AUTH, salt=b"\x80\x01")
    assert ours[:2] == b"\x80\x01" and len(ours) == 2 + 48
    reply = AuthPacket(secret=SECRET, authenticator=REQ_AUTH, dict=rd.pyrad)
    reply.request_authenticator = REQ_AUTH
    assert reply.SaltDecrypt(ours) == key
    theirs = reply.SaltCrypt(key)
    assert theirs[0] & 0x80
    assert codec.salt_decrypt(theirs, SECRET, REQ_AUTH) == key


def test_salt_encrypt_edges() -> None:
    """Random salts have the high bit; bad salts, overlong values and bad ciphertexts are refused."""
    for _ in range(16):
        assert codec.salt_encrypt(b"k", SECRET, REQ_AUTH)[0] & 0x80
    with pytest.raises(ValueError):
        codec.salt_encrypt(b"k", SECRET, REQ_AUTH, salt=b"\x01\x02")
    with pytest.raises(ValueError):
        codec.salt_encrypt(bytes(240), SECRET, REQ_AUTH)
    assert len(codec.salt_encrypt(bytes(239), SECRET, REQ_AUTH)) == 242
    assert codec.salt_decrypt(bytes(17), SECRET, REQ_AUTH) is None
    assert codec.salt_decrypt(bytes(19), SECRET, REQ_AUTH) is None
    forged = b"\x80\x00" + bytes(16)
    plain = codec.salt_decrypt(forged, SECRET, REQ_AUTH)
    assert plain is None or len(plain) <= 15


# --- scapy-built malformed packets ------------------------------------------


def _scapy_packets() -> list[bytes]:
    """Malformed packets built with scapy's RADIUS layer."""
    from scapy.layers.radius import Radius, RadiusAttr_Message_Authenticator, RadiusAttribute

    return [
        bytes(Radius(code=1, id=1, len=10, authenticator=REQ_AUTH)),
        bytes(Radius(code=1, id=1, len=5000, authenticator=REQ_AUTH,
                     attributes=[RadiusAttribute(type=1, value=b"bob")])),
        bytes(Radius(code=1, id=1, authenticator=REQ_AUTH,
                     attributes=[RadiusAttribute(type=0, value=b"x")])),
        bytes(Radius(code=1, id=1, authenticator=REQ_AUTH,
                     attributes=[RadiusAttribute(type=1, len=1, value=b"bob")])),
        bytes(Radius(code=1, id=1, authenticator=REQ_AUTH,
                     attributes=[RadiusAttribute(type=1, len=40, value=b"bob")])),
        bytes(Radius(code=1, id=1, authenticator=REQ_AUTH,
                     attributes=[RadiusAttr_Message_Authenticator(value=bytes(16)),
                                 RadiusAttr_Message_Authenticator(value=bytes(16))])),
        bytes(Radius(code=1, id=1, authenticator=REQ_AUTH,
                     attributes=[RadiusAttribute(type=80, value=bytes(8))])),
        bytes(Radius(code=200, id=1, authenticator=REQ_AUTH)),
        bytes(Radius(code=1, id=1, authenticator=REQ_AUTH,
                     attributes=[RadiusAttribute(type=26, value=b"\x00\x00\x01\x37\x0b\x09x")])),
        bytes(Radius(code=1, id=1, authenticator=REQ_AUTH))[:12],
    ]


@pytest.mark.parametrize("data", _scapy_packets())
def test_scapy_malformed_packets(data: bytes) -> None:
    """Packets scapy builds with broken fields raise MalformedPacket, never a crash."""
    with pytest.raises(MalformedPacket):
        decode(data)


def test_scapy_valid_packet_decodes() -> None:
    """A well-formed scapy Access-Request decodes with the same attributes."""
    from scapy.layers.radius import Radius, RadiusAttribute

    data = bytes(Radius(code=1, id=3, authenticator=REQ_AUTH,
                        attributes=[RadiusAttribute(type=1, value=b"bob"),
                                    RadiusAttribute(type=31, value=b"aa-bb")]))
    p = decode(data)
    assert (p.code, p.ident) == (1, 3)
    assert p.attrs == [(1, b"bob"), (31, b"aa-bb")]
