"""Repeated accepts: an accept of the same user name from the same NAS and Calling-Station-Id within
``repeat_seconds`` of the last one logged is counted, not logged; rejects are always logged."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer, task

from aaad.authlog import AuthLog


class ListDB:
    """Writes answered at once; keeps every row written."""

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def write_background(self, fn: Any, rows: list[Any]) -> defer.Deferred[tuple[int, int]]:
        self.rows.extend(rows)
        return defer.succeed((len(rows), 0))

    write = write_background


def entry(ts: float, nas: int = 1, user: str | None = "u", result: str = "accept",
          calling: str | None = "aa:bb") -> tuple[Any, ...]:
    return (ts, 1, nas, user, "pap", result, None if result == "accept" else "bad password", calling, 5)


def logged(db: ListDB, log: AuthLog) -> list[tuple[Any, ...]]:
    log.flush()
    return db.rows


T0 = 1_764_500_000.0


def test_a_repeat_within_the_window_is_counted_not_logged() -> None:
    db = ListDB()
    log = AuthLog(db, task.Clock(), repeat_seconds=60, max_batch=1000)
    for dt in (0, 10, 59.9):
        log.add(entry(T0 + dt))
    log.add(entry(T0 + 60))            # a window after the one logged: logged again
    assert [r[0] - T0 for r in logged(db, log)] == [0, 60]
    assert log.repeats == 2


def test_another_nas_device_or_user_is_not_a_repeat() -> None:
    db = ListDB()
    log = AuthLog(db, task.Clock(), repeat_seconds=60, max_batch=1000)
    log.add(entry(T0))
    log.add(entry(T0 + 1, nas=2))
    log.add(entry(T0 + 2, calling="cc:dd"))
    log.add(entry(T0 + 3, calling=None))
    log.add(entry(T0 + 4, user="v"))
    log.add(entry(T0 + 5, user=None))
    assert len(logged(db, log)) == 6
    assert log.repeats == 0


def test_rejects_are_always_logged_and_do_not_start_a_window() -> None:
    db = ListDB()
    log = AuthLog(db, task.Clock(), repeat_seconds=60, max_batch=1000)
    for dt in range(5):
        log.add(entry(T0 + dt, result="reject"))
    log.add(entry(T0 + 5))              # the first accept after the rejects is logged
    log.add(entry(T0 + 6, result="reject"))
    assert [r[5] for r in logged(db, log)] == ["reject"] * 5 + ["accept", "reject"]
    assert log.repeats == 0


def test_zero_logs_every_accept() -> None:
    db = ListDB()
    log = AuthLog(db, task.Clock(), repeat_seconds=0, max_batch=1000)
    for dt in range(5):
        log.add(entry(T0 + dt * 0.001))
    assert len(logged(db, log)) == 5
    assert log.repeats == 0


def test_memory_is_bounded_by_two_windows_of_keys() -> None:
    db = ListDB()
    log = AuthLog(db, task.Clock(), repeat_seconds=10, max_batch=1000)
    for i in range(1000):              # a new device every 0.1 s for 100 s
        log.add(entry(T0 + i * 0.1, calling=f"dev{i}"))
    assert log.remembered() <= 2 * 10 / 0.1 + 1
    assert log.repeats == 0


events = st.lists(st.tuples(st.floats(0, 5, allow_nan=False),            # seconds since the previous one
                            st.sampled_from([1, 2]), st.sampled_from(["u", "v"]),
                            st.sampled_from(["accept", "accept", "reject"])), max_size=60)


@settings(max_examples=300, deadline=None)
@given(events, st.sampled_from([0.0, 1.0, 3.0, 7.5]))
def test_what_is_logged_matches_the_rule(evs: list[tuple[float, int, str, str]], window: float) -> None:
    """Against a plain model: an accept is logged unless an accept of the same key was logged less
    than ``window`` seconds before it; every reject is logged; nothing else is lost."""
    db = ListDB()
    log = AuthLog(db, task.Clock(), repeat_seconds=window, max_batch=7)
    last: dict[tuple[int, str], float] = {}
    expected = []
    t = T0
    for gap, nas, user, result in evs:
        t += gap
        e = entry(t, nas=nas, user=user, result=result)
        log.add(e)
        key = (nas, user)
        if result == "reject":
            expected.append(e)
        elif key in last and t - last[key] < window:
            continue
        else:
            last[key] = t
            expected.append(e)
    assert logged(db, log) == expected
    assert log.repeats == len(evs) - len(expected)
