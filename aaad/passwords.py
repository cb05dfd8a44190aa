"""People's passwords (customers' portal passwords, registrations, console accounts): argon2id hashes.

One hasher for all of them, with argon2-cffi's default parameters (RFC 9106's low-memory
profile: 64 MiB, 3 passes, 4 lanes).  A hash records its parameters, so hashes made with other
ones still verify.  RADIUS logins' passwords are not here: PAP, CHAP and MS-CHAP need them
recoverable (see ``aaad.crypto``).
"""
from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_dummy: str | None = None


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, to store."""
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash; False for an empty password, no hash or one
    that cannot be read."""
    if not stored or not password:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def same_work(password: str) -> None:
    """Verify ``password`` against a random hash: what a check does when no account matches, so the
    time it takes does not tell a stranger whether an address has an account."""
    global _dummy
    if _dummy is None:
        _dummy = _hasher.hash(secrets.token_urlsafe(16))
    verify(_dummy, password or "x")


def use(hasher: PasswordHasher) -> PasswordHasher:
    """Hash with ``hasher`` from now on; returns the one used until now.  For tests, which hash
    thousands of passwords and use cheaper parameters."""
    global _hasher, _dummy
    old, _hasher, _dummy = _hasher, hasher, None
    return old
