"""accounting.store on a real SQLite file: sessions, Accounting-On/Off, aggregation, quotas."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import task

from aaad import nas, orgs
from aaad.crypto import SecretBox
from aaad.schema import events, logins
from aaad.schema import orgs as orgs_t
from aaad.view.memory import AAAView
from aaad.view.store import load_snapshot
from aaad.view.write import LoginWriter
from accounting import sessions as sm
from accounting import store
from accounting.jobs import exhaust_if_blocking
from accounting.schema import usage, usage_cycles
from accounting.store import AcctItem, Outcome
from accounting.tracker import Tracker
from tests.helpers import SyncDB

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
GB = 1 << 30


@dataclass
class World:
    engine: Any
    box: SecretBox
    org: int
    nas1: int
    nas2: int
    alice: int
    bob: int
    carol: int  # capped, profile blocks when exhausted

    def tx(self, fn: Any, *a: Any, **kw: Any) -> Any:
        with self.engine.begin() as conn:
            return fn(conn, *a, **kw)


@pytest.fixture
def w(engine: Any) -> Iterator[World]:
    """A migrated database with an org, two NAS and three logins, on SQLite and PostgreSQL."""
    box = SecretBox(os.urandom(32))
    with engine.begin() as conn:
        o = orgs.add(conn, "isp", "ISP", T0)
        n1 = nas.add(conn, box, o.id, "r1", "10.0.0.1", "s1", T0)
        n2 = nas.add(conn, box, o.id, "r2", "10.0.0.2", "s2", T0)
        lw = LoginWriter(box)
        plain = lw.create_profile(conn, o.id, "plain", T0, interim_interval=300)
        block = lw.create_profile(conn, o.id, "block", T0, block_when_exhausted=True)
        a = lw.create(conn, o.id, "alice", "pw", T0, profile_id=plain.id)
        b = lw.create(conn, o.id, "bob", "pw", T0, profile_id=plain.id, data_cap=GB)
        c = lw.create(conn, o.id, "carol", "pw", T0, profile_id=block.id, data_cap=1000)
    yield World(engine, box, o.id, n1.id, n2.id, a.id, b.id, c.id)
    engine.dispose()


def rec(status: int, sid: str = "s1", user: str = "alice", at: datetime = T0, nas_id: int = 0,
        **kw: Any) -> sm.AcctRecord:
    return sm.AcctRecord(status, nas_id, sid, user, at, **kw)


def item(w: World, r: sm.AcctRecord, login: int | None = -1) -> AcctItem:
    if r.nas_id == 0:
        r = replace(r, nas_id=w.nas1)
    if login == -1:
        login = {"alice": w.alice, "bob": w.bob, "carol": w.carol}.get(r.username)
    return AcctItem(r, w.org, login)


def apply(w: World, *records: sm.AcctRecord) -> list[Outcome]:
    return w.tx(store.apply_batch, [item(w, r) for r in records])


def rows(w: World) -> list[store.StoredSession]:
    return w.tx(lambda c: store.list_sessions(c, include_closed=True))


def one(w: World) -> sm.Session:
    (s,) = rows(w)
    return s.session


def start(sid: str = "s1", user: str = "alice", at: datetime = T0, **kw: Any) -> sm.AcctRecord:
    return rec(sm.STATUS_START, sid, user, at, **kw)


def interim(secs: int, i: int, o: int, sid: str = "s1", user: str = "alice", **kw: Any) -> sm.AcctRecord:
    return rec(sm.STATUS_INTERIM, sid, user, T0 + timedelta(seconds=secs), session_time=secs,
               input_octets=i, output_octets=o, **kw)


def stop(secs: int, i: int, o: int, sid: str = "s1", user: str = "alice", **kw: Any) -> sm.AcctRecord:
    return rec(sm.STATUS_STOP, sid, user, T0 + timedelta(seconds=secs), session_time=secs,
               input_octets=i, output_octets=o, terminate_cause=1, **kw)


# -- sessions -----------------------------------------------------------------------

def test_start_interim_stop(w: World) -> None:
    """A full Start / Interim / Stop sequence gives one closed row with the Stop's counters."""
    assert apply(w, start(framed_ip="10.1.0.5")) == [Outcome(opened=(w.alice,))]
    assert apply(w, interim(300, 1000, 5000)) == [Outcome()]
    assert apply(w, stop(600, 3 * GB, 9 * GB)) == [Outcome(closed=(w.alice,))]
    s = one(w)
    assert (s.input_octets, s.output_octets, s.session_time) == (3 * GB, 9 * GB, 600)
    assert s.start_time == T0 and s.stop_time == T0 + timedelta(seconds=600)
    assert s.terminate_cause == 1 and s.framed_ip == "10.1.0.5"
    assert rows(w)[0].login_id == w.alice and rows(w)[0].org_id == w.org


