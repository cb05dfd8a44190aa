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


#: Bytes one wake-up of a listener reads before the reactor turns to its other work (Twisted's default is
#: 256 KiB: some 2,500 Access-Requests, over 100 ms of work after a stall, during which a web page's
#: database answer, a timer or the other port wait).  16 KiB is some 160 requests, about 10 ms.
READ_BUDGET = 16 * 1024


def listen_udp(reactor: Any, port: int, protocol: RadiusListener, address: str, rcvbuf: int) -> Any:
    """Bind a listener and ask the kernel for a large receive buffer (bursts)."""
    p = reactor.listenUDP(port, protocol, interface=address, maxPacketSize=4096)
    p.maxThroughput = READ_BUDGET
    with contextlib.suppress(OSError, AttributeError):  # fake reactors in tests
        p.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    return p
