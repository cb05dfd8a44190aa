"""The one write path of the AAA view, on SQLite and PostgreSQL: the owner rule,
org scoping of every lookup, typed events in the change's transaction, local
apply before the caller resumes (once), a pruned feed reloads, quota cycles."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import task

from aaad import changes, nas, orgs
from aaad.changes import Change
from aaad.db import Writer
from aaad.orgs import ValidationError
from aaad.schema import aaa_changes
from aaad.schema import events as events_t
from aaad.view import store
from aaad.view.cycle_reset import start_cycles_chunk
from aaad.view.follower import ChangeFollower
from aaad.view.memory import AAAView
from aaad.view.model import Login
from aaad.view.store import load_snapshot
from aaad.view.write import OPERATOR, SYSTEM, Actor, LoginWriter, OwnedLogin
from tests.helpers import SyncDB, result_of

T0 = datetime(2026, 11, 1, tzinfo=UTC)
BILLING = Actor.owner("service", 7)


@pytest.fixture
def w(box: Any) -> LoginWriter:
    return LoginWriter(box)


def two_orgs(engine: Any, w: LoginWriter) -> tuple[int, int, int, int]:
    """Org A with profile pa, org B with profile pb."""
    with engine.begin() as c:
        a = orgs.add(c, "a", "A", T0)
        b = orgs.add(c, "b", "B", T0, "Africa/Accra")
        pa = w.create_profile(c, a.id, "p", T0, rate_limit="10M/10M")
        pb = w.create_profile(c, b.id, "p", T0, rate_limit="1M/1M")
    return a.id, b.id, pa.id, pb.id


def event_rows(engine: Any, type_: str | None = None) -> list[tuple[str, dict]]:
    with engine.connect() as c:
        q = sa.select(events_t.c.type, events_t.c.payload).order_by(events_t.c.id)
        if type_:
            q = q.where(events_t.c.type == type_)
        return [(r.type, json.loads(r.payload)) for r in c.execute(q)]


def mem(view: AAAView, org_id: int, username: str) -> Login:
    """The login as the in-memory view holds it (it must be there)."""
    lg = view.get(org_id, username)
    assert lg is not None, username
    return lg


def tx(engine: Any, fn: Any, *a: Any, **kw: Any) -> Any:
    with engine.begin() as c:
        return fn(c, *a, **kw)


# -- the owner rule --------------------------------------------------------------------

def test_owned_login_refuses_operator_without_force(engine: Any, w: LoginWriter) -> None:
    """A login owned by a billing service is changed by its owner, or an operator with force."""
    a, _b, pa, _pb = two_orgs(engine, w)
    lg = tx(engine, w.create, a, "alice", "pw", T0, actor=BILLING, profile_id=pa)
    assert (lg.owner_type, lg.owner_id) == ("service", 7)
    for change in (lambda c: w.set_state(c, a, lg.id, "disabled", T0),
                   lambda c: w.set_profile(c, a, lg.id, T0, rate_limit="1M/1M"),
                   lambda c: w.set_password(c, a, lg.id, "new", T0),
                   lambda c: w.rename(c, a, lg.id, "alicia", T0),
                   lambda c: w.remove(c, a, lg.id, T0),
                   lambda c: w.set_state(c, a, lg.id, "disabled", T0, actor=Actor.owner("voucher", 7))):
        with pytest.raises(OwnedLogin) as e, engine.begin() as c:
            change(c)
        assert e.value.field == "owner" and "service 7" in e.value.message
    assert tx(engine, w.set_state, a, lg.id, "suspended", T0, actor=BILLING).state == "suspended"
    forced = tx(engine, w.set_state, a, lg.id, "active", T0, actor=Actor.operator(force=True))
    assert forced.state == "active"
    assert tx(engine, w.remove, a, lg.id, T0, actor=BILLING) is True


def test_system_managed_fields_change_whoever_owns(engine: Any, w: LoginWriter) -> None:
    """First use, throttle, exhausted and the cycle reset are the system's, owner or not."""
    a, _b, pa, _pb = two_orgs(engine, w)
    lg = tx(engine, w.create, a, "v1", "pw", T0, actor=Actor.owner("voucher", 3), validity_seconds=3600)
    assert tx(engine, w.set_first_use, a, lg.id, T0) is True
    assert tx(engine, w.set_first_use, a, lg.id, T0 + timedelta(seconds=5)) is False  # once
    assert tx(engine, w.set_throttle, a, lg.id, 2, T0) is True
    assert tx(engine, w.set_throttle, a, lg.id, 2, T0) is False
    assert tx(engine, w.exhaust, a, lg.id, T0) is True
    assert tx(engine, w.exhaust, a, lg.id, T0) is False  # only from active
    with pytest.raises(ValueError), engine.begin() as c:
        w.set_state(c, a, lg.id, "active", T0, actor=SYSTEM)  # not a system-managed change
    got = tx(engine, store.get_login, w.box, a, lg.id)
    assert got.first_used_at == T0 and got.throttle_level == 2 and got.state == "exhausted"


