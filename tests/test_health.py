"""/healthz's checks: repeated job failures, the writer, the database probe, disk space."""
from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer, task

from aaad.db import WriterHealth
from aaad.health import HealthCheck, check_data_dir, failing_jobs
from aaad.jobs import claim, finish

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def run(engine: Any, job: str, period: str, ok: bool, org_id: int = 0) -> None:
    with engine.begin() as c:
        claim(c, job, org_id, period, NOW)
        finish(c, job, org_id, period, NOW, None if ok else "ValueError: boom")


def test_failing_jobs_by_attempts_and_by_periods(engine: Any) -> None:
    """A period failing 3 attempts, or 3 periods failing in a row, make a job failing; a success clears it."""
    for _ in range(3):
        run(engine, "a", "p1", ok=False)
    run(engine, "b", "p1", ok=False)
    run(engine, "b", "p2", ok=False)
    run(engine, "c", "p1", ok=False)
    run(engine, "c", "p2", ok=True)
    with engine.connect() as c:
        assert [(j.job, j.attempts, j.error) for j in failing_jobs(c, 3)] == [("a", 3, "ValueError: boom")]
    run(engine, "b", "p3", ok=False)
    run(engine, "a", "p1", ok=True)
    with engine.connect() as c:
        assert [j.job for j in failing_jobs(c, 3)] == ["b"]


class FakeWriter:
    def __init__(self) -> None:
        self.h = WriterHealth(0, 100, None, None, 0.0)

    def health(self) -> WriterHealth:
        return self.h


class FakeDb:
    def __init__(self) -> None:
        self.writer = FakeWriter()
        self.reads: list[defer.Deferred] = []

    def read(self, fn: Any, *a: Any) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.reads.append(d)
        return d


def result(d: defer.Deferred[Any]) -> Any:
    box: list[Any] = []

    def keep(r: Any) -> Any:
        box.append(r)
        return r
    d.addBoth(keep)
    assert box, "not fired"
    return box[0]


def test_healthy_when_all_is_well(tmp_path: Any) -> None:
    """No problems: an empty list, with the writer's numbers in the details."""
    clock, db = task.Clock(), FakeDb()
    h = HealthCheck(db, clock, str(tmp_path), min_free_mb=0)
    d = h.check()
    db.reads[0].callback([])
    problems, details = result(d)
    assert problems == [] and details["writer"]["pending"] == 0 and not clock.getDelayedCalls()


def test_hung_database_answers_within_the_timeout_with_one_probe(tmp_path: Any) -> None:
    """A probe that never returns gives a 'no answer' problem after the timeout; askers share one probe."""
    clock, db = task.Clock(), FakeDb()
    h = HealthCheck(db, clock, str(tmp_path), min_free_mb=0, timeout=2)
    d1, d2 = h.check(), h.check()
    clock.advance(2)
    assert result(d1)[0] == ["database: no answer within 2s"] and result(d2)[0] == result(d1)[0]
    assert len(db.reads) == 1
    d3 = h.check()
    assert len(db.reads) == 1  # still running: not started again
    db.reads[0].errback(RuntimeError("connection refused"))
    assert result(d3)[0] == ["database: RuntimeError: connection refused"]
    assert not clock.getDelayedCalls()


def test_writer_jobs_and_disk_problems_are_all_named(tmp_path: Any) -> None:
    """A failed commit, a failing job and a nearly full disk are each reported."""
    from aaad.health import FailingJob
    clock, db = task.Clock(), FakeDb()
    db.writer.h = WriterHealth(5, 100, None, "OperationalError: database or disk is full", 0.0)
    h = HealthCheck(db, clock, str(tmp_path), min_free_mb=2**40)
    d = h.check()
    db.reads[0].callback([FailingJob("acct.aggregate", 0, "p9", 4, "OverflowError: too big")])
    problems, _ = result(d)
    assert problems[0] == "writer: last commit failed: OperationalError: database or disk is full"
    assert problems[1].startswith("data_dir: ") and "MB minimum" in problems[1]
    assert problems[2] == ("job acct.aggregate (org 0) keeps failing (period p9, 4 attempts): "
                           "OverflowError: too big")


def test_check_data_dir(tmp_path: Any) -> None:
    """A writable directory (created if missing) passes; a read-only one is named."""
    assert check_data_dir(str(tmp_path / "new" / "dir")) is None
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    if os.geteuid() == 0:  # root writes anyway: use a file where the directory should be
        (tmp_path / "file").write_text("x")
        assert "not writable" in (check_data_dir(str(tmp_path / "file")) or "")
    else:
        assert "not writable" in (check_data_dir(str(ro)) or "")


def test_bounded_stop_gives_up_after_the_timeout() -> None:
    """A stop that never finishes is abandoned after the timeout, and says so."""
    from aaad.shutdown import BoundedStop
    clock = task.Clock()
    hung: defer.Deferred = defer.Deferred()
    stop = BoundedStop(clock, lambda: hung, 5)
    d = stop()
    clock.advance(4.9)
    assert not d.called
    clock.advance(0.1)
    assert d.called and stop.timed_out


def test_bounded_stop_fires_when_the_stop_finishes() -> None:
    """A stop that finishes (or fails) in time fires at once, not timed out, no delayed call left."""
    from aaad.shutdown import BoundedStop
    clock = task.Clock()
    fired: list[defer.Deferred[None]] = [defer.succeed(None), defer.fail(RuntimeError("x"))]
    for d in fired:
        def finish(r: defer.Deferred[None] = d) -> defer.Deferred[None]:
            return r
        stop = BoundedStop(clock, finish, 5)
        assert stop().called and not stop.timed_out and not clock.getDelayedCalls()
