"""MS-CHAPv1 and MS-CHAPv2 credential checks with MPPE keys.

Pure functions over bytes: RFC 2433 (MS-CHAPv1), RFC 2759 (MS-CHAPv2),
RFC 3079 (MPPE key derivation) and RFC 2548 (the Microsoft vendor
attributes that carry them in RADIUS). MD4 comes from pycryptodome because
OpenSSL 3 dropped MD4 from hashlib. DES runs through ``cryptography``
(OpenSSL; single DES is a legacy-provider cipher there) as Triple-DES with
three equal keys, which is single DES: per call it measured about 1.5 times
faster than pycryptodome's DES, whose per-key set-up dominates a failed
check (see ``bench/bench_mschap.py``).  Where the optional C extension
``aaad/radius/_speedups.c`` is built (and ``AAAD_PURE_PYTHON`` is not 1), its
DES does the block instead: OpenSSL's per-key context set-up cost 6 us a
block, three blocks a request; the C one takes 1.5.

The replies hold MPPE keys in the clear; encrypting them for the wire is the
server's job (RFC 2548 §2.4.2/§2.4.3 salt encryption for MS-MPPE-Send-Key and
MS-MPPE-Recv-Key with the shared secret and the Request Authenticator;
:func:`encrypt_mppe_keys_v1` for MS-CHAP-MPPE-Keys).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field

from Crypto.Hash import MD4
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from aaad.radius import codec

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # cryptography < 43
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

__all__ = [
    "MS_CHAP_ERROR",
    "MS_CHAP_MPPE_KEYS",
    "MS_CHAP2_SUCCESS",
    "MS_MPPE_ENCRYPTION_POLICY",
    "MS_MPPE_ENCRYPTION_TYPES",
    "MS_MPPE_RECV_KEY",
    "MS_MPPE_SEND_KEY",
    "MICROSOFT_VENDOR_ID",
    "MschapResult",
    "challenge_hash",
    "challenge_response",
    "check_v1",
    "check_v2",
    "encrypt_mppe_keys_v1",
    "generate_authenticator_response",
    "generate_nt_response",
    "get_asymmetric_start_key",
    "get_master_key",
    "hash_nt_password_hash",
    "lm_password_hash",
    "mppe_master_keys_v2",
    "nt_password_hash",
    "strip_domain",
]

MICROSOFT_VENDOR_ID = 311
"""Vendor-Id of the Microsoft vendor-specific attributes (RFC 2548)."""

# Microsoft vendor sub-attribute types (RFC 2548 §2).
MS_CHAP_ERROR = 2
MS_MPPE_ENCRYPTION_POLICY = 7
MS_MPPE_ENCRYPTION_TYPES = 8
MS_CHAP_MPPE_KEYS = 12
MS_MPPE_SEND_KEY = 16
MS_MPPE_RECV_KEY = 17
MS_CHAP2_SUCCESS = 26

ENCRYPTION_POLICY_ALLOWED = 1
"""MS-MPPE-Encryption-Policy: encryption allowed (not required)."""
ENCRYPTION_TYPES_RC4_40_OR_128 = 6
"""MS-MPPE-Encryption-Types: RC4 40-bit (2) or 128-bit (4) allowed."""

MS_CHAP_RESPONSE_LENGTH = 50
MS_CHAP2_RESPONSE_LENGTH = 50
NT_RESPONSE_LENGTH = 24
FLAG_USE_NT_RESPONSE = 0x01

# RFC 2759 §8.7 GenerateAuthenticatorResponse.
_AUTH_MAGIC1 = b"Magic server to client signing constant"
_AUTH_MAGIC2 = b"Pad to make it do more than one iteration"
# RFC 3079 §3.4 GetMasterKey / GetAsymmetricStartKey.
_MPPE_MAGIC1 = b"This is the MPPE Master Key"
_MPPE_MAGIC2 = (
    b"On the client side, this is the send key; "
    b"on the server side, it is the receive key."
)
_MPPE_MAGIC3 = (
    b"On the client side, this is the receive key; "
    b"on the server side, it is the send key."
)
_SHS_PAD1 = b"\x00" * 40
_SHS_PAD2 = b"\xf2" * 40
# RFC 2433 Appendix A LmPasswordHash: DES of this constant.
_LM_MAGIC = b"KGS!@#$%"


@dataclass(frozen=True, slots=True)
class MschapResult:
    """Outcome of an MS-CHAP check.

    ``reply`` holds Microsoft (vendor 311) sub-attributes as (subtype, value)
    for the Access-Accept or Access-Reject. Key attributes are PLAIN: the
    server must encrypt MS-MPPE-Send-Key/MS-MPPE-Recv-Key with RFC 2548 salt
    encryption and MS-CHAP-MPPE-Keys with :func:`encrypt_mppe_keys_v1`.
    """

    ok: bool
    reply: list[tuple[int, bytes]] = field(default_factory=list)


# -- primitives ---------------------------------------------------------------


def nt_password_hash(password: bytes) -> bytes:
    """Return NtPasswordHash: MD4 of the UTF-16LE password (RFC 2759 §8.3).

    ``password`` is UTF-8; invalid UTF-8 is decoded with surrogate escapes
    so that any byte string still hashes deterministically.
    """
    text = password.decode("utf-8", errors="surrogateescape")
    unicode_password = text.encode("utf-16-le", errors="surrogatepass")
    return MD4.new(unicode_password).digest()


def hash_nt_password_hash(password_hash: bytes) -> bytes:
    """Return HashNtPasswordHash: MD4 of the NT password hash (RFC 2759 §8.4)."""
    return MD4.new(password_hash).digest()


def lm_password_hash(password: bytes) -> bytes:
    """Return LmPasswordHash (RFC 2433 Appendix A), or 16 zeros if none exists.

    The LAN Manager hash exists only for ASCII passwords of at most 14
    characters; for any other password this returns zeros, as Windows does.
    """
    if len(password) > 14 or not password.isascii():
        return bytes(16)
    padded = password.upper().ljust(14, b"\x00")
    return _des_encrypt(_LM_MAGIC, padded[:7]) + _des_encrypt(_LM_MAGIC, padded[7:])


def strip_domain(username: bytes) -> bytes:
    """Return the User-Name without a ``DOMAIN\\`` prefix (RFC 2759 §8.2).

    Like FreeRADIUS rlm_mschap, everything up to the first backslash goes.
    """
    _, sep, rest = username.partition(b"\\")
    return rest if sep else username


def challenge_hash(
    peer_challenge: bytes, authenticator_challenge: bytes, username: bytes
) -> bytes:
    """Return ChallengeHash: the first 8 octets of SHA1 (RFC 2759 §8.2).

    ``username`` is hashed as given; callers strip the domain first.
    """
    digest = hashlib.sha1(peer_challenge + authenticator_challenge + username).digest()
    return digest[:8]


def _odd_parity_octet(septet: int) -> int:
    """Return ``septet`` shifted left with an odd-parity low bit."""
    return (septet << 1) | (bin(septet).count("1") + 1) % 2


_PARITY_OCTET = tuple(_odd_parity_octet(septet) for septet in range(128))
_SEPTET_SHIFTS = (49, 42, 35, 28, 21, 14, 7, 0)
_ECB = modes.ECB()


def _expand_des_key(key7: bytes) -> bytes:
    """Spread 56 key bits over 8 octets with odd parity (RFC 2759 §8.6, §9.3)."""
    bits = int.from_bytes(key7, "big")
    return bytes([_PARITY_OCTET[(bits >> shift) & 0x7F] for shift in _SEPTET_SHIFTS])


def _des_encrypt(clear8: bytes, key7: bytes) -> bytes:
    """Return DesEncrypt: one DES-ECB block under a 7-octet key (RFC 2759 §8.6).

    Triple-DES EDE with K1 = K2 = K3 reduces to single DES.
    """
    key8 = _expand_des_key(key7)
    encryptor = Cipher(TripleDES(key8 + key8 + key8), _ECB).encryptor()
    return encryptor.update(clear8)


_py_des_encrypt = _des_encrypt
if codec.IMPLEMENTATION == "c":   # the codec's one choice (built, AAAD_PURE_PYTHON not set): its C DES
    _des_encrypt = codec._speedups.des_encrypt   # noqa: F811  (same semantics; tests compare them)


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    """Return ChallengeResponse: the 24-octet DES response (RFC 2759 §8.5)."""
    z = password_hash.ljust(21, b"\x00")
    return (
        _des_encrypt(challenge, z[0:7])
        + _des_encrypt(challenge, z[7:14])
        + _des_encrypt(challenge, z[14:21])
    )


def generate_nt_response(
    auth_challenge: bytes,
    peer_challenge: bytes,
    username: bytes,
    password: bytes,
    *,
    nt_hash: bytes | None = None,
) -> bytes:
    """Return the MS-CHAPv2 NT-Response a peer sends (RFC 2759 §8.1).

    The domain prefix of ``username`` is stripped before hashing.
    """
    password_hash = nt_hash if nt_hash is not None else nt_password_hash(password)
    challenge = challenge_hash(peer_challenge, auth_challenge, strip_domain(username))
    return challenge_response(challenge, password_hash)


def generate_authenticator_response(
    password: bytes,
    nt_response: bytes,
    peer_challenge: bytes,
    authenticator_challenge: bytes,
    username: bytes,
    *,
    nt_hash: bytes | None = None,
) -> bytes:
    """Return the 42-octet ``S=<40 uppercase hex>`` string (RFC 2759 §8.7).

    The domain prefix of ``username`` is stripped before hashing.
    """
    password_hash = nt_hash if nt_hash is not None else nt_password_hash(password)
    return _authenticator_response(
        hash_nt_password_hash(password_hash),
        nt_response,
        challenge_hash(peer_challenge, authenticator_challenge, strip_domain(username)),
    )


def _authenticator_response(
    password_hash_hash: bytes, nt_response: bytes, challenge: bytes
) -> bytes:
    """Return ``S=`` + hex of the two SHA1 rounds of RFC 2759 §8.7."""
    digest = hashlib.sha1(password_hash_hash + nt_response + _AUTH_MAGIC1).digest()
    digest = hashlib.sha1(digest + challenge + _AUTH_MAGIC2).digest()
    return b"S=" + digest.hex().upper().encode("ascii")


def get_master_key(password_hash_hash: bytes, nt_response: bytes) -> bytes:
    """Return the 16-octet MPPE MasterKey (RFC 3079 §3.4 GetMasterKey)."""
    return hashlib.sha1(password_hash_hash + nt_response + _MPPE_MAGIC1).digest()[:16]


def get_asymmetric_start_key(
    master_key: bytes, key_length: int, is_send: bool, is_server: bool
) -> bytes:
    """Return a start key (RFC 3079 §3.4 GetAsymetricStartKey).

    The server's send key is the client's receive key (Magic3) and the
    server's receive key is the client's send key (Magic2).
    """
    magic = _MPPE_MAGIC3 if is_send == is_server else _MPPE_MAGIC2
    digest = hashlib.sha1(master_key + _SHS_PAD1 + magic + _SHS_PAD2).digest()
    return digest[:key_length]


def mppe_master_keys_v2(nt_hash: bytes, nt_response: bytes) -> tuple[bytes, bytes]:
    """Return the server's 128-bit (send_key, recv_key) for MS-CHAPv2.

    RFC 2548 §2.4.2: MS-MPPE-Send-Key is the key the NAS (the PPP
    authenticator, i.e. the server side of RFC 3079) encrypts with, so it
    takes IsSend=TRUE, IsServer=TRUE (Magic3); MS-MPPE-Recv-Key takes
    IsSend=FALSE, IsServer=TRUE (Magic2). FreeRADIUS rlm_mschap does the same.
    """
    master_key = get_master_key(hash_nt_password_hash(nt_hash), nt_response)
    send_key = get_asymmetric_start_key(master_key, 16, is_send=True, is_server=True)
    recv_key = get_asymmetric_start_key(master_key, 16, is_send=False, is_server=True)
    return send_key, recv_key


def encrypt_mppe_keys_v1(
    plain32: bytes, secret: bytes, request_authenticator: bytes
) -> bytes:
    """Encrypt an MS-CHAP-MPPE-Keys value for the wire (RFC 2548 §2.4.1).

    No salt: b1 = MD5(secret + Request Authenticator), bi = MD5(secret +
    c(i-1)), c(i) = p(i) xor b(i), as for User-Password. The plaintext is
    zero-padded to a multiple of 16 octets.
    """
    if len(plain32) % 16:
        plain32 = plain32 + bytes(16 - len(plain32) % 16)
    out = bytearray()
    previous = request_authenticator
    for start in range(0, len(plain32), 16):
        pad = hashlib.md5(secret + previous).digest()
        block = bytes(p ^ b for p, b in zip(plain32[start : start + 16], pad, strict=True))
        out += block
        previous = block
    return bytes(out)


def _int32(value: int) -> bytes:
    """Encode an RFC 2548 integer attribute value (4 octets, network order)."""
    return struct.pack("!I", value)


# -- checks -------------------------------------------------------------------


def check_v2(
    username: bytes,
    password: bytes,
    authenticator_challenge: bytes,
    ms_chap2_response: bytes,
    nt_hash: bytes | None = None,
    *,
    retry_challenge: bytes | None = None,
    nt_hash_hash: bytes | None = None,
) -> MschapResult:
    """Verify an MS-CHAP2-Response (RFC 2759, RFC 2548 §2.3.2).

    ``ms_chap2_response`` is the 50-octet value Ident(1) Flags(1)
    Peer-Challenge(16) Reserved(8) NT-Response(24); ``authenticator_challenge``
    is the 16-octet MS-CHAP-Challenge. ``nt_hash`` skips MD4 of the password, and
    ``nt_hash_hash`` (with it: MD4 of ``nt_hash``, cached per login) the MD4 of the success.
    On success the reply holds MS-CHAP2-Success, the PLAIN MPPE send/receive
    keys (the server salt-encrypts them) and the encryption policy and types.
    On failure it holds MS-CHAP-Error ``E=691 R=0``; its ``C=`` field names
    ``retry_challenge`` (default: the authenticator challenge; retry is
    disallowed anyway). Wrong lengths fail, never raise.
    """
    ident = ms_chap2_response[0] if ms_chap2_response else 0
    if (
        len(ms_chap2_response) != MS_CHAP2_RESPONSE_LENGTH
        or len(authenticator_challenge) != 16
        or (nt_hash is not None and len(nt_hash) != 16)
    ):
        return _failure_v2(ident, authenticator_challenge, retry_challenge)
    peer_challenge = ms_chap2_response[2:18]
    nt_response = ms_chap2_response[26:50]
    password_hash = nt_hash if nt_hash is not None else nt_password_hash(password)
    challenge = challenge_hash(
        peer_challenge, authenticator_challenge, strip_domain(username)
    )
    expected = challenge_response(challenge, password_hash)
    if not hmac.compare_digest(expected, nt_response):
        return _failure_v2(ident, authenticator_challenge, retry_challenge)

    password_hash_hash = (nt_hash_hash if nt_hash is not None and nt_hash_hash is not None
                          else hash_nt_password_hash(password_hash))
    authenticator_response = _authenticator_response(
        password_hash_hash, nt_response, challenge
    )
    master_key = get_master_key(password_hash_hash, nt_response)
    send_key = get_asymmetric_start_key(master_key, 16, is_send=True, is_server=True)
    recv_key = get_asymmetric_start_key(master_key, 16, is_send=False, is_server=True)
    return MschapResult(
        ok=True,
        reply=[
            (MS_CHAP2_SUCCESS, bytes((ident,)) + authenticator_response),
            (MS_MPPE_RECV_KEY, recv_key),
            (MS_MPPE_SEND_KEY, send_key),
            (MS_MPPE_ENCRYPTION_POLICY, _int32(ENCRYPTION_POLICY_ALLOWED)),
            (MS_MPPE_ENCRYPTION_TYPES, _int32(ENCRYPTION_TYPES_RC4_40_OR_128)),
        ],
    )


def _failure_v2(
    ident: int, authenticator_challenge: bytes, retry_challenge: bytes | None
) -> MschapResult:
    """Return the MS-CHAPv2 failure result with its MS-CHAP-Error (RFC 2759 §6)."""
    challenge = retry_challenge if retry_challenge is not None else authenticator_challenge
    challenge = challenge[:16].ljust(16, b"\x00")
    message = (
        b"E=691 R=0 C="
        + challenge.hex().upper().encode("ascii")
        + b" V=3 M=Authentication failed"
    )
    return MschapResult(ok=False, reply=[(MS_CHAP_ERROR, bytes((ident,)) + message)])


def check_v1(
    password: bytes,
    challenge: bytes,
    ms_chap_response: bytes,
    nt_hash: bytes | None = None,
) -> MschapResult:
    """Verify an MS-CHAP-Response (RFC 2433, RFC 2548 §2.1.3).

    ``ms_chap_response`` is the 50-octet value Ident(1) Flags(1)
    LM-Response(24) NT-Response(24); ``challenge`` is the 8-octet
    MS-CHAP-Challenge. Only the NT-Response is supported: a response whose
    Flags lack bit 0x01 ("use NT-Response") is LM-only and is rejected, as
    the LAN Manager response is too weak to accept. On success the reply
    holds the PLAIN 32-octet MS-CHAP-MPPE-Keys (LM-Key 8 + NT-Key 16 + 8
    zeros); the server encrypts it with :func:`encrypt_mppe_keys_v1`. Like
    FreeRADIUS and pppd, the NT-Key is the hash of the NT hash (RFC 3079 §2),
    which is what peers actually use. Wrong lengths fail, never raise.
    """
    ident = ms_chap_response[0] if ms_chap_response else 0
    if (
        len(ms_chap_response) != MS_CHAP_RESPONSE_LENGTH
        or len(challenge) != 8
        or (nt_hash is not None and len(nt_hash) != 16)
        or not ms_chap_response[1] & FLAG_USE_NT_RESPONSE
    ):
        return _failure_v1(ident)
    nt_response = ms_chap_response[26:50]
    password_hash = nt_hash if nt_hash is not None else nt_password_hash(password)
    expected = challenge_response(challenge, password_hash)
    if not hmac.compare_digest(expected, nt_response):
        return _failure_v1(ident)
    lm_key = lm_password_hash(password)[:8]
    nt_key = hash_nt_password_hash(password_hash)
    return MschapResult(
        ok=True, reply=[(MS_CHAP_MPPE_KEYS, lm_key + nt_key + bytes(8))]
    )


def _failure_v1(ident: int) -> MschapResult:
    """Return the MS-CHAPv1 failure result with its MS-CHAP-Error (RFC 2433 §5)."""
    return MschapResult(ok=False, reply=[(MS_CHAP_ERROR, bytes((ident,)) + b"E=691 R=0")])