def test_an_update_sets_only_what_changed(w: World) -> None:
    """An Interim-Update whose counters moved sets only the counters, the times and what else changed (on
    SQLite every index on a column the SET names is rewritten, changed or not); a field first known in a
    later record (the address) and a login found later are stored; sessions of one batch that changed
    different fields are each stored whole."""
    sets: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.startswith("UPDATE acct_sessions"):
            sets.append(statement.split(" SET ", 1)[1].split(" WHERE ", 1)[0])
    sa.event.listen(w.engine, "before_cursor_execute", seen)
    try:
        apply(w, start(), start(sid="s2", user="bob"))
        apply(w, interim(300, 1000, 5000))
        if w.engine.dialect.name == "sqlite":
            (only,) = sets
            named = {part.split(" = ")[0] for part in only.split(", ") if " = " in part}
            assert named == {"last_update", "input_octets", "output_octets", "session_time", "agg_at"}
        w.tx(lambda c: c.execute(sa.text("UPDATE acct_sessions SET login_id = NULL WHERE session_id = 's2'")))
        apply(w, interim(600, 2000, 6000, framed_ip="10.1.0.9"), interim(300, 10, 20, sid="s2", user="bob"))
    finally:
        sa.event.remove(w.engine, "before_cursor_execute", seen)
    got = {r.session.session_id: r for r in rows(w)}
    a, b = got["s1"], got["s2"]
    assert (a.session.framed_ip, a.session.input_octets, a.session.session_time) == ("10.1.0.9", 2000, 600)
    assert a.session.start_time == T0 and a.session.last_update == T0 + timedelta(seconds=600)
    assert (b.login_id, b.session.input_octets, b.session.output_octets) == (w.bob, 10, 20)
    if w.engine.dialect.name == "sqlite":
        last = sets[-2:]                        # the batch of two: one statement for each set of fields
        assert len(sets) == 4 and any("framed_ip = ?" in x and "login_id" not in x for x in last) \
            and any("login_id = ?" in x and "framed_ip" not in x for x in last)


def test_sequence_in_one_batch(w: World) -> None:
    """Start, Interim and Stop folded in one writer batch net to no open session."""
    out = apply(w, start(), interim(300, 10, 20), stop(600, 30, 40))
    assert sum(len(o.opened) for o in out) == sum(len(o.closed) for o in out)
    assert one(w).stop_time is not None and one(w).input_octets == 30


def test_retransmission_changes_nothing(w: World) -> None:
    """The same Interim twice (same batch and later batch) is counted once."""
    apply(w, start())
    apply(w, interim(300, 100, 200), interim(300, 100, 200))
    before = one(w)
    assert apply(w, interim(300, 100, 200)) == [Outcome()]
    assert one(w) == before and before.input_octets == 100


def test_delayed_duplicate(w: World) -> None:
    """A duplicate Start with a larger Acct-Delay-Time (earlier event time) keeps one session."""
    apply(w, start())
    out = apply(w, start(at=T0 - timedelta(seconds=5)))
    assert out == [Outcome()]
    assert len(rows(w)) == 1 and one(w).start_time == T0 - timedelta(seconds=5)


def test_interim_after_stop_stays_closed(w: World) -> None:
    """An Interim arriving after its Stop neither reopens nor lowers the session."""
    apply(w, start(), stop(600, 500, 700))
    assert apply(w, interim(300, 100, 200)) == [Outcome()]
    s = one(w)
    assert s.stop_time == T0 + timedelta(seconds=600) and (s.input_octets, s.output_octets) == (500, 700)


def test_stop_without_start(w: World) -> None:
    """A lone Stop creates the session, closed, started session_time before it."""
    assert apply(w, stop(600, 10, 20)) == [Outcome()]
    s = one(w)
    assert s.start_time == T0 and s.stop_time == T0 + timedelta(seconds=600)
    assert w.tx(store.open_counts) == {}


