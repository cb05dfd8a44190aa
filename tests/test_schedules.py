"""Calendar schedules: pure next-run arithmetic in an org's zone, DST and short months."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from aaad.schedules import Daily, Every, Monthly, local_instant

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
         "America/Havana", "America/Santiago", "Europe/Chisinau"]
NY = ZoneInfo("America/New_York")

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC))
zones = st.sampled_from(ZONES).map(ZoneInfo)
times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 1, 15, 30, 59]))


def wall(t: datetime, tz: ZoneInfo) -> datetime:
    return t.astimezone(tz).replace(tzinfo=None)


def test_spring_forward_runs_at_the_first_instant_after_the_gap() -> None:
    """02:30 on the day New York skips 02:00-03:00 runs at 03:00 EDT, once."""
    assert local_instant(date(2026, 3, 8), time(2, 30), NY) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    key, at = Daily(time(2, 30)).period_at(datetime(2026, 3, 8, 12, tzinfo=UTC), NY)
    assert (key, at) == ("2026-03-08", datetime(2026, 3, 8, 7, 0, tzinfo=UTC))


def test_fall_back_runs_at_the_first_occurrence() -> None:
    """01:30 happens twice when New York falls back: the run is at the first (EDT) one."""
    assert local_instant(date(2026, 11, 1), time(1, 30), NY) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    s = Daily(time(1, 30))
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert s.next_after(first - timedelta(seconds=1), NY) == ("2026-11-01", first)
    assert s.next_after(first, NY)[0] == "2026-11-02"   # the second 01:30 is not another run


def test_monthly_clamps_short_months() -> None:
    """Day 31 runs on Feb 28 (29 in a leap year) and Apr 30; day 15 on the 15th."""
    s = Monthly(31, time(9, 0))
    tz = ZoneInfo("Europe/London")
    keys = []
    t = datetime(2027, 1, 1, tzinfo=UTC)
    for _ in range(5):
        key, t = s.next_after(t, tz)
        keys.append(key)
    assert keys == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"]
    assert s.next_after(datetime(2028, 2, 1, tzinfo=UTC), tz)[0] == "2028-02-29"
    assert Monthly(15).period_at(datetime(2027, 3, 20, tzinfo=UTC), UTC)[0] == "2027-03-15"


def test_interval_periods_are_epoch_aligned() -> None:
    """An interval period starts on a multiple of its length; the next starts one length later."""
    now = datetime(2026, 11, 1, 10, 7, 3, tzinfo=UTC)
    assert Every(300).period_at(now)[1] == datetime(2026, 11, 1, 10, 5, tzinfo=UTC)
    assert Every(300).next_after(now)[1] == datetime(2026, 11, 1, 10, 10, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(instants, zones, times)
def test_daily_latest_and_next_bracket_now(now: datetime, tz: ZoneInfo, at: time) -> None:
    """The latest run is at or before now, the next after it, none between, and the next
    run's date is the following local date."""
    s = Daily(at)
    key, t = s.period_at(now, tz)
    key2, t2 = s.next_after(now, tz)
    assert t <= now < t2
    assert s.next_after(t, tz) == (key2, t2)
    assert date.fromisoformat(key2) == date.fromisoformat(key) + timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 1, 1)), zones, times)
def test_a_run_is_the_first_instant_at_or_past_its_wall_time(d: date, tz: ZoneInfo, at: time) -> None:
    """The run instant shows a local time at or past the wall time, the second before it
    does not: the wall time itself, the end of a DST gap, or the first of two."""
    t = local_instant(d, at, tz)
    target = datetime.combine(d, at)
    assert wall(t, tz) >= target
    assert wall(t - timedelta(seconds=1), tz) < target
    assert wall(t, tz) - target <= timedelta(hours=2)


@settings(max_examples=300, deadline=None)
@given(instants, zones, st.integers(1, 31), times)
def test_monthly_one_run_per_month_on_the_clamped_day(now: datetime, tz: ZoneInfo, day: int,
                                                       at: time) -> None:
    """Monthly runs bracket now, come once per month, on min(day, days in month)."""
    import calendar
    s = Monthly(day, at)
    key, t = s.period_at(now, tz)
    key2, t2 = s.next_after(now, tz)
    assert t <= now < t2
    d1, d2 = date.fromisoformat(key), date.fromisoformat(key2)
    assert (d2.year * 12 + d2.month) - (d1.year * 12 + d1.month) == 1
    for d in (d1, d2):
        assert d.day == min(day, calendar.monthrange(d.year, d.month)[1])
