"""Values made storable before they reach the database.

What a NAS sends is bytes; what a column takes is narrower: PostgreSQL
refuses NUL in text (a whole batch fails with it), and integers beyond a
column's range.  These helpers clean a value so it can always be written;
callers count what they changed (an anomaly, never a lost request).
"""
from __future__ import annotations

INT32_MAX = (1 << 31) - 1
INT64_MAX = (1 << 63) - 1

#: What replaces a NUL: the Unicode replacement character, as undecodable
#: bytes already become, so two names differing only there stay apart.
NUL_REPLACEMENT = "\ufffd"


def clean_text(s: str, max_chars: int | None = None) -> str:
    """``s`` with every NUL replaced and cut to ``max_chars`` characters."""
    if "\x00" in s:
        s = s.replace("\x00", NUL_REPLACEMENT)
    if max_chars is not None and len(s) > max_chars:
        s = s[:max_chars]
    return s


def clamp(n: int, high: int, low: int = 0) -> int:
    """``n`` brought into ``[low, high]``."""
    return max(low, min(n, high))