def test_counters_going_backwards_keep_the_maximum(w: World) -> None:
    """An Interim with smaller counters (reordered) never lowers them."""
    apply(w, start(), interim(600, 1000, 2000))
    apply(w, interim(300, 400, 500))
    s = one(w)
    assert (s.input_octets, s.output_octets, s.session_time) == (1000, 2000, 600)


def test_unknown_user_has_no_login(w: World) -> None:
    """A session of an unknown user name is stored with no login and not counted."""
    out = apply(w, start(user="mallory"))
    assert out == [Outcome()]
    assert rows(w)[0].login_id is None


def test_accounting_on_closes_only_that_nas(w: World) -> None:
    """Accounting-On closes every open session of its NAS started before it, and no other."""
    apply(w, start("a"), start("b", "bob"), replace(start("c"), nas_id=w.nas2), start("d"))
    apply(w, stop(60, 1, 1, sid="d"))
    on = rec(sm.STATUS_ACCOUNTING_ON, "", "", T0 + timedelta(seconds=100))
    out = apply(w, on)
    assert sorted(out[0].closed) == sorted([w.alice, w.bob])
    by = {r.session.session_id: r.session for r in rows(w)}
    assert by["a"].stop_time == T0 + timedelta(seconds=100) and by["a"].terminate_cause == 11
    assert by["c"].stop_time is None
    assert by["d"].terminate_cause == 1
    assert w.tx(store.open_counts) == {w.alice: 1}


def test_stale_sessions_are_closed(w: World) -> None:
    """The stale job closes sessions silent for 2 x interval + grace, with Lost-Service."""
    apply(w, start("old", interim_interval=60), start("fresh", "bob", interim_interval=60))
    apply(w, interim(400, 1, 1, sid="fresh", user="bob"))
    now = T0 + timedelta(seconds=500)
    chunk = w.tx(store.close_stale_chunk, 0, 1000, now, 300, 300)
    assert chunk.closed == 1 and chunk.closed_logins == [w.alice]
    by = {r.session.session_id: r.session for r in rows(w)}
    assert by["old"].stop_time == now and by["old"].terminate_cause == sm.TERMINATE_STALE
    assert by["fresh"].stop_time is None


# -- aggregation ---------------------------------------------------------------------

SLOT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def buckets(w: World, level: str = "slot") -> dict:
    with w.engine.connect() as conn:
        return {(r.login_id, r.start): (r.octets_in, r.octets_out) for r in conn.execute(
            sa.select(usage).where(usage.c.level == level))}


def agg_all(w: World, slot: datetime, limit: int = 5000) -> int:
    after, n = 0, 0
    while True:
        c = w.tx(store.aggregate_chunk, after, limit, slot, slot + timedelta(minutes=5))
        if c.sessions == 0:
            return n
        n += c.sessions
        after = c.last_id


def test_aggregation_buckets_and_no_double_count(w: World) -> None:
    """Deltas go into slot, hour and day buckets once; a rerun adds nothing."""
    apply(w, start("a"), start("b"), start("c", "bob"))
    apply(w, interim(300, 100, 1000, sid="a"), interim(300, 10, 20, sid="b"),
          interim(300, 5, 7, sid="c", user="bob"))
    assert agg_all(w, SLOT) == 3
    assert buckets(w) == {(w.alice, SLOT): (110, 1020), (w.bob, SLOT): (5, 7)}
    assert buckets(w, "hour") == {(w.alice, SLOT): (110, 1020), (w.bob, SLOT): (5, 7)}
    assert buckets(w, "day")[(w.alice, SLOT.replace(hour=0))] == (110, 1020)
    assert agg_all(w, SLOT) == 0
    apply(w, stop(600, 150, 1500, sid="a"))
    nxt = SLOT + timedelta(minutes=5)
    assert agg_all(w, nxt) == 1
    assert buckets(w)[(w.alice, nxt)] == (50, 500)
    assert buckets(w, "hour")[(w.alice, SLOT)] == (160, 1520)


def test_aggregation_survives_a_crash_between_chunks(w: World) -> None:
    """Chunks commit alone: a crash after one chunk, then a full rerun, counts everything once."""
    apply(w, *[start(f"s{i}") for i in range(7)])
    apply(w, *[interim(300, 10, 1, sid=f"s{i}") for i in range(7)])
    first = w.tx(store.aggregate_chunk, 0, 3, SLOT, SLOT)
    assert first.sessions == 3
    # a crash inside the second chunk's transaction
    with pytest.raises(RuntimeError), w.engine.begin() as conn:
        store.aggregate_chunk(conn, first.last_id, 3, SLOT, SLOT)
        raise RuntimeError("killed")
    assert buckets(w) == {(w.alice, SLOT): (30, 3)}
    assert agg_all(w, SLOT, limit=3) == 4  # restart from scratch: only what was not committed
    assert buckets(w) == {(w.alice, SLOT): (70, 7)}


