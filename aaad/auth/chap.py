"""CHAP credential check (RFC 1994 §4.1, RFC 2865 §5.3 and §5.40)."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["CHAP_PASSWORD_LENGTH", "check", "response"]

CHAP_PASSWORD_LENGTH = 17
"""Octets in a CHAP-Password value: CHAP Ident (1) + MD5 response (16)."""


def response(ident: int, password: bytes, challenge: bytes) -> bytes:
    """Return the 16-octet CHAP response MD5(Ident + secret + challenge)."""
    return hashlib.md5(bytes((ident,)) + password + challenge).digest()


def check(chap_password: bytes, challenge: bytes, password: bytes) -> bool:
    """Return whether a CHAP-Password value answers ``challenge`` for ``password``.

    ``chap_password`` is the 17-octet CHAP-Password attribute value.
    ``challenge`` is the CHAP-Challenge attribute if present, else the
    Request Authenticator; the caller chooses. A value of the wrong length
    is False, never an exception.
    """
    if len(chap_password) != CHAP_PASSWORD_LENGTH:
        return False
    expected = response(chap_password[0], password, challenge)
    return hmac.compare_digest(expected, chap_password[1:])
