"""Lean RADIUS wire codec for the hot path (RFC 2865, 2866, 3579, 5176, 5997).

Decoding validates the framing only and keeps attribute values as raw bytes
in wire order; meaning (types, dictionary names) is added elsewhere, by
``aaad.radius.dictionary`` or by the stage that needs a value.

Validation decisions, each failing with :class:`MalformedPacket` and a
stable ``reason`` slug (used as a metrics label):

- ``too_short``: fewer than 20 octets.
- ``length_too_small`` / ``too_long``: Length field < 20 or > 4096.
- ``length_mismatch``: Length field larger than the datagram. Octets past
  Length are padding and ignored (RFC 2865 section 3).
- ``unknown_code``: a code outside :data:`KNOWN_CODES`.
- ``attribute_type_zero``: type 0 is reserved.
- ``bad_attribute_length``: attribute length < 2, or the attribute (or its
  header) overruns Length. A length of exactly 2 (empty value) is accepted
  here: RFC 2865 wants at least one octet for text/string/address types, but
  that is a per-type rule and belongs to the semantic checks of the stage
  that reads the value; the codec stays type-agnostic and cheap.
- ``bad_vsa``: a Vendor-Specific value shorter than 6 octets, or, for a
  vendor known to use the RFC 2865 section 5.26 format (``tiled_vendors``),
  sub-attributes with length < 2 or that don't tile the value exactly.
- ``bad_message_authenticator_length`` / ``duplicate_message_authenticator``:
  Message-Authenticator (80) must be 18 octets long and appear at most once.

Two implementations of the hot functions (``decode``, the ``verify_*``
functions, ``encode_reply``, ``pap_hide``/``pap_unhide``, ``_hmac_md5``): the
Python ones below (``_py_decode`` ...), the reference, and the C extension
``aaad/radius/_speedups.c``, used when it is built unless the environment sets
``AAAD_PURE_PYTHON=1``.  :data:`IMPLEMENTATION` says which one is in use.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable
from typing import Any

# Packet codes.
ACCESS_REQUEST = 1
ACCESS_ACCEPT = 2
ACCESS_REJECT = 3
ACCOUNTING_REQUEST = 4
ACCOUNTING_RESPONSE = 5
ACCESS_CHALLENGE = 11
STATUS_SERVER = 12
STATUS_CLIENT = 13
DISCONNECT_REQUEST = 40
DISCONNECT_ACK = 41
DISCONNECT_NAK = 42
COA_REQUEST = 43
COA_ACK = 44
COA_NAK = 45

KNOWN_CODES: frozenset[int] = frozenset({
    ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCOUNTING_REQUEST,
    ACCOUNTING_RESPONSE, ACCESS_CHALLENGE, STATUS_SERVER, STATUS_CLIENT,
    DISCONNECT_REQUEST, DISCONNECT_ACK, DISCONNECT_NAK,
    COA_REQUEST, COA_ACK, COA_NAK,
})

# Requests whose Request Authenticator is an MD5 over the packet (RFC 2866
# section 3, RFC 5176 section 3.5) rather than a random nonce.
HASHED_REQUEST_CODES: frozenset[int] = frozenset({
    ACCOUNTING_REQUEST, DISCONNECT_REQUEST, COA_REQUEST,
})

# Attribute types the server uses.
USER_NAME = 1
USER_PASSWORD = 2
CHAP_PASSWORD = 3
NAS_IP_ADDRESS = 4
NAS_PORT = 5
SERVICE_TYPE = 6
FRAMED_PROTOCOL = 7
FRAMED_IP_ADDRESS = 8
FRAMED_IP_NETMASK = 9
FILTER_ID = 11
FRAMED_MTU = 12
REPLY_MESSAGE = 18
FRAMED_ROUTE = 22
STATE = 24
CLASS = 25
VENDOR_SPECIFIC = 26
SESSION_TIMEOUT = 27
IDLE_TIMEOUT = 28
TERMINATION_ACTION = 29
CALLED_STATION_ID = 30
CALLING_STATION_ID = 31
NAS_IDENTIFIER = 32
PROXY_STATE = 33
ACCT_STATUS_TYPE = 40
ACCT_DELAY_TIME = 41
ACCT_INPUT_OCTETS = 42
ACCT_OUTPUT_OCTETS = 43
ACCT_SESSION_ID = 44
ACCT_AUTHENTIC = 45
ACCT_SESSION_TIME = 46
ACCT_INPUT_PACKETS = 47
ACCT_OUTPUT_PACKETS = 48
ACCT_TERMINATE_CAUSE = 49
ACCT_MULTI_SESSION_ID = 50
ACCT_INPUT_GIGAWORDS = 52
ACCT_OUTPUT_GIGAWORDS = 53
EVENT_TIMESTAMP = 55
CHAP_CHALLENGE = 60
NAS_PORT_TYPE = 61
PORT_LIMIT = 62
CONNECT_INFO = 77
EAP_MESSAGE = 79
MESSAGE_AUTHENTICATOR = 80
ACCT_INTERIM_INTERVAL = 85
NAS_PORT_ID = 87
FRAMED_POOL = 88
CHARGEABLE_USER_IDENTITY = 89
NAS_IPV6_ADDRESS = 95
FRAMED_IPV6_PREFIX = 97
FRAMED_IPV6_POOL = 100
ERROR_CAUSE = 101
DELEGATED_IPV6_PREFIX = 123

# Vendors.
VENDOR_MICROSOFT = 311
VENDOR_MIKROTIK = 14988

# Vendors whose VSAs use the RFC 2865 section 5.26 sub-attribute format; the
# server passes the dictionary's full set (RadiusDictionary.vendor_ids).
DEFAULT_TILED_VENDORS: frozenset[int] = frozenset({VENDOR_MICROSOFT, VENDOR_MIKROTIK})

HEADER_LENGTH = 20
MAX_PACKET_LENGTH = 4096
MAX_VALUE_LENGTH = 253

_ZERO16 = bytes(16)
_MA_HEADER = bytes((MESSAGE_AUTHENTICATOR, 18))
_MA_ZEROED = _MA_HEADER + _ZERO16
_MA_LENGTH = len(_MA_ZEROED)
_md5 = hashlib.md5
_compare = hmac.compare_digest
_HMAC_KEYS: dict[bytes, tuple[hashlib._Hash, hashlib._Hash]] = {}
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _py_hmac_md5(secret: bytes, msg: bytes) -> bytes:
    """HMAC-MD5 with the key's inner and outer pads hashed once per secret.

    The hot path computes two HMACs per request with a handful of secrets;
    copying pre-keyed MD5 states is about twice as fast as hmac.digest.
    """
    states = _HMAC_KEYS.get(secret)
    if states is None:
        key = _md5(secret).digest() if len(secret) > 64 else secret
        key = key.ljust(64, b"\0")
        states = (_md5(key.translate(_IPAD)), _md5(key.translate(_OPAD)))
        if len(_HMAC_KEYS) > 4096:
            _HMAC_KEYS.clear()
        _HMAC_KEYS[secret] = states
    inner = states[0].copy()
    inner.update(msg)
    outer = states[1].copy()
    outer.update(inner.digest())
    return outer.digest()
_KNOWN = KNOWN_CODES
# Types decode() looks at closer: reserved 0, Vendor-Specific, Message-Authenticator.
_SPECIAL_TYPES = frozenset({0, VENDOR_SPECIFIC, MESSAGE_AUTHENTICATOR})


class MalformedPacket(Exception):
    """A datagram that is not a well-formed RADIUS packet."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class Packet:
    """A decoded packet: header fields and raw attributes in wire order.

    A Vendor-Specific attribute stays one ``(26, value)`` pair, so encoding
    ``attrs`` again gives back the exact bytes of ``raw``.
    """

    # The C decode (aaad/radius/_speedups.c) fills the first six slots without calling __init__
    # and sets any other slot to None: __init__ must leave the others None.
    __slots__ = ("code", "ident", "authenticator", "attrs", "raw", "ma_offset", "_first")

    def __init__(self, code: int, ident: int, authenticator: bytes,
                 attrs: list[tuple[int, bytes]], raw: bytes, ma_offset: int) -> None:
        self.code = code
        self.ident = ident
        self.authenticator = authenticator
        self.attrs = attrs
        self.raw = raw
        self.ma_offset = ma_offset
        self._first: dict[int, bytes] | None = None   # type -> first value, built by the first get()

    def __repr__(self) -> str:
        return (f"Packet(code={self.code}, ident={self.ident}, "
                f"attrs={len(self.attrs)}, length={len(self.raw)})")

    def get(self, attr_type: int) -> bytes | None:
        """The value of the first attribute of this type, or None.

        The first call indexes the attributes by type, in C (``dict`` over the pairs in reverse
        order, so the first of a type wins): the auth path asks five or six times per request."""
        first = self._first
        if first is None:
            first = self._first = dict(reversed(self.attrs))
        return first.get(attr_type)

    def get_all(self, attr_type: int) -> list[bytes]:
        """The values of all attributes of this type, in wire order."""
        return [v for t, v in self.attrs if t == attr_type]

    def vsa(self, vendor: int, subtype: int) -> bytes | None:
        """The value of the first vendor sub-attribute (vendor, subtype), or None."""
        prefix = vendor.to_bytes(4, "big")
        for t, v in self.attrs:
            if t != VENDOR_SPECIFIC or v[:4] != prefix:
                continue
            pos, end = 4, len(v)
            while pos + 2 <= end:
                sub_len = v[pos + 1]
                if sub_len < 2 or pos + sub_len > end:
                    break
                if v[pos] == subtype:
                    return v[pos + 2:pos + sub_len]
                pos += sub_len
        return None


