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


def test_names_differ_per_data_dir_and_nobody_listening_is_fine(tmp_path: Path) -> None:
    """Two data directories, two sockets; a send with no daemon returns False and raises nothing."""
    a, b = wake.address(str(tmp_path / "a")), wake.address(str(tmp_path / "b"))
    assert a != b and a.startswith("\0")
    assert wake.send(a) is False
