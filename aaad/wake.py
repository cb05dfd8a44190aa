"""Cross-process wake-ups on one machine.

A process that commits a change the daemon must act on (the CLI suspending a
login, queueing a disconnect, recording a payment) sends one datagram, after
the commit, to the daemon's wake socket; the daemon then reads the change
feed, delivers events and looks at its queues at once instead of at its
next poll.  The socket is a Linux abstract-namespace Unix datagram socket
named after the data directory (no file, no path-length limit, gone with
the process).  It is only a hint: nothing is lost without it (polls still
run), a send never blocks and never fails the sender, and the datagram
carries no data the daemon trusts.
"""
from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

log = Logger()


def address(data_dir: str) -> str:
    """The wake socket's abstract name for the daemon whose data directory this is."""
    digest = hashlib.sha256(os.path.realpath(data_dir).encode()).hexdigest()[:24]
    return f"\0aaad-wake-{digest}"


def send(addr: str) -> bool:
    """One wake-up datagram; False if no daemon listens (or anything else went wrong)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            s.sendto(b"w", addr)
        return True
    except OSError:
        return False


def notify_on_commit(engine: Engine, data_dir: str) -> None:
    """After a commit on ``engine`` (a CLI's), wake the daemon of ``data_dir``.

    SQLAlchemy's ``commit`` event fires *before* the database commits (a daemon woken
    then would read the old state and sleep until its next poll), so it only marks the
    connection; the datagram goes when the connection returns to the pool, after the
    commit (``with engine.begin()`` returns it right after committing)."""
    addr = address(data_dir)

    def committing(conn: Any) -> None:
        conn.info[_MARK] = True

    def returned(_dbapi_conn: Any, record: Any) -> None:
        if record.info.pop(_MARK, False):
            send(addr)

    event.listen(engine, "commit", committing)
    event.listen(engine.pool, "checkin", returned)


_MARK = "aaad.wake"


class _Wake(DatagramProtocol):
    def __init__(self, callbacks: list[Callable[[], None]]):
        self.callbacks = callbacks
        self.received = 0

    def datagramReceived(self, data: bytes, addr: Any) -> None:  # noqa: N802 (Twisted's name)
        self.received += 1
        for cb in self.callbacks:
            try:
                cb()
            except Exception:
                log.failure("wake-up callback failed")


def listen(reactor: Any, data_dir: str, callbacks: list[Callable[[], None]]) -> Any:
    """Listen on the wake socket of ``data_dir`` (the port, or None if another daemon has it)."""
    try:
        return reactor.listenUNIXDatagram(address(data_dir), _Wake(callbacks))
    except Exception as e:  # CannotListenError: another daemon on this data directory
        log.warn("wake socket not available ({error}); changes from other processes are seen at the next poll",
                 error=e)
        return None
