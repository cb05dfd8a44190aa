"""Tests for the CHAP credential check (RFC 1994, RFC 2865 §5.3)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from aaad.auth import chap

CHALLENGE = bytes.fromhex("102DB5DF085D3041A1B2C3D4E5F60718")
PASSWORD = b"sepp"
IDENT = 0x2A
# MD5(Ident + secret + challenge), computed with hashlib directly.
RESPONSE = hashlib.md5(bytes((IDENT,)) + PASSWORD + CHALLENGE).digest()


def test_known_vector_accepted() -> None:
    """A CHAP-Password built from MD5(ident + password + challenge) is accepted."""
    assert chap.check(bytes((IDENT,)) + RESPONSE, CHALLENGE, PASSWORD)


def test_published_vector() -> None:
    """The PEAR Crypt_CHAP vector (ident 1, "sepp") gives the published response."""
    response = chap.response(1, b"sepp", bytes.fromhex("102DB5DF085D3041"))
    assert response.hex() == "d39bfaf5d6855a948c8c81a85947502c"


def test_wrong_password_rejected() -> None:
    """The same CHAP-Password fails against another password."""
    assert not chap.check(bytes((IDENT,)) + RESPONSE, CHALLENGE, b"Sepp")


def test_wrong_ident_rejected() -> None:
    """The ident octet is part of the hash, so changing it fails."""
    assert not chap.check(bytes((IDENT + 1,)) + RESPONSE, CHALLENGE, PASSWORD)


def test_wrong_challenge_rejected() -> None:
    """A response to another challenge fails (e.g. authenticator vs CHAP-Challenge)."""
    assert not chap.check(bytes((IDENT,)) + RESPONSE, CHALLENGE[::-1], PASSWORD)


def test_wrong_length_false() -> None:
    """CHAP-Password values that are not 17 octets are False, not errors."""
    value = bytes((IDENT,)) + RESPONSE
    assert not chap.check(value[:-1], CHALLENGE, PASSWORD)
    assert not chap.check(value + b"\x00", CHALLENGE, PASSWORD)
    assert not chap.check(b"", CHALLENGE, PASSWORD)


@given(
    st.integers(0, 255),
    st.binary(max_size=64),
    st.binary(min_size=1, max_size=64),
    st.integers(0, 16 * 8 - 1),
)
def test_round_trip_and_bit_flip(
    ident: int, password: bytes, challenge: bytes, bit: int
) -> None:
    """A computed response verifies and any single-bit flip in it fails."""
    value = bytearray(bytes((ident,)) + chap.response(ident, password, challenge))
    assert chap.check(bytes(value), challenge, password)
    value[1 + bit // 8] ^= 1 << (bit % 8)
    assert not chap.check(bytes(value), challenge, password)
