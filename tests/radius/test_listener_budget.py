"""A listener's wake-up reads at most READ_BUDGET bytes before the reactor turns to its other work (a web
page's database answer, timers, the other port): Twisted's default, 256 KiB, is some 2,500 requests, over
100 ms after a stall.  Checked on a real socket with Twisted's own UDP port."""
from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.protocol import DatagramProtocol

from aaad.radius import listener


class Counting(DatagramProtocol):
    def __init__(self) -> None:
        self.got = 0

    def datagramReceived(self, data: bytes, addr: Any) -> None:  # noqa: N802 (Twisted's name)
        self.got += 1


def test_one_wake_up_reads_at_most_the_budget() -> None:
    proto = Counting()
    port = listener.listen_udp(_reactor, 0, proto, "127.0.0.1", 4 * 1024 * 1024)  # type: ignore[arg-type]
    try:
        assert port.maxThroughput == listener.READ_BUDGET
        addr = port.getHost()
        size = 100
        n = 3 * listener.READ_BUDGET // size
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(n):
                s.sendto(b"x" * size, ("127.0.0.1", addr.port))
        per_wake_up = -(-listener.READ_BUDGET // size)  # it reads until the budget is spent
        port.doRead()                                   # what one wake-up of the reactor does
        assert proto.got == per_wake_up
        port.doRead()
        assert proto.got == 2 * per_wake_up
    finally:
        port.stopListening()
