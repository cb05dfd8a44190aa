"""Quota and billing cycles: pure calendar arithmetic in an org's time zone.

A login's cycle is monthly from its ``cycle_anchor``'s local day of month
in the org's zone (or calendar months in UTC without an anchor).  The
accounting package sums usage per cycle; aaad resets a login at its cycle
boundary (``cycle.started``); billing bills per cycle.  Every function takes
the instant it works on; none reads a clock.
"""
from __future__ import annotations

import calendar
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The default cycle when a login has no cycle_anchor: the 1st of each month, UTC.
DEFAULT_ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)


def require_aware(t: datetime) -> None:
    """Reject naive datetimes: an instant without a zone has no local day."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t!r}: pass an aware UTC datetime")


def local_midnight(year: int, month: int, day: int, tz: tzinfo) -> datetime:
    """Return the first instant (UTC) of a local date.

    With ``fold=0`` a midnight skipped by a DST jump resolves with the offset
    from before the jump, which is the first instant of the new day.
    """
    return datetime(year, month, day, tzinfo=tz, fold=0).astimezone(UTC)


def _cycle_start_in(year: int, month: int, anchor_day: int, tz: tzinfo) -> datetime:
    """Return the start (UTC) of the cycle beginning in a local month."""
    last_day = calendar.monthrange(year, month)[1]
    return local_midnight(year, month, min(anchor_day, last_day), tz)


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    """Return (year, month) ``months`` months after the given month."""
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def cycle_bounds(anchor: datetime, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """Return [start, end) in UTC of the monthly cycle holding ``now``.

    A cycle starts at local midnight (``tz``) of the anchor's local day of
    month, and ends where the next one starts. Months too short for the
    anchor day start their cycle on their last day instead (anchor 31: Jan
    31, Feb 28/29, Mar 31, Apr 30), so every cycle is "one month" and none is
    skipped. The anchor's time of day is ignored; ``now`` before the anchor
    still gets the cycle of the same pattern holding it.
    """
    require_aware(anchor)
    require_aware(now)
    anchor_day = anchor.astimezone(tz).day
    local = now.astimezone(tz)
    start = _cycle_start_in(local.year, local.month, anchor_day, tz)
    if start <= now:
        year, month = add_months(local.year, local.month, 1)
        return start, _cycle_start_in(year, month, anchor_day, tz)
    year, month = add_months(local.year, local.month, -1)
    return _cycle_start_in(year, month, anchor_day, tz), start


def cycle_of(cycle_anchor: datetime | None, tz: tzinfo, at: datetime) -> tuple[datetime, datetime]:
    """[start, end) of a login's quota cycle holding ``at``.

    With a cycle anchor: monthly from the anchor's local day in the org's
    zone; without: calendar months in UTC.
    """
    if cycle_anchor is None:
        return cycle_bounds(DEFAULT_ANCHOR, at, UTC)
    return cycle_bounds(cycle_anchor, at, tz)


def zone(name: str | None, cache: dict[str, tzinfo] | None = None) -> tzinfo:
    """The tzinfo of an org's zone name; UTC for an empty or unknown name."""
    name = name or "UTC"
    if cache is not None and name in cache:
        return cache[name]
    try:
        tz: tzinfo = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    if cache is not None:
        cache[name] = tz
    return tz
