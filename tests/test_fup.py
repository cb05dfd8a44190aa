"""aaad.fup: the FUP decision, the free-hours rule and their parsing, as pure functions."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aaad import fup
from aaad.errors import ValidationError
from aaad.fup import FreeHours, Tier

G = 10**9
TIERS = (Tier(100 * G, "5M/5M"), Tier(200 * G, "1M/1M"))
NIGHT = FreeHours(0, 360)  # 00:00-06:00

tier_lists = st.lists(st.tuples(st.integers(1, 10**15), st.sampled_from(["5M/5M", "1M/1M", "2M/4M"])),
                      max_size=8, unique_by=lambda t: t[0]).map(fup.check_tiers)
usages = st.integers(0, 10**16)
zones = st.sampled_from([UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"),
                         ZoneInfo("Asia/Kathmandu"), ZoneInfo("Australia/Lord_Howe")])
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                        timezones=st.just(UTC))
windows = st.tuples(st.integers(0, 1439), st.integers(1, 1440)).filter(
    lambda w: w[0] != w[1] % 1440 or w[1] == 1440).map(lambda w: FreeHours(*w))


# -- the decision --------------------------------------------------------------------------

def test_levels_of_two_tiers() -> None:
    """Below 100G full speed, from exactly 100G level 1, from exactly 200G level 2."""
    assert [fup.fup_level(TIERS, u) for u in (0, 100 * G - 1, 100 * G, 200 * G - 1, 200 * G, 10**15)] == \
        [0, 0, 1, 1, 2, 2]
    assert fup.fup_level((), 10**15) == 0


@settings(max_examples=300, deadline=None)
@given(tier_lists, usages, usages)
def test_level_is_monotone_in_usage(tiers: tuple[Tier, ...], a: int, b: int) -> None:
    """More usage never gives a lower level; the level is bounded by the number of tiers."""
    lo, hi = sorted((a, b))
    assert 0 <= fup.fup_level(tiers, lo) <= fup.fup_level(tiers, hi) <= len(tiers)


@settings(max_examples=300, deadline=None)
@given(tier_lists, usages)
def test_level_is_the_count_of_thresholds_reached(tiers: tuple[Tier, ...], used: int) -> None:
    """The level is the number of tiers whose threshold the usage reaches (0 below the first),
    and deciding again gives the same answer."""
    level = fup.fup_level(tiers, used)
    assert level == sum(1 for t in tiers if used >= t.after) == fup.fup_level(tiers, used)
    if tiers and used < tiers[0].after:
        assert level == 0
    if level:
        assert fup.tier_rate(tiers, level) == tiers[level - 1].rate_limit


def test_legacy_pair_is_an_implicit_tier_at_the_data_cap() -> None:
    """fup_rate_limit with a login's data cap joins the profile's tiers in threshold order;
    an explicit tier at the same threshold wins; without both halves there is none."""
    assert fup.effective_tiers(TIERS, "2M/2M", 150 * G) == (TIERS[0], Tier(150 * G, "2M/2M"), TIERS[1])
    assert fup.effective_tiers((), "2M/2M", 0) == (Tier(0, "2M/2M"),)
    assert fup.effective_tiers(TIERS, "2M/2M", 100 * G) == TIERS
    assert fup.effective_tiers(TIERS, None, 150 * G) == TIERS
    assert fup.effective_tiers(TIERS, "2M/2M", None) == TIERS


def test_tier_rate_past_the_last_tier_keeps_the_last() -> None:
    """A level above the tiers a profile now has keeps the last tier's rate; level 0 has none."""
    assert fup.tier_rate(TIERS, 5) == "1M/1M" and fup.tier_rate(TIERS, 0) is None
    assert fup.tier_rate((), 1) is None


# -- free hours -----------------------------------------------------------------------------

def t(h: int, m: int = 0, day: int = 10, tz: object = UTC) -> datetime:
    return datetime(2026, 3, day, h, m, tzinfo=tz).astimezone(UTC)  # type: ignore[arg-type]


