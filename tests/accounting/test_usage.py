"""Tests for accounting.usage: buckets, rollups, retention and quota cycles."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aaad.cycles import cycle_bounds
from accounting.usage import (
    Aggregation,
    QuotaState,
    aggregate,
    crossed,
    day_start,
    delta,
    expired_before,
    hour_start,
    over_cap,
    rollup,
    slot_start,
)

KATHMANDU = ZoneInfo("Asia/Kathmandu")  # UTC+05:45
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+05:30
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")  # DST starts at local midnight
BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        microsecond: int = 0) -> datetime:
    """Build an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


# --- slots ---------------------------------------------------------------


def test_slot_start_floors_to_five_minutes() -> None:
    """A time inside a slot floors to the slot's start; a slot start is its own floor."""
    assert slot_start(utc(2024, 5, 1, 10, 7, 59, 999)) == utc(2024, 5, 1, 10, 5)
    assert slot_start(utc(2024, 5, 1, 10, 5)) == utc(2024, 5, 1, 10, 5)
    assert slot_start(utc(2024, 5, 1, 10, 7), seconds=60) == utc(2024, 5, 1, 10, 7)


def test_slot_start_returns_utc_for_other_zones() -> None:
    """A time given in another zone yields the same UTC slot."""
    local = datetime(2024, 5, 1, 16, 0, 1, tzinfo=KATHMANDU)
    assert slot_start(local) == utc(2024, 5, 1, 10, 15)
    assert slot_start(local).tzinfo is UTC


def test_naive_and_bad_slots_are_rejected() -> None:
    """Naive datetimes and non-positive slot lengths raise ValueError."""
    with pytest.raises(ValueError):
        slot_start(datetime(2024, 5, 1))
    with pytest.raises(ValueError):
        slot_start(utc(2024, 5, 1), seconds=0)


def test_hour_start_is_utc_by_default() -> None:
    """Without a zone hours are UTC hours."""
    assert hour_start(utc(2024, 5, 1, 10, 59)) == utc(2024, 5, 1, 10)


def test_hour_start_follows_half_hour_zones() -> None:
    """In a +05:30 zone the local hour starts at :30 UTC."""
    assert hour_start(utc(2024, 5, 1, 10, 20), KOLKATA) == utc(2024, 5, 1, 9, 30)


def test_hour_start_keeps_repeated_hour_apart() -> None:
    """In a DST fall-back both passes of 01:00 local are separate hours."""
    first = utc(2024, 11, 3, 5, 30)  # 01:30 EDT
    second = utc(2024, 11, 3, 6, 30)  # 01:30 EST
    assert hour_start(first, NEW_YORK) == utc(2024, 11, 3, 5)
    assert hour_start(second, NEW_YORK) == utc(2024, 11, 3, 6)


def test_day_start_is_local_midnight() -> None:
    """A day starts at the org's local midnight, expressed in UTC."""
    assert day_start(utc(2024, 5, 1, 20), KATHMANDU) == utc(2024, 5, 1, 18, 15)
    assert day_start(utc(2024, 5, 1, 17), KATHMANDU) == utc(2024, 4, 30, 18, 15)


def test_day_start_when_dst_skips_midnight() -> None:
    """Where DST skips midnight the day starts at the first local instant (01:00)."""
    start = day_start(utc(2023, 9, 3, 12), SANTIAGO)
    assert start == utc(2023, 9, 3, 4)
    assert start.astimezone(SANTIAGO).hour == 1


def test_dst_days_are_23_and_25_hours() -> None:
    """Local days around DST changes last 23 and 25 hours."""
    spring = day_start(utc(2024, 3, 31, 12), BERLIN)
    assert day_start(spring + timedelta(hours=23), BERLIN) - spring == timedelta(hours=23)
    autumn = day_start(utc(2024, 10, 27, 12), BERLIN)
    assert day_start(autumn + timedelta(hours=25), BERLIN) - autumn == timedelta(hours=25)


