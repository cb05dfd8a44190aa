"""Bounded logging of recurring failures, and accounting's quiet failure path."""
from __future__ import annotations

from typing import Any

from twisted.internet import task
from twisted.logger import LogLevel

from aaad.db import WriterFull
from aaad.ratelog import RateLimited, RateLimitingObserver, describe
from accounting.server import log as acct_log
from tests.accounting.test_server import Harness, acct


class Recorder:
    def __init__(self) -> None:
        self.lines: list[dict] = []

    def error(self, fmt: str, **kw: Any) -> None:
        self.lines.append(dict(kw, fmt=fmt))


def test_rate_limited_logs_once_per_interval_with_a_count() -> None:
    """1000 failures in 25 s give three lines; the later ones carry the count held back."""
    clock, rec = task.Clock(), Recorder()
    rl = RateLimited(rec, clock, interval=10)
    for _ in range(1000):
        rl.failure("write failed", RuntimeError("database is down\nDETAIL: lots"))
        clock.advance(0.025)
    assert len(rec.lines) == 3
    assert rec.lines[0]["error"] == "RuntimeError: database is down" and rec.lines[0]["more"] == 0
    assert rec.lines[1]["more"] == 399 and "399 more" in rec.lines[1]["more_text"]


def test_rate_limited_keys_are_independent() -> None:
    """Different failures are each reported."""
    clock, rec = task.Clock(), Recorder()
    rl = RateLimited(rec, clock)
    rl.failure("a", ValueError("x"))
    rl.failure("b", ValueError("y"))
    rl.failure("a", ValueError("z"))
    assert [ln["what"] for ln in rec.lines] == ["a", "b"]


def test_observer_holds_back_repeated_errors_but_not_info() -> None:
    """Repeated errors with one template pass once per interval; info always passes."""
    now = [0.0]
    seen: list[dict] = []
    obs = RateLimitingObserver(seen.append, lambda: now[0], interval=10)
    for i in range(100):
        obs({"log_level": LogLevel.critical, "log_namespace": "x", "log_format": "poll failed"})
        obs({"log_level": LogLevel.info, "log_namespace": "x", "log_format": "tick {i}", "i": i})
        now[0] += 0.25
    errors = [e for e in seen if e["log_level"] is LogLevel.critical]
    assert len(errors) == 3 and len(seen) == 103
    assert "39 more like this held back" in errors[1]["log_format"]


def test_observer_logs_a_repeated_traceback_once() -> None:
    """The first failure of a kind keeps its traceback; later reports are one line."""
    from twisted.python.failure import Failure
    now = [0.0]
    seen: list[dict] = []
    obs = RateLimitingObserver(seen.append, lambda: now[0], interval=10)
    for _ in range(3):
        obs({"log_level": LogLevel.critical, "log_namespace": "x", "log_format": "poll failed",
             "log_failure": Failure(RuntimeError("db {down}"))})
        now[0] += 11
    assert "log_failure" in seen[0] and "log_failure" not in seen[1]
    assert seen[1]["log_format"] == "poll failed: RuntimeError: db {{down}}"


def test_describe_names_type_and_first_line() -> None:
    """describe() gives one line, from an exception or a Failure."""
    from twisted.python.failure import Failure
    assert describe(Failure(WriterFull("20000 waiting"))) == "WriterFull: 20000 waiting"


def test_accounting_failures_are_counted_and_logged_once_per_interval() -> None:
    """An outage fails every request: each is counted and left unanswered; the log gets one line."""
    h = Harness()
    events: list[dict] = []
    saved, acct_log.observer = acct_log.observer, events.append  # type: ignore[assignment]
    try:
        for i in range(200):
            h.send(acct(1, ident=i))
            h.submitted[-1][1].errback(WriterFull("queue full"))
    finally:
        acct_log.observer = saved
    assert h.transport.written == [] and h.st.write_failures[""] == 200 and h.proto.pending == 0
    assert len(events) == 1 and "log_failure" not in events[0]
    assert len(h.proto.dedup) == 0  # nothing pending held: retransmissions are processed again