def _py_decode(data: bytes, tiled_vendors: frozenset[int] = DEFAULT_TILED_VENDORS) -> Packet:
    """Validate a datagram and split it into a :class:`Packet`.

    Raises :class:`MalformedPacket` (and nothing else) for any input that
    breaks the framing rules in the module docstring.
    """
    n = len(data)
    if n < HEADER_LENGTH:
        raise MalformedPacket("too_short", f"{n} octets")
    if type(data) is not bytes:
        data = bytes(data)
    length = (data[2] << 8) | data[3]
    if length < HEADER_LENGTH:
        raise MalformedPacket("length_too_small", f"Length {length}")
    if length > MAX_PACKET_LENGTH:
        raise MalformedPacket("too_long", f"Length {length}")
    if length > n:
        raise MalformedPacket("length_mismatch", f"Length {length} > {n} octets")
    code = data[0]
    if code not in _KNOWN:
        raise MalformedPacket("unknown_code", f"code {code}")
    raw = data if length == n else data[:length]
    attrs: list[tuple[int, bytes]] = []
    append = attrs.append
    ma_offset = -1
    pos = HEADER_LENGTH
    special = _SPECIAL_TYPES
    try:
        while pos < length:
            t = raw[pos]
            end = pos + raw[pos + 1]  # IndexError: header cut by Length
            if end > length or end < pos + 2:
                raise MalformedPacket("bad_attribute_length", f"type {t} at {pos}")
            if t in special:
                if t == 0:
                    raise MalformedPacket("attribute_type_zero", f"at {pos}")
                if t == VENDOR_SPECIFIC:
                    _check_vsa(raw[pos + 2:end], tiled_vendors)
                else:
                    if end - pos != 18:
                        raise MalformedPacket("bad_message_authenticator_length",
                                              f"length {end - pos}")
                    if ma_offset >= 0:
                        raise MalformedPacket("duplicate_message_authenticator")
                    ma_offset = pos + 2
            append((t, raw[pos + 2:end]))
            pos = end
    except IndexError:
        raise MalformedPacket("bad_attribute_length", f"truncated header at {pos}") from None
    return Packet(code, data[1], raw[4:20], attrs, raw, ma_offset)