def test_unknown_login_octets_are_marked_but_not_bucketed(w: World) -> None:
    """Sessions with no login move their agg_* columns but make no bucket."""
    apply(w, start(user="mallory"), interim(300, 9, 9, user="mallory"))
    assert agg_all(w, SLOT) == 1 and buckets(w) == {} and agg_all(w, SLOT) == 0


# -- quota ---------------------------------------------------------------------------

def quota_events(w: World) -> list[dict]:
    with w.engine.connect() as conn:
        return [json.loads(r.payload) for r in conn.execute(
            sa.select(events).where(events.c.type == "usage.quota_exceeded"))]


def test_quota_crossing_publishes_once_and_exhausts(w: World) -> None:
    """Crossing the cap publishes one event per cycle; a blocking profile's login becomes exhausted."""
    apply(w, start(user="carol"), interim(300, 300, 300, user="carol"))
    agg_all(w, SLOT)
    assert quota_events(w) == []
    apply(w, interim(600, 500, 600, user="carol"))
    chunk = w.tx(store.aggregate_chunk, 0, 100, SLOT + timedelta(minutes=5), SLOT)
    assert [e.login_id for e in chunk.exceeded] == [w.carol]
    apply(w, interim(900, 900, 900, user="carol"))
    agg_all(w, SLOT + timedelta(minutes=10))
    (ev,) = quota_events(w)
    assert ev == {"login_id": w.carol, "used": 1100, "cap": 1000,
                  "cycle_start": "2026-03-01T00:00:00+00:00"}
    with w.engine.connect() as conn:
        assert conn.execute(sa.select(usage_cycles.c.octets)).scalar() == 1800

    view = AAAView()
    with w.engine.connect() as conn:
        view.load(load_snapshot(conn, w.box))
    db = SyncDB(w.engine)
    db.writer.on_changes.append(view.apply_local)
    writer = LoginWriter(w.box)
    org_id = w.org
    assert db.write(exhaust_if_blocking, writer, org_id + 1, w.carol, SLOT).result is False  # other org
    assert db.write(exhaust_if_blocking, writer, org_id, w.carol, SLOT).result is True
    carol = view.login_by_id(org_id, w.carol)
    assert carol is not None
    assert carol.state == "exhausted"
    assert db.write(exhaust_if_blocking, writer, org_id, w.carol, SLOT).result is False  # redelivery
    assert db.write(exhaust_if_blocking, writer, org_id, w.bob, SLOT).result is False    # no block


def test_tracker_loads_counts(w: World) -> None:
    """The tracker loads open counts, and committed batches move them."""
    apply(w, start("x", "bob"), start("y", "bob"), interim(300, GB, 0, sid="x", user="bob"))
    agg_all(w, SLOT)
    tr = Tracker(None, task.Clock())
    with w.engine.connect() as conn:
        tr.load(conn)
    assert tr.open_count(w.bob) == 2 and tr.open_count(w.alice) == 0
    tr.apply(Outcome(opened=(w.alice,), closed=(w.bob,)))
    assert tr.open_count(w.alice) == 1 and tr.open_count(w.bob) == 1


def test_usage_summary(w: World) -> None:
    """login_usage reports today, the cycle and the total, and what is not bucketed yet."""
    apply(w, start(), interim(300, 100, 200))
    agg_all(w, SLOT)
    apply(w, interim(600, 150, 260))
    u = w.tx(store.login_usage, w.org, w.alice, SLOT + timedelta(minutes=10))
    assert w.tx(store.login_usage, w.org + 1, w.alice, SLOT) is None  # another org's id does not exist
    assert u.today == (100, 200) and u.total == (100, 200) and u.cycle == 300
    assert u.unaggregated == (50, 60)


