"""Tests for MS-CHAPv1/v2 checks and MPPE keys (RFC 2433, 2548, 2759, 3079)."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aaad.auth import mschap

# RFC 2759 §9.2 "Hash Example".
USER = b"User"
PASSWORD = b"clientPass"
AUTH_CHALLENGE = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
PEER_CHALLENGE = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
CHALLENGE_HASH = bytes.fromhex("D02E4386BCE91226")
PASSWORD_HASH = bytes.fromhex("44EBBA8D5312B8D611474411F56989AE")
NT_RESPONSE = bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
PASSWORD_HASH_HASH = bytes.fromhex("41C00C584BD2D91C4017A2A12FA59F3F")
AUTHENTICATOR_RESPONSE = b"S=407A5589115FD0D6209F510FE9C04566932CDA56"

# RFC 3079 §3.5.3 "Sample Key Derivations" for 128-bit keys (same exchange).
MASTER_KEY = bytes.fromhex("FDECE3717A8C838CB388E527AE3CDD31")
SEND_START_KEY_128 = bytes.fromhex("8B7CDC149B993A1BA118CB153F56DCCB")

# RFC 2433 Appendix B.2 "Sample MS-CHAP Response" (also draft-ietf-pppext-
# mschap-00 §10, the CPAN Digest-MD4 and PEAR Crypt_CHAP test suites).
V1_PASSWORD = b"MyPw"
V1_CHALLENGE = bytes.fromhex("102DB5DF085D3041")
V1_NT_HASH = bytes.fromhex("FC156AF7EDCD6C0EDDE3337D427F4EAC")
V1_NT_RESPONSE = bytes.fromhex("4E9D3C8F9CFD385D5BF4D3246791956CA4C351AB409A3D61")


def v2_response(
    nt_response: bytes = NT_RESPONSE,
    peer_challenge: bytes = PEER_CHALLENGE,
    ident: int = 0x07,
) -> bytes:
    """Build an MS-CHAP2-Response value: Ident Flags Peer 8*0 NT-Response."""
    return bytes((ident, 0)) + peer_challenge + bytes(8) + nt_response


def v1_response(nt_response: bytes = V1_NT_RESPONSE, flags: int = 1, ident: int = 3) -> bytes:
    """Build an MS-CHAP-Response value: Ident Flags LM-Response NT-Response."""
    return bytes((ident, flags)) + bytes(24) + nt_response


# -- RFC 2759 §9.2 ------------------------------------------------------------


def test_rfc2759_nt_password_hash() -> None:
    """NtPasswordHash("clientPass") matches RFC 2759 §9.2."""
    assert mschap.nt_password_hash(PASSWORD) == PASSWORD_HASH


def test_rfc2759_password_hash_hash() -> None:
    """HashNtPasswordHash matches RFC 2759 §9.2."""
    assert mschap.hash_nt_password_hash(PASSWORD_HASH) == PASSWORD_HASH_HASH


def test_rfc2759_challenge_hash() -> None:
    """ChallengeHash matches RFC 2759 §9.2."""
    assert mschap.challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, USER) == CHALLENGE_HASH


def test_rfc2759_nt_response() -> None:
    """GenerateNTResponse matches RFC 2759 §9.2, with and without a precomputed hash."""
    assert (
        mschap.generate_nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, USER, PASSWORD)
        == NT_RESPONSE
    )
    assert (
        mschap.generate_nt_response(
            AUTH_CHALLENGE, PEER_CHALLENGE, USER, b"", nt_hash=PASSWORD_HASH
        )
        == NT_RESPONSE
    )


def test_rfc2759_authenticator_response() -> None:
    """GenerateAuthenticatorResponse gives the RFC 2759 §9.2 "S=" string."""
    got = mschap.generate_authenticator_response(
        PASSWORD, NT_RESPONSE, PEER_CHALLENGE, AUTH_CHALLENGE, USER
    )
    assert got == AUTHENTICATOR_RESPONSE


def test_rfc2759_des_key_expansion() -> None:
    """The 7-to-8 octet DES key expansion with parity matches RFC 2759 §9.3."""
    assert mschap._expand_des_key(V1_NT_HASH[0:7]) == bytes.fromhex("FD0B5B5E7F6E34D9")
    assert mschap._expand_des_key(V1_NT_HASH[7:14]) == bytes.fromhex("0E6E796737EA08FE")


def test_check_v2_rfc_vector_success() -> None:
    """check_v2 accepts the RFC 2759 §9.2 exchange and replies with the exact S= string."""
    result = mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE, v2_response())
    assert result.ok
    reply = dict(result.reply)
    assert reply[mschap.MS_CHAP2_SUCCESS] == b"\x07" + AUTHENTICATOR_RESPONSE
    assert reply[mschap.MS_MPPE_ENCRYPTION_POLICY] == struct.pack("!I", 1)
    assert reply[mschap.MS_MPPE_ENCRYPTION_TYPES] == struct.pack("!I", 6)
    assert len(reply[mschap.MS_MPPE_SEND_KEY]) == 16
    assert len(reply[mschap.MS_MPPE_RECV_KEY]) == 16
    assert [subtype for subtype, _ in result.reply] == [26, 17, 16, 7, 8]


def test_check_v2_precomputed_hash_same_result() -> None:
    """A precomputed nt_hash gives the same result as the cleartext password."""
    with_hash = mschap.check_v2(
        USER, b"ignored", AUTH_CHALLENGE, v2_response(), nt_hash=PASSWORD_HASH
    )
    assert with_hash == mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE, v2_response())


def test_check_v2_cached_hash_of_the_hash_same_result() -> None:
    """The per-login cached MD4 of the NT hash gives the RFC's success string, as computing it does;
    without nt_hash it is ignored (it belongs to the hash it was computed from)."""
    cached = mschap.hash_nt_password_hash(PASSWORD_HASH)
    fast = mschap.check_v2(USER, b"ignored", AUTH_CHALLENGE, v2_response(), nt_hash=PASSWORD_HASH,
                           nt_hash_hash=cached)
    assert fast == mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE, v2_response())
    assert dict(fast.reply)[mschap.MS_CHAP2_SUCCESS] == b"\x07" + AUTHENTICATOR_RESPONSE
    stray = mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE, v2_response(), nt_hash_hash=b"\0" * 16)
    assert stray == mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE, v2_response())


def test_check_v2_strips_domain() -> None:
    """A "DOMAIN\\" prefix on the User-Name is not part of the challenge hash."""
    result = mschap.check_v2(b"ACME\\User", PASSWORD, AUTH_CHALLENGE, v2_response())
    assert result.ok
    assert dict(result.reply)[mschap.MS_CHAP2_SUCCESS][1:] == AUTHENTICATOR_RESPONSE
    assert mschap.strip_domain(b"User") == b"User"
    assert mschap.strip_domain(b"A\\B\\C") == b"B\\C"


def test_check_v2_wrong_password() -> None:
    """A wrong password fails with MS-CHAP-Error E=691 R=0 C=... V=3."""
    result = mschap.check_v2(USER, b"clientPasS", AUTH_CHALLENGE, v2_response())
    assert not result.ok
    assert result.reply == [
        (
            mschap.MS_CHAP_ERROR,
            b"\x07E=691 R=0 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=Authentication failed",
        )
    ]


def test_check_v2_retry_challenge_in_error() -> None:
    """The C= field of the error carries the given retry challenge."""
    result = mschap.check_v2(
        USER, b"bad", AUTH_CHALLENGE, v2_response(), retry_challenge=bytes(range(16))
    )
    assert b" C=000102030405060708090A0B0C0D0E0F " in result.reply[0][1]


def test_check_v2_wrong_user() -> None:
    """The username is bound into the hash: another user fails."""
    assert not mschap.check_v2(b"user", PASSWORD, AUTH_CHALLENGE, v2_response()).ok


def test_check_v2_wrong_lengths() -> None:
    """Truncated or overlong responses, challenges or hashes fail without raising."""
    good = v2_response()
    assert not mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE, good[:-1]).ok
    assert not mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE, good + b"\x00").ok
    assert not mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE, b"").ok
    assert not mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE[:8], good).ok
    assert not mschap.check_v2(
        USER, PASSWORD, AUTH_CHALLENGE, good, nt_hash=PASSWORD_HASH[:15]
    ).ok
    empty = mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE, b"")
    assert empty.reply[0][1].startswith(b"\x00E=691 R=0 C=")


# -- RFC 3079 §3.5.3 ----------------------------------------------------------


def test_rfc3079_master_key() -> None:
    """GetMasterKey matches RFC 3079 §3.5.3."""
    assert mschap.get_master_key(PASSWORD_HASH_HASH, NT_RESPONSE) == MASTER_KEY


def test_rfc3079_start_keys_server_side() -> None:
    """The RFC 3079 §3.5.3 SendStartKey128 is the server's send key (Magic3)."""
    server_send = mschap.get_asymmetric_start_key(MASTER_KEY, 16, True, True)
    client_recv = mschap.get_asymmetric_start_key(MASTER_KEY, 16, False, False)
    server_recv = mschap.get_asymmetric_start_key(MASTER_KEY, 16, False, True)
    client_send = mschap.get_asymmetric_start_key(MASTER_KEY, 16, True, False)
    assert server_send == SEND_START_KEY_128
    # What one side sends with the other receives with.
    assert client_recv == server_send
    assert client_send == server_recv
    assert server_send != server_recv


