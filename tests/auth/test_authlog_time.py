"""The auth log's time column on SQLite: formatted once per second, equal to datetime's format."""
from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from aaad.authlog import _SqliteTime

FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@given(st.lists(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False), min_size=1, max_size=50))
def test_same_text_as_datetime_for_any_times_in_any_order(times: list[float]) -> None:
    """Any POSIX times, in any order (the per-second cache must never leak into the next second),
    give exactly what datetime.fromtimestamp(...).strftime gives, microsecond rounding included."""
    fmt = _SqliteTime()
    for ts in times:
        assert fmt(ts) == datetime.fromtimestamp(ts, UTC).strftime(FORMAT)


def test_rounding_up_into_the_next_second() -> None:
    """A time a hair under a whole second rounds up to it, as datetime does (the carry)."""
    fmt = _SqliteTime()
    ts = 1_764_500_000.9999996
    assert fmt(ts) == datetime.fromtimestamp(ts, UTC).strftime(FORMAT) == "2025-11-30 10:53:21.000000"
