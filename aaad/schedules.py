"""When periodic jobs run: fixed intervals, or calendar times in an org's zone.

Pure functions of an instant and a time zone (no clock).  An interval job's
period is an epoch-aligned slice of ``seconds``; a calendar job's period is
a local date (its key ``YYYY-MM-DD``) and it is due at that date's local
time of day:

- :class:`Daily` at a local time (reminders at 09:00);
- :class:`Monthly` on a day of the month at a local time (a billing day);
  months shorter than the day run on their last day (31 -> Feb 28/29).

Daylight saving: a local time skipped by a spring-forward jump runs once,
at the first instant after the gap; a local time that happens twice at a
fall-back runs once, at its first occurrence.  Either way one run per date.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from aaad.cycles import add_months, require_aware


@dataclass(frozen=True)
class Every:
    """Every ``seconds`` seconds, periods aligned to the epoch (UTC)."""
    seconds: int
    calendar = False

    def describe(self) -> str:
        return f"every {self.seconds}s"

    def period_at(self, now: datetime, tz: tzinfo = UTC) -> tuple[str, datetime]:
        """The (key, start) of the period holding ``now``."""
        ts = int(now.timestamp())
        start = datetime.fromtimestamp(ts - ts % self.seconds, UTC)
        return start.isoformat(), start

    def next_after(self, after: datetime, tz: tzinfo = UTC) -> tuple[str, datetime]:
        """The (key, start) of the first period starting after ``after``."""
        _, start = self.period_at(after)
        nxt = start + timedelta(seconds=self.seconds)
        return nxt.isoformat(), nxt


def local_instant(d: date, at: time, tz: tzinfo) -> datetime:
    """The UTC instant of local date ``d`` at wall time ``at`` in ``tz``.

    A wall time skipped by a DST jump maps to the first instant after the
    gap; one that happens twice maps to its first occurrence.
    """
    wall = datetime.combine(d, at.replace(tzinfo=None))
    t0 = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if t0.astimezone(tz).replace(tzinfo=None) == wall:
        return t0
    # In a gap: fold=1 maps before the jump, fold=0 after it; the jump lies
    # between, on a whole second: find it by bisection.
    lo, hi = int(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp()), int(t0.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


class _Calendar:
    """A schedule with one run on some local dates (subclasses say which)."""
    calendar = True
    at: time

    def run_date(self, year: int, month: int, day: int) -> date | None:
        """The run date of the period holding local date (year, month, day)."""
        raise NotImplementedError

    def _candidates(self, local: date, back: int, ahead: int) -> list[date]:
        raise NotImplementedError

    def occurrence(self, d: date, tz: tzinfo) -> tuple[str, datetime]:
        """(key, due instant) of the run whose period holds local date ``d``."""
        run = self.run_date(d.year, d.month, d.day)
        assert run is not None
        return run.isoformat(), local_instant(run, self.at, tz)

    def period_at(self, now: datetime, tz: tzinfo) -> tuple[str, datetime]:
        """(key, due instant) of the latest run due at or before ``now``."""
        require_aware(now)
        local = now.astimezone(tz).date()
        for d in self._candidates(local, 3, 0)[::-1]:
            key, at = self.occurrence(d, tz)
            if at <= now:
                return key, at
        raise AssertionError("unreachable: a run is due within three periods")

    def next_after(self, after: datetime, tz: tzinfo) -> tuple[str, datetime]:
        """(key, due instant) of the first run due strictly after ``after``."""
        require_aware(after)
        local = after.astimezone(tz).date()
        for d in self._candidates(local, 1, 2):
            key, at = self.occurrence(d, tz)
            if at > after:
                return key, at
        raise AssertionError("unreachable: a run is due within two periods")


@dataclass(frozen=True)
class Daily(_Calendar):
    """Every day at local time ``at``."""
    at: time = time(0)

    def describe(self) -> str:
        return f"daily at {self.at:%H:%M} local"

    def run_date(self, year: int, month: int, day: int) -> date:
        return date(year, month, day)

    def _candidates(self, local: date, back: int, ahead: int) -> list[date]:
        return [local + timedelta(days=i) for i in range(-back, ahead + 1)]


@dataclass(frozen=True)
class Monthly(_Calendar):
    """Every month on ``day`` (clamped to the month's last day) at local time ``at``."""
    day: int = 1
    at: time = time(0)

    def __post_init__(self) -> None:
        if not 1 <= self.day <= 31:
            raise ValueError(f"day of month {self.day} is not 1-31")

    def describe(self) -> str:
        return f"monthly on day {self.day} at {self.at:%H:%M} local"

    def run_date(self, year: int, month: int, day: int = 1) -> date:
        return date(year, month, min(self.day, calendar.monthrange(year, month)[1]))

    def _candidates(self, local: date, back: int, ahead: int) -> list[date]:
        return [date(*add_months(local.year, local.month, i), 1) for i in range(-back, ahead + 1)]


Schedule = Every | Daily | Monthly


def parse_date(key: str) -> date:
    """The local date of a calendar period key."""
    return date.fromisoformat(key)