def test_mppe_keys_go_to_the_right_attributes() -> None:
    """MS-MPPE-Send-Key is the server's send key, MS-MPPE-Recv-Key its receive key."""
    # RFC 2548 §2.4.2: MS-MPPE-Send-Key encrypts packets from the NAS to the
    # peer. The NAS is the PPP authenticator, the server of RFC 3079, so it
    # gets GetAsymetricStartKey(IsSend=TRUE, IsServer=TRUE), which RFC 3079
    # §3.5.3 lists as SendStartKey128. FreeRADIUS rlm_mschap
    # (mppe_chap2_get_keys128) and pppd agree.
    send_key, recv_key = mschap.mppe_master_keys_v2(PASSWORD_HASH, NT_RESPONSE)
    assert send_key == SEND_START_KEY_128
    assert recv_key == mschap.get_asymmetric_start_key(MASTER_KEY, 16, False, True)
    reply = dict(mschap.check_v2(USER, PASSWORD, AUTH_CHALLENGE, v2_response()).reply)
    assert reply[mschap.MS_MPPE_SEND_KEY] == send_key
    assert reply[mschap.MS_MPPE_RECV_KEY] == recv_key


# -- MS-CHAPv1 ----------------------------------------------------------------


def test_rfc2433_nt_hash_and_response() -> None:
    """NT hash and NT response for "MyPw" match RFC 2433 Appendix B.2."""
    assert mschap.nt_password_hash(V1_PASSWORD) == V1_NT_HASH
    assert mschap.challenge_response(V1_CHALLENGE, V1_NT_HASH) == V1_NT_RESPONSE


