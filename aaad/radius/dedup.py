"""Duplicate detection (RFC 5080 section 2.2.2).

A request is identified by (client address, source port, ID, Request
Authenticator).  While the first copy is being handled (e.g. a reject
waiting out its delay) a duplicate is dropped; once answered, a duplicate
within the window gets the cached reply byte for byte.  Entries expire on
the clock; expiry is amortised over inserts (a deque in time order).
"""
from __future__ import annotations

from collections import deque

from aaad.clock import Clock

PENDING = b""  # marker: being handled, no reply yet

# A request is (source address, source port, identifier, Request Authenticator).
RequestKey = tuple[str, int, int, bytes]


class DedupCache:
    def __init__(self, clock: Clock, window: float = 5.0, max_entries: int = 200_000):
        self.clock = clock
        self.window = window
        self.max_entries = max_entries
        self._entries: dict[RequestKey, bytes] = {}
        self._order: deque[tuple[float, RequestKey]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: RequestKey) -> bytes | None:
        """None: new request (now marked pending); PENDING: in progress; else the cached reply."""
        entries = self._entries
        hit = entries.get(key)
        if hit is not None:
            return hit
        now = self.clock.seconds()
        order = self._order
        while order and (order[0][0] <= now or len(entries) >= self.max_entries):
            _, old = order.popleft()
            entries.pop(old, None)
        entries[key] = PENDING
        order.append((now + self.window, key))
        return None

    def answered(self, key: RequestKey, reply: bytes) -> None:
        if key in self._entries:
            self._entries[key] = reply

    def forget(self, key: RequestKey) -> None:
        """Drop a pending entry (the request was discarded, not answered)."""
        if self._entries.get(key) == PENDING:
            del self._entries[key]
