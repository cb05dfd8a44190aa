"""Tests for accounting.graphs: per-login RRD files, fetches and PNG graphs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import rrdtool
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock

from accounting.graphs import STEP, RrdStore, RrdUpdateError
from accounting.rrdcached import RrdcachedProcess, rrdcached_binary, rrdcached_command
from tests.helpers import result_of

T = TypeVar("T")

BASE = datetime(2024, 1, 1, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def slot(n: int) -> datetime:
    """The start of the n-th five-minute slot after BASE."""
    return BASE + timedelta(seconds=STEP * n)


def run_now(func: Callable[..., T], *args: Any) -> Deferred[T]:
    """A synchronous stand-in for deferToThreadPool."""
    return defer.maybeDeferred(func, *args)


@pytest.fixture
def store(tmp_path: Path) -> RrdStore:
    """A store writing files directly under tmp_path."""
    return RrdStore(str(tmp_path / "rrd"), None, run_now)


@pytest.fixture
def rrdcached(tmp_path: Path) -> Iterator[RrdcachedProcess]:
    """A private rrdcached on a unix socket in tmp_path, based at tmp_path/rrd."""
    if rrdcached_binary() is None:
        pytest.skip("rrdcached binary not installed (Debian package rrdcached)")
    with RrdcachedProcess(
        str(tmp_path / "rrdcached.sock"), str(tmp_path / "journal"), str(tmp_path / "rrd")
    ) as process:
        yield process


def test_file_created_lazily(store: RrdStore) -> None:
    """No file exists before a login's first update, and one does after it."""
    path = store.path_for(7, 42)
    assert path == os.path.join(store.rrd_dir, "7", "42.rrd")
    assert not os.path.exists(path)
    result_of(store.update(7, 42, slot(0), 3000, 600))
    assert os.path.exists(path)
    assert store.files_created == 1


def test_unknown_login_has_no_graph_or_data(store: RrdStore) -> None:
    """graph() of a login without an RRD is None and fetch() is empty."""
    assert result_of(store.graph(1, 2, slot(0), slot(12))) is None
    assert result_of(store.fetch(1, 2, slot(0), slot(12))) == []


def test_fetch_returns_bytes_per_second(store: RrdStore) -> None:
    """Consecutive slots read back as bytes / 300 per slot, keyed by slot start."""
    result_of(store.update(1, 1, slot(0), 300, 3000))
    result_of(store.update(1, 1, slot(1), 600, 6000))
    result_of(store.update(1, 1, slot(2), 0, 30))
    rows = result_of(store.fetch(1, 1, slot(0), slot(3)))
    assert rows == [(slot(0), 1.0, 10.0), (slot(1), 2.0, 20.0), (slot(2), 0.0, 0.1)]


def test_older_update_is_skipped(store: RrdStore) -> None:
    """An update not newer than the last one is skipped and counted, not raised."""
    result_of(store.update(1, 1, slot(0), 300, 300))
    result_of(store.update(1, 1, slot(1), 600, 600))
    assert result_of(store.update(1, 1, slot(0), 9000, 9000)) is None
    assert result_of(store.update(1, 1, slot(1), 9000, 9000)) is None
    assert store.rows_skipped == 2
    assert store.rows_written == 2
    rows = result_of(store.fetch(1, 1, slot(0), slot(2)))
    assert rows == [(slot(0), 1.0, 1.0), (slot(1), 2.0, 2.0)]


def test_skipped_slots_do_not_smear(store: RrdStore) -> None:
    """A slot after a gap keeps its own rate; the gap reads zero within the heartbeat."""
    result_of(store.update(1, 1, slot(0), 300, 300))
    result_of(store.update(1, 1, slot(2), 3000, 3000))
    result_of(store.update(1, 1, slot(10), 600, 600))
    rows = dict((t, rx) for t, rx, _tx in result_of(store.fetch(1, 1, slot(0), slot(11))))
    assert rows[slot(0)] == 1.0
    assert rows[slot(1)] == 0.0
    assert rows[slot(2)] == 10.0
    assert rows[slot(5)] is None
    assert rows[slot(10)] == 2.0


def test_update_many_sorts_and_groups(store: RrdStore) -> None:
    """A batch with slots out of order per login is written in order."""
    written = result_of(
        store.update_many(
            [
                (1, 1, slot(1), 600, 0),
                (1, 2, slot(0), 300, 0),
                (1, 1, slot(0), 300, 0),
            ]
        )
    )
    assert written == 3
    assert [rx for _t, rx, _tx in result_of(store.fetch(1, 1, slot(0), slot(2)))] == [1.0, 2.0]


def test_graph_is_png(store: RrdStore) -> None:
    """graph() returns PNG bytes for a login with data."""
    for n in range(12):
        result_of(store.update(3, 9, slot(n), 1_000_000 * n, 100_000 * n))
    png = result_of(store.graph(3, 9, slot(0), slot(12), width=400, height=100, title="9 today"))
    assert png is not None and png.startswith(PNG_SIGNATURE)


def test_graph_path_with_colon(tmp_path: Path) -> None:
    """An RRD directory containing a colon is escaped in the graph definition."""
    store = RrdStore(str(tmp_path / "a:b"), None, run_now)
    result_of(store.update(1, 1, slot(0), 300, 300))
    png = result_of(store.graph(1, 1, slot(0), slot(1)))
    assert png is not None and png.startswith(PNG_SIGNATURE)


