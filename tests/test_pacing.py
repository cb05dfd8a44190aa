"""The token bucket both senders pace with (enforcement's CoAs, notify's messages), on a driven clock."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import task

from aaad.pacing import MIN_WAIT, TokenBucket


def test_rate_zero_never_waits() -> None:
    b = TokenBucket(task.Clock(), 0.0, 0.05)
    assert all(b.take() == 0.0 for _ in range(10_000))


def test_burst_then_paced() -> None:
    """At 100/s with 0.05 s of burst: 5 at once, then one each 10 ms (the wait says when)."""
    clock = task.Clock()
    b = TokenBucket(clock, 100.0, 0.05)
    assert [b.take() for _ in range(5)] == [0.0] * 5
    wait = b.take()
    assert abs(wait - 0.00999) < 1e-9
    clock.advance(wait)
    assert b.take() == 0.0 and b.take() > 0


def test_a_wait_is_never_shorter_than_a_millisecond() -> None:
    clock = task.Clock()
    b = TokenBucket(clock, 10.0, 0.0)
    assert b.take() == 0.0
    clock.advance(0.0999999)            # a float shy of a whole token counts as one
    assert b.take() == 0.0
    clock.advance(0.0998)
    assert b.take() == MIN_WAIT


@given(st.floats(0.5, 5000), st.floats(0, 0.2), st.lists(st.floats(0, 0.05), min_size=1, max_size=300))
def test_never_more_than_the_burst_plus_the_rate(rate: float, burst_s: float, gaps: list[float]) -> None:
    """Whatever the times of the attempts, sends up to any moment never exceed the burst plus what the rate
    accrued by then (plus the float tolerance), and an attempt refused is told a wait after which the next
    one goes through (or, the float a hair short, one more millisecond)."""
    clock = task.Clock()
    b = TokenBucket(clock, rate, burst_s)
    sent, t0 = 0, clock.seconds()
    for gap in gaps:
        clock.advance(gap)
        wait = b.take()
        if wait == 0.0:
            sent += 1
        else:
            assert wait >= MIN_WAIT
            clock.advance(wait)
            again = b.take()              # float rounding may leave it a hair short: at most one more ms
            if again:
                assert again == MIN_WAIT
                clock.advance(again)
                assert b.take() == 0.0
            sent += 1
        elapsed = clock.seconds() - t0
        assert sent <= b.burst + elapsed * rate + 0.001 * (sent + 1) + 1e-6