def test_exhaust_does_not_override_suspension(engine: Any, w: LoginWriter) -> None:
    """A suspended login that passes its cap stays suspended (exhausted only from active)."""
    a, _b, pa, _pb = two_orgs(engine, w)
    lg = tx(engine, w.create, a, "s", "pw", T0, state="suspended")
    assert tx(engine, w.exhaust, a, lg.id, T0) is False
    assert tx(engine, store.get_login, w.box, a, lg.id).state == "suspended"


# -- org scoping -----------------------------------------------------------------------

def test_every_lookup_and_write_is_scoped_by_org(engine: Any, w: LoginWriter) -> None:
    """Ids of another org do not exist: reads return None, writes refuse, nothing changes."""
    a, b, pa, pb = two_orgs(engine, w)
    lg = tx(engine, w.create, a, "alice", "pw", T0, profile_id=pa)
    assert tx(engine, store.get_login, w.box, b, lg.id) is None
    assert tx(engine, store.get_profile, b, pa) is None
    assert tx(engine, store.login_by_name, w.box, b, "alice") is None
    assert [p.id for p in tx(engine, store.list_profiles, b)] == [pb]
    assert tx(engine, store.list_logins, w.box, b) == []
    for change, field in ((lambda c: w.set_state(c, b, lg.id, "disabled", T0), "login"),
                          (lambda c: w.set_profile(c, b, lg.id, T0, data_cap=1), "login"),
                          (lambda c: w.set_profile(c, a, lg.id, T0, profile_id=pb), "profile"),
                          (lambda c: w.create(c, a, "x", "pw", T0, profile_id=pb), "profile"),
                          (lambda c: w.update_profile(c, b, pa, T0, rate_limit="2M/2M"), "profile"),
                          (lambda c: w.set_throttle(c, b, lg.id, 1, T0), "login"),
                          (lambda c: w.exhaust(c, b, lg.id, T0), "login")):
        with pytest.raises(ValidationError) as e, engine.begin() as c:
            change(c)
        assert e.value.field == field
    assert tx(engine, w.remove, b, lg.id, T0) is False
    assert tx(engine, w.remove_profile, b, pa, T0) is False
    assert tx(engine, w.set_first_use, b, lg.id, T0) is False
    assert tx(engine, store.get_login, w.box, a, lg.id).state == "active"
    # the same name may exist in both orgs
    assert tx(engine, w.create, b, "alice", "other", T0).org_id == b


def test_nas_get_is_scoped_by_org(engine: Any, box: Any, w: LoginWriter) -> None:
    """A NAS id of another org is not found."""
    a, b, _pa, _pb = two_orgs(engine, w)
    n = tx(engine, nas.add, box, a, "r1", "10.0.0.1", "s", T0)
    assert tx(engine, nas.get, box, a, n.id).name == "r1"
    assert tx(engine, nas.get, box, b, n.id) is None


# -- events with their change ---------------------------------------------------------------