def _check_vsa(value: bytes, tiled_vendors: frozenset[int]) -> None:
    """Check a Vendor-Specific value; sub-attributes must tile for known vendors."""
    end = len(value)
    if end < 6:
        raise MalformedPacket("bad_vsa", f"{end} octets")
    if int.from_bytes(value[:4], "big") not in tiled_vendors:
        return
    pos = 4
    while pos < end:
        if pos + 2 > end:
            raise MalformedPacket("bad_vsa", "truncated sub-attribute")
        sub_len = value[pos + 1]
        if sub_len < 2 or pos + sub_len > end:
            raise MalformedPacket("bad_vsa", f"sub-attribute length {sub_len}")
        pos += sub_len


def _py_verify_message_authenticator(packet: Packet, secret: bytes,
                                 authenticator: bytes | None = None) -> bool:
    """Check the Message-Authenticator (RFC 3579 section 3.2); False if absent.

    ``authenticator`` replaces the packet's own in the HMAC input: the
    request authenticator for replies, 16 zero octets for Accounting, CoA
    and Disconnect requests (RFC 5176 section 3.3).
    """
    ma = packet.ma_offset
    if ma < 0:
        return False
    raw = packet.raw
    if authenticator is None:
        msg = raw[:ma] + _ZERO16 + raw[ma + 16:]
    else:
        msg = raw[:4] + authenticator + raw[20:ma] + _ZERO16 + raw[ma + 16:]
    return _compare(_hmac_md5(secret, msg), raw[ma:ma + 16])