def test_malformed_rows_rejected(store: RrdStore) -> None:
    """Unaligned slots, negative bytes and negative ids raise ValueError at once."""
    with pytest.raises(ValueError):
        store.update(1, 1, slot(0) + timedelta(seconds=1), 1, 1)
    with pytest.raises(ValueError):
        store.update(1, 1, slot(0), -1, 1)
    with pytest.raises(ValueError):
        store.update(-1, 1, slot(0), 1, 1)


def test_naive_datetime_is_utc(store: RrdStore) -> None:
    """A naive slot start is taken as UTC, as the database stores it."""
    result_of(store.update(1, 1, slot(0).replace(tzinfo=None), 300, 300))
    assert result_of(store.fetch(1, 1, slot(0), slot(1))) == [(slot(0), 1.0, 1.0)]


def test_failing_file_does_not_stop_batch(store: RrdStore) -> None:
    """One unwritable file fails the batch with RrdUpdateError after the others are written."""
    os.makedirs(store.path_for(1, 2))  # a directory where the file should be
    d = store.update_many([(1, 1, slot(0), 1, 1), (1, 2, slot(0), 1, 1)])
    with pytest.raises(RrdUpdateError) as info:
        result_of(d)
    assert info.value.written == 1
    assert list(info.value.failures) == [(1, 2)]
    assert os.path.exists(store.path_for(1, 1))


def test_call_times_out(tmp_path: Path) -> None:
    """With a clock, a call still running after the timeout fails with TimeoutError."""
    clock = Clock()
    pending: list[Deferred[Any]] = []

    def never(func: Callable[..., Any], *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        pending.append(d)
        return d

    # Clock provides IReactorTime (zope's @implementer is invisible to mypy)
    store = RrdStore(str(tmp_path), None, never, clock=cast(IReactorTime, clock), timeout=5.0)
    d = store.graph(1, 1, slot(0), slot(1))
    clock.advance(4.9)
    assert not d.called
    clock.advance(0.2)
    with pytest.raises(defer.TimeoutError):
        result_of(d)
    pending[0].callback(None)  # the late thread result is ignored
    assert not clock.getDelayedCalls()


def test_update_many_thousand_logins(store: RrdStore) -> None:
    """A batch for 1,000 logins creates 1,000 files."""
    rows = [(login % 10, login, slot(0), login, 2 * login) for login in range(1000)]
    assert result_of(store.update_many(rows)) == 1000
    orgs = os.listdir(store.rrd_dir)
    assert sum(len(os.listdir(os.path.join(store.rrd_dir, org))) for org in orgs) == 1000
    assert store.files_created == 1000


def test_rrdcached_command() -> None:
    """The rrdcached argv runs in the foreground, confined, flushing on shutdown."""
    argv = rrdcached_command("/s/r.sock", "/s/j", "/s/b", binary="rrdcached")
    assert argv[0] == "rrdcached"
    assert {"-g", "-B", "-F"} <= set(argv)
    assert argv[argv.index("-l") + 1] == "unix:/s/r.sock"
    assert argv[argv.index("-j") + 1] == "/s/j"
    assert argv[argv.index("-p") + 1] == "/s/r.sock.pid"
    assert argv[argv.index("-w") + 1] == "300"
    assert argv[argv.index("-z") + 1] == "60"


def test_through_rrdcached(rrdcached: RrdcachedProcess) -> None:
    """Updates go through rrdcached; fetch and graph flush it and see the data."""
    store = RrdStore(rrdcached.base_dir, rrdcached.address, run_now)
    result_of(store.update(2, 5, slot(0), 300, 3000))
    result_of(store.update(2, 5, slot(1), 600, 6000))
    result_of(store.update(2, 5, slot(0), 1, 1))
    assert store.rows_skipped == 1
    path = store.path_for(2, 5)
    # Still in the daemon's cache (it writes every 300 s): the file is untouched.
    assert rrdtool.last(path) == int(slot(0).timestamp())
    rows = result_of(store.fetch(2, 5, slot(0), slot(2)))
    assert rows == [(slot(0), 1.0, 10.0), (slot(1), 2.0, 20.0)]
    result_of(store.update(2, 5, slot(2), 900, 0))
    png = result_of(store.graph(2, 5, slot(0), slot(3)))
    assert png is not None and png.startswith(PNG_SIGNATURE)
    assert rrdtool.last(path) == int(slot(3).timestamp())


def test_stale_last_update_is_retried(store: RrdStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """If another writer moved the file on since its last update was read, re-read and retry."""
    result_of(store.update(1, 1, slot(0), 300, 300))
    result_of(store.update(1, 1, slot(1), 300, 300))
    real_last = rrdtool.last
    stale = [int(slot(1).timestamp())]  # what a racing thread would have seen

    def last(*args: str) -> int:
        return stale.pop() if stale else int(real_last(*args))

    monkeypatch.setattr("accounting.graphs.rrdtool.last", last)
    assert result_of(store.update_many([(1, 1, slot(2), 900, 900)])) == 1
    rows = result_of(store.fetch(1, 1, slot(0), slot(3)))
    assert not stale
    assert [rx for _t, rx, _tx in rows] == [1.0, 1.0, 3.0]