def test_each_write_publishes_its_typed_event(engine: Any, w: LoginWriter) -> None:
    """create, state, profile, throttle, remove and profile writes publish in their transaction."""
    a, _b, pa, _pb = two_orgs(engine, w)
    lg = tx(engine, w.create, a, "alice", "pw", T0, profile_id=pa)
    tx(engine, w.set_state, a, lg.id, "suspended", T0, suspend_mode="walled_garden", reason="unpaid")
    tx(engine, w.set_state, a, lg.id, "suspended", T0, suspend_mode="walled_garden")  # no change
    tx(engine, w.set_profile, a, lg.id, T0, rate_limit="5M/5M", framed_ip="10.1.1.1")
    tx(engine, w.set_throttle, a, lg.id, 1, T0)
    tx(engine, w.update_profile, a, pa, T0, rate_limit="20M/20M")
    tx(engine, w.remove, a, lg.id, T0)
    got = [(t, p) for t, p in event_rows(engine) if t != "profile.changed" or p["op"] == "updated"]
    assert got == [
        ("login.created", {"login_id": lg.id, "username": "alice", "state": "active", "profile_id": pa}),
        ("login.state_changed", {"login_id": lg.id, "username": "alice", "old": "active",
                                 "new": "suspended", "suspend_mode": "walled_garden", "reason": "unpaid"}),
        ("login.profile_changed", {"login_id": lg.id, "username": "alice", "old_profile_id": pa,
                                   "new_profile_id": pa, "fields": ["framed_ip", "rate_limit"]}),
        ("login.throttled", {"login_id": lg.id, "username": "alice", "old_level": 0, "new_level": 1}),
        ("profile.changed", {"profile_id": pa, "name": "p", "op": "updated"}),
        ("login.removed", {"login_id": lg.id, "username": "alice"}),
    ]


def test_rolled_back_write_leaves_no_row_change_or_event(engine: Any, w: LoginWriter) -> None:
    """A caller whose transaction fails after a write leaves nothing behind."""
    a, _b, pa, _pb = two_orgs(engine, w)
    with engine.connect() as c:
        before = changes.last_id(c)
    with pytest.raises(RuntimeError), engine.begin() as c:
        w.create(c, a, "ghost", "pw", T0, profile_id=pa)
        raise RuntimeError("billing failed later in the same transaction")
    assert tx(engine, store.login_by_name, w.box, a, "ghost") is None
    assert event_rows(engine, "login.created") == []
    with engine.connect() as c:
        assert changes.last_id(c) == before


# -- memory: local apply, once --------------------------------------------------------------

class _NowReactor(task.Clock):
    """callFromThread runs at once: the writer's batch is delivered synchronously."""

    def callFromThread(self, fn: Any, *a: Any) -> None:
        fn(*a)


def test_writer_applies_changes_to_memory_before_the_deferred_fires(engine: Any, w: LoginWriter) -> None:
    """With the real Writer, the view has the new state when the caller's callback runs."""
    a, _b, pa, _pb = two_orgs(engine, w)
    view = AAAView()
    with engine.connect() as c:
        view.load(load_snapshot(c, w.box))
    writer = Writer(engine, _NowReactor())
    writer.on_changes.append(view.apply_local)
    seen: list[Any] = []
    d = writer.run(w.create, a, "zoe", "pw", T0, profile_id=pa)
    d.addCallback(lambda lg: seen.append(view.get(a, "zoe")))
    writer._run_batch([writer._q.get()])
    assert seen and seen[0] is not None and seen[0].password == b"pw"
    lg = seen[0]
    d2 = writer.run(w.set_state, a, lg.id, "disabled", T0)
    d2.addCallback(lambda _: seen.append(mem(view, a, "zoe").state))
    writer._run_batch([writer._q.get()])
    assert seen[-1] == "disabled"


