"""The timer-service base: periodic, never overlapping, failures logged, stop waits."""
from __future__ import annotations

from typing import Any

from twisted.internet import defer, task

from aaad.timer import Timer


def test_runs_every_interval_on_the_clock() -> None:
    """The first run is at once (now=True), then one every interval."""
    clock, runs = task.Clock(), []
    t = Timer(lambda: runs.append(clock.seconds()), 5, clock, "t")
    t.start()
    clock.advance(5)
    clock.advance(5)
    assert runs == [0, 5, 10]
    assert t.stop().called
    clock.advance(50)
    assert len(runs) == 3 and not clock.getDelayedCalls()


def test_never_overlaps_and_kick_runs_again_after() -> None:
    """A run in progress is not started again; a kick meanwhile runs once more after it."""
    clock, pending = task.Clock(), []

    def slow() -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        pending.append(d)
        return d
    t = Timer(slow, 1, clock, "t", now=False)
    t.start()
    clock.advance(1)
    clock.advance(10)
    t.kick()
    t.kick()
    assert len(pending) == 1 and t.busy
    pending[0].callback(None)
    assert len(pending) == 2                  # the kicks: one more run, at once
    pending[1].callback(None)
    clock.advance(1)
    assert len(pending) == 3                  # then back to the interval
    pending[2].callback(None)
    t.stop()


def test_failure_is_logged_and_the_timer_goes_on() -> None:
    """A failing run (raised or a failed Deferred) is counted and logged; the next still runs."""
    clock, calls = task.Clock(), []

    def bad() -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("boom")
        return defer.fail(ValueError("boom again"))
    t = Timer(bad, 1, clock, "t")
    t.start()
    clock.advance(1)
    assert len(calls) == 2 and t.failures == 2
    t.stop()


def test_stop_waits_for_the_run_in_progress() -> None:
    """stop() fires only once the in-flight run has ended, and nothing runs after it."""
    clock, pending = task.Clock(), []

    def slow() -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        pending.append(d)
        return d
    t = Timer(slow, 1, clock, "t")
    t.start()
    stopped = t.stop()
    assert not stopped.called
    t.kick()   # ignored for after the stop: no second run
    pending[0].callback(None)
    assert stopped.called and len(pending) == 1
    clock.advance(10)
    assert len(pending) == 1 and not clock.getDelayedCalls()


def test_kick_without_start_runs_once() -> None:
    """kick() on a timer never started runs once and schedules nothing."""
    clock, runs = task.Clock(), []
    t = Timer(lambda: runs.append(1), 1, clock, "t")
    t.kick()
    assert runs == [1] and not clock.getDelayedCalls()