def _py_verify_request_authenticator(packet: Packet, secret: bytes) -> bool:
    """Check the MD5 Request Authenticator of Accounting/CoA/Disconnect requests."""
    raw = packet.raw
    expected = _md5(raw[:4] + _ZERO16 + raw[20:] + secret).digest()
    return _compare(expected, packet.authenticator)


def _py_verify_response_authenticator(reply: Packet, secret: bytes,
                                  request_authenticator: bytes) -> bool:
    """Check a reply's Response Authenticator against the request it answers."""
    raw = reply.raw
    expected = _md5(raw[:4] + request_authenticator + raw[20:] + secret).digest()
    return _compare(expected, reply.authenticator)


def encode_attr(attr_type: int, value: bytes) -> bytes:
    """One wire attribute: type, length, value."""
    n = len(value)
    if n > MAX_VALUE_LENGTH:
        raise ValueError(f"attribute {attr_type}: value of {n} octets exceeds 253")
    if not 1 <= attr_type <= 255:
        raise ValueError(f"attribute type {attr_type} out of range 1..255")
    return bytes((attr_type, n + 2)) + value


def encode_vsa(vendor: int, subtype: int, value: bytes) -> bytes:
    """A Vendor-Specific attribute holding one RFC 2865 section 5.26 sub-attribute."""
    n = len(value)
    if n > MAX_VALUE_LENGTH - 6:
        raise ValueError(f"VSA {vendor}/{subtype}: value of {n} octets exceeds 247")
    if not 0 <= vendor < 1 << 24:
        raise ValueError(f"vendor id {vendor} out of range")
    if not 1 <= subtype <= 255:
        raise ValueError(f"vendor attribute type {subtype} out of range 1..255")
    return bytes((VENDOR_SPECIFIC, n + 8)) + vendor.to_bytes(4, "big") + bytes((subtype, n + 2)) + value


def encode_int(attr_type: int, n: int) -> bytes:
    """An attribute holding a 32-bit unsigned integer."""
    if not 0 <= n < 1 << 32:
        raise ValueError(f"attribute {attr_type}: integer {n} out of range")
    return encode_attr(attr_type, n.to_bytes(4, "big"))


def _proxy_state_attrs(proxy_states: Iterable[bytes]) -> bytes:
    return b"".join([encode_attr(PROXY_STATE, ps) for ps in proxy_states])


