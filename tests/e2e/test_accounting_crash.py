"""Crash test: SIGKILL the daemon under accounting load; nothing acknowledged
is lost, and the NAS's retransmissions after the restart count nothing twice.
Runs on SQLite and on a real PostgreSQL."""
from __future__ import annotations

import select
import socket
import time
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.radius import codec

SECRET = b"testing123"
SESSIONS = 300


def acct_request(ident: int, status: int, sid: str, user: str, octets: int) -> bytes:
    attrs = (codec.encode_int(codec.ACCT_STATUS_TYPE, status)
             + codec.encode_attr(codec.ACCT_SESSION_ID, sid.encode())
             + codec.encode_attr(codec.USER_NAME, user.encode())
             + codec.encode_attr(codec.NAS_IP_ADDRESS, socket.inet_aton("127.0.0.1"))
             + codec.encode_int(codec.ACCT_INPUT_OCTETS, octets)
             + codec.encode_int(codec.ACCT_OUTPUT_OCTETS, 2 * octets)
             + codec.encode_int(codec.ACCT_SESSION_TIME, octets // 1000))
    return codec.encode_request(codec.ACCOUNTING_REQUEST, ident, attrs, SECRET, message_authenticator=False)


def plan() -> list[tuple[str, int, int]]:
    """(session id, status, input octets): a Start and two Interims per session, interleaved."""
    out = [(f"crash-{i}", 1, 0) for i in range(SESSIONS)]
    out += [(f"crash-{i}", 3, 1000 * (i + 1)) for i in range(SESSIONS)]
    out += [(f"crash-{i}", 3, 2000 * (i + 1)) for i in range(SESSIONS)]
    return out


def blast(port: int, items: list[tuple[str, int, int]], kill_after: int | None = None,
          proc: Any = None, window: int = 64, timeout: float = 5.0) -> set[int]:
    """Send items (up to `window` in flight, one socket per 256 ids); return the acknowledged indexes.

    With kill_after, SIGKILL the daemon once that many are acknowledged, then
    collect whatever answers were already on their way.
    """
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(len(items) // 256 + 1)]
    for s in socks:
        s.connect(("127.0.0.1", port))
    acked: set[int] = set()
    outstanding: dict[tuple[int, int], tuple[int, bytes]] = {}
    nxt, killed = 0, False
    deadline = time.monotonic() + timeout
    while (nxt < len(items) and not killed) or outstanding:
        while not killed and nxt < len(items) and len(outstanding) < window:
            sid, status, octets = items[nxt]
            si, ident = divmod(nxt, 256)
            pkt = acct_request(ident, status, sid, "alice", octets)
            socks[si].send(pkt)
            outstanding[(si, ident)] = (nxt, pkt[4:20])
            nxt += 1
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select(socks, [], [], min(left, 0.5 if killed else left))
        if not ready and killed:
            break
        for s in ready:
            data = s.recv(4096)
            p = codec.decode(data)
            key = (socks.index(s), p.ident)
            if key in outstanding and codec.verify_response_authenticator(p, SECRET, outstanding[key][1]):
                acked.add(outstanding.pop(key)[0])
        if kill_after is not None and not killed and len(acked) >= kill_after:
            proc.kill()
            killed = True
            deadline = time.monotonic() + 1.0
    for s in socks:
        s.close()
    return acked


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_under_load_loses_nothing_acknowledged(daemon_factory: Any, backend: str, request: Any) -> None:
    """Every acknowledged request survives SIGKILL; retransmissions after restart don't double count."""
    url = request.getfixturevalue("pg_cluster").new_database() if backend == "postgresql" else None
    conf, data_dir = daemon_factory.configure(db_url=url)
    d = daemon_factory.start(conf, data_dir)
    items = plan()
    acked = blast(d.acct_port, items, kill_after=len(items) // 2, proc=d.proc)
    d.proc.wait(10)
    assert len(acked) >= len(items) // 2
    assert len(acked) < len(items), "the daemon was killed too late to test anything"

    d2 = daemon_factory.start(conf, data_dir)
    from aaad import app
    engine = sa.create_engine(app.database_url(app.load_config(str(conf), environ={})))
    with engine.connect() as c:
        stored = {r.session_id: r.input_octets for r in c.execute(sa.text(
            "SELECT session_id, input_octets FROM acct_sessions WHERE session_id LIKE 'crash-%'"))}
    for i in acked:
        sid, status, octets = items[i]
        assert sid in stored, f"acknowledged {items[i]} lost"
        assert stored[sid] >= octets, f"acknowledged {items[i]} lost (stored {stored[sid]})"

    # The NAS retransmits everything it has no answer for (and, being cautious, all the rest).
    acked2 = blast(d2.acct_port, items, timeout=30)
    assert acked2 == set(range(len(items)))
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT session_id, input_octets, output_octets FROM acct_sessions "
                                 "WHERE session_id LIKE 'crash-%'")).all()
    engine.dispose()
    assert len(rows) == SESSIONS
    for sid, inp, out in rows:
        i = int(sid.split("-")[1])
        assert (inp, out) == (2000 * (i + 1), 4000 * (i + 1)), sid



