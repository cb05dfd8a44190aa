"""Class values (RFC 2865 section 5.25) that name one authentication.

Every Access-Accept carries a Class; the NAS echoes it unchanged in the
Accounting-Requests of the session it opens (RouterOS does), so accounting
can tell two sessions apart even when the NAS reuses an Acct-Session-Id
after a reboot.  A value must therefore never repeat, across instances
sharing a database and across restarts.

The value is printable ASCII, fixed length: ``aaad:`` then 16 hex digits
of a per-process random prefix (64 bits from ``os.urandom`` once, at
construction), ``:`` and 16 hex digits of a per-process counter.  Two
processes collide only if they draw the same prefix (2^-64 per pair); within
a process the counter never repeats (2^64 values).  The hot path formats one
integer and concatenates bytes: no system call per request.
"""
from __future__ import annotations

import itertools
import os

from aaad.radius.codec import CLASS

PREFIX = b"aaad:"
#: Length of a generated value: prefix, 16 hex digits, ':', 16 hex digits.
VALUE_LENGTH = len(PREFIX) + 16 + 1 + 16


class ClassGenerator:
    """Makes unique Class attributes, encoded and ready to append to a reply."""

    def __init__(self, instance: bytes | None = None, start: int = 0):
        instance = os.urandom(8) if instance is None else instance
        if len(instance) != 8:
            raise ValueError("the instance prefix is 8 bytes")
        self.instance = instance
        value_head = PREFIX + instance.hex().encode("ascii") + b":"
        # Type and length never change: the attribute's header is precomputed.
        self._head = bytes((CLASS, 2 + VALUE_LENGTH)) + value_head
        self._counter = itertools.count(start)

    def next_attr(self) -> bytes:
        """The next encoded Class attribute (type, length, value)."""
        return self._head + b"%016x" % (next(self._counter) & 0xFFFF_FFFF_FFFF_FFFF)

    def next_value(self) -> bytes:
        """The next Class value alone (what the NAS echoes back)."""
        return self.next_attr()[2:]


def is_ours(value: bytes) -> bool:
    """Whether a Class value has the shape this module generates."""
    return len(value) == VALUE_LENGTH and value.startswith(PREFIX)
