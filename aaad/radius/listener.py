"""What every RADIUS listener does before its controller sees a request.

Shared by the auth server and the accounting server: never let a datagram
crash the listener, discard packets from unknown clients and malformed
packets (counted by reason), refuse codes the port does not serve, answer
retransmissions from the duplicate cache (RFC 5080), and send replies
straight to the socket.
"""
from __future__ import annotations

import contextlib
import socket
from typing import Any

from twisted.internet import udp
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from aaad.clock import Clock
from aaad.nas import Nas
from aaad.radius import codec
from aaad.radius.codec import MalformedPacket
from aaad.radius.dedup import DedupCache, RequestKey

log = Logger()


class RadiusListener(DatagramProtocol):
    """Base protocol; subclasses set ``codes`` and implement :meth:`request`."""

    codes: frozenset[int] = frozenset()
    kind = "radius"

    def __init__(self, view: Any, clock: Clock, stats: Any, dedup_window: float,
                 tiled_vendors: frozenset[int]):
        # view: the AAA view (.nas.lookup); stats: the subclass's counters, with .drops and .duplicates
        self.view = view
        self.clock = clock
        self.st = stats
        self.tiled = tiled_vendors
        self.dedup = DedupCache(clock, dedup_window)

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:  # noqa: N802
        try:
            nas = self.view.nas.lookup(addr[0])
            if nas is None:
                self.st.drops["unknown_client"] += 1
                return
            try:
                p = codec.decode(data, self.tiled)
            except MalformedPacket as e:
                self.st.drops[e.reason] += 1
                return
            if p.code not in self.codes:
                self.st.drops["unexpected_code"] += 1
                return
            self.request(p, nas, addr)
        except Exception:  # one bad packet never takes the listener down
            self.st.drops["internal_error"] += 1
            log.failure("unexpected error in the {kind} listener on a datagram from {addr}",
                        kind=self.kind, addr=addr[0])

    def request(self, p: codec.Packet, nas: Nas, addr: tuple[str, int]) -> None:
        raise NotImplementedError

    def is_duplicate(self, key: RequestKey, addr: tuple[str, int]) -> bool:
        """True if ``key`` was seen: answered again from the cache, or dropped while pending."""
        cached = self.dedup.lookup(key)
        if cached is None:
            return False
        if not cached:
            self.st.duplicates["dropped_pending"] += 1
        else:
            self.st.duplicates["answered_from_cache"] += 1
            self.send(cached, addr)
        return True

    def send(self, reply: bytes, addr: tuple[str, int]) -> None:
        sock = getattr(self.transport, "socket", None)
        if sock is None:  # fake transports in tests
            # Any: zope interface methods (IUDPTransport.write) do not type-check without mypy-zope.
            transport: Any = self.transport
            if transport is not None:
                transport.write(reply, addr)
            return
        try:  # straight to the socket: Port.write re-validates the address every time
            sock.sendto(reply, addr)
        except OSError as e:  # full buffer or unreachable: the NAS retransmits
            self.st.drops[f"send_error_{e.errno}"] += 1


#: Bytes one wake-up of a listener reads before the reactor turns to its other work (a web page's
#: database answer, timers, the other port), while requests keep up: 16 KiB is some 160 requests, about
#: 10 ms.  Twisted's fixed 256 KiB (some 2,500 requests, over 100 ms after any stall) held every web
#: page's hops between the reactor and its database threads behind auth.
READ_BUDGET = 16 * 1024
#: When a wake-up spends its budget with requests still queued, RADIUS is falling behind: the next
#: wake-up may read twice as much, up to this (Twisted's default), so under overload RADIUS keeps
#: priority over web pages; a wake-up that empties the socket goes back to READ_BUDGET.
MAX_READ_BUDGET = 256 * 1024


class BudgetedPort(udp.Port):
    """Twisted's UDP port reading at most ``budget`` bytes per wake-up, the budget doubling while the
    socket stays backed up and back to :data:`READ_BUDGET` once it is drained."""

    budget = READ_BUDGET

    def doRead(self) -> None:  # noqa: N802 (Twisted's name)
        read, budget = 0, self.budget
        while read < budget:
            try:
                data, addr = self.socket.recvfrom(self.maxPacketSize)
            except OSError as se:
                no = se.args[0]
                if no in udp._sockErrReadIgnore:         # drained (EAGAIN, EINTR)
                    self.budget = READ_BUDGET
                    return
                if no in udp._sockErrReadRefuse:
                    return
                raise
            read += len(data)
            if self.addressFamily == socket.AF_INET6:
                addr = addr[:2]
            try:
                self.protocol.datagramReceived(data, addr)
            except BaseException:
                log.failure("datagramReceived")
        self.budget = min(budget * 2, MAX_READ_BUDGET)


def listen_udp(reactor: Any, port: int, protocol: RadiusListener, address: str, rcvbuf: int) -> Any:
    """Bind a listener and ask the kernel for a large receive buffer (bursts)."""
    p = reactor.listenUDP(port, protocol, interface=address, maxPacketSize=4096)
    if type(p) is udp.Port:         # the real reactor's (fake ones in tests keep theirs)
        p.__class__ = BudgetedPort
    with contextlib.suppress(OSError, AttributeError):  # fake reactors in tests
        p.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    return p