@given(
    instants,
    st.sampled_from([UTC, KATHMANDU, NEW_YORK, SANTIAGO, BERLIN]),
)
def test_floors_contain_their_instant(t: datetime, tz: ZoneInfo) -> None:
    """Every floor is at or before t, on t's local date, and a fixed point."""
    for floor in (slot_start(t), hour_start(t, tz), day_start(t, tz)):
        assert floor <= t
    assert t - slot_start(t) < timedelta(minutes=5)
    assert day_start(t, tz).astimezone(tz).date() == t.astimezone(tz).date()
    assert day_start(day_start(t, tz), tz) == day_start(t, tz)
    assert hour_start(hour_start(t, tz), tz) == hour_start(t, tz)


# --- delta and aggregate -------------------------------------------------


def test_delta_is_the_unbucketed_part() -> None:
    """delta is current counters minus what was already bucketed."""
    assert delta(1500, 800, 1000, 300) == (500, 500)


def test_delta_never_negative() -> None:
    """When the bucketed value exceeds the counter, the delta is zero."""
    assert delta(900, 300, 1000, 300) == (0, 0)


def test_aggregate_sums_per_login() -> None:
    """Deltas of a login's sessions sum into one bucket for the slot."""
    slot = utc(2024, 5, 1, 10, 5)
    result = aggregate([(1, 100, 10, 0, 0), (1, 50, 5, 20, 5), (2, 7, 0, 7, 0)], slot)
    assert result == Aggregation(
        buckets={(1, slot): (130, 10)}, new_agg=[(100, 10), (50, 5), (7, 0)]
    )


def test_aggregate_floors_the_slot() -> None:
    """The slot argument is floored to its 5-minute start."""
    result = aggregate([(3, 10, 10, 0, 0)], utc(2024, 5, 1, 10, 7, 30))
    assert list(result.buckets) == [(3, utc(2024, 5, 1, 10, 5))]


def test_aggregate_never_lowers_agg() -> None:
    """A counter below its bucketed value contributes nothing and keeps the agg value."""
    result = aggregate([(1, 10, 500, 40, 400)], utc(2024, 5, 1))
    assert result.buckets == {(1, utc(2024, 5, 1)): (0, 100)}
    assert result.new_agg == [(40, 500)]


session_rows = st.lists(
    st.tuples(
        st.integers(1, 5),
        st.integers(0, 1 << 40),
        st.integers(0, 1 << 40),
        st.integers(0, 1 << 40),
        st.integers(0, 1 << 40),
    ),
    max_size=30,
)


growing_sessions = st.lists(
    st.tuples(st.integers(1, 4), st.lists(st.integers(0, 1 << 36), min_size=1, max_size=6)),
    max_size=10,
)


@given(growing_sessions)
def test_repeated_aggregation_sums_to_final_counters(
    sessions: list[tuple[int, list[int]]],
) -> None:
    """Over runs with growing counters, a login's buckets sum to its final counters."""
    # each session: login and the increments its counters show at each run
    counters = [[0, 0] for _ in sessions]
    agg = [(0, 0) for _ in sessions]
    totals: dict[int, list[int]] = {}
    runs = max((len(steps) for _, steps in sessions), default=0)
    for run in range(runs):
        for i, (_, steps) in enumerate(sessions):
            if run < len(steps):
                counters[i][0] += steps[run]
                counters[i][1] += steps[run] // 2
        rows = [
            (login, counters[i][0], counters[i][1], agg[i][0], agg[i][1])
            for i, (login, _) in enumerate(sessions)
        ]
        result = aggregate(rows, utc(2024, 5, 1) + timedelta(minutes=5 * run))
        agg = result.new_agg
        for (login, _), octets in result.buckets.items():
            total = totals.setdefault(login, [0, 0])
            total[0] += octets[0]
            total[1] += octets[1]
    want: dict[int, list[int]] = {}
    for i, (login, _) in enumerate(sessions):
        if counters[i] != [0, 0]:
            w = want.setdefault(login, [0, 0])
            w[0] += counters[i][0]
            w[1] += counters[i][1]
    assert {k: v for k, v in totals.items() if v != [0, 0]} == {
        k: v for k, v in want.items() if v != [0, 0]
    }


