"""A token bucket for pacing sends (enforcement's CoA, notify's messages) on a driven clock.

``rate`` tokens a second accrue up to ``burst``; each send takes one.  A bucket with rate 0
never holds anything back.  :meth:`TokenBucket.take` either takes a token (0.0: send now) or
says how long until one is due, so the caller schedules its next look then instead of polling.
"""
from __future__ import annotations

from typing import Any

#: Clock floats: 0.0999999 s at 10/s is a whole token.
_WHOLE = 0.999
#: The shortest wait handed back: a float shy of a whole token must not spin on a due call.
MIN_WAIT = 0.001


class TokenBucket:
    """``rate`` sends a second, bursts of up to ``burst_seconds`` worth (at least one)."""

    def __init__(self, clock: Any, rate: float, burst_seconds: float):
        self.clock = clock
        self.rate = rate
        self.burst = max(1.0, rate * burst_seconds)
        self.tokens = self.burst
        self._refilled = clock.seconds()

    def take(self) -> float:
        """Take a token if one is there (0.0: send now); else the seconds until one is due."""
        if not self.rate:
            return 0.0
        now = self.clock.seconds()
        self.tokens = min(self.burst, self.tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self.tokens < _WHOLE:
            return max(MIN_WAIT, (_WHOLE - self.tokens) / self.rate)
        self.tokens -= 1
        return 0.0