def test_traffic_inside_the_window_does_not_count() -> None:
    """Octets of 01:00-02:00 are free; of 12:00-13:00 count whole."""
    assert fup.counted_octets(1000, t(1), t(2), NIGHT, UTC) == 0
    assert fup.counted_octets(1000, t(12), t(13), NIGHT, UTC) == 1000
    assert fup.counted_octets(1000, t(1), t(2), None, UTC) == 1000


def test_a_delta_across_the_boundary_splits_by_time() -> None:
    """05:50-06:10 is half free; 23:30-00:30 half free (the window starts at midnight)."""
    assert fup.counted_octets(1000, t(5, 50), t(6, 10), NIGHT, UTC) == 500
    assert fup.counted_octets(1000, t(23, 30, day=9), t(0, 30), NIGHT, UTC) == 500
    # a window wrapping midnight: 22:00-02:00, a delta 21:00-23:00 is half free
    assert fup.counted_octets(999, t(21), t(23), FreeHours(22 * 60, 120), UTC) == 499


def test_window_is_local_time_of_the_org() -> None:
    """In Berlin (UTC+1 in March) the window 00:00-06:00 is 23:00-05:00 UTC."""
    berlin = ZoneInfo("Europe/Berlin")
    assert fup.counted_octets(1000, t(23, day=9), t(5), NIGHT, berlin) == 0
    assert fup.counted_octets(1000, t(5), t(6), NIGHT, berlin) == 1000


def test_an_instant_counts_whole_or_not() -> None:
    """A delta with no span (start == end) is free exactly when its instant is in the window."""
    assert fup.counted_octets(7, t(3), t(3), NIGHT, UTC) == 0
    assert fup.counted_octets(7, t(6), t(6), NIGHT, UTC) == 7  # the window is [00:00, 06:00)


def test_a_long_span_counts_each_day_s_window() -> None:
    """Two whole days hold two 6-hour windows: a quarter is free."""
    assert fup.counted_octets(4000, t(12, day=10), t(12, day=12), NIGHT, UTC) == 3000


def test_whole_day_window() -> None:
    """00:00-24:00 makes every octet free."""
    assert fup.counted_octets(5, t(12), t(13), FreeHours(0, 1440), UTC) == 0


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**13), instants, st.integers(0, 3 * 86400), windows, zones)
def test_counted_is_a_part_of_the_octets(octets: int, start: datetime, secs: int, fh: FreeHours,
                                         tz: ZoneInfo) -> None:
    """0 <= counted <= octets, with or without free hours."""
    end = start + timedelta(seconds=secs)
    c = fup.counted_octets(octets, start, end, fh, tz)
    assert 0 <= c <= octets
    assert fup.counted_octets(octets, start, end, None, tz) == octets


@settings(max_examples=300, deadline=None)
@given(instants, st.integers(1, 3 * 86400), st.integers(1, 3 * 86400), windows, zones)
def test_splitting_a_span_adds_up(start: datetime, s1: int, s2: int, fh: FreeHours, tz: ZoneInfo) -> None:
    """The free time of [a, c) is the free time of [a, b) plus that of [b, c)."""
    mid, end = start + timedelta(seconds=s1), start + timedelta(seconds=s1 + s2)

    def free(a: datetime, b: datetime) -> timedelta:
        return sum((y - x for x, y in fup.free_windows(fh, tz, a, b)), timedelta())
    assert free(start, end) == free(start, mid) + free(mid, end)
    assert timedelta() <= free(start, end) <= end - start


# -- parsing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,octets", [
    ("100G", 100 * G), ("100GB", 100 * G), ("100g", 100 * G), ("1.5G", 1_500_000_000), ("5000", 5000),
    ("512Mi", 512 << 20), ("1GiB", 1 << 30), ("2T", 2 * 10**12), ("10K", 10_000), ("1Ti", 1 << 40),
])
def test_sizes_with_units(text: str, octets: int) -> None:
    """K/M/G/T are decimal, Ki/Mi/Gi/Ti binary, a trailing B is allowed."""
    assert fup.parse_size(text) == octets