def test_follower_does_not_apply_a_local_change_again(engine: Any, w: LoginWriter) -> None:
    """A change applied after the local commit is skipped by the follower (the prepared
    NT hash and reply survive); a CLI change is applied by the follower."""
    a, _b, pa, _pb = two_orgs(engine, w)
    db, clock, view = SyncDB(engine), task.Clock(), AAAView()
    with engine.connect() as c:
        view.load(load_snapshot(c, w.box))
    db.writer.on_changes.append(view.apply_local)
    lg = result_of(db.write(w.create, a, "amy", "pw", T0, profile_id=pa))
    amy = mem(view, a, "amy")
    amy.nt_hash, amy.compiled = b"prepared", "compiled"
    follower = ChangeFollower(db, w.box, view, clock, 0.25)
    follower.poll()
    assert view.get(a, "amy") is amy and follower.applied == 0 and view.local == set()
    with engine.begin() as c:  # the CLI: same password, new state
        w.set_state(c, a, lg.id, "disabled", T0)
    follower.poll()
    new = mem(view, a, "amy")
    assert follower.applied == 1 and new.state == "disabled" and new.nt_hash == b"prepared"


def test_follower_applies_a_mass_change_in_bounded_steps(engine: Any, w: LoginWriter) -> None:
    """Another process changes many logins at once (a dunning pass suspending thousands): the
    follower applies them all, in steps of at most ``PAGE`` with a database read between each, so
    the reactor is never held for the whole batch."""
    from aaad.view import follower as follower_mod
    a, _b, pa, _pb = two_orgs(engine, w)
    n = 1007
    with engine.begin() as c:
        ids = [w.create(c, a, f"m{i:04d}", "pw", T0, profile_id=pa).id for i in range(n)]
    db, clock, view = SyncDB(engine), task.Clock(), AAAView()
    with engine.connect() as c:
        view.load(load_snapshot(c, w.box))
    follower = ChangeFollower(db, w.box, view, clock, 0.25)
    follower.poll()
    with engine.begin() as c:  # the CLI, in one transaction
        w.set_state_many(c, a, [(i, OPERATOR) for i in ids], "disabled", T0)
    steps: list[int] = []
    apply = view.apply

    def counting(updates: Any) -> int:
        k = apply(updates)
        steps.append(k)
        return k
    view.apply = counting  # type: ignore[method-assign]
    follower.poll()
    assert sum(steps) == n and max(steps) <= follower_mod.PAGE <= 500 and len(steps) >= 3
    assert all(mem(view, a, f"m{i:04d}").state == "disabled" for i in range(n))


def test_an_older_change_never_replaces_a_newer_one(w: LoginWriter) -> None:
    """Applying change 5 then a late change 4 of the same login keeps change 5's state."""
    view = AAAView()
    new = Login(1, 1, "x", b"pw", state="disabled")
    old = Login(1, 1, "x", b"pw", state="active")
    view.apply_local([(Change(5, 1, "login", 1, "upsert"), new)])
    view.apply_local([(Change(4, 1, "login", 1, "upsert"), old)])
    assert mem(view, 1, "x").state == "disabled"


def test_pruned_feed_makes_a_follower_reload(engine: Any, w: LoginWriter) -> None:
    """A follower behind the prune mark reloads the snapshot instead of missing changes."""
    a, _b, pa, _pb = two_orgs(engine, w)
    db, clock, view = SyncDB(engine), task.Clock(), AAAView()
    with engine.connect() as c:
        view.load(load_snapshot(c, w.box))
    with engine.begin() as c:
        w.create(c, a, "missed", "pw", T0, profile_id=pa)
        w.create(c, a, "newest", "pw", T0, profile_id=pa)
    later = T0 + timedelta(days=3)
    with engine.begin() as c:
        assert changes.prune(c, later) > 0
    with engine.connect() as c:  # the newest row is kept (ids must never go back)
        assert c.execute(sa.select(sa.func.count()).select_from(aaa_changes)).scalar_one() == 1
    follower = ChangeFollower(db, w.box, view, clock, 0.25)
    follower.poll()
    assert follower.reloads == 1 and view.get(a, "missed") is not None and view.get(a, "newest") is not None
    follower.poll()
    assert follower.reloads == 1  # once caught up, no more reloads


