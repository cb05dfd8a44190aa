"""The foundation on both databases: AAA view writes and change feed,
the event outbox, and exactly-once jobs (synchronous, on a fake clock)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer, task

from aaad import events, jobs, nas, orgs
from aaad.view.follower import ChangeFollower
from aaad.view.memory import AAAView
from aaad.view.store import load_snapshot
from aaad.view.write import LoginWriter
from aaad.orgs import ValidationError
from tests.helpers import SyncDB

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def seed(engine: Any, box: Any) -> tuple[int, int]:
    with engine.begin() as c:
        o = orgs.add(c, "isp", "ISP", T0)
        p = LoginWriter(box).create_profile(c, o.id, "10M", T0, rate_limit="10M/10M")
        nas.add(c, box, o.id, "r1", "10.0.0.1", "s3cret", T0)
    return o.id, p.id


def test_login_round_trip_and_secret_encrypted(engine: Any, box: Any) -> None:
    """A login's password is stored encrypted and reads back in the clear."""
    org_id, pid = seed(engine, box)
    with engine.begin() as c:
        lg = LoginWriter(box).create(c, org_id, "alice", "pw1", T0, profile_id=pid, simultaneous_use=1)
    with engine.connect() as c:
        raw = c.execute(sa.text("SELECT secret_enc FROM logins")).scalar_one()
        snap = load_snapshot(c, box)
    assert b"pw1" not in bytes(raw)
    assert lg.password == b"pw1" and snap.logins[0].password == b"pw1"
    assert snap.logins[0].simultaneous_use == 1 and snap.nas[0].secret == b"s3cret"


def test_duplicate_and_bad_values_are_field_errors(engine: Any, box: Any) -> None:
    """Bad input raises ValidationError naming the field."""
    org_id, _ = seed(engine, box)
    w = LoginWriter(box)
    with engine.begin() as c:
        w.create(c, org_id, "bob", "x", T0)
    for kwargs, field in (({"username": "bob"}, "username"), ({"framed_ip": "nope"}, "framed_ip"),
                          ({"state": "asleep"}, "state"), ({"profile_id": 999}, "profile")):
        args = {"username": "carol", "password": "x"} | kwargs
        with pytest.raises(ValidationError) as e, engine.begin() as c:
            w.create(c, org_id, args.pop("username"), args.pop("password"), T0, **args)
        assert e.value.field == field


def test_change_feed_reaches_another_view(engine: Any, box: Any) -> None:
    """A write by someone else (CLI, other instance) reaches a view through the follower."""
    org_id, pid = seed(engine, box)
    db, clock, view = SyncDB(engine), task.Clock(), AAAView()
    w = LoginWriter(box)
    with engine.connect() as c:
        view.load(load_snapshot(c, box))
    follower = ChangeFollower(db, box, view, clock, 0.25)
    follower.start()
    with engine.begin() as c:  # "the CLI"
        lg = w.create(c, org_id, "dora", "pw", T0, profile_id=pid)
    assert view.get(org_id, "dora") is None
    clock.advance(0.25)
    assert view.get(org_id, "dora").password == b"pw"
    with engine.begin() as c:
        w.set_state(c, org_id, lg.id, "disabled", T0)
        w.update_profile(c, org_id, pid, T0, rate_limit="20M/20M")
    clock.advance(0.25)
    assert view.get(org_id, "dora").state == "disabled"
    assert view.profiles[pid].rate_limit == "20M/20M"
    with engine.begin() as c:
        w.remove(c, org_id, lg.id, T0)
        nas.remove(c, org_id, "r1", T0)
    clock.advance(0.25)
    assert view.get(org_id, "dora") is None and view.nas.lookup("10.0.0.1") is None
    follower.stop()


def test_nas_lookup_exact_and_network(box: Any) -> None:
    """NAS lookup: exact address first, then the most specific network."""
    from aaad.nas import Nas, NasTable
    t = NasTable()
    mk = lambda i, a: Nas(i, 1, f"n{i}", a, b"s", "mikrotik", 3799, True)  # noqa: E731
    t.load([mk(1, "10.0.0.0/8"), mk(2, "10.1.0.0/16"), mk(3, "10.1.2.3")])
    assert t.lookup("10.1.2.3").id == 3
    assert t.lookup("10.1.9.9").id == 2
    assert t.lookup("10.9.9.9").id == 1
    assert t.lookup("192.168.0.1") is None


# -- events ---------------------------------------------------------------------------

def test_rolled_back_event_is_never_delivered(engine: Any) -> None:
    """publish() joins the caller's transaction: a rollback removes the event."""
    with pytest.raises(RuntimeError), engine.begin() as c:
        events.publish(c, 1, events.Ping("lost"), T0)
        raise RuntimeError("abort")
    with engine.connect() as c:
        assert events.pending(c) == []


def test_committed_event_delivered_after_restart_in_order(engine: Any) -> None:
    """Events committed before a 'crash' are delivered, in order, by a new dispatcher."""
    with engine.begin() as c:
        for i in range(3):
            events.publish(c, 1, events.Ping(f"n{i}"), T0)
    got: list[str] = []
    d = events.Dispatcher(SyncDB(engine), task.Clock())  # the restarted daemon
    d.subscribe("test.ping", lambda ev: got.append(ev.payload.note))
    d.poke()
    assert got == ["n0", "n1", "n2"]
    with engine.connect() as c:
        assert events.pending(c) == []