@given(session_rows)
def test_aggregate_equals_sum_of_deltas(rows: list[tuple[int, int, int, int, int]]) -> None:
    """Each bucket is the sum of its login's deltas, and agg values never go down."""
    slot = utc(2024, 5, 1)
    result = aggregate(rows, slot)
    want: dict[int, list[int]] = {}
    for login, i, o, ai, ao in rows:
        d = delta(i, o, ai, ao)
        w = want.setdefault(login, [0, 0])
        w[0] += d[0]
        w[1] += d[1]
    assert result.buckets == {
        (login, slot): (v[0], v[1]) for login, v in want.items() if v != [0, 0]
    }
    for (_, i, o, ai, ao), (ni, no) in zip(rows, result.new_agg, strict=True):
        assert (ni, no) == (max(i, ai), max(o, ao))


# --- rollup and retention ------------------------------------------------


def test_rollup_hour_sums_slots() -> None:
    """Slots of the same hour and login sum into one hourly row."""
    buckets = [
        (1, utc(2024, 5, 1, 10, 0), 10, 1),
        (1, utc(2024, 5, 1, 10, 55), 20, 2),
        (1, utc(2024, 5, 1, 11, 0), 5, 5),
        (2, utc(2024, 5, 1, 10, 5), 7, 7),
    ]
    assert rollup(buckets, "hour") == {
        (1, utc(2024, 5, 1, 10)): (30, 3),
        (1, utc(2024, 5, 1, 11)): (5, 5),
        (2, utc(2024, 5, 1, 10)): (7, 7),
    }


def test_rollup_day_uses_local_day() -> None:
    """Daily rollups split on the org's local midnight, not UTC's."""
    buckets = [(1, utc(2024, 5, 1, 18, 10), 1, 0), (1, utc(2024, 5, 1, 18, 15), 2, 0)]
    assert rollup(buckets, "day", KATHMANDU) == {
        (1, utc(2024, 4, 30, 18, 15)): (1, 0),
        (1, utc(2024, 5, 1, 18, 15)): (2, 0),
    }


def test_rollup_rejects_unknown_level() -> None:
    """Only hour and day are rollup levels."""
    with pytest.raises(ValueError):
        rollup([], "week")  # type: ignore[arg-type]


def test_expired_before_keeps_partial_periods() -> None:
    """The cut-off is the start of the period holding now - retention."""
    now = utc(2024, 5, 10, 10, 7)
    assert expired_before(now, "slot", timedelta(days=2)) == utc(2024, 5, 8, 10, 5)
    assert expired_before(now, "hour", timedelta(days=2)) == utc(2024, 5, 8, 10)
    assert expired_before(now, "day", timedelta(days=2), KATHMANDU) == utc(2024, 5, 7, 18, 15)


def test_expired_before_rejects_negative_retention() -> None:
    """A negative retention is a configuration error."""
    with pytest.raises(ValueError):
        expired_before(utc(2024, 5, 1), "day", timedelta(days=-1))


# --- quota ---------------------------------------------------------------


def test_cycle_bounds_plain_month() -> None:
    """A cycle anchored on the 15th runs from local midnight of one 15th to the next."""
    anchor = utc(2024, 1, 15, 13, 0)
    assert cycle_bounds(anchor, utc(2024, 5, 20), UTC) == (utc(2024, 5, 15), utc(2024, 6, 15))
    assert cycle_bounds(anchor, utc(2024, 5, 10), UTC) == (utc(2024, 4, 15), utc(2024, 5, 15))
    assert cycle_bounds(anchor, utc(2024, 5, 15), UTC) == (utc(2024, 5, 15), utc(2024, 6, 15))


