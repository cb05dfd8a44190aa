"""Usage buckets, rollups, retention and quota cycles: pure arithmetic.

Every 5 minutes a job reads, for each session touched since the last run,
the session's cumulative counters and what it had already put into buckets
(``agg_input_octets`` / ``agg_output_octets`` on the session row), and turns
the difference into one bucket per login and 5-minute slot (``aggregate``).
Because session counters only ever grow (``accounting.sessions`` keeps the
maximum reported), the delta is never negative and the sum of a login's
buckets equals the sum of its sessions' final counters (up to
``COUNTER_MAX`` per bucket: sums are bounded so they always fit a signed
64-bit column, and impossible rows are skipped, see ``aggregate``). Slots roll up into
hours and days (``rollup``), old rows expire (``expired_before``), and the
quota helpers decide when a login crosses its data cap in its billing cycle.

Time rules: everything here takes and returns aware datetimes in UTC, except
that local-time floors are computed in the org's time zone:

- 5-minute slots are floored on the UTC epoch (the same instant everywhere).
- Hours are the org's local hours, so a +05:30 org's hours start at :30 UTC.
  In the repeated hour of a DST fall-back each pass is its own hour.
- Days are the org's local days, from local midnight to the next, so a day
  lasts 23, 24 or 25 hours; where a DST jump skips midnight the day starts
  at the first instant that exists (e.g. 01:00).

Each function takes ``now`` or the instant it works on as an argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from aaad.cycles import local_midnight as _local_midnight
from aaad.cycles import require_aware as _require_aware
from accounting.sessions import COUNTER_MAX

SLOT_SECONDS = 300

Level = Literal["slot", "hour", "day"]

LoginSlot = tuple[int, datetime]
Octets = tuple[int, int]




def slot_start(t: datetime, seconds: int = SLOT_SECONDS) -> datetime:
    """Return the start (UTC) of the ``seconds``-long slot holding ``t``, floored on the epoch."""
    _require_aware(t)
    if seconds <= 0:
        raise ValueError(f"slot length must be positive, got {seconds}")
    utc = t.astimezone(UTC)
    since_epoch = utc - _EPOCH
    whole = since_epoch // timedelta(seconds=seconds)
    return _EPOCH + whole * timedelta(seconds=seconds)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hour_start(t: datetime, tz: tzinfo = UTC) -> datetime:
    """Return the start (UTC) of the local hour in ``tz`` holding ``t``."""
    _require_aware(t)
    local = t.astimezone(tz)
    # replace() keeps ``fold``, so each pass of a repeated hour stays apart.
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def day_start(t: datetime, tz: tzinfo) -> datetime:
    """Return the start (UTC) of the local day in ``tz`` holding ``t``."""
    _require_aware(t)
    local = t.astimezone(tz)
    return _local_midnight(local.year, local.month, local.day, tz)




def period_start(t: datetime, level: Level, tz: tzinfo = UTC) -> datetime:
    """Return the start (UTC) of the slot, local hour or local day holding ``t``."""
    if level == "slot":
        return slot_start(t)
    if level == "hour":
        return hour_start(t, tz)
    if level == "day":
        return day_start(t, tz)
    raise ValueError(f"unknown level {level!r}")


def delta(session_in: int, session_out: int, agg_in: int, agg_out: int) -> Octets:
    """Return the octets not yet put into buckets; never negative."""
    return (
        session_in - agg_in if session_in > agg_in else 0,
        session_out - agg_out if session_out > agg_out else 0,
    )


@dataclass(frozen=True, slots=True)
class Aggregation:
    """The outcome of one aggregation run over a slot.

    ``buckets`` maps (login_id, slot) to the octets (in, out) to add to that
    bucket; logins whose sessions moved nothing are absent. ``new_agg``
    holds, in the order of the input rows, the (agg_in, agg_out) to store on
    each session row; a value never decreases, so a counter that went
    backwards cannot be counted twice when it climbs again. ``skipped``
    counts the rows left out as impossible (see ``aggregate``).
    """

    buckets: dict[LoginSlot, Octets]
    new_agg: list[Octets]
    skipped: int = 0


def delta_span(start_time: datetime, agg_at: datetime | None, last_update: datetime) -> tuple[datetime, datetime]:
    """When a session's not-yet-aggregated octets were transferred: from ``agg_at`` — the
    latest report with nothing new beyond what was aggregated (set by the aggregation
    pass, and moved on by each idle report; None before the first: the session's start)
    — up to its latest report.  The free-hours split divides the octets proportionally
    over this span (:func:`aaad.fup.counted_octets`)."""
    start = start_time if agg_at is None else agg_at
    return (min(start, last_update), last_update)


def valid_row(in_now: int, out_now: int, agg_in: int, agg_out: int) -> bool:
    """Whether a session's counters are possible: each within [0, COUNTER_MAX]."""
    return all(0 <= v <= COUNTER_MAX for v in (in_now, out_now, agg_in, agg_out))


def aggregate(
    rows: Iterable[tuple[int, int, int, int, int]], slot: datetime
) -> Aggregation:
    """Sum per login the deltas of rows ``(login_id, in_now, out_now, agg_in, agg_out)``.

    Isolated per row and bounded: a row whose values are impossible (see
    ``valid_row``; e.g. written before the server clamped counters) is
    skipped and counted, and marked as aggregated at its counters so it is
    not read again; a login's sums stop at ``COUNTER_MAX``. So one bad
    session can neither fail the run nor overflow another login's bucket.
    """
    slot = slot_start(slot)
    sums_in: dict[int, int] = {}
    sums_out: dict[int, int] = {}
    new_agg: list[Octets] = []
    append = new_agg.append
    skipped = 0
    for login_id, in_now, out_now, agg_in, agg_out in rows:
        if not valid_row(in_now, out_now, agg_in, agg_out):
            skipped += 1
            append((in_now, out_now))
            continue
        d_in = in_now - agg_in
        d_out = out_now - agg_out
        if d_in > 0:
            sums_in[login_id] = min(sums_in.get(login_id, 0) + d_in, COUNTER_MAX)
        else:
            d_in = 0
            in_now = agg_in
        if d_out > 0:
            sums_out[login_id] = min(sums_out.get(login_id, 0) + d_out, COUNTER_MAX)
        else:
            d_out = 0
            out_now = agg_out
        append((in_now, out_now))
    buckets = {
        (login_id, slot): (sums_in.get(login_id, 0), sums_out.get(login_id, 0))
        for login_id in sums_in.keys() | sums_out.keys()
    }
    return Aggregation(buckets=buckets, new_agg=new_agg, skipped=skipped)


def rollup(
    buckets: Iterable[tuple[int, datetime, int, int]],
    level: Literal["hour", "day"],
    tz: tzinfo = UTC,
) -> dict[LoginSlot, Octets]:
    """Sum ``(login_id, slot_start, in, out)`` buckets into local hours or days of ``tz``."""
    if level not in ("hour", "day"):
        raise ValueError(f"cannot roll up into {level!r}")
    periods: dict[datetime, datetime] = {}
    totals: dict[LoginSlot, list[int]] = {}
    for login_id, start, octets_in, octets_out in buckets:
        period = periods.get(start)
        if period is None:
            period = periods[start] = period_start(start, level, tz)
        total = totals.get((login_id, period))
        if total is None:
            totals[(login_id, period)] = [octets_in, octets_out]
        else:
            total[0] += octets_in
            total[1] += octets_out
    return {key: (value[0], value[1]) for key, value in totals.items()}


def expired_before(
    now: datetime, level: Level, retention: timedelta, tz: tzinfo = UTC
) -> datetime:
    """Return the cut-off: rows of ``level`` starting before it are past ``retention``.

    The cut-off is the start of the period holding ``now - retention``, so a
    period only partly older than the retention is kept whole.
    """
    if retention < timedelta(0):
        raise ValueError(f"retention must not be negative, got {retention}")
    return period_start(now - retention, level, tz)


# --- quota -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuotaState:
    """A login's data use in its current cycle against its cap (None: no cap)."""

    cycle_start: datetime
    cycle_end: datetime
    used: int
    cap: int | None

    @property
    def exhausted(self) -> bool:
        """Whether the cap is reached (see ``over_cap``)."""
        return over_cap(self.used, self.cap)

    @property
    def remaining(self) -> int | None:
        """Octets left before the cap, never negative; None without a cap."""
        if self.cap is None:
            return None
        return max(self.cap - self.used, 0)


def over_cap(used: int, cap: int | None) -> bool:
    """Return whether ``used`` octets reach the cap; no cap is never reached.

    Reaching counts: a 10 GB cap is exhausted at exactly 10 GB, as
    FreeRADIUS's sqlcounter rejects when nothing is left. A cap of 0 is
    therefore exhausted from the start.
    """
    if cap is None:
        return False
    if cap < 0:
        raise ValueError(f"cap must not be negative, got {cap}")
    return used >= cap


def crossed(prev_used: int, new_used: int, cap: int | None) -> bool:
    """Return True only for the update that takes usage from under the cap to it.

    The quota-exceeded event fires once: later updates, already over, return
    False, and so does usage that shrinks (a new cycle) or a cap of 0.
    """
    return not over_cap(prev_used, cap) and over_cap(new_used, cap)


#: The early warning (``usage.quota_warning``): this share of the cap, in percent.
WARN_PERCENT = 80


def crossed_warning(prev_used: int, new_used: int, cap: int | None) -> bool:
    """True only for the update that takes usage to :data:`WARN_PERCENT` of the cap without
    reaching the cap itself (an update that jumps over both warns with the cap alone)."""
    if not cap or cap < 0:
        return False
    mark = cap * WARN_PERCENT // 100
    return prev_used < mark <= new_used < cap
