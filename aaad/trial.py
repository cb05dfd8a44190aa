"""A hotspot's free trial: N minutes once per device (MAC) per day, without a voucher.

How it is configured.  An org's trial is a *template login* in the AAA view,
named ``T-`` and owned by ``("trial", org_id)``: its profile is the trial's
speed and its ``time_limit`` the minutes a device gets per day
(:func:`set_trial`, ``aaad trial set``).  The template itself never
authenticates.

How a device asks for it.  The hotspot's login page logs in as
``T-<its MAC>`` with that same text as the password (the MikroTik
convention for trial user names, ``T-$(mac-esc)``; keep the router's own
trial off so the request reaches RADIUS).  The auth controller accepts such a
request only if the MAC in the name is the request's Calling-Station-Id.

Once per day.  The first trial login of a device on a local day (the org's
time zone) is *claimed* on the database (:func:`claim`: an INSERT unique per
org, MAC and day, the winner's row read back by everyone), like a voucher's
first use — the one other place auth waits on the database.  The device then
has the trial's minutes from that first login, wall-clock, until it is used
up or the day ends: later logins that day get Session-Timeout = what is left,
and are rejected with "free trial used today" after it.  Every instance
learns a claim made elsewhere when it next claims (it reads the winner's
row), so the rule holds across instances.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.crypto import SecretBox
from aaad.cycles import zone
from aaad.orgs import ValidationError
from aaad.schema import orgs, trial_uses
from aaad.view import store
from aaad.view.model import Login
from aaad.view.write import Actor, LoginWriter

PREFIX = "T-"
TEMPLATE = "T-"       # the template login's name (a device's name is PREFIX + its MAC)
OWNER = "trial"
USED = "free trial used today"


@dataclass(frozen=True, slots=True)
class TrialUse:
    """A device's trial on one local day: started (epoch seconds) and when the day ends."""
    org_id: int
    mac: str
    started: float
    resets: float


def _use(r: Any) -> TrialUse:
    return TrialUse(r.org_id, r.mac, r.started_at.timestamp(), r.resets_at.timestamp())


def _day(conn: Connection, org_id: int, at: datetime) -> tuple[str, datetime]:
    """The org's local date at ``at`` and the next local midnight."""
    tz = zone(conn.execute(sa.select(orgs.c.timezone).where(orgs.c.id == org_id)).scalar())
    local = at.astimezone(tz)
    nxt = (local + timedelta(days=1)).date()
    midnight = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return local.date().isoformat(), midnight


def claim(conn: Connection, org_id: int, mac: str, at: datetime) -> TrialUse:
    """The device's trial today: started now if this is its first today (an INSERT
    unique per org, MAC and day), else the one that started earlier (another request
    or instance won)."""
    from sqlalchemy.dialects import postgresql, sqlite
    day, resets = _day(conn, org_id, at)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(trial_uses).values(org_id=org_id, mac=mac, day=day, started_at=at, resets_at=resets)
                 .on_conflict_do_nothing())
    t = trial_uses.c
    r = conn.execute(sa.select(t.org_id, t.mac, t.started_at, t.resets_at)
                     .where(t.org_id == org_id, t.mac == mac, t.day == day)).one()
    return _use(r)


def current(conn: Connection, now: datetime) -> list[TrialUse]:
    """Trials whose day has not ended (loaded at start)."""
    t = trial_uses.c
    return [_use(r) for r in conn.execute(sa.select(t.org_id, t.mac, t.started_at, t.resets_at)
                                          .where(t.resets_at > now))]


def prune(conn: Connection, before: datetime) -> int:
    """Forget trials whose day ended before ``before``."""
    return conn.execute(trial_uses.delete().where(trial_uses.c.resets_at < before)).rowcount


# -- the org's setting ----------------------------------------------------------------------

def get_trial(conn: Connection, box: SecretBox, org_id: int) -> Login | None:
    """The org's trial template, or None if the org has no free trial."""
    lg = store.login_by_name(conn, box, org_id, TEMPLATE)
    return lg if lg is not None and lg.owner_type == OWNER else None


def trial_minutes(conn: Connection, org_id: int) -> int | None:
    """The org's free-trial minutes per device per day, or None if it has no trial."""
    from aaad.schema import logins
    v = conn.execute(sa.select(logins.c.time_limit).where(
        logins.c.org_id == org_id, logins.c.username == TEMPLATE, logins.c.owner_type == OWNER)).scalar()
    return None if v is None else int(v) // 60


def set_trial(conn: Connection, writer: LoginWriter, org_id: int, minutes: int, profile_id: int | None,
              now: datetime) -> Login:
    """Turn the org's free trial on (or change it): ``minutes`` per device per day at the
    speed of ``profile_id``."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 24 * 60:
        raise ValidationError("minutes", "a whole number of minutes from 1 to 1440")
    actor = Actor.owner(OWNER, org_id)
    existing = store.login_by_name(conn, writer.box, org_id, TEMPLATE)
    if existing is None:
        import secrets
        return writer.create(conn, org_id, TEMPLATE, secrets.token_urlsafe(24), now, actor=actor,
                             profile_id=profile_id, time_limit=minutes * 60)
    if existing.owner_type != OWNER:
        raise ValidationError("username", f"a login named {TEMPLATE!r} exists and is not the trial's: rename it")
    return writer.set_profile(conn, org_id, existing.id, now, actor=actor, profile_id=profile_id,
                              time_limit=minutes * 60)


def trial_off(conn: Connection, writer: LoginWriter, org_id: int, now: datetime) -> bool:
    """Turn the org's free trial off; False if it had none."""
    lg = get_trial(conn, writer.box, org_id)
    if lg is None:
        return False
    return writer.remove(conn, org_id, lg.id, now, actor=Actor.owner(OWNER, org_id))