def test_cycle_bounds_clamps_short_months() -> None:
    """An anchor on the 31st starts February's cycle on its last day, March's on the 31st."""
    anchor = utc(2024, 1, 31)
    assert cycle_bounds(anchor, utc(2024, 3, 1), UTC) == (utc(2024, 2, 29), utc(2024, 3, 31))
    assert cycle_bounds(anchor, utc(2023, 4, 30, 1), UTC) == (utc(2023, 4, 30), utc(2023, 5, 31))
    assert cycle_bounds(anchor, utc(2023, 2, 27), UTC) == (utc(2023, 1, 31), utc(2023, 2, 28))


def test_cycle_bounds_year_boundary_and_local_zone() -> None:
    """Cycles cross the year end, and start at the org's local midnight."""
    anchor = datetime(2024, 1, 5, 0, 30, tzinfo=KATHMANDU)  # Jan 4 in UTC
    start, end = cycle_bounds(anchor, utc(2024, 12, 31), KATHMANDU)
    assert start == datetime(2024, 12, 5, tzinfo=KATHMANDU)
    assert end == datetime(2025, 1, 5, tzinfo=KATHMANDU)


@settings(max_examples=300)
@given(
    instants,
    instants,
    st.sampled_from([UTC, KATHMANDU, NEW_YORK, SANTIAGO, BERLIN]),
)
def test_cycle_bounds_properties(anchor: datetime, now: datetime, tz: ZoneInfo) -> None:
    """now lies in [start, end); both fall on the clamped anchor day, one month apart."""
    start, end = cycle_bounds(anchor, now, tz)
    assert start <= now < end
    day = anchor.astimezone(tz).day
    ls, le = start.astimezone(tz), end.astimezone(tz)
    for local in (ls, le):
        assert local.day == min(day, calendar.monthrange(local.year, local.month)[1])
    assert (le.year * 12 + le.month) - (ls.year * 12 + ls.month) == 1
    assert day_start(start, tz) == start and day_start(end, tz) == end
    assert cycle_bounds(anchor, start, tz) == (start, end)
    assert cycle_bounds(anchor, end, tz)[0] == end


def test_over_cap() -> None:
    """Reaching the cap counts as over; no cap never is; a negative cap is an error."""
    assert not over_cap(99, 100)
    assert over_cap(100, 100)
    assert not over_cap(10**15, None)
    assert over_cap(0, 0)
    with pytest.raises(ValueError):
        over_cap(1, -1)


def test_crossed_fires_once() -> None:
    """Only the update that crosses the cap reports True."""
    assert crossed(90, 100, 100)
    assert not crossed(50, 90, 100)
    assert not crossed(100, 150, 100)
    assert not crossed(150, 10, 100)
    assert not crossed(0, 10, None)
    assert not crossed(0, 10, 0)


@given(st.lists(st.integers(0, 1000), min_size=1), st.integers(0, 20_000))
def test_crossed_fires_exactly_once_on_growing_usage(steps: list[int], cap: int) -> None:
    """Over growing usage the event fires once if the cap is crossed, else never."""
    used = 0
    fired = 0
    for step in steps:
        fired += crossed(used, used + step, cap)
        used += step
    assert fired == (1 if 0 < cap <= used else 0)


def test_quota_state() -> None:
    """QuotaState reports remaining octets and exhaustion."""
    q = QuotaState(utc(2024, 5, 1), utc(2024, 6, 1), used=70, cap=100)
    assert q.remaining == 30 and not q.exhausted
    assert QuotaState(q.cycle_start, q.cycle_end, used=120, cap=100).remaining == 0
    assert QuotaState(q.cycle_start, q.cycle_end, used=120, cap=None).remaining is None
