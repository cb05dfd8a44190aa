"""Fair-use policy (FUP): tiers, free hours and the throttle decision, as pure functions.

A profile may carry several FUP **tiers**: once a login's counted usage in
its quota cycle reaches a tier's threshold, the login gets the tier's
Mikrotik-Rate-Limit instead of the profile's (e.g. after 100G: 5M/5M,
after 200G: 1M/1M).  The **throttle level** of a login is the number of
tiers it has reached (0 = full speed): :func:`fup_level`.  Reaching counts,
as with the data cap: a 100G tier applies at exactly 100 GB.

The profile's older single ``fup_rate_limit`` works with the login's
``data_cap`` as an implicit tier at the data cap (:func:`effective_tiers`):
the login's tiers are the profile's explicit ones plus that one, ordered by
threshold (an explicit tier at the same threshold wins).

**Free hours** are a window of the org's local day (``00:00-06:00``; one
that ends before it starts wraps midnight, ``22:00-06:00``; ``24:00`` may
end a window) whose traffic does not count towards the cycle usage.  The
octets an interim update reports cover the time since the counters last
counted; they are split proportionally by time between the free window and
the rest (:func:`counted_octets`), rounded down in the customer's favour.
The window is local wall-clock time: on a DST change day it is an hour
shorter or longer in UTC.  Free hours shape the cycle usage as a whole: the
data cap (``usage.quota_exceeded``, ``block_when_exhausted``) sees the same
counted octets as the tiers, while the usage buckets (graphs, today / total)
keep all traffic.

Sizes (:func:`parse_size`) are octets, with an optional unit: K, M, G, T
are decimal (10^3 … 10^12, as ISPs sell "100 GB"); Ki, Mi, Gi, Ti binary
(2^10 … 2^40); a trailing ``B`` is allowed (``100GB``, ``1.5GiB``).

Nothing here reads a clock or the database: the accounting aggregation
pass (which alone knows the usage) calls these with its numbers.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation

from aaad.errors import ValidationError

#: At most this many explicit tiers per profile.
MAX_TIERS = 16

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
#: Octets fit a signed 64-bit column.
_MAX_OCTETS = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Tier:
    """After ``after`` octets counted in the cycle: ``rate_limit``."""
    after: int
    rate_limit: str

    def __str__(self) -> str:
        return f"{format_size(self.after)}:{self.rate_limit}"


@dataclass(frozen=True, slots=True)
class FreeHours:
    """A local-time window of the day, in minutes: [start, end); end <= start wraps midnight."""
    start: int
    end: int

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


# -- parsing and display ---------------------------------------------------------------

def parse_size(text: str, field: str = "size") -> int:
    """Octets from ``"100G"``, ``"1.5GiB"``, ``"5000"`` (see the module docstring)."""
    m = _SIZE.match(text or "")
    if m is None:
        raise ValidationError(field, f"{text!r} is not a size: a number with an optional unit "
                                     "K, M, G, T (decimal) or Ki, Mi, Gi, Ti (binary), e.g. 100G")
    try:
        n = int(Decimal(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise ValidationError(field, f"{text!r} is not a size") from None
    if n > _MAX_OCTETS:
        raise ValidationError(field, f"{text!r} is too large")
    return n


def format_size(octets: int) -> str:
    """The shortest exact spelling: ``100G``, ``512Mi``, or plain octets."""
    for unit in ("T", "G", "M", "K"):
        for name, mult in ((unit, _UNITS[unit.lower()]), (unit + "i", _UNITS[unit.lower() + "i"])):
            if octets and octets % mult == 0:
                return f"{octets // mult}{name}"
    return str(octets)


def check_rate_limit(field: str, v: str) -> None:
    """A Mikrotik-Rate-Limit value as profiles take it (the rule aaad.view.model had):
    non-empty, at most 200 characters, no white space but at its ends."""
    if not isinstance(v, str) or not v or len(v) > 200 or any(c.isspace() for c in v.strip(" ")):
        raise ValidationError(field, "a MikroTik rate limit such as 10M/10M or 2M/4M 4M/8M 1M/2M 10/10")


def parse_tier(text: str, field: str = "fup_tiers") -> Tier:
    """``"100G:5M/5M"`` (threshold, colon, rate limit) as a :class:`Tier`."""
    after, sep, rate = (text or "").partition(":")
    if not sep:
        raise ValidationError(field, f"{text!r}: write a tier as THRESHOLD:RATE, e.g. 100G:5M/5M")
    tier = Tier(parse_size(after, field), rate.strip())
    check_rate_limit(field, tier.rate_limit)
    return tier


def check_tiers(tiers: Iterable[Tier | tuple[int, str]], field: str = "fup_tiers") -> tuple[Tier, ...]:
    """Tiers ordered by threshold; thresholds above 0 and distinct, at most :data:`MAX_TIERS`."""
    out: list[Tier] = []
    for t in tiers:
        if not isinstance(t, Tier):
            if not isinstance(t, (tuple, list)) or len(t) != 2:
                raise ValidationError(field, "each tier is a (threshold octets, rate limit) pair")
            t = Tier(*t)
        if not isinstance(t.after, int) or isinstance(t.after, bool) or not 0 < t.after <= _MAX_OCTETS:
            raise ValidationError(field, "a tier's threshold is a number of octets greater than 0")
        check_rate_limit(field, t.rate_limit)
        out.append(t)
    out.sort(key=lambda t: t.after)
    if len(out) > MAX_TIERS:
        raise ValidationError(field, f"at most {MAX_TIERS} tiers")
    for a, b in zip(out, out[1:], strict=False):
        if a.after == b.after:
            raise ValidationError(field, f"two tiers at {format_size(a.after)}")
    return tuple(out)


def with_tier(tiers: Iterable[Tier], tier: Tier, field: str = "after") -> tuple[Tier, ...]:
    """``tiers`` with ``tier`` added (one tier edited at a time, as the console does); ValidationError
    (``field``) when a tier has its threshold already, or the result is not a valid tier list."""
    given = tuple(tiers)
    if any(t.after == tier.after for t in given):
        raise ValidationError(field, f"there is a tier at {format_size(tier.after)} already")
    return check_tiers([*given, tier], field)


def without_tier(tiers: Iterable[Tier], after: int, field: str = "after") -> tuple[Tier, ...]:
    """``tiers`` without the one at threshold ``after``; ValidationError (``field``) if there is none."""
    given = tuple(tiers)
    kept = tuple(t for t in given if t.after != after)
    if len(kept) == len(given):
        raise ValidationError(field, f"no tier at {format_size(after)}")
    return kept


def _minutes(text: str, field: str, end: bool) -> int:
    m = _HHMM.match(text.strip())
    if m is None:
        raise ValidationError(field, f"{text!r} is not a time of day HH:MM")
    h, mi = int(m.group(1)), int(m.group(2))
    if end and (h, mi) == (24, 0):
        return 1440
    if h > 23 or mi > 59:
        raise ValidationError(field, f"{text!r} is not a time of day HH:MM (00:00 to 23:59"
                                     f"{', or 24:00 at the end' if end else ''})")
    return h * 60 + mi


def parse_free_hours(text: str, field: str = "free_hours") -> FreeHours:
    """``"00:00-06:00"`` (local time of the org; may wrap midnight) as :class:`FreeHours`."""
    start, sep, end = (text or "").partition("-")
    if not sep:
        raise ValidationError(field, f"{text!r}: write free hours as HH:MM-HH:MM, e.g. 00:00-06:00")
    fh = FreeHours(_minutes(start, field, False), _minutes(end, field, True))
    check_free_hours(fh, field)
    return fh


def check_free_hours(fh: FreeHours, field: str = "free_hours") -> None:
    if not isinstance(fh, FreeHours) or not 0 <= fh.start < 1440 or not 0 <= fh.end <= 1440:
        raise ValidationError(field, "a window HH:MM-HH:MM of the local day")
    if fh.start == fh.end % 1440 and fh.end != 1440:
        raise ValidationError(field, "the window is empty: start and end are the same time")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# -- the columns (profiles.fup_tiers, profiles.free_hours) -------------------------------

def tiers_column(tiers: tuple[Tier, ...]) -> str | None:
    """The stored form: JSON ``[{"after": octets, "rate_limit": "5M/5M"}, …]``, ascending; None for none."""
    if not tiers:
        return None
    return json.dumps([{"after": t.after, "rate_limit": t.rate_limit} for t in tiers], separators=(",", ":"))


def tiers_from_column(text: str | None) -> tuple[Tier, ...]:
    if not text:
        return ()
    return tuple(Tier(int(d["after"]), str(d["rate_limit"])) for d in json.loads(text))


def free_hours_column(fh: FreeHours | None) -> str | None:
    return str(fh) if fh is not None else None


def free_hours_from_column(text: str | None) -> FreeHours | None:
    return parse_free_hours(text) if text else None


# -- the decision ----------------------------------------------------------------------

def effective_tiers(tiers: tuple[Tier, ...], fup_rate_limit: str | None,
                    data_cap: int | None) -> tuple[Tier, ...]:
    """A login's tiers: the profile's, plus the legacy pair (``fup_rate_limit`` at the
    login's ``data_cap``) as an implicit tier unless an explicit one has that threshold."""
    if not fup_rate_limit or data_cap is None or any(t.after == data_cap for t in tiers):
        return tiers
    return tuple(sorted((*tiers, Tier(data_cap, fup_rate_limit)), key=lambda t: t.after))


def fup_level(tiers: tuple[Tier, ...], used: int) -> int:
    """The throttle level for ``used`` octets counted in the cycle: how many of the
    (ascending) tiers' thresholds it reaches; 0 = full speed."""
    level = 0
    for t in tiers:
        if used < t.after:
            break
        level += 1
    return level


def tier_rate(tiers: tuple[Tier, ...], level: int) -> str | None:
    """The rate limit of throttle level ``level`` (levels past the last tier keep the
    last tier's); None at level 0 or without tiers."""
    if level <= 0 or not tiers:
        return None
    return tiers[min(level, len(tiers)) - 1].rate_limit


# -- free hours ------------------------------------------------------------------------

def _local(d: date, minutes: int, tz: tzinfo) -> datetime:
    d2 = d + timedelta(days=minutes // 1440)
    m = minutes % 1440
    return datetime(d2.year, d2.month, d2.day, m // 60, m % 60, tzinfo=tz, fold=0).astimezone(UTC)


def free_windows(fh: FreeHours, tz: tzinfo, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The free windows (UTC, [a, b)) that overlap [start, end), clipped to it."""
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    length = (fh.end - fh.start) % 1440 or 1440
    d = first
    while d <= last:
        a = _local(d, fh.start, tz)
        b = _local(d, fh.start + length, tz)
        lo, hi = max(a, start), min(b, end)
        if lo < hi:
            yield lo, hi
        d += timedelta(days=1)


def is_free(fh: FreeHours | None, tz: tzinfo, at: datetime) -> bool:
    """Whether the instant ``at`` lies in the free window."""
    if fh is None:
        return False
    return any(True for _ in free_windows(fh, tz, at, at + timedelta(microseconds=1)))


def counted_octets(octets: int, start: datetime, end: datetime, fh: FreeHours | None,
                   tz: tzinfo) -> int:
    """The part of ``octets`` transferred over [start, end) that counts: proportional
    to the time outside the free window, rounded down.  An instant (``end <= start``)
    counts whole or not at all."""
    if fh is None or octets <= 0:
        return max(octets, 0)
    if end <= start:
        return 0 if is_free(fh, tz, end) else octets
    us = timedelta(microseconds=1)
    total = (end - start) // us
    free = sum((b - a) // us for a, b in free_windows(fh, tz, start, end))
    if free <= 0:
        return octets
    if free >= total:
        return 0
    return octets * (total - free) // total