def _py_encode_reply(code: int, ident: int, request_authenticator: bytes, attrs: bytes,
                 secret: bytes, message_authenticator: bool = True,
                 proxy_states: Iterable[bytes] = ()) -> bytes:
    """Encode a reply from pre-encoded attributes.

    Message-Authenticator goes first (HMAC over the reply with the request
    authenticator in place), the request's Proxy-States last, then the
    Response Authenticator is filled in.
    """
    if proxy_states:
        attrs = attrs + _proxy_state_attrs(proxy_states)
    length = HEADER_LENGTH + len(attrs) + (_MA_LENGTH if message_authenticator else 0)
    if length > MAX_PACKET_LENGTH:
        raise ValueError(f"reply of {length} octets exceeds {MAX_PACKET_LENGTH}")
    header = bytes((code, ident, length >> 8, length & 0xFF))
    if message_authenticator:
        mac = _hmac_md5(secret, header + request_authenticator + _MA_ZEROED + attrs)
        body = _MA_HEADER + mac + attrs
    else:
        body = attrs
    response = _md5(header + request_authenticator + body + secret).digest()
    return header + response + body


def encode_request(code: int, ident: int, attrs: bytes, secret: bytes,
                   authenticator: bytes | None = None,
                   message_authenticator: bool = True) -> bytes:
    """Encode a request we send.

    Access-Request / Status-Server use ``authenticator`` (random when None;
    pass one when ``attrs`` holds a User-Password hidden with it).
    Accounting, CoA and Disconnect requests get the MD5 Request Authenticator,
    their Message-Authenticator computed over 16 zero octets (RFC 5176 3.3).
    """
    if not 0 <= ident <= 255:
        raise ValueError(f"identifier {ident} out of range 0..255")
    hashed = code in HASHED_REQUEST_CODES
    if hashed and authenticator is not None:
        raise ValueError(f"code {code} computes its Request Authenticator")
    if not hashed:
        if authenticator is None:
            authenticator = os.urandom(16)
        elif len(authenticator) != 16:
            raise ValueError("authenticator must be 16 octets")
    length = HEADER_LENGTH + len(attrs) + (_MA_LENGTH if message_authenticator else 0)
    if length > MAX_PACKET_LENGTH:
        raise ValueError(f"request of {length} octets exceeds {MAX_PACKET_LENGTH}")
    header = bytes((code, ident, length >> 8, length & 0xFF))
    vector = _ZERO16 if hashed else authenticator
    assert vector is not None
    if message_authenticator:
        mac = _hmac_md5(secret, header + vector + _MA_ZEROED + attrs)
        body = _MA_HEADER + mac + attrs
    else:
        body = attrs
    if hashed:
        authenticator = _md5(header + _ZERO16 + body + secret).digest()
    assert authenticator is not None
    return header + authenticator + body


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")


