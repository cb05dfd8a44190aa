"""The FUP throttle applied: a login's FUP facts, and its level set through the write path.

Accounting's aggregation pass, which alone knows how much of a login's
traffic counts (free hours excluded), reads the facts of the logins whose
usage it just added (:func:`fup_facts`: tiers, free hours, cycle, current
level) and, in the same transaction, applies the decision
(:func:`apply_level`): :func:`aaad.fup.fup_level` of the usage in the
login's current cycle, set with :meth:`LoginWriter.set_throttle` when it
differs, which publishes ``login.throttled``.  Applied twice, it changes
nothing the second time.  Usage of a cycle that is already over never
throttles: the cycle reset (:mod:`aaad.view.cycle_reset`) has lifted, or
is about to lift, that cycle's level.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import fup
from aaad.cycles import cycle_of
from aaad.fup import FreeHours, Tier
from aaad.schema import logins, profiles
from aaad.view.write import LoginWriter

_IN_MAX = 500


@dataclass(frozen=True, slots=True)
class FupFacts:
    """What the aggregation pass needs to know of a login for FUP and its cycle."""
    login_id: int
    org_id: int
    data_cap: int | None
    cycle_anchor: datetime | None
    cycle_start: datetime | None      # the cycle the login last entered (aaad.view.cycle_reset)
    throttle_level: int
    tiers: tuple[Tier, ...]           # effective: the profile's plus the legacy pair
    free_hours: FreeHours | None


def fup_facts(conn: Connection, login_orgs: Mapping[int, int]) -> dict[int, FupFacts]:
    """Facts of the logins ``login_id -> org_id`` (a login not in that org, or gone, is absent)."""
    c, p = logins.c, profiles.c
    ids = sorted(login_orgs)
    out: dict[int, FupFacts] = {}
    q = (sa.select(c.id, c.org_id, c.data_cap, c.cycle_anchor, c.cycle_start, c.throttle_level,
                   p.fup_tiers, p.fup_rate_limit, p.free_hours)
         .select_from(logins.outerjoin(profiles, sa.and_(profiles.c.id == c.profile_id,
                                                         profiles.c.org_id == c.org_id))))
    parsed: dict[tuple[str | None, str | None], tuple[tuple[Tier, ...], FreeHours | None]] = {}
    for i in range(0, len(ids), _IN_MAX):
        for r in conn.execute(q.where(c.id.in_(ids[i:i + _IN_MAX]))):
            if login_orgs.get(r.id) != r.org_id:
                continue
            key = (r.fup_tiers, r.free_hours)  # parsed once per distinct profile setting
            got = parsed.get(key)
            if got is None:
                got = parsed[key] = (fup.tiers_from_column(r.fup_tiers), fup.free_hours_from_column(r.free_hours))
            tiers = fup.effective_tiers(got[0], r.fup_rate_limit, r.data_cap)
            out[r.id] = FupFacts(r.id, r.org_id, r.data_cap, r.cycle_anchor, r.cycle_start,
                                 r.throttle_level or 0, tiers, got[1])
    return out


def decide(facts: FupFacts, usage_cycle_start: datetime, used: int, tz: tzinfo, now: datetime) -> int | None:
    """The level ``used`` octets counted in the cycle starting at ``usage_cycle_start`` call
    for, or None when that usage must not decide (a cycle that is over)."""
    current, _end = cycle_of(facts.cycle_anchor, tz, now)
    if usage_cycle_start != current:
        return None
    if facts.cycle_start is not None and facts.cycle_start > usage_cycle_start:
        return None
    return fup.fup_level(facts.tiers, used)


def apply_level(conn: Connection, writer: LoginWriter, facts: FupFacts, usage_cycle_start: datetime,
                used: int, tz: tzinfo, now: datetime) -> int | None:
    """Decide and, on a change of level, set it (``login.throttled``); the new level, or
    None when nothing changed."""
    level = decide(facts, usage_cycle_start, used, tz, now)
    if level is None or level == facts.throttle_level:
        return None
    if not writer.set_throttle(conn, facts.org_id, facts.login_id, level, now):
        return None
    if level and facts.cycle_start is None:
        # note the cycle it is throttled in, so the cycle reset lifts it at this cycle's
        # end (as its "first sight" would, had it seen the login before the boundary)
        conn.execute(logins.update().where(logins.c.org_id == facts.org_id, logins.c.id == facts.login_id,
                                           logins.c.cycle_start.is_(None))
                     .values(cycle_start=usage_cycle_start))
    return level


def reply_rates(conn: Connection, org_id: int, login_ids: Iterable[int]) -> dict[int, tuple[str, str | None]]:
    """Each login's state and the Mikrotik-Rate-Limit its next Access-Accept carries: its
    FUP tier's at its throttle level, else its override or its profile's (the same rule as
    :func:`aaad.policy.rate_limit_at` and the compiled reply) — what a CoA after
    ``login.throttled`` or a profile change must carry.  Logins not in ``org_id`` are absent."""
    c, p = logins.c, profiles.c
    ids = sorted(set(login_ids))
    out: dict[int, tuple[str, str | None]] = {}
    q = (sa.select(c.id, c.state, c.rate_limit, c.throttle_level, c.data_cap, p.rate_limit.label("prof_rate"),
                   p.fup_rate_limit, p.fup_tiers)
         .select_from(logins.outerjoin(profiles, sa.and_(profiles.c.id == c.profile_id,
                                                         profiles.c.org_id == c.org_id))))
    rate = RateRule()
    for i in range(0, len(ids), _IN_MAX):
        for r in conn.execute(q.where(c.org_id == org_id, c.id.in_(ids[i:i + _IN_MAX]))):
            out[r.id] = (r.state, rate(r.fup_tiers, r.fup_rate_limit, r.data_cap, r.throttle_level, r.rate_limit,
                                       r.prof_rate))
    return out


class RateRule:
    """The Mikrotik-Rate-Limit of a login's next Access-Accept from its columns (see
    :func:`reply_rates`), each distinct set of FUP columns parsed once per instance: a
    mass event asks for thousands of logins that share a profile."""

    def __init__(self) -> None:
        self._tiers: dict[tuple[str | None, str | None, int | None], tuple[Tier, ...]] = {}

    def __call__(self, fup_tiers: str | None, fup_rate_limit: str | None, data_cap: int | None,
                 throttle_level: int | None, rate_limit: str | None, profile_rate: str | None) -> str | None:
        key = (fup_tiers, fup_rate_limit, data_cap)
        tiers = self._tiers.get(key)
        if tiers is None:
            tiers = self._tiers[key] = fup.effective_tiers(fup.tiers_from_column(fup_tiers), fup_rate_limit,
                                                           data_cap)
        return fup.tier_rate(tiers, throttle_level or 0) or rate_limit or profile_rate
