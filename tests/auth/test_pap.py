"""Tests for the PAP credential check."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aaad.auth import pap


def test_equal_password_accepted() -> None:
    """The stored password itself is accepted."""
    assert pap.check(b"s3cret", b"s3cret")


def test_wrong_password_rejected() -> None:
    """A password differing in one octet is rejected."""
    assert not pap.check(b"s3creT", b"s3cret")


def test_unequal_lengths_rejected_without_error() -> None:
    """A prefix, an extension and the empty string are rejected, not errors."""
    assert not pap.check(b"s3cre", b"s3cret")
    assert not pap.check(b"s3cret\x00", b"s3cret")
    assert not pap.check(b"", b"s3cret")


def test_empty_password_matches_only_empty() -> None:
    """An empty stored password matches only an empty given password."""
    assert pap.check(b"", b"")
    assert not pap.check(b"x", b"")


def test_non_ascii_password() -> None:
    """UTF-8 passwords compare octet for octet."""
    assert pap.check("pässwörd".encode(), "pässwörd".encode())
    assert not pap.check("passwörd".encode(), "pässwörd".encode())


@given(st.binary(max_size=128), st.binary(max_size=128))
def test_check_is_equality(given_password: bytes, stored: bytes) -> None:
    """check() agrees with plain equality for any pair of byte strings."""
    assert pap.check(given_password, stored) == (given_password == stored)