def test_usage_of_several_logins_is_each_ones_usage(w: World) -> None:
    """logins_usage over several logins (IN lists) gives each login what it gives that login alone (the
    single-login statements), and leaves out ids of other orgs and unknown ids."""
    apply(w, start(), interim(300, 100, 200), start("b", "bob"), interim(300, 7, 9, sid="b", user="bob"))
    agg_all(w, SLOT)
    apply(w, interim(600, 150, 260))
    at = SLOT + timedelta(minutes=10)
    both = w.tx(store.logins_usage, w.org, [w.bob, w.alice, w.alice, 10**9], at)
    assert set(both) == {w.alice, w.bob}
    for login in (w.alice, w.bob):
        assert both[login] == w.tx(store.logins_usage, w.org, [login], at)[login]
        assert both[login] == w.tx(store.login_usage, w.org, login, at)
        # the caller's cycle anchor and timezone (the portal's dashboard has read them): the same answer
        anchor = w.tx(lambda c, i: c.execute(sa.select(logins.c.cycle_anchor).where(logins.c.id == i)).scalar_one(),
                      login)
        tz = w.tx(lambda c: c.execute(sa.select(orgs_t.c.timezone).where(orgs_t.c.id == w.org)).scalar_one())
        assert both[login] == w.tx(store.logins_usage, w.org, [login], at, known=({login: anchor}, tz))[login]
    assert both[w.bob].total == (7, 9) and both[w.alice].unaggregated == (50, 60)
    assert w.tx(store.logins_usage, w.org + 1, [w.alice, w.bob], at) == {}


def test_prune(w: World) -> None:
    """Pruning deletes only buckets of that level older than the cut-off."""
    apply(w, start(), interim(300, 1, 1))
    agg_all(w, SLOT)
    assert w.tx(store.prune_usage, "slot", SLOT) == 0
    assert w.tx(store.prune_usage, "slot", SLOT + timedelta(minutes=5)) == 1
    assert buckets(w) == {} and buckets(w, "hour")


def test_page_sessions_filters_sorts_and_pages(w: World) -> None:
    """page_sessions: open/closed, login, user name, NAS and time-window filters; keyset pages by start."""
    apply(w, rec(1, "s1", at=T0), rec(1, "s2", "bob", at=T0 + timedelta(minutes=1), nas_id=w.nas2),
          rec(2, "s2", "bob", at=T0 + timedelta(minutes=30), session_time=1740, nas_id=w.nas2))
    ids = {s.session.session_id: s.id for s in rows(w)}
    page = w.tx(lambda c: store.page_sessions(c, w.org, limit=1))
    assert [s.session.session_id for s in page.items] == ["s2"] and page.next_cursor
    rest = w.tx(lambda c: store.page_sessions(c, w.org, limit=1, cursor=page.next_cursor))
    assert [s.id for s in rest.items] == [ids["s1"]] and rest.next_cursor is None

    def find(**kw: Any) -> list[str]:
        return [s.session.session_id for s in w.tx(lambda c: store.page_sessions(c, w.org, sort="id", **kw)).items]
    assert find(is_open=True) == ["s1"] and find(is_open=False) == ["s2"]
    assert find(login_id=w.bob) == find(username="bob") == find(nas_id=w.nas2) == ["s2"]
    assert find(since=T0 + timedelta(hours=1)) == ["s1"]
    assert find(until=T0 + timedelta(seconds=30)) == ["s1"]
    assert w.tx(lambda c: store.page_sessions(c, w.org + 1000).items) == []
    assert w.tx(store.get_session, w.org, ids["s1"]).session.session_id == "s1"
    assert w.tx(store.get_session, w.org + 1000, ids["s1"]) is None


def test_usage_buckets_by_level_and_range(w: World) -> None:
    """usage_buckets: a login's buckets of one level within [start, end), oldest first, scoped by org."""
    apply(w, rec(3, "s1", at=T0, session_time=60, input_octets=100, output_octets=900))
    w.tx(store.aggregate_chunk, 0, 100, T0, T0)
    slot = T0.replace(minute=0)
    got = w.tx(store.usage_buckets, w.org, w.alice, "slot", slot, slot + timedelta(hours=1))
    assert [(b.start, b.octets_in, b.octets_out) for b in got] == [(T0, 100, 900)]
    assert [b.octets_out for b in w.tx(store.usage_buckets, w.org, w.alice, "day", T0 - timedelta(days=1),
                                       T0 + timedelta(days=1))] == [900]
    assert w.tx(store.usage_buckets, w.org, w.alice, "slot", slot, T0) == []
    assert w.tx(store.usage_buckets, w.org + 1000, w.alice, "slot", slot, T0 + timedelta(hours=1)) == []