@pytest.mark.parametrize("text", ["", "G", "-5G", "10X", "1.2.3G", "99999999999T"])
def test_bad_sizes_name_the_field(text: str) -> None:
    """A size that is not one raises ValidationError naming the field."""
    with pytest.raises(ValidationError) as e:
        fup.parse_size(text, "fup_tiers")
    assert e.value.field == "fup_tiers"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**62))
def test_format_size_round_trips(octets: int) -> None:
    """format_size writes a spelling parse_size reads back exactly."""
    assert fup.parse_size(fup.format_size(octets)) == octets


def test_tier_syntax() -> None:
    """THRESHOLD:RATE (the rate checked like a profile's); shown back the same way."""
    assert fup.parse_tier("100G:5M/5M") == Tier(100 * G, "5M/5M")
    assert fup.parse_tier("1Gi:2M/4M") == Tier(1 << 30, "2M/4M")
    assert str(Tier(100 * G, "5M/5M")) == "100G:5M/5M"
    for bad in ("100G", "100G:", "x:5M/5M", ":5M/5M", "1G:5M 5M x"):
        with pytest.raises(ValidationError) as e:
            fup.parse_tier(bad)
        assert e.value.field == "fup_tiers"


def test_tiers_are_ordered_and_distinct() -> None:
    """Tiers are sorted by threshold; two at one threshold, a zero threshold or too many are refused."""
    assert fup.check_tiers([Tier(200 * G, "1M/1M"), (100 * G, "5M/5M")]) == TIERS
    for bad in ([Tier(G, "1M/1M"), Tier(G, "2M/2M")], [Tier(0, "1M/1M")], [(G, "")],
                [Tier(i + 1, "1M/1M") for i in range(fup.MAX_TIERS + 1)], ["nope"]):
        with pytest.raises(ValidationError):
            fup.check_tiers(bad)  # type: ignore[arg-type]


def test_free_hours_syntax() -> None:
    """HH:MM-HH:MM, wrapping midnight allowed, 24:00 only as the end; shown canonically."""
    assert fup.parse_free_hours("00:00-06:00") == NIGHT
    assert fup.parse_free_hours("22:30-6:00") == FreeHours(22 * 60 + 30, 360)
    assert str(fup.parse_free_hours("0:00-24:00")) == "00:00-24:00"
    for bad in ("00:00", "06:00-06:00", "25:00-06:00", "24:00-06:00", "00:60-06:00", "a-b"):
        with pytest.raises(ValidationError) as e:
            fup.parse_free_hours(bad)
        assert e.value.field == "free_hours"


def test_columns_round_trip() -> None:
    """Tiers and free hours survive their stored forms; none is NULL."""
    assert fup.tiers_from_column(fup.tiers_column(TIERS)) == TIERS
    assert fup.tiers_column(()) is None and fup.tiers_from_column(None) == ()
    assert fup.free_hours_from_column(fup.free_hours_column(NIGHT)) == NIGHT
    assert fup.free_hours_column(None) is None


def test_with_and_without_a_tier() -> None:
    """One tier added in threshold order, or removed by its threshold; a second tier at a threshold, a
    missing one and a bad rate are refused naming the field."""
    added = fup.with_tier(TIERS, Tier(50 * G, "10M/10M"))
    assert [t.after for t in added] == [50 * G, 100 * G, 200 * G]
    assert fup.without_tier(added, 100 * G) == (Tier(50 * G, "10M/10M"), Tier(200 * G, "1M/1M"))
    with pytest.raises(ValidationError) as e:
        fup.with_tier(TIERS, Tier(100 * G, "9M/9M"))
    assert e.value.field == "after" and "already" in e.value.message
    with pytest.raises(ValidationError) as e:
        fup.without_tier(TIERS, 7)
    assert e.value.field == "after"
    with pytest.raises(ValidationError):
        fup.with_tier(TIERS, Tier(1, "not a rate"))
