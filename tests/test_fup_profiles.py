"""FUP tiers and free hours as profile data, on SQLite and PostgreSQL: written only through
LoginWriter.create_profile / update_profile (``profile.changed``, the change feed), followed
by the in-memory view (locally and from another process), compiled into one reply per tier."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import task

from aaad import orgs, policy
from aaad.errors import ValidationError
from aaad.fup import FreeHours, Tier
from aaad.radius.dictionary import load_dictionary
from aaad.schema import aaa_changes, profiles
from aaad.schema import events as events_t
from aaad.view import store, throttle
from aaad.view.follower import ChangeFollower
from aaad.view.memory import AAAView
from aaad.view.model import Login, Profile
from aaad.view.store import load_snapshot
from aaad.view.write import LoginWriter
from tests.helpers import SyncDB, result_of

T0 = datetime(2026, 11, 1, tzinfo=UTC)
G = 10**9
D = load_dictionary()
TIERS = (Tier(100 * G, "5M/5M"), Tier(200 * G, "1M/1M"))


@pytest.fixture
def w(box: Any) -> LoginWriter:
    return LoginWriter(box)


def org(engine: Any) -> int:
    with engine.begin() as c:
        return orgs.add(c, "isp", "ISP", T0).id


def test_tiers_and_free_hours_are_stored_and_read_back(engine: Any, w: LoginWriter) -> None:
    """create_profile stores the tiers (ordered, as JSON) and free hours; reads give them back;
    profile.changed and a change-feed row are written with them."""
    o = org(engine)
    with engine.begin() as c:
        p = w.create_profile(c, o, "home", T0, rate_limit="10M/10M",
                             fup_tiers=[(200 * G, "1M/1M"), Tier(100 * G, "5M/5M")], free_hours="0:00-6:00")
    assert p.fup_tiers == TIERS and p.free_hours == FreeHours(0, 360)
    with engine.connect() as c:
        raw = c.execute(sa.select(profiles.c.fup_tiers, profiles.c.free_hours)).one()
        assert json.loads(raw.fup_tiers) == [{"after": 100 * G, "rate_limit": "5M/5M"},
                                             {"after": 200 * G, "rate_limit": "1M/1M"}]
        assert raw.free_hours == "00:00-06:00"
        assert store.get_profile(c, o, p.id) == p and load_snapshot(c, w.box).profiles == [p]
        ev = c.execute(sa.select(events_t.c.type, events_t.c.payload)).all()
        assert [(e.type, json.loads(e.payload)) for e in ev] == [
            ("profile.changed", {"profile_id": p.id, "name": "home", "op": "created"})]
        assert c.execute(sa.select(aaa_changes.c.kind, aaa_changes.c.entity_id)).all() == [("profile", p.id)]


def test_update_replaces_and_clears(engine: Any, w: LoginWriter) -> None:
    """update_profile replaces the tiers; None or () clears them, None clears free hours;
    other fields are left alone."""
    o = org(engine)
    with engine.begin() as c:
        p = w.create_profile(c, o, "home", T0, rate_limit="10M/10M", fup_tiers=TIERS, free_hours="22:00-06:00")
        p2 = w.update_profile(c, o, p.id, T0, fup_tiers=[(50 * G, "2M/2M")])
        assert p2.fup_tiers == (Tier(50 * G, "2M/2M"),) and p2.free_hours == FreeHours(1320, 360)
        p3 = w.update_profile(c, o, p.id, T0, fup_tiers=None, free_hours=None)
        assert (p3.fup_tiers, p3.free_hours, p3.rate_limit) == ((), None, "10M/10M")
        p4 = w.update_profile(c, o, p.id, T0, fup_tiers=TIERS)
        assert w.update_profile(c, o, p.id, T0, fup_tiers=()).fup_tiers == () and p4.fup_tiers == TIERS
        n = c.execute(sa.select(sa.func.count()).select_from(events_t)
                      .where(events_t.c.type == "profile.changed")).scalar_one()
    assert n == 5


@pytest.mark.parametrize("values,field", [
    ({"fup_tiers": [(100 * G, "5M/5M"), (100 * G, "1M/1M")]}, "fup_tiers"),
    ({"fup_tiers": [(0, "5M/5M")]}, "fup_tiers"),
    ({"fup_tiers": [(G, "5M 5M x")]}, "fup_tiers"),
    ({"fup_tiers": ["100G:5M/5M"]}, "fup_tiers"),
    ({"free_hours": "06:00"}, "free_hours"),
    ({"free_hours": "06:00-06:00"}, "free_hours"),
])
def test_bad_values_name_the_field_and_write_nothing(engine: Any, w: LoginWriter, values: dict,
                                                     field: str) -> None:
    """Bad tiers or free hours raise ValidationError naming the field; nothing is written."""
    o = org(engine)
    with pytest.raises(ValidationError) as e, engine.begin() as c:
        w.create_profile(c, o, "home", T0, **values)
    assert e.value.field == field
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(profiles)).scalar_one() == 0


def test_memory_follows_locally_and_from_another_process(engine: Any, w: LoginWriter) -> None:
    """The daemon's own write reaches memory before its Deferred fires; a CLI write (another
    process) reaches it through the change feed; logins of the profile are recompiled."""
    o = org(engine)
    with engine.begin() as c:
        p = w.create_profile(c, o, "home", T0, rate_limit="10M/10M")
        w.create(c, o, "amy", "pw", T0, profile_id=p.id)
    db, view = SyncDB(engine), AAAView()
    with engine.connect() as c:
        view.load(load_snapshot(c, w.box))
    db.writer.on_changes.append(view.apply_local)
    result_of(db.write(w.update_profile, o, p.id, T0, fup_tiers=TIERS))
    assert view.profiles[p.id].fup_tiers == TIERS
    amy = view.get(o, "amy")
    assert amy is not None
    amy.compiled = "stale"
    with engine.begin() as c:  # the CLI, in another process
        w.update_profile(c, o, p.id, T0, free_hours="01:00-05:00", fup_tiers=[(10 * G, "1M/1M")])
    follower = ChangeFollower(db, w.box, view, task.Clock(), 0.25)
    follower.poll()
    assert view.profiles[p.id].free_hours == FreeHours(60, 300)
    assert view.profiles[p.id].fup_tiers == (Tier(10 * G, "1M/1M"),)
    amy2 = view.get(o, "amy")
    assert amy2 is not None and amy2.compiled is None  # to be prepared again


def rate_at(c: policy.Compiled, level: int) -> str | None:
    """The Mikrotik-Rate-Limit in the compiled reply for ``level``."""
    vendor, code = D.attr_key("Mikrotik-Rate-Limit")
    body = c.attrs_at(level)
    i, found = 0, None
    while i < len(body):
        t, ln = body[i], body[i + 1]
        if t == 26 and int.from_bytes(body[i + 2:i + 6], "big") == vendor and body[i + 6] == code:
            found = D.decode_value("Mikrotik-Rate-Limit", body[i + 8:i + ln])
        i += ln
    return found


def test_compiled_reply_per_tier() -> None:
    """One pre-encoded reply per tier: level 0 the profile's (or the login's override), level N
    tier N's rate, past the last tier the last one's; the other attributes are the same."""
    prof = Profile(1, 1, "home", rate_limit="10M/10M", pool="p", fup_tiers=TIERS)
    c = policy.compile_login(Login(1, 1, "amy", b"pw", profile_id=1), prof, D)
    assert [rate_at(c, lv) for lv in (0, 1, 2, 3)] == ["10M/10M", "5M/5M", "1M/1M", "1M/1M"]
    assert len(c.tier_attrs) == 2 and all(b"p" in a for a in c.tier_attrs)
    own = policy.compile_login(Login(1, 1, "amy", b"pw", profile_id=1, rate_limit="20M/20M"), prof, D)
    assert rate_at(own, 0) == "20M/20M" and rate_at(own, 1) == "5M/5M"
    plain = policy.compile_login(Login(1, 1, "amy", b"pw"), None, D)
    assert plain.tier_attrs == () and plain.attrs_at(2) == plain.attrs


def test_legacy_pair_compiles_as_a_tier_at_the_data_cap() -> None:
    """fup_rate_limit with the login's data cap is a tier among the profile's, by threshold;
    rate_limit_at names what a CoA for each level carries."""
    prof = Profile(1, 1, "home", rate_limit="10M/10M", fup_rate_limit="2M/2M", fup_tiers=TIERS)
    lg = Login(1, 1, "amy", b"pw", profile_id=1, data_cap=150 * G)
    c = policy.compile_login(lg, prof, D)
    assert [rate_at(c, lv) for lv in (0, 1, 2, 3)] == ["10M/10M", "5M/5M", "2M/2M", "1M/1M"]
    assert [policy.rate_limit_at(lg, prof, lv) for lv in (0, 1, 2, 3)] == ["10M/10M", "5M/5M", "2M/2M", "1M/1M"]
    uncapped = Login(1, 1, "amy", b"pw", profile_id=1)
    assert policy.login_tiers(uncapped, prof) == TIERS
    assert policy.rate_limit_at(uncapped, None, 1) is None


def test_reply_rates_agree_with_the_compiled_reply(engine: Any, w: LoginWriter) -> None:
    """throttle.reply_rates (what a CoA carries) names, at every level, the rate the compiled
    Access-Accept carries: tiers, the legacy pair at the data cap, the login's override."""
    o = org(engine)
    with engine.begin() as c:
        p = w.create_profile(c, o, "home", T0, rate_limit="10M/10M", fup_rate_limit="2M/2M", fup_tiers=TIERS)
        amy = w.create(c, o, "amy", "pw", T0, profile_id=p.id, data_cap=150 * G)
        own = w.create(c, o, "own", "pw", T0, profile_id=p.id, rate_limit="20M/20M")
        bare = w.create(c, o, "bare", "pw", T0)
    for level in (0, 1, 2, 3, 4):
        with engine.begin() as c:
            for lg in (amy, own, bare):
                w.set_throttle(c, o, lg.id, level, T0)
            got = throttle.reply_rates(c, o, [amy.id, own.id, bare.id])
            prof = store.get_profile(c, o, p.id)
            for lg in (amy, own, bare):
                cur = store.get_login(c, w.box, o, lg.id)
                assert cur is not None
                compiled = policy.compile_login(cur, prof if cur.profile_id else None, D)
                assert got[lg.id] == ("active", rate_at(compiled, level)), (lg.username, level)
            assert throttle.reply_rates(c, o + 1, [amy.id]) == {}
