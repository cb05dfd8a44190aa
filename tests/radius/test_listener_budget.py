"""A listener's wake-up reads at most READ_BUDGET bytes before the reactor turns to its other work (a web
page's database answer, timers, the other port) while requests keep up; when a wake-up spends its budget
with requests still queued the next may read twice as much, up to MAX_READ_BUDGET (RADIUS keeps priority
under overload), and a wake-up that empties the socket goes back to READ_BUDGET.  On a real socket with
Twisted's UDP port."""
from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.protocol import DatagramProtocol

from aaad.radius import listener

SIZE = 100


class Counting(DatagramProtocol):
    def __init__(self) -> None:
        self.got = 0

    def datagramReceived(self, data: bytes, addr: Any) -> None:  # noqa: N802 (Twisted's name)
        self.got += 1


def per_wake_up(budget: int) -> int:
    return -(-budget // SIZE)                    # it reads until the budget is spent


def test_the_budget_grows_while_backed_up_and_resets_once_drained() -> None:
    proto = Counting()
    port = listener.listen_udp(_reactor, 0, proto, "127.0.0.1", 8 * 1024 * 1024)  # type: ignore[arg-type]
    try:
        assert isinstance(port, listener.BudgetedPort) and port.budget == listener.READ_BUDGET
        b = listener.READ_BUDGET
        queued = per_wake_up(b) + per_wake_up(2 * b) + 10
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(queued):
                s.sendto(b"x" * SIZE, ("127.0.0.1", port.getHost().port))
        port.doRead()                                # one wake-up of the reactor
        assert proto.got == per_wake_up(b) and port.budget == 2 * b
        port.doRead()
        assert proto.got == per_wake_up(b) + per_wake_up(2 * b) and port.budget == 4 * b
        port.doRead()                                # reads the rest and finds the socket empty
        assert proto.got == queued and port.budget == b
        port.budget = listener.MAX_READ_BUDGET
        port.doRead()                                # nothing queued: back to the small budget
        assert port.budget == b
    finally:
        port.stopListening()


def test_the_budget_stops_growing_at_the_maximum() -> None:
    proto = Counting()
    port = listener.listen_udp(_reactor, 0, proto, "127.0.0.1", 8 * 1024 * 1024)  # type: ignore[arg-type]
    try:
        port.budget = listener.MAX_READ_BUDGET // 2
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(per_wake_up(listener.MAX_READ_BUDGET // 2) + 5):
                s.sendto(b"x" * SIZE, ("127.0.0.1", port.getHost().port))
        port.doRead()
        assert port.budget == listener.MAX_READ_BUDGET
        port.budget = listener.MAX_READ_BUDGET
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(per_wake_up(listener.MAX_READ_BUDGET) + 5):
                s.sendto(b"x" * SIZE, ("127.0.0.1", port.getHost().port))
        port.doRead()
        assert port.budget == listener.MAX_READ_BUDGET
    finally:
        port.stopListening()