def test_a_feed_pruned_of_everything_old_still_numbers_upwards(engine: Any, w: LoginWriter) -> None:
    """After a prune of every old row, a new change gets a higher id than any a follower
    has applied, so a caught-up follower applies it (SQLite reuses max(id) + 1)."""
    a, _b, pa, _pb = two_orgs(engine, w)
    db, clock, view = SyncDB(engine), task.Clock(), AAAView()
    with engine.connect() as c:
        view.load(load_snapshot(c, w.box))
    follower = ChangeFollower(db, w.box, view, clock, 0.25)
    follower.poll()
    seen = view.last_change
    with engine.begin() as c:
        changes.prune(c, T0 + timedelta(days=30))
        w.create(c, a, "after-prune", "pw", T0 + timedelta(days=30), profile_id=pa)
    follower.poll()
    assert view.last_change > seen and view.get(a, "after-prune") is not None


# -- quota cycles ------------------------------------------------------------------------------

def test_cycle_start_resets_exhausted_and_throttle_once(engine: Any, w: LoginWriter) -> None:
    """At the boundary an exhausted, throttled login is active at full speed again, with
    cycle.started; a repeated run in the same cycle does nothing."""
    a, _b, pa, _pb = two_orgs(engine, w)
    anchor = datetime(2026, 1, 15, tzinfo=UTC)
    lg = tx(engine, w.create, a, "cap", "pw", T0, profile_id=pa, data_cap=1000, cycle_anchor=anchor)
    tx(engine, w.create, a, "nocap", "pw", T0, profile_id=pa)
    nov20 = datetime(2026, 11, 20, tzinfo=UTC)
    assert tx(engine, start_cycles_chunk, w, a, nov20, 0, 100).started == 0  # first sight: noted
    tx(engine, w.set_throttle, a, lg.id, 1, nov20)
    assert tx(engine, w.exhaust, a, lg.id, nov20) is True
    assert tx(engine, start_cycles_chunk, w, a, nov20 + timedelta(days=2), 0, 100).started == 0
    dec15 = datetime(2026, 12, 15, 0, 1, tzinfo=UTC)
    chunk = tx(engine, start_cycles_chunk, w, a, dec15, 0, 100)
    assert (chunk.scanned, chunk.started) == (1, 1)
    got = tx(engine, store.get_login, w.box, a, lg.id)
    assert got.state == "active" and got.throttle_level == 0
    assert tx(engine, start_cycles_chunk, w, a, dec15 + timedelta(hours=1), 0, 100).started == 0
    (started,) = event_rows(engine, "cycle.started")
    assert started[1] == {"login_id": lg.id, "username": "cap", "cycle_start": "2026-12-15T00:00:00+00:00"}
    assert ("login.state_changed", {"login_id": lg.id, "username": "cap", "old": "exhausted", "new": "active",
                                    "suspend_mode": "reject", "reason": "new quota cycle"}) in event_rows(engine)


def test_cycle_boundary_in_the_org_time_zone(engine: Any, w: LoginWriter) -> None:
    """Cycles start at local midnight of the org's zone (Asia/Kathmandu, +05:45)."""
    with engine.begin() as c:
        o = orgs.add(c, "ktm", "KTM", T0, "Asia/Kathmandu")
        lg = w.create(c, o.id, "k", "pw", T0, data_cap=10, cycle_anchor=datetime(2026, 1, 1, tzinfo=UTC))
    tx(engine, start_cycles_chunk, w, o.id, datetime(2026, 11, 20, tzinfo=UTC), 0, 10)
    tx(engine, w.exhaust, o.id, lg.id, T0)
    before = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)   # 23:45 local, Nov 30
    after = datetime(2026, 11, 30, 18, 16, tzinfo=UTC)   # 00:01 local, Dec 1
    assert tx(engine, start_cycles_chunk, w, o.id, before, 0, 10).started == 0
    assert tx(engine, start_cycles_chunk, w, o.id, after, 0, 10).started == 1
