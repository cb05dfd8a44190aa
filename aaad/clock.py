"""Time comes from the app's clock (an IReactorTime), never from time.time().

Tests pass ``twisted.internet.task.Clock``; the app passes the reactor.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from twisted.internet.interfaces import IDelayedCall


class Clock(Protocol):
    def seconds(self) -> float: ...
    def callLater(  # noqa: N802 (Twisted's name)
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall: ...


def utcnow(clock: Clock) -> datetime:
    """The clock's now as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.seconds(), UTC)

