"""Time comes from the app's clock (an IReactorTime), never from time.time().

Tests pass ``twisted.internet.task.Clock``; the app passes the reactor.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def seconds(self) -> float: ...
    def callLater(self, delay: float, f, *args, **kwargs): ...  # noqa: N802 (Twisted's name)


def utcnow(clock: Clock) -> datetime:
    """The clock's now as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.seconds(), timezone.utc)

