"""Pre-accounting: bound and clean what a NAS claims, before the session fold.

A NAS may send values that are absurd (a Acct-Delay-Time of 0xFFFFFFF0
puts the event in 1890) or that a column cannot hold (Gigawords of 2^31 and
more overflow a signed 64-bit counter; 32-bit integers of 2^31 and more
overflow PostgreSQL's ``integer``; NUL bytes are refused in text).  Each
helper returns a value that is safe to fold and store, and appends the
kind of anomaly to ``notes`` when it had to change one; the server counts
them (``acct_anomalies_total{kind}``) and records the request anyway.

The rules:

- Acct-Delay-Time above ``Bounds.max_delay`` is clamped to it
  (``delay_clamped``): the event time is then later than the NAS claims,
  which moves a start or last-update time, never a counter.
- Acct-Session-Time above ``Bounds.max_session_time`` is clamped
  (``session_time_clamped``).
- An octet counter (Gigawords folded in) above ``sessions.COUNTER_MAX`` is
  clamped to it (``counter_clamped``).
- Acct-Terminate-Cause and Acct-Interim-Interval above 2^31 - 1 are
  clamped to it (``integer_clamped``).
- NUL in a text attribute becomes U+FFFD (``nul_replaced``).
- 32-bit wraps are read later, against the stored session
  (``sessions.read_counters``: ``counter_wrapped``, ``counter_backwards``).
"""
from __future__ import annotations

from dataclasses import dataclass

from aaad.dbsafe import INT32_MAX, clean_text
from accounting.sessions import COUNTER_MAX

DELAY = "delay_clamped"
SESSION_TIME = "session_time_clamped"
COUNTER = "counter_clamped"
INTEGER = "integer_clamped"
NUL = "nul_replaced"


@dataclass(frozen=True, slots=True)
class Bounds:
    """What a NAS may claim (seconds); the ``[accounting]`` config sets them."""
    max_delay: int = 86_400
    max_session_time: int = 366 * 86_400


def delay(n: int, bounds: Bounds, notes: list[str]) -> int:
    """Acct-Delay-Time, at most ``bounds.max_delay``."""
    if n > bounds.max_delay:
        notes.append(DELAY)
        return bounds.max_delay
    return n


def session_time(n: int | None, bounds: Bounds, notes: list[str]) -> int | None:
    """Acct-Session-Time, at most ``bounds.max_session_time``."""
    if n is not None and n > bounds.max_session_time:
        notes.append(SESSION_TIME)
        return bounds.max_session_time
    return n


def counter(low: int | None, giga: int | None, notes: list[str]) -> int | None:
    """An octet counter from its low 32 bits and Gigawords, at most ``COUNTER_MAX``."""
    if low is None and giga is None:
        return None
    n = ((giga or 0) << 32) | (low or 0)
    if n > COUNTER_MAX:
        notes.append(COUNTER)
        return COUNTER_MAX
    return n


def int32(n: int | None, notes: list[str]) -> int | None:
    """A 32-bit unsigned value for a signed 32-bit column: at most 2^31 - 1."""
    if n is not None and n > INT32_MAX:
        notes.append(INTEGER)
        return INT32_MAX
    return n


def text(raw: bytes | None, notes: list[str]) -> str | None:
    """A text attribute as UTF-8 (undecodable bytes replaced), NUL replaced."""
    if raw is None:
        return None
    s = raw.decode("utf-8", "replace")
    if "\x00" in s:
        notes.append(NUL)
        s = clean_text(s)
    return s


def class_text(raw: bytes | None) -> str | None:
    """A Class value as text: as is when printable ASCII (ours are), else ``0x`` + hex."""
    if not raw:
        return None
    if all(0x20 <= b < 0x7F for b in raw):
        return raw.decode("ascii")
    return "0x" + raw.hex()