def test_failing_subscriber_keeps_order_and_retries(engine: Any) -> None:
    """A failing subscriber holds the queue; the event is retried after back-off."""
    with engine.begin() as c:
        events.publish(c, 1, events.Ping("a"), T0)
        events.publish(c, 1, events.Ping("b"), T0)
    clock, got, fail = task.Clock(), [], [True]

    def sub(ev: Any) -> None:
        if fail[0]:
            raise ValueError("router unreachable")
        got.append(ev.payload.note)
    d = events.Dispatcher(SyncDB(engine), clock, interval=1.0)
    d.subscribe("test.ping", sub)
    d.poke()
    assert got == [] and d.failures == 1
    fail[0] = False
    d.poke()  # within back-off: nothing
    assert got == []
    clock.advance(5)
    d.poke()
    assert got == ["a", "b"]


# -- jobs -------------------------------------------------------------------------------

def _work_table(engine: Any) -> sa.Table:
    md = sa.MetaData()
    t = sa.Table("job_work", md, sa.Column("chunk", sa.Integer, primary_key=True))
    md.create_all(engine)
    return t


def test_job_runs_once_per_period(engine: Any) -> None:
    """Ticks within a period run the job once; the next period runs it again."""
    clock = task.Clock()
    clock.advance(T0.timestamp())
    runs: list[str] = []
    s = jobs.Scheduler(SyncDB(engine), clock, tick=1.0)
    s.add(jobs.Job("agg", 300, lambda ctx: runs.append(ctx.period)))
    for _ in range(5):
        s.tick()
        clock.advance(10)
    assert len(runs) == 1
    clock.advance(300)
    s.tick()
    assert len(runs) == 2
    s2 = jobs.Scheduler(SyncDB(engine), clock, tick=1.0)  # a restart within the same period
    s2.add(jobs.Job("agg", 300, lambda ctx: runs.append(ctx.period)))
    s2.tick()
    assert len(runs) == 2


def test_job_killed_midway_resumes_without_repeating(engine: Any) -> None:
    """A job killed after some chunks resumes from its checkpoint; every chunk done once."""
    work = _work_table(engine)
    clock = task.Clock()
    clock.advance(T0.timestamp())

    def insert(conn: Any, n: int) -> None:
        conn.execute(work.insert().values(chunk=n))  # a PK: doing a chunk twice would fail

    def job(ctx: jobs.JobContext, die_after: int | None) -> defer.Deferred:
        start = int(ctx.progress or 0)

        @defer.inlineCallbacks
        def run():  # type: ignore[no-untyped-def]
            for n in range(start, 10):
                if die_after is not None and n == die_after:
                    yield defer.Deferred()  # the process dies here: never resumes, marks nothing
                yield ctx.checkpoint(insert, n, progress=str(n + 1))
        return run()

    s = jobs.Scheduler(SyncDB(engine), clock)
    s.add(jobs.Job("bill", 3600, lambda ctx: job(ctx, 4)))
    s.tick()
    with engine.connect() as c:
        assert jobs.runs(c, "bill")[0][2] == "running"
    s2 = jobs.Scheduler(SyncDB(engine), clock)  # restarted daemon
    s2.add(jobs.Job("bill", 3600, lambda ctx: job(ctx, None)))
    s2.tick()
    with engine.connect() as c:
        chunks = [r[0] for r in c.execute(sa.select(work.c.chunk).order_by(work.c.chunk))]
        assert jobs.runs(c, "bill") == [(0, jobs.period_of(T0, 3600).isoformat(), "done", 2)]
    assert chunks == list(range(10))


def test_job_does_not_overlap_itself(engine: Any) -> None:
    """A job still running when the next tick (or period) comes is not started again."""
    clock = task.Clock()
    clock.advance(T0.timestamp())
    pending: list[defer.Deferred] = []

    def slow(ctx: Any) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        pending.append(d)
        return d
    s = jobs.Scheduler(SyncDB(engine), clock)
    s.add(jobs.Job("slow", 60, slow))
    s.tick()
    clock.advance(120)
    s.tick()
    assert len(pending) == 1
    pending[0].callback(None)
    s.tick()
    assert len(pending) == 2


def test_pruning_keeps_recent_changes_and_undelivered_events(engine: Any) -> None:
    """Pruning drops old change rows and old delivered events, never undelivered ones."""
    from datetime import timedelta
    from aaad import changes
    old, new = T0 - timedelta(days=10), T0
    with engine.begin() as c:
        changes.record(c, 1, "login", 1, "upsert", old)
        changes.record(c, 1, "login", 2, "upsert", new)
        events.publish(c, 1, events.Ping("old-delivered"), old)
        events.publish(c, 1, events.Ping("old-pending"), old)
    with engine.begin() as c:
        first = events.pending(c)[0]
        events.mark_delivered(c, first.id, old)
        assert changes.prune(c, T0 - timedelta(days=1)) == 1
        assert events.prune_delivered(c, T0 - timedelta(days=7)) == 1
    with engine.connect() as c:
        assert [ch.entity_id for ch in changes.since(c, 0)] == [2]
        assert [e.payload.note for e in events.pending(c)] == ["old-pending"]