def test_rfc2433_vector_independent_implementation() -> None:
    """scapy's pure-Python MD4 and pycryptodome's DES (not the ones in use) agree on the v1 vector."""
    md4_module = pytest.importorskip("scapy.layers.tls.crypto.md4")
    from Crypto.Cipher import DES

    nt_hash = md4_module.MD4("MyPw".encode("utf-16-le")).digest()
    assert nt_hash == V1_NT_HASH

    def des(key7: bytes, block: bytes) -> bytes:
        """Encrypt one block with single DES; parity bits left zero (DES ignores them)."""
        bits = int.from_bytes(key7, "big")
        key8 = bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))
        return DES.new(key8, DES.MODE_ECB).encrypt(block)

    padded = nt_hash + bytes(5)
    response = b"".join(des(padded[i : i + 7], V1_CHALLENGE) for i in (0, 7, 14))
    assert response == V1_NT_RESPONSE


def test_lm_password_hash_vectors() -> None:
    """LmPasswordHash matches published values ("MyPw": PEAR Crypt_CHAP; "clientPass": RFC 3079 §2.5)."""
    assert mschap.lm_password_hash(b"MyPw").hex() == "75ba30198e6d1975aad3b435b51404ee"
    assert mschap.lm_password_hash(b"clientPass").hex() == "76a152936096d7830e2390227404afd2"
    assert mschap.lm_password_hash(b"fifteen-chars!!") == bytes(16)
    assert mschap.lm_password_hash("pässwd".encode()) == bytes(16)


def test_check_v1_success_with_mppe_keys() -> None:
    """check_v1 accepts the RFC 2433 vector and returns the plain 32-octet MS-CHAP-MPPE-Keys."""
    result = mschap.check_v1(V1_PASSWORD, V1_CHALLENGE, v1_response())
    assert result.ok
    [(subtype, keys)] = result.reply
    assert subtype == mschap.MS_CHAP_MPPE_KEYS
    assert len(keys) == 32
    assert keys[:8] == bytes.fromhex("75ba30198e6d1975")
    assert keys[8:24] == mschap.hash_nt_password_hash(V1_NT_HASH)
    assert keys[24:] == bytes(8)


def test_check_v1_precomputed_hash_same_result() -> None:
    """A precomputed nt_hash gives the same verdict and keys."""
    with_hash = mschap.check_v1(V1_PASSWORD, V1_CHALLENGE, v1_response(), nt_hash=V1_NT_HASH)
    assert with_hash == mschap.check_v1(V1_PASSWORD, V1_CHALLENGE, v1_response())


