"""PAP credential check (RFC 2865 §5.2).

The User-Password attribute is unhidden by the codec; this module only
compares the cleartext the peer sent with the stored cleartext.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["check"]


def check(cleartext_given: bytes, password: bytes) -> bool:
    """Return whether the PAP password the peer sent equals the stored one.

    ``cleartext_given`` is the unhidden User-Password with its NUL padding
    already removed. Both sides are hashed to a fixed length first, so the
    comparison takes the same time whatever the lengths and wherever the
    first difference is.
    """
    given_digest = hashlib.sha256(cleartext_given).digest()
    stored_digest = hashlib.sha256(password).digest()
    return hmac.compare_digest(given_digest, stored_digest)
