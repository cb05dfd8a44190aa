"""Logging that stays bounded when the same failure repeats.

During an outage every request fails the same way; a traceback per request
wrote 188 MB of log in a minute.  :class:`RateLimited` logs a recurring
failure once per interval, one line with its cause and how many times it
happened since the last line.  :class:`RateLimitingObserver` does the same
for every warning and error of the process (keyed by its message template),
a safety net for the periodic loops that log their own failures.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.logger import ILogObserver, LogLevel
from zope.interface import implementer


@dataclass
class _Seen:
    since: float
    count: int = 0


def describe(error: Any) -> str:
    """One line naming a failure: exception type and the first line of its message."""
    exc = getattr(error, "value", error)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


class RateLimited:
    """Log each kind of recurring failure at most once per ``interval`` seconds,
    with a count, and without a traceback."""

    def __init__(self, log: Any, clock: Any, interval: float = 10.0):
        self.log = log
        self.clock = clock
        self.interval = interval
        self._seen: dict[str, _Seen] = {}

    def failure(self, what: str, error: Any, **fields: Any) -> None:
        """Note one occurrence of ``what`` (a fixed text: it is the key) caused by ``error``."""
        now = self.clock.seconds()
        seen = self._seen.get(what)
        if seen is not None and now - seen.since < self.interval:
            seen.count += 1
            return
        more = seen.count if seen is not None else 0
        self._seen[what] = _Seen(now)
        self.log.error("{what}: {error}{more_text}", what=what, error=describe(error),
                       more=more, more_text=f" (and {more} more since the last report)" if more else "",
                       **fields)


@implementer(ILogObserver)
class RateLimitingObserver:
    """Pass warnings and errors on at most once per ``interval`` per message
    template; the next one passed says how many were held back, and gives
    the failure in one line (its traceback was logged the first time)."""

    def __init__(self, observer: Callable[[dict[str, Any]], None], now: Callable[[], float],
                 interval: float = 10.0, level: LogLevel = LogLevel.warn):
        self.observer = observer
        self.now = now
        self.interval = interval
        self.level = level
        self._seen: dict[tuple[str, str], _Seen] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        level = event.get("log_level")
        if self.interval <= 0 or level is None or level < self.level:
            self.observer(event)
            return
        key = (str(event.get("log_namespace")), str(event.get("log_format")))
        now = self.now()
        seen = self._seen.get(key)
        if seen is not None and now - seen.since < self.interval:
            seen.count += 1
            return
        self._seen[key] = _Seen(now)
        if seen is not None:
            # Seen before, traceback and all: this time one line says what and how often.
            fmt = event.get("log_format") or ""
            f = event.get("log_failure")
            if f is not None:
                fmt += ": " + describe(f).replace("{", "{{").replace("}", "}}")
                event = {k: v for k, v in event.items() if k != "log_failure"}
            if seen.count:
                fmt += f" ({seen.count} more like this held back in the last {self.interval:g}s)"
            event = dict(event, log_format=fmt)
        self.observer(event)
