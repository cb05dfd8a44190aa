"""Cross-process wake-ups: a commit on a CLI engine sends one datagram to the daemon's
abstract socket for that data directory; nobody listening costs nothing."""
from __future__ import annotations

import socket
from pathlib import Path

import sqlalchemy as sa

from aaad import wake
from aaad.db import sync_engine


def test_commit_wakes_the_daemon_of_that_data_dir(tmp_path: Path) -> None:
    """Each commit on the engine sends a datagram to the socket named after the data dir; a
    rolled-back transaction sends none."""
    d = tmp_path / "data"
    d.mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as daemon:
        daemon.bind(wake.address(str(d)))
        daemon.setblocking(False)
        e = sync_engine(f"sqlite:///{tmp_path / 'x.db'}")
        wake.notify_on_commit(e, str(d))
        with e.begin() as c:
            c.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        assert daemon.recv(16) == b"w"
        try:
            with e.begin() as c:
                c.execute(sa.text("INSERT INTO t VALUES (1)"))
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        try:
            daemon.recv(16)
            raise AssertionError("a rollback woke the daemon")
        except BlockingIOError:
            pass
        e.dispose()


def test_the_wake_comes_after_the_commit_is_visible(tmp_path: Path) -> None:
    """A daemon that reads the moment it is woken sees the committed row (SQLAlchemy's commit event
    fires before the commit: waking then raced, and the daemon slept until its next poll)."""
    import sqlite3
    import threading
    import time
    d = tmp_path / "data"
    d.mkdir()
    db = tmp_path / "x.db"
    seen: list[int] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as daemon:
        daemon.bind(wake.address(str(d)))
        daemon.settimeout(10)
        e = sync_engine(f"sqlite:///{db}")
        with e.begin() as c:
            c.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        wake.notify_on_commit(e, str(d))
        # A slow commit (an fsync, a busy disk): whoever is woken before it ends reads the old state.
        sa.event.listen(e, "commit", lambda _conn: time.sleep(0.02))

        read = threading.Semaphore(0)

        def woken() -> None:
            for _ in range(20):
                daemon.recv(16)
                other = sqlite3.connect(db)
                seen.append(other.execute("SELECT count(*) FROM t").fetchone()[0])
                other.close()
                read.release()
        th = threading.Thread(target=woken)
        th.start()
        for i in range(20):            # one at a time: the next insert waits for the read
            with e.begin() as c:
                c.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": i})
            assert read.acquire(timeout=10)
        th.join(10)
        e.dispose()
    assert seen == list(range(1, 21))


def test_names_differ_per_data_dir_and_nobody_listening_is_fine(tmp_path: Path) -> None:
    """Two data directories, two sockets; a send with no daemon returns False and raises nothing."""
    a, b = wake.address(str(tmp_path / "a")), wake.address(str(tmp_path / "b"))
    assert a != b and a.startswith("\0")
    assert wake.send(a) is False