def _py_pap_hide(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """Hide a User-Password (RFC 2865 section 5.2); at most 128 octets."""
    n = len(password)
    if n > 128:
        raise ValueError(f"password of {n} octets exceeds 128")
    padded = password + bytes(-n % 16 if n else 16)
    out = []
    last = authenticator
    for i in range(0, len(padded), 16):
        last = _xor16(padded[i:i + 16], _md5(secret + last).digest())
        out.append(last)
    return b"".join(out)


def _py_pap_unhide(hidden: bytes, secret: bytes, authenticator: bytes) -> bytes | None:
    """Recover a User-Password; None if its length is not 16..128 in steps of 16."""
    n = len(hidden)
    if n == 0 or n % 16 or n > 128:
        return None
    out = []
    last = authenticator
    for i in range(0, n, 16):
        block = hidden[i:i + 16]
        out.append(_xor16(block, _md5(secret + last).digest()))
        last = block
    return b"".join(out).rstrip(b"\x00")


def salt_encrypt(value: bytes, secret: bytes, request_authenticator: bytes,
                 salt: bytes | None = None) -> bytes:
    """Salt-encrypt MS-MPPE-Send/Recv-Key (RFC 2548 section 2.4.2); returns salt + ciphertext."""
    n = len(value)
    if n > 239:
        raise ValueError(f"value of {n} octets exceeds 239 for salt encryption")
    if salt is None:
        r = os.urandom(2)
        salt = bytes((r[0] | 0x80, r[1]))
    elif len(salt) != 2 or not salt[0] & 0x80:
        raise ValueError("salt must be 2 octets with the high bit set")
    plain = bytes((n,)) + value
    plain += bytes(-len(plain) % 16)
    out = [salt]
    last = request_authenticator + salt
    for i in range(0, len(plain), 16):
        last = _xor16(plain[i:i + 16], _md5(secret + last).digest())
        out.append(last)
    return b"".join(out)


def salt_decrypt(value: bytes, secret: bytes, request_authenticator: bytes) -> bytes | None:
    """Reverse :func:`salt_encrypt`; None if the length or the inner length byte is wrong."""
    n = len(value)
    if n < 18 or (n - 2) % 16:
        return None
    salt = value[:2]
    out = []
    last = request_authenticator + salt
    for i in range(2, n, 16):
        block = value[i:i + 16]
        out.append(_xor16(block, _md5(secret + last).digest()))
        last = block
    plain = b"".join(out)
    inner = plain[0]
    if inner > len(plain) - 1:
        return None
    return plain[1:1 + inner]


def _py_request_key(host: str, port: int, ident: int, authenticator: bytes) -> tuple[str, int, int, bytes]:
    """The duplicate cache's key for a request (RFC 5080 section 2.2.2).  The C version returns the
    same tuple, untracked by the cycle collector (see aaad.radius.dedup)."""
    return (host, port, ident, authenticator)


# -- implementation selection ---------------------------------------------------
#
# The public names below are the Python functions above, or the C versions of
# aaad/radius/_speedups.c when that extension is built (setup.py builds it when a
# compiler is there; it is optional) and AAAD_PURE_PYTHON is not set to 1.  The C
# functions have the same semantics (tests/radius/test_speedups.py compares them);
# they hand every call they don't handle natively (unusual argument types, calls
# that raise ValueError) to the Python function in _PY_FUNCTIONS.

_PY_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "decode": _py_decode,
    "verify_message_authenticator": _py_verify_message_authenticator,
    "verify_request_authenticator": _py_verify_request_authenticator,
    "verify_response_authenticator": _py_verify_response_authenticator,
    "encode_reply": _py_encode_reply,
    "pap_hide": _py_pap_hide,
    "pap_unhide": _py_pap_unhide,
    "_hmac_md5": _py_hmac_md5,
    "request_key": _py_request_key,
}

decode = _py_decode
verify_message_authenticator = _py_verify_message_authenticator
verify_request_authenticator = _py_verify_request_authenticator
verify_response_authenticator = _py_verify_response_authenticator
encode_reply = _py_encode_reply
pap_hide = _py_pap_hide
pap_unhide = _py_pap_unhide
_hmac_md5 = _py_hmac_md5
request_key = _py_request_key
IMPLEMENTATION = "python"
"""Which implementation the public functions are: "c" (the _speedups extension) or "python"."""
_SPEEDUPS_UNUSABLE = ""
"""Why the extension is not there: not built (no compiler at install time) or refused Packet."""

try:
    from aaad.radius import _speedups as _speedups
    _speedups.init(Packet, MalformedPacket, KNOWN_CODES, DEFAULT_TILED_VENDORS, _PY_FUNCTIONS)
except (ImportError, TypeError) as e:
    _speedups = None  # type: ignore[assignment]
    _SPEEDUPS_UNUSABLE = f"{type(e).__name__}: {e}"

if _speedups is not None and os.environ.get("AAAD_PURE_PYTHON", "") in ("", "0"):
    decode = _speedups.decode
    verify_message_authenticator = _speedups.verify_message_authenticator
    verify_request_authenticator = _speedups.verify_request_authenticator
    verify_response_authenticator = _speedups.verify_response_authenticator
    encode_reply = _speedups.encode_reply
    pap_hide = _speedups.pap_hide
    pap_unhide = _speedups.pap_unhide
    _hmac_md5 = _speedups._hmac_md5
    request_key = _speedups.request_key
    IMPLEMENTATION = "c"