def test_check_v1_lm_only_rejected() -> None:
    """A response whose flags ask for the LM response is rejected (LM unsupported)."""
    result = mschap.check_v1(V1_PASSWORD, V1_CHALLENGE, v1_response(flags=0))
    assert not result.ok
    assert result.reply == [(mschap.MS_CHAP_ERROR, b"\x03E=691 R=0")]


def test_check_v1_wrong_password() -> None:
    """A wrong password fails with MS-CHAP-Error E=691 R=0."""
    result = mschap.check_v1(b"mypw", V1_CHALLENGE, v1_response())
    assert not result.ok
    assert result.reply == [(mschap.MS_CHAP_ERROR, b"\x03E=691 R=0")]


def test_check_v1_wrong_lengths() -> None:
    """Truncated responses, 16-octet challenges and short hashes fail without raising."""
    good = v1_response()
    assert not mschap.check_v1(V1_PASSWORD, V1_CHALLENGE, good[:-1]).ok
    assert not mschap.check_v1(V1_PASSWORD, V1_CHALLENGE, b"").ok
    assert not mschap.check_v1(V1_PASSWORD, V1_CHALLENGE * 2, good).ok
    assert not mschap.check_v1(V1_PASSWORD, V1_CHALLENGE, good, nt_hash=b"x").ok


def test_encrypt_mppe_keys_v1() -> None:
    """MS-CHAP-MPPE-Keys encryption is the RFC 2548 §2.4.1 MD5 chain, without salt."""
    plain = bytes(range(32))
    secret = b"testing123"
    authenticator = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    cipher = mschap.encrypt_mppe_keys_v1(plain, secret, authenticator)
    b1 = hashlib.md5(secret + authenticator).digest()
    c1 = bytes(p ^ b for p, b in zip(plain[:16], b1, strict=True))
    b2 = hashlib.md5(secret + c1).digest()
    c2 = bytes(p ^ b for p, b in zip(plain[16:], b2, strict=True))
    assert cipher == c1 + c2
    assert len(mschap.encrypt_mppe_keys_v1(plain[:24], secret, authenticator)) == 32


# -- properties ---------------------------------------------------------------

passwords = st.text(max_size=32).map(lambda s: s.encode("utf-8", "surrogatepass"))
usernames = st.binary(min_size=1, max_size=32).filter(lambda b: b"\\" not in b)


@settings(max_examples=100)
@given(
    usernames,
    passwords,
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 255),
    st.integers(0, 24 * 8 - 1),
)
def test_v2_round_trip_and_bit_flip(
    username: bytes,
    password: bytes,
    auth_challenge: bytes,
    peer_challenge: bytes,
    ident: int,
    bit: int,
) -> None:
    """A client built from the generating functions verifies; any NT-Response bit flip fails."""
    nt_response = mschap.generate_nt_response(auth_challenge, peer_challenge, username, password)
    response = v2_response(nt_response, peer_challenge, ident)
    result = mschap.check_v2(username, password, auth_challenge, response)
    assert result.ok
    expected = mschap.generate_authenticator_response(
        password, nt_response, peer_challenge, auth_challenge, username
    )
    assert dict(result.reply)[mschap.MS_CHAP2_SUCCESS] == bytes((ident,)) + expected
    flipped = bytearray(response)
    flipped[26 + bit // 8] ^= 1 << (bit % 8)
    assert not mschap.check_v2(username, password, auth_challenge, bytes(flipped)).ok


@settings(max_examples=100)
@given(passwords, st.binary(min_size=8, max_size=8), st.integers(0, 24 * 8 - 1))
def test_v1_round_trip_and_bit_flip(password: bytes, challenge: bytes, bit: int) -> None:
    """A v1 NT-Response computed by a client verifies; any single-bit flip fails."""
    nt_response = mschap.challenge_response(challenge, mschap.nt_password_hash(password))
    response = v1_response(nt_response)
    assert mschap.check_v1(password, challenge, response).ok
    flipped = bytearray(response)
    flipped[26 + bit // 8] ^= 1 << (bit % 8)
    assert not mschap.check_v1(password, challenge, bytes(flipped)).ok


@given(st.binary(max_size=60), st.binary(max_size=20), st.binary(max_size=60))
def test_arbitrary_input_never_raises(response: bytes, challenge: bytes, password: bytes) -> None:
    """Arbitrary bytes never raise; they just fail (with overwhelming probability)."""
    assert isinstance(mschap.check_v2(b"u", password, challenge, response), mschap.MschapResult)
    assert isinstance(mschap.check_v1(password, challenge, response), mschap.MschapResult)
