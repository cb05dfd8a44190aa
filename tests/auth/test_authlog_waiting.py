"""The auth log's batches against a writer that falls behind: background while it keeps up, at
full priority once ``max_waiting`` batches wait, and nothing lost either way."""
from __future__ import annotations

from typing import Any

from twisted.internet import defer, task

from aaad.authlog import AuthLog


class HeldDB:
    """A database whose writes wait until the test answers them, recording how each was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any], defer.Deferred[tuple[int, int]]]] = []

    def _send(self, how: str, rows: list[Any]) -> defer.Deferred[tuple[int, int]]:
        d: defer.Deferred[tuple[int, int]] = defer.Deferred()
        self.sent.append((how, rows, d))
        return d

    def write(self, fn: Any, rows: list[Any]) -> defer.Deferred[tuple[int, int]]:
        return self._send("write", rows)

    def write_background(self, fn: Any, rows: list[Any]) -> defer.Deferred[tuple[int, int]]:
        return self._send("background", rows)

    def answer(self, i: int) -> None:
        _, rows, d = self.sent[i]
        d.callback((len(rows), 0))


def entry(i: int) -> tuple[Any, ...]:
    return (1_764_500_000.0 + i, 1, 1, f"u{i}", "pap", "accept", None, None, 5)


def test_batches_go_background_until_max_waiting_wait_then_at_full_priority() -> None:
    db = HeldDB()
    log = AuthLog(db, task.Clock(), max_batch=2, max_waiting=3)
    for i in range(10):               # 5 full batches, none answered
        log.add(entry(i))
    assert [how for how, _, _ in db.sent] == ["background"] * 3 + ["write"] * 2
    assert (log.waiting, log.promoted) == (5, 2)
    for i in range(5):
        db.answer(i)
    assert log.waiting == 0
    log.add(entry(10))
    log.add(entry(11))                # the writer caught up: background again
    assert db.sent[-1][0] == "background"
    db.answer(5)
    assert (log.written, log.dropped, log.promoted) == (12, 0, 2)


def test_a_failed_batch_stops_waiting_and_is_counted_as_dropped() -> None:
    db = HeldDB()
    log = AuthLog(db, task.Clock(), max_batch=2, max_waiting=1)
    log.add(entry(0))
    log.add(entry(1))
    db.sent[0][2].errback(RuntimeError("disk full"))
    log.add(entry(2))
    log.add(entry(3))
    assert [how for how, _, _ in db.sent] == ["background", "background"]
    assert (log.waiting, log.dropped) == (1, 2)
